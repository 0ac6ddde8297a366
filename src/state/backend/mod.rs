//! The state backend seam: where a stack's state, its earlier versions and its lock live.
//! [`StateBackend`] has two implementations, the local file (`local`, the default) and
//! S3 (`s3`); [`Backend`] is the handle everything above uses (the writer task, the
//! commands), with what is the same for both: waiting for a lock, and the checks of
//! `nova state push` and `nova state restore`.

mod local;
pub mod s3;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::error::StateError;
use super::format::State;
use super::location::Location;
use super::lock::LockInfo;
use super::store::StateStore;
use crate::config::BackendConfig;

/// One version of the state kept by a backend (`nova state history`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub serial: u64,
    /// RFC 3339 time it was written, by the storage's clock.
    pub written: Option<String>,
    pub lineage: Option<String>,
    /// Who wrote it (`user@host`), when recorded.
    pub who: Option<String>,
    /// The command that wrote it, when recorded.
    pub command: Option<String>,
    /// True for the version that is the current state.
    pub current: bool,
}

/// What a backend has done in this run, for the closing report of `up` and `destroy`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Writes of the current state.
    pub state_writes: u64,
    /// Requests to S3, when the backend is S3.
    pub s3: Option<S3Usage>,
}

/// The S3 requests of one run, by what they were for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct S3Usage {
    pub state_puts: u64,
    pub history_puts: u64,
    /// Acquire, heartbeats and release (deletes included).
    pub lock_writes: u64,
    /// GET, HEAD and LIST requests.
    pub reads: u64,
}

impl S3Usage {
    /// Every request that writes (PUT or DELETE).
    pub fn writes(&self) -> u64 {
        self.state_puts + self.history_puts + self.lock_writes
    }
}

impl fmt::Display for S3Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} writes ({} state, {} history, {} lock), {} reads",
            self.writes(),
            self.state_puts,
            self.history_puts,
            self.lock_writes,
            self.reads
        )
    }
}

/// A lock held by this run. Release it with [`LockGuard::release`]; a guard dropped
/// without that is released where the backend can do it synchronously (the local file),
/// and otherwise expires with its lease.
pub struct LockGuard {
    info: LockInfo,
    held: Box<dyn HeldLock>,
}

impl LockGuard {
    pub fn new(info: LockInfo, held: Box<dyn HeldLock>) -> Self {
        LockGuard { info, held }
    }

    /// Who holds it: this run.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    pub async fn release(self) -> Result<(), StateError> {
        self.held.release().await
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("info", &self.info)
            .finish()
    }
}

/// A backend's held lock.
#[async_trait]
pub trait HeldLock: Send + Sync {
    async fn release(self: Box<Self>) -> Result<(), StateError>;
}

/// Where one stack's state lives. Implementations: the local file ([`StateStore`]) and S3
/// ([`s3::S3Backend`]).
///
/// Contract: `read` validates what it returns; `write_next` validates `state`, stores it
/// as serial `state.serial + 1` and returns only once it is durable (the caller then
/// increments its serial). A backend shared by several writers (S3) fences its writes: a
/// write made after someone else's since this backend's last read or write fails with
/// [`StateError::Fenced`] and stores nothing.
#[async_trait]
pub trait StateBackend: Send + Sync + fmt::Debug {
    /// Where the current state lives.
    fn location(&self) -> Location;
    /// Where the lock lives.
    fn lock_location(&self) -> Location;
    /// Where earlier versions live (for messages).
    fn history_location(&self) -> Location;
    /// The requests made so far.
    fn usage(&self) -> Usage;

    /// The current state and its bytes as stored; `None` when the stack has none.
    async fn read(&self) -> Result<Option<(State, Vec<u8>)>, StateError>;
    /// Stores `state` as the next version (serial + 1).
    async fn write_next(&self, state: &State) -> Result<(), StateError>;
    /// After a failed write: keeps `state` (the newest this run has) where the user can
    /// find it and returns where, if this backend does that.
    async fn keep_unsaved(&self, state: &State) -> Option<PathBuf>;

    /// Takes the lock for `command`, or fails at once saying who holds it.
    async fn try_lock(&self, command: &str) -> Result<LockGuard, StateError>;
    /// Breaks or removes the lock: see `nova state unlock --help`.
    async fn unlock(&self, force: bool, id: Option<&str>) -> Result<Option<LockInfo>, StateError>;

    /// Every version kept, by serial.
    async fn history(&self) -> Result<Vec<Version>, StateError>;
    /// One kept version.
    async fn version(&self, serial: u64) -> Result<State, StateError>;
}

/// The handle to a stack's backend: cheap to clone, shared by the writer and the commands.
#[derive(Clone, Debug)]
pub struct Backend(Arc<dyn StateBackend>);

impl Backend {
    /// A handle to any implementation (tests use in-memory ones).
    pub fn from_shared(backend: Arc<dyn StateBackend>) -> Self {
        Backend(backend)
    }
}

impl From<StateStore> for Backend {
    fn from(store: StateStore) -> Self {
        Backend(Arc::new(store))
    }
}

impl From<s3::S3Backend> for Backend {
    fn from(backend: s3::S3Backend) -> Self {
        Backend(Arc::new(backend))
    }
}

/// How long to wait between attempts while waiting for a lock.
const LOCK_RETRY: Duration = Duration::from_secs(1);

/// What `push` and `restore` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    /// The serial of the state replaced (`None`: there was none, or it was unreadable).
    pub previous: Option<u64>,
    /// The serial the new state was written as.
    pub serial: u64,
}

