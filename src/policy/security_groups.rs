//! Security group rules: inbound only tcp 80/443, egress present, and the web and
//! Lambda security groups attached where they belong.

use crate::provider::aws::kinds;
use std::collections::BTreeMap;

use super::view::show;
use super::{Finding, Rule, Severity, StackView};
use crate::model::{Address, Value};

/// The inbound ports the checklist allows.
pub const ALLOWED_INGRESS_PORTS: [i64; 2] = [80, 443];

pub const INGRESS_WEB_ONLY: Rule = Rule {
    id: "NOVA-SG-001",
    title: "Security groups allow inbound tcp 80 and 443 only",
    severity: Severity::Error,
    checklist_item: "Security group allows inbound traffic on ports other than 80/443",
    remediation: "Remove every ingress rule that is not tcp with from_port = to_port = 80 \
                  or 443 (no port ranges, no `-1`, udp or icmp).",
    check: check_ingress,
};

pub const EGRESS_PRESENT: Rule = Rule {
    id: "NOVA-SG-002",
    title: "Every security group has egress rules",
    severity: Severity::Error,
    checklist_item: "Missing egress rules for outbound traffic",
    remediation: "Give the security group the egress it needs (the web and Lambda groups: \
                  tcp 443, plus tcp 80 for the web group, to 0.0.0.0/0).",
    check: check_egress,
};

pub const ATTACHED: Rule = Rule {
    id: "NOVA-SG-003",
    title: "The web security group is on every instance and the Lambda group on the Lambda",
    severity: Severity::Error,
    checklist_item: "Security group not attached to EC2 or Lambda resources",
    remediation: "Put aws_security_group.web in every instance's `security_group_ids` and \
                  aws_security_group.lambda in the function's `security_group_ids`.",
    check: check_attached,
};

fn check_ingress(view: &StackView) -> Vec<Finding> {
    let mut out = Vec::new();
    for sg in view.of_kind(kinds::SECURITY_GROUP) {
        for rule in sg.input_list("ingress") {
            match rule.as_map() {
                Some(map) if web_only(map) => {}
                Some(map) => out.push(INGRESS_WEB_ONLY.at(
                    &sg.address,
                    format!(
                        "allows inbound {}; only tcp 80 and tcp 443 may be open",
                        describe(map)
                    ),
                )),
                None => out.push(INGRESS_WEB_ONLY.at(
                    &sg.address,
                    format!("has an unreadable ingress rule {rule}"),
                )),
            }
        }
    }
    out
}

/// True for a tcp rule opening exactly port 80 or 443.
fn web_only(rule: &BTreeMap<String, Value>) -> bool {
    let protocol = rule.get("protocol").map(show).unwrap_or_default();
    let from = rule.get("from_port").and_then(Value::as_i64);
    let to = rule.get("to_port").and_then(Value::as_i64);
    matches!(protocol.to_ascii_lowercase().as_str(), "tcp" | "6")
        && from.is_some()
        && from == to
        && from.is_some_and(|p| ALLOWED_INGRESS_PORTS.contains(&p))
}

/// `tcp 22-22 from 0.0.0.0/0`.
fn describe(rule: &BTreeMap<String, Value>) -> String {
    let field = |k: &str| rule.get(k).map(show).unwrap_or_else(|| "?".to_string());
    let cidrs: Vec<String> = rule
        .get("cidr_blocks")
        .and_then(Value::as_list)
        .unwrap_or(&[])
        .iter()
        .map(show)
        .collect();
    let protocol = match field("protocol").as_str() {
        "-1" => "all protocols".to_string(),
        p => p.to_string(),
    };
    format!(
        "{protocol} {}-{} from [{}]",
        field("from_port"),
        field("to_port"),
        cidrs.join(", ")
    )
}

