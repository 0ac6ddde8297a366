//! EC2 and IAM rules: one role per instance with the CloudWatch agent policy, encrypted
//! root volumes, user data, IMDSv2, and no wildcard actions in any role.

use crate::provider::aws::kinds;
use std::collections::BTreeMap;

use super::document::{has_managed_policy, is_wildcard_action, role_trusts, statements};
use super::view::{show, show_input, Link};
use super::{Finding, ResourceView, Rule, Severity, StackView};
use crate::model::{Address, Value};

pub const CLOUDWATCH_AGENT_POLICY_ARN: &str = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy";
/// AWS managed policies that grant (nearly) everything: never on a stack role.
pub const FORBIDDEN_MANAGED_POLICIES: [&str; 2] = [
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/PowerUserAccess",
];

pub const UNIQUE_ROLES: Rule = Rule {
    id: "NOVA-EC2-001",
    title: "Every instance has its own instance profile and IAM role, assumable by EC2",
    severity: Severity::Error,
    checklist_item: "EC2 instances lack unique IAM roles",
    remediation: "Give each aws_instance its own aws_iam_instance_profile whose `role` is \
                  its own aws_iam_role trusting ec2.amazonaws.com.",
    check: check_unique_roles,
};

pub const CLOUDWATCH_AGENT_POLICY: Rule = Rule {
    id: "NOVA-EC2-002",
    title: "Every instance role has CloudWatchAgentServerPolicy",
    severity: Severity::Error,
    checklist_item: "IAM roles missing required policies (e.g., CloudWatchAgentServerPolicy)",
    remediation: "Add arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy to the role's \
                  `managed_policy_arns`.",
    check: check_cloudwatch_agent_policy,
};

pub const EBS_ENCRYPTED: Rule = Rule {
    id: "NOVA-EC2-003",
    title: "Every instance's root EBS volume is encrypted with the stack's KMS key",
    severity: Severity::Error,
    checklist_item: "EBS volumes not encrypted with KMS",
    remediation: "Set the instance's `kms_key_id` to the stack key's ARN \
                  (aws_kms_key.main.arn).",
    check: check_ebs_encrypted,
};

pub const USER_DATA: Rule = Rule {
    id: "NOVA-EC2-004",
    title: "Every instance has user data",
    severity: Severity::Error,
    checklist_item: "User data script missing or not PEP8 compliant",
    remediation: "Set `user_data` (the stack uses src/stack/user_data.sh, linted by \
                  shellcheck in CI).",
    check: check_user_data,
};

pub const IMDSV2: Rule = Rule {
    id: "NOVA-EC2-005",
    title: "Every instance requires IMDSv2",
    severity: Severity::Error,
    checklist_item: "security review",
    remediation: "Set `metadata_http_tokens = \"required\"` on the instance (IMDSv1 lets \
                  SSRF bugs read the role's credentials).",
    check: check_imdsv2,
};

pub const NO_WILDCARD_ACTIONS: Rule = Rule {
    id: "NOVA-IAM-001",
    title: "No IAM role grants `*` or `service:*` actions or an administrator policy",
    severity: Severity::Error,
    checklist_item: "security review",
    remediation: "List the exact actions the role needs (e.g. `ec2:DescribeInstances`); \
                  no `*`, `service:*`, `NotAction` allows, AdministratorAccess or \
                  PowerUserAccess.",
    check: check_no_wildcard_actions,
};

/// The instance's profile and that profile's role, as far as they resolve in the stack.
pub(crate) struct InstanceChain<'a> {
    pub profile: Option<&'a ResourceView>,
    pub role: Option<&'a ResourceView>,
}

pub(crate) fn instance_chain<'a>(
    view: &'a StackView,
    instance: &'a ResourceView,
) -> InstanceChain<'a> {
    let profile = instance
        .input("iam_instance_profile")
        .and_then(|v| view.target(v, kinds::IAM_INSTANCE_PROFILE));
    let role = profile
        .and_then(|p| p.input("role"))
        .and_then(|v| view.target(v, kinds::IAM_ROLE));
    InstanceChain { profile, role }
}

fn check_unique_roles(view: &StackView) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut by_profile: BTreeMap<&Address, Vec<&Address>> = BTreeMap::new();
    let mut by_role: BTreeMap<&Address, Vec<&Address>> = BTreeMap::new();
    for instance in view.of_kind(kinds::INSTANCE) {
        let chain = instance_chain(view, instance);
        let Some(profile) = chain.profile else {
            out.push(UNIQUE_ROLES.at(
                &instance.address,
                "has no instance profile of this stack (`iam_instance_profile`)",
            ));
            continue;
        };
        by_profile
            .entry(&profile.address)
            .or_default()
            .push(&instance.address);
        let Some(role) = chain.role else {
            out.push(UNIQUE_ROLES.at(
                &instance.address,
                format!(
                    "its instance profile {} has no role of this stack",
                    profile.address
                ),
            ));
            continue;
        };
        by_role
            .entry(&role.address)
            .or_default()
            .push(&instance.address);
        if !role_trusts(role, "ec2.amazonaws.com") {
            out.push(UNIQUE_ROLES.at(
                &role.address,
                "role of an instance does not trust ec2.amazonaws.com (`assume_role_policy`)",
            ));
        }
    }
    for (what, shared) in [("instance profile", by_profile), ("IAM role", by_role)] {
        for (target, instances) in shared.into_iter().filter(|(_, i)| i.len() > 1) {
            let names: Vec<String> = instances.iter().map(ToString::to_string).collect();
            for instance in &instances {
                out.push(UNIQUE_ROLES.at(
                    instance,
                    format!("shares {what} {target} with [{}]", names.join(", ")),
                ));
            }
        }
    }
    out
}

