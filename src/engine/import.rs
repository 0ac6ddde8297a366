//! `nova import ADDRESS ID`: adopt an object that already exists as a resource of the
//! stack. The object is read through the provider of the address's kind (so an id of
//! another kind is refused: there is no such object of this kind), checked not to belong
//! to another stack or to another address of this one, and recorded in the state as it
//! is. Nothing changes in AWS: the next `nova up` adds nova's ownership tags with whatever
//! else differs from the configuration, which [`Imported::next`] shows now.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{ContextSource, EngineError, Run};
use crate::apply::ObserverProgress;
use crate::model::{Address, Inputs, Reference, Value};
use crate::plan::{self, Change, PlanInput, PlanOptions};
use crate::provider::aws::tags::{tags_of, TAG_STACK};
use crate::provider::{Observed, OpContext, ProviderError};
use crate::stack;
use crate::state::{Backend, ResourceState, State};

/// Why an import was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{address} is already in the state of stack `{stack}` (id {id}); to adopt another object there, forget this one first with `nova state rm {address}`")]
    AlreadyManaged {
        address: Address,
        stack: String,
        id: String,
    },
    #[error("{id} is already in the state of stack `{stack}`, as {other}: one object is managed at one address (use `nova state mv {other} {address}` to move it)")]
    AlreadyInState {
        address: Address,
        id: String,
        stack: String,
        other: Address,
    },
    #[error("{address} is not a resource of the configuration of stack `{stack}`{}; nova imports only what the configuration defines (see `nova graph`)", suggestions(.same_kind))]
    NotConfigured {
        address: Address,
        stack: String,
        /// The configuration's addresses of the same kind, sorted.
        same_kind: Vec<Address>,
    },
    #[error("an operation of an interrupted run is pending on {address}; run `nova up` first to resolve it")]
    Pending { address: Address },
    #[error("no {kind} with id `{id}` exists (for {address}): the id must be of the kind the address names")]
    NotFound {
        address: Address,
        kind: String,
        id: String,
    },
    #[error("cannot read {kind} `{id}` for {address} (is it the id of a {kind}?): {source}")]
    Read {
        address: Address,
        kind: String,
        id: String,
        #[source]
        source: ProviderError,
    },
    #[error("{kind} `{id}` belongs to nova stack `{owner}` (its `nova:stack` tag): importing it into stack `{stack}` would let two stacks manage one object")]
    OwnedByAnotherStack {
        kind: String,
        id: String,
        owner: String,
        stack: String,
    },
}

fn suggestions(same_kind: &[Address]) -> String {
    if same_kind.is_empty() {
        return String::new();
    }
    let list: Vec<String> = same_kind.iter().map(Address::to_string).collect();
    format!(" (its resources of that kind: {})", list.join(", "))
}

/// What an import recorded, and what the next plan does with it.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The new state entry.
    pub object: ResourceState,
    /// The resource's change in a plan made right after (no-op, an in-place update, or a
    /// replacement).
    pub next: Change,
    /// The serial the state was written as.
    pub serial: u64,
}

/// Imports `id` at `address` into `state` and writes it through `store` (the caller holds
/// the lock). Every refusal happens before anything is written.
pub async fn import(
    run: &Run<'_>,
    store: &Backend,
    mut state: State,
    address: &Address,
    id: &str,
    context: &dyn ContextSource,
) -> Result<Imported, EngineError> {
    let refuse = |e: ImportError| EngineError::Import(Box::new(e));
    if let Some(existing) = state.get(address) {
        return Err(refuse(ImportError::AlreadyManaged {
            address: address.clone(),
            stack: run.stack.to_string(),
            id: existing.id.clone(),
        }));
    }
    if state.pending.iter().any(|p| &p.address == address) {
        return Err(refuse(ImportError::Pending {
            address: address.clone(),
        }));
    }
    if let Some(other) = state.resources.iter().find(|r| r.id == id) {
        return Err(refuse(ImportError::AlreadyInState {
            address: address.clone(),
            id: id.to_string(),
            stack: run.stack.to_string(),
            other: other.address.clone(),
        }));
    }
    let context = context.context(run.config, &state).await?;
    let blueprint = stack::blueprint(run.config, &context);
    let Some(resource) = blueprint.get(address) else {
        return Err(refuse(ImportError::NotConfigured {
            address: address.clone(),
            stack: run.stack.to_string(),
            same_kind: blueprint
                .resources
                .iter()
                .filter(|r| r.address.kind() == address.kind())
                .map(|r| r.address.clone())
                .collect(),
        }));
    };
    let kind = address.kind().to_string();
    let provider = run.providers.get(&kind).ok_or_else(|| {
        refuse(ImportError::NotFound {
            address: address.clone(),
            kind: kind.clone(),
            id: id.to_string(),
        })
    })?;
    let ctx = OpContext {
        stack: run.stack.to_string(),
        address: address.clone(),
        client_token: String::new(),
        known_ids: Vec::new(),
        progress: Arc::new(ObserverProgress(run.observer.clone())),
    };
    let applied = known_inputs(&resource.inputs, &state);
    let observed = provider.read(&ctx, id, &applied).await.map_err(|source| {
        refuse(ImportError::Read {
            address: address.clone(),
            kind: kind.clone(),
            id: id.to_string(),
            source,
        })
    })?;
    let Observed::Present { inputs, outputs } = observed else {
        return Err(refuse(ImportError::NotFound {
            address: address.clone(),
            kind,
            id: id.to_string(),
        }));
    };
    if let Some(owner) = tags_of(&inputs).get(TAG_STACK) {
        if owner != run.stack {
            return Err(refuse(ImportError::OwnedByAnotherStack {
                kind,
                id: id.to_string(),
                owner: owner.clone(),
                stack: run.stack.to_string(),
            }));
        }
    }
    let object = ResourceState {
        address: address.clone(),
        kind,
        id: id.to_string(),
        inputs: inputs.clone(),
        outputs: outputs.clone(),
        dependencies: resource
            .dependencies()
            .into_iter()
            .filter(|d| state.get(d).is_some())
            .collect(),
    };
    state.forgotten.retain(|f| f.id != id);
    state.upsert(object.clone());
    let observed: BTreeMap<Address, Observed> =
        [(address.clone(), Observed::Present { inputs, outputs })].into();
    let preview = plan::plan_with(
        &PlanInput {
            stack: run.stack,
            blueprint: &blueprint,
            state: &state,
            observed: Some(&observed),
            schemas: &run.providers.schemas(),
            notes: run.providers,
        },
        &PlanOptions::default(),
        &BTreeMap::new(),
    )?;
    let next = preview
        .change(address)
        .cloned()
        .expect("a planned resource has a change");
    store.write_next(&state).await?;
    Ok(Imported {
        object,
        next,
        serial: state.serial + 1,
    })
}

/// The desired inputs that are known from the state alone (references to resources the
/// state has, resolved): what a provider's read copies for fields it cannot read back.
fn known_inputs(desired: &Inputs, state: &State) -> Inputs {
    let lookup = |r: &Reference| state.get(&r.address)?.outputs.get(&r.output).cloned();
    desired
        .iter()
        .map(|(field, value)| (field.clone(), value.resolve(&lookup)))
        .filter(|(_, value): &(String, Value)| value.is_known())
        .collect()
}
