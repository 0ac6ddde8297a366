//! KMS rules: the stack key exists and encrypts logs and volumes, its policy is not open
//! and names the principals that need it, it has an alias, and it rotates.

use super::api::LOG_GROUP;
use super::compute::INSTANCE;
use super::document::{open_principal, principals, statements, Statement};
use super::view::KMS_KEY;
use super::{Finding, ResourceView, Rule, Severity, StackView};
use crate::model::Value;

const ALIAS_KIND: &str = "aws_kms_alias";

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
    let Some(key) = view.of_kind(KMS_KEY).next() else {
        return vec![KEY_USED.finding(None, "the stack has no KMS key (aws_kms_key)")];
    };
    let encrypts = |kind: &str| {
        view.of_kind(kind)
            .any(|r| r.input("kms_key_id").is_some_and(|k| view.points_to_stack_key(k)))
    };
    let mut out = Vec::new();
    if !encrypts(LOG_GROUP) {
        out.push(KEY_USED.at(&key.address, "no log group is encrypted with the stack's key"));
    }
    if !encrypts(INSTANCE) {
        out.push(KEY_USED.at(&key.address, "no instance volume is encrypted with the stack's key"));
    }
    out
}

fn check_key_policy(view: &StackView) -> Vec<Finding> {
    let mut out = Vec::new();
    for key in view.of_kind(KMS_KEY) {
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
            format!("no statement allows the account root ({root}); the key could become unmanageable"),
        ));
    }
    let used_by_logs = view.of_kind(LOG_GROUP).any(|lg| {
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
    view.of_kind(KMS_KEY)
        .filter(|key| {
            !view.of_kind(ALIAS_KIND).any(|a| {
                a.input("target_key_id")
                    .is_some_and(|t| view.points_to(t, &key.address))
            })
        })
        .map(|key| ALIAS.at(&key.address, "no KMS alias points at this key"))
        .collect()
}

fn check_rotation(view: &StackView) -> Vec<Finding> {
    view.of_kind(KMS_KEY)
        .filter(|k| k.input("enable_key_rotation").and_then(Value::as_bool) != Some(true))
        .map(|k| ROTATION.at(&k.address, "automatic key rotation is not enabled"))
        .collect()
}
