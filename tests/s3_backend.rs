//! The S3 state backend against LocalStack's S3, through nova's library: the lock (one
//! winner, the holder named, heartbeat, stale by S3's clock, unlock by id only, a broken
//! lock lost by its holder), fenced writes (412 behind nova's back stops the write and
//! keeps a local copy; a retried PUT that had succeeded is recognised), integrity, history
//! and restore, push checks, SSE-KMS on every object, and a bucket nova never creates.
//! Then the `nova state` commands on S3 and the move of a local state to S3 and back.
//!
//! Every witness reads S3 with the raw SDK. Buckets are unversioned: LocalStack 4.8 lets
//! two conditional writers win on versioned buckets (fixed in 4.10).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use nova::config::S3BackendConfig;
use nova::state::backend::s3::{Layout, LockObject, LockStatus, S3Backend};
use nova::state::{Backend, LockGuard, State, StateError};

/// A fresh, unversioned bucket for one test, emptied and deleted when dropped.
struct TestBucket {
    name: String,
    s3: aws_sdk_s3::Client,
}

impl TestBucket {
    async fn new() -> TestBucket {
        let s3 = raw_s3().await;
        let name = format!("nova-test-{}", uuid::Uuid::new_v4().simple());
        s3.create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("CreateBucket on LocalStack");
        TestBucket { name, s3 }
    }

    fn settings(&self, lease_seconds: u64) -> S3BackendConfig {
        S3BackendConfig {
            bucket: self.name.clone(),
            prefix: "team/nova/".to_string(),
            region: common::REGION.to_string(),
            kms_key_id: None,
            lock_lease: Duration::from_secs(lease_seconds),
        }
    }

    async fn get(
        &self,
        key: &str,
    ) -> Option<(Vec<u8>, aws_sdk_s3::operation::get_object::GetObjectOutput)> {
        match self
            .s3
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
        {
            Ok(mut out) => {
                let body = std::mem::replace(&mut out.body, ByteStream::from_static(b""));
                let bytes = body
                    .collect()
                    .await
                    .expect("read the body")
                    .into_bytes()
                    .to_vec();
                Some((bytes, out))
            }
            Err(err) => {
                let service = err.into_service_error();
                assert!(service.is_no_such_key(), "GetObject {key}: {service:?}");
                None
            }
        }
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, sha256: Option<&str>) {
        let mut put = self
            .s3
            .put_object()
            .bucket(&self.name)
            .key(key)
            .body(bytes.into());
        if let Some(sha) = sha256 {
            put = put.metadata("nova-sha256", sha);
        }
        put.send().await.expect("PutObject behind nova's back");
    }

    async fn keys(&self) -> Vec<String> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(&self.name)
            .send()
            .await
            .expect("ListObjectsV2");
        let mut keys: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        keys.sort();
        keys
    }

    async fn lock_object(&self, layout: &Layout) -> Option<LockObject> {
        let (bytes, _) = self.get(&layout.lock()).await?;
        Some(serde_json::from_slice(&bytes).expect("the lock object is a nova lock"))
    }
}

impl Drop for TestBucket {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Best effort, on a thread and runtime of its own with a client of its own: the
        // test's runtime is blocked while this waits, and its client's connections are
        // driven by that runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup");
            runtime.block_on(async {
                let s3 = raw_s3().await;
                if let Ok(out) = s3.list_objects_v2().bucket(&name).send().await {
                    for object in out.contents() {
                        if let Some(key) = object.key() {
                            let _ = s3.delete_object().bucket(&name).key(key).send().await;
                        }
                    }
                }
                let _ = s3.delete_bucket().bucket(&name).send().await;
            });
        })
        .join();
    }
}

async fn raw_s3() -> aws_sdk_s3::Client {
    let config = common::sdk_config().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            // Small objects on a loaded machine: a slow first byte is not a stall.
            .stalled_stream_protection(
                aws_sdk_s3::config::StalledStreamProtectionConfig::disabled(),
            )
            .build(),
    )
}

/// A backend of `stack` in `bucket`, talking to LocalStack.
async fn backend(bucket: &TestBucket, stack: &str, lease: u64, keep: &Path) -> Backend {
    let sdk = common::sdk_config().await;
    S3Backend::with_sdk_config(&bucket.settings(lease), stack, keep, &sdk).into()
}

