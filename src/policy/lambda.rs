//! Health-monitoring Lambda rules: a 5-minute EventBridge schedule that may invoke it, VPC
//! placement, the role's permissions, and its KMS-encrypted log group.

use super::document::{allows, has_managed_policy, role_trusts, statements, Statement};
use super::view::show;
use super::{Finding, ResourceView, Rule, Severity, StackView};
use crate::model::Value;
use crate::provider::aws::kinds;

pub const VPC_ACCESS_POLICY_ARN: &str =
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole";
pub const BASIC_EXECUTION_POLICY_ARN: &str =
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
/// What the health check calls.
pub const REQUIRED_ACTIONS: [&str; 2] = ["ec2:DescribeInstances", "cloudwatch:PutMetricData"];
/// What a function in a VPC needs for its network interfaces.
pub const ENI_ACTIONS: [&str; 3] = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
];
/// What a function needs to write its logs.
pub const LOG_ACTIONS: [&str; 2] = ["logs:CreateLogStream", "logs:PutLogEvents"];

pub const SCHEDULE: Rule = Rule {
    id: "NOVA-LAM-001",
    title: "The Lambda is invoked by an enabled EventBridge rule every 5 minutes",
    severity: Severity::Error,
    checklist_item: "Lambda function is scheduled using EventBridge rule (every 5 minutes).",
    remediation: "Add an aws_cloudwatch_event_rule with `schedule_expression = \"rate(5 \
                  minutes)\"`, an aws_cloudwatch_event_target whose `arn` is the function, \
                  and an aws_lambda_permission for events.amazonaws.com from the rule's ARN.",
    check: check_schedule,
};

pub const VPC_CONFIG: Rule = Rule {
    id: "NOVA-LAM-002",
    title: "The Lambda runs in the VPC's private subnets with a security group",
    severity: Severity::Error,
    checklist_item: "Lambda is configured with VPC and security group.",
    remediation: "Set the function's `subnet_ids` to the private subnets and \
                  `security_group_ids` to aws_security_group.lambda.",
    check: check_vpc_config,
};

pub const PERMISSIONS: Rule = Rule {
    id: "NOVA-LAM-003",
    title: "The Lambda role allows EC2 describe, PutMetricData, logging and the VPC ENI actions",
    severity: Severity::Error,
    checklist_item: "Lambda IAM role includes all required permissions for EC2, CloudWatch, \
                     and VPC actions.",
    remediation: "Grant ec2:DescribeInstances, cloudwatch:PutMetricData, \
                  logs:CreateLogStream, logs:PutLogEvents and ec2:{Create,Describe,Delete}\
                  NetworkInterface(s) in the role's inline policy (or attach \
                  AWSLambdaVPCAccessExecutionRole for the ENI and log actions); the role \
                  must trust lambda.amazonaws.com.",
    check: check_permissions,
};

pub const LOG_GROUP_ENCRYPTED: Rule = Rule {
    id: "NOVA-LAM-004",
    title: "The Lambda's log group /aws/lambda/<function_name> exists and uses the stack key",
    severity: Severity::Error,
    checklist_item: "CloudWatch log group for Lambda is encrypted with KMS.",
    remediation: "Create aws_cloudwatch_log_group `/aws/lambda/<function_name>` with \
                  `kms_key_id` = the stack key's ARN, before the function.",
    check: check_log_group,
};

/// True for `rate(5 minutes)` and for cron expressions firing every 5 minutes
/// (`cron(*/5 * * * ? *)`, `cron(0/5 ...)`).
pub fn every_five_minutes(expression: &str) -> bool {
    let e = expression.trim();
    if let Some(inner) = e.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let parts: Vec<&str> = inner.split_whitespace().collect();
        return parts == ["5", "minutes"];
    }
    if let Some(inner) = e.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        let fields: Vec<&str> = inner.split_whitespace().collect();
        return matches!(fields.len(), 5 | 6)
            && matches!(fields[0], "*/5" | "0/5")
            && fields[1..].iter().all(|f| matches!(*f, "*" | "?"));
    }
    false
}

