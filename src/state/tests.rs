//! Tests of the state store: round trip, atomic write and backup, every corrupt-file case,
//! the lock, and the writer's coalescing.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::model::{Address, Inputs, Value};

use super::*;

fn resource(kind: &str, name: &str, deps: &[&Address]) -> ResourceState {
    let address = Address::new(kind, name);
    let mut inputs = Inputs::new();
    inputs.insert("name".into(), Value::str(name));
    let mut outputs = Inputs::new();
    outputs.insert("id".into(), Value::str(format!("id-{name}")));
    ResourceState {
        address,
        kind: kind.to_string(),
        id: format!("id-{name}"),
        inputs,
        outputs,
        dependencies: deps.iter().map(|a| (*a).clone()).collect(),
    }
}

fn sample() -> State {
    let mut s = State::new();
    let vpc = resource("aws_vpc", "main", &[]);
    let subnet = resource("aws_subnet", "a", &[&vpc.address]);
    s.upsert(vpc);
    s.upsert(subnet);
    s.outputs.insert("vpc".into(), Value::str("id-main"));
    s
}

fn store() -> (tempfile::TempDir, StateStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path(), "prod");
    (dir, store)
}

#[test]
fn paths_follow_the_stack_name() {
    let s = StateStore::new("/x", "prod");
    assert_eq!(s.path(), std::path::Path::new("/x/prod.json"));
    assert_eq!(s.backup_path(), std::path::Path::new("/x/prod.json.backup"));
    assert_eq!(s.lock_path(), std::path::Path::new("/x/prod.lock"));
}