async fn lock(backend: &Backend, command: &str) -> Result<LockGuard, StateError> {
    backend.lock(command, Duration::ZERO, &|_| {}).await
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A small valid state of its own lineage: a VPC and a subnet.
fn small_state(lineage: &str) -> State {
    let mut state: State = serde_json::from_value(serde_json::json!({
        "version": 1,
        "lineage": lineage,
        "serial": 0,
        "resources": [
            {
                "address": "aws_vpc.main", "kind": "aws_vpc", "id": "vpc-0123",
                "inputs": {"cidr_block": "10.0.0.0/16"}, "outputs": {"id": "vpc-0123"},
                "dependencies": []
            },
            {
                "address": "aws_subnet.public[0]", "kind": "aws_subnet", "id": "subnet-0456",
                "inputs": {"cidr_block": "10.0.0.0/24"}, "outputs": {"id": "subnet-0456"},
                "dependencies": ["aws_vpc.main"]
            }
        ],
        "outputs": {"vpc_id": "vpc-0123"},
        "pending": []
    }))
    .expect("a valid state");
    state.lineage = lineage.to_string();
    state.resources.sort_by(|a, b| a.address.cmp(&b.address));
    state
}

/// Writes `state` as the next serial and bumps it, as the writer task does.
async fn write(backend: &Backend, state: &mut State) {
    backend.write_next(state).await.expect("write the state");
    state.serial += 1;
}

// ---------------------------------------------------------------------------------------
// The lock
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_lock_is_exclusive_names_its_holder_and_once_released_is_taken_over() {
    let bucket = TestBucket::new().await;
    let dir = common::temp_state_dir();
    let a = backend(&bucket, "prod", 60, dir.path()).await;
    let b = backend(&bucket, "prod", 60, dir.path()).await;
    let held = lock(&a, "nova up").await.expect("the first lock");
    let id = held.info().id.clone().expect("an S3 lock has an id");

    let err = lock(&b, "nova plan").await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StateError::LockHeld { .. }), "{message}");
    for word in [
        "locked by",
        &format!("pid {}", std::process::id()),
        &nova::state::hostname(),
        "running `nova up`",
        &id,
    ] {
        assert!(message.contains(word), "{word:?} not in: {message}");
    }

    let layout = Layout::new("team/nova/", "prod");
    let object = bucket.lock_object(&layout).await.expect("a lock object");
    assert_eq!(object.status, LockStatus::Held);
    assert_eq!(object.holder.id.as_deref(), Some(id.as_str()));
    assert_eq!(object.holder.command, "nova up");
    assert_eq!(object.lease_seconds, 60);

    held.release().await.expect("release");
    // LocalStack 4.8 answers 501 to DeleteObject with If-Match: a tombstone stands in.
    match bucket.lock_object(&layout).await {
        None => {}
        Some(tombstone) => {
            assert_eq!(tombstone.status, LockStatus::Released, "{tombstone:?}");
            assert_eq!(tombstone.holder.id.as_deref(), Some(id.as_str()));
        }
    }
    let again = lock(&b, "nova plan")
        .await
        .expect("a released lock is taken over");
    assert_ne!(again.info().id.as_deref(), Some(id.as_str()));
    let object = bucket.lock_object(&layout).await.expect("a lock object");
    assert_eq!(object.status, LockStatus::Held);
    assert_eq!(object.holder.id, again.info().id);
    again.release().await.expect("release");
    // Every lock object lives under its own prefix, nothing else was written.
    assert_eq!(bucket.keys().await, vec!["team/nova/locks/prod.json"]);
}

#[tokio::test]
async fn sixteen_runs_racing_for_the_lock_have_exactly_one_winner() {
    let bucket = TestBucket::new().await;
    let dir = common::temp_state_dir();
    for round in 0..3 {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let backend = backend(&bucket, "race", 60, dir.path()).await;
            tasks.spawn(async move {
                let result = lock(&backend, "nova up").await;
                (backend, result)
            });
        }
        let mut winners = Vec::new();
        let mut refusals = 0;
        while let Some(joined) = tasks.join_next().await {
            let (backend, result) = joined.expect("a racing task");
            match result {
                Ok(guard) => winners.push((backend, guard)),
                Err(StateError::LockHeld { .. }) => refusals += 1,
                Err(other) => panic!("round {round}: unexpected refusal: {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {} winners", winners.len());
        assert_eq!(refusals, 15, "round {round}");
        let (_, guard) = winners.pop().expect("one winner");
        guard.release().await.expect("release");
    }
}

#[tokio::test]
async fn the_holder_renews_its_lease_and_a_dead_holder_goes_stale_by_s3s_clock() {
    let bucket = TestBucket::new().await;
    let dir = common::temp_state_dir();
    let a = backend(&bucket, "beat", 2, dir.path()).await;
    let b = backend(&bucket, "beat", 2, dir.path()).await;
    let layout = Layout::new("team/nova/", "beat");
    let held = lock(&a, "nova up").await.expect("lock");
    let id = held.info().id.clone().expect("an id");

    // Longer than the lease: alive only because the heartbeat renews it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let err = lock(&b, "nova up").await.unwrap_err();
    assert!(matches!(err, StateError::LockHeld { .. }), "{err}");
    let beats = bucket.lock_object(&layout).await.expect("lock").heartbeat;
    assert!(
        beats >= 3,
        "only {beats} heartbeats in 4 s with a 2 s lease"
    );

    // The holder dies: no release, no more heartbeats.
    drop(held);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let err = lock(&b, "nova up").await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StateError::StaleLease { .. }), "{message}");
    for word in [
        "stale",
        &format!("pid {}", std::process::id()),
        &format!("nova state unlock --force {id}"),
    ] {
        assert!(message.contains(word), "{word:?} not in: {message}");
    }
    // Stale is reported, never taken over silently.
    let object = bucket.lock_object(&layout).await.expect("lock");
    assert_eq!(object.holder.id.as_deref(), Some(id.as_str()));
    assert_eq!(object.status, LockStatus::Held);
}

