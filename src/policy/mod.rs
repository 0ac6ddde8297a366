//! `nova check`: the seed checklist (docs/checklist.md) and a security review as
//! executable rules over a typed view of a stack, either as planned (a blueprint) or as
//! it exists (state + provider reads).
//!
//! A rule is a plain function `fn(&StackView) -> Vec<Finding>` with metadata ([`Rule`]);
//! [`evaluate`] runs every rule of [`rules`] and returns a sorted [`Report`], which
//! [`render_table`], [`render_json`] and [`render_sarif`] print.

mod api;
mod compute;
mod document;
mod kms;
mod lambda;
mod network;
mod outputs;
mod render;
mod security_groups;
mod tags;
mod view;

#[cfg(test)]
mod fixture;

use serde::Serialize;

use crate::model::Address;

pub use render::{render_json, render_sarif, render_table, summary_line};
pub use tags::untaggable_kinds;
pub use view::{ResourceView, StackView};

/// `nova check` exit code: no error-level finding (warnings may be present).
pub const EXIT_CLEAN: i32 = 0;
/// `nova check` exit code: at least one error-level finding. (1 = nova itself failed.)
pub const EXIT_FINDINGS: i32 = 3;

/// How bad a finding is. Errors block `nova up` (unless `--allow-findings`); warnings
/// are shown only. Ordered so errors sort first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One executable checklist item.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id, e.g. `NOVA-NET-001`.
    pub id: &'static str,
    /// One line saying what must hold.
    pub title: &'static str,
    pub severity: Severity,
    /// The line of docs/checklist.md this rule enforces (markdown emphasis removed), or
    /// `"security review"` for rules a reviewer adds beyond the checklist.
    pub checklist_item: &'static str,
    /// What to change when the rule fires.
    pub remediation: &'static str,
    pub check: fn(&StackView) -> Vec<Finding>,
}

impl Rule {
    /// A finding of this rule.
    pub fn finding(&self, address: Option<&Address>, message: impl Into<String>) -> Finding {
        Finding {
            rule_id: self.id,
            severity: self.severity,
            address: address.cloned(),
            message: message.into(),
        }
    }

    /// A finding of this rule about one resource.
    pub fn at(&self, address: &Address, message: impl Into<String>) -> Finding {
        self.finding(Some(address), message)
    }
}

/// One violation: which rule, where, and what exactly is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule_id: &'static str,
    pub severity: Severity,
    /// The resource at fault; `None` for stack-wide findings (region, missing outputs).
    pub address: Option<Address>,
    pub message: String,
}

/// The result of evaluating every rule against one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Sorted by severity (errors first), rule id, address, message.
    pub findings: Vec<Finding>,
    /// How many rules were evaluated.
    pub rules_evaluated: usize,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// True when `nova up` must refuse to proceed (without `--allow-findings`).
    pub fn has_errors(&self) -> bool {
        self.errors() > 0
    }

    /// [`EXIT_FINDINGS`] when any error-level finding exists, else [`EXIT_CLEAN`].
    pub fn exit_code(&self) -> i32 {
        if self.has_errors() {
            EXIT_FINDINGS
        } else {
            EXIT_CLEAN
        }
    }

    /// The rule ids that fired, sorted, without duplicates.
    pub fn rule_ids(&self) -> Vec<&'static str> {
        let ids: std::collections::BTreeSet<&'static str> =
            self.findings.iter().map(|f| f.rule_id).collect();
        ids.into_iter().collect()
    }
}

static RULES: [Rule; 29] = [
    network::REGION,
    network::MULTI_AZ,
    network::INTERNET_GATEWAY,
    network::ROUTE_TABLE_ASSOCIATIONS,
    network::NAT_GATEWAY,
    security_groups::INGRESS_WEB_ONLY,
    security_groups::EGRESS_PRESENT,
    security_groups::ATTACHED,
    compute::UNIQUE_ROLES,
    compute::CLOUDWATCH_AGENT_POLICY,
    compute::EBS_ENCRYPTED,
    compute::USER_DATA,
    compute::IMDSV2,
    compute::NO_WILDCARD_ACTIONS,
    api::ACCESS_LOGGING,
    api::ACCESS_LOG_ENCRYPTED,
    api::CLOUDWATCH_ROLE,
    api::LOGGING_LEVEL,
    kms::KEY_USED,
    kms::KEY_POLICY,
    kms::ALIAS,
    kms::ROTATION,
    lambda::SCHEDULE,
    lambda::VPC_CONFIG,
    lambda::PERMISSIONS,
    lambda::LOG_GROUP_ENCRYPTED,
    tags::ENVIRONMENT_TAG,
    tags::NAMING,
    outputs::OUTPUTS,
];

/// Every rule, in checklist order.
pub fn rules() -> &'static [Rule] {
    &RULES
}

/// Runs every rule against `view`. Each finding carries its rule's id and severity.
pub fn evaluate(view: &StackView) -> Report {
    let mut findings: Vec<Finding> = rules()
        .iter()
        .flat_map(|rule| {
            (rule.check)(view).into_iter().map(move |mut f| {
                f.rule_id = rule.id;
                f.severity = rule.severity;
                f
            })
        })
        .collect();
    findings.sort_by(|a, b| finding_key(a).cmp(&finding_key(b)));
    findings.dedup();
    Report {
        findings,
        rules_evaluated: rules().len(),
    }
}

fn finding_key(f: &Finding) -> (Severity, &str, Option<&Address>, &str) {
    (f.severity, f.rule_id, f.address.as_ref(), &f.message)
}

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    rules().iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests;
