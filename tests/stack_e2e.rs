//! End-to-end: the real `nova` binary brings the production stack up on LocalStack, and
//! the stack is checked item by item against the seed checklist
//! (`docs/checklist.md`) with the raw AWS SDK — never through nova's own state. Then the
//! instance count is scaled up and back down, and everything is destroyed and checked
//! gone by listing.
//!
//! Needs LocalStack (see docs/testbed.md). Tests that bring a stack up hold
//! [`account_lock`]: the API Gateway CloudWatch role is one setting per account.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::Filter;
use base64::Engine;
use common::nova::{account_lock, Stack};
use serde_json::Value as Json;

const CLOUDWATCH_AGENT_POLICY: &str = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy";
const APIGW_PUSH_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs";

/// Every output docs/stack.md names.
const DOCUMENTED_OUTPUTS: &[&str] = &[
    "vpc_id",
    "public_subnet_ids",
    "private_subnet_ids",
    "nat_gateway_ids",
    "web_security_group_id",
    "lambda_security_group_id",
    "instance_ids",
    "instance_role_arns",
    "kms_key_arn",
    "kms_alias",
    "api_invoke_url",
    "health_function_arn",
    "log_group_names",
    "schedule_rule_arn",
];

/// The raw SDK clients the checks use.
struct Aws {
    region: String,
    ec2: aws_sdk_ec2::Client,
    iam: aws_sdk_iam::Client,
    kms: aws_sdk_kms::Client,
    lambda: aws_sdk_lambda::Client,
    apigw: aws_sdk_apigateway::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    events: aws_sdk_eventbridge::Client,
}

impl Aws {
    async fn new() -> Aws {
        let config = common::sdk_config().await;
        Aws {
            region: config.region().expect("region").to_string(),
            ec2: aws_sdk_ec2::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            kms: aws_sdk_kms::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            apigw: aws_sdk_apigateway::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
        }
    }
}

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

fn stack_filter(stack: &str) -> Filter {
    filter("tag:nova:stack", &[stack])
}

fn out_str<'a>(outputs: &'a Json, name: &str) -> &'a str {
    outputs[name]
        .as_str()
        .unwrap_or_else(|| panic!("output {name} is not a string: {}", outputs[name]))
}

fn out_list(outputs: &Json, name: &str) -> Vec<String> {
    outputs[name]
        .as_array()
        .unwrap_or_else(|| panic!("output {name} is not a list: {}", outputs[name]))
        .iter()
        .map(|v| v.as_str().expect("string item").to_string())
        .collect()
}

/// Asserts the tags carry `Environment=Production` and this stack's ownership tag.
fn assert_tagged<K: AsRef<str>, V: AsRef<str>>(
    what: &str,
    stack: &str,
    tags: impl IntoIterator<Item = (K, V)>,
) {
    let tags: BTreeMap<String, String> = tags
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    assert_eq!(
        tags.get("Environment").map(String::as_str),
        Some("Production"),
        "{what}: Environment tag, tags {tags:?}"
    );
    assert_eq!(
        tags.get("nova:stack").map(String::as_str),
        Some(stack),
        "{what}: nova:stack tag, tags {tags:?}"
    );
}

