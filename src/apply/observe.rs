//! How an apply reports progress as it goes: started, finished, skipped, notes.

use std::sync::Arc;
use std::time::Duration;

use crate::model::Address;
use crate::provider::Progress;

use super::error::ApplyError;

/// Receives events of an apply as they happen (from several tasks at once).
pub trait ApplyObserver: Send + Sync {
    /// A provider call is about to be made; `what` is "create", "update", "delete", ...
    fn started(&self, address: &Address, what: &str);
    fn finished(
        &self,
        address: &Address,
        what: &str,
        elapsed: Duration,
        error: Option<&ApplyError>,
    );
    /// `address` will not be changed because `upstream` failed.
    fn skipped(&self, address: &Address, upstream: &Address);
    /// Anything else worth showing (what a long call waits for, a skipped no-op call).
    fn note(&self, address: &Address, message: &str);
}

/// An observer that ignores everything.
pub struct SilentObserver;

impl ApplyObserver for SilentObserver {
    fn started(&self, _: &Address, _: &str) {}
    fn finished(&self, _: &Address, _: &str, _: Duration, _: Option<&ApplyError>) {}
    fn skipped(&self, _: &Address, _: &Address) {}
    fn note(&self, _: &Address, _: &str) {}
}

/// Lets an [`ApplyObserver`] receive providers' progress notes.
pub struct ObserverProgress(pub Arc<dyn ApplyObserver>);

impl Progress for ObserverProgress {
    fn note(&self, address: &Address, message: &str) {
        self.0.note(address, message);
    }
}
