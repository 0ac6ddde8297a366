//! Plans: what `nova up` would do, as a value. The planner (pure, deterministic) diffs the
//! desired blueprint against the state and what a refresh observed; the executor in
//! `apply` carries a plan out; `render` shows it.

#[cfg(test)]
mod fixtures;
pub mod planner;
pub mod render;

pub use planner::{
    destroy_plan, plan, PlanError, PlanInput, REASON_ALREADY_GONE, REASON_GONE,
    REASON_NOT_IN_CONFIG,
};
pub use render::{render_human, render_json};

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::{Address, Blueprint, Inputs, Value};

/// What will happen to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Action {
    NoOp,
    Create,
    Update,
    /// Delete and create again. With `create_before_destroy` the new object is created
    /// first and the old one deleted once nothing uses it; otherwise the old one goes first.
    Replace {
        create_before_destroy: bool,
    },
    Delete,
}

/// One field whose value changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDiff {
    pub field: String,
    /// `None` when the field was absent.
    pub before: Option<Value>,
    /// `None` when the field is removed; may hold [`Value::Unknown`].
    pub after: Option<Value>,
    pub forces_replacement: bool,
}

/// The planned change of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub address: Address,
    pub action: Action,
    /// Inputs as applied (or as a refresh observed them); `None` for a create.
    pub before: Option<Inputs>,
    /// Desired inputs with references resolved where already known and
    /// [`Value::Unknown`] where known only after apply; `None` for a delete.
    pub after: Option<Inputs>,
    /// The fields that change, sorted by name.
    pub diffs: Vec<FieldDiff>,
    /// Why, in words: "`cidr_block` forces replacement", "not in the configuration", ...
    pub reasons: Vec<String>,
    /// What the resource will depend on (from the blueprint).
    pub dependencies: BTreeSet<Address>,
    /// What the existing object depended on (from the state); deletes wait for these
    /// dependents' deletes, in reverse.
    pub prior_dependencies: BTreeSet<Address>,
}

/// An old object left by an interrupted create-before-destroy replacement: the next apply
/// deletes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeposedObject {
    pub address: Address,
    pub id: String,
}

/// Counts for the closing line of a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub replace: usize,
    pub destroy: usize,
}

/// A whole plan. Saved with `nova plan --out FILE` and applied with `nova up FILE`, which
/// refuses it if the state moved on since (different `lineage` or `serial`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub stack: String,
    /// Lineage and serial of the state the plan was made from.
    pub lineage: String,
    pub serial: u64,
    /// The desired resources (with unresolved references): the executor resolves each
    /// resource's inputs from it once its dependencies exist.
    pub blueprint: Blueprint,
    /// One change per address in the blueprint or the state, sorted by address.
    pub changes: Vec<Change>,
    /// Deposed objects in the state, which the apply deletes (sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<DeposedObject>,
}

impl Plan {
    pub fn change(&self, address: &Address) -> Option<&Change> {
        self.changes.iter().find(|c| &c.address == address)
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::NoOp => {}
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Replace { .. } => s.replace += 1,
                Action::Delete => s.destroy += 1,
            }
        }
        s.destroy += self.deposed.len();
        s
    }

    pub fn has_changes(&self) -> bool {
        !self.deposed.is_empty() || self.changes.iter().any(|c| c.action != Action::NoOp)
    }
}
