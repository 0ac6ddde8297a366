//! Consistency checks run on every state loaded and before every state written: one
//! entry per address, dependencies that exist, kinds that match their addresses.

use std::collections::BTreeSet;

use crate::model::Address;

use super::format::State;

/// What is wrong with a state's contents (its JSON parsed, but it makes no sense).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("resource `{0}` appears more than once")]
    DuplicateAddress(Address),
    #[error("resource `{address}` depends on `{dependency}`, which is not in the state")]
    UnknownDependency {
        address: Address,
        dependency: Address,
    },
    #[error("{section} entry `{address}` has kind `{kind}`, but its address says `{}`", .address.kind())]
    KindMismatch {
        section: &'static str,
        address: Address,
        kind: String,
    },
    #[error("pending {operation} of `{address}` appears more than once")]
    DuplicatePending { address: Address, operation: String },
    #[error("resource `{address}` has an empty physical id")]
    EmptyId { address: Address },
}

/// Checks `state`; the first problem found (in address order) is returned.
pub fn validate(state: &State) -> Result<(), ValidationError> {
    let mut seen = BTreeSet::new();
    for r in &state.resources {
        if !seen.insert(&r.address) {
            return Err(ValidationError::DuplicateAddress(r.address.clone()));
        }
    }
    for r in &state.resources {
        check_kind("resources", &r.address, &r.kind)?;
        if r.id.is_empty() {
            return Err(ValidationError::EmptyId {
                address: r.address.clone(),
            });
        }
        if let Some(dep) = r.dependencies.iter().find(|d| !seen.contains(d)) {
            return Err(ValidationError::UnknownDependency {
                address: r.address.clone(),
                dependency: dep.clone(),
            });
        }
    }
    for r in &state.deposed {
        check_kind("deposed", &r.address, &r.kind)?;
    }
    for f in &state.forgotten {
        check_kind("forgotten", &f.address, &f.kind)?;
    }
    let mut pending = BTreeSet::new();
    for p in &state.pending {
        check_kind("pending", &p.address, &p.kind)?;
        if !pending.insert((&p.address, p.operation)) {
            return Err(ValidationError::DuplicatePending {
                address: p.address.clone(),
                operation: p.operation.to_string(),
            });
        }
    }
    Ok(())
}

fn check_kind(section: &'static str, address: &Address, kind: &str) -> Result<(), ValidationError> {
    if address.kind() == kind {
        Ok(())
    } else {
        Err(ValidationError::KindMismatch {
            section,
            address: address.clone(),
            kind: kind.to_string(),
        })
    }
}
