//! The S3 backend: the state of each stack in a bucket the user created, for a team.
//!
//! Layout, under the configured prefix:
//!
//! - `state/<stack>.json`: the current state, the same JSON as the local file;
//! - `history/<stack>/<serial, 20 digits>.json`: every version, immutable (written with
//!   `If-None-Match: *` right after it became current), to list and restore without
//!   relying on bucket versioning;
//! - `locks/<stack>.json`: the lock (`lease`), under its own prefix so lifecycle rules can
//!   treat it apart.
//!
//! Every write of the current state is fenced: `If-Match` with the ETag this backend last
//! read or wrote (`If-None-Match: *` for the first), so a write made behind its back stops
//! the run (412) and this run's version is kept as a local file. A 412 is first checked
//! against the object's body: a retried PUT whose first attempt had succeeded finds its
//! own bytes. Each object carries a SHA-256 of its body (`x-amz-meta-nova-sha256`),
//! checked on every read: an ETag is not a checksum under SSE-KMS.

mod client;
mod lease;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use self::client::{
    header_value, meta, rfc3339, sha256_hex, Bucket, Condition, Connection, Counters, Object,
};
use self::lease::{Lease, LockState};
use super::{LockGuard, StateBackend, Usage, Version};
use crate::config::S3BackendConfig;
use crate::state::codec::{decode, encode_next};
use crate::state::error::{Kept, StateError};
use crate::state::format::State;
use crate::state::location::{Location, Restore};
use crate::state::lock::LockInfo;

pub use self::lease::{LockObject, Status as LockStatus};

/// Metadata keys of the objects nova writes (sent as `x-amz-meta-<key>`).
pub const META_SHA256: &str = "nova-sha256";
pub const META_SERIAL: &str = "nova-serial";
pub const META_LINEAGE: &str = "nova-lineage";
pub const META_WHO: &str = "nova-who";
pub const META_COMMAND: &str = "nova-command";

/// How many HEAD requests `history` makes at once.
const HISTORY_PARALLELISM: usize = 8;

/// The object keys of one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    prefix: String,
    stack: String,
}

impl Layout {
    pub fn new(prefix: &str, stack: &str) -> Self {
        Layout {
            prefix: prefix.to_string(),
            stack: stack.to_string(),
        }
    }

    pub fn state(&self) -> String {
        format!("{}state/{}.json", self.prefix, self.stack)
    }

    pub fn history_dir(&self) -> String {
        format!("{}history/{}/", self.prefix, self.stack)
    }

    pub fn history(&self, serial: u64) -> String {
        format!("{}{serial:020}.json", self.history_dir())
    }

    pub fn lock(&self) -> String {
        format!("{}locks/{}.json", self.prefix, self.stack)
    }

    /// The serial of a history key, if it is one.
    fn serial_of(&self, key: &str) -> Option<u64> {
        let name = key
            .strip_prefix(&self.history_dir())?
            .strip_suffix(".json")?;
        (name.len() == 20).then(|| name.parse().ok()).flatten()
    }
}

/// What this backend last read or wrote of the current state: the fence of its writes.
#[derive(Debug, Default, Clone)]
struct Fence {
    /// The current state was read (or written) at least once.
    known: bool,
    /// Its ETag (`None`: there was no object).
    etag: Option<String>,
    /// The serial and bytes of the version read, while its history is not yet checked.
    unrecorded: Option<(u64, Arc<Vec<u8>>)>,
}

/// A stack's state in S3.
pub struct S3Backend {
    settings: S3BackendConfig,
    layout: Layout,
    /// Where a version that could not be stored is kept (the state directory).
    keep_dir: PathBuf,
    stack: String,
    connection: Connection,
    counters: Arc<Counters>,
    fence: Mutex<Fence>,
    lock: Arc<LockState>,
    /// The local copy kept after a refused write, rewritten by `keep_unsaved`.
    kept: Mutex<Option<PathBuf>>,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Backend")
            .field("bucket", &self.settings.bucket)
            .field("state", &self.layout.state())
            .finish_non_exhaustive()
    }
}

impl S3Backend {
    /// The backend of `stack` in the configured bucket; no request is made yet.
    pub fn new(settings: &S3BackendConfig, stack: &str, keep_dir: &Path) -> Self {
        S3Backend {
            settings: settings.clone(),
            layout: Layout::new(&settings.prefix, stack),
            keep_dir: keep_dir.to_path_buf(),
            stack: stack.to_string(),
            connection: Connection::new(&settings.region),
            counters: Arc::default(),
            fence: Mutex::default(),
            lock: Arc::default(),
            kept: Mutex::default(),
        }
    }

