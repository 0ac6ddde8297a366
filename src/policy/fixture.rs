//! Test fixture: the default production stack (the real blueprint), its live counterpart
//! (concrete ids, as providers read them back), and helpers to break one item and see
//! which rules fire.

use crate::provider::aws::kinds;
use std::collections::{BTreeMap, BTreeSet};

use super::{evaluate, Report, ResourceView, StackView};
use crate::model::{Address, Blueprint, Outputs, Reference, Resource, Value};

pub const STACK_REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "000000000000";
pub const ENVIRONMENT: &str = "Production";

pub fn addr(text: &str) -> Address {
    text.parse().expect("fixture address")
}

/// The default production stack: the real blueprint (`stack::blueprint`) of the
/// repository's Nova.toml, with the offline account id. Each rule's tests change it in
/// exactly one place and check which rules fire.
pub fn blueprint() -> Blueprint {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Nova.toml");
    let config = crate::config::load(&path, "production", &|_| None).expect("Nova.toml");
    assert_eq!(config.region, STACK_REGION);
    assert_eq!(config.environment, ENVIRONMENT);
    let context = crate::stack::StackContext {
        account_id: ACCOUNT.to_string(),
        ami: "ami-0123456789abcdef0".to_string(),
        health_code_sha256: "ab".repeat(32),
        subnet_layout: crate::config::SubnetLayout::Zones,
    };
    crate::stack::blueprint(&config, &context)
}

/// The plan view of a blueprint.
pub fn plan_view(bp: &Blueprint) -> StackView {
    StackView::from_blueprint(bp, STACK_REGION, ACCOUNT, ENVIRONMENT)
}

/// The physical id a provider would report for a resource (names for named kinds).
fn fake_id(resource: &Resource, n: usize) -> String {
    let input = |f: &str| {
        resource
            .inputs
            .get(f)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let kind = resource.address.kind();
    let named = match kind {
        kinds::IAM_ROLE
        | kinds::IAM_INSTANCE_PROFILE
        | kinds::LOG_GROUP
        | kinds::EVENT_RULE
        | kinds::KMS_ALIAS => input("name"),
        kinds::LAMBDA_FUNCTION => input("function_name"),
        kinds::API_ACCOUNT => Some("account".to_string()),
        _ => None,
    };
    named.unwrap_or_else(|| {
        let prefix = kind.trim_start_matches("aws_").replace('_', "-");
        format!("{prefix}-{n:08x}")
    })
}

fn fake_arn(kind: &str, id: &str) -> String {
    match kind {
        kinds::IAM_ROLE => format!("arn:aws:iam::{ACCOUNT}:role/{id}"),
        kinds::IAM_INSTANCE_PROFILE => format!("arn:aws:iam::{ACCOUNT}:instance-profile/{id}"),
        kinds::LOG_GROUP => {
            format!("arn:aws:logs:{STACK_REGION}:{ACCOUNT}:log-group:{id}")
        }
        kinds::LAMBDA_FUNCTION => format!("arn:aws:lambda:{STACK_REGION}:{ACCOUNT}:function:{id}"),
        kinds::KMS_KEY => format!("arn:aws:kms:{STACK_REGION}:{ACCOUNT}:key/{id}"),
        _ => {
            let service = kind.trim_start_matches("aws_").replace('_', "-");
            format!("arn:aws:{service}:{STACK_REGION}:{ACCOUNT}:{id}")
        }
    }
}

/// What providers would read back: every resource with a concrete id, outputs (each
/// output the blueprint references, at least), and inputs with references resolved.
pub fn live_resources(bp: &Blueprint) -> Vec<ResourceView> {
    let mut referenced: BTreeSet<Reference> = BTreeSet::new();
    for r in &bp.resources {
        referenced.extend(r.references());
    }
    let mut outputs: BTreeMap<Address, Outputs> = BTreeMap::new();
    for (n, resource) in bp.resources.iter().enumerate() {
        let id = fake_id(resource, n);
        let arn = fake_arn(resource.address.kind(), &id);
        let mut out = Outputs::new();
        out.insert("id".into(), Value::str(&id));
        out.insert("arn".into(), Value::str(&arn));
        for field in ["name", "function_name", "availability_zone"] {
            if let Some(v) = resource.inputs.get(field).filter(|v| v.as_str().is_some()) {
                out.insert(field.into(), v.clone());
            }
        }
        for r in referenced.iter().filter(|r| r.address == resource.address) {
            out.entry(r.output.clone())
                .or_insert_with(|| Value::str(format!("{id}/{}", r.output)));
        }
        if resource.address.kind() == kinds::KMS_KEY {
            out.insert("key_id".into(), Value::str(&id));
        }
        outputs.insert(resource.address.clone(), out);
    }
    let lookup = |r: &Reference| {
        outputs
            .get(&r.address)
            .and_then(|o| o.get(&r.output))
            .cloned()
    };
    bp.resources
        .iter()
        .map(|resource| {
            let out = outputs[&resource.address].clone();
            ResourceView {
                address: resource.address.clone(),
                inputs: resource
                    .inputs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.resolve(&lookup)))
                    .collect(),
                id: out.get("id").and_then(Value::as_str).map(str::to_string),
                outputs: out,
            }
        })
        .collect()
}

