//! Security groups: the web tier (inbound 80/443 only) and the health-check Lambda (no
//! inbound at all). Egress is explicit: only what each needs.

use crate::provider::aws::kinds;
use std::collections::BTreeMap;

use super::{r, Builder};
use crate::config::Cidr;
use crate::model::{Address, Value};

pub(crate) struct SecurityGroups {
    pub web: Address,
    pub lambda: Address,
}

pub(crate) fn security_groups(b: &mut Builder, net: &super::network::Network) -> SecurityGroups {
    let anywhere = ["0.0.0.0/0".to_string()];
    let allowed: Vec<String> = b
        .config
        .web_ingress_cidrs
        .iter()
        .map(Cidr::to_string)
        .collect();
    let web_name = b.naming.name("web");
    let web = b
        .tagged(kinds::SECURITY_GROUP, "web", &web_name)
        .with("name", web_name.as_str())
        .with(
            "description",
            "Web instances: HTTP and HTTPS in from the allowed CIDRs only",
        )
        .with("vpc_id", r(&net.vpc, "id"))
        .with(
            "ingress",
            Value::List(vec![
                tcp_rule(80, &allowed, "HTTP from allowed CIDRs"),
                tcp_rule(443, &allowed, "HTTPS from allowed CIDRs"),
            ]),
        )
        .with(
            "egress",
            Value::List(vec![
                tcp_rule(80, &anywhere, "HTTP out (package repositories)"),
                tcp_rule(443, &anywhere, "HTTPS out (AWS APIs, package repositories)"),
            ]),
        );
    let web = b.add(web);
    let lambda_name = b.naming.name("health");
    let lambda = b
        .tagged(kinds::SECURITY_GROUP, "lambda", &lambda_name)
        .with("name", lambda_name.as_str())
        .with(
            "description",
            "Health-check Lambda: no inbound; HTTPS out to AWS APIs",
        )
        .with("vpc_id", r(&net.vpc, "id"))
        .with("ingress", Value::List(vec![]))
        .with(
            "egress",
            Value::List(vec![tcp_rule(443, &anywhere, "HTTPS out (AWS APIs)")]),
        );
    let lambda = b.add(lambda);
    SecurityGroups { web, lambda }
}

fn tcp_rule(port: i64, cidrs: &[String], description: &str) -> Value {
    let mut rule = BTreeMap::new();
    rule.insert("protocol".to_string(), Value::str("tcp"));
    rule.insert("from_port".to_string(), Value::Int(port));
    rule.insert("to_port".to_string(), Value::Int(port));
    rule.insert(
        "cidr_blocks".to_string(),
        Value::list_of_strings(cidrs.iter().cloned()),
    );
    rule.insert("description".to_string(), Value::str(description));
    Value::Map(rule)
}
