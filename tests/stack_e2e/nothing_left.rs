//! After destroy: every kind of AWS object the stack makes, listed with the raw SDK; none of
//! this stack's is left.

use super::*;

/// Lists every kind of AWS object the stack makes and asserts none of this stack's is
/// left (the KMS key may only be scheduled for deletion).
pub async fn check(aws: &Aws, stack: &str, key_id: &str, execution_log_group: &str) {
    let prefix = format!("nova-{stack}-");
    let by_tag = || stack_filter(stack);

    let vpcs = aws.ec2.describe_vpcs().filters(by_tag()).send().await;
    assert!(vpcs.expect("DescribeVpcs").vpcs().is_empty(), "VPC left");
    let subnets = aws.ec2.describe_subnets().filters(by_tag()).send().await;
    assert!(
        subnets.expect("DescribeSubnets").subnets().is_empty(),
        "subnets left"
    );
    let igws = aws
        .ec2
        .describe_internet_gateways()
        .filters(by_tag())
        .send()
        .await;
    assert!(
        igws.expect("DescribeInternetGateways")
            .internet_gateways()
            .is_empty(),
        "IGW left"
    );
    let tables = aws
        .ec2
        .describe_route_tables()
        .filters(by_tag())
        .send()
        .await;
    assert!(
        tables
            .expect("DescribeRouteTables")
            .route_tables()
            .is_empty(),
        "route tables left"
    );
    let groups = aws
        .ec2
        .describe_security_groups()
        .filters(by_tag())
        .send()
        .await;
    assert!(
        groups
            .expect("DescribeSecurityGroups")
            .security_groups()
            .is_empty(),
        "security groups left"
    );
    // LocalStack ignores DescribeNatGateways' `Filter`: select by tag here.
    let nats = aws
        .ec2
        .describe_nat_gateways()
        .filter(by_tag())
        .send()
        .await
        .expect("DescribeNatGateways");
    let live_nats: Vec<_> = nats
        .nat_gateways()
        .iter()
        .filter(|n| owned_by(n.tags(), stack))
        .filter(|n| !matches!(n.state().map(|s| s.as_str()), Some("deleted" | "deleting")))
        .collect();
    assert!(live_nats.is_empty(), "NAT gateways left: {live_nats:?}");
    let eips = aws.ec2.describe_addresses().filters(by_tag()).send().await;
    assert!(
        eips.expect("DescribeAddresses").addresses().is_empty(),
        "EIPs left"
    );
    let instances = aws
        .ec2
        .describe_instances()
        .filters(by_tag())
        .send()
        .await
        .expect("DescribeInstances");
    let live: Vec<String> = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| {
            !matches!(
                i.state().and_then(|s| s.name()).map(|n| n.as_str()),
                Some("terminated" | "shutting-down")
            )
        })
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    assert!(live.is_empty(), "instances left: {live:?}");
    let volumes = aws
        .ec2
        .describe_volumes()
        .filters(by_tag())
        .send()
        .await
        .expect("DescribeVolumes");
    let live_volumes: Vec<_> = volumes
        .volumes()
        .iter()
        .filter(|v| !matches!(v.state().map(|s| s.as_str()), Some("deleted" | "deleting")))
        .collect();
    assert!(live_volumes.is_empty(), "volumes left: {live_volumes:?}");

    let roles = aws
        .iam
        .list_roles()
        .max_items(1000)
        .send()
        .await
        .expect("ListRoles");
    let left: Vec<&str> = roles
        .roles()
        .iter()
        .map(|r| r.role_name())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "roles left: {left:?}");
    let profiles = aws
        .iam
        .list_instance_profiles()
        .max_items(1000)
        .send()
        .await
        .expect("ListInstanceProfiles");
    let left: Vec<&str> = profiles
        .instance_profiles()
        .iter()
        .map(|p| p.instance_profile_name())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "instance profiles left: {left:?}");

    for group_prefix in [
        format!("/aws/lambda/{prefix}"),
        format!("/aws/apigateway/{prefix}"),
        execution_log_group.to_string(),
    ] {
        let groups = aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(&group_prefix)
            .send()
            .await
            .expect("DescribeLogGroups");
        assert!(
            groups.log_groups().is_empty(),
            "log groups left under {group_prefix}: {:?}",
            groups.log_groups()
        );
    }

    let functions = aws
        .lambda
        .list_functions()
        .max_items(1000)
        .send()
        .await
        .expect("ListFunctions");
    let left: Vec<&str> = functions
        .functions()
        .iter()
        .filter_map(|f| f.function_name())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "functions left: {left:?}");

    let rules = aws
        .events
        .list_rules()
        .name_prefix(&prefix)
        .send()
        .await
        .expect("ListRules");
    assert!(rules.rules().is_empty(), "rules left: {:?}", rules.rules());

    let apis = aws
        .apigw
        .get_rest_apis()
        .limit(500)
        .send()
        .await
        .expect("GetRestApis");
    let left: Vec<&str> = apis
        .items()
        .iter()
        .filter_map(|a| a.name())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "REST APIs left: {left:?}");

    let key = aws
        .kms
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("key metadata");
    assert_eq!(
        key.key_state().map(|s| s.as_str()),
        Some("PendingDeletion"),
        "the stack key is scheduled for deletion"
    );
    let aliases = aws.kms.list_aliases().send().await.expect("ListAliases");
    let alias = format!("alias/nova-{stack}");
    assert!(
        !aliases
            .aliases()
            .iter()
            .any(|a| a.alias_name() == Some(alias.as_str())),
        "alias {alias} left"
    );
}
