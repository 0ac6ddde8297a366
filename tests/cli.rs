//! The `nova` binary's promises, checked by running it: help and exit codes, confirmation,
//! saved plans, locks, corrupt state, output formats, determinism and destroy.
//!
//! Every test runs the real binary from the repository root with its own state directory
//! and stack name. Tests that must make no AWS call point `AWS_ENDPOINT_URL` at a closed
//! port, so any call would fail with a connection error instead of the expected message.
//! The others need LocalStack (`NOVA_TEST_LOCALSTACK`) and fail loudly without it.

mod common;

use std::ffi::CStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// An endpoint nothing listens on: an AWS call made against it fails to connect.
const CLOSED_ENDPOINT: &str = "http://127.0.0.1:9";

/// What the error of an AWS call against [`CLOSED_ENDPOINT`] contains.
const CONNECTION_ERROR: &str = "Connection refused";

// ---------------------------------------------------------------------------------------
// Running nova
// ---------------------------------------------------------------------------------------

/// The nova binary to run: a private copy of `CARGO_BIN_EXE_nova`, checked to be built
/// from this checkout.
///
/// Worktrees that share one `CARGO_TARGET_DIR` also share `target/debug/nova` (cargo
/// hashes path packages by their path relative to the workspace), so another checkout's
/// build can replace it before or during this run. The copy cannot change under the tests,
/// and a binary whose debug info names another checkout is refused loudly.
fn nova_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let source = Path::new(env!("CARGO_BIN_EXE_nova"));
        let manifest = env!("CARGO_MANIFEST_DIR");
        let mut tag = 0u64;
        for b in manifest.bytes() {
            tag = tag.wrapping_mul(31).wrapping_add(u64::from(b));
        }
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("nova-cli-{tag:x}"));
        std::fs::create_dir_all(&dir).expect("create the directory for the nova copy");
        let tmp = dir.join(format!("nova.tmp-{}", std::process::id()));
        std::fs::copy(source, &tmp).expect("copy the nova binary");
        let copy = dir.join("nova");
        std::fs::rename(&tmp, &copy).expect("rename the nova copy into place");
        // The debug info (dev profile) holds the compilation directory as one
        // NUL-terminated string; grep is far faster than a scan in an unoptimized test.
        if cfg!(debug_assertions) {
            let found = Command::new("grep")
                .args(["-q", "-a", "-z", "-x", "-F", "--", manifest])
                .arg(&copy)
                .status()
                .expect("run grep");
            assert!(
                found.success(),
                "{} was not built from {manifest}: another checkout sharing CARGO_TARGET_DIR \
                 replaced it. Touch src/lib.rs and run the tests again.",
                source.display()
            );
        }
        copy
    })
}

/// One stack of one test: a private state directory, a unique stack name, and the AWS
/// endpoint its commands use.
struct Stack {
    dir: TempDir,
    name: String,
    endpoint: String,
}

impl Stack {
    /// A stack whose commands talk to LocalStack.
    fn live(prefix: &str) -> Self {
        Stack {
            dir: common::temp_state_dir(),
            name: common::unique_stack(prefix),
            endpoint: common::localstack_endpoint(),
        }
    }

    /// A stack whose commands must not reach AWS.
    fn offline(prefix: &str) -> Self {
        Stack {
            dir: common::temp_state_dir(),
            name: common::unique_stack(prefix),
            endpoint: CLOSED_ENDPOINT.to_string(),
        }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.path().join(format!("{}.json", self.name))
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.path().join(format!("{}.lock", self.name))
    }

    /// `nova --state-dir DIR --stack NAME ARGS...`, stdin closed.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = bare_nova(&self.endpoint);
        cmd.arg("--state-dir")
            .arg(self.dir.path())
            .arg("--stack")
            .arg(&self.name)
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        run(self.cmd(args))
    }

    fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = self.cmd(args);
        cmd.envs(env.iter().copied());
        run(cmd)
    }

    /// The names of the files in the state directory, sorted.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("list the state directory")
            .map(|e| e.expect("read a directory entry").file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// Destroys a stack created on LocalStack when the test ends, even if it failed.
struct Cleanup<'a>(&'a Stack);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.0.state_path().exists() {
            return;
        }
        let out = self.0.run(&["destroy", "--yes"]);
        if out.code != 0 {
            // Not a panic: this may run while a failed test unwinds.
            eprintln!(
                "cleanup: `nova destroy --yes` of stack {} failed:\n{}",
                self.0.name,
                out.all()
            );
        }
    }
}

/// `nova` with a clean environment: no inherited NOVA_*, AWS_* or NO_COLOR variables, the
/// test credentials and region, and `endpoint`; run from the repository root.
fn bare_nova(endpoint: &str) -> Command {
    let mut cmd = Command::new(nova_bin());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("NOVA_") || key.starts_with("AWS_") || key == "NO_COLOR" {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", common::REGION)
        .stdin(Stdio::null());
    cmd
}

/// What a finished nova run printed, and its exit code.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn all(&self) -> String {
        format!(
            "exit code {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code:\n{}", self.all());
        self
    }

    #[track_caller]
    fn expect_ok(&self) -> &Self {
        self.expect_code(0)
    }

    /// Asserts that stderr mentions every one of `words`.
    #[track_caller]
    fn expect_stderr_has(&self, words: &[&str]) -> &Self {
        for word in words {
            assert!(
                self.stderr.contains(word),
                "stderr does not mention {word:?}:\n{}",
                self.all()
            );
        }
        self
    }

    /// Asserts that no AWS call was attempted (against the closed endpoint).
    #[track_caller]
    fn expect_no_aws_call(&self) -> &Self {
        let all = self.all();
        assert!(
            !all.contains(CONNECTION_ERROR) && !all.contains("dispatch failure"),
            "nova tried to reach AWS:\n{all}"
        );
        self
    }
}

