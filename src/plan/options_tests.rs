//! The planner's options (`--target`, `--exclude`, `--replace`, `--refresh-only`) and
//! imports of objects found before planning, over the small network of `fixtures` plus
//! two more resources: a KMS key nothing depends on and a security group in the VPC.

use std::collections::BTreeMap;

use super::fixtures::*;
use super::planner::{plan_with, Existing, PlanError, PlanInput, PlanOptions};
use super::{render_human, render_json, Action, Plan, Reason};
use crate::model::{Address, Blueprint, Resource, Value};
use crate::provider::Observed;
use crate::state::{ResourceState, State};

fn blueprint() -> Blueprint {
    let mut b = network_blueprint();
    b.resources.push(
        Resource::new(addr("aws_kms_key.main"))
            .with("description", "stack key")
            .with("tags", tags(&[("Name", "key")])),
    );
    b.resources.push(
        Resource::new(addr("aws_security_group.web"))
            .with("name", "web")
            .with("vpc_id", Value::reference(&addr("aws_vpc.main"), "id"))
            .with("tags", tags(&[("Name", "web")])),
    );
    b
}

/// A plan of `b` over `state` with nothing refreshed and nothing found existing.
fn run(b: &Blueprint, state: &State, options: &PlanOptions) -> Result<Plan, PlanError> {
    plan_of(b, state, None, options, &BTreeMap::new())
}

/// A plan of `b` over `state` after a refresh that found `observed`.
fn run_refreshed(
    b: &Blueprint,
    state: &State,
    observed: &BTreeMap<Address, Observed>,
    options: &PlanOptions,
) -> Result<Plan, PlanError> {
    plan_of(b, state, Some(observed), options, &BTreeMap::new())
}

/// A plan of `b` over `state` (default options) where lookups found `existing`.
fn run_finding(
    b: &Blueprint,
    state: &State,
    existing: &BTreeMap<Address, Existing>,
) -> Result<Plan, PlanError> {
    plan_of(b, state, None, &PlanOptions::default(), existing)
}

fn plan_of(
    b: &Blueprint,
    state: &State,
    observed: Option<&BTreeMap<Address, Observed>>,
    options: &PlanOptions,
    existing: &BTreeMap<Address, Existing>,
) -> Result<Plan, PlanError> {
    let schemas = schemas();
    plan_with(
        &PlanInput {
            stack: "test",
            blueprint: b,
            state,
            observed,
            schemas: &schemas,
            notes: &super::NoNotes,
        },
        options,
        existing,
    )
}

fn addresses(plan: &Plan) -> Vec<String> {
    plan.changes.iter().map(|c| c.address.to_string()).collect()
}

fn action(plan: &Plan, address: &str) -> Action {
    plan.change(&addr(address))
        .unwrap_or_else(|| panic!("no change for {address}"))
        .action
}

fn targets(list: &[&str]) -> PlanOptions {
    PlanOptions {
        targets: list.iter().map(|a| addr(a)).collect(),
        ..PlanOptions::default()
    }
}

#[test]
fn a_target_pulls_in_what_it_depends_on_and_nothing_else() {
    let p = run(
        &blueprint(),
        &empty_state(),
        &targets(&["aws_subnet.public"]),
    )
    .unwrap();
    assert_eq!(addresses(&p), ["aws_subnet.public", "aws_vpc.main"]);
    assert!(p.changes.iter().all(|c| c.action == Action::Create));
    assert!(p.scope.is_partial());
    assert_eq!(p.scope.targets, [addr("aws_subnet.public")]);
    assert_eq!(p.summary().add, 2);
    // The full plan has all four.
    let full = run(&blueprint(), &empty_state(), &PlanOptions::default()).unwrap();
    assert_eq!(full.changes.len(), 4);
    assert!(full.scope.is_full());
}

#[test]
fn a_target_that_is_only_in_the_state_takes_what_depends_on_it_there() {
    // The configuration dropped the whole network: deleting the VPC needs its subnet gone.
    let mut b = blueprint();
    b.resources
        .retain(|r| r.address.kind() == "aws_kms_key" || r.address.kind() == "aws_security_group");
    b.resources.retain(|r| r.address.kind() == "aws_kms_key");
    let p = run(&b, &applied_network_state(), &targets(&["aws_vpc.main"])).unwrap();
    assert_eq!(addresses(&p), ["aws_subnet.public", "aws_vpc.main"]);
    assert!(p.changes.iter().all(|c| c.action == Action::Delete));
}

#[test]
fn an_exclude_leaves_out_what_depends_on_it() {
    let options = PlanOptions {
        excludes: [addr("aws_vpc.main")].into(),
        ..PlanOptions::default()
    };
    let p = run(&blueprint(), &empty_state(), &options).unwrap();
    assert_eq!(addresses(&p), ["aws_kms_key.main"]);
    assert_eq!(p.scope.excludes, [addr("aws_vpc.main")]);
    // Targets and excludes together: the target's part without the excluded.
    let options = PlanOptions {
        targets: [addr("aws_security_group.web"), addr("aws_kms_key.main")].into(),
        excludes: [addr("aws_kms_key.main")].into(),
        ..PlanOptions::default()
    };
    let p = run(&blueprint(), &empty_state(), &options).unwrap();
    assert_eq!(addresses(&p), ["aws_security_group.web", "aws_vpc.main"]);
}

