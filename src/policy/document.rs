//! Reading IAM and KMS policy documents (JSON strings, possibly built with `Concat`
//! around references): statements, actions, principals, and wildcard action matching.

use serde_json::Value as Json;

use super::ResourceView;
use crate::model::Value;

/// One statement of a policy document, reduced to what the rules need.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub allow: bool,
    /// `Action` patterns (empty when the statement uses `NotAction`).
    pub actions: Vec<String>,
    pub not_action: bool,
    pub principal: Option<Json>,
    /// A non-empty `Condition` block.
    pub has_condition: bool,
}

/// The text of a policy value: a literal string, or a `Concat` whose references are
/// written `${kind.name.output}` (they sit inside JSON strings). `None` when unknown.
pub(crate) fn policy_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Concat(parts) => {
            let mut out = String::new();
            for part in parts {
                match part {
                    Value::String(s) => out.push_str(s),
                    Value::Int(i) => out.push_str(&i.to_string()),
                    Value::Ref(r) => out.push_str(&format!("${{{r}}}")),
                    other => out.push_str(&policy_text(other)?),
                }
            }
            Some(out)
        }
        Value::Ref(r) => Some(format!("${{{r}}}")),
        _ => None,
    }
}

/// Parses a policy document's statements.
pub(crate) fn statements(value: &Value) -> Result<Vec<Statement>, String> {
    let text = policy_text(value).ok_or_else(|| format!("policy is not known ({value})"))?;
    let doc: Json =
        serde_json::from_str(&text).map_err(|e| format!("policy is not valid JSON: {e}"))?;
    let raw = match doc.get("Statement") {
        Some(Json::Array(items)) => items.clone(),
        Some(single @ Json::Object(_)) => vec![single.clone()],
        _ => return Err("policy has no `Statement`".to_string()),
    };
    Ok(raw.iter().map(statement).collect())
}

fn statement(raw: &Json) -> Statement {
    let not_action = raw.get("NotAction").is_some();
    Statement {
        allow: raw.get("Effect").and_then(Json::as_str) == Some("Allow"),
        actions: strings(raw.get("Action")),
        not_action,
        principal: raw.get("Principal").cloned(),
        has_condition: raw
            .get("Condition")
            .and_then(Json::as_object)
            .is_some_and(|c| !c.is_empty()),
    }
}

/// A JSON string or array of strings as a list.
pub(crate) fn strings(value: Option<&Json>) -> Vec<String> {
    match value {
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(Json::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// IAM action matching: case-insensitive, `*` matches any run of characters and `?`
/// one character.
pub(crate) fn action_matches(pattern: &str, action: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let a: Vec<char> = action.to_ascii_lowercase().chars().collect();
    glob(&p, &a)
}

fn glob(p: &[char], a: &[char]) -> bool {
    match p.split_first() {
        None => a.is_empty(),
        Some(('*', rest)) => (0..=a.len()).any(|i| glob(rest, &a[i..])),
        Some((c, rest)) => a
            .split_first()
            .is_some_and(|(x, tail)| (*c == '?' || c == x) && glob(rest, tail)),
    }
}

/// True when some `Allow` statement grants `action` through an `Action` pattern.
pub(crate) fn allows(statements: &[Statement], action: &str) -> bool {
    statements
        .iter()
        .filter(|s| s.allow)
        .any(|s| s.actions.iter().any(|p| action_matches(p, action)))
}

/// True for `*` and `service:*` (every action, or every action of a service).
pub(crate) fn is_wildcard_action(pattern: &str) -> bool {
    pattern == "*" || pattern.split_once(':').is_some_and(|(_, rest)| rest == "*")
}

/// The principals of one type (`AWS`, `Service`) a statement names; `"*"` as a whole
/// principal counts as `*` for every type.
pub(crate) fn principals(statement: &Statement, kind: &str) -> Vec<String> {
    match &statement.principal {
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Object(map)) => strings(map.get(kind)),
        _ => Vec::new(),
    }
}

/// True when the statement's principal is everyone: `"*"` or `{"AWS": "*"}`.
pub(crate) fn open_principal(statement: &Statement) -> bool {
    principals(statement, "AWS").iter().any(|p| p == "*")
}

/// True when a trust policy lets `service` assume the role.
pub(crate) fn trusts_service(assume_role_policy: &Value, service: &str) -> bool {
    statements(assume_role_policy).is_ok_and(|stmts| {
        stmts.iter().any(|s| {
            s.allow
                && s.actions
                    .iter()
                    .any(|a| action_matches(a, "sts:AssumeRole"))
                && principals(s, "Service").iter().any(|p| p == service)
        })
    })
}

/// True when the role's `assume_role_policy` lets `service` assume it (the API Gateway
/// account setting counts as its CloudWatch role).
pub(crate) fn role_trusts(role: &ResourceView, service: &str) -> bool {
    role.input("assume_role_policy")
        .is_some_and(|p| trusts_service(p, service))
}

/// True when the role's `managed_policy_arns` hold `arn`.
pub(crate) fn has_managed_policy(role: &ResourceView, arn: &str) -> bool {
    role.input_list("managed_policy_arns")
        .iter()
        .any(|v| v.as_str() == Some(arn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Address;

    #[test]
    fn wildcards_match_like_iam() {
        assert!(action_matches("ec2:Describe*", "ec2:DescribeInstances"));
        assert!(action_matches(
            "EC2:describeinstances",
            "ec2:DescribeInstances"
        ));
        assert!(action_matches("*", "s3:GetObject"));
        assert!(!action_matches(
            "ec2:Describe*",
            "ec2:CreateNetworkInterface"
        ));
        assert!(action_matches(
            "ec2:?escribeInstances",
            "ec2:DescribeInstances"
        ));
        assert!(is_wildcard_action("*"));
        assert!(is_wildcard_action("s3:*"));
        assert!(!is_wildcard_action("ec2:Describe*"));
    }

    #[test]
    fn concat_policies_parse_with_references_as_placeholders() {
        let lg = Address::new("aws_cloudwatch_log_group", "health");
        let v = Value::Concat(vec![
            Value::str(
                r#"{"Statement":{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":""#,
            ),
            Value::reference(&lg, "arn"),
            Value::str(r#""}}"#),
        ]);
        let s = statements(&v).unwrap();
        assert_eq!(s.len(), 1);
        assert!(allows(&s, "logs:PutLogEvents"));
        assert!(!allows(&s, "logs:CreateLogGroup"));
    }

    #[test]
    fn open_principals_are_recognised() {
        let doc = |p: &str| {
            Value::str(format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":{p},"Action":"kms:*"}}]}}"#
            ))
        };
        assert!(open_principal(&statements(&doc(r#""*""#)).unwrap()[0]));
        assert!(open_principal(
            &statements(&doc(r#"{"AWS":"*"}"#)).unwrap()[0]
        ));
        assert!(open_principal(
            &statements(&doc(r#"{"AWS":["x","*"]}"#)).unwrap()[0]
        ));
        assert!(!open_principal(
            &statements(&doc(r#"{"AWS":"arn:aws:iam::1:root"}"#)).unwrap()[0]
        ));
    }
}