fn check_cloudwatch_agent_policy(view: &StackView) -> Vec<Finding> {
    view.of_kind(kinds::INSTANCE)
        .filter_map(|i| instance_chain(view, i).role)
        .filter(|role| !has_managed_policy(role, CLOUDWATCH_AGENT_POLICY_ARN))
        .map(|role| {
            CLOUDWATCH_AGENT_POLICY.at(
                &role.address,
                "instance role without CloudWatchAgentServerPolicy in `managed_policy_arns`",
            )
        })
        .collect()
}

/// Where an instance's root volume key points among the stack's KMS keys (a null key is
/// no key).
fn volume_key<'a>(view: &'a StackView, instance: &'a ResourceView) -> Link<'a> {
    let key = instance.input("kms_key_id").filter(|k| **k != Value::Null);
    view.link(key, kinds::KMS_KEY)
}

fn check_ebs_encrypted(view: &StackView) -> Vec<Finding> {
    view.of_kind(kinds::INSTANCE)
        .filter_map(|instance| {
            let problem = volume_key(view, instance).problem(
                "root EBS volume is not encrypted with KMS (no `kms_key_id`)",
                |key| {
                    format!(
                        "root EBS volume uses key {} which is not the stack's KMS key",
                        show(key)
                    )
                },
            )?;
            Some(EBS_ENCRYPTED.at(&instance.address, problem))
        })
        .collect()
}

fn check_user_data(view: &StackView) -> Vec<Finding> {
    view.of_kind(kinds::INSTANCE)
        .filter(|i| match i.input("user_data") {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            Some(_) => false,
        })
        .map(|i| USER_DATA.at(&i.address, "has no user data script (`user_data` is empty)"))
        .collect()
}

fn check_imdsv2(view: &StackView) -> Vec<Finding> {
    view.of_kind(kinds::INSTANCE)
        .filter(|i| i.input_str("metadata_http_tokens") != Some("required"))
        .map(|i| {
            let now = show_input(i, "metadata_http_tokens");
            IMDSV2.at(
                &i.address,
                format!("IMDSv2 is not required (`metadata_http_tokens` = {now})"),
            )
        })
        .collect()
}

fn check_no_wildcard_actions(view: &StackView) -> Vec<Finding> {
    let mut out = Vec::new();
    // The API Gateway account's shared CloudWatch role is a role too.
    let roles = view
        .of_kind(kinds::IAM_ROLE)
        .chain(view.of_kind(kinds::API_ACCOUNT));
    for role in roles {
        for arn in role.input_list("managed_policy_arns") {
            if let Some(arn) = arn
                .as_str()
                .filter(|a| FORBIDDEN_MANAGED_POLICIES.contains(a))
            {
                out.push(NO_WILDCARD_ACTIONS.at(&role.address, format!("has {arn} attached")));
            }
        }
        let inline = role.input("inline_policies").and_then(Value::as_map);
        for (name, policy) in inline.into_iter().flatten() {
            out.extend(inline_policy_findings(&role.address, name, policy));
        }
    }
    out
}

