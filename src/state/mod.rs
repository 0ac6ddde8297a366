//! The state of a stack: its format, and its safe persistence (atomic writes, backup,
//! lock, validation, and the single writer task that applies results during a run).

mod error;
mod format;
mod lock;
mod store;
mod validate;
pub mod writer;

pub use error::StateError;
pub use format::{Operation, PendingOperation, ResourceState, State, STATE_VERSION};
pub use lock::{hostname, pid_alive, LockInfo, StateLock};
pub use store::StateStore;
pub use validate::{validate, ValidationError};
pub use writer::{Outcome, StateWriter};

#[cfg(test)]
mod tests;
