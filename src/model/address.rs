//! Resource addresses: `<kind>.<name>`, e.g. `aws_vpc.main` or `aws_instance.web[1]`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The stable, user-facing identity of a resource within a stack.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    kind: String,
    name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid resource address `{input}`: {reason} (expected `<kind>.<name>`, e.g. `aws_vpc.main`)"
)]
pub struct AddressError {
    pub input: String,
    pub reason: &'static str,
}

impl Address {
    /// Builds an address; panics on an invalid kind or name, so use it only with literals
    /// and names nova builds itself. Use [`str::parse`] for user input.
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        let kind = kind.into();
        let name = name.into();
        let text = format!("{kind}.{name}");
        text.parse().unwrap_or_else(|e: AddressError| panic!("{e}"))
    }

    pub fn kind(&self) -> &str {
        &self.kind
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

fn valid_kind(kind: &str) -> bool {
    !kind.is_empty()
        && kind
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '[' | ']'))
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| AddressError {
            input: input.to_string(),
            reason,
        };
        let (kind, name) = input.split_once('.').ok_or_else(|| err("missing `.`"))?;
        if !valid_kind(kind) {
            return Err(err("kind must be lowercase letters, digits and `_`"));
        }
        if !valid_name(name) {
            return Err(err("name must be letters, digits, `_`, `-`, `[` and `]`"));
        }
        Ok(Address {
            kind: kind.to_string(),
            name: name.to_string(),
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let a: Address = "aws_instance.web[1]".parse().unwrap();
        assert_eq!(a.kind(), "aws_instance");
        assert_eq!(a.name(), "web[1]");
        assert_eq!(a.to_string(), "aws_instance.web[1]");
    }

    #[test]
    fn rejects_bad_addresses() {
        assert!("novpc".parse::<Address>().is_err());
        assert!("AWS_VPC.main".parse::<Address>().is_err());
        assert!("aws_vpc.".parse::<Address>().is_err());
        assert!("aws_vpc.a.b".parse::<Address>().is_err());
    }

    #[test]
    fn orders_by_kind_then_name() {
        let mut v: Vec<Address> = ["b.x", "a.z", "a.y"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        v.sort();
        let s: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(s, ["a.y", "a.z", "b.x"]);
    }
}