/// The live view of a blueprint as if `nova up` had created it.
pub fn live_view(bp: &Blueprint) -> StackView {
    live_view_of(bp, live_resources(bp))
}

/// The live view of a blueprint's stack whose providers read back `resources` (the
/// blueprint's [`live_resources`], changed by a test).
pub fn live_view_of(bp: &Blueprint, resources: Vec<ResourceView>) -> StackView {
    StackView::from_live(
        resources,
        bp.outputs.keys().cloned().collect(),
        STACK_REGION,
        ACCOUNT,
        ENVIRONMENT,
    )
}

/// The resource at `address` (panics when absent: a fixture bug).
pub fn resource<'a>(bp: &'a mut Blueprint, address: &str) -> &'a mut Resource {
    let a = addr(address);
    bp.resources
        .iter_mut()
        .find(|r| r.address == a)
        .unwrap_or_else(|| panic!("fixture has no {address}"))
}

pub fn set(bp: &mut Blueprint, address: &str, field: &str, value: impl Into<Value>) {
    resource(bp, address)
        .inputs
        .insert(field.to_string(), value.into());
}

pub fn unset(bp: &mut Blueprint, address: &str, field: &str) {
    resource(bp, address).inputs.remove(field);
}

pub fn remove(bp: &mut Blueprint, address: &str) {
    let a = addr(address);
    let before = bp.resources.len();
    bp.resources.retain(|r| r.address != a);
    assert_eq!(bp.resources.len(), before - 1, "fixture has no {address}");
}

/// Empties a list input.
pub fn clear(bp: &mut Blueprint, address: &str, field: &str) {
    set(bp, address, field, Value::List(vec![]));
}

/// Pushes a value onto a list input.
pub fn push(bp: &mut Blueprint, address: &str, field: &str, value: Value) {
    match resource(bp, address).inputs.get_mut(field) {
        Some(Value::List(items)) => items.push(value),
        other => panic!("{address}.{field} is not a list: {other:?}"),
    }
}

/// Sets one tag.
pub fn set_tag(bp: &mut Blueprint, address: &str, key: &str, value: Option<&str>) {
    match resource(bp, address).inputs.get_mut("tags") {
        Some(Value::Map(tags)) => match value {
            Some(v) => {
                tags.insert(key.to_string(), Value::str(v));
            }
            None => {
                tags.remove(key);
            }
        },
        other => panic!("{address} has no tags: {other:?}"),
    }
}

/// Evaluates the blueprint as a plan and as a live stack; both must fire exactly the
/// rules `ids` (sorted) and agree. Returns the plan report.
pub fn assert_fires_only(bp: &Blueprint, ids: &[&str]) -> Report {
    assert_case_fires_only("the changed stack", bp, ids)
}

/// [`assert_fires_only`] for the stack changed as `case` says; failures name the case.
fn assert_case_fires_only(case: &str, bp: &Blueprint, ids: &[&str]) -> Report {
    let plan = evaluate(&plan_view(bp));
    let live = evaluate(&live_view(bp));
    let mut want: Vec<&str> = ids.to_vec();
    want.sort_unstable();
    assert_eq!(
        plan.rule_ids(),
        want,
        "{case}: plan findings: {:#?}",
        plan.findings
    );
    assert_eq!(
        live.rule_ids(),
        want,
        "{case}: live findings: {:#?}",
        live.findings
    );
    plan
}

/// One way of breaking the default stack, as a row of a rule file's table of cases.
pub struct Case {
    /// What the change breaks, in words; a failure names it.
    pub breaks: &'static str,
    /// The change to the default blueprint.
    pub change: fn(&mut Blueprint),
    /// The rules that must then fire, and no others.
    pub fires: &'static [&'static str],
}

/// Applies each case to a fresh default blueprint and asserts, as [`assert_fires_only`]
/// does (plan and live), that exactly its rules fire.
pub fn assert_cases(cases: &[Case]) {
    for case in cases {
        let mut bp = blueprint();
        (case.change)(&mut bp);
        assert_case_fires_only(case.breaks, &bp, case.fires);
    }
}

/// True when `rule` has no finding on the default stack (plan and live).
pub fn passes_default(rule: &super::Rule) -> bool {
    let bp = blueprint();
    (rule.check)(&plan_view(&bp)).is_empty() && (rule.check)(&live_view(&bp)).is_empty()
}
