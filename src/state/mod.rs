//! The state of a stack: its format, and its safe persistence (atomic writes, backup,
//! lock, validation, and the single writer task that applies results during a run).

mod format;

pub use format::{Operation, PendingOperation, ResourceState, State, STATE_VERSION};
