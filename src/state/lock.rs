//! The per-stack lock file of the local backend: created with O_EXCL so only one nova
//! changes a stack at a time, holding who took it (id, user, pid, host, command, since) so a
//! refused run can say who holds it. [`LockInfo`] is also what the S3 lock records.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::error::StateError;
use super::location::Location;

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockInfo {
    /// Random id of this lock, made when it was taken (`nova state unlock --force ID`).
    /// Lock files of older nova releases have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The user who ran the command, as the operating system knows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
    pub pid: u32,
    pub host: String,
    pub command: String,
    /// RFC 3339 time the lock was taken (the holder's clock; informational).
    pub since: String,
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(who) = &self.who {
            write!(f, "{who}, ")?;
        }
        write!(
            f,
            "pid {} on host {} running `{}` since {}",
            self.pid, self.host, self.command, self.since
        )?;
        if let Some(id) = &self.id {
            write!(f, ", lock id {id}")?;
        }
        Ok(())
    }
}

impl LockInfo {
    /// A description of this process, about to run `command`, with a new lock id.
    pub fn current(command: &str) -> Self {
        LockInfo {
            id: Some(uuid::Uuid::new_v4().to_string()),
            who: Some(username()),
            pid: std::process::id(),
            host: hostname(),
            command: command.to_string(),
            since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }

    /// True when the holder ran on this host and its process no longer exists.
    pub fn is_stale(&self) -> bool {
        self.host == hostname() && !pid_alive(self.pid)
    }
}

/// A held lock; the lock file is removed when this is dropped.
#[derive(Debug)]
pub struct StateLock {
    path: PathBuf,
    info: LockInfo,
}

impl StateLock {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Nothing useful can be done if this fails; the next run reports a stale lock.
        let _ = fs::remove_file(&self.path);
    }
}

/// Creates the lock file at `path` or reports who holds it.
pub(crate) fn acquire(path: &Path, command: &str) -> Result<StateLock, StateError> {
    let info = LockInfo::current(command);
    let text = serde_json::to_string(&info).map_err(|e| StateError::Serialize {
        location: Location::File(path.to_path_buf()),
        message: e.to_string(),
    })?;
    let io = |action, source| StateError::Io {
        path: path.to_path_buf(),
        action,
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(held(path)),
        Err(e) => return Err(io("create lock file", e)),
    };
    let lock = StateLock {
        path: path.to_path_buf(),
        info,
    };
    // From here on, dropping `lock` removes the file if writing it fails.
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io("write lock file", e))?;
    Ok(lock)
}

/// The error for a lock file that already exists.
fn held(path: &Path) -> StateError {
    match read(path) {
        Ok(Some(holder)) if holder.is_stale() => StateError::StaleLock {
            path: path.to_path_buf(),
            holder: Box::new(holder),
        },
        Ok(Some(holder)) => StateError::Locked {
            location: Location::File(path.to_path_buf()),
            holder: Box::new(holder),
        },
        // Removed between our create and our read: report it as busy all the same.
        Ok(None) => StateError::LockUnreadable {
            location: Location::File(path.to_path_buf()),
            message: "it was removed while being read; try again".to_string(),
        },
        Err(e) => e,
    }
}

/// Reads the lock file: `None` when there is none.
pub(crate) fn read(path: &Path) -> Result<Option<LockInfo>, StateError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StateError::Io {
                path: path.to_path_buf(),
                action: "read lock file",
                source: e,
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| StateError::LockUnreadable {
            location: Location::File(path.to_path_buf()),
            message: e.to_string(),
        })
}

/// Removes the lock file if its holder is dead, or unconditionally with `force`. With an
/// `id`, the lock must carry that id (a lock file of an older nova has none and matches).
pub(crate) fn force_unlock(
    path: &Path,
    force: bool,
    id: Option<&str>,
) -> Result<Option<LockInfo>, StateError> {
    let holder = match read(path) {
        Ok(None) => return Ok(None),
        Ok(Some(h)) => Some(h),
        Err(StateError::LockUnreadable { .. }) if force => None,
        Err(e) => return Err(e),
    };
    if let Some(h) = &holder {
        if let (Some(given), Some(actual)) = (id, &h.id) {
            if given != actual {
                return Err(StateError::UnlockWrongId {
                    location: Location::File(path.to_path_buf()),
                    given: given.to_string(),
                    holder: Box::new(h.clone()),
                });
            }
        }
        if !force && !h.is_stale() {
            return Err(StateError::Locked {
                location: Location::File(path.to_path_buf()),
                holder: Box::new(h.clone()),
            });
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(holder),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(holder),
        Err(e) => Err(StateError::Io {
            path: path.to_path_buf(),
            action: "remove lock file",
            source: e,
        }),
    }
}

/// The name of the user running nova (`USER`, `LOGNAME`, else the numeric uid).
pub fn username() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| {
            // SAFETY: getuid has no preconditions and cannot fail.
            format!("uid {}", unsafe { libc::getuid() })
        })
}

/// This machine's host name.
pub fn hostname() -> String {
    if let Ok(name) = fs::read_to_string("/proc/sys/kernel/hostname") {
        let name = name.trim();
        if !name.is_empty() {
            return name.to_string();
        }
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname NUL-terminates
    // within it (or truncates, which we tolerate).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether a process with this pid exists (on this host).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission check.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}