fn run(mut cmd: Command) -> Run {
    let started = Instant::now();
    let out = cmd.output().expect("start nova");
    Run {
        code: out.status.code().expect("nova was killed by a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        elapsed: started.elapsed(),
    }
}

/// The ids of the VPCs tagged with `stack` in LocalStack.
fn vpcs_of(stack: &str) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio runtime");
    runtime.block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&common::sdk_config().await);
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("tag:nova:stack")
            .values(stack)
            .build();
        let out = ec2
            .describe_vpcs()
            .filters(filter)
            .send()
            .await
            .expect("DescribeVpcs on LocalStack");
        out.vpcs()
            .iter()
            .filter_map(|v| v.vpc_id().map(str::to_string))
            .collect()
    })
}

fn has_ansi(text: &str) -> bool {
    text.contains('\u{1b}')
}

// ---------------------------------------------------------------------------------------
// Help, version, usage errors, configuration errors
// ---------------------------------------------------------------------------------------

fn help_of(args: &[&str]) -> String {
    let mut cmd = bare_nova(CLOSED_ENDPOINT);
    cmd.args(args).arg("--help");
    let out = run(cmd);
    out.expect_ok();
    assert!(
        out.stderr.is_empty(),
        "help wrote to stderr:\n{}",
        out.all()
    );
    out.stdout
}

#[test]
fn help_of_every_command_documents_every_flag() {
    const GLOBAL: &[&str] = &[
        "--stack",
        "--config",
        "--state-dir",
        "--lock-timeout",
        "--help",
    ];
    let commands: &[(&[&str], &[&str])] = &[
        (
            &[],
            &[
                "--version",
                "plan",
                "up",
                "destroy",
                "import",
                "output",
                "graph",
                "check",
                "state",
                "completions",
            ],
        ),
        (
            &["plan"],
            &[
                "--out",
                "--json",
                "--detailed-exitcode",
                "--refresh",
                "--target <ADDRESS>",
                "--exclude <ADDRESS>",
                "--replace <ADDRESS>",
                "--refresh-only",
                "partial",
            ],
        ),
        (
            &["up"],
            &[
                "[PLANFILE]",
                "--yes",
                "-y",
                "--parallelism",
                "--allow-findings",
                "--refresh",
                "--target <ADDRESS>",
                "--exclude <ADDRESS>",
                "--replace <ADDRESS>",
                "--refresh-only",
            ],
        ),
        (
            &["import"],
            &["<ADDRESS>", "<ID>", "ownership tags", "nova up", "backup"],
        ),
        (
            &["completions"],
            &["<SHELL>", "bash", "zsh", "fish", "powershell"],
        ),
        (&["destroy"], &["--yes", "-y", "--parallelism"]),
        (&["output"], &["[NAME]", "--json"]),
        (&["graph"], &[]),
        (
            &["check"],
            &["--live", "--format", "table", "json", "sarif"],
        ),
        (
            &["state"],
            &[
                "list", "show", "rm", "mv", "pull", "push", "history", "restore", "unlock",
            ],
        ),
        (&["state", "list"], &[]),
        (&["state", "show"], &["<ADDRESS>"]),
        (
            &["state", "rm"],
            &[
                "<ADDRESS>...",
                "without deleting",
                "depends",
                "lock",
                "backup",
            ],
        ),
        (
            &["state", "mv"],
            &["<FROM>", "<TO>", "same kind", "lock", "backup"],
        ),
        (&["state", "pull"], &[]),
        (
            &["state", "push"],
            &["<FILE>", "--force", "lineage", "serial"],
        ),
        (&["state", "history"], &[]),
        (&["state", "restore"], &["<SERIAL>", "--force"]),
        (&["state", "unlock"], &["--force", "[LOCK_ID]"]),
    ];
    for (command, flags) in commands {
        let help = help_of(command);
        let usage = format!("Usage: nova {}", command.join(" "));
        assert!(
            help.contains(usage.trim_end()),
            "`nova {} --help` lacks {usage:?}:\n{help}",
            command.join(" ")
        );
        for flag in GLOBAL.iter().chain(flags.iter()) {
            assert!(
                help.contains(flag),
                "`nova {} --help` does not document {flag}:\n{help}",
                command.join(" ")
            );
        }
    }
}

#[test]
fn help_of_nova_matches_the_snapshot() {
    insta::assert_snapshot!("nova_help", help_of(&[]));
}

#[test]
fn version_prints_the_crate_version_and_the_commit_it_was_built_from() {
    let mut cmd = bare_nova(CLOSED_ENDPOINT);
    cmd.arg("--version");
    let out = run(cmd);
    out.expect_ok();
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let prefix = format!("nova {} (commit ", env!("CARGO_PKG_VERSION"));
    let commit = out
        .stdout
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("not `{prefix}...)`:\n{}", out.all()));
    match head {
        // Built from this checkout: its HEAD when the binary was built. A commit made
        // since then (without a rebuild) would differ, so compare only the form then.
        Some(head) if commit == head => {}
        _ => assert!(
            commit == "unknown"
                || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
            "{commit:?} is neither a short commit hash nor `unknown`"
        ),
    }
}

