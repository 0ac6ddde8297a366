//! Running the real `nova` binary against LocalStack for end-to-end tests: one stack
//! with its own name and state directory, commands run from the repository root, and a
//! guard that destroys the stack when the test ends (even on a failed assertion).

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

    /// Asserts that `nova plan --detailed-exitcode` finds nothing to do (exit 0). Other
    /// stacks deployed on the same LocalStack meanwhile change nothing of this one (the
    /// API Gateway account setting is one shared role: see `docs/resources/apigateway.md`).
    pub fn assert_plan_clean(&self) {
        self.assert_plan_clean_with(&[]);
    }

    /// [`Stack::assert_plan_clean`] with extra environment variables (the stack's settings).
    pub fn assert_plan_clean_with(&self, env: &[(&str, &str)]) {
        self.run_env(env, &["plan", "--detailed-exitcode"])
            .expect_code(0);
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
