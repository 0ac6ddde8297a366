//! The stack must export its key resources as outputs (`nova output`).

use super::{Finding, Rule, Severity, StackView};

/// Outputs every stack must export.
pub const REQUIRED_OUTPUTS: [&str; 7] = [
    "vpc_id",
    "public_subnet_ids",
    "private_subnet_ids",
    "instance_ids",
    "kms_key_arn",
    "api_invoke_url",
    "health_function_arn",
];

pub const OUTPUTS: Rule = Rule {
    id: "NOVA-OUT-001",
    title: "The stack exports its key resources as outputs",
    severity: Severity::Error,
    checklist_item: "Pulumi exports not set for key resources",
    remediation: "Export vpc_id, public_subnet_ids, private_subnet_ids, instance_ids, \
                  kms_key_arn, api_invoke_url and health_function_arn from the blueprint.",
    check: check_outputs,
};

fn check_outputs(view: &StackView) -> Vec<Finding> {
    REQUIRED_OUTPUTS
        .iter()
        .filter(|name| !view.outputs.contains(**name))
        .map(|name| OUTPUTS.finding(None, format!("output `{name}` is not exported")))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::policy::fixture::*;

    #[test]
    fn a_missing_output_fires_out_001() {
        let mut bp = blueprint();
        bp.outputs.remove("instance_ids");
        let report = assert_fires_only(&bp, &["NOVA-OUT-001"]);
        assert_eq!(
            report.findings[0].message,
            "output `instance_ids` is not exported"
        );
        assert_eq!(report.findings[0].address, None);
    }
}