/// `nova completions SHELL` needs no configuration, no state and no AWS: a script for
/// each shell that knows the commands and their flags.
#[test]
fn completions_for_every_shell_need_nothing_but_the_binary() {
    let empty = tempfile::tempdir().expect("an empty directory");
    for (shell, marker) in [
        ("bash", "complete -F _nova"),
        ("zsh", "#compdef nova"),
        ("fish", "complete -c nova"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let mut cmd = bare_nova(CLOSED_ENDPOINT);
        cmd.current_dir(empty.path()).args(["completions", shell]);
        let out = run(cmd);
        out.expect_ok().expect_no_aws_call();
        assert!(out.stdout.contains(marker), "{shell}: no {marker:?}");
        for word in ["import", "refresh-only", "completions"] {
            assert!(out.stdout.contains(word), "{shell}: no {word:?}");
        }
    }
    let mut cmd = bare_nova(CLOSED_ENDPOINT);
    cmd.current_dir(empty.path()).args(["completions", "tcsh"]);
    run(cmd)
        .expect_code(1)
        .expect_stderr_has(&["invalid value 'tcsh'", "bash, zsh, fish, powershell"]);
    assert!(
        std::fs::read_dir(empty.path()).unwrap().next().is_none(),
        "nothing written to the directory"
    );
}

/// Usage errors exit 1 like every other error: 2 means "the plan has changes"
/// (`plan --detailed-exitcode`), so a typo in a CI script must not read as "changes".
#[test]
fn unknown_subcommand_is_a_usage_error_with_exit_code_1() {
    let stack = Stack::offline("usage");
    let out = stack.run(&["frobnicate"]);
    out.expect_code(1)
        .expect_stderr_has(&["unrecognized subcommand", "frobnicate", "Usage: nova"]);
    let out = stack.run(&["plan", "--no-such-flag"]);
    out.expect_code(1).expect_stderr_has(&["--no-such-flag"]);
    let out = stack.run(&["--help"]);
    out.expect_code(0);
}

#[test]
fn bad_config_exits_1_naming_the_setting_before_any_aws_call() {
    let stack = Stack::offline("badcfg");
    for command in [&["plan"][..], &["up", "--yes"], &["destroy", "--yes"]] {
        let out = stack.run_env(&[("NOVA_AZ_COUNT", "1")], command);
        out.expect_code(1)
            .expect_stderr_has(&["az_count", "NOVA_AZ_COUNT"])
            .expect_no_aws_call();
    }
    assert!(stack.files().is_empty(), "files left: {:?}", stack.files());
}

#[test]
fn bad_backend_config_exits_1_naming_the_setting_before_any_aws_call() {
    let stack = Stack::offline("badbackend");
    /// Environment variables, and what the error must say.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            &[("NOVA_BACKEND_TYPE", "gcs")],
            &["NOVA_BACKEND_TYPE", "`backend.type`", "\"local\" or \"s3\""],
        ),
        (
            &[("NOVA_BACKEND_TYPE", "s3")],
            &["`backend.bucket`: missing", "created"],
        ),
        (
            &[
                ("NOVA_BACKEND_TYPE", "s3"),
                ("NOVA_BACKEND_BUCKET", "Not_A_Bucket"),
            ],
            &["NOVA_BACKEND_BUCKET", "not a valid S3 bucket name"],
        ),
        (
            &[
                ("NOVA_BACKEND_TYPE", "s3"),
                ("NOVA_BACKEND_BUCKET", "acme-state"),
                ("NOVA_BACKEND_PREFIX", "/abs"),
            ],
            &["NOVA_BACKEND_PREFIX", "`backend.prefix`"],
        ),
        (
            &[
                ("NOVA_BACKEND_TYPE", "s3"),
                ("NOVA_BACKEND_BUCKET", "acme-state"),
                ("NOVA_BACKEND_LOCK_LEASE_SECONDS", "0"),
            ],
            &["NOVA_BACKEND_LOCK_LEASE_SECONDS", "between 2 and 3600"],
        ),
        (
            &[("NOVA_BACKEND_BUCKET", "acme-state")],
            &["NOVA_BACKEND_BUCKET", "only applies to `type = \"s3\"`"],
        ),
    ];
    for (env, words) in cases {
        for command in [
            &["plan"][..],
            &["up", "--yes"],
            &["destroy", "--yes"],
            &["state", "list"],
            &["state", "pull"],
            &["state", "unlock", "--force", "x"],
            &["output"],
        ] {
            let out = stack.run_env(env, command);
            out.expect_code(1)
                .expect_stderr_has(words)
                .expect_no_aws_call();
        }
    }
    assert!(stack.files().is_empty(), "files left: {:?}", stack.files());
}

#[test]
fn lock_timeout_must_be_a_duration() {
    let stack = Stack::offline("locktimeout");
    let out = stack.run(&["--lock-timeout", "soon", "plan"]);
    out.expect_code(1)
        .expect_stderr_has(&["--lock-timeout", "soon", "not a duration"])
        .expect_no_aws_call();
}

/// The control for every "no AWS call" assertion: with the closed endpoint, a command
/// that does call AWS fails with the connection error those assertions look for.
#[test]
fn closed_endpoint_makes_aws_calls_fail_visibly() {
    let stack = Stack::offline("closed");
    let out = stack.run(&["plan"]);
    out.expect_code(1);
    assert!(
        out.all().contains(CONNECTION_ERROR),
        "expected a connection error:\n{}",
        out.all()
    );
    assert!(stack.files().is_empty(), "files left: {:?}", stack.files());
}

// ---------------------------------------------------------------------------------------
// Locks
// ---------------------------------------------------------------------------------------

fn this_host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read /proc/sys/kernel/hostname");
    name.trim().to_string()
}

fn write_lock(stack: &Stack, pid: u32, host: &str) -> String {
    let text = serde_json::json!({
        "pid": pid,
        "host": host,
        "command": "nova up",
        "since": "2026-01-02T03:04:05Z",
    })
    .to_string();
    std::fs::write(stack.lock_path(), &text).expect("write the lock file");
    text
}

/// The pid of a process that has exited (and been reaped).
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("run `true`");
    let pid = child.id();
    child.wait().expect("wait for `true`");
    pid
}

#[test]
fn lock_held_by_a_live_process_refuses_at_once_naming_the_holder() {
    let stack = Stack::offline("lock-live");
    let pid = std::process::id();
    let text = write_lock(&stack, pid, &this_host());
    for command in [&["plan"][..], &["up", "--yes"], &["destroy", "--yes"]] {
        let out = stack.run(command);
        out.expect_code(1)
            .expect_stderr_has(&[
                "locked",
                &format!("pid {pid}"),
                &this_host(),
                "nova up",
                "2026-01-02T03:04:05Z",
            ])
            .expect_no_aws_call();
        assert!(
            out.elapsed < Duration::from_secs(10),
            "took {:?}",
            out.elapsed
        );
        let after = std::fs::read_to_string(stack.lock_path()).expect("the lock is still there");
        assert_eq!(after, text, "the lock file changed");
    }

    let out = stack.run(&["state", "unlock"]);
    out.expect_code(1)
        .expect_stderr_has(&["--force", &format!("pid {pid}")]);
    assert!(stack.lock_path().exists(), "a live lock was removed");

    let out = stack.run(&["state", "unlock", "--force"]);
    out.expect_ok();
    assert!(out.stdout.contains(&format!("pid {pid}")), "{}", out.all());
    assert!(!stack.lock_path().exists(), "--force left the lock");
}

