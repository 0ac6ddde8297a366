//! The state of a stack: its format, validation, the backends that keep it (a local file,
//! or S3 for a team: `backend`), their locks, and the single writer task that applies
//! results during a run.

pub mod backend;
mod codec;
pub mod edit;
mod error;
mod format;
mod location;
mod lock;
mod store;
mod validate;
pub mod writer;

pub use backend::{Backend, LockGuard, Replaced, S3Usage, StateBackend, Usage, Version};
pub use codec::{decode, encode_next};
pub use error::{Kept, S3Failure, StateError};
pub use format::{
    ForgottenObject, Operation, PendingOperation, ResourceState, State, STATE_VERSION,
};
pub use location::{Location, Restore};
pub use lock::{hostname, pid_alive, username, LockInfo, StateLock};
pub use store::StateStore;
pub use validate::{validate, ValidationError};
pub use writer::{Outcome, StateWriter};

#[cfg(test)]
mod tests;
