//! Before planning, looks for objects that already exist for resources of the blueprint
//! the state lacks (a lost or restored state, a resource made by an earlier nova whose
//! state entry was dropped): each provider's `find_existing` (exact ownership tags, or the
//! natural key for kinds without tags), then a `read` of what it found. The planner turns
//! them into imports instead of creates; like a refresh, this gathers inputs and the plan
//! itself stays pure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::RefreshError;
use crate::graph::Graph;
use crate::model::{Address, Blueprint, Inputs, Outputs, Reference, Resource, Value};
use crate::plan::Existing;
use crate::provider::{Observed, OpContext, Progress, ProviderError, Providers, ResourceProvider};
use crate::state::State;

/// What the lookups know: the state, what the refresh read, and what was found so far.
pub struct Known<'a> {
    pub state: &'a State,
    pub observed: Option<&'a BTreeMap<Address, Observed>>,
}

/// Looks up every resource of `blueprint` that the state lacks (only those in `wanted`,
/// when given), dependencies first, with its references resolved from the state or from
/// what an earlier lookup found. Objects the state
/// already holds under another address, or that `nova state rm` forgot, are never
/// returned. At most `parallelism` provider calls at once.
pub async fn find_existing(
    stack: &str,
    blueprint: &Blueprint,
    known: &Known<'_>,
    wanted: Option<&BTreeSet<Address>>,
    providers: &Providers,
    parallelism: usize,
    progress: Arc<dyn Progress>,
) -> Result<BTreeMap<Address, Existing>, RefreshError> {
    let mut found = BTreeMap::new();
    let missing: Vec<&Resource> = candidates(blueprint, known.state, wanted);
    if missing.is_empty() {
        return Ok(found);
    }
    // A broken graph is the planner's to report, with its own message.
    let Ok(order) = Graph::from_blueprint(blueprint).and_then(|g| g.topological_order()) else {
        return Ok(found);
    };
    let mut settled: BTreeSet<Address> = blueprint
        .resources
        .iter()
        .map(|r| r.address.clone())
        .filter(|a| !missing.iter().any(|m| &m.address == a))
        .collect();
    let mut left: Vec<&Resource> = order
        .iter()
        .filter_map(|a| missing.iter().find(|m| &m.address == a).copied())
        .collect();
    let permits = Arc::new(Semaphore::new(parallelism.max(1)));
    while !left.is_empty() {
        let (wave, later): (Vec<&Resource>, Vec<&Resource>) = left
            .into_iter()
            .partition(|r| r.dependencies().iter().all(|d| settled.contains(d)));
        if wave.is_empty() {
            break;
        }
        let mut lookups = JoinSet::new();
        for resource in &wave {
            let Some(inputs) = resolved(resource, known, &found) else {
                continue;
            };
            let provider = providers.get(resource.address.kind()).ok_or_else(|| {
                RefreshError::MissingProvider {
                    address: resource.address.clone(),
                    kind: resource.address.kind().to_string(),
                }
            })?;
            let ctx = OpContext {
                stack: stack.to_string(),
                address: resource.address.clone(),
                client_token: String::new(),
                known_ids: Vec::new(),
                progress: progress.clone(),
            };
            let (provider, permits) = (provider.clone(), permits.clone());
            lookups.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let result = look_up(provider.as_ref(), &ctx, &inputs).await;
                (ctx.address, result)
            });
        }
        let mut first_error: Option<RefreshError> = None;
        while let Some(joined) = lookups.join_next().await {
            let (address, result) = joined.expect("lookup task panicked");
            match result {
                Ok(Some(existing)) if !is_taken(known.state, &existing.id) => {
                    found.insert(address, existing);
                }
                Ok(_) => {}
                Err(source) => {
                    let err = RefreshError::Lookup { address, source };
                    if first_error
                        .as_ref()
                        .is_none_or(|e| super::address_of(&err) < super::address_of(e))
                    {
                        first_error = Some(err);
                    }
                }
            }
        }
        if let Some(err) = first_error {
            return Err(err);
        }
        settled.extend(wave.iter().map(|r| r.address.clone()));
        left = later;
    }
    Ok(found)
}

/// The resources of the blueprint the state has no entry for.
fn candidates<'b>(
    blueprint: &'b Blueprint,
    state: &State,
    wanted: Option<&BTreeSet<Address>>,
) -> Vec<&'b Resource> {
    blueprint
        .resources
        .iter()
        .filter(|r| state.get(&r.address).is_none())
        .filter(|r| wanted.is_none_or(|w| w.contains(&r.address)))
        .collect()
}

/// True when the state already holds the object (under any address) or forgot it.
fn is_taken(state: &State, id: &str) -> bool {
    state.resources.iter().any(|r| r.id == id) || state.is_forgotten(id)
}

/// `resource`'s inputs with every reference resolved that can be: a field whose target
/// neither exists in the state nor was found is left out (a provider that needs it to
/// find the object cannot, and says so with an invalid-input error). `None` when no field
/// is known at all.
fn resolved(
    resource: &Resource,
    known: &Known<'_>,
    found: &BTreeMap<Address, Existing>,
) -> Option<Inputs> {
    let outputs_of = |address: &Address| -> Option<&Outputs> {
        match known.observed.and_then(|o| o.get(address)) {
            Some(Observed::Present { outputs, .. }) => Some(outputs),
            Some(Observed::Gone) => None,
            None => known
                .state
                .get(address)
                .map(|r| &r.outputs)
                .or_else(|| found.get(address).map(|e| &e.outputs)),
        }
    };
    let lookup = |r: &Reference| outputs_of(&r.address)?.get(&r.output).cloned();
    let mut inputs = Inputs::new();
    for (field, value) in &resource.inputs {
        let value: Value = value.resolve(&lookup);
        if value.is_known() {
            inputs.insert(field.clone(), value);
        }
    }
    (!inputs.is_empty() || resource.inputs.is_empty()).then_some(inputs)
}

/// `find_existing`, then a read of what it found (its live inputs, for the plan's diff).
async fn look_up(
    provider: &dyn ResourceProvider,
    ctx: &OpContext,
    inputs: &Inputs,
) -> Result<Option<Existing>, ProviderError> {
    let created = match provider.find_existing(ctx, inputs).await {
        Ok(Some(created)) => created,
        Ok(None) => return Ok(None),
        // It needs a field that is not known yet (its parent is to be created): nothing
        // can be found.
        Err(ProviderError::InvalidInput { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    match provider.read(ctx, &created.id, inputs).await? {
        Observed::Gone => Ok(None),
        Observed::Present { inputs, outputs } => Ok(Some(Existing {
            id: created.id,
            inputs,
            outputs,
        })),
    }
}