#[test]
fn missing_file_loads_as_empty_state_and_writes_nothing() {
    let (dir, store) = store();
    let s = store.load().unwrap();
    assert!(s.resources.is_empty());
    assert_eq!(s.serial, 0);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn round_trip() {
    let (_dir, store) = store();
    let mut s = sample();
    store.write(&mut s).unwrap();
    assert_eq!(s.serial, 1);
    let back = store.load().unwrap();
    assert_eq!(back, s);
}

#[test]
fn write_is_atomic_keeps_a_backup_and_is_private() {
    let (dir, store) = store();
    let mut s = sample();
    store.write(&mut s).unwrap();
    assert!(
        !store.backup_path().exists(),
        "no backup before a second write"
    );
    s.remove(&Address::new("aws_subnet", "a"));
    store.write(&mut s).unwrap();
    assert_eq!(s.serial, 2);

    let names: BTreeSet<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = ["prod.json", "prod.json.backup"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, expected, "no temporary files are left behind");

    let mode = fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let backup: State =
        serde_json::from_str(&fs::read_to_string(store.backup_path()).unwrap()).unwrap();
    assert_eq!(backup.serial, 1);
    assert_eq!(backup.resources.len(), 2);
    assert_eq!(store.load().unwrap().serial, 2);
}

#[test]
fn an_inconsistent_state_is_not_written() {
    let (_dir, store) = store();
    let mut s = sample();
    store.write(&mut s).unwrap();
    let before = fs::read(store.path()).unwrap();
    let mut bad = s.clone();
    bad.resources.push(resource("aws_vpc", "main", &[]));
    let err = store.write(&mut bad).unwrap_err();
    assert!(matches!(err, StateError::InvalidToWrite { .. }), "{err}");
    assert_eq!(bad.serial, s.serial, "serial unchanged by a failed write");
    assert_eq!(fs::read(store.path()).unwrap(), before);
}

/// Writes `text` as the state file, loads it, checks the file is unchanged and returns
/// the error's message.
fn load_error(text: &str) -> (StateError, String) {
    let (_dir, store) = store();
    fs::write(store.path(), text).unwrap();
    let err = store.load().unwrap_err();
    assert_eq!(
        fs::read_to_string(store.path()).unwrap(),
        text,
        "file untouched"
    );
    let message = err.to_string();
    assert!(
        message.contains(&store.path().display().to_string()),
        "{message}"
    );
    (err, message)
}

fn sample_json() -> serde_json::Value {
    serde_json::to_value(sample()).unwrap()
}

#[test]
fn empty_file_is_refused() {
    let (err, message) = load_error("");
    assert!(matches!(err, StateError::Empty { .. }), "{message}");
    assert!(message.contains("prod.json.backup"), "{message}");
}

#[test]
fn truncated_file_is_refused() {
    let full = serde_json::to_string_pretty(&sample_json()).unwrap();
    let (err, message) = load_error(&full[..full.len() / 2]);
    assert!(matches!(err, StateError::Truncated { .. }), "{message}");
    assert!(message.contains("truncated"), "{message}");
    assert!(message.contains("prod.json.backup"), "{message}");
}

#[test]
fn non_json_is_refused_with_line_and_column() {
    let (err, message) = load_error("{\n  \"version\": 1,\n  oops\n}\n");
    match err {
        StateError::NotJson { line, column, .. } => {
            assert_eq!(line, 3);
            assert_eq!(column, 3);
        }
        other => panic!("{other}"),
    }
    assert!(message.contains("line 3, column 3"), "{message}");
}

#[test]
fn unknown_version_is_refused_naming_the_supported_one() {
    let mut json = sample_json();
    json["version"] = 7.into();
    let (err, message) = load_error(&json.to_string());
    assert!(
        matches!(err, StateError::UnsupportedVersion { found: 7, .. }),
        "{message}"
    );
    assert!(message.contains("reads version 1"), "{message}");
}

#[test]
fn unknown_fields_are_refused() {
    let mut json = sample_json();
    json["resources"][0]["colour"] = "blue".into();
    let (err, message) = load_error(&serde_json::to_string_pretty(&json).unwrap());
    assert!(matches!(err, StateError::Malformed { .. }), "{message}");
    assert!(message.contains("colour"), "{message}");
}

#[test]
fn duplicate_addresses_are_refused() {
    let mut json = sample_json();
    let first = json["resources"][0].clone();
    json["resources"].as_array_mut().unwrap().push(first);
    let (err, message) = load_error(&json.to_string());
    assert!(
        matches!(&err, StateError::Invalid { problem, .. } if matches!(**problem, ValidationError::DuplicateAddress(_))),
        "{message}"
    );
    assert!(message.contains("appears more than once"), "{message}");
}

#[test]
fn dangling_dependency_is_refused() {
    let mut json = sample_json();
    json["resources"][0]["dependencies"] = serde_json::json!(["aws_vpc.gone"]);
    let (err, message) = load_error(&json.to_string());
    assert!(
        matches!(&err, StateError::Invalid { problem, .. } if matches!(**problem, ValidationError::UnknownDependency { .. })),
        "{message}"
    );
    assert!(message.contains("aws_vpc.gone"), "{message}");
}

#[test]
fn kind_not_matching_address_is_refused() {
    let mut json = sample_json();
    json["resources"][0]["kind"] = "aws_vpc".into(); // resources[0] is aws_subnet.a
    let (err, message) = load_error(&json.to_string());
    assert!(
        matches!(&err, StateError::Invalid { problem, .. } if matches!(**problem, ValidationError::KindMismatch { .. })),
        "{message}"
    );
    assert!(message.contains("aws_subnet.a"), "{message}");
}

#[test]
fn second_lock_on_the_same_stack_fails_naming_the_holder() {
    let (_dir, store) = store();
    let held = store.lock("up").unwrap();
    let err = store.lock("destroy").unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StateError::Locked { .. }), "{message}");
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    assert!(message.contains(&hostname()), "{message}");
    assert!(message.contains("running `up`"), "{message}");
    assert!(message.contains(&held.info().since), "{message}");
    assert!(
        store.force_unlock(false).is_err(),
        "a live lock is not removed"
    );
    drop(held);
    assert!(
        !store.lock_path().exists(),
        "dropping the lock removes the file"
    );
    let _again = store.lock("up").unwrap();
}