fn check_schedule(view: &StackView) -> Vec<Finding> {
    let functions: Vec<_> = view.of_kind(kinds::LAMBDA_FUNCTION).collect();
    if functions.is_empty() {
        return vec![SCHEDULE.finding(None, "the stack has no health-check Lambda function")];
    }
    functions
        .into_iter()
        .flat_map(|f| schedule_findings(view, f))
        .collect()
}

fn schedule_findings(view: &StackView, function: &ResourceView) -> Vec<Finding> {
    let rules: Vec<&ResourceView> = view
        .of_kind(kinds::EVENT_TARGET)
        .filter(|t| {
            t.input("arn")
                .is_some_and(|a| view.points_to(a, &function.address))
        })
        .filter_map(|t| {
            t.input("rule")
                .and_then(|r| view.target(r, kinds::EVENT_RULE))
        })
        .collect();
    if rules.is_empty() {
        return vec![SCHEDULE.at(
            &function.address,
            "no EventBridge rule targets this function",
        )];
    }
    let mut problems = Vec::new();
    for rule in rules {
        let expression = rule
            .input("schedule_expression")
            .map(show)
            .unwrap_or_default();
        let enabled = rule.input_str("state").is_none_or(|s| s == "ENABLED");
        let permitted = view.of_kind(kinds::LAMBDA_PERMISSION).any(|p| {
            p.input("function_name")
                .is_some_and(|f| view.points_to(f, &function.address))
                && p.input_str("principal") == Some("events.amazonaws.com")
                && p.input("source_arn")
                    .is_some_and(|s| view.points_to(s, &rule.address))
        });
        if !every_five_minutes(&expression) {
            problems.push(format!(
                "rule {} runs on `{expression}`, not every 5 minutes",
                rule.address
            ));
        } else if !enabled {
            problems.push(format!("rule {} is not ENABLED", rule.address));
        } else if !permitted {
            problems.push(format!(
                "no aws_lambda_permission lets events.amazonaws.com invoke it from rule {}",
                rule.address
            ));
        } else {
            return Vec::new();
        }
    }
    problems
        .into_iter()
        .map(|p| SCHEDULE.at(&function.address, p))
        .collect()
}

fn check_vpc_config(view: &StackView) -> Vec<Finding> {
    let mut out = Vec::new();
    for function in view.of_kind(kinds::LAMBDA_FUNCTION) {
        let subnets = function.input_list("subnet_ids");
        if subnets.is_empty() {
            out.push(VPC_CONFIG.at(&function.address, "not in a VPC (`subnet_ids` is empty)"));
        }
        for id in subnets {
            match view.target(id, kinds::SUBNET) {
                None => out.push(VPC_CONFIG.at(
                    &function.address,
                    format!("subnet {} is not a subnet of this stack", show(id)),
                )),
                Some(s) if view.is_public_subnet(s) => out.push(VPC_CONFIG.at(
                    &function.address,
                    format!(
                        "runs in public subnet {}; use the private subnets",
                        s.address
                    ),
                )),
                Some(_) => {}
            }
        }
        let groups = function.input_list("security_group_ids");
        if groups.is_empty() {
            out.push(VPC_CONFIG.at(
                &function.address,
                "has no security group (`security_group_ids` is empty)",
            ));
        }
        for id in groups {
            if view.target(id, kinds::SECURITY_GROUP).is_none() {
                out.push(VPC_CONFIG.at(
                    &function.address,
                    format!("security group {} is not one of this stack", show(id)),
                ));
            }
        }
    }
    out
}

fn check_permissions(view: &StackView) -> Vec<Finding> {
    let mut out = Vec::new();
    for function in view.of_kind(kinds::LAMBDA_FUNCTION) {
        let Some(role) = function
            .input("role")
            .and_then(|r| view.target(r, kinds::IAM_ROLE))
        else {
            out.push(PERMISSIONS.at(&function.address, "`role` is not an IAM role of this stack"));
            continue;
        };
        let missing = missing_actions(role);
        if !missing.is_empty() {
            out.push(PERMISSIONS.at(
                &role.address,
                format!(
                    "role of {} does not allow {}",
                    function.address,
                    missing.join(", ")
                ),
            ));
        }
        if !role_trusts(role, "lambda.amazonaws.com") {
            out.push(PERMISSIONS.at(
                &role.address,
                format!(
                    "role of {} does not trust lambda.amazonaws.com",
                    function.address
                ),
            ));
        }
    }
    out
}

