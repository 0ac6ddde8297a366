//! Desired resources and the blueprint of a whole stack.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Address, Reference, Value};

/// A resource's input properties, by field name (sorted, so output is deterministic).
pub type Inputs = BTreeMap<String, Value>;
/// What a provider reports back about a created resource (ids, ARNs, ...).
pub type Outputs = BTreeMap<String, Value>;

/// One resource as the configuration wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub address: Address,
    pub inputs: Inputs,
    /// Ordering dependencies that no input reference expresses.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub depends_on: BTreeSet<Address>,
    /// Resources this one is created after but that need not outlive it: the order holds
    /// for creates only, so a destroy does not wait for this resource before deleting them
    /// (the state does not record these).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub created_after: BTreeSet<Address>,
}

impl Resource {
    pub fn new(address: Address) -> Self {
        Resource {
            address,
            inputs: Inputs::new(),
            depends_on: BTreeSet::new(),
            created_after: BTreeSet::new(),
        }
    }

    /// Sets one input (builder style).
    pub fn with(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.inputs.insert(field.to_string(), value.into());
        self
    }

    /// Adds an explicit ordering dependency (builder style).
    pub fn after(mut self, address: &Address) -> Self {
        self.depends_on.insert(address.clone());
        self
    }

    /// Adds an ordering for creates only (builder style): see [`Resource::created_after`].
    pub fn created_after(mut self, address: &Address) -> Self {
        self.created_after.insert(address.clone());
        self
    }

    pub fn references(&self) -> BTreeSet<Reference> {
        let mut refs = BTreeSet::new();
        self.inputs.values().for_each(|v| v.references(&mut refs));
        refs
    }

    /// Everything this resource must be created after: explicit `depends_on`,
    /// `created_after` and referenced resources.
    pub fn dependencies(&self) -> BTreeSet<Address> {
        let mut deps = self.lasting_dependencies();
        deps.extend(self.created_after.iter().cloned());
        deps.remove(&self.address);
        deps
    }

    /// What this resource needs for as long as it exists (references and `depends_on`):
    /// what the state records, and what a delete of this resource must come before.
    pub fn lasting_dependencies(&self) -> BTreeSet<Address> {
        let mut deps = self.depends_on.clone();
        deps.extend(self.references().into_iter().map(|r| r.address));
        deps.remove(&self.address);
        deps
    }

    /// The dependencies that hold for creates only.
    pub fn create_only_dependencies(&self) -> BTreeSet<Address> {
        self.dependencies()
            .difference(&self.lasting_dependencies())
            .cloned()
            .collect()
    }
}

/// Everything a stack's configuration asks for: resources and named outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blueprint {
    pub resources: Vec<Resource>,
    /// Stack outputs (`nova output`), usually references to resource outputs.
    pub outputs: BTreeMap<String, Value>,
}

impl Blueprint {
    pub fn get(&self, address: &Address) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.address == address)
    }
}
