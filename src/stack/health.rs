//! The health-check Lambda: its KMS-encrypted log group, its least-privilege role, the
//! function in the private subnets, and the EventBridge schedule that runs it.

use crate::provider::aws::kinds;
use std::collections::BTreeMap;

use super::kms::{key_arn, Key};
use super::network::Network;
use super::security_groups::SecurityGroups;
use super::{policies, r, Builder};
use crate::model::{Address, Resource, Value};

/// CloudWatch namespace the function publishes `HealthyInstances`/`UnhealthyInstances` to.
pub const METRIC_NAMESPACE: &str = "Nova/HealthCheck";

pub(crate) struct HealthCheck {
    pub function: Address,
    pub log_group_name: String,
    pub rule: Address,
}

pub(crate) fn health_check(
    b: &mut Builder,
    net: &Network,
    sgs: &SecurityGroups,
    key: &Key,
) -> HealthCheck {
    let function_name = b.naming.name("health");
    let log_group_name = format!("/aws/lambda/{function_name}");
    let log_group = b
        .tagged(kinds::LOG_GROUP, "health", &log_group_name)
        .with("name", log_group_name.as_str())
        .with("kms_key_id", key_arn(key))
        .with("retention_in_days", i64::from(b.config.log_retention_days));
    let log_group = b.add(log_group);

    let log_group_arn = b.arn("logs", &format!("log-group:{log_group_name}"));
    let mut inline = BTreeMap::new();
    inline.insert(
        "health-check".to_string(),
        Value::String(policies::health_check_policy(
            &log_group_arn,
            METRIC_NAMESPACE,
        )),
    );
    let role = b
        .tagged(kinds::IAM_ROLE, "health", &function_name)
        .with("name", function_name.as_str())
        .with(
            "description",
            "Health-check Lambda: read instance status, publish metrics, write its logs",
        )
        .with(
            "assume_role_policy",
            policies::trust_policy("lambda.amazonaws.com"),
        )
        .with("managed_policy_arns", Value::List(vec![]))
        .with("inline_policies", Value::Map(inline));
    let role = b.add(role);

    let mut environment = BTreeMap::new();
    environment.insert("NOVA_STACK".to_string(), Value::str(&b.config.stack));
    environment.insert("NOVA_PROJECT".to_string(), Value::str(&b.config.project));
    environment.insert(
        "NOVA_ENVIRONMENT".to_string(),
        Value::str(&b.config.environment),
    );
    environment.insert("METRIC_NAMESPACE".to_string(), Value::str(METRIC_NAMESPACE));
    let function = b
        .tagged(kinds::LAMBDA_FUNCTION, "health", &function_name)
        .with("function_name", function_name.as_str())
        .with("runtime", "python3.12")
        .with("handler", "handler.handler")
        .with("role", r(&role, "arn"))
        .with("source_bundle", crate::assets::HEALTH_CHECK.name)
        .with("code_sha256", b.context.health_code_sha256.as_str())
        .with("environment", Value::Map(environment))
        .with(
            "subnet_ids",
            Value::List(net.private_subnets.iter().map(|s| r(s, "id")).collect()),
        )
        .with(
            "security_group_ids",
            Value::List(vec![r(&sgs.lambda, "id")]),
        )
        .with("memory_size", i64::from(b.config.lambda_memory_mb))
        .with("timeout", i64::from(b.config.lambda_timeout_seconds))
        // nova creates the log group (KMS-encrypted) before Lambda would create its own.
        .after(&log_group);
    let function = b.add(function);

    let rule_name = b.naming.name("health-schedule");
    let rule = b
        .tagged(kinds::EVENT_RULE, "health", &rule_name)
        .with("name", rule_name.as_str())
        .with("schedule_expression", b.config.health_schedule.as_str())
        .with("description", format!("Runs {function_name} on a schedule"))
        .with("state", "ENABLED");
    let rule = b.add(rule);
    let target = Resource::new(Address::new(kinds::EVENT_TARGET, "health"))
        .with("rule", r(&rule, "name"))
        .with("target_id", "health-check")
        .with("arn", r(&function, "arn"));
    b.add(target);
    let permission = Resource::new(Address::new(kinds::LAMBDA_PERMISSION, "events"))
        .with("function_name", r(&function, "function_name"))
        .with("statement_id", "AllowEventBridgeInvoke")
        .with("action", "lambda:InvokeFunction")
        .with("principal", "events.amazonaws.com")
        .with("source_arn", r(&rule, "arn"));
    b.add(permission);
    HealthCheck {
        function,
        log_group_name,
        rule,
    }
}