/// The required actions a role does not allow (unreadable inline policies count as
/// granting nothing; NOVA-IAM-001 reports them).
fn missing_actions(role: &ResourceView) -> Vec<&'static str> {
    let stmts: Vec<Statement> = role
        .input("inline_policies")
        .and_then(Value::as_map)
        .into_iter()
        .flatten()
        .filter_map(|(_, p)| statements(p).ok())
        .flatten()
        .collect();
    let vpc_access = has_managed_policy(role, VPC_ACCESS_POLICY_ARN);
    let basic = vpc_access || has_managed_policy(role, BASIC_EXECUTION_POLICY_ARN);
    let mut missing: Vec<&'static str> = REQUIRED_ACTIONS
        .into_iter()
        .filter(|a| !allows(&stmts, a))
        .collect();
    if !vpc_access {
        missing.extend(ENI_ACTIONS.into_iter().filter(|a| !allows(&stmts, a)));
    }
    if !basic {
        missing.extend(LOG_ACTIONS.into_iter().filter(|a| !allows(&stmts, a)));
    }
    missing
}

fn check_log_group(view: &StackView) -> Vec<Finding> {
    let mut out = Vec::new();
    for function in view.of_kind(kinds::LAMBDA_FUNCTION) {
        let Some(name) = function.input_str("function_name") else {
            out.push(LOG_GROUP_ENCRYPTED.at(
                &function.address,
                "`function_name` is not a literal name, so its log group cannot be checked",
            ));
            continue;
        };
        let wanted = format!("/aws/lambda/{name}");
        let group = view
            .of_kind(kinds::LOG_GROUP)
            .find(|lg| lg.input_str("name") == Some(wanted.as_str()));
        match group {
            None => out.push(LOG_GROUP_ENCRYPTED.at(
                &function.address,
                format!(
                    "no log group `{wanted}` in the stack (Lambda would create it unencrypted)"
                ),
            )),
            Some(lg) if !view.encrypted_with_stack_key(lg) => out.push(LOG_GROUP_ENCRYPTED.at(
                &lg.address,
                "Lambda log group is not encrypted with the stack's KMS key (`kms_key_id`)",
            )),
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Address;
    use crate::policy::fixture::*;

    const FN: &str = "aws_lambda_function.health";
    const SCHEDULE_RULE: &str = "aws_cloudwatch_event_rule.health";

    #[test]
    fn five_minute_expressions() {
        assert!(every_five_minutes("rate(5 minutes)"));
        assert!(every_five_minutes("cron(*/5 * * * ? *)"));
        assert!(every_five_minutes("cron(0/5 * * * ? *)"));
        assert!(!every_five_minutes("rate(10 minutes)"));
        assert!(!every_five_minutes("rate(5 hours)"));
        assert!(!every_five_minutes("cron(*/5 8 * * ? *)"));
        assert!(!every_five_minutes(""));
    }

    #[test]
    fn a_ten_minute_schedule_fires_lam_001() {
        let mut bp = blueprint();
        set(
            &mut bp,
            SCHEDULE_RULE,
            "schedule_expression",
            "rate(10 minutes)",
        );
        let report = assert_fires_only(&bp, &["NOVA-LAM-001"]);
        assert!(report.findings[0].message.contains("rate(10 minutes)"));
    }

    /// The health role's inline policy document, to change in place.
    fn health_policy(bp: &mut crate::model::Blueprint) -> &mut String {
        let role = resource(bp, "aws_iam_role.health");
        let Some(Value::Map(policies)) = role.inputs.get_mut("inline_policies") else {
            panic!("inline policies");
        };
        let Some(Value::String(doc)) = policies.get_mut("health-check") else {
            panic!("health-check policy");
        };
        doc
    }

    fn health_policy_without(bp: &mut crate::model::Blueprint, action: &str) {
        let doc = health_policy(bp);
        assert!(doc.contains(action));
        let mut json: serde_json::Value = serde_json::from_str(doc).expect("policy JSON");
        for statement in json["Statement"].as_array_mut().expect("statements") {
            if let Some(actions) = statement["Action"].as_array_mut() {
                actions.retain(|a| a != action);
            }
        }
        *doc = json.to_string();
        assert!(!doc.contains(action), "{doc}");
    }

    #[test]
    fn a_role_without_eni_actions_fires_lam_003() {
        let mut bp = blueprint();
        health_policy_without(&mut bp, "ec2:CreateNetworkInterface");
        let report = assert_fires_only(&bp, &["NOVA-LAM-003"]);
        assert!(report.findings[0]
            .message
            .ends_with("does not allow ec2:CreateNetworkInterface"));
        // The managed VPC access policy covers the ENI actions.
        push(
            &mut bp,
            "aws_iam_role.health",
            "managed_policy_arns",
            Value::str(VPC_ACCESS_POLICY_ARN),
        );
        assert_fires_only(&bp, &[]);
    }

    #[test]
    fn a_missing_lambda_log_group_fires_lam_004() {
        let mut bp = blueprint();
        set(
            &mut bp,
            "aws_cloudwatch_log_group.health",
            "name",
            "/aws/lambda/nova-production-other",
        );
        let report = assert_fires_only(&bp, &["NOVA-LAM-004"]);
        assert!(report.findings[0]
            .message
            .contains("/aws/lambda/nova-production-health"));
    }

    /// Each way of breaking a Lambda rule whose findings need no closer look, and the rules
    /// that must then fire.
    const CASES: &[Case] = &[
        Case {
            breaks: "nothing: a cron schedule every 5 minutes",
            change: |bp| {
                set(
                    bp,
                    SCHEDULE_RULE,
                    "schedule_expression",
                    "cron(*/5 * * * ? *)",
                )
            },
            fires: &[],
        },
        Case {
            breaks: "a disabled schedule",
            change: |bp| set(bp, SCHEDULE_RULE, "state", "DISABLED"),
            fires: &["NOVA-LAM-001"],
        },
        Case {
            breaks: "no EventBridge target",
            change: |bp| remove(bp, "aws_cloudwatch_event_target.health"),
            fires: &["NOVA-LAM-001"],
        },
        Case {
            breaks: "no invoke permission",
            change: |bp| remove(bp, "aws_lambda_permission.events"),
            fires: &["NOVA-LAM-001"],
        },
        Case {
            // Without security groups the Lambda group is not attached either.
            breaks: "a Lambda outside the VPC",
            change: |bp| {
                unset(bp, FN, "subnet_ids");
                unset(bp, FN, "security_group_ids");
            },
            fires: &["NOVA-LAM-002", "NOVA-SG-003"],
        },
        Case {
            breaks: "a Lambda in a public subnet",
            change: |bp| {
                let public = Value::reference(&Address::new(kinds::SUBNET, "public[0]"), "id");
                set(bp, FN, "subnet_ids", Value::List(vec![public]));
            },
            fires: &["NOVA-LAM-002"],
        },
        Case {
            breaks: "a role without ec2:DescribeInstances",
            change: |bp| health_policy_without(bp, "ec2:DescribeInstances"),
            fires: &["NOVA-LAM-003"],
        },
        Case {
            breaks: "a role without cloudwatch:PutMetricData",
            change: |bp| {
                let doc = health_policy(bp);
                assert!(doc.contains("cloudwatch:PutMetricData"));
                *doc = doc.replace("cloudwatch:PutMetricData", "cloudwatch:GetMetricData");
            },
            fires: &["NOVA-LAM-003"],
        },
        Case {
            breaks: "an unencrypted Lambda log group",
            change: |bp| unset(bp, "aws_cloudwatch_log_group.health", "kms_key_id"),
            fires: &["NOVA-LAM-004"],
        },
    ];

    #[test]
    fn each_broken_lambda_item_fires_its_rule() {
        assert_cases(CASES);
    }
}