    /// Like [`S3Backend::new`], with the S3 client made from `sdk` (tests point it at
    /// LocalStack this way) instead of the environment's AWS configuration.
    pub fn with_sdk_config(
        settings: &S3BackendConfig,
        stack: &str,
        keep_dir: &Path,
        sdk: &aws_config::SdkConfig,
    ) -> Self {
        S3Backend {
            connection: Connection::from_sdk_config(sdk),
            ..S3Backend::new(settings, stack, keep_dir)
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    async fn bucket(&self) -> Bucket {
        Bucket {
            client: self.connection.client().await.clone(),
            name: self.settings.bucket.clone(),
            kms_key_id: self.settings.kms_key_id.clone(),
            counters: self.counters.clone(),
        }
    }

    async fn lease(&self) -> Lease {
        Lease {
            bucket: self.bucket().await,
            key: self.layout.lock(),
            lease: self.settings.lock_lease,
            state: self.lock.clone(),
        }
    }

    fn object(&self, key: &str) -> Location {
        Location::s3(&self.settings.bucket, key)
    }

    fn fence(&self) -> Fence {
        self.fence.lock().map(|f| f.clone()).unwrap_or_default()
    }

    fn set_fence(&self, fence: Fence) {
        if let Ok(mut slot) = self.fence.lock() {
            *slot = fence;
        }
    }

    /// Checks the body of an object nova wrote against its recorded SHA-256.
    fn check_integrity(&self, key: &str, object: &Object) -> Result<(), StateError> {
        let location = self.object(key);
        let Some(expected) = meta(Some(&object.metadata), META_SHA256) else {
            return Err(StateError::NoChecksum {
                location,
                restore: Restore::History,
            });
        };
        let found = sha256_hex(&object.bytes);
        if found != expected {
            return Err(StateError::Checksum {
                location,
                expected: expected.to_string(),
                found,
            });
        }
        Ok(())
    }

    /// The metadata of a version: checksum, serial, lineage, writer.
    fn metadata(&self, bytes: &[u8], serial: u64, state: &State) -> Vec<(&'static str, String)> {
        let holder = self.lock.holder();
        let mut metadata = vec![
            (META_SHA256, sha256_hex(bytes)),
            (META_SERIAL, serial.to_string()),
            (META_LINEAGE, header_value(&state.lineage)),
        ];
        if let Some(holder) = holder {
            let who = holder.who.as_deref().unwrap_or("unknown");
            metadata.push((META_WHO, header_value(&format!("{who}@{}", holder.host))));
            metadata.push((META_COMMAND, header_value(&holder.command)));
        }
        metadata
    }

    /// PUT of the current state, fenced. A 412 is checked against what S3 holds: our own
    /// bytes mean an earlier attempt of this same PUT succeeded.
    async fn put_state(
        &self,
        bucket: &Bucket,
        bytes: &[u8],
        metadata: &[(&str, String)],
        fence: &Fence,
    ) -> Result<Result<String, String>, StateError> {
        let key = self.layout.state();
        let condition = match &fence.etag {
            Some(etag) => Condition::Matches(etag.clone()),
            None => Condition::Absent,
        };
        let mut attempt = 0;
        loop {
            match bucket
                .put(&key, bytes, &condition, metadata, &self.counters.state_puts)
                .await
            {
                Ok(etag) => return Ok(Ok(etag)),
                Err(f) if f.is_conflict() && attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(f) if f.is_precondition_failed() || f.is_not_found() => {
                    let now = bucket
                        .get(&key)
                        .await
                        .map_err(|f| f.into_error("GetObject", self.object(&key)))?;
                    return Ok(match now {
                        Some(object) if object.bytes == bytes => Ok(object.etag),
                        _ => Err(match &condition {
                            Condition::Matches(etag) => format!("ETag {etag}"),
                            Condition::Absent => "no object existing (If-None-Match: *)".into(),
                        }),
                    });
                }
                Err(f) => return Err(f.into_error("PutObject", self.object(&key))),
            }
        }
    }

    /// PUT of an immutable history object; a 412 is fine when the object is ours.
    async fn put_history(
        &self,
        bucket: &Bucket,
        serial: u64,
        bytes: &[u8],
        metadata: &[(&str, String)],
    ) -> Result<(), StateError> {
        let key = self.layout.history(serial);
        let mut attempt = 0;
        loop {
            match bucket
                .put(
                    &key,
                    bytes,
                    &Condition::Absent,
                    metadata,
                    &self.counters.history_puts,
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(f) if f.is_conflict() && attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(f) if f.is_precondition_failed() => {
                    let existing = bucket
                        .get(&key)
                        .await
                        .map_err(|f| f.into_error("GetObject", self.object(&key)))?;
                    return match existing {
                        Some(object) if object.bytes == bytes => Ok(()),
                        _ => Err(StateError::HistoryConflict {
                            location: self.object(&key),
                            serial,
                        }),
                    };
                }
                Err(f) => return Err(f.into_error("PutObject", self.object(&key))),
            }
        }
    }

    /// Records the version read at the start of the run in the history if it is missing
    /// there (a run killed between its state write and its history write).
    async fn record_unrecorded(&self, bucket: &Bucket, fence: &Fence) -> Result<(), StateError> {
        let Some((serial, bytes)) = &fence.unrecorded else {
            return Ok(());
        };
        let key = self.layout.history(*serial);
        let present = bucket
            .head(&key)
            .await
            .map_err(|f| f.into_error("HeadObject", self.object(&key)))?;
        if present.is_none() {
            let state = decode(bytes, &self.location(), &Restore::History)?;
            let metadata = self.metadata(bytes, *serial, &state);
            self.put_history(bucket, *serial, bytes, &metadata).await?;
        }
        Ok(())
    }

    /// Keeps `bytes` (a version that could not be stored) in a new local file.
    fn keep(&self, serial: u64, bytes: &[u8]) -> Kept {
        match write_new_file(&self.keep_dir, &self.stack, serial, bytes) {
            Ok(path) => {
                if let Ok(mut kept) = self.kept.lock() {
                    *kept = Some(path.clone());
                }
                Kept::File { path, serial }
            }
            Err(e) => Kept::Lost(e.to_string()),
        }
    }

    fn lost(&self, state: &State, bytes: &[u8]) -> Option<StateError> {
        let reason = self.lock.lost()?;
        let kept = self.keep(state.serial + 1, bytes);
        Some(StateError::LockLost {
            location: self.lock_location(),
            reason: format!("{reason}. {kept}"),
        })
    }
}

#[async_trait]
impl StateBackend for S3Backend {
    fn location(&self) -> Location {
        self.object(&self.layout.state())
    }

    fn lock_location(&self) -> Location {
        self.object(&self.layout.lock())
    }

    fn history_location(&self) -> Location {
        self.object(&self.layout.history_dir())
    }

    fn usage(&self) -> Usage {
        Usage {
            state_writes: self.counters.state_writes.load(Ordering::Relaxed),
            s3: Some(self.counters.s3()),
        }
    }

    async fn read(&self) -> Result<Option<(State, Vec<u8>)>, StateError> {
        let bucket = self.bucket().await;
        let key = self.layout.state();
        let object = bucket
            .get(&key)
            .await
            .map_err(|f| f.into_error("GetObject", self.location()))?;
        let Some(object) = object else {
            self.set_fence(Fence {
                known: true,
                etag: None,
                unrecorded: None,
            });
            return Ok(None);
        };
        // The fence is what S3 holds, even if it cannot be decoded: `push --force` then
        // replaces exactly that object.
        self.set_fence(Fence {
            known: true,
            etag: Some(object.etag.clone()),
            unrecorded: None,
        });
        self.check_integrity(&key, &object)?;
        let state = decode(&object.bytes, &self.location(), &Restore::History)?;
        self.set_fence(Fence {
            known: true,
            etag: Some(object.etag),
            unrecorded: Some((state.serial, Arc::new(object.bytes.clone()))),
        });
        Ok(Some((state, object.bytes)))
    }

    async fn write_next(&self, state: &State) -> Result<(), StateError> {
        let bytes = encode_next(state, &self.location())?;
        if let Some(err) = self.lost(state, &bytes) {
            return Err(err);
        }
        if self.lock.holder().is_none() {
            return Err(StateError::NotLockHolder {
                location: self.location(),
            });
        }
        let serial = state.serial + 1;
        let bucket = self.bucket().await;
        let mut fence = self.fence();
        if !fence.known {
            // Never read: only a write that creates the object is safe.
            fence.etag = None;
        }
        self.record_unrecorded(&bucket, &fence).await?;
        let metadata = self.metadata(&bytes, serial, state);
        let etag = match self.put_state(&bucket, &bytes, &metadata, &fence).await? {
            Ok(etag) => etag,
            Err(expected) => {
                return Err(StateError::Fenced {
                    location: self.location(),
                    expected,
                    kept: self.keep(serial, &bytes),
                })
            }
        };
        self.set_fence(Fence {
            known: true,
            etag: Some(etag),
            unrecorded: None,
        });
        Counters::add(&self.counters.state_writes);
        self.put_history(&bucket, serial, &bytes, &metadata).await
    }

    async fn keep_unsaved(&self, state: &State) -> Option<PathBuf> {
        let path = self.kept.lock().ok()?.clone()?;
        let bytes = encode_next(state, &self.location()).ok()?;
        replace_file(&path, &bytes).ok()?;
        Some(path)
    }

    async fn try_lock(&self, command: &str) -> Result<LockGuard, StateError> {
        let lock = self.lease().await.acquire(command).await?;
        let info = self
            .lock
            .holder()
            .expect("a lock just acquired has a holder");
        Ok(LockGuard::new(info, Box::new(lock)))
    }

    async fn unlock(&self, force: bool, id: Option<&str>) -> Result<Option<LockInfo>, StateError> {
        self.lease().await.unlock(force, id).await
    }

    async fn history(&self) -> Result<Vec<Version>, StateError> {
        let bucket = self.bucket().await;
        let dir = self.layout.history_dir();
        let keys = bucket
            .list(&dir)
            .await
            .map_err(|f| f.into_error("ListObjectsV2", self.history_location()))?;
        let mut found: Vec<(u64, String, Option<String>)> = keys
            .into_iter()
            .filter_map(|(key, time)| {
                let serial = self.layout.serial_of(&key)?;
                Some((serial, key, time.as_ref().and_then(rfc3339)))
            })
            .collect();
        found.sort();
        let current = bucket
            .head(&self.layout.state())
            .await
            .map_err(|f| f.into_error("HeadObject", self.location()))?
            .and_then(|o| meta(Some(&o.metadata), META_SERIAL).and_then(|s| s.parse().ok()));
        let mut versions = Vec::with_capacity(found.len());
        for chunk in found.chunks(HISTORY_PARALLELISM) {
            let mut heads = tokio::task::JoinSet::new();
            for (i, (_, key, _)) in chunk.iter().enumerate() {
                let bucket = bucket.clone();
                let key = key.clone();
                heads.spawn(async move { (i, bucket.head(&key).await) });
            }
            let mut metadata = vec![None; chunk.len()];
            while let Some(joined) = heads.join_next().await {
                let (i, head) = joined.map_err(|e| StateError::WriterStopped {
                    location: self.history_location(),
                    reason: format!("a history request failed: {e}"),
                })?;
                let head =
                    head.map_err(|f| f.into_error("HeadObject", self.object(&chunk[i].1)))?;
                metadata[i] = head.map(|o| o.metadata);
            }
            for ((serial, _, written), metadata) in chunk.iter().zip(metadata) {
                let get = |key| meta(metadata.as_ref(), key).map(str::to_string);
                versions.push(Version {
                    serial: *serial,
                    written: written.clone(),
                    lineage: get(META_LINEAGE),
                    who: get(META_WHO),
                    command: get(META_COMMAND),
                    current: current == Some(*serial),
                });
            }
        }
        Ok(versions)
    }

    async fn version(&self, serial: u64) -> Result<State, StateError> {
        let bucket = self.bucket().await;
        let key = self.layout.history(serial);
        let object = bucket
            .get(&key)
            .await
            .map_err(|f| f.into_error("GetObject", self.object(&key)))?;
        let Some(object) = object else {
            let available: Vec<String> = self
                .history()
                .await?
                .iter()
                .map(|v| v.serial.to_string())
                .collect();
            return Err(StateError::NoSuchVersion {
                serial,
                location: self.history_location(),
                available: if available.is_empty() {
                    "none".to_string()
                } else {
                    available.join(", ")
                },
            });
        };
        self.check_integrity(&key, &object)?;
        decode(&object.bytes, &self.object(&key), &Restore::History)
    }
}

/// Writes `bytes` to a new file `<dir>/<stack>.unsaved-serial-<serial>[-n].json` (0600).
fn write_new_file(dir: &Path, stack: &str, serial: u64, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    for n in 1..1000 {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let path = dir.join(format!("{stack}.unsaved-serial-{serial}{suffix}.json"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        match file {
            Ok(mut file) => {
                file.write_all(bytes)?;
                file.sync_all()?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("too many unsaved copies already"))
}

/// Replaces the file at `path` with `bytes` (temporary file, then rename).
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::Layout;

    #[test]
    fn layout_keys_live_under_the_prefix_each_kind_under_its_own() {
        let layout = Layout::new("team/nova/", "production");
        assert_eq!(layout.state(), "team/nova/state/production.json");
        assert_eq!(layout.lock(), "team/nova/locks/production.json");
        assert_eq!(
            layout.history(42),
            "team/nova/history/production/00000000000000000042.json"
        );
        assert_eq!(layout.serial_of(&layout.history(42)), Some(42));
        assert_eq!(
            layout.serial_of("team/nova/history/production/x.json"),
            None
        );
        assert_eq!(
            layout.serial_of("team/nova/history/production-2/00000000000000000001.json"),
            None
        );
        let bare = Layout::new("", "s");
        assert_eq!(bare.state(), "state/s.json");
    }
}
