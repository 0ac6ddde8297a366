//! Crash recovery: resolves the pending operations a killed run left in the state, by
//! asking the provider what actually happened. Never creates anything.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use crate::model::Address;
use crate::provider::{Observed, Providers, ResourceProvider};
use crate::state::{Operation, Outcome, PendingOperation, ResourceState, State, StateWriter};

use super::error::ApplyError;
use super::job::context;
use super::observe::ApplyObserver;

/// What a pending operation turned out to have done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The interrupted create had made the object: it is now in the state.
    Adopted { id: String },
    /// The interrupted create had made nothing.
    NeverCreated,
    /// The object of an interrupted update was read back and stored.
    Refreshed,
    /// The object of an interrupted update or delete no longer exists: removed from state.
    Gone,
    /// The object of an interrupted delete still exists: kept in the state.
    StillPresent,
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resolution::Adopted { id } => write!(f, "it had been created ({id}): adopted"),
            Resolution::NeverCreated => write!(f, "nothing had been created"),
            Resolution::Refreshed => write!(f, "read back and stored"),
            Resolution::Gone => write!(f, "it no longer exists: removed from the state"),
            Resolution::StillPresent => write!(f, "it still exists: kept in the state"),
        }
    }
}

/// One resolved pending operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub address: Address,
    pub operation: Operation,
    pub resolution: Resolution,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// In the order resolved: creates and updates (by address), then deletes.
    pub recovered: Vec<Recovered>,
}