#[test]
fn stale_lock_is_reported_with_how_to_clear_it_and_unlock_removes_it() {
    let stack = Stack::offline("lock-dead");
    let pid = dead_pid();
    write_lock(&stack, pid, &this_host());
    let out = stack.run(&["plan"]);
    out.expect_code(1)
        .expect_stderr_has(&[
            "stale",
            &format!("pid {pid}"),
            "nova state unlock",
            &stack.lock_path().display().to_string(),
        ])
        .expect_no_aws_call();
    assert!(
        stack.lock_path().exists(),
        "plan removed the lock by itself"
    );

    let out = stack.run(&["state", "unlock"]);
    out.expect_ok();
    assert!(out.stdout.contains(&format!("pid {pid}")), "{}", out.all());
    assert!(!stack.lock_path().exists(), "unlock left the stale lock");

    let out = stack.run(&["state", "unlock"]);
    out.expect_ok();
    assert!(out.stdout.contains("not locked"), "{}", out.all());
}

/// A lock taken on another host cannot be checked, so it counts as held.
#[test]
fn lock_from_another_host_is_not_called_stale() {
    let stack = Stack::offline("lock-host");
    write_lock(&stack, dead_pid(), "some-other-host.example");
    let out = stack.run(&["plan"]);
    out.expect_code(1)
        .expect_stderr_has(&["locked", "some-other-host.example"])
        .expect_no_aws_call();
    assert!(!out.stderr.contains("stale"), "{}", out.all());
    stack.run(&["state", "unlock"]).expect_code(1);
    assert!(stack.lock_path().exists());
}

// ---------------------------------------------------------------------------------------
// Corrupt state
// ---------------------------------------------------------------------------------------

/// A small valid state, as a JSON value: a VPC and a subnet depending on it.
fn valid_state() -> serde_json::Value {
    serde_json::json!({
        "version": 1,
        "lineage": "6f1c1d2e-0000-4000-8000-000000000001",
        "serial": 4,
        "resources": [
            {
                "address": "aws_vpc.main",
                "kind": "aws_vpc",
                "id": "vpc-0123",
                "inputs": {"cidr_block": "10.0.0.0/16"},
                "outputs": {"id": "vpc-0123"},
                "dependencies": []
            },
            {
                "address": "aws_subnet.public[0]",
                "kind": "aws_subnet",
                "id": "subnet-0456",
                "inputs": {"cidr_block": "10.0.0.0/24"},
                "outputs": {"id": "subnet-0456"},
                "dependencies": ["aws_vpc.main"]
            }
        ],
        "outputs": {"vpc_id": "vpc-0123"},
        "pending": []
    })
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("serialize JSON")
}

#[test]
fn the_hand_written_state_is_valid() {
    let stack = Stack::offline("state-ok");
    std::fs::write(stack.state_path(), pretty(&valid_state())).expect("write the state");
    let out = stack.run(&["state", "list"]);
    out.expect_ok();
    assert_eq!(out.stdout, "aws_subnet.public[0]\naws_vpc.main\n");
}

/// The everyday commands' refusals, all before any AWS call, the state unchanged:
/// addresses no one knows, options that contradict each other, state surgery that would
/// leave a dependency dangling, an import onto an address already managed.
#[test]
fn plan_options_and_state_surgery_refuse_bad_input_before_any_aws_call() {
    let stack = Stack::offline("refusals");
    let bytes = pretty(&valid_state());
    std::fs::write(stack.state_path(), &bytes).expect("write the state");
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["plan", "--target", "aws_vpc.nope"],
            &["--target aws_vpc.nope: no such resource", "nova state list"],
        ),
        (
            &["up", "--yes", "--exclude", "aws_subnet.nope"],
            &["--exclude aws_subnet.nope: no such resource"],
        ),
        (
            &["plan", "--target", "not-an-address"],
            &[
                "invalid value 'not-an-address' for '--target <ADDRESS>'",
                "<kind>.<name>",
            ],
        ),
        (
            &["plan", "--replace", "aws_kms_key.main"],
            &["--replace aws_kms_key.main: it does not exist yet"],
        ),
        (
            &["plan", "--refresh-only", "--replace", "aws_vpc.main"],
            &["'--refresh-only' cannot be used with '--replace <ADDRESS>'"],
        ),
        (
            &["plan", "--refresh-only", "--refresh=false"],
            &["--refresh-only reads every resource back"],
        ),
        (
            &["up", "saved.plan", "--target", "aws_vpc.main"],
            &["cannot be used with a saved plan"],
        ),
        (
            &["state", "rm", "aws_vpc.main"],
            &[
                "cannot forget aws_vpc.main: aws_subnet.public[0] still depends on it",
                "nova state rm aws_vpc.main 'aws_subnet.public[0]'",
            ],
        ),
        (
            &["state", "rm", "aws_vpc.other"],
            &["aws_vpc.other is not in the state"],
        ),
        (
            &["state", "mv", "aws_vpc.main", "aws_subnet.main"],
            &["the kinds differ"],
        ),
        (
            &["state", "mv", "aws_vpc.main", "aws_subnet.public[0]"],
            &["the kinds differ"],
        ),
        (
            &[
                "state",
                "mv",
                "aws_subnet.public[0]",
                "aws_subnet.public[0]",
            ],
            &["cannot move aws_subnet.public[0] to itself"],
        ),
        (
            &["import", "aws_vpc.main", "vpc-9999"],
            &[
                "aws_vpc.main is already in the state",
                "vpc-0123",
                "nova state rm aws_vpc.main",
            ],
        ),
    ];
    for (args, words) in cases {
        let out = stack.run(args);
        out.expect_code(1)
            .expect_stderr_has(words)
            .expect_no_aws_call();
        assert_eq!(
            std::fs::read_to_string(stack.state_path()).expect("read the state"),
            bytes,
            "`nova {}` changed the state",
            args.join(" ")
        );
    }
    assert_eq!(
        stack.files(),
        [format!("{}.json", stack.name)],
        "no backup, plan or lock left behind"
    );
}

