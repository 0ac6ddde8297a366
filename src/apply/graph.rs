//! The operation graph of a plan: which provider calls an apply makes, and which each must
//! wait for. Creates and updates follow dependencies; deletes of old objects go after the
//! changes of everything that used them (reverse order). Cycles are found before anything
//! starts, by the same [`Graph`] the planner orders addresses with.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::graph::Graph;
use crate::model::Address;
use crate::plan::{Action, Change, Plan};
use crate::state::ResourceState;

use super::error::ApplyError;

/// Which call an operation makes on its address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Create,
    Update,
    /// Delete the object the address had when the apply started.
    Delete,
    /// Delete an object left over from an earlier create-before-destroy replacement.
    DeleteDeposed(String),
}

/// One operation: a step on an address. Ordered by address, so ready operations start in
/// address order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpKey {
    pub address: Address,
    pub step: Step,
}

impl OpKey {
    fn new(address: &Address, step: Step) -> Self {
        OpKey {
            address: address.clone(),
            step,
        }
    }

    /// What the operation does, in words ("create", "delete deposed object i-123").
    pub fn what(&self) -> String {
        match &self.step {
            Step::Create => "create".to_string(),
            Step::Update => "update".to_string(),
            Step::Delete => "delete".to_string(),
            Step::DeleteDeposed(id) => format!("delete deposed object {id}"),
        }
    }
}

impl fmt::Display for OpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.address, self.what())
    }
}

/// Every operation, with edges to the operations it waits for: the one generic
/// [`Graph`], whose nodes are operations instead of addresses.
pub type OpGraph = Graph<OpKey>;

/// The create or update that brings `change`'s resource to its desired form, if any.
fn apply_step(change: &Change) -> Option<Step> {
    match change.action {
        Action::Create | Action::Replace { .. } => Some(Step::Create),
        Action::Update => Some(Step::Update),
        // The object is recorded before the executor starts (`Plan::records`); what
        // differs is then updated in place, unless only a replacement could change it.
        Action::Import => change.import_updates_in_place().then_some(Step::Update),
        Action::NoOp | Action::Delete => None,
    }
}

fn has_delete(change: &Change) -> bool {
    matches!(change.action, Action::Delete | Action::Replace { .. })
}

/// Builds the graph of `plan`, plus deletes of the `deposed` objects in the state.
pub fn build(plan: &Plan, deposed: &[ResourceState]) -> Result<OpGraph, ApplyError> {
    let changes: BTreeMap<&Address, &Change> =
        plan.changes.iter().map(|c| (&c.address, c)).collect();
    let mut waits_of: BTreeMap<OpKey, BTreeSet<OpKey>> = BTreeMap::new();

    for change in changes.values() {
        let x = &change.address;
        if let Some(step) = apply_step(change) {
            let mut waits = BTreeSet::new();
            for dep in &change.dependencies {
                if let Some(dep_step) = changes.get(dep).and_then(|c| apply_step(c)) {
                    waits.insert(OpKey::new(dep, dep_step));
                }
            }
            if change.action
                == (Action::Replace {
                    create_before_destroy: false,
                })
            {
                waits.insert(OpKey::new(x, Step::Delete));
            }
            if step == Step::Create {
                waits.extend(old_value_waits(&changes, change));
            }
            waits.remove(&OpKey::new(x, step.clone()));
            waits_of.insert(OpKey::new(x, step), waits);
        }
        if has_delete(change) {
            let mut waits = delete_waits(&changes, x, true);
            if change.action
                == (Action::Replace {
                    create_before_destroy: true,
                })
            {
                waits.insert(OpKey::new(x, Step::Create));
            }
            waits_of.insert(OpKey::new(x, Step::Delete), waits);
        }
    }
    for old in deposed {
        let waits = delete_waits(&changes, &old.address, false);
        waits_of.insert(
            OpKey::new(&old.address, Step::DeleteDeposed(old.id.clone())),
            waits,
        );
    }
    let mut graph = OpGraph::new();
    for op in waits_of.keys() {
        graph.add_node(op.clone());
    }
    for (op, waits) in &waits_of {
        for w in waits.iter().filter(|w| waits_of.contains_key(*w)) {
            graph.add_edge(op, w);
        }
    }
    graph.order().map_err(|cycle| ApplyError::Cycle {
        path: cycle
            .iter()
            .chain(cycle.first())
            .map(OpKey::to_string)
            .collect(),
    })?;
    Ok(graph)
}

