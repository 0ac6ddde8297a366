//! The local backend's files: where a stack's state lives on disk (`<dir>/<stack>.json`),
//! and how it is read (validated, never modified) and written (validated, backed up,
//! atomically replaced). `backend::local` puts it behind the backend trait.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::codec::{decode, encode_next};
use super::error::StateError;
use super::format::State;
use super::location::{Location, Restore};
use super::lock::{self, LockInfo, StateLock};

/// The files of one stack's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateStore {
    dir: PathBuf,
    stack: String,
}

impl StateStore {
    pub fn new(dir: impl Into<PathBuf>, stack: &str) -> Self {
        StateStore {
            dir: dir.into(),
            stack: stack.to_string(),
        }
    }

    pub fn stack(&self) -> &str {
        &self.stack
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/<stack>.json`
    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.stack))
    }

    /// `<dir>/<stack>.json.backup`: the previous version, kept by every write.
    pub fn backup_path(&self) -> PathBuf {
        self.dir.join(format!("{}.json.backup", self.stack))
    }

    /// `<dir>/<stack>.lock`
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.stack))
    }

    /// Where the state file is, for messages.
    pub fn location(&self) -> Location {
        Location::File(self.path())
    }

    /// Reads and validates the state. A missing file is a fresh, empty state (nothing is
    /// written). The file is never modified.
    pub fn load(&self) -> Result<State, StateError> {
        Ok(self.read()?.unwrap_or_default())
    }

    /// Reads and validates the state file: `None` when there is none.
    pub fn read(&self) -> Result<Option<State>, StateError> {
        Ok(self.read_file(&self.path())?.map(|(state, _)| state))
    }

    /// Reads and validates one state file (the state or its backup), with its bytes.
    pub(crate) fn read_file(&self, path: &Path) -> Result<Option<(State, Vec<u8>)>, StateError> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StateError::Io {
                    path: path.to_path_buf(),
                    action: "read state file",
                    source: e,
                })
            }
        };
        let restore = if path == self.path() {
            Restore::Backup(self.backup_path())
        } else {
            Restore::Backup(self.path())
        };
        let state = decode(&bytes, &Location::File(path.to_path_buf()), &restore)?;
        Ok(Some((state, bytes)))
    }

    /// Writes `state` with its serial incremented (the increment is kept only if the write
    /// succeeds). See [`StateStore::write_bytes`] for the protocol.
    pub fn write(&self, state: &mut State) -> Result<(), StateError> {
        let bytes = self.encode_next(state)?;
        self.write_bytes(&bytes)?;
        state.serial += 1;
        Ok(())
    }

    /// Validates `state` and serializes it as the next version (serial + 1), without
    /// touching disk. `state` itself is left unchanged.
    pub fn encode_next(&self, state: &State) -> Result<Vec<u8>, StateError> {
        encode_next(state, &self.location())
    }

    /// Replaces the state file with `bytes`: copies the current file to `.backup`, writes
    /// a temporary file (mode 0600) in the same directory, fsyncs it, renames it over the
    /// state file and fsyncs the directory. A crash at any point leaves either the old or
    /// the new file, never a mix.
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<(), StateError> {
        let path = self.path();
        fs::create_dir_all(&self.dir).map_err(|e| StateError::Io {
            path: self.dir.clone(),
            action: "create state directory",
            source: e,
        })?;
        match fs::read(&path) {
            Ok(previous) => self.replace(&self.backup_path(), &previous)?,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StateError::Io {
                    path,
                    action: "read state file (for the backup)",
                    source: e,
                })
            }
        }
        self.replace(&path, bytes)
    }

    /// Atomically replaces `target` with `bytes` via a temporary file and rename.
    fn replace(&self, target: &Path, bytes: &[u8]) -> Result<(), StateError> {
        let tmp = self.dir.join(format!(
            ".{}.tmp-{}-{}",
            target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let result = write_synced(&tmp, bytes)
            .map_err(|e| StateError::Io {
                path: tmp.clone(),
                action: "write temporary state file",
                source: e,
            })
            .and_then(|()| {
                fs::rename(&tmp, target).map_err(|e| StateError::Io {
                    path: target.to_path_buf(),
                    action: "rename the temporary file over",
                    source: e,
                })
            });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
            return result;
        }
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StateError::Io {
                path: self.dir.clone(),
                action: "fsync state directory",
                source: e,
            })
    }

    /// Takes the stack's lock for `command` (e.g. "up"), or says who holds it.
    pub fn lock(&self, command: &str) -> Result<StateLock, StateError> {
        lock::acquire(&self.lock_path(), command)
    }

    /// Who holds the lock, if anyone.
    pub fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        lock::read(&self.lock_path())
    }

    /// Removes the lock file when its holder is a dead process on this host, or always
    /// with `force`. Returns the holder removed (`None`: there was no lock, or with
    /// `force`, an unreadable one). A live holder without `force` is an error, and so is
    /// an `id` other than the lock's.
    pub fn force_unlock(&self, force: bool) -> Result<Option<LockInfo>, StateError> {
        lock::force_unlock(&self.lock_path(), force, None)
    }

    /// [`StateStore::force_unlock`] of the lock with this id only.
    pub fn force_unlock_id(
        &self,
        force: bool,
        id: Option<&str>,
    ) -> Result<Option<LockInfo>, StateError> {
        lock::force_unlock(&self.lock_path(), force, id)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
