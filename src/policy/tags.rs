//! Tagging rules: the `Environment` tag on every taggable resource, and names following
//! `<project>-<stack>-...`.

use super::{Finding, ResourceView, Rule, Severity, StackView};
use crate::provider::aws::{schema_of, schemas};

/// Kinds that have no `tags` input, as their schemas declare; every other kind must be
/// tagged.
pub fn untaggable_kinds() -> Vec<&'static str> {
    schemas()
        .into_iter()
        .filter(|s| !s.taggable())
        .map(|s| s.kind.as_ref())
        .collect()
}

pub const ENVIRONMENT_TAG: Rule = Rule {
    id: "NOVA-TAG-001",
    title: "Every taggable resource has the Environment tag of the stack",
    severity: Severity::Error,
    checklist_item: "All resources are tagged with `Environment: Production`.",
    remediation: "Tag the resource `Environment = <environment>` (nova's blueprint adds it \
                  to every taggable kind; set `environment` in Nova.toml).",
    check: check_environment_tag,
};

pub const NAMING: Rule = Rule {
    id: "NOVA-TAG-002",
    title: "Resource names follow `<project>-<stack>-<role>`",
    severity: Severity::Warning,
    checklist_item: "Resource names follow clear naming conventions.",
    remediation: "Name the resource `<project>-<stack>-<role>[-<n>]` (its `Name` tag and \
                  its `name`), with `Project` and `nova:stack` tags.",
    check: check_naming,
};

fn taggable(resource: &ResourceView) -> bool {
    schema_of(resource.address.kind()).is_none_or(|s| s.taggable())
}

fn check_environment_tag(view: &StackView) -> Vec<Finding> {
    let want = view.environment.as_str();
    view.resources
        .values()
        .filter(|r| taggable(r))
        .filter_map(|r| match r.tag("Environment") {
            Some(v) if v == want => None,
            Some(v) => Some(ENVIRONMENT_TAG.at(
                &r.address,
                format!("tag Environment is `{v}`, expected `{want}`"),
            )),
            None => Some(ENVIRONMENT_TAG.at(
                &r.address,
                format!("missing tag Environment (expected `{want}`)"),
            )),
        })
        .collect()
}

fn check_naming(view: &StackView) -> Vec<Finding> {
    view.resources
        .values()
        .filter(|r| taggable(r))
        .filter_map(naming_problem)
        .map(|(r, message)| NAMING.at(&r.address, message))
        .collect()
}

/// Names AWS dictates, which no convention can change: API Gateway writes its execution
/// logs to `API-Gateway-Execution-Logs_<api id>/<stage>`.
fn is_name_set_by_aws(name: &str) -> bool {
    name.starts_with("API-Gateway-Execution-Logs_")
}

fn naming_problem(r: &ResourceView) -> Option<(&ResourceView, String)> {
    let (Some(project), Some(stack)) = (r.tag("Project"), r.tag("nova:stack")) else {
        return Some((
            r,
            "missing tag Project or nova:stack, so its name cannot be checked".into(),
        ));
    };
    let base = format!("{project}-{stack}");
    let Some(name) = r.tag("Name") else {
        return Some((r, format!("missing tag Name (expected `{base}-...`)")));
    };
    // Path-like names (log groups: `/aws/lambda/<P>-health`) are judged by their last part.
    let leaf = name.rsplit('/').next().unwrap_or(name);
    if !leaf.starts_with(&format!("{base}-")) {
        return Some((r, format!("Name `{name}` does not start with `{base}-`")));
    }
    for field in ["name", "function_name"] {
        if let Some(value) = r
            .input_str(field)
            .filter(|v| !v.contains(&base) && !is_name_set_by_aws(v))
        {
            return Some((
                r,
                format!("`{field}` = `{value}` does not contain `{base}`"),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::fixture::*;

    const LAMBDA_LOG_GROUP: &str = "aws_cloudwatch_log_group.health";

    #[test]
    fn a_missing_environment_tag_fires_tag_001() {
        let mut bp = blueprint();
        set_tag(&mut bp, "aws_vpc.main", "Environment", None);
        let report = assert_fires_only(&bp, &["NOVA-TAG-001"]);
        assert_eq!(report.findings[0].address, Some(addr("aws_vpc.main")));
    }

    #[test]
    fn a_wrong_environment_fires_tag_001() {
        let mut bp = blueprint();
        set_tag(
            &mut bp,
            "aws_lambda_function.health",
            "Environment",
            Some("Staging"),
        );
        let report = assert_fires_only(&bp, &["NOVA-TAG-001"]);
        assert!(report.findings[0].message.contains("`Staging`"));
    }

    #[test]
    fn untaggable_kinds_are_exempt() {
        let bp = blueprint();
        let untagged: Vec<String> = bp
            .resources
            .iter()
            .filter(|r| !r.inputs.contains_key("tags"))
            .map(|r| r.address.kind().to_string())
            .collect();
        assert!(!untagged.is_empty());
        let untaggable = untaggable_kinds();
        assert_eq!(untaggable.len(), 8, "{untaggable:?}");
        for kind in untagged {
            assert!(untaggable.contains(&kind.as_str()), "{kind} has no tags");
        }
    }

    #[test]
    fn a_free_form_name_fires_tag_002_as_a_warning() {
        let mut bp = blueprint();
        set_tag(&mut bp, "aws_vpc.main", "Name", Some("my-vpc"));
        let report = assert_fires_only(&bp, &["NOVA-TAG-002"]);
        assert_eq!(report.warnings(), 1);
        assert_eq!(report.exit_code(), crate::policy::EXIT_CLEAN);
    }

    /// Each way of breaking a tag rule whose findings need no closer look, and the rule
    /// that must then fire. Path-like names are judged by their last part.
    const CASES: &[Case] = &[
        Case {
            breaks: "nothing: a path-like Name ending in the convention",
            change: |bp| {
                let name = Some("/aws/lambda/nova-production-health");
                set_tag(bp, LAMBDA_LOG_GROUP, "Name", name);
            },
            fires: &[],
        },
        Case {
            breaks: "a path-like Name whose last part is free-form",
            change: |bp| set_tag(bp, LAMBDA_LOG_GROUP, "Name", Some("/aws/lambda/health")),
            fires: &["NOVA-TAG-002"],
        },
        Case {
            breaks: "a free-form role name",
            change: |bp| set(bp, "aws_iam_role.health", "name", "health"),
            fires: &["NOVA-TAG-002"],
        },
    ];

    #[test]
    fn each_broken_tag_item_fires_its_rule() {
        assert_cases(CASES);
    }
}