#[tokio::test]
async fn unlock_breaks_only_the_lock_with_the_given_id() {
    let bucket = TestBucket::new().await;
    let dir = common::temp_state_dir();
    let a = backend(&bucket, "unlock", 2, dir.path()).await;
    let b = backend(&bucket, "unlock", 2, dir.path()).await;
    let layout = Layout::new("team/nova/", "unlock");
    assert_eq!(b.unlock(true, Some("x")).await.expect("no lock"), None);

    let held = lock(&a, "nova up").await.expect("lock");
    let id = held.info().id.clone().expect("an id");
    drop(held);

    let err = b.unlock(false, Some(&id)).await.unwrap_err();
    assert!(matches!(err, StateError::UnlockNeedsForce { .. }), "{err}");
    assert!(err.to_string().contains(&format!("--force {id}")), "{err}");
    let err = b.unlock(true, None).await.unwrap_err();
    assert!(matches!(err, StateError::UnlockNeedsId { .. }), "{err}");
    let err = b.unlock(true, Some("not-the-id")).await.unwrap_err();
    assert!(matches!(err, StateError::UnlockWrongId { .. }), "{err}");
    assert_eq!(
        bucket.lock_object(&layout).await.expect("lock").status,
        LockStatus::Held,
        "a refused unlock changed the lock"
    );

    let removed = b.unlock(true, Some(&id)).await.expect("unlock");
    assert_eq!(removed.and_then(|h| h.id), Some(id.clone()));
    let c = lock(&b, "nova up").await.expect("the broken lock is free");
    // The old id no longer breaks anything: the lock changed hands.
    let err = a.unlock(true, Some(&id)).await.unwrap_err();
    assert!(matches!(err, StateError::UnlockWrongId { .. }), "{err}");
    let object = bucket.lock_object(&layout).await.expect("lock");
    assert_eq!(object.holder.id, c.info().id);
    c.release().await.expect("release");
}

#[tokio::test]
async fn a_broken_lock_is_lost_by_its_holder_whose_writes_stop() {
    let bucket = TestBucket::new().await;
    let dir = common::temp_state_dir();
    let a = backend(&bucket, "lost", 2, dir.path()).await;
    let b = backend(&bucket, "lost", 2, dir.path()).await;
    let held = lock(&a, "nova up").await.expect("lock");
    let id = held.info().id.clone().expect("an id");
    assert!(a.read().await.expect("read").is_none());
    let mut state = small_state("lineage-lost");
    write(&a, &mut state).await;

    b.unlock(true, Some(&id))
        .await
        .expect("break the live lock");
    let taken = lock(&b, "nova up").await.expect("b takes it");
    // a's next heartbeat (every 0.5 s) finds the lock changed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let err = a.write_next(&state).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StateError::LockLost { .. }), "{message}");
    assert!(
        message.contains("stopped before its next AWS call"),
        "{message}"
    );
    let kept = dir.path().join("lost.unsaved-serial-2.json");
    assert!(kept.exists(), "no local copy {}: {message}", kept.display());
    assert!(message.contains(&kept.display().to_string()), "{message}");

    // The stored state is a's first write; b's lock is intact; a's release touches nothing.
    let stored = b.load().await.expect("load");
    assert_eq!(stored.serial, 1);
    held.release().await.expect("a lost lock releases quietly");
    let layout = Layout::new("team/nova/", "lost");
    let object = bucket.lock_object(&layout).await.expect("lock");
    assert_eq!(object.holder.id, taken.info().id);
    assert_eq!(object.status, LockStatus::Held);
    taken.release().await.expect("release");
}

