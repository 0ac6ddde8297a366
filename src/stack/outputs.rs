//! The stack's exported outputs (`nova output`): ids, ARNs and endpoints of key resources.

use std::collections::BTreeMap;

use super::api::Api;
use super::compute::WebInstances;
use super::health::HealthCheck;
use super::kms::Key;
use super::network::Network;
use super::r;
use super::security_groups::SecurityGroups;
use crate::model::{Address, Value};

fn ids(addresses: &[Address], output: &str) -> Value {
    Value::List(addresses.iter().map(|a| r(a, output)).collect())
}

pub(crate) fn outputs(
    net: &Network,
    sgs: &SecurityGroups,
    web: &WebInstances,
    key: &Key,
    health: &HealthCheck,
    api: &Api,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut put = |name: &str, value: Value| {
        out.insert(name.to_string(), value);
    };
    put("vpc_id", r(&net.vpc, "id"));
    put("internet_gateway_id", r(&net.igw, "id"));
    put("public_subnet_ids", ids(&net.public_subnets, "id"));
    put("private_subnet_ids", ids(&net.private_subnets, "id"));
    put("nat_gateway_ids", ids(&net.nat_gateways, "id"));
    put("web_security_group_id", r(&sgs.web, "id"));
    put("lambda_security_group_id", r(&sgs.lambda, "id"));
    put("instance_ids", ids(&web.instances, "id"));
    put("instance_role_arns", ids(&web.roles, "arn"));
    put("kms_key_arn", r(&key.key, "arn"));
    put("kms_alias", Value::str(&key.alias_name));
    put(
        "api_invoke_url",
        Value::Concat(vec![r(&api.stage, "invoke_url"), Value::str("/health")]),
    );
    put("health_function_arn", r(&health.function, "arn"));
    put(
        "log_group_names",
        Value::List(vec![
            Value::str(&health.log_group_name),
            Value::str(&api.access_log_group_name),
            r(&api.execution_log_group, "name"),
        ]),
    );
    put("schedule_rule_arn", r(&health.rule, "arn"));
    out
}
