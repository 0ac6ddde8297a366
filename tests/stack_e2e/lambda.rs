//! Checklist 6: the health-check Lambda (VPC config, role permissions, 5-minute schedule).

use super::*;

pub async fn check(aws: &Aws, d: &Deployed) {
    let private_ids = d.private_ids.clone();
    let lambda_sg = d.lambda_sg.clone();
    let function_arn = d.function_arn.clone();
    let rule_arn = d.rule_arn.clone();
    let name = d.name.clone();
    let prefix = d.prefix.clone();
    let function_name = format!("{}-health", d.prefix);
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
    assert_tagged("health role", &name, role_tags(aws, &health_role).await);

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
}
