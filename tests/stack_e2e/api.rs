//! Checklist 4: API Gateway (stage access logs, INFO logging, the account's CloudWatch role).

use super::*;

pub async fn check(aws: &Aws, d: &Deployed, execution_log_group: &str, access_log_arn: &str) {
    let name = d.name.clone();
    let prefix = d.prefix.clone();
    let outputs = d.outputs.clone();
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

    // The account's one shared CloudWatch role (every stack of the region points the
    // setting at it): it can push logs, trusts API Gateway, and lists this stack as a user.
    let shared = "nova-apigw-cloudwatch-us-east-1";
    let logs_role = aws
        .iam
        .get_role()
        .role_name(shared)
        .send()
        .await
        .expect("GetRole of the shared API Gateway CloudWatch role")
        .role
        .expect("role");
    assert!(
        role_managed_policies(aws, logs_role.role_name())
            .await
            .contains(APIGW_PUSH_POLICY),
        "the shared role has AmazonAPIGatewayPushToCloudWatchLogs"
    );
    let trust = urlencoding_free(logs_role.assume_role_policy_document().unwrap_or_default());
    assert!(trust.contains("apigateway.amazonaws.com"), "{trust}");
    let tags: std::collections::BTreeMap<String, String> = role_tags(aws, logs_role.role_name())
        .await
        .into_iter()
        .collect();
    assert_eq!(
        tags.get(&format!("nova:user:{name}")).map(String::as_str),
        Some("true"),
        "the shared role lists {name} as a user: {tags:?}"
    );
}

/// A policy document as IAM returns it (percent-encoded), decoded enough to search it.
fn urlencoding_free(doc: &str) -> String {
    nova::provider::aws::policy_doc::decode_iam_document(doc)
}
