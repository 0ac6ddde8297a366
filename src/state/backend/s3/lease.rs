//! The S3 lock of one stack: an object under `<prefix>locks/`, taken with
//! `If-None-Match: *`, renewed by its holder (a heartbeat every quarter of its lease), and
//! judged stale by S3's clock when its lease ran out (the `Date` of S3's answer minus the
//! object's `Last-Modified`, both S3's). Every change after the first is a
//! compare-and-swap on the object's ETag. Releasing deletes it with `If-Match`; where S3
//! lacks a conditional delete (LocalStack 4.8 answers 501), a `released` tombstone is
//! written with `If-Match` instead, which the next run takes over with `If-Match` too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::client::{meta, sha256_hex, Bucket, Condition, Failure};
use super::META_SHA256;
use crate::state::backend::HeldLock;
use crate::state::error::StateError;
use crate::state::location::Location;
use crate::state::lock::{hostname, username, LockInfo};

/// The `format` of a lock object.
const FORMAT: &str = "nova-lock";

/// How many times a request answered 409 (a concurrent conditional request), or a
/// takeover that lost a race, is tried again before giving up.
const ATTEMPTS: u32 = 6;

/// Whether a lock object is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Held,
    Released,
}

/// The body of a lock object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockObject {
    pub format: String,
    pub status: Status,
    pub holder: LockInfo,
    /// How long the lock stays in force without a heartbeat.
    pub lease_seconds: u64,
    /// How many times the holder renewed it.
    pub heartbeat: u64,
    /// For a tombstone: who released it, and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<String>,
}

impl LockObject {
    fn held(holder: LockInfo, lease: Duration) -> Self {
        LockObject {
            format: FORMAT.to_string(),
            status: Status::Held,
            holder,
            lease_seconds: lease.as_secs(),
            heartbeat: 0,
            released: None,
        }
    }

    fn tombstone(&self, how: String) -> Self {
        LockObject {
            status: Status::Released,
            released: Some(how),
            ..self.clone()
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a lock object serializes");
        bytes.push(b'\n');
        bytes
    }
}

/// The lock as S3 has it now.
#[derive(Debug, Clone)]
pub enum Seen {
    Absent,
    Object {
        etag: String,
        lock: Box<LockObject>,
        /// Seconds since it was last written, by S3's clock.
        age: u64,
    },
    Unreadable {
        message: String,
    },
}

/// What this backend knows of the lock it holds, shared with its heartbeat task.
#[derive(Debug, Default)]
pub struct LockState {
    held: tokio::sync::Mutex<Option<Held>>,
    /// Why the lock was lost (its heartbeat found it changed by someone else).
    lost: Mutex<Option<String>>,
    /// This run, while it holds the lock.
    holder: Mutex<Option<LockInfo>>,
}

#[derive(Debug)]
struct Held {
    etag: String,
    object: LockObject,
}

impl LockState {
    /// Why the lock was lost, if it was.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().ok()?.clone()
    }

    /// Who holds it: this run, or `None` when this backend holds no lock.
    pub fn holder(&self) -> Option<LockInfo> {
        self.holder.lock().ok()?.clone()
    }

    fn set_lost(&self, reason: String) {
        if let Ok(mut lost) = self.lost.lock() {
            lost.get_or_insert(reason);
        }
    }

    fn set_holder(&self, holder: Option<LockInfo>) {
        if let Ok(mut slot) = self.holder.lock() {
            *slot = holder;
        }
    }
}

/// The lock of one stack.
#[derive(Debug, Clone)]
pub struct Lease {
    pub bucket: Bucket,
    pub key: String,
    pub lease: Duration,
    pub state: Arc<LockState>,
}

/// Whether DELETE with If-Match works on this endpoint; cleared at its first 501.
static CONDITIONAL_DELETE: AtomicBool = AtomicBool::new(true);

impl Lease {
    fn location(&self) -> Location {
        Location::s3(&self.bucket.name, &self.key)
    }

    fn s3_error(&self, operation: &'static str, failure: Failure) -> StateError {
        failure.into_error(operation, self.location())
    }

