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
}

impl ApplyError {
    /// The resource the error is about, if it is about one.
    pub fn address(&self) -> Option<&Address> {
        match self {
            ApplyError::Provider { address, .. }
            | ApplyError::StateSave { address, .. }
            | ApplyError::NoProvider { address, .. }
            | ApplyError::NotInBlueprint { address }
            | ApplyError::Unresolved { address, .. } => Some(address),
            ApplyError::State { .. } | ApplyError::Cycle { .. } => None,
        }
    }
}