/// Resolves every pending operation in `state` (which must be the writer's state) and
/// flushes the writer. On a provider error the operations resolved so far are saved and
/// the rest stay pending; the caller must stop (planning on top would be unsafe).
pub async fn recover_pending(
    state: &State,
    providers: &Providers,
    writer: &StateWriter,
    observer: Arc<dyn ApplyObserver>,
    stack: &str,
) -> Result<RecoveryReport, ApplyError> {
    let mut ops: Vec<&PendingOperation> = state.pending.iter().collect();
    // Deletes last: removing a resource also drops it from its dependents' dependencies,
    // and adopted creates must not name something removed before them.
    ops.sort_by_key(|p| {
        (
            p.operation == Operation::Delete,
            p.address.clone(),
            p.operation,
        )
    });
    let mut report = RecoveryReport::default();
    let mut result = Ok(());
    for pending in ops {
        let Some(provider) = providers.get(pending.address.kind()) else {
            result = Err(ApplyError::NoProvider {
                address: pending.address.clone(),
                kind: pending.address.kind().to_string(),
            });
            break;
        };
        let recovery = Recovery {
            state,
            provider: provider.as_ref(),
            observer: &observer,
            stack,
            pending,
        };
        match recovery.resolve().await {
            Ok((outcome, resolution)) => {
                observer.note(
                    &pending.address,
                    &format!("interrupted {} recovered: {resolution}", pending.operation),
                );
                writer.record(outcome).await;
                report.recovered.push(Recovered {
                    address: pending.address.clone(),
                    operation: pending.operation,
                    resolution,
                });
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    writer.flush().await.map_err(|source| ApplyError::State {
        source: Box::new(source),
    })?;
    result.map(|()| report)
}

struct Recovery<'a> {
    state: &'a State,
    provider: &'a dyn ResourceProvider,
    observer: &'a Arc<dyn ApplyObserver>,
    stack: &'a str,
    pending: &'a PendingOperation,
}

impl Recovery<'_> {
    async fn resolve(&self) -> Result<(Outcome, Resolution), ApplyError> {
        match self.pending.operation {
            Operation::Create => self.create().await,
            Operation::Update => self.update().await,
            Operation::Delete => self.delete().await,
        }
    }

    fn provider_error(&self, source: crate::provider::ProviderError) -> ApplyError {
        ApplyError::Provider {
            address: self.pending.address.clone(),
            operation: self.pending.operation,
            source: Box::new(source),
        }
    }

    fn resource(&self, id: String, outputs: crate::model::Outputs) -> ResourceState {
        let known: BTreeSet<&Address> = self.state.resources.iter().map(|r| &r.address).collect();
        ResourceState {
            address: self.pending.address.clone(),
            kind: self.pending.kind.clone(),
            id,
            inputs: self.pending.inputs.clone(),
            outputs,
            dependencies: self
                .pending
                .dependencies
                .iter()
                .filter(|d| known.contains(d))
                .cloned()
                .collect(),
        }
    }

    /// The saved client token is reused, so a provider keyed on it finds the same call.
    async fn create(&self) -> Result<(Outcome, Resolution), ApplyError> {
        let p = self.pending;
        let mut ctx = context(
            self.stack,
            &p.address,
            p.client_token.clone(),
            self.observer,
        );
        ctx.known_ids = self.known_ids();
        let found = self
            .provider
            .find_existing(&ctx, &p.inputs)
            .await
            .map_err(|e| self.provider_error(e))?
            .filter(|c| !ctx.is_known(&c.id));
        let existing_id = self.state.get(&p.address).map(|r| r.id.as_str());
        match found {
            // Only the object the address already had (create-before-destroy): the
            // interrupted create is taken to have made nothing.
            Some(c) if Some(c.id.as_str()) == existing_id => Ok((
                Outcome::Failed(p.address.clone(), Operation::Create),
                Resolution::NeverCreated,
            )),
            Some(c) => Ok((
                Outcome::Created(self.resource(c.id.clone(), c.outputs)),
                Resolution::Adopted { id: c.id },
            )),
            None => Ok((
                Outcome::Failed(p.address.clone(), Operation::Create),
                Resolution::NeverCreated,
            )),
        }
    }

    /// The ids the state already has for this address (current and deposed): never what
    /// an interrupted create made.
    fn known_ids(&self) -> Vec<String> {
        let address = &self.pending.address;
        self.state
            .get(address)
            .into_iter()
            .chain(self.state.deposed.iter().filter(|r| &r.address == address))
            .map(|r| r.id.clone())
            .collect()
    }

    fn id(&self) -> Option<String> {
        self.pending
            .id
            .clone()
            .or_else(|| self.state.get(&self.pending.address).map(|r| r.id.clone()))
    }

    /// The object of the pending operation as it is now, with its id; `None` when neither
    /// the operation nor the state has an id for it.
    async fn observe(&self) -> Result<Option<(String, Observed)>, ApplyError> {
        let p = self.pending;
        let Some(id) = self.id() else {
            return Ok(None);
        };
        let ctx = context(
            self.stack,
            &p.address,
            p.client_token.clone(),
            self.observer,
        );
        let observed = self
            .provider
            .read(&ctx, &id, &p.inputs)
            .await
            .map_err(|e| self.provider_error(e))?;
        Ok(Some((id, observed)))
    }

    async fn update(&self) -> Result<(Outcome, Resolution), ApplyError> {
        let address = self.pending.address.clone();
        Ok(match self.observe().await? {
            None => (
                Outcome::Failed(address, Operation::Update),
                Resolution::Gone,
            ),
            Some((id, Observed::Present { outputs, .. })) => (
                Outcome::Updated(self.resource(id, outputs)),
                Resolution::Refreshed,
            ),
            Some((id, Observed::Gone)) => (Outcome::Deleted { address, id }, Resolution::Gone),
        })
    }

    async fn delete(&self) -> Result<(Outcome, Resolution), ApplyError> {
        let address = self.pending.address.clone();
        Ok(match self.observe().await? {
            None => (
                Outcome::Failed(address, Operation::Delete),
                Resolution::Gone,
            ),
            Some((_, Observed::Present { .. })) => (
                Outcome::Failed(address, Operation::Delete),
                Resolution::StillPresent,
            ),
            Some((id, Observed::Gone)) => (Outcome::Deleted { address, id }, Resolution::Gone),
        })
    }
}
