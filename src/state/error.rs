//! Errors of the state store, lock and writer. Every variant names the file involved and
//! says what to do next.

use std::path::PathBuf;

use super::lock::LockInfo;
use super::validate::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("could not {action} {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "state file {} is empty (a write was cut short or the file was truncated); \
         restore it from {}",
        .path.display(), .backup.display()
    )]
    Empty { path: PathBuf, backup: PathBuf },
    #[error(
        "state file {} ends early at line {line}, column {column}: it is truncated; \
         restore it from {}",
        .path.display(), .backup.display()
    )]
    Truncated {
        path: PathBuf,
        line: usize,
        column: usize,
        backup: PathBuf,
    },
    #[error(
        "state file {} is not valid JSON at line {line}, column {column}: {message}; \
         fix it by hand or restore it from {}",
        .path.display(), .backup.display()
    )]
    NotJson {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        backup: PathBuf,
    },
    #[error(
        "state file {} has no numeric `version` field; it is not a nova state file \
         (or was damaged): restore it from {}",
        .path.display(), .backup.display()
    )]
    NoVersion { path: PathBuf, backup: PathBuf },
    #[error(
        "state file {} has format version {found}, but this nova reads version {supported} \
         only; use the nova release that wrote it",
        .path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u64,
        supported: u32,
    },
    #[error(
        "state file {} does not match the state format at line {line}, column {column}: \
         {message}; fix it by hand or restore it from {}",
        .path.display(), .backup.display()
    )]
    Malformed {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        backup: PathBuf,
    },
    #[error(
        "state file {} is inconsistent: {problem}; fix it by hand or restore it from {}",
        .path.display(), .backup.display()
    )]
    Invalid {
        path: PathBuf,
        problem: Box<ValidationError>,
        backup: PathBuf,
    },
    #[error(
        "refusing to write {}: the new state is inconsistent: {problem} \
         (a bug in nova; the file on disk is unchanged)",
        .path.display()
    )]
    InvalidToWrite {
        path: PathBuf,
        problem: Box<ValidationError>,
    },
    #[error("could not serialize the state for {}: {message}", .path.display())]
    Serialize { path: PathBuf, message: String },
    #[error(
        "the stack is locked by {holder} (lock file {}); wait for that run to finish",
        .path.display()
    )]
    Locked { path: PathBuf, holder: LockInfo },
    #[error(
        "the stack is locked by {holder}, but that process is no longer running: this is a \
         stale lock left by a dead process. Make sure no nova is running for this stack, \
         then delete {} (or run `nova state unlock`)",
        .path.display()
    )]
    StaleLock { path: PathBuf, holder: LockInfo },
    #[error(
        "lock file {} exists but cannot be read ({message}); another nova may be starting. \
         If none is running for this stack, delete {}",
        .path.display(), .path.display()
    )]
    LockUnreadable { path: PathBuf, message: String },
    #[error(
        "the state writer for {} stopped after an earlier error: {reason}",
        .path.display()
    )]
    WriterStopped { path: PathBuf, reason: String },
}
