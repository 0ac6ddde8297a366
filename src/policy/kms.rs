//! KMS rules: the stack key exists and encrypts logs and volumes, its policy is not open
//! and names the principals that need it, it has an alias, and it rotates.

use super::document::{open_principal, principals, statements, Statement};
use super::{Finding, ResourceView, Rule, Severity, StackView};
use crate::model::Value;
use crate::provider::aws::kinds;

pub const KEY_USED: Rule = Rule {
    id: "NOVA-KMS-001",
    title: "The stack has a KMS key and uses it for log groups and EBS volumes",
    severity: Severity::Error,
    checklist_item: "KMS key not created or not used for log/volume encryption",
    remediation: "Add aws_kms_key.main and set `kms_key_id` = its ARN on the log groups \
                  and the instances.",
    check: check_key_used,
};

pub const KEY_POLICY: Rule = Rule {
    id: "NOVA-KMS-002",
    title: "The key policy has no open principal and names the account root and CloudWatch Logs",
    severity: Severity::Error,
    checklist_item: "KMS key policy too permissive or missing required principals",
    remediation: "Remove `\"Principal\": \"*\"` / `{\"AWS\": \"*\"}` statements (or restrict \
                  them with a Condition); allow `arn:aws:iam::<account>:root` to administer \
                  the key and `logs.<region>.amazonaws.com` to use it.",
    check: check_key_policy,
};

pub const ALIAS: Rule = Rule {
    id: "NOVA-KMS-003",
    title: "Every KMS key has an alias",
    severity: Severity::Error,
    checklist_item: "No KMS alias for key management",
    remediation: "Add aws_kms_alias with `name = \"alias/<project>-<stack>\"` and \
                  `target_key_id` = the key.",
    check: check_alias,
};

pub const ROTATION: Rule = Rule {
    id: "NOVA-KMS-004",
    title: "Every KMS key has automatic rotation enabled",
    severity: Severity::Error,
    checklist_item: "security review",
    remediation: "Set `enable_key_rotation = true` on the key.",
    check: check_rotation,
};

fn check_key_used(view: &StackView) -> Vec<Finding> {
    let Some(key) = view.of_kind(kinds::KMS_KEY).next() else {
        return vec![KEY_USED.finding(None, "the stack has no KMS key (aws_kms_key)")];
    };
    // What the key must encrypt, each with the finding's message when it does not.
    let uses = [
        (
            kinds::LOG_GROUP,
            "no log group is encrypted with the stack's key",
        ),
        (
            kinds::INSTANCE,
            "no instance volume is encrypted with the stack's key",
        ),
    ];
    uses.into_iter()
        .filter(|(kind, _)| !view.of_kind(kind).any(|r| view.encrypted_with_stack_key(r)))
        .map(|(_, problem)| KEY_USED.at(&key.address, problem))
        .collect()
}

fn check_key_policy(view: &StackView) -> Vec<Finding> {
    let mut out = Vec::new();
    for key in view.of_kind(kinds::KMS_KEY) {
        let policy = key.input("policy").cloned().unwrap_or(Value::Null);
        match statements(&policy) {
            Ok(stmts) => out.extend(policy_findings(view, key, &stmts)),
            Err(e) => out.push(KEY_POLICY.at(&key.address, format!("key policy: {e}"))),
        }
    }
    out
}

fn policy_findings(view: &StackView, key: &ResourceView, stmts: &[Statement]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, s) in stmts.iter().enumerate() {
        if s.allow && open_principal(s) && !s.has_condition {
            out.push(KEY_POLICY.at(
                &key.address,
                format!("statement {i} allows any principal (`*`) without a Condition"),
            ));
        }
    }
    let root = format!("arn:aws:iam::{}:root", view.account_id);
    let names_root = stmts.iter().filter(|s| s.allow).any(|s| {
        principals(s, "AWS")
            .iter()
            .any(|p| p == &root || p == &view.account_id)
    });
    if !names_root {
        out.push(KEY_POLICY.at(
            &key.address,
            format!(
                "no statement allows the account root ({root}); the key could become unmanageable"
            ),
        ));
    }
    let used_by_logs = view.of_kind(kinds::LOG_GROUP).any(|lg| {
        lg.input("kms_key_id")
            .is_some_and(|k| view.points_to(k, &key.address))
    });
    let logs = format!("logs.{}.amazonaws.com", view.region);
    let names_logs = stmts.iter().filter(|s| s.allow).any(|s| {
        principals(s, "Service")
            .iter()
            .any(|p| p == &logs || p == "logs.amazonaws.com")
    });
    if used_by_logs && !names_logs {
        out.push(KEY_POLICY.at(
            &key.address,
            format!("log groups use the key but no statement allows {logs}"),
        ));
    }
    out
}

