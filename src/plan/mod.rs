//! Plans: what `nova up` would do, as a value. The planner (pure, deterministic) diffs the
//! desired blueprint against the state and what a refresh observed; the executor in
//! `apply` carries a plan out; `render` shows it.

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod options_tests;
pub mod planner;
pub mod render;
mod replacement;
mod saved;

pub use planner::{
    check_options, destroy_plan, plan, plan_with, selection, DeleteNotes, Existing, NoNotes,
    PlanError, PlanInput, PlanOptions,
};
pub use render::{render_human, render_json};
pub use saved::{SavedPlan, SavedPlanError};

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{Address, Blueprint, Inputs, Value};
use crate::state::ResourceState;

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
    /// Adopt an object that already exists and carries this stack's ownership tags (a lost
    /// state, say): it is recorded in the state as it is (`Plan::records`), then updated in
    /// place where it differs from the configuration. No object is created.
    Import,
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
    /// Why: a field forces replacement, the resource is no longer configured, ...
    pub reasons: Vec<Reason>,
    /// What the resource will depend on (from the blueprint).
    pub dependencies: BTreeSet<Address>,
    /// What the existing object depended on (from the state); deletes wait for these
    /// dependents' deletes, in reverse.
    pub prior_dependencies: BTreeSet<Address>,
    /// Other addresses whose old objects must be deleted (or updated away from the value)
    /// before this create: their unique fields (a name, a CIDR block) clash with the new
    /// object's.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub waits_for_old: BTreeSet<Address>,
}

impl Change {
    /// An import whose object differs from the configuration only in fields that change
    /// in place: the apply updates it right after recording it.
    pub fn import_updates_in_place(&self) -> bool {
        self.action == Action::Import
            && !self.diffs.is_empty()
            && !self.diffs.iter().any(|d| d.forces_replacement)
    }
}

/// Why a change happens (shown after its header line). Saved and rendered as its text, so a
/// saved plan and `nova plan --json` read as before.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum Reason {
    /// A change of this field cannot be applied in place.
    ForceNew { field: String },
    /// A refresh found the resource deleted outside nova: it will be created again.
    GoneOutOfBand,
    /// The configuration no longer defines the resource.
    NotInConfig,
    /// The object to delete was already deleted outside nova.
    AlreadyGone,
    /// A refresh found live settings that differ from what nova applied, which still is
    /// what the configuration wants: the update undoes a change made outside nova.
    Drift,
    /// What the provider says about the change (KMS keys are only scheduled for deletion).
    ProviderNote { note: String },
    /// The replacement deletes the old object first, and why (its name or CIDR block is
    /// the new object's too, or it depends on something replaced delete-first).
    DeleteFirst { cause: String },
    /// The new object is created once `other`'s old object is deleted (or updated away from
    /// the value): their `field`s clash.
    AfterDeleteOf { other: Address, field: String },
    /// `--replace`: the user asked for a new object.
    ReplaceRequested,
    /// The object already exists with this stack's ownership tags: imported, not created.
    FoundExisting,
    /// An imported object differs in a field that cannot change in place: the import only
    /// records it, and the next plan replaces it.
    ReplaceAfterImport,
}

const GONE_OUT_OF_BAND: &str = "deleted outside nova: will be created again";
const NOT_IN_CONFIG: &str = "not in the configuration";
const ALREADY_GONE: &str = "already deleted outside nova";
const DRIFT: &str = "changed outside nova";
const FORCES_REPLACEMENT: &str = " forces replacement";
const DELETE_FIRST: &str = "the old object is deleted first: ";
const AFTER_DELETE_OF: &str = "created once the old value of ";
const AFTER_DELETE_FIELD: &str = " is gone: their `";
const CLASHES: &str = "` clash";
const REPLACE_REQUESTED: &str = "replacement requested with --replace";
const FOUND_EXISTING: &str =
    "already exists with this stack's ownership tags: imported instead of created";
const REPLACE_AFTER_IMPORT: &str =
    "differs in a field that cannot change in place: recorded now, replaced by the next plan";

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ForceNew { field } => write!(f, "`{field}`{FORCES_REPLACEMENT}"),
            Reason::GoneOutOfBand => f.write_str(GONE_OUT_OF_BAND),
            Reason::NotInConfig => f.write_str(NOT_IN_CONFIG),
            Reason::AlreadyGone => f.write_str(ALREADY_GONE),
            Reason::Drift => f.write_str(DRIFT),
            Reason::ProviderNote { note } => f.write_str(note),
            Reason::DeleteFirst { cause } => write!(f, "{DELETE_FIRST}{cause}"),
            Reason::AfterDeleteOf { other, field } => {
                write!(
                    f,
                    "{AFTER_DELETE_OF}{other}{AFTER_DELETE_FIELD}{field}{CLASHES}"
                )
            }
            Reason::ReplaceRequested => f.write_str(REPLACE_REQUESTED),
            Reason::FoundExisting => f.write_str(FOUND_EXISTING),
            Reason::ReplaceAfterImport => f.write_str(REPLACE_AFTER_IMPORT),
        }
    }
}

