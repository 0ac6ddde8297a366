//! Security group rules as a set: the `ingress`/`egress` inputs and AWS's IpPermissions
//! both become one entry per (protocol, ports, CIDR block), so two rule lists can be
//! compared and only their difference authorized, revoked or re-described.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{IpPermission, IpRange};

use super::{fields, s};
use crate::model::Value;
use crate::provider::ProviderError;

/// What makes a rule unique in AWS: protocol, port range and CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleKey {
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub cidr: String,
}

/// A rule set: each key with its description (empty when none).
pub type RuleSet = BTreeMap<RuleKey, String>;

/// The protocol as AWS reports it: `tcp`, `udp`, `icmp`, `-1` (all) or a number.
fn normalize_protocol(protocol: &str) -> String {
    match protocol.to_ascii_lowercase().as_str() {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "all" | "-1" => "-1".into(),
        other => other.into(),
    }
}

/// Ports of "all protocols" rules do not exist in AWS: they are stored as 0-0.
fn normalize_ports(protocol: &str, from: i32, to: i32) -> (i32, i32) {
    if protocol == "-1" {
        (0, 0)
    } else {
        (from, to)
    }
}

fn port(field: &str, map: &BTreeMap<String, Value>, protocol: &str) -> Result<i32, ProviderError> {
    match map.get(field).and_then(Value::as_i64) {
        Some(p) => i32::try_from(p)
            .map_err(|_| ProviderError::invalid(field, format!("port {p} is out of range"))),
        None if protocol == "-1" => Ok(0),
        None => Err(ProviderError::invalid(
            field,
            format!("a {protocol} rule needs an integer {field}"),
        )),
    }
}

/// Parses a rule list input (`ingress` or `egress`) into a rule set.
pub fn parse_rules(field: &str, value: Option<&Value>) -> Result<RuleSet, ProviderError> {
    let mut set = RuleSet::new();
    for item in value.and_then(Value::as_list).unwrap_or(&[]) {
        let map = item
            .as_map()
            .ok_or_else(|| ProviderError::invalid(field, "each rule must be a map"))?;
        let protocol = map
            .get("protocol")
            .and_then(Value::as_str)
            .map(normalize_protocol)
            .ok_or_else(|| ProviderError::invalid(field, "a rule has no protocol"))?;
        let (from_port, to_port) = normalize_ports(
            &protocol,
            port("from_port", map, &protocol)?,
            port("to_port", map, &protocol)?,
        );
        let description = map
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let cidrs = map
            .get("cidr_blocks")
            .and_then(Value::as_list)
            .unwrap_or(&[]);
        for cidr in cidrs {
            let cidr = cidr
                .as_str()
                .ok_or_else(|| ProviderError::invalid(field, "cidr_blocks must be strings"))?;
            let key = RuleKey {
                protocol: protocol.clone(),
                from_port,
                to_port,
                cidr: cidr.to_string(),
            };
            set.insert(key, description.to_string());
        }
    }
    Ok(set)
}

/// The IPv4 rules of live IpPermissions as a rule set. IPv6 ranges, prefix lists and
/// security group references are not managed by nova and are left out.
pub fn live_rules(permissions: &[IpPermission]) -> RuleSet {
    let mut set = RuleSet::new();
    for perm in permissions {
        let protocol = normalize_protocol(perm.ip_protocol().unwrap_or("-1"));
        let (from_port, to_port) = normalize_ports(
            &protocol,
            perm.from_port().unwrap_or(0),
            perm.to_port().unwrap_or(0),
        );
        for range in perm.ip_ranges() {
            let Some(cidr) = range.cidr_ip() else {
                continue;
            };
            let key = RuleKey {
                protocol: protocol.clone(),
                from_port,
                to_port,
                cidr: cidr.to_string(),
            };
            set.insert(key, range.description().unwrap_or_default().to_string());
        }
    }
    set
}

/// The rule set as IpPermissions, one per protocol and port range.
pub fn to_permissions<'a>(
    rules: impl IntoIterator<Item = (&'a RuleKey, &'a String)>,
) -> Vec<IpPermission> {
    let mut grouped: BTreeMap<(&str, i32, i32), Vec<IpRange>> = BTreeMap::new();
    for (key, description) in rules {
        let range = IpRange::builder()
            .cidr_ip(&key.cidr)
            .set_description((!description.is_empty()).then(|| description.clone()))
            .build();
        grouped
            .entry((&key.protocol, key.from_port, key.to_port))
            .or_default()
            .push(range);
    }
    grouped
        .into_iter()
        .map(|((protocol, from, to), ranges)| {
            let perm = IpPermission::builder()
                .ip_protocol(protocol)
                .set_ip_ranges(Some(ranges));
            if protocol == "-1" {
                perm.build()
            } else {
                perm.from_port(from).to_port(to).build()
            }
        })
        .collect()
}