// ---------------------------------------------------------------------------------------
// Fenced writes, integrity, history
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_write_behind_novas_back_fences_the_next_write_and_a_local_copy_is_kept() {
    let bucket = TestBucket::new().await;
    let dir = common::temp_state_dir();
    let a = backend(&bucket, "fence", 60, dir.path()).await;
    let guard = lock(&a, "nova up").await.expect("lock");
    assert!(a.read().await.expect("read").is_none());
    let mut state = small_state("lineage-fence");
    write(&a, &mut state).await;
    write(&a, &mut state).await;

    let layout = Layout::new("team/nova/", "fence");
    let mut theirs = state.clone();
    theirs.serial = 7;
    theirs.resources.clear();
    let mut their_bytes = serde_json::to_vec_pretty(&theirs).expect("json");
    their_bytes.push(b'\n');
    bucket
        .put(
            &layout.state(),
            their_bytes.clone(),
            Some(&sha256_hex(&their_bytes)),
        )
        .await;

    state.outputs.clear();
    let err = a.write_next(&state).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StateError::Fenced { .. }), "{message}");
    for word in [
        "412",
        "changed by someone else",
        "stopped before its next AWS call",
        "nova state push --force",
    ] {
        assert!(message.contains(word), "{word:?} not in: {message}");
    }
    let kept = dir.path().join("fence.unsaved-serial-3.json");
    assert!(message.contains(&kept.display().to_string()), "{message}");
    let copy: State =
        serde_json::from_slice(&std::fs::read(&kept).expect("the copy")).expect("a state");
    assert_eq!(copy.serial, 3);
    assert_eq!(copy.lineage, "lineage-fence");
    assert_eq!(copy.resources.len(), 2);

    // S3 still holds their write; nova's history stops at its last stored serial.
    let (stored, _) = bucket.get(&layout.state()).await.expect("state");
    assert_eq!(stored, their_bytes);
    assert!(
        bucket.get(&layout.history(3)).await.is_none(),
        "history of a refused write"
    );
    guard.release().await.expect("release");
}

#[tokio::test]
async fn the_first_write_creates_the_state_only_if_none_exists() {
    let bucket = TestBucket::new().await;
    let dir = common::temp_state_dir();
    let a = backend(&bucket, "first", 60, dir.path()).await;
    let guard = lock(&a, "nova up").await.expect("lock");
    assert!(a.read().await.expect("read").is_none());
    let layout = Layout::new("team/nova/", "first");
    let mut other = small_state("someone-else");
    other.serial = 1;
    let bytes = serde_json::to_vec_pretty(&other).expect("json");
    bucket
        .put(&layout.state(), bytes.clone(), Some(&sha256_hex(&bytes)))
        .await;

    let err = a.write_next(&small_state("mine")).await.unwrap_err();
    assert!(matches!(err, StateError::Fenced { .. }), "{err}");
    assert!(err.to_string().contains("If-None-Match"), "{err}");
    assert_eq!(bucket.get(&layout.state()).await.expect("state").0, bytes);
    guard.release().await.expect("release");
}

#[tokio::test]
async fn a_412_on_bytes_that_are_already_ours_is_a_retried_put_that_had_succeeded() {
    let bucket = TestBucket::new().await;
    let dir = common::temp_state_dir();
    let a = backend(&bucket, "retry", 60, dir.path()).await;
    let guard = lock(&a, "nova up").await.expect("lock");
    assert!(a.read().await.expect("read").is_none());
    let mut state = small_state("lineage-retry");
    write(&a, &mut state).await;

    // The next PUT reached S3 but its answer was lost: S3 holds exactly our next bytes,
    // under an ETag nova never saw, so nova's attempt is answered 412.
    let next = nova::state::encode_next(&state, &a.location()).expect("encode");
    let layout = Layout::new("team/nova/", "retry");
    bucket
        .put(&layout.state(), next.clone(), Some(&sha256_hex(&next)))
        .await;

    write(&a, &mut state).await;
    assert_eq!(a.load().await.expect("load").serial, 2);
    assert_eq!(
        bucket.get(&layout.history(2)).await.expect("history 2").0,
        next
    );
    // And the fence follows the object: the next write succeeds too.
    write(&a, &mut state).await;
    assert_eq!(a.load().await.expect("load").serial, 3);
    guard.release().await.expect("release");
}

