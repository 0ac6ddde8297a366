//! The executor: carries a [`Plan`](crate::plan::Plan) out through the providers, in
//! parallel and in dependency order, saving each call as pending before it is made and
//! its outcome after (through the single [`StateWriter`](crate::state::StateWriter)); and
//! crash recovery of pending operations a killed run left behind.

mod error;
mod graph;
mod job;
mod observe;
mod recover;
mod run;
mod uncertain;

pub use error::ApplyError;
pub use graph::{build as operation_graph, OpGraph, OpKey, Step};
pub use observe::{ApplyObserver, ObserverProgress, SilentObserver};
pub use recover::{recover_pending, Recovered, RecoveryReport, Resolution};
pub use run::{apply, ApplyOptions, ApplyReport, Completed};