#[test]
fn addresses_no_one_knows_are_refused() {
    let err = run(&blueprint(), &empty_state(), &targets(&["aws_vpc.other"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--target aws_vpc.other: no such resource in the configuration or the state of stack \
         `test` (see `nova state list` and `nova graph`)"
    );
    let options = PlanOptions {
        replace: [addr("aws_kms_key.main")].into(),
        ..PlanOptions::default()
    };
    let err = run(&blueprint(), &applied_network_state(), &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--replace aws_kms_key.main: it does not exist yet (not in the state): it will be \
         created anyway"
    );
    let options = PlanOptions {
        excludes: [addr("aws_subnet.nope")].into(),
        ..PlanOptions::default()
    };
    let err = run(&blueprint(), &empty_state(), &options).unwrap_err();
    assert!(
        matches!(
            err,
            PlanError::UnknownAddress {
                option: "--exclude",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn replace_turns_a_kept_object_into_a_replacement_and_dependents_follow() {
    let options = PlanOptions {
        replace: [addr("aws_vpc.main")].into(),
        ..PlanOptions::default()
    };
    let p = run(&network_blueprint(), &applied_network_state(), &options).unwrap();
    let vpc = p.change(&addr("aws_vpc.main")).unwrap();
    assert_eq!(
        vpc.action,
        Action::Replace {
            create_before_destroy: true
        },
        "a VPC's order is create-before-destroy"
    );
    assert_eq!(vpc.reasons, [Reason::ReplaceRequested]);
    assert!(vpc.diffs.is_empty(), "nothing differs: the user asked");
    // The subnet's vpc_id is unknown now, and it forces a replacement.
    assert!(matches!(
        action(&p, "aws_subnet.public"),
        Action::Replace { .. }
    ));
    assert_eq!(p.summary().replace, 2);
    // Only what was asked: replacing the subnet leaves the VPC.
    let options = PlanOptions {
        replace: [addr("aws_subnet.public")].into(),
        ..PlanOptions::default()
    };
    let p = run(&network_blueprint(), &applied_network_state(), &options).unwrap();
    assert_eq!(action(&p, "aws_vpc.main"), Action::NoOp);
    assert!(matches!(
        action(&p, "aws_subnet.public"),
        Action::Replace { .. }
    ));
    let text = render_human(&p, false);
    assert!(
        text.contains(
            // (Delete-first: the new subnet's CIDR is the old one's.)
            "# aws_subnet.public must be replaced (replacement requested with --replace; \
             the old object is deleted first: its new `cidr_block` 10.0.1.0/24 clashes with \
             the old object's)"
        ),
        "{text}"
    );
}

/// The state of the network as a refresh would find it after another team edited the
/// VPC's tags and deleted the subnet.
fn drifted(state: &State) -> BTreeMap<Address, Observed> {
    let Observed::Present {
        mut inputs,
        outputs,
    } = observed_as_in_state(state, "aws_vpc.main")
    else {
        unreachable!()
    };
    inputs.insert(
        "tags".into(),
        tags(&[("Name", "main"), ("Team", "platform")]),
    );
    [
        (addr("aws_vpc.main"), Observed::Present { inputs, outputs }),
        (addr("aws_subnet.public"), Observed::Gone),
    ]
    .into()
}

#[test]
fn refresh_only_records_what_changed_and_plans_nothing_in_aws() {
    let state = applied_network_state();
    let observed = drifted(&state);
    let options = PlanOptions {
        refresh_only: true,
        ..PlanOptions::default()
    };
    // The configuration asks for more (a key): a refresh-only plan ignores it.
    let p = run_refreshed(&blueprint(), &state, &observed, &options).unwrap();
    assert!(p.scope.refresh_only);
    assert_eq!(addresses(&p), ["aws_subnet.public", "aws_vpc.main"]);
    assert_eq!(action(&p, "aws_vpc.main"), Action::Update);
    assert_eq!(action(&p, "aws_subnet.public"), Action::Delete);
    assert_eq!(p.records.forget, [addr("aws_subnet.public")]);
    assert_eq!(p.records.set.len(), 1);
    assert_eq!(
        p.records.set[0].inputs["tags"],
        tags(&[("Name", "main"), ("Team", "platform")])
    );
    assert_eq!(p.records.set[0].id, "vpc-0001");
    assert!(p.has_changes());
    assert_eq!(p.summary(), Default::default(), "nothing to do in AWS");
    let executed = p.for_executor();
    assert!(executed.changes.is_empty() && executed.deposed.is_empty());
    let text = render_human(&p, false);
    for line in [
        "# aws_subnet.public has been deleted outside nova",
        "# aws_vpc.main has changed outside nova",
        "+ \"Team\" = \"platform\"",
        "# (1 unchanged element hidden)",
        "applying it records 1 changed and 1 deleted object(s) in the state and changes nothing in AWS",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    assert!(!text.contains("Plan:"), "{text}");
    // Nothing changed outside nova: nothing to record.
    let same: BTreeMap<Address, Observed> = ["aws_vpc.main", "aws_subnet.public"]
        .iter()
        .map(|a| (addr(a), observed_as_in_state(&state, a)))
        .collect();
    let p = run_refreshed(&blueprint(), &state, &same, &options).unwrap();
    assert!(!p.has_changes());
    assert!(render_human(&p, false).starts_with("No changes. The state matches what exists"));
}

#[test]
fn refresh_only_plans_survive_a_saved_plan_round_trip() {
    let state = applied_network_state();
    let observed = drifted(&state);
    let options = PlanOptions {
        refresh_only: true,
        ..PlanOptions::default()
    };
    let p = run_refreshed(&network_blueprint(), &state, &observed, &options).unwrap();
    let text = serde_json::to_string(&p).unwrap();
    let back: Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, p);
    // A full plan writes neither field: saved plans read as before.
    let full = run(&network_blueprint(), &state, &PlanOptions::default()).unwrap();
    let json = serde_json::to_value(&full).unwrap();
    assert!(
        json.get("scope").is_none() && json.get("records").is_none(),
        "{json}"
    );
}

/// The VPC as it exists (found by its ownership tags), with the tags the configuration
/// wants except one.
fn found_vpc() -> Existing {
    let state = applied_network_state();
    let vpc = state.get(&addr("aws_vpc.main")).unwrap();
    let mut inputs = vpc.inputs.clone();
    inputs.insert("tags".into(), tags(&[("Name", "old-name")]));
    Existing {
        id: "vpc-0042".into(),
        inputs,
        outputs: [("id".to_string(), Value::str("vpc-0042"))].into(),
    }
}

#[test]
fn an_object_that_already_exists_is_imported_not_created() {
    let existing: BTreeMap<Address, Existing> = [(addr("aws_vpc.main"), found_vpc())].into();
    let p = run_finding(&network_blueprint(), &empty_state(), &existing).unwrap();
    let vpc = p.change(&addr("aws_vpc.main")).unwrap();
    assert_eq!(vpc.action, Action::Import);
    assert_eq!(vpc.reasons, [Reason::FoundExisting]);
    assert!(
        vpc.import_updates_in_place(),
        "the tag differs: updated after the import"
    );
    assert_eq!(vpc.diffs.len(), 1);
    assert_eq!(vpc.diffs[0].field, "tags");
    // The subnet refers to the imported VPC's id, known now.
    let subnet = p.change(&addr("aws_subnet.public")).unwrap();
    assert_eq!(subnet.action, Action::Create);
    assert_eq!(
        subnet.after.as_ref().unwrap()["vpc_id"],
        Value::str("vpc-0042")
    );
    assert_eq!(p.records.set.len(), 1);
    let record: &ResourceState = &p.records.set[0];
    assert_eq!(
        (record.id.as_str(), record.address.clone()),
        ("vpc-0042", addr("aws_vpc.main"))
    );
    assert_eq!(record.inputs, found_vpc().inputs, "recorded as it is live");
    let s = p.summary();
    assert_eq!((s.import, s.add), (1, 1));
    let text = render_human(&p, false);
    for line in [
        "  < import an existing object",
        "# aws_vpc.main will be imported (vpc-0042) and updated in-place (already exists with this stack's ownership tags: imported instead of created)",
        "  < aws_vpc.main",
        "~ \"Name\" = \"old-name\" -> \"main\"",
        "Plan: 1 to import, 1 to add, 0 to change, 0 to replace, 0 to destroy.",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    let json = render_json(&p);
    assert_eq!(json["summary"]["import"], 1);
    let changes = json["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["action"] == "import"), "{json}");
}

#[test]
fn an_import_that_cannot_change_in_place_only_records_the_object() {
    let mut found = found_vpc();
    found
        .inputs
        .insert("cidr_block".into(), Value::str("10.9.0.0/16"));
    let existing: BTreeMap<Address, Existing> = [(addr("aws_vpc.main"), found)].into();
    let p = run_finding(&network_blueprint(), &empty_state(), &existing).unwrap();
    let vpc = p.change(&addr("aws_vpc.main")).unwrap();
    assert_eq!(vpc.action, Action::Import);
    assert!(!vpc.import_updates_in_place());
    assert_eq!(
        vpc.reasons,
        [Reason::FoundExisting, Reason::ReplaceAfterImport]
    );
    // An object the state already has is never imported again.
    let existing: BTreeMap<Address, Existing> = [(addr("aws_vpc.main"), found_vpc())].into();
    let p = run_finding(&network_blueprint(), &applied_network_state(), &existing).unwrap();
    assert!(!p.has_changes());
}

#[test]
fn reasons_read_back_from_their_text() {
    for reason in [
        Reason::ReplaceRequested,
        Reason::FoundExisting,
        Reason::ReplaceAfterImport,
    ] {
        assert_eq!(Reason::from(reason.to_string()), reason);
    }
}