#[tokio::test]
async fn every_read_checks_the_sha256_nova_recorded() {
    let bucket = TestBucket::new().await;
    let dir = common::temp_state_dir();
    let a = backend(&bucket, "sum", 60, dir.path()).await;
    let guard = lock(&a, "nova up").await.expect("lock");
    assert!(a.read().await.expect("read").is_none());
    let mut state = small_state("lineage-sum");
    write(&a, &mut state).await;
    let layout = Layout::new("team/nova/", "sum");
    let (bytes, out) = bucket.get(&layout.state()).await.expect("state");
    let recorded = out.metadata().and_then(|m| m.get("nova-sha256")).cloned();
    assert_eq!(recorded, Some(sha256_hex(&bytes)));

    let mut damaged = bytes.clone();
    damaged.extend_from_slice(b" ");
    bucket
        .put(&layout.state(), damaged, recorded.as_deref())
        .await;
    let err = a.load().await.unwrap_err();
    assert!(matches!(err, StateError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("integrity"), "{err}");

    bucket.put(&layout.state(), bytes, None).await;
    let err = a.load().await.unwrap_err();
    assert!(matches!(err, StateError::NoChecksum { .. }), "{err}");
    assert!(err.to_string().contains("nova state push"), "{err}");
    guard.release().await.expect("release");
}

#[tokio::test]
async fn history_keeps_every_serial_and_an_old_one_is_restored_as_the_next() {
    let bucket = TestBucket::new().await;
    let dir = common::temp_state_dir();
    let a = backend(&bucket, "hist", 60, dir.path()).await;
    let guard = lock(&a, "nova up").await.expect("lock");
    assert!(a.read().await.expect("read").is_none());
    let mut state = small_state("lineage-hist");
    for n in 0..5 {
        state
            .outputs
            .insert("n".to_string(), nova::model::Value::str(n.to_string()));
        write(&a, &mut state).await;
    }
    let versions = a.history().await.expect("history");
    let serials: Vec<u64> = versions.iter().map(|v| v.serial).collect();
    assert_eq!(serials, [1, 2, 3, 4, 5]);
    let current: Vec<u64> = versions
        .iter()
        .filter(|v| v.current)
        .map(|v| v.serial)
        .collect();
    assert_eq!(current, [5]);
    for v in &versions {
        assert_eq!(v.lineage.as_deref(), Some("lineage-hist"));
        assert_eq!(v.command.as_deref(), Some("nova up"));
        assert!(
            v.who
                .as_deref()
                .is_some_and(|w| w.ends_with(&format!("@{}", nova::state::hostname()))),
            "{v:?}"
        );
        assert!(v.written.is_some());
    }
    let third = a.version(3).await.expect("version 3");
    assert_eq!(third.serial, 3);
    assert_eq!(third.outputs["n"], nova::model::Value::str("2"));

    let done = a.restore(3, false).await.expect("restore");
    assert_eq!((done.previous, done.serial), (Some(5), 6));
    let now = a.load().await.expect("load");
    assert_eq!(now.serial, 6);
    assert_eq!(now.outputs["n"], nova::model::Value::str("2"));
    assert_eq!(a.history().await.expect("history").len(), 6);

    let err = a.version(42).await.unwrap_err();
    assert!(matches!(err, StateError::NoSuchVersion { .. }), "{err}");
    assert!(err.to_string().contains("1, 2, 3, 4, 5, 6"), "{err}");
    guard.release().await.expect("release");
}

#[tokio::test]
async fn a_version_missing_from_history_after_a_crash_is_recorded_by_the_next_run() {
    let bucket = TestBucket::new().await;
    let dir = common::temp_state_dir();
    let layout = Layout::new("team/nova/", "gap");
    let a = backend(&bucket, "gap", 60, dir.path()).await;
    let guard = lock(&a, "nova up").await.expect("lock");
    assert!(a.read().await.expect("read").is_none());
    let mut state = small_state("lineage-gap");
    write(&a, &mut state).await;
    write(&a, &mut state).await;
    guard.release().await.expect("release");
    // As if the run had been killed between its state write and its history write.
    bucket
        .s3
        .delete_object()
        .bucket(&bucket.name)
        .key(layout.history(2))
        .send()
        .await
        .expect("DeleteObject");

    let b = backend(&bucket, "gap", 60, dir.path()).await;
    let guard = lock(&b, "nova up").await.expect("lock");
    let mut state = b.load().await.expect("load");
    write(&b, &mut state).await;
    let serials: Vec<u64> = b
        .history()
        .await
        .expect("history")
        .iter()
        .map(|v| v.serial)
        .collect();
    assert_eq!(serials, [1, 2, 3]);
    guard.release().await.expect("release");
}

#[tokio::test]
async fn push_refuses_another_lineage_or_an_older_serial_unless_forced() {
    let bucket = TestBucket::new().await;
    let dir = common::temp_state_dir();
    let a = backend(&bucket, "push", 60, dir.path()).await;
    let guard = lock(&a, "nova state push").await.expect("lock");
    let mut pulled = small_state("lineage-push");
    pulled.serial = 41;
    let done = a
        .push(pulled.clone(), "local.json", false)
        .await
        .expect("push to an empty stack");
    assert_eq!(
        (done.previous, done.serial),
        (None, 41),
        "a moved state keeps its serial"
    );
    pulled.serial = 41;

    let err = a
        .push(small_state("other"), "other.json", false)
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::LineageMismatch { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");

    pulled.serial = 40;
    let err = a.push(pulled.clone(), "old.json", false).await.unwrap_err();
    assert!(matches!(err, StateError::OlderSerial { .. }), "{err}");
    assert!(err.to_string().contains("older"), "{err}");

    pulled.serial = 41;
    let done = a
        .push(pulled.clone(), "same.json", false)
        .await
        .expect("same serial is fine");
    assert_eq!((done.previous, done.serial), (Some(41), 42));
    let done = a
        .push(small_state("other"), "other.json", true)
        .await
        .expect("forced");
    assert_eq!(done.serial, 43);
    let now = a.load().await.expect("load");
    assert_eq!((now.lineage.as_str(), now.serial), ("other", 43));
    guard.release().await.expect("release");
}

#[tokio::test]
async fn with_kms_key_id_every_object_nova_writes_is_sse_kms() {
    let bucket = TestBucket::new().await;
    let kms = aws_sdk_kms::Client::new(&common::sdk_config().await);
    let key = kms.create_key().send().await.expect("CreateKey");
    let key_id = key.key_metadata().expect("metadata").key_id().to_string();
    let mut settings = bucket.settings(60);
    settings.kms_key_id = Some(key_id.clone());
    let dir = common::temp_state_dir();
    let sdk = common::sdk_config().await;
    let a: Backend = S3Backend::with_sdk_config(&settings, "kms", dir.path(), &sdk).into();
    let guard = lock(&a, "nova up").await.expect("lock");
    assert!(a.read().await.expect("read").is_none());
    let mut state = small_state("lineage-kms");
    write(&a, &mut state).await;
    guard
        .release()
        .await
        .expect("release (a tombstone on LocalStack)");

    let keys = bucket.keys().await;
    assert_eq!(
        keys,
        [
            "team/nova/history/kms/00000000000000000001.json",
            "team/nova/locks/kms.json",
            "team/nova/state/kms.json",
        ]
    );
    for key in keys {
        let head = bucket
            .s3
            .head_object()
            .bucket(&bucket.name)
            .key(&key)
            .send()
            .await
            .expect("HeadObject");
        assert_eq!(
            head.server_side_encryption(),
            Some(&aws_sdk_s3::types::ServerSideEncryption::AwsKms),
            "{key}"
        );
        assert!(
            head.ssekms_key_id().is_some_and(|k| k.contains(&key_id)),
            "{key}: {:?}",
            head.ssekms_key_id()
        );
    }
    assert_eq!(a.load().await.expect("load").serial, 1);
}

#[tokio::test]
async fn a_missing_bucket_is_a_clear_error_and_nova_never_creates_it() {
    let dir = common::temp_state_dir();
    let settings = S3BackendConfig {
        bucket: format!("nova-missing-{}", uuid::Uuid::new_v4().simple()),
        prefix: "nova/".to_string(),
        region: common::REGION.to_string(),
        kms_key_id: None,
        lock_lease: Duration::from_secs(60),
    };
    let sdk = common::sdk_config().await;
    let a: Backend = S3Backend::with_sdk_config(&settings, "nobucket", dir.path(), &sdk).into();
    let err = lock(&a, "nova up").await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("NoSuchBucket"), "{message}");
    assert!(
        message.contains("nova never creates the bucket"),
        "{message}"
    );
    assert!(message.contains(&settings.bucket), "{message}");
    let head = raw_s3()
        .await
        .head_bucket()
        .bucket(&settings.bucket)
        .send()
        .await;
    assert!(head.is_err(), "the bucket exists now");
}

// ---------------------------------------------------------------------------------------
// The commands, on S3, with the nova binary
// ---------------------------------------------------------------------------------------

/// `nova --stack STACK --state-dir DIR ARGS` with the S3 backend in `bucket` (env).
fn nova(bucket: &str, stack: &str, dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(common::nova_bin());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("NOVA_") || key.starts_with("AWS_") {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("AWS_ENDPOINT_URL", common::localstack_endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", common::REGION)
        .env("NOVA_BACKEND_TYPE", "s3")
        .env("NOVA_BACKEND_BUCKET", bucket)
        .env("NOVA_BACKEND_PREFIX", "team/nova/")
        .arg("--stack")
        .arg(stack)
        .arg("--state-dir")
        .arg(dir)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start nova");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
    }
    child.wait_with_output().expect("wait for nova")
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "nova failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8")
}

#[track_caller]
fn failed(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr.clone()).expect("UTF-8")
}