/// True when EC2 tags carry `nova:stack = stack`.
fn owned_by(tags: &[aws_sdk_ec2::types::Tag], stack: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some("nova:stack") && t.value() == Some(stack))
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// IAM returns policy documents URL-encoded (LocalStack sometimes does not).
fn policy_json(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|_| {
        let decoded = percent_decode(text);
        serde_json::from_str(&decoded)
            .unwrap_or_else(|e| panic!("policy is not JSON ({e}): {decoded}"))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 policy")
}

/// Every action a policy statement allows, flattened.
fn allowed_actions(policy: &Json) -> BTreeSet<String> {
    let statements = match &policy["Statement"] {
        Json::Array(list) => list.clone(),
        other => vec![other.clone()],
    };
    let mut actions = BTreeSet::new();
    for s in statements.iter().filter(|s| s["Effect"] == "Allow") {
        match &s["Action"] {
            Json::String(a) => {
                actions.insert(a.clone());
            }
            Json::Array(list) => {
                actions.extend(list.iter().filter_map(|a| a.as_str()).map(str::to_string))
            }
            _ => {}
        }
    }
    actions
}

/// True when a statement's principal is open to anyone (`"*"` or `{"AWS": "*"}`).
fn open_principal(principal: &Json) -> bool {
    match principal {
        Json::String(s) => s == "*",
        Json::Object(map) => map.values().any(|v| match v {
            Json::String(s) => s == "*",
            Json::Array(list) => list.iter().any(|x| x == "*"),
            _ => false,
        }),
        _ => false,
    }
}

async fn role_managed_policies(aws: &Aws, role: &str) -> BTreeSet<String> {
    aws.iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("ListAttachedRolePolicies")
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect()
}

async fn role_tags(aws: &Aws, role: &str) -> Vec<(String, String)> {
    aws.iam
        .list_role_tags()
        .role_name(role)
        .send()
        .await
        .expect("ListRoleTags")
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

fn role_name_of(arn: &str) -> &str {
    arn.rsplit('/').next().expect("role ARN has a name")
}

fn assert_region(what: &str, arn: &str, region: &str) {
    assert!(
        arn.split(':').nth(3) == Some(region),
        "{what} {arn} is not in {region}"
    );
}

/// Checks, right after `nova up`, that the API Gateway account's CloudWatch role is
/// this stack's logs role. The setting is one per account and LocalStack is shared:
/// when another stack's `nova up` set its own role in between, `nova up` runs again and
/// the check is repeated (at most 3 times), so the check is never skipped.
async fn assert_account_role_is_ours(aws: &Aws, stack: &Stack, prefix: &str) {
    let ours = format!(":role/{prefix}-apigw-logs");
    for attempt in 1..=3 {
        let account = aws.apigw.get_account().send().await.expect("GetAccount");
        let live = account
            .cloudwatch_role_arn()
            .unwrap_or_default()
            .to_string();
        if live.ends_with(&ours) {
            return;
        }
        assert!(
            live.contains(":role/nova-") && live.ends_with("-apigw-logs") && attempt < 3,
            "API Gateway account CloudWatch role is {live:?}, not ...{ours} (attempt {attempt})"
        );
        eprintln!("note: another stack set the API Gateway account role to {live}; up again");
        stack.up();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn full_stack_meets_every_checklist_item() {
    let _account = account_lock();
    let aws = Aws::new().await;
    let mut stack = Stack::new("e2e-full");
    let name = stack.name.clone();
    let prefix = format!("nova-{name}");
    stack.up();
    assert_account_role_is_ours(&aws, &stack, &prefix).await;

    // --- Outputs: every documented output, non-empty. ---
    let outputs = stack.outputs();
    for output in DOCUMENTED_OUTPUTS {
        match &outputs[*output] {
            Json::String(s) => assert!(!s.is_empty(), "output {output} is empty"),
            Json::Array(list) => {
                assert!(!list.is_empty(), "output {output} is an empty list");
                for item in list {
                    assert!(
                        item.as_str().is_some_and(|s| !s.is_empty()),
                        "output {output} has an empty item: {list:?}"
                    );
                }
            }
            other => panic!("output {output} is missing or not a string/list: {other}"),
        }
    }
    let vpc_id = out_str(&outputs, "vpc_id").to_string();
    let public_ids = out_list(&outputs, "public_subnet_ids");
    let private_ids = out_list(&outputs, "private_subnet_ids");
    let nat_ids = out_list(&outputs, "nat_gateway_ids");
    let web_sg = out_str(&outputs, "web_security_group_id").to_string();
    let lambda_sg = out_str(&outputs, "lambda_security_group_id").to_string();
    let instance_ids = out_list(&outputs, "instance_ids");
    let key_arn = out_str(&outputs, "kms_key_arn").to_string();
    let function_arn = out_str(&outputs, "health_function_arn").to_string();
    let rule_arn = out_str(&outputs, "schedule_rule_arn").to_string();
    assert_eq!(out_str(&outputs, "kms_alias"), format!("alias/{prefix}"));
    assert_eq!(instance_ids.len(), 2, "default instance_count is 2");

    // --- 1. Region us-east-1: the client, and the ARNs nova reports. ---
    assert_eq!(aws.region, "us-east-1");
    for (what, arn) in [
        ("KMS key", &key_arn),
        ("function", &function_arn),
        ("rule", &rule_arn),
    ] {
        assert_region(what, arn, "us-east-1");
    }
    assert!(
        out_str(&outputs, "api_invoke_url").contains(".us-east-1."),
        "invoke URL {}",
        out_str(&outputs, "api_invoke_url")
    );

    // --- 1. VPC, subnets over two AZs, IGW, NAT, route tables. ---
    let vpc = aws
        .ec2
        .describe_vpcs()
        .vpc_ids(&vpc_id)
        .send()
        .await
        .expect("DescribeVpcs")
        .vpcs()[0]
        .clone();
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    assert_tagged("VPC", &name, ec2_tags(vpc.tags()));

    let subnets = aws
        .ec2
        .describe_subnets()
        .filters(filter("vpc-id", &[&vpc_id]))
        .send()
        .await
        .expect("DescribeSubnets")
        .subnets()
        .to_vec();
    assert_eq!(subnets.len(), 4, "2 public + 2 private subnets");
    let az_of: BTreeMap<String, String> = subnets
        .iter()
        .map(|s| {
            assert_tagged(
                &format!("subnet {:?}", s.subnet_id()),
                &name,
                ec2_tags(s.tags()),
            );
            (
                s.subnet_id().unwrap().to_string(),
                s.availability_zone().unwrap().to_string(),
            )
        })
        .collect();
    for (tier, ids) in [("public", &public_ids), ("private", &private_ids)] {
        let zones: BTreeSet<&String> = ids.iter().map(|id| &az_of[id]).collect();
        assert_eq!(
            zones.len(),
            2,
            "{tier} subnets in 2 distinct AZs: {zones:?}"
        );
        assert!(zones.iter().all(|z| z.starts_with("us-east-1")));
    }

    let igws = aws
        .ec2
        .describe_internet_gateways()
        .filters(filter("attachment.vpc-id", &[&vpc_id]))
        .send()
        .await
        .expect("DescribeInternetGateways")
        .internet_gateways()
        .to_vec();
    assert_eq!(igws.len(), 1, "one IGW attached to the VPC");
    let igw = &igws[0];
    let igw_id = igw.internet_gateway_id().unwrap().to_string();
    assert!(
        igw.attachments()
            .iter()
            .any(|a| a.vpc_id() == Some(vpc_id.as_str())),
        "IGW attached to the VPC: {:?}",
        igw.attachments()
    );
    assert_tagged("IGW", &name, ec2_tags(igw.tags()));

    let nats = aws
        .ec2
        .describe_nat_gateways()
        .set_nat_gateway_ids(Some(nat_ids.clone()))
        .send()
        .await
        .expect("DescribeNatGateways")
        .nat_gateways()
        .to_vec();
    assert_eq!(nats.len(), 1, "nat = single");
    for nat in &nats {
        let subnet = nat.subnet_id().unwrap_or_default();
        assert!(
            public_ids.iter().any(|p| p == subnet),
            "NAT gateway in a public subnet, got {subnet}"
        );
        assert_tagged("NAT gateway", &name, ec2_tags(nat.tags()));
        let allocations: Vec<String> = nat
            .nat_gateway_addresses()
            .iter()
            .filter_map(|a| a.allocation_id().map(str::to_string))
            .collect();
        assert_eq!(allocations.len(), 1, "NAT gateway has its EIP");
        let eips = aws
            .ec2
            .describe_addresses()
            .set_allocation_ids(Some(allocations))
            .send()
            .await
            .expect("DescribeAddresses")
            .addresses()
            .to_vec();
        assert_eq!(eips.len(), 1);
        assert_tagged("EIP", &name, ec2_tags(eips[0].tags()));
    }

    let route_tables = aws
        .ec2
        .describe_route_tables()
        .filters(filter("vpc-id", &[&vpc_id]))
        .send()
        .await
        .expect("DescribeRouteTables")
        .route_tables()
        .to_vec();
    let default_target = |subnet: &str| {
        let table = route_tables
            .iter()
            .find(|t| {
                t.associations()
                    .iter()
                    .any(|a| a.subnet_id() == Some(subnet))
            })
            .unwrap_or_else(|| panic!("subnet {subnet} is associated with no route table"));
        assert_tagged(
            &format!("route table {:?}", table.route_table_id()),
            &name,
            ec2_tags(table.tags()),
        );
        let route = table
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .unwrap_or_else(|| panic!("route table of {subnet} has no 0.0.0.0/0 route"));
        (
            route.gateway_id().map(str::to_string),
            route.nat_gateway_id().map(str::to_string),
        )
    };
    for subnet in &public_ids {
        assert_eq!(
            default_target(subnet),
            (Some(igw_id.clone()), None),
            "public subnet {subnet}: 0.0.0.0/0 -> IGW"
        );
    }
    for subnet in &private_ids {
        let (_, nat) = default_target(subnet);
        assert!(
            nat.as_ref().is_some_and(|n| nat_ids.contains(n)),
            "private subnet {subnet}: 0.0.0.0/0 -> a NAT gateway, got {nat:?}"
        );
    }

    // --- 2. Security groups. ---
    let groups = aws
        .ec2
        .describe_security_groups()
        .group_ids(&web_sg)
        .group_ids(&lambda_sg)
        .send()
        .await
        .expect("DescribeSecurityGroups")
        .security_groups()
        .to_vec();
    assert_eq!(groups.len(), 2);
    for group in &groups {
        let id = group.group_id().unwrap();
        assert_tagged(&format!("SG {id}"), &name, ec2_tags(group.tags()));
        assert!(
            !group.ip_permissions_egress().is_empty(),
            "SG {id} has egress rules"
        );
        if id == web_sg {
            let mut ports = BTreeSet::new();
            for rule in group.ip_permissions() {
                assert_eq!(rule.ip_protocol(), Some("tcp"), "web SG inbound {rule:?}");
                assert_eq!(rule.from_port(), rule.to_port(), "web SG inbound {rule:?}");
                ports.insert(rule.from_port().unwrap_or_default());
            }
            assert_eq!(ports, BTreeSet::from([80, 443]), "web SG inbound ports");
        } else {
            assert!(
                group.ip_permissions().is_empty(),
                "lambda SG has no inbound rule: {:?}",
                group.ip_permissions()
            );
        }
    }

    // --- 3. Instances: web SG, own profile and role, encrypted root volume, user data,
    // IMDSv2. ---
    let instances: Vec<_> = aws
        .ec2
        .describe_instances()
        .set_instance_ids(Some(instance_ids.clone()))
        .send()
        .await
        .expect("DescribeInstances")
        .reservations()
        .iter()
        .flat_map(|r| r.instances().to_vec())
        .collect();
    assert_eq!(instances.len(), 2);
    let mut profiles = BTreeSet::new();
    let mut roles = BTreeSet::new();
    for instance in &instances {
        let id = instance.instance_id().unwrap().to_string();
        assert_tagged(&format!("instance {id}"), &name, ec2_tags(instance.tags()));
        assert!(
            instance
                .security_groups()
                .iter()
                .any(|g| g.group_id() == Some(web_sg.as_str())),
            "instance {id} has the web SG"
        );
        assert!(
            private_ids
                .iter()
                .any(|s| Some(s.as_str()) == instance.subnet_id()),
            "instance {id} in a private subnet"
        );
        assert_eq!(
            instance
                .metadata_options()
                .and_then(|m| m.http_tokens())
                .map(|t| t.as_str()),
            Some("required"),
            "instance {id}: IMDSv2 required"
        );
        let profile_arn = instance
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .unwrap_or_else(|| panic!("instance {id} has no instance profile"))
            .to_string();
        let profile_name = role_name_of(&profile_arn).to_string();
        let profile = aws
            .iam
            .get_instance_profile()
            .instance_profile_name(&profile_name)
            .send()
            .await
            .expect("GetInstanceProfile")
            .instance_profile
            .expect("profile");
        assert_eq!(
            profile.roles().len(),
            1,
            "profile {profile_name} has one role"
        );
        let role = profile.roles()[0].clone();
        let tags = aws
            .iam
            .list_instance_profile_tags()
            .instance_profile_name(&profile_name)
            .send()
            .await
            .expect("ListInstanceProfileTags");
        assert_tagged(
            &format!("instance profile {profile_name}"),
            &name,
            tags.tags().iter().map(|t| (t.key(), t.value())),
        );
        assert!(
            role_managed_policies(&aws, role.role_name())
                .await
                .contains(CLOUDWATCH_AGENT_POLICY),
            "role {} has CloudWatchAgentServerPolicy",
            role.role_name()
        );
        assert_tagged(
            &format!("role {}", role.role_name()),
            &name,
            role_tags(&aws, role.role_name()).await,
        );
        profiles.insert(profile_name);
        roles.insert(role.arn().to_string());

        let volumes = aws
            .ec2
            .describe_volumes()
            .filters(filter("attachment.instance-id", &[&id]))
            .send()
            .await
            .expect("DescribeVolumes")
            .volumes()
            .to_vec();
        assert!(!volumes.is_empty(), "instance {id} has a root volume");
        for volume in &volumes {
            assert_eq!(volume.encrypted(), Some(true), "volume of {id} encrypted");
            assert_eq!(
                volume.kms_key_id(),
                Some(key_arn.as_str()),
                "volume of {id} encrypted with the stack key"
            );
            assert_tagged(
                &format!("volume {:?}", volume.volume_id()),
                &name,
                ec2_tags(volume.tags()),
            );
        }

        let attribute = aws
            .ec2
            .describe_instance_attribute()
            .instance_id(&id)
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
            .send()
            .await
            .expect("DescribeInstanceAttribute userData");
        let encoded = attribute
            .user_data()
            .and_then(|u| u.value())
            .unwrap_or_default();
        let user_data = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        assert!(
            user_data.contains("amazon-cloudwatch-agent"),
            "instance {id} user data installs the CloudWatch agent: {user_data:?}"
        );
    }
    assert_eq!(profiles.len(), 2, "each instance has its own profile");
    assert_eq!(roles.len(), 2, "each instance has its own role");
    assert_eq!(
        roles,
        out_list(&outputs, "instance_role_arns")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        "instance_role_arns output"
    );

    // --- 5. KMS: key, rotation, policy without open principals, alias. ---
    let key = aws
        .kms
        .describe_key()
        .key_id(&key_arn)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("key metadata");
    let key_id = key.key_id().to_string();
    assert_eq!(
        key.key_state().map(|s| s.as_str()),
        Some("Enabled"),
        "key state"
    );
    let rotation = aws
        .kms
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .expect("GetKeyRotationStatus");
    assert!(rotation.key_rotation_enabled(), "key rotation enabled");
    let policy = aws
        .kms
        .get_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .send()
        .await
        .expect("GetKeyPolicy");
    let policy: Json = serde_json::from_str(policy.policy().expect("policy")).expect("JSON");
    let statements = policy["Statement"].as_array().expect("statements").clone();
    assert!(!statements.is_empty());
    for s in &statements {
        assert!(
            !open_principal(&s["Principal"]),
            "key policy statement with an open principal: {s}"
        );
    }
    let aliases = aws
        .kms
        .list_aliases()
        .key_id(&key_id)
        .send()
        .await
        .expect("ListAliases");
    assert!(
        aliases.aliases().iter().any(|a| a.alias_name()
            == Some(format!("alias/{prefix}").as_str())
            && a.target_key_id() == Some(key_id.as_str())),
        "alias/{prefix} targets the key: {:?}",
        aliases.aliases()
    );
    let key_tags = aws
        .kms
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .expect("ListResourceTags");
    assert_tagged(
        "KMS key",
        &name,
        key_tags.tags().iter().map(|t| (t.tag_key(), t.tag_value())),
    );

    // --- Log groups: both KMS-encrypted with the stack key. ---
    let function_name = format!("{prefix}-health");
    let lambda_log_group = format!("/aws/lambda/{function_name}");
    let access_log_group = format!("/aws/apigateway/{prefix}-access");
    // The third is API Gateway's execution log group, named by AWS after the API id
    // (checked against the API below), which nova creates encrypted before the stage.
    let log_group_names = out_list(&outputs, "log_group_names");
    assert_eq!(log_group_names.len(), 3, "{log_group_names:?}");
    assert_eq!(
        log_group_names[..2],
        [lambda_log_group.clone(), access_log_group.clone()]
    );
    let execution_log_group = log_group_names[2].clone();
    assert!(
        execution_log_group.starts_with("API-Gateway-Execution-Logs_")
            && execution_log_group.ends_with("/prod"),
        "{execution_log_group}"
    );
    let mut access_log_arn = String::new();
    for group_name in [&lambda_log_group, &access_log_group, &execution_log_group] {
        let groups = aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(group_name)
            .send()
            .await
            .expect("DescribeLogGroups");
        let group = groups
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(group_name.as_str()))
            .unwrap_or_else(|| panic!("log group {group_name} exists"));
        assert_eq!(
            group.kms_key_id(),
            Some(key_arn.as_str()),
            "log group {group_name} encrypted with the stack key"
        );
        let arn = group
            .arn()
            .expect("log group ARN")
            .trim_end_matches(":*")
            .to_string();
        assert_region("log group", &arn, "us-east-1");
        let tags = aws
            .logs
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .expect("ListTagsForResource (logs)");
        assert_tagged(
            &format!("log group {group_name}"),
            &name,
            tags.tags().cloned().unwrap_or_default(),
        );
        if group_name == &access_log_group {
            access_log_arn = arn;
        }
    }

    // --- 4. API Gateway: stage access logs, INFO logging, account role. ---
    let api = aws
        .apigw
        .get_rest_apis()
        .limit(500)
        .send()
        .await
        .expect("GetRestApis")
        .items()
        .iter()
        .find(|a| a.name() == Some(format!("{prefix}-api").as_str()))
        .unwrap_or_else(|| panic!("REST API {prefix}-api exists"))
        .clone();
    let api_id = api.id().unwrap().to_string();
    assert_eq!(
        execution_log_group,
        format!("API-Gateway-Execution-Logs_{api_id}/prod")
    );
    assert!(
        out_str(&outputs, "api_invoke_url").contains(&api_id),
        "invoke URL names the API"
    );
    assert_tagged("REST API", &name, api.tags().cloned().unwrap_or_default());
    let stage = aws
        .apigw
        .get_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .expect("GetStage prod");
    let destination = stage
        .access_log_settings()
        .and_then(|s| s.destination_arn())
        .unwrap_or_default();
    assert_eq!(
        destination.trim_end_matches(":*"),
        access_log_arn,
        "stage prod logs to the access log group"
    );
    let settings = stage.method_settings().cloned().unwrap_or_default();
    assert!(
        settings.values().any(|s| s.logging_level() == Some("INFO")),
        "stage prod method settings log at INFO: {settings:?}"
    );
    let stage_tags = aws
        .apigw
        .get_tags()
        .resource_arn(format!(
            "arn:aws:apigateway:us-east-1::/restapis/{api_id}/stages/prod"
        ))
        .send()
        .await
        .expect("GetTags stage");
    assert_tagged(
        "stage prod",
        &name,
        stage_tags.tags().cloned().unwrap_or_default(),
    );

    let logs_role = aws
        .iam
        .get_role()
        .role_name(format!("{prefix}-apigw-logs"))
        .send()
        .await
        .expect("GetRole apigw-logs")
        .role
        .expect("role");
    assert!(
        role_managed_policies(&aws, logs_role.role_name())
            .await
            .contains(APIGW_PUSH_POLICY),
        "apigw logs role has AmazonAPIGatewayPushToCloudWatchLogs"
    );
    assert_tagged(
        "apigw logs role",
        &name,
        role_tags(&aws, logs_role.role_name()).await,
    );

    // --- 6. Health-check Lambda: VPC config, role permissions, schedule. ---
    let function = aws
        .lambda
        .get_function()
        .function_name(&function_name)
        .send()
        .await
        .expect("GetFunction");
    let config = function.configuration().expect("function configuration");
    assert_eq!(config.function_arn(), Some(function_arn.as_str()));
    let vpc_config = config.vpc_config().expect("Lambda VpcConfig");
    assert_eq!(
        vpc_config.security_group_ids(),
        std::slice::from_ref(&lambda_sg),
        "Lambda has the lambda SG"
    );
    assert_eq!(
        vpc_config
            .subnet_ids()
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>(),
        private_ids.iter().cloned().collect::<BTreeSet<_>>(),
        "Lambda in the private subnets"
    );
    let function_tags = aws
        .lambda
        .list_tags()
        .resource(&function_arn)
        .send()
        .await
        .expect("ListTags (lambda)");
    assert_tagged(
        "function",
        &name,
        function_tags.tags().cloned().unwrap_or_default(),
    );

    let health_role = role_name_of(config.role().expect("function role")).to_string();
    let inline_names = aws
        .iam
        .list_role_policies()
        .role_name(&health_role)
        .send()
        .await
        .expect("ListRolePolicies");
    let mut actions = BTreeSet::new();
    for policy_name in inline_names.policy_names() {
        let doc = aws
            .iam
            .get_role_policy()
            .role_name(&health_role)
            .policy_name(policy_name)
            .send()
            .await
            .expect("GetRolePolicy");
        actions.extend(allowed_actions(&policy_json(doc.policy_document())));
    }
    for needed in [
        "ec2:DescribeInstances",
        "cloudwatch:PutMetricData",
        "ec2:CreateNetworkInterface",
    ] {
        assert!(
            actions.contains(needed),
            "health role allows {needed}: {actions:?}"
        );
    }
    assert_tagged("health role", &name, role_tags(&aws, &health_role).await);

    let rule_name = format!("{prefix}-health-schedule");
    let rule = aws
        .events
        .describe_rule()
        .name(&rule_name)
        .send()
        .await
        .expect("DescribeRule");
    assert_eq!(rule.schedule_expression(), Some("rate(5 minutes)"));
    assert_eq!(rule.arn(), Some(rule_arn.as_str()));
    let targets = aws
        .events
        .list_targets_by_rule()
        .rule(&rule_name)
        .send()
        .await
        .expect("ListTargetsByRule");
    assert!(
        targets.targets().iter().any(|t| t.arn() == function_arn),
        "the rule targets the function: {:?}",
        targets.targets()
    );
    let rule_tags = aws
        .events
        .list_tags_for_resource()
        .resource_arn(&rule_arn)
        .send()
        .await
        .expect("ListTagsForResource (events)");
    assert_tagged(
        "rule",
        &name,
        rule_tags.tags().iter().map(|t| (t.key(), t.value())),
    );

    // --- Nothing left to do. ---
    stack.assert_plan_clean();

    // --- Destroy, then list: nothing of the stack is left. ---
    stack.destroy();
    assert_nothing_left(&aws, &name, &key_id, &execution_log_group).await;
    // The role is deleted, so the account setting must not name it any more (destroy
    // restores the previous value; another stack may have set its own meanwhile).
    let account = aws.apigw.get_account().send().await.expect("GetAccount");
    assert!(
        !account
            .cloudwatch_role_arn()
            .is_some_and(|arn| arn.ends_with(&format!(":role/{prefix}-apigw-logs"))),
        "the API Gateway account still names the deleted role: {:?}",
        account.cloudwatch_role_arn()
    );
    let list = stack.run(&["state", "list"]).expect_code(0);
    assert_eq!(list.stdout, "", "state list after destroy");
    let state = stack.state();
    assert_eq!(state["resources"], serde_json::json!([]), "{state}");
    assert_eq!(state["pending"], serde_json::json!([]), "{state}");
}

/// Lists every kind of AWS object the stack makes and asserts none of this stack's is
/// left (the KMS key may only be scheduled for deletion).
async fn assert_nothing_left(aws: &Aws, stack: &str, key_id: &str, execution_log_group: &str) {
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

/// The instances of `stack` that are not terminated (or terminating), by id.
async fn live_instances(aws: &Aws, stack: &str) -> BTreeSet<String> {
    let out = aws
        .ec2
        .describe_instances()
        .filters(stack_filter(stack))
        .send()
        .await
        .expect("DescribeInstances");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| {
            !matches!(
                i.state().and_then(|s| s.name()).map(|n| n.as_str()),
                Some("terminated" | "shutting-down")
            )
        })
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect()
}

/// The non-no-op changes of a plan document, as (address, action), leaving out a reset
/// of the API Gateway account role that another stack on the shared LocalStack changed
/// (see [`Stack::foreign_account_drift`]).
fn actions(stack: &Stack, plan: &Json) -> BTreeMap<String, String> {
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "no_op")
        .filter(|c| stack.foreign_account_drift(c).is_none())
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_count_change() {
    let _account = account_lock();
    let aws = Aws::new().await;
    let mut stack = Stack::new("e2e-scale");
    let name = stack.name.clone();
    stack.up();
    let two = live_instances(&aws, &name).await;
    assert_eq!(two.len(), 2, "instances after the first up: {two:?}");

    let three = [("NOVA_INSTANCE_COUNT", "3")];
    let plan = stack.plan_json(&three);
    // Exactly the third instance with its own role and profile. Nothing else changes: the
    // outputs (instance_ids, instance_role_arns) are not resources, and no existing
    // resource references the instances, roles or profiles by count.
    let expected: BTreeMap<String, String> = [
        "aws_iam_instance_profile.web[2]",
        "aws_iam_role.web[2]",
        "aws_instance.web[2]",
    ]
    .into_iter()
    .map(|a| (a.to_string(), "create".to_string()))
    .collect();
    assert_eq!(
        actions(&stack, &plan),
        expected,
        "plan for instance_count = 3"
    );
    // (`change` may count a foreign reset of the account role, left out above.)
    for (field, count) in [("add", 3), ("destroy", 0), ("replace", 0)] {
        assert_eq!(plan["summary"][field], count, "summary {}", plan["summary"]);
    }

    stack.up_env(&three);
    let after_up = live_instances(&aws, &name).await;
    assert_eq!(
        after_up.len(),
        3,
        "instances after scaling to 3: {after_up:?}"
    );
    assert!(after_up.is_superset(&two), "the first two instances stay");
    let third: Vec<&String> = after_up.difference(&two).collect();
    let outputs = stack.outputs();
    assert_eq!(out_list(&outputs, "instance_ids").len(), 3);
    assert_eq!(out_list(&outputs, "instance_role_arns").len(), 3);
    let third_role = format!("nova-{name}-web-3");
    aws.iam
        .get_role()
        .role_name(&third_role)
        .send()
        .await
        .expect("the third instance's role exists");

    // Back to the configured 2: exactly web[2] and its role and profile go.
    let plan = stack.plan_json(&[]);
    let expected: BTreeMap<String, String> = [
        "aws_iam_instance_profile.web[2]",
        "aws_iam_role.web[2]",
        "aws_instance.web[2]",
    ]
    .into_iter()
    .map(|a| (a.to_string(), "delete".to_string()))
    .collect();
    assert_eq!(
        actions(&stack, &plan),
        expected,
        "plan back to instance_count = 2"
    );
    stack.up();
    let back = live_instances(&aws, &name).await;
    assert_eq!(
        back, two,
        "back to the first two instances (removed {third:?})"
    );
    let role = aws.iam.get_role().role_name(&third_role).send().await;
    assert!(role.is_err(), "role {third_role} deleted");
    let profile = aws
        .iam
        .get_instance_profile()
        .instance_profile_name(&third_role)
        .send()
        .await;
    assert!(profile.is_err(), "profile {third_role} deleted");
    stack.assert_plan_clean();
    stack.destroy();
    assert!(live_instances(&aws, &name).await.is_empty());
}
