//! One operation carried out: save the pending operation, make the provider call, record
//! the outcome. Each job owns everything it needs so it can run as its own task.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::model::{Address, Inputs};
use crate::provider::{OpContext, ResourceProvider};
use crate::state::{Operation, Outcome, PendingOperation, ResourceState, StateWriter};

use super::error::ApplyError;
use super::observe::{ApplyObserver, ObserverProgress};
use super::uncertain::{self, CreateError};
use crate::provider::Update;

/// What a job does.
pub(crate) enum Work {
    Create {
        inputs: Inputs,
        dependencies: BTreeSet<Address>,
    },
    Update {
        old: ResourceState,
        inputs: Inputs,
        dependencies: BTreeSet<Address>,
    },
    /// Delete `old` (the object when the apply started, or a deposed one).
    Delete { old: ResourceState },
}

/// What a finished job produced.
pub(crate) enum Done {
    /// The object now at the address (created, updated, or unchanged).
    Present(ResourceState),
    /// The object with this id is gone.
    Deleted(String),
    /// Nothing needed doing.
    Nothing,
}

/// A successful job: what it produced and whether a provider call was made.
pub(crate) struct Finished {
    pub done: Done,
    pub call_made: bool,
    pub elapsed: Duration,
}

pub(crate) struct Job {
    pub address: Address,
    /// The ids this address already has in the state (see [`OpContext::known_ids`]).
    pub known_ids: Vec<String>,
    pub what: String,
    pub lineage: String,
    pub stack: String,
    pub provider: Arc<dyn ResourceProvider>,
    pub writer: StateWriter,
    pub observer: Arc<dyn ApplyObserver>,
    pub work: Work,
}

impl Job {
    pub async fn run(self) -> Result<Finished, ApplyError> {
        let start = Instant::now();
        let result = self.execute().await;
        let elapsed = start.elapsed();
        match &result {
            Ok((_, call_made)) if !call_made => {}
            Ok(_) => self
                .observer
                .finished(&self.address, &self.what, elapsed, None),
            Err(e) => self
                .observer
                .finished(&self.address, &self.what, elapsed, Some(e)),
        }
        result.map(|(done, call_made)| Finished {
            done,
            call_made,
            elapsed,
        })
    }

    async fn execute(&self) -> Result<(Done, bool), ApplyError> {
        match &self.work {
            Work::Create {
                inputs,
                dependencies,
            } => self.create(inputs, dependencies).await,
            Work::Update {
                old,
                inputs,
                dependencies,
            } => self.update(old, inputs, dependencies).await,
            Work::Delete { old } => self.delete(old).await,
        }
    }

    async fn create(
        &self,
        inputs: &Inputs,
        dependencies: &BTreeSet<Address>,
    ) -> Result<(Done, bool), ApplyError> {
        let ctx = self
            .begin(Operation::Create, None, inputs, dependencies)
            .await?;
        match uncertain::create(self.provider.as_ref(), &ctx, inputs).await {
            Ok(created) => {
                let resource = ResourceState {
                    address: self.address.clone(),
                    kind: self.address.kind().to_string(),
                    id: created.id,
                    inputs: inputs.clone(),
                    outputs: created.outputs,
                    dependencies: dependencies.clone(),
                };
                self.writer.record(Outcome::Created(resource.clone())).await;
                Ok((Done::Present(resource), true))
            }
            Err(CreateError::Failed(e)) => Err(self.failed(Operation::Create, e).await),
            Err(CreateError::Taken(e)) => {
                self.writer
                    .record(Outcome::Failed(self.address.clone(), Operation::Create))
                    .await;
                Err(ApplyError::Taken {
                    address: self.address.clone(),
                    source: Box::new(e),
                })
            }
            // The pending operation stays: the next run's recovery looks again.
            Err(CreateError::Unknown { call, lookup }) => Err(ApplyError::OutcomeUnknown {
                address: self.address.clone(),
                source: Box::new(call),
                lookup: Box::new(lookup),
            }),
        }
    }

