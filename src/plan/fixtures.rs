//! Test fixtures shared by the planner and render tests: the providers' schemas,
//! a small network blueprint, and the state an apply of it would record.

use crate::provider::aws::kinds;
use std::collections::BTreeMap;

use crate::model::{Address, Blueprint, Resource, Value};
use crate::plan::{plan, NoNotes, Plan, PlanInput};
use crate::provider::{Observed, Schemas};
use crate::state::{ResourceState, State, STATE_VERSION};

/// The plan of `blueprint` over `state` for `stack`, after a refresh that found
/// `observed` (none: no refresh), with the providers' schemas and no provider notes.
pub fn plan_of_stack(
    stack: &str,
    blueprint: &Blueprint,
    state: &State,
    observed: Option<&BTreeMap<Address, Observed>>,
) -> Plan {
    let schemas = schemas();
    plan(&PlanInput {
        stack,
        blueprint,
        state,
        observed,
        schemas: &schemas,
        notes: &NoNotes,
    })
    .unwrap()
}

pub fn addr(s: &str) -> Address {
    s.parse().unwrap()
}

pub fn tags(pairs: &[(&str, &str)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::str(*v)))
            .collect(),
    )
}

/// The schemas of every kind, as the providers declare them.
pub fn schemas() -> Schemas {
    crate::provider::aws::schemas()
        .into_iter()
        .map(|s| (s.kind.to_string(), s.clone()))
        .collect()
}

/// A state with a fixed lineage and serial (so plans are comparable) and no resources.
pub fn empty_state() -> State {
    State {
        version: STATE_VERSION,
        lineage: "3f1c2a9e-0000-4000-8000-000000000001".into(),
        serial: 7,
        resources: Vec::new(),
        outputs: BTreeMap::new(),
        pending: Vec::new(),
        deposed: Vec::new(),
        forgotten: Vec::new(),
    }
}

/// `aws_vpc.main` and `aws_subnet.public` in it, both tagged.
pub fn network_blueprint() -> Blueprint {
    let vpc = addr("aws_vpc.main");
    Blueprint {
        resources: vec![
            Resource::new(vpc.clone())
                .with("cidr_block", "10.0.0.0/16")
                .with("enable_dns_support", true)
                .with("enable_dns_hostnames", true)
                .with("tags", tags(&[("Name", "main")])),
            Resource::new(addr("aws_subnet.public"))
                .with("vpc_id", Value::reference(&vpc, "id"))
                .with("cidr_block", "10.0.1.0/24")
                .with("availability_zone", "us-east-1a")
                .with("map_public_ip_on_launch", false)
                .with("tags", tags(&[("Name", "public")])),
        ],
        outputs: BTreeMap::new(),
    }
}

/// What an apply of [`network_blueprint`] records, written out by hand: inputs resolved,
/// outputs present.
pub fn applied_network_state() -> State {
    let mut state = empty_state();
    state.upsert(ResourceState {
        address: addr("aws_vpc.main"),
        kind: kinds::VPC.into(),
        id: "vpc-0001".into(),
        inputs: [
            ("cidr_block".to_string(), Value::str("10.0.0.0/16")),
            ("enable_dns_hostnames".to_string(), Value::Bool(true)),
            ("enable_dns_support".to_string(), Value::Bool(true)),
            ("tags".to_string(), tags(&[("Name", "main")])),
        ]
        .into(),
        outputs: [
            (
                "arn".to_string(),
                Value::str("arn:aws:ec2:us-east-1:000000000000:vpc/vpc-0001"),
            ),
            ("cidr_block".to_string(), Value::str("10.0.0.0/16")),
            ("id".to_string(), Value::str("vpc-0001")),
        ]
        .into(),
        dependencies: Default::default(),
    });
    state.upsert(ResourceState {
        address: addr("aws_subnet.public"),
        kind: kinds::SUBNET.into(),
        id: "subnet-0001".into(),
        inputs: [
            ("availability_zone".to_string(), Value::str("us-east-1a")),
            ("cidr_block".to_string(), Value::str("10.0.1.0/24")),
            ("map_public_ip_on_launch".to_string(), Value::Bool(false)),
            ("tags".to_string(), tags(&[("Name", "public")])),
            ("vpc_id".to_string(), Value::str("vpc-0001")),
        ]
        .into(),
        outputs: [
            (
                "arn".to_string(),
                Value::str("arn:aws:ec2:us-east-1:000000000000:subnet/subnet-0001"),
            ),
            ("availability_zone".to_string(), Value::str("us-east-1a")),
            ("id".to_string(), Value::str("subnet-0001")),
        ]
        .into(),
        dependencies: [addr("aws_vpc.main")].into(),
    });
    state
}

fn resource_mut<'b>(b: &'b mut Blueprint, address: &str) -> &'b mut Resource {
    let address = addr(address);
    b.resources
        .iter_mut()
        .find(|r| r.address == address)
        .unwrap_or_else(|| panic!("no {address} in the blueprint"))
}

/// The network blueprint with these inputs set: (address, field, value).
pub fn network_blueprint_with(inputs: &[(&str, &str, Value)]) -> Blueprint {
    let mut b = network_blueprint();
    for (address, field, value) in inputs {
        set_input(&mut b, address, field, value.clone());
    }
    b
}

pub fn set_input(b: &mut Blueprint, address: &str, field: &str, value: Value) {
    resource_mut(b, address)
        .inputs
        .insert(field.to_string(), value);
}

pub fn remove_input(b: &mut Blueprint, address: &str, field: &str) {
    resource_mut(b, address).inputs.remove(field);
}

/// What a refresh of an unchanged resource reads: exactly what the state recorded.
pub fn observed_as_in_state(state: &State, address: &str) -> Observed {
    let r = state.get(&addr(address)).unwrap();
    Observed::Present {
        inputs: r.inputs.clone(),
        outputs: r.outputs.clone(),
    }
}