/// `nova state rm` and `nova state mv` edit the state under the lock with a backup and
/// without any AWS call; what depended on a moved resource follows it.
#[test]
fn state_rm_and_mv_keep_a_backup_and_never_call_aws() {
    let stack = Stack::offline("surgery");
    std::fs::write(stack.state_path(), pretty(&valid_state())).expect("write the state");
    let out = stack.run(&["state", "mv", "aws_vpc.main", "aws_vpc.renamed"]);
    out.expect_ok().expect_no_aws_call();
    assert!(
        out.stdout
            .contains("Moved aws_vpc.main (vpc-0123) to aws_vpc.renamed")
            && out.stdout.contains("Nothing was changed in AWS")
            && out.stdout.contains(".backup"),
        "{}",
        out.all()
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stack.state_path()).unwrap()).unwrap();
    assert_eq!(state["serial"], 5);
    assert_eq!(state["resources"][1]["address"], "aws_vpc.renamed");
    assert_eq!(
        state["resources"][0]["dependencies"],
        serde_json::json!(["aws_vpc.renamed"])
    );
    let backup: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stack.dir.path().join(format!("{}.json.backup", stack.name)))
            .expect("the backup"),
    )
    .unwrap();
    assert_eq!(backup["serial"], 4, "the version before the move");

    let out = stack.run(&["state", "rm", "aws_subnet.public[0]", "aws_vpc.renamed"]);
    out.expect_ok().expect_no_aws_call();
    for words in [
        "Removed aws_subnet.public[0] (subnet-0456)",
        "Removed aws_vpc.renamed (vpc-0123)",
        "Nothing was deleted in AWS",
    ] {
        assert!(out.stdout.contains(words), "no {words:?}:\n{}", out.all());
    }
    let list = stack.run(&["state", "list"]);
    list.expect_ok();
    assert_eq!(list.stdout, "");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stack.state_path()).unwrap()).unwrap();
    let forgotten: Vec<&str> = state["forgotten"]
        .as_array()
        .expect("forgotten objects are remembered")
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(forgotten, ["subnet-0456", "vpc-0123"]);
    // `nova state restore` brings the version before the rm back.
    stack
        .run(&["state", "restore", "5"])
        .expect_ok()
        .expect_no_aws_call();
    let list = stack.run(&["state", "list"]);
    assert_eq!(list.stdout, "aws_subnet.public[0]\naws_vpc.renamed\n");
}

