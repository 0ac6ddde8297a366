//! The log groups: every one KMS-encrypted with the stack key.

use super::*;

pub async fn check(aws: &Aws, d: &Deployed) -> (String, String) {
    let key_arn = d.key_arn.clone();
    let name = d.name.clone();
    let prefix = d.prefix.clone();
    let outputs = d.outputs.clone();
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

    (execution_log_group, access_log_arn)
}
