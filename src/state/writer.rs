//! The single state writer: one task owns the [`State`] during a run and every change goes
//! through it as a message. It coalesces writes (group commit): it takes one message,
//! drains everything already queued, applies all of it, and writes the state once if any
//! caller is waiting for durability (a `begin`, a `flush` or the final `close`).
//! Completions alone only mark the state dirty and ride along with the next write. It
//! writes through a [`Backend`], the same for the local file and S3.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::model::{Address, Value};

use super::backend::Backend;
use super::error::StateError;
use super::format::{Operation, PendingOperation, ResourceState, State};
use super::location::Location;

/// What became of a provider call (or a recovered pending operation). Each clears the
/// matching pending operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new object exists at the address. An existing object there with another id is
    /// moved to `deposed` (create-before-destroy), to be deleted later.
    Created(ResourceState),
    /// The object at the address was changed in place (or re-read).
    Updated(ResourceState),
    /// The object with this id is gone: the current one at the address, or a deposed one.
    Deleted { address: Address, id: String },
    /// The call failed (or never happened): only the pending operation is cleared.
    Failed(Address, Operation),
}

enum Message {
    Begin(PendingOperation, oneshot::Sender<Result<(), StateError>>),
    Record(Outcome),
    SetOutputs(BTreeMap<String, Value>),
    Snapshot(oneshot::Sender<State>),
    Flush(oneshot::Sender<Result<(), StateError>>),
    Close(oneshot::Sender<Result<State, StateError>>),
}

/// A handle to the writer task. Cheap to clone; every clone talks to the same task.
#[derive(Clone)]
pub struct StateWriter {
    tx: mpsc::UnboundedSender<Message>,
    writes: Arc<AtomicU64>,
    location: Location,
}

/// Starts the writer task on the current tokio runtime; it owns `state` from now on.
pub fn spawn(backend: impl Into<Backend>, state: State) -> StateWriter {
    let backend = backend.into();
    let (tx, rx) = mpsc::unbounded_channel();
    let writes = Arc::new(AtomicU64::new(0));
    let location = backend.location();
    let task = Task {
        backend,
        state,
        dirty: false,
        failed: None,
        writes: writes.clone(),
    };
    tokio::spawn(task.run(rx));
    StateWriter {
        tx,
        writes,
        location,
    }
}

impl StateWriter {
    /// Saves a pending operation; returns once it is durable (on disk, or in S3). Make the
    /// provider call only after this returns `Ok`.
    pub async fn begin(&self, op: PendingOperation) -> Result<(), StateError> {
        let (tx, rx) = oneshot::channel();
        self.send(Message::Begin(op, tx))?;
        rx.await.map_err(|_| self.gone())?
    }

    /// Records what a call did. Durable with the next write (at the latest at `close`).
    pub async fn record(&self, outcome: Outcome) {
        // If the task is gone, the next `begin`/`close` reports it.
        let _ = self.tx.send(Message::Record(outcome));
    }

    /// Replaces the stack outputs.
    pub async fn set_outputs(&self, outputs: BTreeMap<String, Value>) {
        let _ = self.tx.send(Message::SetOutputs(outputs));
    }

    /// The state as it is now (including changes not yet written).
    pub async fn snapshot(&self) -> Result<State, StateError> {
        let (tx, rx) = oneshot::channel();
        self.send(Message::Snapshot(tx))?;
        rx.await.map_err(|_| self.gone())
    }

    /// Writes now if anything changed since the last write.
    pub async fn flush(&self) -> Result<(), StateError> {
        let (tx, rx) = oneshot::channel();
        self.send(Message::Flush(tx))?;
        rx.await.map_err(|_| self.gone())?
    }

    /// Final flush; stops the task and returns the state as written.
    pub async fn close(self) -> Result<State, StateError> {
        let (tx, rx) = oneshot::channel();
        self.send(Message::Close(tx))?;
        rx.await.map_err(|_| self.gone())?
    }

    /// How many times the state has been written by this writer.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    fn send(&self, message: Message) -> Result<(), StateError> {
        self.tx.send(message).map_err(|_| self.gone())
    }

    fn gone(&self) -> StateError {
        StateError::WriterStopped {
            location: self.location.clone(),
            reason: "the writer task has ended".to_string(),
        }
    }
}

struct Task {
    backend: Backend,
    state: State,
    dirty: bool,
    /// Set by the first failed write; nothing is written after it.
    failed: Option<String>,
    writes: Arc<AtomicU64>,
}