    /// Reads the lock object.
    pub async fn look(&self) -> Result<Seen, StateError> {
        let Some(object) = self
            .bucket
            .get(&self.key)
            .await
            .map_err(|f| self.s3_error("GetObject", f))?
        else {
            return Ok(Seen::Absent);
        };
        if meta(Some(&object.metadata), META_SHA256)
            .is_some_and(|sum| sum != sha256_hex(&object.bytes))
        {
            return Ok(Seen::Unreadable {
                message: "its body does not match the SHA-256 recorded with it".to_string(),
            });
        }
        let lock: LockObject = match serde_json::from_slice(&object.bytes) {
            Ok(lock) => lock,
            Err(e) => {
                return Ok(Seen::Unreadable {
                    message: format!("not a nova lock: {e}"),
                })
            }
        };
        // Both times are S3's: when it last wrote the object, and when it answered.
        let age = match (object.server_time, object.last_modified) {
            (Some(now), Some(written)) => u64::try_from(now - written.secs()).unwrap_or(0),
            _ => 0,
        };
        Ok(Seen::Object {
            etag: object.etag,
            lock: Box::new(lock),
            age,
        })
    }

    /// Takes the lock for `command`, or says who holds it. Starts the heartbeat.
    pub async fn acquire(&self, command: &str) -> Result<S3Lock, StateError> {
        let info = LockInfo::current(command);
        let object = LockObject::held(info.clone(), self.lease);
        let mut condition = Condition::Absent;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                pause(attempt).await;
            }
            match self.put(&object, &condition).await {
                Ok(etag) => return Ok(self.start(info, object, etag).await),
                Err(f) if f.is_conflict() => continue,
                // Taken, or the tombstone we meant to replace changed: look again.
                Err(f) if f.is_precondition_failed() || f.is_not_found() => {}
                Err(f) => return Err(self.s3_error("PutObject", f)),
            }
            condition = match self.look().await? {
                Seen::Absent => Condition::Absent,
                Seen::Object { etag, lock, .. } if lock.status == Status::Released => {
                    Condition::Matches(etag)
                }
                Seen::Object { lock, age, .. } => return Err(self.refusal(*lock, age)),
                Seen::Unreadable { message } => {
                    return Err(StateError::LockUnreadable {
                        location: self.location(),
                        message,
                    })
                }
            };
        }
        Err(StateError::LockChanged {
            location: self.location(),
        })
    }

    /// The error for a lock someone else holds: live, or stale once its lease ran out.
    fn refusal(&self, lock: LockObject, age: u64) -> StateError {
        if age > lock.lease_seconds {
            StateError::StaleLease {
                location: self.location(),
                holder: Box::new(lock.holder),
                renewed_ago: age,
                lease: lock.lease_seconds,
            }
        } else {
            StateError::LockHeld {
                location: self.location(),
                holder: Box::new(lock.holder),
                renewed_ago: age,
                lease: lock.lease_seconds,
            }
        }
    }

    async fn put(&self, object: &LockObject, condition: &Condition) -> Result<String, Failure> {
        let bytes = object.to_bytes();
        self.bucket
            .put(
                &self.key,
                &bytes,
                condition,
                &[(META_SHA256, sha256_hex(&bytes))],
                &self.bucket.counters.lock_writes,
            )
            .await
    }

    async fn start(&self, info: LockInfo, object: LockObject, etag: String) -> S3Lock {
        *self.state.held.lock().await = Some(Held { etag, object });
        self.state.set_holder(Some(info));
        if let Ok(mut lost) = self.state.lost.lock() {
            *lost = None;
        }
        let lease = self.clone();
        let heartbeat = tokio::spawn(async move { lease.heartbeat().await });
        S3Lock {
            lease: self.clone(),
            heartbeat,
        }
    }

    /// Renews the lock every quarter of its lease until it is released or lost.
    async fn heartbeat(&self) {
        let every = (self.lease / 4).max(Duration::from_millis(500));
        loop {
            tokio::time::sleep(every).await;
            let mut held = self.state.held.lock().await;
            let Some(current) = held.as_mut() else {
                return;
            };
            let mut renewed = current.object.clone();
            renewed.heartbeat += 1;
            match self
                .put(&renewed, &Condition::Matches(current.etag.clone()))
                .await
            {
                Ok(etag) => {
                    current.etag = etag;
                    current.object = renewed;
                }
                Err(f) if f.is_precondition_failed() || f.is_not_found() => {
                    *held = None;
                    self.state.set_lost(format!(
                        "the lock object changed under its holder (S3 answered {} to the \
                         heartbeat conditioned on its ETag): someone broke the lock with \
                         `nova state unlock --force`",
                        f.status.unwrap_or(412)
                    ));
                    return;
                }
                // A network failure or a 409: the next beat tries again; if none succeeds
                // within the lease, others see the lock as stale.
                Err(_) => {}
            }
        }
    }

    /// Releases the lock this backend holds.
    async fn release(&self) -> Result<(), StateError> {
        let held = self.state.held.lock().await.take();
        self.state.set_holder(None);
        let Some(held) = held else {
            // Lost already (reported by the writes it stopped), or never taken.
            return Ok(());
        };
        let tombstone = held.object.tombstone(format!(
            "released by its holder at the end of `{}`",
            held.object.holder.command
        ));
        self.remove(&held.etag, &tombstone).await
    }

    /// Removes the lock object that has `etag`: deletes it with If-Match, or writes the
    /// tombstone with If-Match where the endpoint has no conditional delete.
    async fn remove(&self, etag: &str, tombstone: &LockObject) -> Result<(), StateError> {
        let changed = || StateError::LockChanged {
            location: self.location(),
        };
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                pause(attempt).await;
            }
            if CONDITIONAL_DELETE.load(Ordering::Relaxed) {
                match self.bucket.delete_matching(&self.key, etag).await {
                    Ok(()) => return Ok(()),
                    Err(f) if f.is_not_implemented() => {
                        CONDITIONAL_DELETE.store(false, Ordering::Relaxed);
                    }
                    Err(f) if f.is_conflict() => continue,
                    Err(f) if f.is_precondition_failed() => return Err(changed()),
                    Err(f) if f.is_not_found() => return Ok(()),
                    Err(f) => return Err(self.s3_error("DeleteObject", f)),
                }
            }
            match self
                .put(tombstone, &Condition::Matches(etag.to_string()))
                .await
            {
                Ok(_) => return Ok(()),
                Err(f) if f.is_conflict() => continue,
                Err(f) if f.is_precondition_failed() => return Err(changed()),
                Err(f) if f.is_not_found() => return Ok(()),
                Err(f) => return Err(self.s3_error("PutObject", f)),
            }
        }
        Err(changed())
    }

    /// `nova state unlock`: breaks the lock only with `force` and the lock's own id, by a
    /// compare-and-swap on the ETag just read (no read-then-delete race).
    pub async fn unlock(
        &self,
        force: bool,
        id: Option<&str>,
    ) -> Result<Option<LockInfo>, StateError> {
        let (etag, lock) = match self.look().await? {
            Seen::Absent => return Ok(None),
            Seen::Object { lock, .. } if lock.status == Status::Released => return Ok(None),
            Seen::Object { etag, lock, .. } => (etag, lock),
            Seen::Unreadable { message } => {
                return Err(StateError::LockUnreadable {
                    location: self.location(),
                    message,
                })
            }
        };
        let holder = lock.holder.clone();
        if !force {
            return Err(StateError::UnlockNeedsForce {
                location: self.location(),
                holder: Box::new(holder),
            });
        }
        let Some(given) = id else {
            return Err(StateError::UnlockNeedsId {
                location: self.location(),
                holder: Box::new(holder),
            });
        };
        if holder.id.as_deref() != Some(given) {
            return Err(StateError::UnlockWrongId {
                location: self.location(),
                given: given.to_string(),
                holder: Box::new(holder),
            });
        }
        let tombstone = lock.tombstone(format!(
            "broken by {}@{} with `nova state unlock --force`",
            username(),
            hostname()
        ));
        self.remove(&etag, &tombstone).await?;
        Ok(Some(holder))
    }
}

/// A lock held in S3; its heartbeat runs until it is released (or dropped).
pub struct S3Lock {
    lease: Lease,
    heartbeat: JoinHandle<()>,
}

#[async_trait]
impl HeldLock for S3Lock {
    async fn release(self: Box<Self>) -> Result<(), StateError> {
        let result = self.lease.release().await;
        self.heartbeat.abort();
        result
    }
}

impl Drop for S3Lock {
    /// Without `release`, the heartbeat stops and the lock expires with its lease.
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// A short, growing pause before trying a request again.
async fn pause(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
}
