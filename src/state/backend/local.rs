//! The local backend: today's state file, backup and lock file ([`StateStore`]) behind the
//! backend trait. Its history is what is on disk: the current file and its backup.

use std::path::PathBuf;
use std::time::SystemTime;

use async_trait::async_trait;

use super::{HeldLock, LockGuard, StateBackend, Usage, Version};
use crate::state::error::StateError;
use crate::state::format::State;
use crate::state::location::Location;
use crate::state::lock::{LockInfo, StateLock};
use crate::state::store::StateStore;

#[async_trait]
impl HeldLock for StateLock {
    async fn release(self: Box<Self>) -> Result<(), StateError> {
        // Dropping it removes the file.
        Ok(())
    }
}

#[async_trait]
impl StateBackend for StateStore {
    fn location(&self) -> Location {
        StateStore::location(self)
    }

    fn lock_location(&self) -> Location {
        Location::File(self.lock_path())
    }

    fn history_location(&self) -> Location {
        Location::File(self.backup_path())
    }

    fn usage(&self) -> Usage {
        Usage::default()
    }

    async fn read(&self) -> Result<Option<(State, Vec<u8>)>, StateError> {
        self.read_file(&self.path())
    }

    async fn write_next(&self, state: &State) -> Result<(), StateError> {
        let bytes = self.encode_next(state)?;
        let store = self.clone();
        let location = self.location();
        tokio::task::spawn_blocking(move || store.write_bytes(&bytes))
            .await
            .map_err(|e| StateError::WriterStopped {
                location,
                reason: format!("the write task failed: {e}"),
            })?
    }

    async fn keep_unsaved(&self, _state: &State) -> Option<PathBuf> {
        // The file on disk holds every pending operation that was saved; nothing else is
        // kept, as before there were backends.
        None
    }

    async fn try_lock(&self, command: &str) -> Result<LockGuard, StateError> {
        let lock = self.lock(command)?;
        let info = lock.info().clone();
        Ok(LockGuard::new(info, Box::new(lock)))
    }

    async fn unlock(&self, force: bool, id: Option<&str>) -> Result<Option<LockInfo>, StateError> {
        self.force_unlock_id(force, id)
    }

    async fn history(&self) -> Result<Vec<Version>, StateError> {
        let mut versions = Vec::new();
        for (path, current) in [(self.backup_path(), false), (self.path(), true)] {
            if let Some((state, _)) = self.read_file(&path)? {
                versions.push(Version {
                    serial: state.serial,
                    written: modified(&path),
                    lineage: Some(state.lineage),
                    who: None,
                    command: None,
                    current,
                });
            }
        }
        versions.sort_by_key(|v| v.serial);
        versions.dedup_by_key(|v| v.serial);
        Ok(versions)
    }

    async fn version(&self, serial: u64) -> Result<State, StateError> {
        for path in [self.path(), self.backup_path()] {
            if let Some((state, _)) = self.read_file(&path)? {
                if state.serial == serial {
                    return Ok(state);
                }
            }
        }
        let available = self
            .history()
            .await?
            .iter()
            .map(|v| v.serial.to_string())
            .collect::<Vec<_>>();
        Err(StateError::NoSuchVersion {
            serial,
            location: Location::File(self.dir().to_path_buf()),
            available: if available.is_empty() {
                "none".to_string()
            } else {
                format!(
                    "{} (the local backend keeps the current file and one backup)",
                    available.join(", ")
                )
            },
        })
    }
}

/// A file's modification time, RFC 3339.
fn modified(path: &std::path::Path) -> Option<String> {
    let time: SystemTime = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(humantime::format_rfc3339_seconds(time).to_string())
}