impl From<Reason> for String {
    fn from(reason: Reason) -> String {
        reason.to_string()
    }
}

/// Reads a reason back from its text (a saved plan); any other text is a provider's note.
impl From<String> for Reason {
    fn from(text: String) -> Reason {
        let force_new = text
            .strip_suffix(FORCES_REPLACEMENT)
            .and_then(|f| f.strip_prefix('`')?.strip_suffix('`'));
        if let Some(cause) = text.strip_prefix(DELETE_FIRST) {
            return Reason::DeleteFirst {
                cause: cause.to_string(),
            };
        }
        let after_delete = text
            .strip_prefix(AFTER_DELETE_OF)
            .and_then(|rest| rest.strip_suffix(CLASHES))
            .and_then(|rest| rest.split_once(AFTER_DELETE_FIELD))
            .and_then(|(other, field)| Some((other.parse::<Address>().ok()?, field)));
        if let Some((other, field)) = after_delete {
            return Reason::AfterDeleteOf {
                other,
                field: field.to_string(),
            };
        }
        match (text.as_str(), force_new) {
            (_, Some(field)) => Reason::ForceNew {
                field: field.to_string(),
            },
            (GONE_OUT_OF_BAND, _) => Reason::GoneOutOfBand,
            (NOT_IN_CONFIG, _) => Reason::NotInConfig,
            (ALREADY_GONE, _) => Reason::AlreadyGone,
            (DRIFT, _) => Reason::Drift,
            (REPLACE_REQUESTED, _) => Reason::ReplaceRequested,
            (FOUND_EXISTING, _) => Reason::FoundExisting,
            (REPLACE_AFTER_IMPORT, _) => Reason::ReplaceAfterImport,
            _ => Reason::ProviderNote { note: text },
        }
    }
}

/// A reason equals its text (tests and callers compare with what the user sees).
impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        let text = self.to_string();
        text == *other
    }
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
    /// Existing objects adopted ([`Action::Import`]).
    #[serde(default)]
    pub import: usize,
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
    /// How the plan was limited (`--refresh-only`, `--target`, `--exclude`); empty for a
    /// full plan.
    #[serde(default, skip_serializing_if = "Scope::is_full")]
    pub scope: Scope,
    /// What the apply writes into the state as it is, before any AWS call: the objects
    /// imports adopt, and what a refresh-only plan read or found deleted.
    #[serde(default, skip_serializing_if = "Records::is_empty")]
    pub records: Records,
}

/// How a plan was limited. A full plan (the default) considers every resource of the
/// configuration and the state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// `--refresh-only`: the plan records what a refresh found and changes nothing in AWS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh_only: bool,
    /// `--target`: only these (and what they depend on) were planned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Address>,
    /// `--exclude`: these (and what depends on them) were left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<Address>,
}

impl Scope {
    pub fn is_full(&self) -> bool {
        !self.refresh_only && !self.is_partial()
    }

    /// Made with `--target` or `--exclude`: applying it leaves the rest as it is.
    pub fn is_partial(&self) -> bool {
        !self.targets.is_empty() || !self.excludes.is_empty()
    }
}

/// State-only writes of a plan, made before the executor starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Records {
    /// Objects written into the state as they are (imported, or refreshed), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<ResourceState>,
    /// Addresses removed from the state (a refresh-only plan found them deleted), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forget: Vec<Address>,
}

impl Records {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.forget.is_empty()
    }

    /// The object an import adopts at `address`, if any.
    pub fn get(&self, address: &Address) -> Option<&ResourceState> {
        self.set.iter().find(|r| &r.address == address)
    }
}

impl Plan {
    pub fn change(&self, address: &Address) -> Option<&Change> {
        self.changes.iter().find(|c| &c.address == address)
    }

    /// What the plan does in AWS, by action; all zero for a refresh-only plan, which
    /// changes nothing there.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        if self.scope.refresh_only {
            return s;
        }
        for c in &self.changes {
            match c.action {
                Action::NoOp => {}
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Replace { .. } => s.replace += 1,
                Action::Delete => s.destroy += 1,
                Action::Import => s.import += 1,
            }
        }
        s.destroy += self.deposed.len();
        s
    }

    pub fn has_changes(&self) -> bool {
        !self.deposed.is_empty()
            || !self.records.is_empty()
            || self.changes.iter().any(|c| c.action != Action::NoOp)
    }

    /// The plan the executor carries out: for a refresh-only plan, nothing (its changes
    /// happened outside nova and are only recorded, from [`Plan::records`]).
    pub fn for_executor(&self) -> Plan {
        let mut plan = self.clone();
        if plan.scope.refresh_only {
            plan.changes.clear();
            plan.deposed.clear();
        }
        plan
    }
}
