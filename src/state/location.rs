//! Where a stack's state or lock lives (a file, or an object in S3), for messages; and
//! how to get an earlier version back when the current one is damaged.

use std::fmt;
use std::path::PathBuf;

/// A file or an S3 object holding a state, a version of one, or a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    S3 { bucket: String, key: String },
}

impl Location {
    pub fn s3(bucket: &str, key: &str) -> Self {
        Location::S3 {
            bucket: bucket.to_string(),
            key: key.to_string(),
        }
    }
}

impl fmt::Display for Location {
    /// `file <path>` or `object s3://<bucket>/<key>`, to follow "state" or "lock".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(path) => write!(f, "file {}", path.display()),
            Location::S3 { bucket, key } => write!(f, "object s3://{bucket}/{key}"),
        }
    }
}

/// How to get a good state back when the current one cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restore {
    /// The previous version, kept next to the state file by every write.
    Backup(PathBuf),
    /// The backend's history of every version.
    History,
    /// A copy taken from the backend (for a file about to be pushed).
    Pull,
}

impl fmt::Display for Restore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Restore::Backup(path) => write!(f, "restore it from {}", path.display()),
            Restore::History => f.write_str(
                "restore an earlier version (`nova state history`, then `nova state restore SERIAL`)",
            ),
            Restore::Pull => f.write_str("take a fresh copy with `nova state pull`"),
        }
    }
}