#[test]
fn a_lock_of_a_dead_process_is_reported_stale_and_can_be_cleared() {
    let (_dir, store) = store();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    assert!(!pid_alive(dead_pid));
    let info = LockInfo {
        id: None,
        who: None,
        pid: dead_pid,
        host: hostname(),
        command: "up".into(),
        since: "2024-01-01T00:00:00Z".into(),
    };
    fs::write(store.lock_path(), serde_json::to_string(&info).unwrap()).unwrap();
    let err = store.lock("plan").unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StateError::StaleLock { .. }), "{message}");
    assert!(
        message.contains("stale lock left by a dead process"),
        "{message}"
    );
    assert!(
        message.contains(&store.lock_path().display().to_string()),
        "{message}"
    );
    assert!(message.contains(&format!("pid {dead_pid}")), "{message}");
    assert_eq!(store.force_unlock(false).unwrap(), Some(info));
    assert!(!store.lock_path().exists());
    assert_eq!(store.force_unlock(false).unwrap(), None);
}

#[test]
fn force_unlock_removes_a_live_lock_only_when_forced() {
    let (_dir, store) = store();
    let held = store.lock("up").unwrap();
    assert!(matches!(
        store.force_unlock(false),
        Err(StateError::Locked { .. })
    ));
    assert_eq!(
        store.force_unlock(true).unwrap().as_ref(),
        Some(held.info())
    );
    assert!(!store.lock_path().exists());
}

fn pending(address: &Address, operation: Operation) -> PendingOperation {
    PendingOperation {
        address: address.clone(),
        kind: address.kind().to_string(),
        operation,
        id: None,
        inputs: Inputs::new(),
        dependencies: BTreeSet::new(),
        client_token: "t".into(),
        started_at: "2024-01-01T00:00:00Z".into(),
    }
}

#[tokio::test]
async fn begin_is_durable_before_it_returns_and_records_ride_along() {
    let (_dir, store) = store();
    let w = writer::spawn(store.clone(), State::new());
    let vpc = Address::new("aws_vpc", "main");
    w.begin(pending(&vpc, Operation::Create)).await.unwrap();
    let on_disk = store.load().unwrap();
    assert_eq!(on_disk.pending.len(), 1);
    assert_eq!(w.writes(), 1);

    w.record(Outcome::Created(resource("aws_vpc", "main", &[])))
        .await;
    let snap = w.snapshot().await.unwrap();
    assert!(snap.pending.is_empty());
    assert_eq!(w.writes(), 1, "a completion alone is not written");
    assert_eq!(store.load().unwrap().pending.len(), 1);

    let state = w.close().await.unwrap();
    assert_eq!(state.resources.len(), 1);
    let on_disk = store.load().unwrap();
    assert_eq!(on_disk, state);
    assert!(on_disk.pending.is_empty());
    assert_eq!(on_disk.serial, 2);
}

#[tokio::test]
async fn a_failed_write_fails_begin_and_every_later_begin() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    fs::write(&blocker, "not a directory").unwrap();
    let store = StateStore::new(blocker.join("sub"), "prod");
    let w = writer::spawn(store, State::new());
    let vpc = Address::new("aws_vpc", "main");
    let err = w.begin(pending(&vpc, Operation::Create)).await.unwrap_err();
    assert!(matches!(err, StateError::Io { .. }), "{err}");
    let err = w
        .begin(pending(&Address::new("aws_vpc", "b"), Operation::Create))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::WriterStopped { .. }), "{err}");
    assert!(w.close().await.is_err());
}

#[test]
fn deleting_a_dependency_drops_it_from_dependents_and_deposed_objects_are_kept() {
    let mut s = sample();
    let vpc = Address::new("aws_vpc", "main");
    let mut new_vpc = resource("aws_vpc", "main", &[]);
    new_vpc.id = "id-new".into();
    writer::apply_outcome(&mut s, Outcome::Created(new_vpc));
    assert_eq!(s.deposed.len(), 1);
    assert_eq!(s.deposed[0].id, "id-main");
    assert_eq!(s.get(&vpc).unwrap().id, "id-new");
    writer::apply_outcome(
        &mut s,
        Outcome::Deleted {
            address: vpc.clone(),
            id: "id-main".into(),
        },
    );
    assert!(s.deposed.is_empty());
    assert!(s.get(&vpc).is_some());
    writer::apply_outcome(
        &mut s,
        Outcome::Deleted {
            address: vpc.clone(),
            id: "id-new".into(),
        },
    );
    assert!(s.get(&vpc).is_none());
    let subnet = s.get(&Address::new("aws_subnet", "a")).unwrap();
    assert!(subnet.dependencies.is_empty());
    validate(&s).unwrap();
}