/// What to change to go from `live` to `wanted`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RuleDiff {
    pub authorize: RuleSet,
    pub revoke: RuleSet,
    /// Rules present on both sides whose description changed (new description).
    pub redescribe: RuleSet,
}

impl RuleDiff {
    pub fn between(live: &RuleSet, wanted: &RuleSet) -> RuleDiff {
        let mut diff = RuleDiff::default();
        for (key, description) in wanted {
            match live.get(key) {
                None => {
                    diff.authorize.insert(key.clone(), description.clone());
                }
                Some(current) if current != description => {
                    diff.redescribe.insert(key.clone(), description.clone());
                }
                Some(_) => {}
            }
        }
        for (key, description) in live {
            if !wanted.contains_key(key) {
                diff.revoke.insert(key.clone(), description.clone());
            }
        }
        diff
    }
}

/// The rule set as a rule list input, one rule per protocol, ports and description,
/// sorted, with its CIDR blocks sorted.
pub fn rules_value(rules: &RuleSet) -> Value {
    let mut grouped: BTreeMap<(&str, i32, i32, &str), Vec<&str>> = BTreeMap::new();
    for (key, description) in rules {
        grouped
            .entry((&key.protocol, key.from_port, key.to_port, description))
            .or_default()
            .push(&key.cidr);
    }
    Value::List(
        grouped
            .into_iter()
            .map(|((protocol, from, to, description), cidrs)| {
                let mut rule = fields([
                    ("protocol", s(protocol)),
                    ("from_port", Value::Int(from.into())),
                    ("to_port", Value::Int(to.into())),
                    ("cidr_blocks", Value::list_of_strings(cidrs)),
                ]);
                if !description.is_empty() {
                    rule.insert("description".into(), s(description));
                }
                Value::Map(rule)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: &str, port: i64, cidrs: &[&str]) -> Value {
        Value::Map(fields([
            ("protocol", s(protocol)),
            ("from_port", Value::Int(port)),
            ("to_port", Value::Int(port)),
            ("cidr_blocks", Value::list_of_strings(cidrs.iter().copied())),
        ]))
    }

    #[test]
    fn rules_become_one_entry_per_cidr() {
        let value = Value::List(vec![rule("tcp", 443, &["10.0.0.0/8", "0.0.0.0/0"])]);
        let set = parse_rules("ingress", Some(&value)).expect("valid");
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn diff_touches_only_what_changed() {
        let live = parse_rules(
            "ingress",
            Some(&Value::List(vec![
                rule("tcp", 80, &["0.0.0.0/0"]),
                rule("tcp", 22, &["10.0.0.0/8"]),
            ])),
        )
        .expect("valid");
        let wanted = parse_rules(
            "ingress",
            Some(&Value::List(vec![
                rule("tcp", 443, &["0.0.0.0/0"]),
                rule("tcp", 22, &["10.0.0.0/8"]),
            ])),
        )
        .expect("valid");
        let diff = RuleDiff::between(&live, &wanted);
        let ports = |set: &RuleSet| set.keys().map(|k| k.from_port).collect::<Vec<_>>();
        assert_eq!(ports(&diff.authorize), [443]);
        assert_eq!(ports(&diff.revoke), [80]);
        assert!(diff.redescribe.is_empty());
    }

    #[test]
    fn all_traffic_ignores_ports_and_round_trips() {
        let value = Value::List(vec![rule("-1", 0, &["0.0.0.0/0"])]);
        let set = parse_rules("egress", Some(&value)).expect("valid");
        let perms = to_permissions(&set);
        assert_eq!(perms.len(), 1);
        assert_eq!(perms[0].from_port(), None);
        assert_eq!(live_rules(&perms), set);
        assert_eq!(rules_value(&set), value);
    }

    #[test]
    fn a_tcp_rule_needs_ports() {
        let value = Value::List(vec![Value::Map(fields([
            ("protocol", s("tcp")),
            ("cidr_blocks", Value::list_of_strings(["0.0.0.0/0"])),
        ]))]);
        assert!(parse_rules("ingress", Some(&value)).is_err());
    }
}
