//! Where a stack's state lives on disk (`<dir>/<stack>.json`), and how it is read
//! (validated, never modified) and written (validated, backed up, atomically replaced).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::error::StateError;
use super::format::{State, STATE_VERSION};
use super::lock::{self, LockInfo, StateLock};
use super::validate::validate;

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

    /// Reads and validates the state. A missing file is a fresh, empty state (nothing is
    /// written). The file is never modified.
    pub fn load(&self) -> Result<State, StateError> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(State::new()),
            Err(e) => {
                return Err(StateError::Io {
                    path,
                    action: "read state file",
                    source: e,
                })
            }
        };
        let mut state = self.parse(&bytes)?;
        state.resources.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(state)
    }

    /// Parses and validates the bytes of a state file.
    fn parse(&self, bytes: &[u8]) -> Result<State, StateError> {
        let path = self.path();
        let backup = self.backup_path();
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(StateError::Empty { path, backup });
        }
        let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            if e.is_eof() {
                StateError::Truncated {
                    path: path.clone(),
                    line: e.line(),
                    column: e.column(),
                    backup: backup.clone(),
                }
            } else {
                StateError::NotJson {
                    path: path.clone(),
                    line: e.line(),
                    column: e.column(),
                    message: strip_position(&e),
                    backup: backup.clone(),
                }
            }
        })?;
        let Some(version) = json.get("version").and_then(serde_json::Value::as_u64) else {
            return Err(StateError::NoVersion { path, backup });
        };
        if version != u64::from(STATE_VERSION) {
            return Err(StateError::UnsupportedVersion {
                path,
                found: version,
                supported: STATE_VERSION,
            });
        }
        let state: State = serde_json::from_slice(bytes).map_err(|e| StateError::Malformed {
            path: path.clone(),
            line: e.line(),
            column: e.column(),
            message: strip_position(&e),
            backup: backup.clone(),
        })?;
        validate(&state).map_err(|problem| StateError::Invalid {
            path,
            problem: Box::new(problem),
            backup,
        })?;
        Ok(state)
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
    pub fn encode_next(&self, state: &mut State) -> Result<Vec<u8>, StateError> {
        validate(state).map_err(|problem| StateError::InvalidToWrite {
            path: self.path(),
            problem: Box::new(problem),
        })?;
        state.serial += 1;
        let encoded = serde_json::to_vec_pretty(state);
        state.serial -= 1;
        let mut bytes = encoded.map_err(|e| StateError::Serialize {
            path: self.path(),
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        Ok(bytes)
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
    /// `force`, an unreadable one). A live holder without `force` is an error.
    pub fn force_unlock(&self, force: bool) -> Result<Option<LockInfo>, StateError> {
        lock::force_unlock(&self.lock_path(), force)
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

/// serde_json's message without its trailing " at line L column C" (we print those).
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
