//! The state file's data: what nova has created, as it was applied, and which provider
//! calls were in flight. See `docs/state-format.md`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{Address, Inputs, Outputs, Value};

/// The state format version this build reads and writes.
pub const STATE_VERSION: u32 = 1;

/// The whole state of one stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub version: u32,
    /// Random id made when the state is first created; a saved plan or a backup from
    /// another lineage is a different history.
    pub lineage: String,
    /// Incremented on every write.
    pub serial: u64,
    /// Sorted by address.
    pub resources: Vec<ResourceState>,
    /// Stack outputs as of the last apply.
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
    /// Provider calls started and not yet known to have finished.
    #[serde(default)]
    pub pending: Vec<PendingOperation>,
    /// Old objects replaced by a create-before-destroy replacement and not yet deleted
    /// (the new object holds the address in `resources`). The next apply deletes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<ResourceState>,
    /// Objects `nova state rm` removed from the state: they still exist (with this
    /// stack's ownership tags), but nova no longer manages them, so a plan never imports
    /// them again by those tags. `nova import` of one takes it off this list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forgotten: Vec<ForgottenObject>,
}

/// An object nova was told to forget (`nova state rm`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgottenObject {
    pub address: Address,
    pub kind: String,
    pub id: String,
}

/// One resource that exists (as far as nova knows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceState {
    pub address: Address,
    pub kind: String,
    /// The provider's physical id.
    pub id: String,
    /// Inputs as applied (fully resolved).
    pub inputs: Inputs,
    pub outputs: Outputs,
    /// Addresses this resource depended on when applied; destroy deletes in reverse.
    #[serde(default)]
    pub dependencies: BTreeSet<Address>,
}

/// Which provider call a pending operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider call saved before it is made and cleared when it returns. One left behind
/// means nova stopped mid-call; the next run resolves it before planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingOperation {
    pub address: Address,
    pub kind: String,
    pub operation: Operation,
    /// Physical id, for update and delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The inputs being applied (create/update) or the applied inputs (delete).
    pub inputs: Inputs,
    /// The dependencies the resource will have once the call succeeds.
    #[serde(default)]
    pub dependencies: BTreeSet<Address>,
    /// Idempotency token handed to the provider; reused when the call is retried.
    pub client_token: String,
    /// RFC 3339 time the call was started (informational).
    pub started_at: String,
}

impl State {
    /// A fresh, empty state with a new lineage.
    pub fn new() -> Self {
        State {
            version: STATE_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            resources: Vec::new(),
            outputs: BTreeMap::new(),
            pending: Vec::new(),
            deposed: Vec::new(),
            forgotten: Vec::new(),
        }
    }

    pub fn get(&self, address: &Address) -> Option<&ResourceState> {
        self.resources.iter().find(|r| &r.address == address)
    }

    /// Inserts or replaces a resource, keeping the list sorted by address.
    pub fn upsert(&mut self, resource: ResourceState) {
        match self
            .resources
            .binary_search_by(|r| r.address.cmp(&resource.address))
        {
            Ok(i) => self.resources[i] = resource,
            Err(i) => self.resources.insert(i, resource),
        }
    }

    /// True when `id` is an object `nova state rm` forgot.
    pub fn is_forgotten(&self, id: &str) -> bool {
        self.forgotten.iter().any(|f| f.id == id)
    }

    pub fn remove(&mut self, address: &Address) -> Option<ResourceState> {
        let i = self.resources.iter().position(|r| &r.address == address)?;
        Some(self.resources.remove(i))
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}