fn check_egress(view: &StackView) -> Vec<Finding> {
    view.of_kind(kinds::SECURITY_GROUP)
        .filter(|sg| sg.input_list("egress").is_empty())
        .map(|sg| EGRESS_PRESENT.at(&sg.address, "has no egress rules"))
        .collect()
}

fn check_attached(view: &StackView) -> Vec<Finding> {
    let web = Address::new(kinds::SECURITY_GROUP, "web");
    let lambda = Address::new(kinds::SECURITY_GROUP, "lambda");
    let mut out = Vec::new();
    for instance in view.of_kind(kinds::INSTANCE) {
        out.extend(require_group(view, instance, &web));
    }
    for function in view.of_kind(kinds::LAMBDA_FUNCTION) {
        out.extend(require_group(view, function, &lambda));
    }
    out
}

fn require_group(
    view: &StackView,
    resource: &super::ResourceView,
    group: &Address,
) -> Option<Finding> {
    if view.get(group).is_none() {
        return Some(ATTACHED.at(
            &resource.address,
            format!("its security group {group} is not in the stack"),
        ));
    }
    let attached = resource
        .input_list("security_group_ids")
        .iter()
        .any(|v| view.points_to(v, group));
    (!attached).then(|| {
        ATTACHED.at(
            &resource.address,
            format!("security group {group} is not attached (`security_group_ids`)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::fixture::*;

    fn ingress(protocol: &str, from: i64, to: i64) -> Value {
        let mut m = BTreeMap::new();
        m.insert("protocol".to_string(), Value::str(protocol));
        m.insert("from_port".to_string(), Value::Int(from));
        m.insert("to_port".to_string(), Value::Int(to));
        m.insert(
            "cidr_blocks".to_string(),
            Value::list_of_strings(["0.0.0.0/0"]),
        );
        Value::Map(m)
    }

    const LAMBDA_GROUP: &str = "aws_security_group.lambda";

    #[test]
    fn ssh_ingress_fires_sg_001() {
        let mut bp = blueprint();
        push(
            &mut bp,
            "aws_security_group.web",
            "ingress",
            ingress("tcp", 22, 22),
        );
        let report = assert_fires_only(&bp, &["NOVA-SG-001"]);
        assert_eq!(
            report.findings[0].message,
            "allows inbound tcp 22-22 from [0.0.0.0/0]; only tcp 80 and tcp 443 may be open"
        );
    }

    #[test]
    fn an_instance_without_the_web_group_fires_sg_003() {
        let mut bp = blueprint();
        let lambda_sg = Value::reference(&addr("aws_security_group.lambda"), "id");
        set(
            &mut bp,
            "aws_instance.web[1]",
            "security_group_ids",
            Value::List(vec![lambda_sg]),
        );
        let report = assert_fires_only(&bp, &["NOVA-SG-003"]);
        assert_eq!(
            report.findings[0].address,
            Some(addr("aws_instance.web[1]"))
        );
    }

    /// Each way of breaking a security group rule whose findings need no closer look, and
    /// the rule that must then fire.
    const CASES: &[Case] = &[
        Case {
            breaks: "inbound tcp over a port range",
            change: |bp| push(bp, LAMBDA_GROUP, "ingress", ingress("tcp", 0, 1024)),
            fires: &["NOVA-SG-001"],
        },
        Case {
            breaks: "inbound traffic of all protocols",
            change: |bp| push(bp, LAMBDA_GROUP, "ingress", ingress("-1", 0, 0)),
            fires: &["NOVA-SG-001"],
        },
        Case {
            breaks: "inbound udp 443",
            change: |bp| push(bp, LAMBDA_GROUP, "ingress", ingress("udp", 443, 443)),
            fires: &["NOVA-SG-001"],
        },
        Case {
            breaks: "no egress",
            change: |bp| clear(bp, LAMBDA_GROUP, "egress"),
            fires: &["NOVA-SG-002"],
        },
    ];

    #[test]
    fn each_broken_security_group_item_fires_its_rule() {
        assert_cases(CASES);
    }
}
