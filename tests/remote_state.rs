//! Team use of a remote stack, end to end: the real `nova` binary with its state in
//! LocalStack's S3 (an unversioned bucket), deploying the whole stack.
//!
//! - eight `nova up` at once: one applies, seven exit 1 within 2 s naming the holder; then
//!   plan (no changes), pull/push/restore, destroy, every serial in the history, and no
//!   credentials in any object, with no state file on disk;
//! - `kill -9` of the holder mid-up: a stale lock naming it, `unlock --force` with its id,
//!   then `up` converges with no duplicate;
//! - a state written behind a running nova's back: the run stops before its next AWS call
//!   and keeps its own version locally; pushing that version back converges.
//!
//! Witnesses are raw SDK reads: the S3 objects, and every object the stack is made of
//! (listed by tag or name, compared with the ids the state records). awssim, with only a
//! fixed latency (`common::awssim::latency_only`), stretches a run so that a test can act in its middle.

mod common;

/// How many resources the default stack has (`nova state list` after an up).
const STACK_RESOURCES: usize = 37;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::awssim::{latency_only, Realistic};
use common::inventory::{assert_live_matches, inventory, recorded};
use serde_json::Value as Json;

const PREFIX: &str = "team/nova/";

/// One multi-threaded runtime for the raw SDK reads of every test in this process.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Runtime::new().expect("a tokio runtime"))
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

async fn s3() -> aws_sdk_s3::Client {
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

/// A finished nova run.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn from(out: Output, elapsed: Duration) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed,
        }
    }

    #[track_caller]
    fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "exit {:?}, expected {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    fn says(&self, words: &[&str]) -> &Run {
        for word in words {
            assert!(
                self.stdout.contains(word) || self.stderr.contains(word),
                "{word:?} not in:\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout,
                self.stderr
            );
        }
        self
    }
}

/// A stack whose state lives in a bucket of its own, made for the test (never by nova).
struct Remote {
    stack: String,
    bucket: String,
    state_dir: tempfile::TempDir,
    /// Extra environment of every run (credentials canaries, lease).
    env: Vec<(String, String)>,
}

impl Remote {
    fn new(prefix: &str) -> Remote {
        let bucket = format!("nova-team-{}", uuid::Uuid::new_v4().simple());
        block_on(async {
            s3().await
                .create_bucket()
                .bucket(&bucket)
                .send()
                .await
                .expect("CreateBucket")
        });
        Remote {
            stack: common::unique_stack(prefix),
            bucket,
            state_dir: common::temp_state_dir(),
            env: Vec::new(),
        }
    }

    fn key(&self, what: &str) -> String {
        match what {
            "state" => format!("{PREFIX}state/{}.json", self.stack),
            "lock" => format!("{PREFIX}locks/{}.json", self.stack),
            _ => unreachable!("{what}"),
        }
    }

    /// `nova --stack S --state-dir D ARGS` with the S3 backend, against `endpoint`.
    fn command(&self, endpoint: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(common::nova_bin());
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("NOVA_") || key.starts_with("AWS_") {
                cmd.env_remove(key.as_ref());
            }
        }
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", common::REGION)
            .env("NO_COLOR", "1")
            .env("NOVA_BACKEND_TYPE", "s3")
            .env("NOVA_BACKEND_BUCKET", &self.bucket)
            .env("NOVA_BACKEND_PREFIX", PREFIX)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .arg("--stack")
            .arg(&self.stack)
            .arg("--state-dir")
            .arg(self.state_dir.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        let started = Instant::now();
        let out = self
            .command(&common::localstack_endpoint(), args)
            .output()
            .expect("run nova");
        Run::from(out, started.elapsed())
    }

    fn spawn(&self, proxy: &Realistic, args: &[&str]) -> Child {
        self.command(&proxy.endpoint(), args)
            .spawn()
            .expect("start nova")
    }

    fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.try_object(key)
            .unwrap_or_else(|e| panic!("GetObject {key}: {e}"))
    }

    /// An object's body, `None` when there is none (never panics: used by `drop`).
    fn try_object(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        block_on(async {
            match s3()
                .await
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(out) => match out.body.collect().await {
                    Ok(bytes) => Ok(Some(bytes.into_bytes().to_vec())),
                    Err(e) => Err(format!("reading the body: {e}")),
                },
                Err(err) => {
                    let err = err.into_service_error();
                    if err.is_no_such_key() {
                        Ok(None)
                    } else {
                        Err(format!("{err:?}"))
                    }
                }
            }
        })
    }

    /// The current state object, parsed.
    fn state(&self) -> Option<Json> {
        let bytes = self.object(&self.key("state"))?;
        Some(serde_json::from_slice(&bytes).expect("the state object is JSON"))
    }

    fn lock(&self) -> Option<Json> {
        let bytes = self.object(&self.key("lock"))?;
        Some(serde_json::from_slice(&bytes).expect("the lock object is JSON"))
    }

    /// Every object in the bucket: key and body.
    fn objects(&self) -> Vec<(String, Vec<u8>)> {
        let keys = block_on(async {
            let out = s3()
                .await
                .list_objects_v2()
                .bucket(&self.bucket)
                .send()
                .await
                .expect("ListObjectsV2");
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect::<Vec<_>>()
        });
        keys.into_iter()
            .map(|k| {
                let body = self.object(&k).expect("a listed object");
                (k, body)
            })
            .collect()
    }

    /// The serials of the history objects, sorted.
    fn history_serials(&self) -> Vec<u64> {
        let dir = format!("{PREFIX}history/{}/", self.stack);
        let mut serials: Vec<u64> = self
            .objects()
            .iter()
            .filter_map(|(k, _)| k.strip_prefix(&dir)?.strip_suffix(".json")?.parse().ok())
            .collect();
        serials.sort();
        serials
    }

    /// Asserts nothing was written under --state-dir.
    #[track_caller]
    fn assert_no_local_files(&self) {
        let names: Vec<PathBuf> = std::fs::read_dir(self.state_dir.path())
            .expect("list the state directory")
            .map(|e| e.expect("an entry").path())
            .collect();
        assert!(names.is_empty(), "files under --state-dir: {names:?}");
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Destroy what is left (a failed test), then the bucket.
        let read = |key: String| {
            self.try_object(&key)
                .ok()
                .flatten()
                .and_then(|b| serde_json::from_slice::<Json>(&b).ok())
        };
        let has_resources = read(self.key("state"))
            .is_some_and(|s| s["resources"].as_array().is_some_and(|r| !r.is_empty()));
        if has_resources {
            if let Some(id) = read(self.key("lock")).and_then(|l| {
                (l["status"] == "held").then(|| l["holder"]["id"].as_str().map(str::to_string))?
            }) {
                self.run(&["state", "unlock", "--force", &id]);
            }
            let run = self.run(&["destroy", "--yes"]);
            if run.code != Some(0) {
                eprintln!(
                    "cleanup: destroy of {} exited {:?}:\n{}\n{}",
                    self.stack, run.code, run.stdout, run.stderr
                );
            }
        }
        let bucket = self.bucket.clone();
        block_on(async move {
            let s3 = s3().await;
            if let Ok(out) = s3.list_objects_v2().bucket(&bucket).send().await {
                for object in out.contents() {
                    if let Some(key) = object.key() {
                        let _ = s3.delete_object().bucket(&bucket).key(key).send().await;
                    }
                }
            }
            let _ = s3.delete_bucket().bucket(&bucket).send().await;
        });
    }
}

/// Waits for a child, returning its output and when it exited.
fn finish(child: Child, started: Instant) -> Run {
    let out = child.wait_with_output().expect("wait for nova");
    Run::from(out, started.elapsed())
}

