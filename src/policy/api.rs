//! API Gateway rules: stage access logs to a KMS-encrypted log group, the account's
//! CloudWatch role, and the execution logging level.

use super::document::{has_managed_policy, role_trusts};
use super::view::{show, show_input, Link};
use super::{Finding, ResourceView, Rule, Severity, StackView};
use crate::provider::aws::kinds;

pub const APIGW_PUSH_TO_LOGS_POLICY_ARN: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs";
/// Execution logging levels that actually log.
pub const LOGGING_LEVELS: [&str; 2] = ["INFO", "ERROR"];

/// The checklist line both the access-logging and the logging-level rules enforce.
const LOGGING_CHECKLIST_ITEM: &str = "API Gateway logging to CloudWatch is correctly \
                                      implemented with proper resource dependencies.";

pub const ACCESS_LOGGING: Rule = Rule {
    id: "NOVA-API-001",
    title: "Every REST API has a stage writing access logs to a log group of the stack",
    severity: Severity::Error,
    checklist_item: LOGGING_CHECKLIST_ITEM,
    remediation: "Give the stage `access_log_destination_arn` = the access log group's ARN \
                  (a reference, so the log group is created first).",
    check: check_access_logging,
};

pub const ACCESS_LOG_ENCRYPTED: Rule = Rule {
    id: "NOVA-API-002",
    title: "The API access log group is encrypted with the stack's KMS key",
    severity: Severity::Error,
    checklist_item: "CloudWatch log group for API Gateway is encrypted with KMS.",
    remediation: "Set the access log group's `kms_key_id` to the stack key's ARN.",
    check: check_access_log_encrypted,
};

pub const CLOUDWATCH_ROLE: Rule = Rule {
    id: "NOVA-API-003",
    title: "The API Gateway account uses a role with AmazonAPIGatewayPushToCloudWatchLogs",
    severity: Severity::Error,
    checklist_item: "IAM role for API Gateway CloudWatch logging is correctly attached.",
    remediation: "Add aws_api_gateway_account with `role_name` = the account's shared role, \
                  `assume_role_policy` trusting apigateway.amazonaws.com and \
                  `managed_policy_arns` holding AmazonAPIGatewayPushToCloudWatchLogs.",
    check: check_cloudwatch_role,
};

pub const LOGGING_LEVEL: Rule = Rule {
    id: "NOVA-API-004",
    title: "Every stage logs executions at INFO or ERROR",
    severity: Severity::Error,
    checklist_item: LOGGING_CHECKLIST_ITEM,
    remediation: "Set the stage's `logging_level` to INFO (or ERROR).",
    check: check_logging_level,
};

/// Where a stage's access logs go among the stack's log groups.
fn access_logs<'a>(view: &'a StackView, stage: &'a ResourceView) -> Link<'a> {
    view.link(stage.input("access_log_destination_arn"), kinds::LOG_GROUP)
}

/// The log group a stage's access logs go to, when it is one of the stack's.
fn access_log_group<'a>(view: &'a StackView, stage: &'a ResourceView) -> Option<&'a ResourceView> {
    match access_logs(view, stage) {
        Link::To(group) => Some(group),
        Link::Unset | Link::Elsewhere(_) => None,
    }
}

fn check_access_logging(view: &StackView) -> Vec<Finding> {
    let mut out = Vec::new();
    let apis: Vec<_> = view.of_kind(kinds::API_REST_API).collect();
    if apis.is_empty() {
        out.push(ACCESS_LOGGING.finding(None, "the stack has no API Gateway REST API"));
    }
    for api in apis {
        let has_stage = view.of_kind(kinds::API_STAGE).any(|s| {
            s.input("rest_api_id")
                .is_some_and(|v| view.points_to(v, &api.address))
        });
        if !has_stage {
            out.push(ACCESS_LOGGING.at(&api.address, "has no stage (aws_api_gateway_stage)"));
        }
    }
    for stage in view.of_kind(kinds::API_STAGE) {
        let problem = access_logs(view, stage).problem(
            "has no access log destination (`access_log_destination_arn`)",
            |dest| {
                format!(
                    "access logs go to {} which is not a log group of this stack",
                    show(dest)
                )
            },
        );
        out.extend(problem.map(|p| ACCESS_LOGGING.at(&stage.address, p)));
    }
    out
}