#[test]
fn corrupt_state_is_refused_unchanged_without_any_aws_call() {
    let valid = pretty(&valid_state());
    let mut duplicate = valid_state();
    let vpc = duplicate["resources"][0].clone();
    duplicate["resources"]
        .as_array_mut()
        .expect("resources is an array")
        .push(vpc);
    let mut dangling = valid_state();
    dangling["resources"][1]["dependencies"] = serde_json::json!(["aws_internet_gateway.main"]);
    let mut future = valid_state();
    future["version"] = serde_json::json!(99);

    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("empty", String::new(), vec!["is empty"]),
        ("blank", "\n  \n".to_string(), vec!["is empty"]),
        (
            "truncated",
            valid[..valid.len() / 2].to_string(),
            vec!["truncated"],
        ),
        (
            "not JSON",
            "this is not json\n".to_string(),
            vec!["not valid JSON", "line 1"],
        ),
        (
            "unknown version",
            pretty(&future),
            vec!["version 99", "version 1"],
        ),
        (
            "duplicate address",
            pretty(&duplicate),
            vec!["aws_vpc.main", "more than once"],
        ),
        (
            "dangling dependency",
            pretty(&dangling),
            vec![
                "aws_subnet.public[0]",
                "aws_internet_gateway.main",
                "not in the state",
            ],
        ),
    ];
    for (name, bytes, problem) in cases {
        let stack = Stack::offline("corrupt");
        std::fs::write(stack.state_path(), &bytes).expect("write the state");
        let path = stack.state_path().display().to_string();
        for command in [
            &["plan"][..],
            &["up", "--yes"],
            &["destroy", "--yes"],
            &["output"],
            &["state", "list"],
            &["graph"],
        ] {
            let out = stack.run(command);
            out.expect_code(1).expect_no_aws_call();
            let mut words = vec![path.as_str()];
            words.extend(problem.iter().copied());
            assert!(
                words.iter().all(|w| out.stderr.contains(w)),
                "case {name}: `nova {}` does not say {words:?}:\n{}",
                command.join(" "),
                out.all()
            );
            let after = std::fs::read(stack.state_path()).expect("read the state back");
            assert_eq!(
                after,
                bytes.as_bytes(),
                "case {name}: `nova {}` changed the state file",
                command.join(" ")
            );
            assert_eq!(
                stack.files(),
                vec![format!("{}.json", stack.name)],
                "case {name}: `nova {}` left files behind",
                command.join(" ")
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Offline commands over a hand-written state
// ---------------------------------------------------------------------------------------

#[test]
fn state_list_is_sorted_and_state_show_prints_the_resource() {
    let stack = Stack::offline("state-read");
    let unsorted = valid_state();
    assert_eq!(
        unsorted["resources"][0]["address"], "aws_vpc.main",
        "sorted already"
    );
    std::fs::write(stack.state_path(), pretty(&unsorted)).expect("write the state");

    let out = stack.run(&["state", "list"]);
    out.expect_ok().expect_no_aws_call();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "state list is not sorted");
    assert_eq!(lines, ["aws_subnet.public[0]", "aws_vpc.main"]);

    let out = stack.run(&["state", "show", "aws_vpc.main"]);
    out.expect_ok().expect_no_aws_call();
    let shown: serde_json::Value = serde_json::from_str(&out.stdout).expect("show prints JSON");
    assert_eq!(shown["id"], "vpc-0123");
    assert_eq!(shown["address"], "aws_vpc.main");

    let out = stack.run(&["state", "show", "aws_vpc.nope"]);
    out.expect_code(1)
        .expect_stderr_has(&["aws_vpc.nope", "nova state list"]);
}

#[test]
fn output_of_a_stack_without_outputs() {
    let stack = Stack::offline("no-outputs");
    let out = stack.run(&["output", "--json"]);
    out.expect_ok().expect_no_aws_call();
    assert_eq!(out.stdout.trim(), "{}");
    let out = stack.run(&["output", "vpc_id"]);
    out.expect_code(1)
        .expect_stderr_has(&["vpc_id", "no outputs", "nova up"]);
    assert!(stack.files().is_empty(), "files left: {:?}", stack.files());
}

#[test]
fn graph_is_dot_with_subnet_to_vpc_edges_and_needs_no_aws() {
    let stack = Stack::offline("graph");
    let out = stack.run(&["graph"]);
    out.expect_ok().expect_no_aws_call();
    assert!(out.stdout.starts_with("digraph"), "{}", out.all());
    assert!(out.stdout.trim_end().ends_with('}'), "{}", out.all());
    assert!(
        out.stdout
            .contains("\"aws_subnet.public[0]\" -> \"aws_vpc.main\";"),
        "no edge from a subnet to the VPC:\n{}",
        out.stdout
    );
    assert!(!has_ansi(&out.stdout));
    let again = stack.run(&["graph"]);
    assert_eq!(
        again.stdout, out.stdout,
        "graph output is not deterministic"
    );
    assert!(stack.files().is_empty(), "files left: {:?}", stack.files());
}

#[test]
fn garbage_plan_files_are_refused_clearly() {
    let stack = Stack::offline("badplan");
    let state_text = pretty(&valid_state());
    let cases = [
        (
            "garbage",
            "this is not a plan\n",
            "is not a plan saved by `nova plan --out`",
        ),
        (
            "state",
            state_text.as_str(),
            "is not a plan saved by `nova plan --out`",
        ),
        (
            "future",
            r#"{"format": "nova-plan", "format_version": 7, "plan": {}}"#,
            "nova-plan v7",
        ),
        (
            "other format",
            r#"{"format": "terraform-plan", "format_version": 1, "plan": {}}"#,
            "terraform-plan",
        ),
        (
            "damaged",
            r#"{"format": "nova-plan", "format_version": 1, "plan": {"stack": 3}}"#,
            "damaged plan file",
        ),
    ];
    for (name, text, message) in cases {
        let file = stack.dir.path().join(format!("{name}.plan"));
        std::fs::write(&file, text).expect("write the plan file");
        let file = file.display().to_string();
        let out = stack.run(&["up", &file, "--yes"]);
        out.expect_code(1)
            .expect_stderr_has(&[&file, message])
            .expect_no_aws_call();
    }
    let out = stack.run(&["up", "/nonexistent/nova.plan", "--yes"]);
    out.expect_code(1)
        .expect_stderr_has(&["/nonexistent/nova.plan"])
        .expect_no_aws_call();
    assert!(
        !stack.state_path().exists(),
        "a refused plan wrote the state"
    );
}

// ---------------------------------------------------------------------------------------
// Against LocalStack
// ---------------------------------------------------------------------------------------

#[test]
fn up_without_yes_on_a_pipe_refuses_and_changes_nothing() {
    let stack = Stack::live("noyes");
    let _cleanup = Cleanup(&stack);
    let out = stack.run(&["up"]);
    out.expect_code(1).expect_stderr_has(&["--yes"]);
    assert!(stack.files().is_empty(), "files left: {:?}", stack.files());
    assert!(vpcs_of(&stack.name).is_empty(), "a VPC was created");
}

#[test]
fn destroy_of_an_empty_stack_is_a_no_op() {
    let stack = Stack::live("emptydestroy");
    for command in [&["destroy", "--yes"][..], &["destroy"]] {
        let out = stack.run(command);
        out.expect_ok();
        assert!(out.stdout.contains("Nothing to destroy"), "{}", out.all());
        assert!(stack.files().is_empty(), "files left: {:?}", stack.files());
    }
}

#[test]
fn plan_without_refresh_is_byte_identical_twice() {
    let stack = Stack::live("determinism");
    let first = stack.run(&["plan", "--refresh=false"]);
    first.expect_ok();
    let second = stack.run(&["plan", "--refresh=false"]);
    second.expect_ok();
    assert!(first.stdout.contains("to add"), "{}", first.all());
    assert_eq!(first.stdout, second.stdout, "two plans differ");
    assert_eq!(first.stderr, second.stderr, "two plans' stderr differ");
    assert!(
        stack.files().is_empty(),
        "plan wrote files: {:?}",
        stack.files()
    );
}

#[test]
fn piped_plan_has_no_color() {
    let stack = Stack::live("pipecolor");
    for env in [&[][..], &[("NO_COLOR", "1")]] {
        let out = stack.run_env(env, &["plan", "--refresh=false"]);
        out.expect_ok();
        assert!(out.stdout.contains("Plan: "), "{}", out.all());
        assert!(
            !has_ansi(&out.all()),
            "ANSI codes with {env:?}:\n{}",
            out.all()
        );
    }
}

/// The saved-plan round trip: plan --out, up FILE, progress lines, then no changes.
#[test]
fn saved_plan_is_applied_with_progress_and_then_nothing_changes() {
    let stack = Stack::live("savedplan");
    let _cleanup = Cleanup(&stack);

    stack
        .run(&["plan", "--detailed-exitcode", "--refresh=false"])
        .expect_code(2);
    let plan_file = stack.dir.path().join("saved.plan");
    let plan_file = plan_file.display().to_string();
    let out = stack.run(&["plan", "--out", &plan_file]);
    out.expect_ok().expect_stderr_has(&[&plan_file]);
    assert!(vpcs_of(&stack.name).is_empty(), "plan created a VPC");

    let out = stack.run(&["up", &plan_file, "--yes"]);
    out.expect_ok();
    assert!(!has_ansi(&out.stdout), "ANSI codes in piped up output");
    let list = stack.run(&["state", "list"]);
    list.expect_ok();
    let addresses: Vec<&str> = list.stdout.lines().collect();
    assert!(addresses.len() > 30, "only {} resources", addresses.len());
    for address in &addresses {
        for line in [
            format!("{address}: Creating..."),
            format!("{address}: Creation complete after "),
        ] {
            assert!(
                out.stdout.contains(&line),
                "no line {line:?} in:\n{}",
                out.stdout
            );
        }
    }
    let closing = format!(
        "Apply complete! Resources: {} added, 0 changed, 0 replaced, 0 destroyed.",
        addresses.len()
    );
    assert!(
        out.stdout.contains(&closing),
        "no {closing:?}:\n{}",
        out.stdout
    );
    assert_eq!(vpcs_of(&stack.name).len(), 1, "expected one VPC");

    // The state matches the configuration and what is deployed (other stacks deployed on
    // this LocalStack meanwhile share the API Gateway account's one role with this one).
    stack.run(&["plan", "--detailed-exitcode"]).expect_code(0);

    // The saved plan was used up: its serial is behind the state now.
    let out = stack.run(&["up", &plan_file, "--yes"]);
    out.expect_code(1).expect_stderr_has(&["stale"]);
}

#[test]
fn stale_saved_plan_is_refused_and_changes_nothing() {
    let stack = Stack::live("staleplan");
    let _cleanup = Cleanup(&stack);
    stack.run(&["up", "--yes"]).expect_ok();

    let plan_file = stack.dir.path().join("four.plan").display().to_string();
    let out = stack.run_env(
        &[("NOVA_INSTANCE_COUNT", "4")],
        &["plan", "--out", &plan_file, "--detailed-exitcode"],
    );
    out.expect_code(2);
    stack
        .run_env(&[("NOVA_INSTANCE_COUNT", "3")], &["up", "--yes"])
        .expect_ok();

    let before = std::fs::read(stack.state_path()).expect("read the state");
    let out = stack.run(&["up", &plan_file, "--yes"]);
    out.expect_code(1)
        .expect_stderr_has(&["stale", "lineage", "serial", "nova plan"]);
    assert_eq!(
        std::fs::read(stack.state_path()).expect("read the state"),
        before,
        "a stale plan changed the state"
    );
    let list = stack.run(&["state", "list"]);
    let instances = list
        .stdout
        .lines()
        .filter(|l| l.starts_with("aws_instance."))
        .count();
    assert_eq!(instances, 3, "{}", list.stdout);
}

/// A plan saved for one stack cannot be applied to another.
#[test]
fn saved_plan_of_another_stack_is_refused() {
    let first = Stack::live("planstack-a");
    let plan_file = first.dir.path().join("a.plan").display().to_string();
    first
        .run(&["plan", "--refresh=false", "--out", &plan_file])
        .expect_ok();
    let second = Stack::live("planstack-b");
    let _cleanup = Cleanup(&second);
    let out = second.run(&["up", &plan_file, "--yes"]);
    out.expect_code(1)
        .expect_stderr_has(&[&first.name, &second.name]);
    assert!(second.files().is_empty(), "files: {:?}", second.files());
}

#[test]
fn outputs_and_state_of_an_applied_stack() {
    let stack = Stack::live("outputs");
    let _cleanup = Cleanup(&stack);
    stack.run(&["up", "--yes"]).expect_ok();

    let show = stack.run(&["state", "show", "aws_vpc.main"]);
    show.expect_ok();
    let vpc: serde_json::Value = serde_json::from_str(&show.stdout).expect("show prints JSON");
    let vpc_id = vpc["id"].as_str().expect("the VPC has an id").to_string();
    assert!(vpc_id.starts_with("vpc-"), "{vpc_id}");
    assert_eq!(vpcs_of(&stack.name), vec![vpc_id.clone()]);

    let out = stack.run(&["output", "--json"]);
    out.expect_ok();
    let outputs: serde_json::Value =
        serde_json::from_str(&out.stdout).expect("output --json is one JSON value");
    let outputs = outputs.as_object().expect("output --json is an object");
    assert_eq!(outputs["vpc_id"], vpc_id.as_str());
    for name in [
        "public_subnet_ids",
        "private_subnet_ids",
        "kms_key_arn",
        "api_invoke_url",
    ] {
        assert!(outputs.contains_key(name), "no output {name}: {outputs:?}");
    }

    let out = stack.run(&["output", "vpc_id"]);
    out.expect_ok();
    assert_eq!(out.stdout, format!("{vpc_id}\n"));

    let out = stack.run(&["output", "vpc_id", "--json"]);
    out.expect_ok();
    assert_eq!(out.stdout.trim(), format!("\"{vpc_id}\""));

    let out = stack.run(&["output", "nope"]);
    out.expect_code(1)
        .expect_stderr_has(&["nope", "vpc_id", "public_subnet_ids"]);

    let out = stack.run(&["output"]);
    out.expect_ok();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("vpc_id ") && l.ends_with(&format!("= \"{vpc_id}\""))),
        "{}",
        out.stdout
    );

    let list = stack.run(&["state", "list"]);
    list.expect_ok();
    let lines: Vec<&str> = list.stdout.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "state list is not sorted");
    assert!(lines.contains(&"aws_vpc.main"));

    // Destroy asks first; on a pipe it refuses and deletes nothing.
    let before = std::fs::read(stack.state_path()).expect("read the state");
    let out = stack.run(&["destroy"]);
    out.expect_code(1).expect_stderr_has(&["--yes"]);
    assert_eq!(
        std::fs::read(stack.state_path()).expect("read the state"),
        before
    );
    assert_eq!(vpcs_of(&stack.name), vec![vpc_id]);

    let out = stack.run(&["destroy", "--yes"]);
    out.expect_ok();
    assert!(out.stdout.contains("Destroy complete!"), "{}", out.all());
    assert!(vpcs_of(&stack.name).is_empty(), "the VPC survived destroy");
    stack.run(&["state", "list"]).expect_ok();
    let out = stack.run(&["destroy", "--yes"]);
    out.expect_ok();
    assert!(out.stdout.contains("Nothing to destroy"), "{}", out.all());
}