/// Polls `until` every 20 ms for up to `limit`; panics if it never holds.
#[track_caller]
fn wait_for(what: &str, limit: Duration, mut until: impl FnMut() -> bool) {
    let started = Instant::now();
    while !until() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn resources(state: &Json) -> &Vec<Json> {
    state["resources"].as_array().expect("resources")
}

// ---------------------------------------------------------------------------------------
// The independent witness: what exists in LocalStack, by kind
// ---------------------------------------------------------------------------------------

/// Asserts that what exists is exactly what the state records: no duplicate, no orphan.
#[track_caller]
fn assert_matches_state(stack: &str, state: &Json) {
    assert_live_matches(&block_on(inventory(stack)), state);
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

/// Eight runs at once on one remote stack, then the whole life of the stack on S3.
#[test]
fn eight_concurrent_ups_one_applies_then_plan_pull_push_restore_destroy() {
    let mut remote = Remote::new("team8");
    let secret = format!("canary-secret-{}", uuid::Uuid::new_v4().simple());
    let token = format!("canary-token-{}", uuid::Uuid::new_v4().simple());
    remote.env = vec![
        ("AWS_SECRET_ACCESS_KEY".into(), secret.clone()),
        ("AWS_SESSION_TOKEN".into(), token.clone()),
    ];
    // Slow enough that the winner still holds the lock when the last loser starts.
    let proxy = Realistic::start(latency_only(Duration::from_millis(40)), 1.0);

    // Each run is timed from its own start to its own exit (waited for on its own thread).
    let waiting: Vec<(u32, std::thread::JoinHandle<Run>)> = (0..8)
        .map(|_| {
            let started = Instant::now();
            let child = remote.spawn(&proxy, &["up", "--yes"]);
            let pid = child.id();
            (pid, std::thread::spawn(move || finish(child, started)))
        })
        .collect();
    let runs: Vec<(u32, Run)> = waiting
        .into_iter()
        .map(|(pid, thread)| (pid, thread.join().expect("a waiting thread")))
        .collect();
    let winners: Vec<&(u32, Run)> = runs.iter().filter(|(_, r)| r.code == Some(0)).collect();
    assert_eq!(
        winners.len(),
        1,
        "exit codes: {:?}",
        runs.iter().map(|(_, r)| r.code).collect::<Vec<_>>()
    );
    let (winner_pid, winner) = winners[0];
    winner.says(&[&format!(
        "Apply complete! Resources: {STACK_RESOURCES} added"
    )]);
    for (_, run) in runs.iter().filter(|(pid, _)| pid != winner_pid) {
        run.expect(1).says(&[
            "locked by",
            &format!("pid {winner_pid}"),
            "running `nova up`",
            "lock id",
        ]);
        assert!(
            run.elapsed < Duration::from_secs(2),
            "refused after {:?}",
            run.elapsed
        );
    }
    eprintln!("winner: applied in {:?}", winner.elapsed);
    // The S3 writes of one `up` of the default stack (reported for docs/remote-state.md).
    let report = winner
        .stdout
        .lines()
        .find(|l| l.starts_with("State: "))
        .expect("a State: line");
    eprintln!("winner: {report}");
    drop(proxy);

    // One lineage, every serial from 1 to the current one, nothing on disk.
    let state = remote.state().expect("the state object");
    let serial = state["serial"].as_u64().expect("serial");
    assert_eq!(remote.history_serials(), (1..=serial).collect::<Vec<_>>());
    let lineage = state["lineage"].as_str().expect("lineage").to_string();
    let history = remote.run(&["state", "history"]);
    history.expect(0);
    let rows: Vec<&str> = history.stdout.lines().skip(1).collect();
    assert_eq!(rows.len() as u64, serial, "{}", history.stdout);
    assert!(
        rows.iter()
            .all(|r| r.contains(&lineage) && r.contains("nova up")),
        "{}",
        history.stdout
    );
    assert!(
        rows.last().is_some_and(|r| r.starts_with('*')),
        "{}",
        history.stdout
    );
    assert_eq!(remote.lock().expect("a lock object")["status"], "released");
    assert_matches_state(&remote.stack, &state);
    remote.assert_no_local_files();

    // A refreshed plan finds nothing to do.
    remote.run(&["plan", "--detailed-exitcode"]).expect(0);

    // pull -> push: the same state as the next serial; restore an earlier one.
    let pulled = remote.run(&["state", "pull"]);
    pulled.expect(0);
    assert_eq!(
        pulled.stdout.as_bytes(),
        remote
            .object(&remote.key("state"))
            .expect("state")
            .as_slice()
    );
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), &pulled.stdout).expect("write the pulled state");
    let path = file.path().display().to_string();
    remote
        .run(&["state", "push", &path])
        .expect(0)
        .says(&[&format!("as serial {}", serial + 1)]);
    remote
        .run(&["state", "restore", &serial.to_string()])
        .expect(0)
        .says(&[&format!("as serial {}", serial + 2)]);
    let restored = remote.state().expect("state");
    assert_eq!(restored["serial"].as_u64(), Some(serial + 2));
    assert_eq!(restored["resources"], state["resources"]);
    assert_eq!(restored["lineage"], state["lineage"]);
    // The pushed file is older now: refused.
    remote
        .run(&["state", "push", &path])
        .expect(1)
        .says(&["older", "--force"]);
    remote
        .run(&["plan", "--detailed-exitcode", "--refresh=false"])
        .expect(0);

    // Destroy: everything gone, history complete, and never a credential in S3.
    remote
        .run(&["destroy", "--yes"])
        .expect(0)
        .says(&["Destroy complete!"]);
    let end = remote.state().expect("state");
    assert!(resources(&end).is_empty());
    let end_serial = end["serial"].as_u64().expect("serial");
    assert_eq!(
        remote.history_serials(),
        (1..=end_serial).collect::<Vec<_>>()
    );
    let live = block_on(inventory(&remote.stack));
    assert!(
        live.values().all(BTreeSet::is_empty),
        "left after destroy: {live:?}"
    );
    for (key, body) in remote.objects() {
        let text = String::from_utf8_lossy(&body);
        for canary in [&secret, &token] {
            assert!(!text.contains(canary.as_str()), "{key} holds a credential");
        }
        assert!(
            !text.to_ascii_lowercase().contains("secret_access_key"),
            "{key}"
        );
    }
    remote.assert_no_local_files();
}