fn check_access_log_encrypted(view: &StackView) -> Vec<Finding> {
    view.of_kind(kinds::API_STAGE)
        .filter_map(|stage| access_log_group(view, stage))
        .filter(|lg| !view.encrypted_with_stack_key(lg))
        .map(|lg| {
            ACCESS_LOG_ENCRYPTED.at(
                &lg.address,
                "API access log group is not encrypted with the stack's KMS key (`kms_key_id`)",
            )
        })
        .collect()
}

fn check_cloudwatch_role(view: &StackView) -> Vec<Finding> {
    let accounts: Vec<_> = view.of_kind(kinds::API_ACCOUNT).collect();
    if accounts.is_empty() {
        return vec![CLOUDWATCH_ROLE.finding(
            None,
            "the stack does not set the API Gateway account's CloudWatch role \
             (aws_api_gateway_account)",
        )];
    }
    let mut out = Vec::new();
    for account in accounts {
        // Live (`nova check --live`): the role the setting names now; planned: the shared
        // role every stack of the account points it at.
        let named = account
            .input_str("role_name")
            .is_some_and(|n| !n.is_empty());
        // What the setting's role needs, each with the finding's message when it lacks it.
        let needs = [
            (named, "the setting names no CloudWatch role (`role_name`)"),
            (
                has_managed_policy(account, APIGW_PUSH_TO_LOGS_POLICY_ARN),
                "API Gateway logging role without AmazonAPIGatewayPushToCloudWatchLogs",
            ),
            (
                role_trusts(account, "apigateway.amazonaws.com"),
                "API Gateway logging role does not trust apigateway.amazonaws.com",
            ),
        ];
        for (_, problem) in needs.into_iter().filter(|(met, _)| !met) {
            out.push(CLOUDWATCH_ROLE.at(&account.address, problem));
        }
    }
    out
}

fn check_logging_level(view: &StackView) -> Vec<Finding> {
    view.of_kind(kinds::API_STAGE)
        .filter(|s| {
            !s.input_str("logging_level")
                .is_some_and(|l| LOGGING_LEVELS.contains(&l))
        })
        .map(|s| {
            let level = show_input(s, "logging_level");
            LOGGING_LEVEL.at(
                &s.address,
                format!("execution logging level is {level} (want INFO or ERROR)"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::policy::fixture::*;

    const STAGE: &str = "aws_api_gateway_stage.prod";
    const ACCOUNT_SETTING: &str = "aws_api_gateway_account.main";

    /// A role trust policy for Lambda, not API Gateway.
    const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

    /// Each way of breaking an API rule, and the rule that must then fire.
    const CASES: &[Case] = &[
        Case {
            breaks: "a stage without access logs",
            change: |bp| unset(bp, STAGE, "access_log_destination_arn"),
            fires: &["NOVA-API-001"],
        },
        Case {
            breaks: "access logs to a foreign log group",
            change: |bp| {
                let foreign = "arn:aws:logs:us-east-1:000000000000:log-group:somewhere";
                set(bp, STAGE, "access_log_destination_arn", foreign);
            },
            fires: &["NOVA-API-001"],
        },
        Case {
            breaks: "an API without stage",
            change: |bp| remove(bp, STAGE),
            fires: &["NOVA-API-001"],
        },
        Case {
            breaks: "an unencrypted access log group",
            change: |bp| unset(bp, "aws_cloudwatch_log_group.api_access", "kms_key_id"),
            fires: &["NOVA-API-002"],
        },
        Case {
            breaks: "a logging role without the push policy",
            change: |bp| clear(bp, ACCOUNT_SETTING, "managed_policy_arns"),
            fires: &["NOVA-API-003"],
        },
        Case {
            breaks: "a logging role not trusting API Gateway",
            change: |bp| set(bp, ACCOUNT_SETTING, "assume_role_policy", LAMBDA_TRUST),
            fires: &["NOVA-API-003"],
        },
        Case {
            breaks: "an account setting naming no role",
            change: |bp| set(bp, ACCOUNT_SETTING, "role_name", ""),
            fires: &["NOVA-API-003"],
        },
        Case {
            breaks: "no account setting",
            change: |bp| remove(bp, ACCOUNT_SETTING),
            fires: &["NOVA-API-003"],
        },
        Case {
            breaks: "execution logging off",
            change: |bp| set(bp, STAGE, "logging_level", "OFF"),
            fires: &["NOVA-API-004"],
        },
        Case {
            breaks: "nothing: execution logging at ERROR",
            change: |bp| set(bp, STAGE, "logging_level", "ERROR"),
            fires: &[],
        },
    ];

    #[test]
    fn each_broken_api_item_fires_its_rule() {
        assert_cases(CASES);
    }
}
