//! Running the real `nova` binary against LocalStack for end-to-end tests: one stack
//! with its own name and state directory, commands run from the repository root, a
//! guard that destroys the stack when the test ends (even on a failed assertion), and a
//! cross-process lock for tests that set the account-wide API Gateway role.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use super::{localstack_endpoint, temp_state_dir, unique_stack, REGION};

/// What a finished `nova` command printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(args: &[&str], out: Output) -> Run {
        Run {
            args: args.iter().map(|a| a.to_string()).collect(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics, showing both streams, unless the command exited with `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "`nova {}` exited {:?}, expected {code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout parsed as one JSON document (panics if it is anything else).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`nova {}` stdout is not one JSON document ({e}):\n{}",
                self.args.join(" "),
                self.stdout
            )
        })
    }
}

/// The `nova` binary, pinned for this test process: a hard link (in the target's
/// temporary directory, named by the binary's inode) to the build under test. The target
/// directory is shared, and another build may replace `target/debug/nova` while these
/// tests run; the link keeps the old file. One link per build, not one copy per test
/// process (nextest runs every test in a process of its own).
fn nova_binary() -> &'static Path {
    static PINNED: OnceLock<PathBuf> = OnceLock::new();
    PINNED.get_or_init(|| {
        use std::os::unix::fs::MetadataExt;
        let built = Path::new(env!("CARGO_BIN_EXE_nova"));
        let inode = std::fs::metadata(built).expect("the nova binary").ino();
        let pinned = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("nova-{inode}"));
        if !pinned.exists() {
            match std::fs::hard_link(built, &pinned) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => panic!("pin {} at {}: {e}", built.display(), pinned.display()),
            }
        }
        pinned
    })
}

/// How long one `nova` run of a test may take before the test fails: far more than any
/// run of the suite needs (a hung run fails instead of holding up CI).
pub const RUN_LIMIT: Duration = Duration::from_secs(20 * 60);

/// Runs `cmd` to the end and collects its output, killing it and panicking after `limit`.
fn output_within(mut cmd: Command, args: &[&str], limit: Duration) -> Run {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run nova {args:?}: {e}"));
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).map(|_| bytes)
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("stderr")));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for nova") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().ok().and_then(Result::ok).unwrap_or_default();
            panic!(
                "nova {args:?} still running after {}s: killed; its stderr:\n{}",
                limit.as_secs(),
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let collect = |h: std::thread::JoinHandle<std::io::Result<Vec<u8>>>| {
        h.join().expect("pipe reader").expect("read nova's output")
    };
    let out = Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    };
    Run::from_output(args, out)
}

/// One stack under test: a unique name and a private state directory. Dropping it runs
/// `nova destroy --yes` unless [`Stack::destroy`] already did.
pub struct Stack {
    pub name: String,
    /// The configuration's `project` (`nova`; a test that changes it says so here).
    pub project: String,
    state_dir: tempfile::TempDir,
    endpoint: String,
    destroyed: bool,
}

/// The environment variable that points nova at an endpoint.
const ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL";

impl Stack {
    /// A new stack named after `prefix` (see [`unique_stack`]), against LocalStack.
    pub fn new(prefix: &str) -> Stack {
        Stack {
            name: unique_stack(prefix),
            project: "nova".to_string(),
            state_dir: temp_state_dir(),
            endpoint: localstack_endpoint(),
            destroyed: false,
        }
    }

    /// Like [`Stack::new`], but every AWS call goes to `endpoint` (e.g. a closed port).
    pub fn with_endpoint(prefix: &str, endpoint: &str) -> Stack {
        Stack {
            name: unique_stack(prefix),
            project: "nova".to_string(),
            state_dir: temp_state_dir(),
            endpoint: endpoint.to_string(),
            destroyed: true, // nothing to clean up on a fake endpoint
        }
    }

    /// Like [`Stack::new`], but nova's calls go through `endpoint` (awssim in front of
    /// LocalStack); the clean-up on drop goes straight to LocalStack, so it works even
    /// when the proxy is gone.
    pub fn through(prefix: &str, endpoint: &str) -> Stack {
        Stack {
            name: unique_stack(prefix),
            project: "nova".to_string(),
            state_dir: temp_state_dir(),
            endpoint: endpoint.to_string(),
            destroyed: false,
        }
    }

    pub fn state_dir(&self) -> &Path {
        self.state_dir.path()
    }

    /// `<state-dir>/<stack>.json`.
    pub fn state_path(&self) -> PathBuf {
        self.state_dir.path().join(format!("{}.json", self.name))
    }

    /// The state file, parsed.
    pub fn state(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.state_path()).expect("read the state file");
        serde_json::from_str(&text).expect("the state file is JSON")
    }

    /// `nova --stack <name> --state-dir <dir> <args>` from the repository root, with only
    /// the AWS environment nova needs (LocalStack endpoint, us-east-1, test credentials)
    /// and no `NOVA_*` variable leaking in from the test's own environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(nova_binary());
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("NOVA_") || key.starts_with("AWS_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .env(ENDPOINT_VAR, &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", REGION)
            .env("NO_COLOR", "1")
            .arg("--stack")
            .arg(&self.name)
            .arg("--state-dir")
            .arg(self.state_dir.path())
            .args(args);
        cmd
    }

    /// Runs `nova <args>` with extra environment variables (within [`RUN_LIMIT`]).
    pub fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied());
        output_within(cmd, args, RUN_LIMIT)
    }

    /// Runs `nova <args>`, killing it and failing the test if it runs past `limit` (a
    /// hang fails the test instead of holding up the suite).
    pub fn run_within(&self, args: &[&str], limit: Duration) -> Run {
        output_within(self.command(args), args, limit)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(&[], args)
    }

    /// `nova up --yes`, which must succeed.
    pub fn up(&self) -> Run {
        self.up_env(&[])
    }

    pub fn up_env(&self, env: &[(&str, &str)]) -> Run {
        self.run_env(env, &["up", "--yes"]).expect_code(0)
    }

    /// `nova plan --json`, which must succeed; the plan document.
    pub fn plan_json(&self, env: &[(&str, &str)]) -> serde_json::Value {
        self.run_env(env, &["plan", "--json"]).expect_code(0).json()
    }

    /// Asserts that `nova plan --detailed-exitcode` finds nothing to do (exit 0).
    ///
    /// One exception, because LocalStack is shared: when the only change is the
    /// account-wide API Gateway CloudWatch role, and the live value is *another* stack's
    /// role, someone else's `nova up` (outside this test process's [`account_lock`]) set
    /// it after ours. That is reported on stderr and tolerated; anything else fails.
    /// (`full_stack_meets_every_checklist_item` checks the role right after its up.)
    pub fn assert_plan_clean(&self) {
        self.assert_plan_clean_with(&[]);
    }

    /// [`Stack::assert_plan_clean`] with extra environment variables (the stack's settings).
    pub fn assert_plan_clean_with(&self, env: &[(&str, &str)]) {
        let run = self.run_env(env, &["plan", "--detailed-exitcode"]);
        if run.code == Some(2) {
            if let Some(foreign) = self.foreign_account_role(env) {
                eprintln!(
                    "note: stack {}: plan clean except the API Gateway account role, which \
                     another stack set to {foreign} meanwhile (shared LocalStack)",
                    self.name
                );
                return;
            }
        }
        run.expect_code(0);
    }

    /// The other stack's role, when the plan's only change is the API Gateway account
    /// role and the live value is not this stack's role.
    fn foreign_account_role(&self, env: &[(&str, &str)]) -> Option<String> {
        let plan = self.plan_json(env);
        let changes: Vec<&serde_json::Value> = plan["changes"]
            .as_array()?
            .iter()
            .filter(|c| c["action"] != "no_op")
            .collect();
        let [change] = changes.as_slice() else {
            return None;
        };
        self.foreign_account_drift(change)
    }

    /// When `change` (from `nova plan --json`) only sets the API Gateway account role back
    /// to this stack's role from another stack's: that other role. Such a change is
    /// caused by another stack on the shared LocalStack, not by the test.
    pub fn foreign_account_drift(&self, change: &serde_json::Value) -> Option<String> {
        let diffs = change["diffs"].as_array()?;
        let live = diffs.first()?["before"].as_str()?;
        let ours = format!(":role/{}-{}-apigw-logs", self.project, self.name);
        let only_the_role = change["address"] == "aws_api_gateway_account.main"
            && change["action"] == "update"
            && diffs.len() == 1
            && diffs[0]["field"] == "cloudwatch_role_arn"
            && diffs[0]["after"]
                .as_str()
                .is_some_and(|a| a.ends_with(&ours));
        (only_the_role && !live.ends_with(&ours)).then(|| live.to_string())
    }

    /// `nova output --json`, which must succeed.
    pub fn outputs(&self) -> serde_json::Value {
        self.run(&["output", "--json"]).expect_code(0).json()
    }

    /// Tells the guard that the test destroyed the stack itself (it does nothing on drop).
    pub fn destroy_done(&mut self) {
        self.destroyed = true;
    }

    /// `nova destroy --yes`, which must succeed; the guard then has nothing left to do.
    pub fn destroy(&mut self) -> Run {
        let run = self.run(&["destroy", "--yes"]).expect_code(0);
        self.destroyed = true;
        run
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.destroyed || !self.state_path().exists() {
            return;
        }
        let direct = localstack_endpoint();
        let run = self.run_env(&[(ENDPOINT_VAR, &direct)], &["destroy", "--yes"]);
        if run.code != Some(0) {
            eprintln!(
                "cleanup: `nova destroy --yes` of stack {} exited {:?}:\n{}\n{}",
                self.name, run.code, run.stdout, run.stderr
            );
        }
    }
}

/// The API Gateway CloudWatch role is one setting per account and region: every stack's
/// `nova up` sets it to its own role, so a test that brings a stack up and then expects
/// a clean plan must not overlap with another such test. Held for a whole test; a file
/// lock, so it also serializes test binaries run in parallel (e.g. by nextest).
pub struct AccountLock {
    _file: File,
}

pub fn account_lock() -> AccountLock {
    let path = std::env::temp_dir().join("nova-e2e-apigateway-account.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    // SAFETY: flock on a file descriptor we own; it stays open as long as the lock.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(
        rc,
        0,
        "flock {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
    AccountLock { _file: file }
}