fn inline_policy_findings(role: &Address, name: &str, policy: &Value) -> Vec<Finding> {
    let stmts = match statements(policy) {
        Ok(s) => s,
        Err(e) => return vec![NO_WILDCARD_ACTIONS.at(role, format!("inline policy `{name}`: {e}"))],
    };
    let mut out = Vec::new();
    for s in stmts.iter().filter(|s| s.allow) {
        if s.not_action {
            out.push(NO_WILDCARD_ACTIONS.at(
                role,
                format!("inline policy `{name}` allows `NotAction` (everything else)"),
            ));
        }
        for action in s.actions.iter().filter(|a| is_wildcard_action(a)) {
            out.push(NO_WILDCARD_ACTIONS.at(
                role,
                format!("inline policy `{name}` allows action `{action}`"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Blueprint;
    use crate::policy::fixture::*;

    const ADMINISTRATOR_ACCESS: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

    #[test]
    fn a_shared_role_fires_ec2_001() {
        let mut bp = blueprint();
        let role0 = Value::reference(&addr("aws_iam_role.web[0]"), "name");
        set(&mut bp, "aws_iam_instance_profile.web[1]", "role", role0);
        let report = assert_fires_only(&bp, &["NOVA-EC2-001"]);
        assert_eq!(report.findings.len(), 2, "{:#?}", report.findings);
        assert!(report.findings[0]
            .message
            .contains("shares IAM role aws_iam_role.web[0]"));
    }

    #[test]
    fn a_shared_instance_profile_fires_ec2_001() {
        let mut bp = blueprint();
        let profile0 = Value::reference(&addr("aws_iam_instance_profile.web[0]"), "name");
        set(
            &mut bp,
            "aws_instance.web[1]",
            "iam_instance_profile",
            profile0,
        );
        let report = assert_fires_only(&bp, &["NOVA-EC2-001"]);
        assert_eq!(
            report.findings.len(),
            4,
            "profile and role, for both instances"
        );
    }

    #[test]
    fn missing_cloudwatch_agent_policy_fires_ec2_002() {
        let mut bp = blueprint();
        clear(&mut bp, "aws_iam_role.web[0]", "managed_policy_arns");
        let report = assert_fires_only(&bp, &["NOVA-EC2-002"]);
        assert_eq!(
            report.findings[0].address,
            Some(addr("aws_iam_role.web[0]"))
        );
    }

    #[test]
    fn imdsv1_fires_ec2_005() {
        let mut bp = blueprint();
        set(
            &mut bp,
            "aws_instance.web[0]",
            "metadata_http_tokens",
            "optional",
        );
        let report = assert_fires_only(&bp, &["NOVA-EC2-005"]);
        assert!(report.findings[0].message.contains("optional"));
    }

    /// Adds an inline policy allowing `action` on everything to `role`.
    fn add_inline(bp: &mut Blueprint, role: &str, action: &str) {
        let policy =
            format!(r#"{{"Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#);
        match resource(bp, role).inputs.get_mut("inline_policies") {
            Some(Value::Map(m)) => {
                m.insert("extra".to_string(), Value::str(policy));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_service_star_action_fires_iam_001() {
        let mut bp = blueprint();
        add_inline(&mut bp, "aws_iam_role.web[1]", "s3:*");
        let report = assert_fires_only(&bp, &["NOVA-IAM-001"]);
        assert!(report.findings[0].message.contains("`s3:*`"));
    }

    /// Each way of breaking a compute rule whose findings need no closer look, and the rule
    /// that must then fire.
    const CASES: &[Case] = &[
        Case {
            breaks: "an instance without profile",
            change: |bp| unset(bp, "aws_instance.web[0]", "iam_instance_profile"),
            fires: &["NOVA-EC2-001"],
        },
        Case {
            breaks: "a role not trusting EC2",
            change: |bp| {
                let lambda_trust =
                    resource(bp, "aws_iam_role.health").inputs["assume_role_policy"].clone();
                set(
                    bp,
                    "aws_iam_role.web[0]",
                    "assume_role_policy",
                    lambda_trust,
                );
            },
            fires: &["NOVA-EC2-001"],
        },
        Case {
            breaks: "an unencrypted volume",
            change: |bp| unset(bp, "aws_instance.web[1]", "kms_key_id"),
            fires: &["NOVA-EC2-003"],
        },
        Case {
            breaks: "a volume encrypted with a foreign key",
            change: |bp| {
                let other = "arn:aws:kms:us-east-1:000000000000:key/someone-elses";
                set(bp, "aws_instance.web[1]", "kms_key_id", other);
            },
            fires: &["NOVA-EC2-003"],
        },
        Case {
            breaks: "blank user data",
            change: |bp| set(bp, "aws_instance.web[0]", "user_data", "  \n"),
            fires: &["NOVA-EC2-004"],
        },
        Case {
            breaks: "no user data",
            change: |bp| unset(bp, "aws_instance.web[0]", "user_data"),
            fires: &["NOVA-EC2-004"],
        },
        Case {
            breaks: "a `*` action in an inline policy",
            change: |bp| add_inline(bp, "aws_iam_role.health", "*"),
            fires: &["NOVA-IAM-001"],
        },
        Case {
            breaks: "AdministratorAccess on an instance role",
            change: |bp| {
                let admin = Value::str(ADMINISTRATOR_ACCESS);
                push(bp, "aws_iam_role.health", "managed_policy_arns", admin);
            },
            fires: &["NOVA-IAM-001"],
        },
        Case {
            breaks: "AdministratorAccess on the API Gateway account's role",
            change: |bp| {
                let admin = Value::str(ADMINISTRATOR_ACCESS);
                push(
                    bp,
                    "aws_api_gateway_account.main",
                    "managed_policy_arns",
                    admin,
                );
            },
            fires: &["NOVA-IAM-001"],
        },
    ];

    #[test]
    fn each_broken_compute_item_fires_its_rule() {
        assert_cases(CASES);
    }
}