/// A backend whose writes fail from the `fail_from`-th on, like a fenced S3 write, and
/// which records what the writer asks it to keep after that.
#[derive(Debug, Default)]
struct Refusing {
    fail_from: u64,
    writes: std::sync::Mutex<Vec<State>>,
    kept: std::sync::Mutex<Option<State>>,
}

#[async_trait::async_trait]
impl StateBackend for Refusing {
    fn location(&self) -> Location {
        Location::s3("bucket", "state/prod.json")
    }
    fn lock_location(&self) -> Location {
        Location::s3("bucket", "locks/prod.json")
    }
    fn history_location(&self) -> Location {
        Location::s3("bucket", "history/prod/")
    }
    fn usage(&self) -> Usage {
        Usage::default()
    }
    async fn read(&self) -> Result<Option<(State, Vec<u8>)>, StateError> {
        Ok(None)
    }
    async fn write_next(&self, state: &State) -> Result<(), StateError> {
        let mut writes = self.writes.lock().unwrap();
        if writes.len() as u64 + 1 >= self.fail_from {
            return Err(StateError::Fenced {
                location: self.location(),
                expected: "ETag \"x\"".into(),
                kept: Kept::File {
                    path: "/tmp/prod.unsaved.json".into(),
                    serial: state.serial + 1,
                },
            });
        }
        writes.push(state.clone());
        Ok(())
    }
    async fn keep_unsaved(&self, state: &State) -> Option<std::path::PathBuf> {
        *self.kept.lock().unwrap() = Some(state.clone());
        Some("/tmp/prod.unsaved.json".into())
    }
    async fn try_lock(&self, _command: &str) -> Result<LockGuard, StateError> {
        unimplemented!("not used by the writer")
    }
    async fn unlock(&self, _: bool, _: Option<&str>) -> Result<Option<LockInfo>, StateError> {
        unimplemented!("not used by the writer")
    }
    async fn history(&self) -> Result<Vec<Version>, StateError> {
        Ok(Vec::new())
    }
    async fn version(&self, serial: u64) -> Result<State, StateError> {
        Err(StateError::NoSuchVersion {
            serial,
            location: self.history_location(),
            available: "none".into(),
        })
    }
}

#[tokio::test]
async fn a_refused_write_stops_every_later_begin_and_close_keeps_the_newest_state() {
    let backend = std::sync::Arc::new(Refusing {
        fail_from: 2,
        ..Refusing::default()
    });
    let w = writer::spawn(Backend::from_shared(backend.clone()), State::new());
    let vpc = Address::new("aws_vpc", "main");
    let subnet = Address::new("aws_subnet", "a");
    w.begin(pending(&vpc, Operation::Create)).await.unwrap();
    let err = w
        .begin(pending(&subnet, Operation::Create))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Fenced { .. }), "{err}");
    let err = w
        .begin(pending(&Address::new("aws_subnet", "b"), Operation::Create))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::WriterStopped { .. }), "{err}");
    assert!(err.to_string().contains("/tmp/prod.unsaved.json"), "{err}");
    // The VPC's call was in flight when the fence hit; its outcome still arrives.
    w.record(Outcome::Created(resource("aws_vpc", "main", &[])))
        .await;
    assert!(w.close().await.is_err());

    assert_eq!(
        backend.writes.lock().unwrap().len(),
        1,
        "nothing written after the refusal"
    );
    let kept = backend
        .kept
        .lock()
        .unwrap()
        .clone()
        .expect("close kept the state");
    assert_eq!(
        kept.resources.len(),
        1,
        "the kept copy has the in-flight outcome"
    );
    assert!(kept.get(&vpc).is_some());
    assert!(
        kept.pending.iter().all(|p| p.address != vpc),
        "the VPC's pending operation is cleared by its outcome"
    );
}
