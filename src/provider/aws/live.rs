//! Helpers for `read`: putting live attributes into the shape of a resource's inputs, so
//! the planner can compare them with what the blueprint wants (the one "absent live
//! value" rule is [`observed_optional`]), and reading typed inputs.

use std::collections::BTreeMap;

use crate::model::{Inputs, Value};
use crate::provider::ProviderError;

/// The "absent live value" rule, once for every service. AWS leaves out a setting that is
/// not set (API Gateway also leaves out empty strings). A live value is recorded as it is.
/// An absent one is drift only when a value was applied (not null, not `""`): the field is
/// then null. Otherwise what was applied (absent, null or `""`) stands, so refresh shows
/// no false difference. `None` means: leave the field out.
pub fn observed_optional(applied: Option<&Value>, live: Option<Value>) -> Option<Value> {
    match (live, applied) {
        (Some(value), _) => Some(value),
        (None, Some(Value::Null)) => Some(Value::Null),
        (None, Some(Value::String(s))) if s.is_empty() => Some(Value::str("")),
        (None, Some(_)) => Some(Value::Null),
        (None, None) => None,
    }
}

/// Sets `field` to the live value by [`observed_optional`].
pub fn put_optional(inputs: &mut Inputs, applied: &Inputs, field: &str, live: Option<Value>) {
    if let Some(value) = observed_optional(applied.get(field), live) {
        inputs.insert(field.to_string(), value);
    }
}

/// A setting whose live value is always known but which nova manages only when the
/// blueprint sets it (a VPC's DNS attributes, a subnet's public-IP flag): reported when the
/// applied inputs set it (not null), left out otherwise, so it never shows as drift.
pub fn put_if_applied(inputs: &mut Inputs, applied: &Inputs, field: &str, live: Value) {
    if applied
        .get(field)
        .is_some_and(|v| !matches!(v, Value::Null))
    {
        inputs.insert(field.to_string(), live);
    }
}

/// A map input (tags, environment variables) from live strings; an empty live map is
/// reported only when the applied inputs had the field.
pub fn put_string_map(
    inputs: &mut Inputs,
    applied: &Inputs,
    field: &str,
    live: BTreeMap<String, String>,
) {
    if live.is_empty() && !applied.contains_key(field) {
        return;
    }
    let map = live
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    inputs.insert(field.to_string(), Value::Map(map));
}

/// A list-of-strings input from live values, sorted (these lists are sets); an empty live
/// list is reported only when the applied inputs had the field.
pub fn put_string_set(inputs: &mut Inputs, applied: &Inputs, field: &str, mut live: Vec<String>) {
    if live.is_empty() && !applied.contains_key(field) {
        return;
    }
    live.sort();
    live.dedup();
    inputs.insert(field.to_string(), Value::list_of_strings(live));
}

/// An optional integer input that must fit in an `i32` (the AWS APIs' integer type).
pub fn optional_i32(inputs: &Inputs, field: &str) -> Result<Option<i32>, ProviderError> {
    match inputs.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Int(i)) => i32::try_from(*i)
            .map(Some)
            .map_err(|_| ProviderError::invalid(field, format!("{i} is out of range"))),
        Some(other) => Err(ProviderError::invalid(
            field,
            format!("expected an integer, found {other:?}"),
        )),
    }
}

/// A map-of-strings input (absent or null gives an empty map).
pub fn string_map(inputs: &Inputs, field: &str) -> BTreeMap<String, String> {
    inputs
        .get(field)
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_is_null_only_when_applied_had_it() {
        let mut applied = Inputs::new();
        applied.insert("a".into(), Value::Int(1));
        let mut inputs = Inputs::new();
        put_optional(&mut inputs, &applied, "a", None);
        put_optional(&mut inputs, &applied, "b", None);
        put_optional(&mut inputs, &applied, "c", Some(Value::Int(3)));
        assert_eq!(inputs.get("a"), Some(&Value::Null));
        assert_eq!(inputs.get("b"), None);
        assert_eq!(inputs.get("c"), Some(&Value::Int(3)));
    }

    #[test]
    fn absent_is_drift_only_when_a_value_was_applied() {
        let rule = observed_optional;
        assert_eq!(rule(None, None), None);
        assert_eq!(rule(Some(&Value::str("x")), None), Some(Value::Null));
        assert_eq!(rule(Some(&Value::str("")), None), Some(Value::str("")));
        assert_eq!(rule(Some(&Value::Null), None), Some(Value::Null));
        assert_eq!(
            rule(Some(&Value::str("x")), Some(Value::str("y"))),
            Some(Value::str("y"))
        );
    }

    #[test]
    fn if_applied_reports_only_managed_settings() {
        let mut applied = Inputs::new();
        applied.insert("a".into(), Value::Bool(true));
        applied.insert("n".into(), Value::Null);
        let mut inputs = Inputs::new();
        for field in ["a", "n", "absent"] {
            put_if_applied(&mut inputs, &applied, field, Value::Bool(false));
        }
        assert_eq!(inputs, Inputs::from([("a".into(), Value::Bool(false))]));
    }

    #[test]
    fn sets_are_sorted() {
        let mut inputs = Inputs::new();
        put_string_set(
            &mut inputs,
            &Inputs::new(),
            "s",
            vec!["b".into(), "a".into()],
        );
        assert_eq!(inputs.get("s"), Some(&Value::list_of_strings(["a", "b"])));
    }

    #[test]
    fn optional_i32_rejects_overflow_and_wrong_type() {
        let mut inputs = Inputs::new();
        inputs.insert("big".into(), Value::Int(i64::MAX));
        inputs.insert("s".into(), Value::str("x"));
        assert!(optional_i32(&inputs, "big").is_err());
        assert!(optional_i32(&inputs, "s").is_err());
        assert_eq!(optional_i32(&inputs, "none").ok(), Some(None));
    }
}