/// The operations that take away the old values a new object's unique fields clash with
/// (the planner's `waits_for_old`): the other address's delete, or its update.
fn old_value_waits(changes: &BTreeMap<&Address, &Change>, change: &Change) -> Vec<OpKey> {
    change
        .waits_for_old
        .iter()
        .filter_map(|other| {
            let c = changes.get(other)?;
            if has_delete(c) {
                Some(OpKey::new(other, Step::Delete))
            } else {
                apply_step(c).map(|step| OpKey::new(other, step))
            }
        })
        .collect()
}

/// What deleting an old object of `x` waits for: every change of a resource that used it
/// (its prior dependencies include `x`). With `current` (the object `x` has now), a
/// dependent's create/update that needs the *new* `x` of a delete-before-create
/// replacement cannot go first, so it is not waited for.
fn delete_waits(
    changes: &BTreeMap<&Address, &Change>,
    x: &Address,
    current: bool,
) -> BTreeSet<OpKey> {
    let x_delete_first = changes.get(x).is_some_and(|c| {
        c.action
            == Action::Replace {
                create_before_destroy: false,
            }
    });
    let mut waits = BTreeSet::new();
    for r in changes.values() {
        if &r.address == x || !r.prior_dependencies.contains(x) {
            continue;
        }
        if has_delete(r) {
            waits.insert(OpKey::new(&r.address, Step::Delete));
        }
        if let Some(step) = apply_step(r) {
            let needs_new_x = current && x_delete_first && r.dependencies.contains(x);
            if !needs_new_x {
                waits.insert(OpKey::new(&r.address, step));
            }
        }
    }
    waits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Blueprint;

    fn change(name: &str, action: Action, deps: &[&str], prior: &[&str]) -> Change {
        let a = |n: &str| Address::new("t", n);
        Change {
            address: a(name),
            action,
            before: None,
            after: None,
            diffs: Vec::new(),
            reasons: Vec::new(),
            dependencies: deps.iter().map(|d| a(d)).collect(),
            prior_dependencies: prior.iter().map(|d| a(d)).collect(),
            waits_for_old: BTreeSet::new(),
        }
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            stack: "s".into(),
            lineage: "l".into(),
            serial: 0,
            blueprint: Blueprint::default(),
            changes,
            deposed: Vec::new(),
            scope: Default::default(),
            records: Default::default(),
        }
    }

    fn key(name: &str, step: Step) -> OpKey {
        OpKey::new(&Address::new("t", name), step)
    }

    #[test]
    fn delete_before_create_replacement_orders_around_dependents() {
        let replace = Action::Replace {
            create_before_destroy: false,
        };
        let g = build(
            &plan(vec![
                change("x", replace, &[], &[]),
                change("r", replace, &["x"], &["x"]),
            ]),
            &[],
        )
        .unwrap();
        let w = |n, s| g.dependencies(&key(n, s));
        assert_eq!(w("r", Step::Delete), BTreeSet::new());
        assert_eq!(w("x", Step::Delete), [key("r", Step::Delete)].into());
        assert_eq!(w("x", Step::Create), [key("x", Step::Delete)].into());
        assert_eq!(
            w("r", Step::Create),
            [key("r", Step::Delete), key("x", Step::Create)].into()
        );
    }

    #[test]
    fn a_cycle_is_named() {
        let cbd = Action::Replace {
            create_before_destroy: true,
        };
        let dbc = Action::Replace {
            create_before_destroy: false,
        };
        // r's old object may only go once new r exists, which needs new x, which needs
        // old x gone, which needs old r gone.
        let err = build(
            &plan(vec![
                change("x", dbc, &[], &[]),
                change("r", cbd, &["x"], &["x"]),
            ]),
            &[],
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("cycle"), "{text}");
        assert!(text.contains("t.r (create)"), "{text}");
        assert!(text.contains("t.x (delete)"), "{text}");
    }
}
