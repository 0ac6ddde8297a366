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
        role_managed_policies(aws, logs_role.role_name())
            .await
            .contains(APIGW_PUSH_POLICY),
        "apigw logs role has AmazonAPIGatewayPushToCloudWatchLogs"
    );
    assert_tagged(
        "apigw logs role",
        &name,
        role_tags(aws, logs_role.role_name()).await,
    );
}
