//! Tagging rules: the `Environment` tag on every taggable resource, and names following
//! `<project>-<stack>-...`.

use super::{Finding, ResourceView, Rule, Severity, StackView};

/// Kinds that have no `tags` input (docs/resources.md); every other kind must be tagged.
pub const UNTAGGABLE_KINDS: [&str; 8] = [
    "aws_api_gateway_account",
    "aws_api_gateway_deployment",
    "aws_api_gateway_integration",
    "aws_api_gateway_method",
    "aws_api_gateway_resource",
    "aws_cloudwatch_event_target",
    "aws_kms_alias",
    "aws_lambda_permission",
];

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
    !UNTAGGABLE_KINDS.contains(&resource.address.kind())
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

fn naming_problem(r: &ResourceView) -> Option<(&ResourceView, String)> {
    let (Some(project), Some(stack)) = (r.tag("Project"), r.tag("nova:stack")) else {
        return Some((r, "missing tag Project or nova:stack, so its name cannot be checked".into()));
    };
    let base = format!("{project}-{stack}");
    let Some(name) = r.tag("Name") else {
        return Some((r, format!("missing tag Name (expected `{base}-...`)")));
    };
    if !name.starts_with(&format!("{base}-")) {
        return Some((r, format!("Name `{name}` does not start with `{base}-`")));
    }
    for field in ["name", "function_name"] {
        if let Some(value) = r.input_str(field).filter(|v| !v.contains(&base)) {
            return Some((r, format!("`{field}` = `{value}` does not contain `{base}`")));
        }
    }
    None
}
