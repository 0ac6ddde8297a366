//! Helpers for `read`: putting live attributes into the shape of a resource's inputs, so
//! the planner can compare them with what the blueprint wants.

use std::collections::BTreeMap;

use crate::model::{Inputs, Value};
use crate::provider::ProviderError;

/// Sets `field` to the live value. When AWS reports nothing, the field is set to null if
/// the applied inputs had it (so a removed setting shows as drift) and left out otherwise.
pub fn put_optional(inputs: &mut Inputs, applied: &Inputs, field: &str, live: Option<Value>) {
    match live {
        Some(value) => {
            inputs.insert(field.to_string(), value);
        }
        None if applied.contains_key(field) => {
            inputs.insert(field.to_string(), Value::Null);
        }
        None => {}
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

/// True when the live tags carry nova's ownership tags for this stack and address.
pub fn owned_by(tags: &BTreeMap<String, String>, stack: &str, address: &str) -> bool {
    tags.get(super::TAG_STACK).map(String::as_str) == Some(stack)
        && tags.get(super::TAG_ADDRESS).map(String::as_str) == Some(address)
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