/// `kill -9` of the holder in the middle of `up`: the next run reports a stale lock with
/// the holder; `unlock --force` checks the id; then `up` converges with no duplicate.
#[test]
fn a_killed_holder_leaves_a_stale_lock_that_unlock_force_clears_and_up_converges() {
    let mut remote = Remote::new("team-kill");
    remote.env = vec![("NOVA_BACKEND_LOCK_LEASE_SECONDS".into(), "3".into())];
    let proxy = Realistic::start(latency_only(Duration::from_millis(30)), 1.0);
    let mut child = remote.spawn(&proxy, &["up", "--yes", "--parallelism", "2"]);
    let pid = child.id();
    wait_for("a state with 10 resources", Duration::from_secs(60), || {
        remote.state().is_some_and(|s| resources(&s).len() >= 10)
    });
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "nova finished before it could be killed"
    );
    child.kill().expect("kill -9");
    let status = child.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    drop(proxy);
    let crashed = remote.state().expect("state");
    let lock = remote.lock().expect("the lock is left");
    assert_eq!(lock["status"], "held");
    assert_eq!(lock["holder"]["pid"], pid);
    let id = lock["holder"]["id"].as_str().expect("id").to_string();

    // At once: still within its lease.
    remote
        .run(&["up", "--yes"])
        .expect(1)
        .says(&["locked by", &format!("pid {pid}"), &id]);
    // Once the lease ran out (by S3's clock): stale, with the holder and how to break it.
    // (Waits no longer than needed: the lock turns stale about 4 s after its last beat.)
    wait_for(
        "the lock to be reported stale",
        Duration::from_secs(15),
        || {
            std::thread::sleep(Duration::from_millis(250));
            let plan = remote.run(&["plan"]);
            assert_eq!(
                plan.code,
                Some(1),
                "plan ran on a locked stack:\n{}",
                plan.stdout
            );
            plan.stderr.contains("stale")
        },
    );
    let refused = remote.run(&["up", "--yes"]);
    refused.expect(1).says(&[
        "stale",
        &format!("pid {pid}"),
        "running `nova up`",
        &format!("nova state unlock --force {id}"),
    ]);
    assert!(
        refused.elapsed < Duration::from_secs(5),
        "{:?}",
        refused.elapsed
    );
    assert_eq!(
        remote.state().expect("state"),
        crashed,
        "a refused run changed the state"
    );

    remote
        .run(&["state", "unlock", "--force", "0f0f0f0f-not-the-id"])
        .expect(1)
        .says(&[&format!("its id is {id}")]);
    remote
        .run(&["state", "unlock", "--force", &id])
        .expect(0)
        .says(&["Removed the lock held by", &format!("pid {pid}")]);

    let up = remote.run(&["up", "--yes"]);
    up.expect(0).says(&["Apply complete!"]);
    let state = remote.state().expect("state");
    assert!(state["pending"].as_array().is_some_and(Vec::is_empty));
    assert_eq!(resources(&state).len(), STACK_RESOURCES);
    assert_matches_state(&remote.stack, &state);
    remote.run(&["plan", "--detailed-exitcode"]).expect(0);
    let serial = state["serial"].as_u64().expect("serial");
    assert_eq!(remote.history_serials(), (1..=serial).collect::<Vec<_>>());
    remote.run(&["destroy", "--yes"]).expect(0);
    remote.assert_no_local_files();
}