    async fn update(
        &self,
        old: &ResourceState,
        inputs: &Inputs,
        dependencies: &BTreeSet<Address>,
    ) -> Result<(Done, bool), ApplyError> {
        if inputs == &old.inputs {
            let mut same = old.clone();
            same.dependencies = dependencies.clone();
            if same.dependencies != old.dependencies {
                self.writer.record(Outcome::Updated(same.clone())).await;
            }
            self.observer.note(
                &self.address,
                "no update needed: inputs equal the applied ones once references are resolved",
            );
            return Ok((Done::Present(same), false));
        }
        let ctx = self
            .begin(Operation::Update, Some(&old.id), inputs, dependencies)
            .await?;
        match self
            .provider
            .update(
                &ctx,
                Update {
                    id: &old.id,
                    old: &old.inputs,
                    new: inputs,
                    outputs: &old.outputs,
                },
            )
            .await
        {
            Ok(outputs) => {
                let resource = ResourceState {
                    address: self.address.clone(),
                    kind: old.kind.clone(),
                    id: old.id.clone(),
                    inputs: inputs.clone(),
                    outputs,
                    dependencies: dependencies.clone(),
                };
                self.writer.record(Outcome::Updated(resource.clone())).await;
                Ok((Done::Present(resource), true))
            }
            Err(e) => Err(self.failed(Operation::Update, e).await),
        }
    }

    async fn delete(&self, old: &ResourceState) -> Result<(Done, bool), ApplyError> {
        let ctx = self
            .begin(
                Operation::Delete,
                Some(&old.id),
                &old.inputs,
                &old.dependencies,
            )
            .await?;
        match uncertain::delete(
            self.provider.as_ref(),
            &ctx,
            &old.id,
            &old.inputs,
            &old.outputs,
        )
        .await
        {
            Ok(()) => {
                self.writer
                    .record(Outcome::Deleted {
                        address: self.address.clone(),
                        id: old.id.clone(),
                    })
                    .await;
                Ok((Done::Deleted(old.id.clone()), true))
            }
            Err(e) => Err(self.failed(Operation::Delete, e).await),
        }
    }

    /// Saves the pending operation (durably) and returns the context for the call.
    async fn begin(
        &self,
        operation: Operation,
        id: Option<&str>,
        inputs: &Inputs,
        dependencies: &BTreeSet<Address>,
    ) -> Result<OpContext, ApplyError> {
        let client_token = client_token(&self.lineage, &self.address, operation);
        let pending = PendingOperation {
            address: self.address.clone(),
            kind: self.address.kind().to_string(),
            operation,
            id: id.map(str::to_string),
            inputs: inputs.clone(),
            dependencies: dependencies.clone(),
            client_token: client_token.clone(),
            started_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        };
        self.writer
            .begin(pending)
            .await
            .map_err(|source| ApplyError::StateSave {
                address: self.address.clone(),
                operation,
                source: Box::new(source),
            })?;
        self.observer.started(&self.address, &self.what);
        let mut ctx = context(&self.stack, &self.address, client_token, &self.observer);
        ctx.known_ids = self.known_ids.clone();
        Ok(ctx)
    }

    async fn failed(
        &self,
        operation: Operation,
        source: crate::provider::ProviderError,
    ) -> ApplyError {
        self.writer
            .record(Outcome::Failed(self.address.clone(), operation))
            .await;
        ApplyError::Provider {
            address: self.address.clone(),
            operation,
            source: Box::new(source),
        }
    }
}

/// The context of a provider call.
pub(crate) fn context(
    stack: &str,
    address: &Address,
    client_token: String,
    observer: &Arc<dyn ApplyObserver>,
) -> OpContext {
    OpContext {
        stack: stack.to_string(),
        address: address.clone(),
        client_token,
        known_ids: Vec::new(),
        progress: Arc::new(ObserverProgress(observer.clone())),
    }
}

/// A fresh idempotency token for one pending operation: `nova-` and 40 hex digits of a
/// hash of the lineage, address, operation and a random nonce (45 ASCII characters).
pub(crate) fn client_token(lineage: &str, address: &Address, operation: Operation) -> String {
    let nonce = uuid::Uuid::new_v4();
    let digest = Sha256::digest(format!("{lineage}/{address}/{operation}/{nonce}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("nova-{}", &hex[..40])
}
