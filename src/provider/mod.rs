//! The contract between the engine and the resource implementations: one
//! [`ResourceProvider`] per resource kind, collected in [`Providers`].
//!
//! The engine never talks to AWS itself; it calls these methods. The AWS implementations
//! live in [`aws`], one module per service; tests use in-memory fakes.

pub mod aws;
pub mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::model::{Address, Inputs, Outputs};

pub use schema::{Field, FieldType, Schema};

/// Where a provider reports what a long operation is waiting for.
pub trait Progress: Send + Sync {
    fn note(&self, address: &Address, message: &str);
}

/// A [`Progress`] that drops every note.
pub struct SilentProgress;

impl Progress for SilentProgress {
    fn note(&self, _address: &Address, _message: &str) {}
}

/// Everything a provider call knows about the resource it acts on.
#[derive(Clone)]
pub struct OpContext {
    pub stack: String,
    pub address: Address,
    /// Idempotency token for APIs that take one (RunInstances, CreateNatGateway): the same
    /// token is reused when a create is retried after a crash. At most 64 ASCII characters.
    pub client_token: String,
    /// The ids this address already has in the state (its current object, deposed ones):
    /// a search for what an interrupted create made passes over them, so the old object of
    /// a create-before-destroy replacement is never taken for the new one.
    pub known_ids: Vec<String>,
    pub progress: Arc<dyn Progress>,
}

impl OpContext {
    pub fn note(&self, message: &str) {
        self.progress.note(&self.address, message);
    }

    /// True when `id` is one of [`OpContext::known_ids`].
    pub fn is_known(&self, id: &str) -> bool {
        self.known_ids.iter().any(|k| k == id)
    }
}

impl fmt::Debug for OpContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpContext")
            .field("stack", &self.stack)
            .field("address", &self.address)
            .field("client_token", &self.client_token)
            .finish_non_exhaustive()
    }
}

/// A newly created (or adopted) resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The provider's physical id (vpc-..., an ARN, a name: whatever `read`/`delete` need).
    pub id: String,
    pub outputs: Outputs,
}

/// What `read` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The resource no longer exists (deleted out of band).
    Gone,
    /// The resource exists. `inputs` holds its live attributes in the shape of its inputs
    /// (fields the API cannot read back are copied from what was applied); `outputs` its
    /// current outputs.
    Present { inputs: Inputs, outputs: Outputs },
}

/// The object a delete acts on, as the state records it: its id, the inputs it was last
/// applied with, and its outputs. A provider takes what it needs (`let Recorded { id, .. }
/// = object;`), and nova can tell it more without changing every provider.
#[derive(Clone, Copy, Debug)]
pub struct Recorded<'a> {
    pub id: &'a str,
    pub inputs: &'a Inputs,
    pub outputs: &'a Outputs,
}

/// An in-place change of the object `id`: from the `old` inputs to the `new` ones (which
/// differ only in fields that are not force-new); `outputs` are its outputs before.
#[derive(Clone, Copy, Debug)]
pub struct Update<'a> {
    pub id: &'a str,
    pub old: &'a Inputs,
    pub new: &'a Inputs,
    pub outputs: &'a Outputs,
}

impl Created {
    /// The made object as the state records it, with the inputs it was made (or last
    /// changed) with: what a delete of it is given.
    pub fn recorded<'a>(&'a self, inputs: &'a Inputs) -> Recorded<'a> {
        Recorded {
            id: &self.id,
            inputs,
            outputs: &self.outputs,
        }
    }

    /// An in-place change of the made object from `old` to `new`.
    pub fn change<'a>(&'a self, old: &'a Inputs, new: &'a Inputs) -> Update<'a> {
        Update {
            id: &self.id,
            old,
            new,
            outputs: &self.outputs,
        }
    }
}

/// One resource of a [`ResourceProvider::read_batch`]: what a `read` of it is given.
#[derive(Clone, Debug)]
pub struct ReadRequest {
    pub ctx: OpContext,
    pub id: String,
    pub applied: Inputs,
}

/// What a failed AWS call says about whether AWS carried it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// AWS answered and refused the request (a client error other than throttling), or it
    /// was never sent: nothing was done.
    Refused,
    /// AWS throttled the request: nothing was done, and it may simply be sent again.
    Throttled,
    /// The answer was a server error (5xx) or never came back (a timeout, a dropped
    /// connection, an unreadable answer): AWS may or may not have done it. Resolved by
    /// looking for what it made, never by doing it again blind.
    Uncertain,
}

/// AWS error codes that say "it exists already" (or "it is already so"): after a call
/// whose earlier attempt may have gone through, they are a question, not an answer.
pub const ALREADY_EXISTS: &[&str] = &[
    "AlreadyExistsException",
    "ConflictException",
    "EntityAlreadyExists",
    "InvalidGroup.Duplicate",
    "InvalidPermission.Duplicate",
    "InvalidSubnet.Conflict",
    "Resource.AlreadyAssociated",
    "ResourceAlreadyExistsException",
    "ResourceConflictException",
    "RouteAlreadyExists",
];