/// Everyone in one batch waiting for the outcome of its write.
#[derive(Default)]
struct Waiters {
    begins: Vec<oneshot::Sender<Result<(), StateError>>>,
    flushes: Vec<oneshot::Sender<Result<(), StateError>>>,
    snapshots: Vec<oneshot::Sender<State>>,
    close: Option<oneshot::Sender<Result<State, StateError>>>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Message>) {
        while let Some(first) = rx.recv().await {
            let mut waiters = Waiters::default();
            self.handle(first, &mut waiters);
            while let Ok(next) = rx.try_recv() {
                self.handle(next, &mut waiters);
            }
            let closing = waiters.close.is_some();
            if closing && self.failed.is_some() {
                // What a refused write could not store is kept where the backend says
                // (with S3: the local copy the error named, now with every outcome).
                self.backend.keep_unsaved(&self.state).await;
            }
            self.settle(waiters).await;
            if closing {
                return;
            }
        }
        // Every handle dropped without `close`: the last changes are written if the
        // runtime lets us; otherwise the pending operations on disk cover them.
        if self.dirty && self.failed.is_none() {
            let _ = self.write().await;
        }
    }

    fn handle(&mut self, message: Message, waiters: &mut Waiters) {
        match message {
            Message::Begin(op, tx) => {
                if let Some(reason) = &self.failed {
                    let _ = tx.send(Err(self.stopped(reason)));
                    return;
                }
                self.state
                    .pending
                    .retain(|p| !(p.address == op.address && p.operation == op.operation));
                self.state.pending.push(op);
                self.state
                    .pending
                    .sort_by(|a, b| (&a.address, a.operation).cmp(&(&b.address, b.operation)));
                self.dirty = true;
                waiters.begins.push(tx);
            }
            Message::Record(outcome) => {
                apply_outcome(&mut self.state, outcome);
                self.dirty = true;
            }
            Message::SetOutputs(outputs) => {
                self.state.outputs = outputs;
                self.dirty = true;
            }
            Message::Snapshot(tx) => waiters.snapshots.push(tx),
            Message::Flush(tx) => waiters.flushes.push(tx),
            Message::Close(tx) => waiters.close = Some(tx),
        }
    }

    /// Writes once for the whole batch if anyone waits for durability, then answers.
    async fn settle(&mut self, waiters: Waiters) {
        let wants_write =
            !waiters.begins.is_empty() || !waiters.flushes.is_empty() || waiters.close.is_some();
        let mut error = None;
        if wants_write && self.dirty && self.failed.is_none() {
            if let Err(e) = self.write().await {
                self.failed = Some(e.to_string());
                error = Some(e);
            }
        }
        let mut outcome = || -> Result<(), StateError> {
            match (&self.failed, error.take()) {
                (_, Some(e)) => Err(e),
                (Some(reason), None) => Err(self.stopped(reason)),
                (None, None) => Ok(()),
            }
        };
        for tx in waiters.begins {
            let _ = tx.send(outcome());
        }
        for tx in waiters.flushes {
            let _ = tx.send(outcome());
        }
        if let Some(tx) = waiters.close {
            let result = outcome().map(|()| self.state.clone());
            let _ = tx.send(result);
        }
        for tx in waiters.snapshots {
            let _ = tx.send(self.state.clone());
        }
    }

    async fn write(&mut self) -> Result<(), StateError> {
        self.backend.write_next(&self.state).await?;
        self.state.serial += 1;
        self.dirty = false;
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn stopped(&self, reason: &str) -> StateError {
        StateError::WriterStopped {
            location: self.backend.location(),
            reason: reason.to_string(),
        }
    }
}

/// Applies one outcome to the state and clears the matching pending operation.
pub(crate) fn apply_outcome(state: &mut State, outcome: Outcome) {
    let clear = |state: &mut State, address: &Address, operation: Operation| {
        state
            .pending
            .retain(|p| !(&p.address == address && p.operation == operation));
    };
    match outcome {
        Outcome::Created(resource) => {
            clear(state, &resource.address, Operation::Create);
            if let Some(old) = state.get(&resource.address) {
                if old.id != resource.id {
                    let old = old.clone();
                    state.deposed.push(old);
                }
            }
            state.upsert(resource);
        }
        Outcome::Updated(resource) => {
            clear(state, &resource.address, Operation::Update);
            state.upsert(resource);
        }
        Outcome::Deleted { address, id } => {
            clear(state, &address, Operation::Delete);
            if state.get(&address).is_some_and(|r| r.id == id) {
                state.remove(&address);
                // Nothing is left to order against; keeps the state consistent while a
                // delete-before-create replacement is between its two steps.
                for r in &mut state.resources {
                    r.dependencies.remove(&address);
                }
            } else {
                state
                    .deposed
                    .retain(|r| !(r.address == address && r.id == id));
            }
        }
        Outcome::Failed(address, operation) => clear(state, &address, operation),
    }
}