impl Backend {
    /// Opens the backend `config` names for `stack`. No request is made until one is
    /// needed. `state_dir` holds the local state, or with S3 only the copy of a version a
    /// fenced write could not store.
    pub fn open(config: &BackendConfig, state_dir: &Path, stack: &str) -> Backend {
        match config {
            BackendConfig::Local => StateStore::new(state_dir, stack).into(),
            BackendConfig::S3(s3) => s3::S3Backend::new(s3, stack, state_dir).into(),
        }
    }

    pub fn location(&self) -> Location {
        self.0.location()
    }

    pub fn lock_location(&self) -> Location {
        self.0.lock_location()
    }

    pub fn history_location(&self) -> Location {
        self.0.history_location()
    }

    pub fn usage(&self) -> Usage {
        self.0.usage()
    }

    /// The validated state (a fresh empty one when the stack has none yet).
    pub async fn load(&self) -> Result<State, StateError> {
        Ok(self.0.read().await?.map(|(s, _)| s).unwrap_or_default())
    }

    /// The state and its bytes as stored (`None`: no state yet).
    pub async fn read(&self) -> Result<Option<(State, Vec<u8>)>, StateError> {
        self.0.read().await
    }

    pub async fn write_next(&self, state: &State) -> Result<(), StateError> {
        self.0.write_next(state).await
    }

    pub async fn keep_unsaved(&self, state: &State) -> Option<PathBuf> {
        self.0.keep_unsaved(state).await
    }

    /// Takes the lock, waiting up to `timeout` while another run holds it (`waiting` is
    /// called once, with the refusal, when the wait starts). A stale lock is reported at
    /// once: its holder is gone, so waiting would not help.
    pub async fn lock(
        &self,
        command: &str,
        timeout: Duration,
        waiting: &(dyn Fn(&StateError) + Send + Sync),
    ) -> Result<LockGuard, StateError> {
        let started = Instant::now();
        let mut told = false;
        loop {
            let err = match self.0.try_lock(command).await {
                Ok(guard) => return Ok(guard),
                Err(err) => err,
            };
            let live = matches!(err, StateError::Locked { .. } | StateError::LockHeld { .. });
            let waited = started.elapsed();
            if !live || waited >= timeout {
                if waited.as_secs() > 0 || told {
                    return Err(StateError::Waited {
                        seconds: waited.as_secs(),
                        source: Box::new(err),
                    });
                }
                return Err(err);
            }
            if !told {
                waiting(&err);
                told = true;
            }
            tokio::time::sleep(LOCK_RETRY.min(timeout - waited)).await;
        }
    }

    pub async fn unlock(
        &self,
        force: bool,
        id: Option<&str>,
    ) -> Result<Option<LockInfo>, StateError> {
        self.0.unlock(force, id).await
    }

    pub async fn history(&self) -> Result<Vec<Version>, StateError> {
        self.0.history().await
    }

    pub async fn version(&self, serial: u64) -> Result<State, StateError> {
        self.0.version(serial).await
    }

    /// `nova state push`: makes `new` (read from `what`, e.g. a file name) the current
    /// state, as the next serial. Refused when it has another lineage or an older serial
    /// than the current state, unless `force` (which also replaces an unreadable current
    /// state). The caller holds the lock.
    pub async fn push(&self, new: State, what: &str, force: bool) -> Result<Replaced, StateError> {
        let current = match self.0.read().await {
            Ok(current) => current.map(|(s, _)| s),
            Err(_) if force => None,
            Err(e) => return Err(e),
        };
        if let Some(current) = &current {
            if !force {
                self.check_replacement(&new, what, current)?;
            }
        }
        let serial = match &current {
            Some(current) => current.serial + 1,
            // A new stack (or an unreadable state): keep the file's numbering, above every
            // serial already kept so that no version's history is overwritten.
            None => {
                let kept = self.0.history().await.unwrap_or_default();
                let highest = kept.iter().map(|v| v.serial).max().unwrap_or(0);
                new.serial.max(highest + 1).max(1)
            }
        };
        self.write_as(new, serial, current.map(|c| c.serial)).await
    }

    /// `nova state restore`: makes the kept version `serial` the current state again, as the
    /// next serial. Refused when it has another lineage than the current state, unless
    /// `force`. The caller holds the lock.
    pub async fn restore(&self, serial: u64, force: bool) -> Result<Replaced, StateError> {
        let old = self.0.version(serial).await?;
        let current = match self.0.read().await {
            Ok(current) => current.map(|(s, _)| s),
            Err(_) if force => None,
            Err(e) => return Err(e),
        };
        if let Some(current) = &current {
            if !force && old.lineage != current.lineage {
                return Err(StateError::LineageMismatch {
                    location: self.location(),
                    what: format!("version {serial}"),
                    given: old.lineage,
                    current: current.lineage.clone(),
                });
            }
        }
        let next = match &current {
            Some(c) => c.serial + 1,
            None => {
                let kept = self.0.history().await.unwrap_or_default();
                kept.iter().map(|v| v.serial).max().unwrap_or(0) + 1
            }
        };
        self.write_as(old, next, current.map(|c| c.serial)).await
    }

    fn check_replacement(
        &self,
        new: &State,
        what: &str,
        current: &State,
    ) -> Result<(), StateError> {
        if new.lineage != current.lineage {
            return Err(StateError::LineageMismatch {
                location: self.location(),
                what: what.to_string(),
                given: new.lineage.clone(),
                current: current.lineage.clone(),
            });
        }
        if new.serial < current.serial {
            return Err(StateError::OlderSerial {
                location: self.location(),
                what: what.to_string(),
                given: new.serial,
                current: current.serial,
            });
        }
        Ok(())
    }

    async fn write_as(
        &self,
        mut state: State,
        serial: u64,
        previous: Option<u64>,
    ) -> Result<Replaced, StateError> {
        state.serial = serial - 1;
        self.0.write_next(&state).await?;
        Ok(Replaced { previous, serial })
    }
}