/// `plan --json` is for machines: stdout is one JSON document, even when the plan refreshes
/// existing resources first (progress goes to stderr).
#[test]
fn plan_json_is_one_json_document_after_a_refresh() {
    let stack = Stack::live("planjson");
    let _cleanup = Cleanup(&stack);
    stack.run(&["up", "--yes"]).expect_ok();
    let out = stack.run_env(&[("NOVA_INSTANCE_COUNT", "3")], &["plan", "--json"]);
    out.expect_ok();
    let plan: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", out.all()));
    assert_eq!(plan["stack"], stack.name.as_str());
    assert_eq!(plan["summary"]["add"], 3, "{}", out.stdout);
}

/// `nova ... | head -1` closes the pipe early: nova must stop quietly, not panic.
#[test]
fn closed_stdout_pipe_is_not_a_panic() {
    let stack = Stack::offline("epipe");
    let mut cmd = stack.cmd(&["graph"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start nova");
    drop(child.stdout.take()); // the reader goes away before nova writes
    let out = child.wait_with_output().expect("wait for nova");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "nova panicked on a closed pipe:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------------------
// On a terminal
// ---------------------------------------------------------------------------------------

/// A new pseudo-terminal: (controller, terminal).
fn open_pty() -> (File, OwnedFd) {
    // SAFETY: plain libc calls on file descriptors this function owns; the name buffer is
    // large enough and NUL-terminated by ptsname_r.
    unsafe {
        let controller = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(controller >= 0, "posix_openpt failed");
        let controller_file = File::from_raw_fd(controller);
        assert_eq!(libc::grantpt(controller), 0, "grantpt failed");
        assert_eq!(libc::unlockpt(controller), 0, "unlockpt failed");
        let mut name = [0 as libc::c_char; 256];
        assert_eq!(
            libc::ptsname_r(controller, name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r failed"
        );
        let terminal = libc::open(
            CStr::from_ptr(name.as_ptr()).as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY,
        );
        assert!(terminal >= 0, "cannot open the terminal side");
        (controller_file, OwnedFd::from_raw_fd(terminal))
    }
}

/// Runs `cmd` with stdin and stdout on a terminal, typing `input`; stderr is piped.
fn run_on_terminal(mut cmd: Command, input: &str) -> Run {
    let (mut controller, terminal) = open_pty();
    cmd.stdin(Stdio::from(terminal.try_clone().expect("dup the terminal")))
        .stdout(Stdio::from(terminal))
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start nova on a terminal");
    drop(cmd); // closes our copies of the terminal, so reading ends when nova exits
    let mut reader = controller.try_clone().expect("dup the controller");
    let screen = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        // Ends with EIO once the terminal side is closed; what was read is kept.
        let _ = reader.read_to_end(&mut bytes);
        bytes
    });
    controller
        .write_all(input.as_bytes())
        .expect("type into the terminal");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr is piped")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let status = child.wait().expect("wait for nova");
    let stdout = screen.join().expect("the terminal reader panicked");
    Run {
        code: status.code().expect("nova was killed by a signal"),
        stdout: String::from_utf8(stdout).expect("terminal output is UTF-8"),
        stderr,
        elapsed: started.elapsed(),
    }
}

#[test]
fn plan_on_a_terminal_is_colored_unless_no_color() {
    let stack = Stack::live("ttycolor");
    let out = run_on_terminal(stack.cmd(&["plan", "--refresh=false"]), "");
    out.expect_ok();
    assert!(out.stdout.contains("Plan: "), "{}", out.all());
    assert!(
        has_ansi(&out.stdout),
        "no color on a terminal:\n{}",
        out.all()
    );

    let mut cmd = stack.cmd(&["plan", "--refresh=false"]);
    cmd.env("NO_COLOR", "1");
    let out = run_on_terminal(cmd, "");
    out.expect_ok();
    assert!(out.stdout.contains("Plan: "), "{}", out.all());
    assert!(
        !has_ansi(&out.stdout),
        "color despite NO_COLOR:\n{}",
        out.all()
    );
}

#[test]
fn answering_no_at_the_prompt_cancels_without_changes() {
    let stack = Stack::live("ttyno");
    let _cleanup = Cleanup(&stack);
    let mut cmd = stack.cmd(&["up", "--refresh=false"]);
    cmd.env("NO_COLOR", "1");
    let out = run_on_terminal(cmd, "no\n");
    out.expect_code(1);
    assert!(
        out.stdout.contains("Only 'yes' will be accepted"),
        "{}",
        out.all()
    );
    assert!(out.stdout.contains("Apply cancelled."), "{}", out.all());
    assert!(stack.files().is_empty(), "files left: {:?}", stack.files());
    assert!(vpcs_of(&stack.name).is_empty(), "a VPC was created");
}

/// `nova up` refuses a plan with error-level policy findings (exit 3, nothing created)
/// unless `--allow-findings`; a 10-minute health schedule breaks NOVA-LAM-001.
#[test]
fn up_refuses_error_findings_unless_allowed() {
    let stack = Stack::live("findings");
    let _cleanup = Cleanup(&stack);
    let slow = [("NOVA_HEALTH_SCHEDULE", "rate(10 minutes)")];

    let out = stack.run_env(&slow, &["check"]);
    out.expect_code(3);
    assert!(out.stdout.contains("NOVA-LAM-001"), "{}", out.all());

    let out = stack.run_env(&slow, &["up", "--yes"]);
    out.expect_code(3).expect_stderr_has(&[
        "NOVA-LAM-001",
        "Refusing to apply",
        "--allow-findings",
    ]);
    assert!(
        vpcs_of(&stack.name).is_empty(),
        "a refused up created a VPC"
    );

    stack
        .run_env(&slow, &["up", "--yes", "--allow-findings"])
        .expect_ok();
    assert_eq!(vpcs_of(&stack.name).len(), 1);
    stack.run(&["destroy", "--yes"]).expect_ok();
}
