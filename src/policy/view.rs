//! The typed view of a stack that rules read: resources by address with their inputs
//! (and, when live, their ids and outputs), the stack outputs, region, account and the
//! expected environment tag. One helper, [`StackView::points_to`], decides whether a
//! value refers to a resource, for plans (references) and live stacks (concrete ids).

use crate::provider::aws::kinds;
use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Address, Blueprint, Inputs, Outputs, Value};

/// One resource as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceView {
    pub address: Address,
    /// Planned inputs (may hold `Ref`/`Concat`) or, when live, the inputs as read back.
    pub inputs: Inputs,
    /// The physical id, when the resource exists.
    pub id: Option<String>,
    /// What the provider reported (empty for a plan).
    pub outputs: Outputs,
}

impl ResourceView {
    pub fn input(&self, field: &str) -> Option<&Value> {
        self.inputs.get(field)
    }

    /// A string input, when it is a literal string.
    pub fn input_str(&self, field: &str) -> Option<&str> {
        self.input(field).and_then(Value::as_str)
    }

    /// A list input; absent or not a list = empty.
    pub fn input_list(&self, field: &str) -> &[Value] {
        self.input(field).and_then(Value::as_list).unwrap_or(&[])
    }

    /// One tag's value, when the tag is a literal string.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.input("tags")
            .and_then(Value::as_map)
            .and_then(|tags| tags.get(key))
            .and_then(Value::as_str)
    }
}

/// A whole stack as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackView {
    pub region: String,
    pub account_id: String,
    /// The expected value of every `Environment` tag (e.g. `Production`).
    pub environment: String,
    pub resources: BTreeMap<Address, ResourceView>,
    /// Names of the stack outputs.
    pub outputs: BTreeSet<String>,
}

impl StackView {
    /// The stack as planned: inputs may hold references to other resources.
    pub fn from_blueprint(
        blueprint: &Blueprint,
        region: impl Into<String>,
        account_id: impl Into<String>,
        environment: impl Into<String>,
    ) -> StackView {
        let resources = blueprint
            .resources
            .iter()
            .map(|r| {
                let view = ResourceView {
                    address: r.address.clone(),
                    inputs: r.inputs.clone(),
                    id: None,
                    outputs: Outputs::new(),
                };
                (r.address.clone(), view)
            })
            .collect();
        StackView {
            region: region.into(),
            account_id: account_id.into(),
            environment: environment.into(),
            resources,
            outputs: blueprint.outputs.keys().cloned().collect(),
        }
    }

    /// The stack as it exists: inputs hold concrete ids, as the providers read them back.
    pub fn from_live(
        resources: Vec<ResourceView>,
        outputs: BTreeSet<String>,
        region: impl Into<String>,
        account_id: impl Into<String>,
        environment: impl Into<String>,
    ) -> StackView {
        StackView {
            region: region.into(),
            account_id: account_id.into(),
            environment: environment.into(),
            resources: resources
                .into_iter()
                .map(|r| (r.address.clone(), r))
                .collect(),
            outputs,
        }
    }

    pub fn get(&self, address: &Address) -> Option<&ResourceView> {
        self.resources.get(address)
    }

