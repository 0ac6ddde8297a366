//! API Gateway: `GET /health` proxied to the health-check Lambda, a `prod` stage with
//! KMS-encrypted access logs and INFO execution logging, and the account-level
//! CloudWatch role that API Gateway logging needs (one per account and region, shared by
//! every stack there).

use crate::provider::aws::apigateway::shared_role_name;
use crate::provider::aws::kinds;
use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::health::HealthCheck;
use super::kms::{key_arn, Key};
use super::{policies, r, Builder};
use crate::model::{Address, Resource, Value};

pub const API_GATEWAY_LOGS_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs";

/// The access log line: one JSON object per request.
const ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","resourcePath":"$context.resourcePath","status":"$context.status","responseLength":"$context.responseLength","integrationLatency":"$context.integrationLatency"}"#;

/// The one stage nova deploys.
const STAGE: &str = "prod";

pub(crate) struct Api {
    pub stage: Address,
    pub access_log_group_name: String,
    pub execution_log_group: Address,
}

pub(crate) fn api(b: &mut Builder, health: &HealthCheck, key: &Key) -> Api {
    // One setting per account and region, shared by every nova stack there: they all point
    // it at one role named for the region (see `provider::aws::apigateway::account`).
    let account = Resource::new(Address::new(kinds::API_ACCOUNT, "main"))
        .with("role_name", shared_role_name(&b.config.region))
        .with(
            "assume_role_policy",
            policies::trust_policy("apigateway.amazonaws.com"),
        )
        .with(
            "managed_policy_arns",
            Value::list_of_strings([API_GATEWAY_LOGS_POLICY]),
        );
    let account = b.add(account);

    let access_log_group_name = format!("/aws/apigateway/{}-access", b.naming.prefix());
    let access_logs = b
        .tagged(kinds::LOG_GROUP, "api_access", &access_log_group_name)
        .with("name", access_log_group_name.as_str())
        .with("kms_key_id", key_arn(key))
        .with("retention_in_days", i64::from(b.config.log_retention_days));
    let access_logs = b.add(access_logs);

    let api_name = b.naming.name("api");
    let rest_api = b
        .tagged(kinds::API_REST_API, "main", &api_name)
        .with("name", api_name.as_str())
        .with(
            "description",
            format!(
                "{}: GET /health reports the web instances' health",
                b.naming.prefix()
            ),
        );
    let rest_api = b.add(rest_api);
    // API Gateway writes INFO execution logs to `API-Gateway-Execution-Logs_<api>/<stage>`,
    // creating the group unencrypted if it does not exist: nova makes it first, with the key.
    let execution_logs = b
        .tagged(
            kinds::LOG_GROUP,
            "api_execution",
            &b.naming.name("api-execution-logs"),
        )
        .with(
            "name",
            Value::Concat(vec![
                Value::str("API-Gateway-Execution-Logs_"),
                r(&rest_api, "id"),
                Value::str(format!("/{STAGE}")),
            ]),
        )
        .with("kms_key_id", key_arn(key))
        .with("retention_in_days", i64::from(b.config.log_retention_days));
    let execution_log_group = b.add(execution_logs);
    let resource = Resource::new(Address::new(kinds::API_RESOURCE, "health"))
        .with("rest_api_id", r(&rest_api, "id"))
        .with("parent_id", r(&rest_api, "root_resource_id"))
        .with("path_part", "health");
    let resource = b.add(resource);
    let method = Resource::new(Address::new(kinds::API_METHOD, "health_get"))
        .with("rest_api_id", r(&rest_api, "id"))
        .with("resource_id", r(&resource, "id"))
        .with("http_method", "GET")
        .with("authorization", "NONE");
    let integration_uri = Value::Concat(vec![
        Value::str(format!(
            "arn:aws:apigateway:{}:lambda:path/2015-03-31/functions/",
            b.config.region
        )),
        r(&health.function, "arn"),
        Value::str("/invocations"),
    ]);
    let integration = Resource::new(Address::new(kinds::API_INTEGRATION, "health_get"))
        .with("rest_api_id", r(&rest_api, "id"))
        .with("resource_id", r(&resource, "id"))
        .with("http_method", "GET")
        .with("type", "AWS_PROXY")
        .with("integration_http_method", "POST")
        .with("uri", integration_uri.clone());
    let triggers = deployment_triggers(&[method.clone(), integration.clone()], integration_uri);
    let method = b.add(method);
    let integration = b.add(integration);

    let permission = Resource::new(Address::new(kinds::LAMBDA_PERMISSION, "apigw"))
        .with("function_name", r(&health.function, "function_name"))
        .with("statement_id", "AllowApiGatewayInvoke")
        .with("action", "lambda:InvokeFunction")
        .with("principal", "apigateway.amazonaws.com")
        .with(
            "source_arn",
            Value::Concat(vec![
                r(&rest_api, "execution_arn"),
                Value::str("/*/GET/health"),
            ]),
        );
    b.add(permission);

    let deployment = Resource::new(Address::new(kinds::API_DEPLOYMENT, "main"))
        .with("rest_api_id", r(&rest_api, "id"))
        .with("description", "nova deployment of GET /health")
        .with("triggers", triggers)
        .after(&method)
        .after(&integration);
    let deployment = b.add(deployment);
    let stage = b
        .tagged(kinds::API_STAGE, "prod", &b.naming.name("prod"))
        .with("rest_api_id", r(&rest_api, "id"))
        .with("stage_name", STAGE)
        .with("deployment_id", r(&deployment, "id"))
        .with("access_log_destination_arn", r(&access_logs, "arn"))
        .with("access_log_format", ACCESS_LOG_FORMAT)
        .with("logging_level", "INFO")
        .with("metrics_enabled", true)
        // Stage logging needs the account's CloudWatch role in place, and its execution
        // log group made (encrypted) by nova.
        .after(&account)
        .after(&execution_log_group);
    let stage = b.add(stage);
    Api {
        stage,
        access_log_group_name,
        execution_log_group,
    }
}

/// What makes a new deployment: the methods' definitions (hashed) and the integration
/// target (unknown, hence a redeploy, when the function is replaced).
fn deployment_triggers(definitions: &[Resource], integration_uri: Value) -> Value {
    let mut hasher = Sha256::new();
    for resource in definitions {
        hasher.update(resource.address.to_string());
        hasher.update(Value::Map(resource.inputs.clone()).to_json().to_string());
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut triggers = BTreeMap::new();
    triggers.insert("methods_sha256".to_string(), Value::String(digest));
    triggers.insert("integration_uri".to_string(), integration_uri);
    Value::Map(triggers)
}
