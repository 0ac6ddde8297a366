//! Why an operation of an apply (or a recovery) failed, always naming the resource.

use crate::model::Address;
use crate::provider::ProviderError;
use crate::state::{Operation, StateError};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The provider call failed.
    #[error("{address}: {operation} failed: {source}")]
    Provider {
        address: Address,
        operation: Operation,
        #[source]
        source: Box<ProviderError>,
    },
    /// The pending operation could not be saved, so the call was never made; the run
    /// stops starting new work.
    #[error("{address}: {operation} not started: the state could not be saved: {source}")]
    StateSave {
        address: Address,
        operation: Operation,
        #[source]
        source: Box<StateError>,
    },
    /// The state could not be read or saved outside any one operation.
    #[error("the state could not be saved: {source}")]
    State {
        #[source]
        source: Box<StateError>,
    },
    #[error("{address}: no provider is registered for resource kind `{kind}`")]
    NoProvider { address: Address, kind: String },
    #[error("{address}: the plan changes it but its blueprint has no such resource (the plan is inconsistent; make a new plan)")]
    NotInBlueprint { address: Address },
    #[error("{address}: input `{field}` is still unknown at apply time: {detail}")]
    Unresolved {
        address: Address,
        field: String,
        detail: String,
    },
    #[error("the plan's operations wait for each other in a cycle: {}; nothing was changed", .path.join(" -> "))]
    Cycle { path: Vec<String> },
    /// AWS says what the create would make exists, and nothing of this stack carries that
    /// name or key.
    #[error("{address}: create failed: {source}; no resource of this stack has that name or key, so it belongs to someone else: choose another name, delete it, or adopt it with `nova import` if it is the one you want")]
    Taken {
        address: Address,
        #[source]
        source: Box<ProviderError>,
    },
    /// The create's outcome is unknown and looking for what it made failed too: it stays
    /// pending in the state.
    #[error("{address}: create: the outcome is unknown ({source}) and looking for what it made failed too ({lookup}); it stays pending in the state, and the next `nova up` or `nova destroy` looks again before anything else")]
    OutcomeUnknown {
        address: Address,
        #[source]
        source: Box<ProviderError>,
        lookup: Box<ProviderError>,
    },
}

impl ApplyError {
    /// The resource the error is about, if it is about one.
    pub fn address(&self) -> Option<&Address> {
        match self {
            ApplyError::Provider { address, .. }
            | ApplyError::StateSave { address, .. }
            | ApplyError::NoProvider { address, .. }
            | ApplyError::NotInBlueprint { address }
            | ApplyError::Unresolved { address, .. }
            | ApplyError::Taken { address, .. }
            | ApplyError::OutcomeUnknown { address, .. } => Some(address),
            ApplyError::State { .. } | ApplyError::Cycle { .. } => None,
        }
    }
}
