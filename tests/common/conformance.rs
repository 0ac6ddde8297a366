//! The provider conformance run, one for every kind: create; read equals desired;
//! `find_existing` finds it for its own address and not for another; each in-place change
//! applied and read back; a change made behind nova's back (with the raw SDK) shows as
//! drift and an update from the drifted live inputs restores it; delete; read says gone;
//! delete again succeeds. A kind's test file is then its table ([`Case`]: inputs, changes,
//! the out-of-band change) plus what only that kind has.
//!
//! "Equals" is exact: providers return sets sorted and leave out what was not applied.

use std::collections::BTreeSet;
use std::sync::Arc;

use nova::model::{Address, Inputs, Outputs, Value};
use nova::provider::Update;
use nova::provider::{Created, Observed, OpContext, ResourceProvider, SilentProgress};

/// One kind's table.
pub struct Case {
    pub provider: Arc<dyn ResourceProvider>,
    /// The resource under test.
    pub ctx: OpContext,
    /// Another address of the same kind in the same stack: `find_existing` must not take
    /// the resource under test for it (ownership tags). `None` for kinds without tags,
    /// which are found by their natural key in the inputs.
    pub other: Option<OpContext>,
    /// The inputs it is created with.
    pub desired: Inputs,
    /// Inputs after each in-place change, applied in order.
    pub changes: Vec<Inputs>,
}

/// An operation context for `address` in `stack` (client token derived from both).
pub fn ctx(stack: &str, address: &str) -> OpContext {
    let address: Address = address.parse().expect("valid address");
    OpContext {
        stack: stack.to_string(),
        client_token: format!("{stack}-{address}").chars().take(64).collect(),
        address,
        known_ids: Vec::new(),
        progress: Arc::new(SilentProgress),
    }
}

/// The fields where `live` differs from `desired` (for messages; drift is any of them).
pub fn differences(live: &Inputs, desired: &Inputs) -> Vec<String> {
    let fields: BTreeSet<&String> = live.keys().chain(desired.keys()).collect();
    fields
        .into_iter()
        .filter(|f| present(live.get(*f)) != present(desired.get(*f)))
        .map(|f| format!("{f}: live {:?}, desired {:?}", live.get(f), desired.get(f)))
        .collect()
}

/// `None` for an absent or null field.
fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| **v != Value::Null)
}

impl Case {
    fn what(&self) -> String {
        self.ctx.address.to_string()
    }

    /// Reads the resource, which must exist.
    pub async fn read(&self, id: &str, applied: &Inputs) -> (Inputs, Outputs) {
        match self.provider.read(&self.ctx, id, applied).await {
            Ok(Observed::Present { inputs, outputs }) => (inputs, outputs),
            Ok(Observed::Gone) => panic!("{} {id} should exist but read says Gone", self.what()),
            Err(e) => panic!("read of {} {id} failed: {e}", self.what()),
        }
    }

    /// Reads the resource and asserts it is exactly what `applied` says.
    pub async fn assert_reads_as(&self, id: &str, applied: &Inputs, step: &str) -> Outputs {
        let (live, outputs) = self.read(id, applied).await;
        assert!(
            live == *applied,
            "{} {step}: {:#?}",
            self.what(),
            differences(&live, applied)
        );
        outputs
    }

    /// Create; read equals desired (and reports the create's outputs); `find_existing`
    /// finds it for its address only.
    pub async fn create(&self) -> Created {
        let created = self
            .provider
            .create(&self.ctx, &self.desired)
            .await
            .unwrap_or_else(|e| panic!("create {}: {e}", self.what()));
        let outputs = self
            .assert_reads_as(&created.id, &self.desired, "read after create")
            .await;
        assert_eq!(outputs, created.outputs, "{} outputs", self.what());
        assert_eq!(
            outputs.get("id").and_then(Value::as_str),
            Some(created.id.as_str()),
            "{}: outputs include the id",
            self.what()
        );
        self.assert_found(&created).await;
        created
    }

    /// `find_existing` (crash recovery) finds `created` for this address, nothing for the
    /// other one.
    pub async fn assert_found(&self, created: &Created) {
        let found = self
            .provider
            .find_existing(&self.ctx, &self.desired)
            .await
            .unwrap_or_else(|e| panic!("find_existing {}: {e}", self.what()));
        assert_eq!(
            found.map(|f| f.id),
            Some(created.id.clone()),
            "{}: find_existing",
            self.what()
        );
        let Some(other) = &self.other else {
            return;
        };
        let found = self
            .provider
            .find_existing(other, &self.desired)
            .await
            .unwrap_or_else(|e| panic!("find_existing {}: {e}", other.address));
        assert_eq!(
            found.map(|f| f.id),
            None,
            "{} must not be found for {}",
            self.what(),
            other.address
        );
    }

    /// Updates in place from `old` to `new` and reads `new` back; returns the outputs the
    /// update reported.
    pub async fn update(&self, created: &Created, old: &Inputs, new: &Inputs) -> Outputs {
        let outputs = self
            .provider
            .update(
                &self.ctx,
                Update {
                    id: &created.id,
                    old,
                    new,
                    outputs: &created.outputs,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("update {}: {e}", self.what()));
        self.assert_reads_as(&created.id, new, "read after update")
            .await;
        outputs
    }

    /// Every change of the table in order; returns the inputs after the last one.
    pub async fn update_each(&self, created: &Created) -> Inputs {
        let mut current = self.desired.clone();
        for change in &self.changes {
            self.update(created, &current, change).await;
            current = change.clone();
        }
        current
    }

    /// `drift` changes the resource behind nova's back: read must show it, and an update
    /// from the drifted live inputs back to `current` restores it.
    pub async fn drift_and_restore(
        &self,
        created: &Created,
        current: &Inputs,
        drift: impl AsyncFnOnce(&Created),
    ) {
        drift(created).await;
        let (live, _) = self.read(&created.id, current).await;
        assert_ne!(
            live,
            *current,
            "{}: the out-of-band change must show as drift",
            self.what()
        );
        self.update(created, &live, current).await;
    }

    /// Delete; read says gone; delete again succeeds.
    pub async fn delete(&self, created: &Created, current: &Inputs) {
        self.delete_once(created, current, "delete").await;
        match self.provider.read(&self.ctx, &created.id, current).await {
            Ok(Observed::Gone) => {}
            Ok(Observed::Present { inputs, .. }) => {
                panic!("{} should be gone, read found {inputs:?}", self.what())
            }
            Err(e) => panic!("read of {} after delete failed: {e}", self.what()),
        }
        self.delete_once(created, current, "delete again").await;
    }

    async fn delete_once(&self, created: &Created, current: &Inputs, step: &str) {
        self.provider
            .delete(&self.ctx, created.recorded(current))
            .await
            .unwrap_or_else(|e| panic!("{step} {}: {e}", self.what()));
    }

    /// The whole run: create, changes, drift and restore, delete.
    pub async fn run(&self, drift: impl AsyncFnOnce(&Created)) {
        let created = self.create().await;
        let current = self.update_each(&created).await;
        self.drift_and_restore(&created, &current, drift).await;
        self.delete(&created, &current).await;
    }
}
