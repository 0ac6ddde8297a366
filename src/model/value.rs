//! Property values: plain JSON-like data, references to another resource's outputs, and
//! values that are only known after apply.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Address;

/// A reference to one output of another resource, e.g. `aws_vpc.main.id`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    pub address: Address,
    pub output: String,
}

impl Reference {
    pub fn new(address: Address, output: impl Into<String>) -> Self {
        Reference {
            address,
            output: output.into(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.address, self.output)
    }
}

/// A property value. `Ref` and `Unknown` only appear in desired resources and plans; the
/// state file holds resolved values only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    /// Another resource's output, resolved when that resource exists.
    Ref(Reference),
    /// A string built from parts (interpolation), e.g. an ARN made of a reference and
    /// literal text; it resolves to a `String` once every part is known.
    Concat(Vec<Value>),
    /// Known only after apply (the referenced resource is yet to be created or replaced).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("numbers must be integers, found {0}")]
    NotAnInteger(String),
    #[error("invalid reference `{0}`: expected `<kind>.<name>.<output>`")]
    BadReference(String),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn reference(address: &Address, output: &str) -> Value {
        Value::Ref(Reference::new(address.clone(), output))
    }

    pub fn list_of_strings<I, S>(items: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Value::List(items.into_iter().map(|s| Value::String(s.into())).collect())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// True when the value holds neither a reference nor an unknown, at any depth.
    pub fn is_known(&self) -> bool {
        match self {
            Value::Ref(_) | Value::Unknown | Value::Concat(_) => false,
            Value::List(items) => items.iter().all(Value::is_known),
            Value::Map(map) => map.values().all(Value::is_known),
            _ => true,
        }
    }

    /// The value with every list sorted (by its JSON text), at any depth. Every list nova
    /// manages is a set (subnet ids, rules, routes, policy ARNs), so order never matters.
    pub fn canonical(&self) -> Value {
        match self {
            Value::List(items) => {
                let mut items: Vec<Value> = items.iter().map(Value::canonical).collect();
                items.sort_by_cached_key(|v| v.to_json().to_string());
                Value::List(items)
            }
            Value::Map(map) => Value::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), v.canonical()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Equality that ignores the order of list items (see [`Value::canonical`]).
    pub fn same_as(&self, other: &Value) -> bool {
        self == other || self.canonical() == other.canonical()
    }

    /// Every reference inside this value.
    pub fn references(&self, out: &mut BTreeSet<Reference>) {
        match self {
            Value::Ref(r) => {
                out.insert(r.clone());
            }
            Value::List(items) | Value::Concat(items) => {
                items.iter().for_each(|v| v.references(out))
            }
            Value::Map(map) => map.values().for_each(|v| v.references(out)),
            _ => {}
        }
    }

    /// Replaces every reference by what `lookup` knows of it, or by `Unknown`.
    pub fn resolve(&self, lookup: &dyn Fn(&Reference) -> Option<Value>) -> Value {
        match self {
            Value::Ref(r) => lookup(r).unwrap_or(Value::Unknown),
            Value::Concat(parts) => concat(parts.iter().map(|v| v.resolve(lookup))),
            Value::List(items) => Value::List(items.iter().map(|v| v.resolve(lookup)).collect()),
            Value::Map(map) => Value::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), v.resolve(lookup)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The value as JSON; references become `{"$ref": "kind.name.output"}` and unknowns
    /// `{"$unknown": true}`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::String(s) => J::String(s.clone()),
            Value::List(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(map) => {
                J::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
            Value::Ref(r) => serde_json::json!({ "$ref": r.to_string() }),
            Value::Concat(parts) => {
                serde_json::json!({ "$concat": parts.iter().map(Value::to_json).collect::<Vec<_>>() })
            }
            Value::Unknown => serde_json::json!({ "$unknown": true }),
        }
    }

    /// The inverse of [`Value::to_json`].
    pub fn from_json(json: &serde_json::Value) -> Result<Value, ValueError> {
        use serde_json::Value as J;
        Ok(match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => Value::Int(
                n.as_i64()
                    .ok_or_else(|| ValueError::NotAnInteger(n.to_string()))?,
            ),
            J::String(s) => Value::String(s.clone()),
            J::Array(items) => Value::List(
                items
                    .iter()
                    .map(Value::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            J::Object(map) => {
                if map.len() == 1 {
                    if let Some(J::String(r)) = map.get("$ref") {
                        return parse_reference(r).map(Value::Ref);
                    }
                    if let Some(J::Array(parts)) = map.get("$concat") {
                        return Ok(Value::Concat(
                            parts
                                .iter()
                                .map(Value::from_json)
                                .collect::<Result<_, _>>()?,
                        ));
                    }
                    if map.get("$unknown") == Some(&J::Bool(true)) {
                        return Ok(Value::Unknown);
                    }
                }
                Value::Map(
                    map.iter()
                        .map(|(k, v)| Ok((k.clone(), Value::from_json(v)?)))
                        .collect::<Result<_, ValueError>>()?,
                )
            }
        })
    }
}

/// Joins resolved parts into one string; any part still unknown makes the whole unknown.
fn concat(parts: impl Iterator<Item = Value>) -> Value {
    let mut out = String::new();
    for part in parts {
        match part {
            Value::String(s) => out.push_str(&s),
            Value::Int(i) => out.push_str(&i.to_string()),
            _ => return Value::Unknown,
        }
    }
    Value::String(out)
}

fn parse_reference(text: &str) -> Result<Reference, ValueError> {
    let bad = || ValueError::BadReference(text.to_string());
    let (addr, output) = text.rsplit_once('.').ok_or_else(bad)?;
    let address: Address = addr.parse().map_err(|_| bad())?;
    if output.is_empty() {
        return Err(bad());
    }
    Ok(Reference::new(address, output))
}

impl fmt::Display for Value {
    /// Human form used in plans: strings quoted, unknowns as `(known after apply)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::List(items) => {
                write!(f, "[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
            Value::Map(map) => {
                write!(f, "{{")?;
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k} = {v}")?;
                }
                write!(f, "}}")
            }
            Value::Ref(r) => write!(f, "{r}"),
            Value::Concat(parts) => {
                write!(f, "\"")?;
                for part in parts {
                    match part {
                        Value::String(s) => write!(f, "{}", s.escape_debug())?,
                        other => write!(f, "${{{other}}}")?,
                    }
                }
                write!(f, "\"")
            }
            Value::Unknown => write!(f, "(known after apply)"),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = serde_json::Value::deserialize(deserializer)?;
        Value::from_json(&json).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_refs_and_unknowns() {
        let mut m = BTreeMap::new();
        m.insert(
            "vpc_id".into(),
            Value::reference(&Address::new("aws_vpc", "main"), "id"),
        );
        m.insert("later".into(), Value::Unknown);
        m.insert("n".into(), Value::Int(3));
        let v = Value::Map(m);
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(
            text,
            r#"{"later":{"$unknown":true},"n":3,"vpc_id":{"$ref":"aws_vpc.main.id"}}"#
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn concat_resolves_to_a_string_when_every_part_is_known() {
        let api = Address::new("aws_api_gateway_rest_api", "main");
        let v = Value::Concat(vec![
            Value::reference(&api, "execution_arn"),
            Value::str("/*/GET/health"),
        ]);
        assert_eq!(
            v.to_string(),
            r#""${aws_api_gateway_rest_api.main.execution_arn}/*/GET/health""#
        );
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
        assert_eq!(v.resolve(&|_| None), Value::Unknown);
        assert_eq!(
            v.resolve(&|_| Some(Value::str("arn:x"))),
            Value::str("arn:x/*/GET/health")
        );
    }

    #[test]
    fn same_as_ignores_list_order_at_any_depth() {
        let a = Value::List(vec![Value::str("b"), Value::str("a")]);
        let b = Value::List(vec![Value::str("a"), Value::str("b")]);
        assert!(a.same_as(&b));
        let mut m1 = BTreeMap::new();
        m1.insert("rules".to_string(), a);
        let mut m2 = BTreeMap::new();
        m2.insert("rules".to_string(), b);
        assert!(Value::Map(m1).same_as(&Value::Map(m2)));
        assert!(!Value::List(vec![Value::str("a")])
            .same_as(&Value::List(vec![Value::str("a"), Value::str("a")])));
    }

    #[test]
    fn floats_are_refused() {
        assert!(serde_json::from_str::<Value>("1.5").is_err());
    }

    #[test]
    fn resolve_replaces_missing_refs_with_unknown() {
        let vpc = Address::new("aws_vpc", "main");
        let v = Value::List(vec![
            Value::reference(&vpc, "id"),
            Value::reference(&vpc, "arn"),
        ]);
        let r = v.resolve(&|r| (r.output == "id").then(|| Value::str("vpc-1")));
        assert_eq!(r, Value::List(vec![Value::str("vpc-1"), Value::Unknown]));
        assert!(!r.is_known());
    }
}