#[tokio::test]
async fn state_commands_move_a_local_state_to_s3_and_back() {
    let bucket = TestBucket::new().await;
    let local = common::temp_state_dir();
    let empty = common::temp_state_dir();
    let stack = common::unique_stack("move");

    // A local state, as an earlier nova left it.
    let mut state = small_state("lineage-move");
    state.serial = 12;
    let local_file = local.path().join(format!("{stack}.json"));
    std::fs::write(
        &local_file,
        serde_json::to_vec_pretty(&state).expect("json"),
    )
    .expect("write");

    // Local -> S3: push the file; S3 then answers every read command.
    let pushed = ok(&nova(
        &bucket.name,
        &stack,
        empty.path(),
        &["state", "push", &local_file.display().to_string()],
        None,
    ));
    assert!(pushed.contains("as serial 12"), "{pushed}");
    let listed = ok(&nova(
        &bucket.name,
        &stack,
        empty.path(),
        &["state", "list"],
        None,
    ));
    assert_eq!(listed, "aws_subnet.public[0]\naws_vpc.main\n");
    let pulled = ok(&nova(
        &bucket.name,
        &stack,
        empty.path(),
        &["state", "pull"],
        None,
    ));
    let layout = Layout::new("team/nova/", &stack);
    let (stored, _) = bucket.get(&layout.state()).await.expect("the state object");
    assert_eq!(
        pulled.as_bytes(),
        stored.as_slice(),
        "pull prints the object exactly"
    );
    let pulled_state: State = serde_json::from_str(&pulled).expect("a state");
    assert_eq!(pulled_state.resources, state.resources);

    // Pushing the same file again is fine (same lineage, same serial): serial 13. An
    // older copy or another lineage is refused, and nothing changes.
    ok(&nova(
        &bucket.name,
        &stack,
        empty.path(),
        &["state", "push", &local_file.display().to_string()],
        None,
    ));
    let mut old = state.clone();
    old.serial = 3;
    let old_text = serde_json::to_vec(&old).expect("json");
    let err = failed(&nova(
        &bucket.name,
        &stack,
        empty.path(),
        &["state", "push", "-"],
        Some(&old_text),
    ));
    assert!(err.contains("older") && err.contains("--force"), "{err}");
    let other = serde_json::to_vec(&small_state("another-lineage")).expect("json");
    let err = failed(&nova(
        &bucket.name,
        &stack,
        empty.path(),
        &["state", "push", "-"],
        Some(&other),
    ));
    assert!(
        err.contains("lineage another-lineage") && err.contains("--force"),
        "{err}"
    );
    let err = failed(&nova(
        &bucket.name,
        &stack,
        empty.path(),
        &["state", "push", "-"],
        Some(b"{ not json"),
    ));
    assert!(
        err.contains("(stdin)") && err.contains("not valid JSON"),
        "{err}"
    );

    // History lists both versions; restore brings 12 back as 14.
    let history = ok(&nova(
        &bucket.name,
        &stack,
        empty.path(),
        &["state", "history"],
        None,
    ));
    let rows: Vec<&str> = history.lines().collect();
    assert_eq!(rows.len(), 3, "{history}");
    assert!(
        rows[0].contains("SERIAL") && rows[0].contains("LINEAGE"),
        "{history}"
    );
    assert!(
        rows[1].contains(" 12 ") && rows[1].contains("nova state push"),
        "{history}"
    );
    assert!(
        rows[2].starts_with('*') && rows[2].contains(" 13 "),
        "{history}"
    );
    let restored = ok(&nova(
        &bucket.name,
        &stack,
        empty.path(),
        &["state", "restore", "12"],
        None,
    ));
    assert!(restored.contains("as serial 14"), "{restored}");
    let err = failed(&nova(
        &bucket.name,
        &stack,
        empty.path(),
        &["state", "restore", "99"],
        None,
    ));
    assert!(
        err.contains("no version with serial 99") && err.contains("12, 13, 14"),
        "{err}"
    );

    // S3 -> local: pull, then push into the local backend (NOVA_BACKEND_TYPE=local wins
    // over the rest of the S3 settings).
    let pulled = nova(&bucket.name, &stack, empty.path(), &["state", "pull"], None);
    let back = common::temp_state_dir();
    let mut cmd = Command::new(common::nova_bin());
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NOVA_BACKEND_TYPE", "local")
        .env("NOVA_BACKEND_BUCKET", &bucket.name)
        .args(["--stack", &stack, "--state-dir"])
        .arg(back.path())
        .args(["state", "push", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // NOVA_BACKEND_BUCKET from the environment with type local is refused...
    let refused = cmd.output().expect("run nova");
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("only applies to `type = \"s3\"`"));
    // ...so the move back uses the file's [backend] overridden by type only.
    let config = back.path().join("Nova.toml");
    let repo_config =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Nova.toml"))
            .expect("Nova.toml");
    std::fs::write(
        &config,
        format!(
            "{repo_config}\n[backend]\ntype = \"s3\"\nbucket = \"{}\"\nprefix = \"team/nova/\"\n",
            bucket.name
        ),
    )
    .expect("write Nova.toml");
    let mut child = Command::new(common::nova_bin())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NOVA_BACKEND_BUCKET")
        .env_remove("NOVA_BACKEND_PREFIX")
        .env("NOVA_BACKEND_TYPE", "local")
        .arg("--config")
        .arg(&config)
        .args(["--stack", &stack, "--state-dir"])
        .arg(back.path())
        .args(["state", "push", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nova");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&pulled.stdout)
            .expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    ok(&out);
    let local_back: State = serde_json::from_slice(
        &std::fs::read(back.path().join(format!("{stack}.json"))).expect("the local file"),
    )
    .expect("a state");
    assert_eq!(local_back.lineage, "lineage-move");
    assert_eq!(local_back.serial, 14, "a new local state keeps the serial");
    assert_eq!(local_back.resources, state.resources);

    // With S3, nothing was ever written under --state-dir.
    assert_eq!(
        std::fs::read_dir(empty.path()).expect("list").count(),
        0,
        "files under --state-dir"
    );
    // Every object is where the layout says, and no lock is left held.
    let keys = bucket.keys().await;
    assert!(keys.iter().all(|k| k.starts_with("team/nova/")), "{keys:?}");
    let lock = bucket.lock_object(&layout).await;
    assert!(
        lock.is_none_or(|l| l.status == LockStatus::Released),
        "a lock is left held"
    );
}

#[tokio::test]
async fn a_run_refused_by_the_lock_exits_1_at_once_and_lock_timeout_waits() {
    let bucket = TestBucket::new().await;
    let dir = common::temp_state_dir();
    let stack = common::unique_stack("busy");
    let sdk = common::sdk_config().await;
    let mut settings = bucket.settings(60);
    settings.prefix = "team/nova/".to_string();
    let holder: Backend = S3Backend::with_sdk_config(&settings, &stack, dir.path(), &sdk).into();
    let guard = lock(&holder, "nova up").await.expect("lock");
    let id = guard.info().id.clone().expect("id");

    let started = std::time::Instant::now();
    let out = nova(&bucket.name, &stack, dir.path(), &["plan"], None);
    let elapsed = started.elapsed();
    let err = failed(&out);
    assert!(
        err.contains("locked by") && err.contains(&id) && err.contains("running `nova up`"),
        "{err}"
    );
    assert!(
        elapsed < Duration::from_secs(2),
        "refused after {elapsed:?}"
    );

    // With --lock-timeout it waits, says so, and gives up naming the holder.
    let started = std::time::Instant::now();
    let out = nova(
        &bucket.name,
        &stack,
        dir.path(),
        &["--lock-timeout", "2s", "state", "push", "-"],
        Some(&serde_json::to_vec(&small_state("x")).expect("json")),
    );
    let err = failed(&out);
    assert!(started.elapsed() >= Duration::from_secs(2), "did not wait");
    assert!(err.contains("Waiting up to 2s for the lock"), "{err}");
    assert!(err.contains("gave up after waiting 2s"), "{err}");

    // Released while a run waits: the run goes ahead.
    let waiter = {
        let bucket = bucket.name.clone();
        let stack = stack.clone();
        let dir = dir.path().to_path_buf();
        std::thread::spawn(move || {
            nova(
                &bucket,
                &stack,
                &dir,
                &["--lock-timeout", "20s", "state", "push", "-"],
                Some(&serde_json::to_vec(&small_state("waited")).expect("json")),
            )
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    guard.release().await.expect("release");
    let out = tokio::task::spawn_blocking(move || waiter.join().expect("the waiting run"))
        .await
        .expect("join");
    let stdout = ok(&out);
    assert!(stdout.contains("Pushed (stdin)"), "{stdout}");
    assert_eq!(holder.load().await.expect("load").lineage, "waited");
}
