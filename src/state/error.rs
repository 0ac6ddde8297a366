//! Errors of the state backends, lock and writer. Every variant names the file or S3
//! object involved and says what to do next.

use std::fmt;
use std::path::PathBuf;

use super::location::{Location, Restore};
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
        "state {location} is empty (a write was cut short or the file was truncated); {restore}"
    )]
    Empty {
        location: Location,
        restore: Restore,
    },
    #[error(
        "state {location} ends early at line {line}, column {column}: it is truncated; {restore}"
    )]
    Truncated {
        location: Location,
        line: usize,
        column: usize,
        restore: Restore,
    },
    #[error(
        "state {location} is not valid JSON at line {line}, column {column}: {message}; \
         fix it by hand or {restore}"
    )]
    NotJson {
        location: Location,
        line: usize,
        column: usize,
        message: String,
        restore: Restore,
    },
    #[error(
        "state {location} has no numeric `version` field; it is not a nova state \
         (or was damaged): {restore}"
    )]
    NoVersion {
        location: Location,
        restore: Restore,
    },
    #[error(
        "state {location} has format version {found}, but this nova reads version {supported} \
         only; use the nova release that wrote it"
    )]
    UnsupportedVersion {
        location: Location,
        found: u64,
        supported: u32,
    },
    #[error(
        "state {location} does not match the state format at line {line}, column {column}: \
         {message}; fix it by hand or {restore}"
    )]
    Malformed {
        location: Location,
        line: usize,
        column: usize,
        message: String,
        restore: Restore,
    },
    #[error("state {location} is inconsistent: {problem}; fix it by hand or {restore}")]
    Invalid {
        location: Location,
        problem: Box<ValidationError>,
        restore: Restore,
    },
    #[error(
        "refusing to write state {location}: the new state is inconsistent: {problem} \
         (a bug in nova; the stored state is unchanged)"
    )]
    InvalidToWrite {
        location: Location,
        problem: Box<ValidationError>,
    },
    #[error("could not serialize the state for {location}: {message}")]
    Serialize { location: Location, message: String },
    #[error("the stack is locked by {holder} (lock {location}); wait for that run to finish")]
    Locked {
        location: Location,
        holder: Box<LockInfo>,
    },
    #[error(
        "the stack is locked by {holder}, but that process is no longer running: this is a \
         stale lock left by a dead process. Make sure no nova is running for this stack, \
         then delete {} (or run `nova state unlock`)",
        .path.display()
    )]
    StaleLock {
        path: PathBuf,
        holder: Box<LockInfo>,
    },
    #[error(
        "lock {location} exists but cannot be read ({message}); another nova may be starting. \
         If none is running for this stack, delete it by hand"
    )]
    LockUnreadable { location: Location, message: String },
    #[error("the state writer for {location} stopped after an earlier error: {reason}")]
    WriterStopped { location: Location, reason: String },

    // --- S3 -----------------------------------------------------------------------------
    #[error("{0}")]
    S3(Box<S3Failure>),
    #[error(
        "state {location} fails its integrity check: its SHA-256 is {found}, but the writer \
         recorded {expected} (metadata nova-sha256): the object was damaged or changed by \
         something other than nova; {}",
        Restore::History
    )]
    Checksum {
        location: Location,
        expected: String,
        found: String,
    },
    #[error(
        "state {location} has no nova-sha256 checksum, so nova did not write it (was it \
         uploaded by hand?); upload a state file with `nova state push FILE`, or {restore}"
    )]
    NoChecksum {
        location: Location,
        restore: Restore,
    },
    #[error(
        "the state {location} was changed by someone else since this run last read or wrote \
         it (S3 answered 412 Precondition Failed to a write conditioned on {expected}), so \
         nova stopped before its next AWS call. {kept}"
    )]
    Fenced {
        location: Location,
        /// `ETag "…"`, or `no object existing`.
        expected: String,
        kept: Kept,
    },
    #[error(
        "history {location} already holds another version with serial {serial} (S3 answered \
         412 to a write with If-None-Match: *): the current state was written, but its history \
         was not. The state was changed behind nova's back with a reused serial; compare the \
         two with `nova state history` before deleting the wrong history object by hand"
    )]
    HistoryConflict { location: Location, serial: u64 },
    #[error(
        "the stack is locked by {holder} (lock {location}, renewed {renewed_ago}s ago by S3's \
         clock, lease {lease}s); wait for that run to finish, or pass --lock-timeout to wait"
    )]
    LockHeld {
        location: Location,
        holder: Box<LockInfo>,
        renewed_ago: u64,
        lease: u64,
    },
    #[error(
        "the stack is locked by {holder}, but the lock is stale: its lease of {lease}s ran out \
         (last renewed {renewed_ago}s ago by S3's clock), so that run died or lost its \
         connection. Make sure no nova is running for this stack, then break the lock with \
         `nova state unlock --force {}` (lock {location})",
        .holder.id.as_deref().unwrap_or("LOCK_ID")
    )]
    StaleLease {
        location: Location,
        holder: Box<LockInfo>,
        renewed_ago: u64,
        lease: u64,
    },
    #[error(
        "this run lost the lock {location}: {reason}; nova stopped before its next AWS call \
         (run the command again once the other run has finished)"
    )]
    LockLost { location: Location, reason: String },
    #[error(
        "the lock {location} changed while nova was changing it (S3 answered 412 to a write \
         conditioned on its ETag); run the command again"
    )]
    LockChanged { location: Location },
    #[error(
        "refusing to write state {location} without holding its lock (a bug in nova; the \
         stored state is unchanged)"
    )]
    NotLockHolder { location: Location },
    #[error(
        "not breaking the lock {location}: it is held by {holder}. If you are sure that run \
         is dead, run `nova state unlock --force {}`",
        .holder.id.as_deref().unwrap_or("LOCK_ID")
    )]
    UnlockNeedsForce {
        location: Location,
        holder: Box<LockInfo>,
    },
    #[error(
        "not breaking the lock {location}: say which lock with its id, \
         `nova state unlock --force {}` (it is held by {holder})",
        .holder.id.as_deref().unwrap_or("LOCK_ID")
    )]
    UnlockNeedsId {
        location: Location,
        holder: Box<LockInfo>,
    },
    #[error(
        "not breaking the lock {location}: its id is {}, not {given} (it is held by {holder}); \
         it changed hands since you looked, so check again who holds it",
        .holder.id.as_deref().unwrap_or("(none)")
    )]
    UnlockWrongId {
        location: Location,
        given: String,
        holder: Box<LockInfo>,
    },
    #[error("{source} (gave up after waiting {seconds}s for the lock, --lock-timeout)")]
    Waited {
        seconds: u64,
        #[source]
        source: Box<StateError>,
    },
    #[error("stack `{stack}` has no state yet in {location} (nothing to pull)")]
    NoState { stack: String, location: Location },
    #[error("no version with serial {serial} in {location}; the versions kept are: {available}")]
    NoSuchVersion {
        serial: u64,
        location: Location,
        available: String,
    },
    #[error(
        "refusing to replace the state {location}: {what} has lineage {given}, but the state \
         has lineage {current} (another history: a different stack, or a state made from \
         scratch); pass --force to replace it anyway"
    )]
    LineageMismatch {
        location: Location,
        what: String,
        given: String,
        current: String,
    },
    #[error(
        "refusing to replace the state {location}: {what} has serial {given}, older than the \
         state's serial {current} (the state moved on since it was taken: pull it again and \
         redo your change); pass --force to replace it anyway"
    )]
    OlderSerial {
        location: Location,
        what: String,
        given: u64,
        current: u64,
    },
}

/// A failed S3 request, as reported.
#[derive(Debug, thiserror::Error)]
#[error(
    "S3 {operation} of {location} failed: {code}: {message}{}{hint}",
    .request_id.as_ref().map(|id| format!(" (request id {id})")).unwrap_or_default()
)]
pub struct S3Failure {
    pub operation: &'static str,
    pub location: Location,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// What to do about it, starting with "; " (or empty).
    pub hint: String,
}

/// What became of the version a fenced write could not store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Kept in this local file.
    File { path: PathBuf, serial: u64 },
    /// Could not be kept (the reason).
    Lost(String),
}

impl fmt::Display for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kept::File { path, serial } => write!(
                f,
                "This run's version (serial {serial}) is kept in {path}: compare it with \
                 `nova state pull`, and if it is the one to keep, run \
                 `nova state push --force {path}`",
                path = path.display()
            ),
            Kept::Lost(reason) => write!(
                f,
                "This run's version could not be kept locally ({reason}); run `nova up` to \
                 reconcile the stored state with AWS"
            ),
        }
    }
}