    /// Every resource of one kind, in address order.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a ResourceView> + 'a {
        self.resources
            .values()
            .filter(move |r| r.address.kind() == kind)
    }

    /// True when `value` refers to the resource at `target`: a reference to any of its
    /// outputs (plan), or a string equal to its id or to one of its string outputs (live).
    /// A one-part `Concat` counts as its part. Lists are the caller's business.
    pub fn points_to(&self, value: &Value, target: &Address) -> bool {
        match value {
            Value::Ref(r) => &r.address == target,
            Value::Concat(parts) if parts.len() == 1 => self.points_to(&parts[0], target),
            Value::String(s) => self.get(target).is_some_and(|t| {
                t.id.as_deref() == Some(s.as_str())
                    || t.outputs.values().any(|o| o.as_str() == Some(s.as_str()))
            }),
            _ => false,
        }
    }

    /// The resources of `kind` that `value` points to.
    pub fn targets<'a>(&'a self, value: &'a Value, kind: &'a str) -> Vec<&'a ResourceView> {
        self.of_kind(kind)
            .filter(|r| self.points_to(value, &r.address))
            .collect()
    }

    /// The first resource of `kind` that `value` points to.
    pub fn target<'a>(&'a self, value: &'a Value, kind: &'a str) -> Option<&'a ResourceView> {
        self.of_kind(kind)
            .find(|r| self.points_to(value, &r.address))
    }

    /// True when `value` points at any KMS key of this stack.
    pub fn points_to_stack_key(&self, value: &Value) -> bool {
        self.target(value, kinds::KMS_KEY).is_some()
    }

    /// True when the resource's `kms_key_id` points at a KMS key of this stack.
    pub fn encrypted_with_stack_key(&self, resource: &ResourceView) -> bool {
        resource
            .input("kms_key_id")
            .is_some_and(|k| self.points_to_stack_key(k))
    }

    /// Where a reference input (`value`, `None` when unset) points among this stack's
    /// resources of `kind`.
    pub fn link<'a>(&'a self, value: Option<&'a Value>, kind: &'a str) -> Link<'a> {
        match value {
            None => Link::Unset,
            Some(v) => self.target(v, kind).map_or(Link::Elsewhere(v), Link::To),
        }
    }

    /// The route tables associated with a subnet (their `subnet_ids` point to it).
    pub fn route_tables_of<'a>(&'a self, subnet: &'a Address) -> Vec<&'a ResourceView> {
        self.of_kind(kinds::ROUTE_TABLE)
            .filter(|rt| {
                rt.input_list("subnet_ids")
                    .iter()
                    .any(|v| self.points_to(v, subnet))
            })
            .collect()
    }

    /// A subnet is public when it maps public IPs on launch or one of its route tables
    /// sends `0.0.0.0/0` to an internet gateway; otherwise it is private.
    pub fn is_public_subnet(&self, subnet: &ResourceView) -> bool {
        if subnet
            .input("map_public_ip_on_launch")
            .and_then(Value::as_bool)
            == Some(true)
        {
            return true;
        }
        self.route_tables_of(&subnet.address).iter().any(|rt| {
            default_routes(rt).any(|route| {
                route
                    .get("gateway_id")
                    .is_some_and(|g| self.target(g, kinds::INTERNET_GATEWAY).is_some())
            })
        })
    }
}

/// Where a reference input points, for the rules that require it to name a resource of
/// the stack of one kind ([`StackView::link`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link<'a> {
    /// The input is not set.
    Unset,
    /// The input names something that is not a resource of that kind of this stack.
    Elsewhere(&'a Value),
    /// The resource of this stack the input points to.
    To(&'a ResourceView),
}

impl Link<'_> {
    /// What is wrong with a reference input that must point to a resource of the stack:
    /// `unset` when it is not set, `elsewhere(value)` when it names something else, `None`
    /// when it points where it must.
    pub fn problem(self, unset: &str, elsewhere: impl FnOnce(&Value) -> String) -> Option<String> {
        match self {
            Link::Unset => Some(unset.to_string()),
            Link::Elsewhere(value) => Some(elsewhere(value)),
            Link::To(_) => None,
        }
    }
}

/// The `0.0.0.0/0` routes of a route table, as maps.
pub(crate) fn default_routes(
    rt: &ResourceView,
) -> impl Iterator<Item = &BTreeMap<String, Value>> + '_ {
    rt.input_list("routes")
        .iter()
        .filter_map(Value::as_map)
        .filter(|route| {
            route.get("destination_cidr_block").and_then(Value::as_str) == Some("0.0.0.0/0")
        })
}

/// A resource's input in its short human form ([`show`]), or `unset`.
pub(crate) fn show_input(resource: &ResourceView, field: &str) -> String {
    resource
        .input(field)
        .map(show)
        .unwrap_or_else(|| "unset".to_string())
}

/// A short human form of a value for messages: literal strings unquoted.
pub(crate) fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
