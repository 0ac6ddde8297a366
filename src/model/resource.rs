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
}

impl Resource {
    pub fn new(address: Address) -> Self {
        Resource {
            address,
            inputs: Inputs::new(),
            depends_on: BTreeSet::new(),
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

    pub fn references(&self) -> BTreeSet<Reference> {
        let mut refs = BTreeSet::new();
        self.inputs.values().for_each(|v| v.references(&mut refs));
        refs
    }

    /// Everything this resource must wait for: explicit `depends_on` plus referenced resources.
    pub fn dependencies(&self) -> BTreeSet<Address> {
        let mut deps = self.depends_on.clone();
        deps.extend(self.references().into_iter().map(|r| r.address));
        deps.remove(&self.address);
        deps
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