fn check_alias(view: &StackView) -> Vec<Finding> {
    view.of_kind(kinds::KMS_KEY)
        .filter(|key| {
            !view.of_kind(kinds::KMS_ALIAS).any(|a| {
                a.input("target_key_id")
                    .is_some_and(|t| view.points_to(t, &key.address))
            })
        })
        .map(|key| ALIAS.at(&key.address, "no KMS alias points at this key"))
        .collect()
}

fn check_rotation(view: &StackView) -> Vec<Finding> {
    view.of_kind(kinds::KMS_KEY)
        .filter(|k| k.input("enable_key_rotation").and_then(Value::as_bool) != Some(true))
        .map(|k| ROTATION.at(&k.address, "automatic key rotation is not enabled"))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::policy::evaluate;
    use crate::policy::fixture::*;

    const KEY: &str = "aws_kms_key.main";

    /// The stack key's policy document.
    fn key_policy(bp: &mut Blueprint) -> String {
        resource(bp, KEY).inputs["policy"]
            .as_str()
            .expect("literal policy")
            .to_string()
    }

    /// Replaces `from` by `to` in the stack key's policy.
    fn replace_in_policy(bp: &mut Blueprint, from: &str, to: &str) {
        let policy = key_policy(bp).replace(from, to);
        set(bp, KEY, "policy", policy);
    }

    #[test]
    fn no_key_fires_kms_001() {
        let mut bp = blueprint();
        remove(&mut bp, KEY);
        let ids = evaluate(&plan_view(&bp)).rule_ids();
        assert!(ids.contains(&"NOVA-KMS-001"), "{ids:?}");
    }

    #[test]
    fn logs_without_the_key_fire_kms_001() {
        let mut bp = blueprint();
        unset(&mut bp, "aws_cloudwatch_log_group.api_access", "kms_key_id");
        unset(
            &mut bp,
            "aws_cloudwatch_log_group.api_execution",
            "kms_key_id",
        );
        unset(&mut bp, "aws_cloudwatch_log_group.health", "kms_key_id");
        // Each log group's own rule fires too: the key is used for no log at all.
        let report = assert_fires_only(&bp, &["NOVA-API-002", "NOVA-KMS-001", "NOVA-LAM-004"]);
        let kms: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.rule_id == "NOVA-KMS-001")
            .collect();
        assert_eq!(kms.len(), 1);
        assert!(kms[0].message.contains("no log group"));
    }

    fn with_statement(bp: &mut Blueprint, statement: &str) {
        let policy = key_policy(bp);
        let at = policy.rfind(']').expect("statement list");
        let new = format!("{},{statement}{}", &policy[..at], &policy[at..]);
        set(bp, KEY, "policy", new);
    }

    #[test]
    fn an_open_principal_fires_kms_002() {
        for principal in [r#""*""#, r#"{"AWS":"*"}"#] {
            let mut bp = blueprint();
            with_statement(
                &mut bp,
                &format!(
                    r#"{{"Effect":"Allow","Principal":{principal},"Action":"kms:Decrypt","Resource":"*"}}"#
                ),
            );
            let report = assert_fires_only(&bp, &["NOVA-KMS-002"]);
            assert!(
                report.findings[0].message.contains("statement 3"),
                "{report:?}"
            );
        }
    }

    use crate::model::Blueprint;

    /// Each way of breaking a KMS rule whose findings need no closer look, and the rules
    /// that must then fire.
    const CASES: &[Case] = &[
        Case {
            breaks: "volumes without the key",
            change: |bp| {
                unset(bp, "aws_instance.web[0]", "kms_key_id");
                unset(bp, "aws_instance.web[1]", "kms_key_id");
            },
            fires: &["NOVA-EC2-003", "NOVA-KMS-001"],
        },
        Case {
            breaks: "a key policy without the account root",
            change: |bp| {
                replace_in_policy(
                    bp,
                    "arn:aws:iam::000000000000:root",
                    "arn:aws:iam::111111111111:root",
                )
            },
            fires: &["NOVA-KMS-002"],
        },
        Case {
            breaks: "a key policy without CloudWatch Logs",
            change: |bp| replace_in_policy(bp, "logs.us-east-1.amazonaws.com", "s3.amazonaws.com"),
            fires: &["NOVA-KMS-002"],
        },
        Case {
            breaks: "no alias",
            change: |bp| remove(bp, "aws_kms_alias.main"),
            fires: &["NOVA-KMS-003"],
        },
        Case {
            breaks: "rotation off",
            change: |bp| set(bp, KEY, "enable_key_rotation", false),
            fires: &["NOVA-KMS-004"],
        },
    ];

    #[test]
    fn each_broken_kms_item_fires_its_rule() {
        assert_cases(CASES);
    }
}