/// A state written behind a running nova's back: that run stops before its next AWS
/// call and keeps its own version locally; pushing that version back converges.
#[test]
fn a_state_written_behind_a_running_novas_back_stops_it_and_its_version_is_kept() {
    let remote = Remote::new("team-fence");
    let proxy = Realistic::start(latency_only(Duration::from_millis(30)), 1.0);
    let started = Instant::now();
    let mut child = remote.spawn(&proxy, &["up", "--yes", "--parallelism", "2"]);
    wait_for("a state with 5 resources", Duration::from_secs(60), || {
        remote.state().is_some_and(|s| resources(&s).len() >= 5)
    });
    // Someone else writes the state: the version nova wrote last, one serial on, with
    // a checksum (as another nova would).
    let theirs = remote.object(&remote.key("state")).expect("state");
    let mut changed: Json = serde_json::from_slice(&theirs).expect("json");
    changed["serial"] = Json::from(changed["serial"].as_u64().expect("serial") + 1);
    let mut bytes = serde_json::to_vec_pretty(&changed).expect("json");
    bytes.push(b'\n');
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "nova finished first"
    );
    block_on(async {
        s3().await
            .put_object()
            .bucket(&remote.bucket)
            .key(remote.key("state"))
            .metadata("nova-sha256", sha)
            .body(bytes.clone().into())
            .send()
            .await
            .expect("PutObject behind nova's back")
    });
    let run = finish(child, started);
    drop(proxy);
    run.expect(1).says(&[
        "changed by someone else",
        "412",
        "stopped before its next AWS call",
        "nova state push --force",
    ]);
    // S3 keeps the other writer's version.
    assert_eq!(remote.object(&remote.key("state")).expect("state"), bytes);

    // The run's own version is in the state directory, named in the error.
    let kept: Vec<PathBuf> = std::fs::read_dir(remote.state_dir.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let kept = &kept[0];
    assert!(
        run.stderr.contains(&kept.display().to_string()),
        "{}",
        run.stderr
    );
    let copy: Json = serde_json::from_slice(&std::fs::read(kept).expect("read")).expect("json");
    assert_eq!(copy["lineage"], changed["lineage"]);
    assert!(resources(&copy).len() >= resources(&changed).len());

    // Stopped before its next AWS call: everything that exists is known to the kept copy,
    // as a resource or as a pending create (which the next run adopts).
    let live = block_on(inventory(&remote.stack));
    let known = recorded(&copy);
    let pending: BTreeMap<String, usize> = copy["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .filter(|p| p["operation"] == "create")
        .fold(BTreeMap::new(), |mut m, p| {
            *m.entry(p["kind"].as_str().expect("kind").to_string())
                .or_default() += 1;
            m
        });
    for (kind, ids) in &live {
        let unknown = ids.difference(&known[kind]).count();
        assert!(
            unknown <= pending.get(kind).copied().unwrap_or(0),
            "{kind}: {unknown} object(s) the kept copy does not know: {ids:?} vs {:?}",
            known[kind]
        );
    }
    assert!(
        resources(&copy).len() < STACK_RESOURCES,
        "the run did not stop: {} resources",
        resources(&copy).len()
    );

    // Recovery as the error says: push the kept copy back, then up.
    let kept_path = kept.display().to_string();
    remote
        .run(&["state", "push", "--force", &kept_path])
        .expect(0);
    std::fs::remove_file(kept).expect("remove the kept copy");
    remote
        .run(&["up", "--yes"])
        .expect(0)
        .says(&["Apply complete!"]);
    let state = remote.state().expect("state");
    assert_eq!(resources(&state).len(), STACK_RESOURCES);
    assert_matches_state(&remote.stack, &state);
    remote.run(&["destroy", "--yes"]).expect(0);
    remote.assert_no_local_files();
}