/// A failed provider call. The executor adds the resource address.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("AWS {operation} failed: {code}: {message} (request id: {})", request_id.as_deref().unwrap_or("none"))]
    Aws {
        operation: String,
        code: String,
        message: String,
        request_id: Option<String>,
        outcome: CallOutcome,
    },
    #[error("invalid input `{field}`: {reason}")]
    InvalidInput { field: String, reason: String },
    #[error("gave up after {waited:?} waiting for {what}")]
    Timeout { what: String, waited: Duration },
    /// A delete that something outside nova's stack keeps from happening.
    #[error("{what} is still used by {}, which will not go away by itself: delete or move that, then run the command again", .blockers.join("; "))]
    Blocked { what: String, blockers: Vec<String> },
    #[error("{0}")]
    Other(String),
}

impl ProviderError {
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        ProviderError::InvalidInput {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    /// The AWS error code, when the error came from AWS.
    pub fn code(&self) -> Option<&str> {
        match self {
            ProviderError::Aws { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            ProviderError::Aws { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// An AWS error that AWS itself refused with (a client error, or never sent).
    pub fn refused(operation: &str, code: &str, message: impl Into<String>) -> Self {
        ProviderError::Aws {
            operation: operation.to_string(),
            code: code.to_string(),
            message: message.into(),
            request_id: None,
            outcome: CallOutcome::Refused,
        }
    }

    /// True when AWS may have carried out the failed call (see [`CallOutcome::Uncertain`]).
    pub fn is_uncertain(&self) -> bool {
        matches!(
            self,
            ProviderError::Aws {
                outcome: CallOutcome::Uncertain,
                ..
            }
        )
    }

    /// True when AWS throttled the call (nothing was done).
    pub fn is_throttled(&self) -> bool {
        matches!(
            self,
            ProviderError::Aws {
                outcome: CallOutcome::Throttled,
                ..
            }
        )
    }

    /// True when AWS said what the call would make exists already ([`ALREADY_EXISTS`]).
    pub fn is_already_exists(&self) -> bool {
        self.code().is_some_and(|c| ALREADY_EXISTS.contains(&c))
    }
}

/// One resource kind's implementation. Every method must be safe to repeat: `delete` of
/// something already gone succeeds, `create` with the same client token makes at most one.
#[async_trait]
pub trait ResourceProvider: Send + Sync {
    fn schema(&self) -> &Schema;

    /// Creates the resource and waits until it is usable.
    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError>;

    /// Reads the live resource: [`Observed::Gone`] if it no longer exists.
    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError>;

    /// True when [`ResourceProvider::read_batch`] reads several resources of this kind in
    /// fewer calls than one each (EC2's Describe* calls take many ids): a refresh then hands
    /// it all of the kind's resources at once.
    fn reads_in_batches(&self) -> bool {
        false
    }

    /// Reads every resource of `reads` (all of this kind): one result per read, in order.
    /// The default reads them one after the other.
    async fn read_batch(&self, reads: &[ReadRequest]) -> Result<Vec<Observed>, ProviderError> {
        let mut observed = Vec::with_capacity(reads.len());
        for read in reads {
            observed.push(self.read(&read.ctx, &read.id, &read.applied).await?);
        }
        Ok(observed)
    }

    /// Changes the resource in place from `old` to `new` (which differ only in fields not
    /// in `force_new`) and returns its outputs afterwards.
    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError>;

    /// Deletes the resource and waits until it is gone (or, for KMS keys, scheduled).
    async fn delete(&self, ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError>;

    /// Finds a resource that an interrupted create may have made, by its ownership tags
    /// (`nova:stack` = `ctx.stack`, `nova:address` = `ctx.address`) or, for kinds without
    /// tags, by its natural key in `inputs`. Used for crash recovery.
    async fn find_existing(
        &self,
        ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError>;

    /// A note shown in the plan when this resource is deleted (e.g. "scheduled for deletion
    /// in 7 days").
    fn delete_note(&self, _inputs: &Inputs) -> Option<String> {
        None
    }

    /// A note shown in the plan when this resource is updated in place from `old` to `new`
    /// (e.g. "will be stopped and started"): a pure function of the inputs.
    fn update_note(&self, _old: &Inputs, _new: &Inputs) -> Option<String> {
        None
    }
}

/// The providers known to a run, by resource kind.
#[derive(Clone, Default)]
pub struct Providers {
    by_kind: BTreeMap<String, Arc<dyn ResourceProvider>>,
}

impl Providers {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, provider: Arc<dyn ResourceProvider>) {
        self.by_kind
            .insert(provider.schema().kind.to_string(), provider);
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn ResourceProvider>> {
        self.by_kind.get(kind)
    }

    pub fn schemas(&self) -> Schemas {
        self.by_kind
            .iter()
            .map(|(k, p)| (k.clone(), p.schema().clone()))
            .collect()
    }

    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.by_kind.keys().map(String::as_str)
    }
}

/// Schemas by resource kind: all the planner needs to know about providers.
pub type Schemas = BTreeMap<String, Schema>;
