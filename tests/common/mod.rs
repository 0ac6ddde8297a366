//! Shared helpers for nova's integration tests (the ones that talk to
//! LocalStack).
//!
//! Use from a file in `tests/` with `mod common;`. Each integration test is
//! its own crate and uses only some helpers, hence `#[allow(dead_code)]`.
//!
//! The tests need a running LocalStack; `scripts/test.sh` starts one and sets
//! `NOVA_TEST_LOCALSTACK` (see docs/testbed.md). To run tests by hand:
//!
//! ```text
//! scripts/localstack.sh start
//! NOVA_TEST_LOCALSTACK=http://127.0.0.1:4566 cargo nextest run
//! ```

#![allow(dead_code)]

pub mod awssim;
pub mod conformance;
pub mod fake;
pub mod inventory;
pub mod nova;

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Region every test uses (LocalStack accepts any; nova's tests use this one).
pub const REGION: &str = "us-east-1";

/// LocalStack's fixed account id.
pub const ACCOUNT_ID: &str = "000000000000";

/// How long the health probe may take, connect and read each.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

const HOW_TO_START: &str = "start it with `scripts/localstack.sh start` and set \
     NOVA_TEST_LOCALSTACK=http://127.0.0.1:4566, or run all tests with `scripts/test.sh` \
     (it does both); see docs/testbed.md";

/// The LocalStack endpoint, e.g. `http://127.0.0.1:4566`, from
/// `NOVA_TEST_LOCALSTACK` (or else `AWS_ENDPOINT_URL`), without a trailing `/`.
///
/// Panics with a message saying how to start LocalStack when neither is set
/// or when `GET <endpoint>/_localstack/health` does not answer 200 within a
/// few seconds. Checked once per test process.
pub fn localstack_endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            let (var, raw) = ["NOVA_TEST_LOCALSTACK", "AWS_ENDPOINT_URL"]
                .iter()
                .find_map(|var| {
                    std::env::var(var)
                        .ok()
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| (*var, v))
                })
                .unwrap_or_else(|| {
                    panic!(
                        "these tests need LocalStack, but neither NOVA_TEST_LOCALSTACK nor \
                         AWS_ENDPOINT_URL is set: {HOW_TO_START}"
                    )
                });
            let endpoint = raw.trim().trim_end_matches('/').to_string();
            if let Err(err) = probe_health(&endpoint) {
                panic!(
                    "LocalStack at {endpoint} (from {var}) is not answering \
                     GET /_localstack/health: {err}. Is it running? {HOW_TO_START}"
                );
            }
            endpoint
        })
        .clone()
}

/// `GET <endpoint>/_localstack/health` over plain HTTP/1.0; Ok on a 200.
fn probe_health(endpoint: &str) -> Result<(), String> {
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| "only http:// endpoints are supported".to_string())?;
    let authority = authority.split('/').next().unwrap_or(authority);
    // host:port, [v6]:port, or a bare host (port 80).
    let host_port = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addrs: Vec<_> = host_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host_port}: {e}"))?
        .collect();
    let mut last_err = format!("{host_port} resolved to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) {
            Ok(mut stream) => {
                stream
                    .set_read_timeout(Some(PROBE_TIMEOUT))
                    .and_then(|()| stream.set_write_timeout(Some(PROBE_TIMEOUT)))
                    .map_err(|e| e.to_string())?;
                let request =
                    format!("GET /_localstack/health HTTP/1.0\r\nHost: {authority}\r\n\r\n");
                stream
                    .write_all(request.as_bytes())
                    .map_err(|e| format!("sending the request: {e}"))?;
                // The status line is all we need; read a little more than it.
                let mut buf = [0u8; 64];
                let mut len = 0;
                while len < buf.len() {
                    match stream.read(&mut buf[len..]) {
                        Ok(0) => break,
                        Ok(n) => len += n,
                        Err(e) => return Err(format!("reading the answer: {e}")),
                    }
                    if buf[..len].contains(&b'\n') {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buf[..len]);
                let status_line = head.lines().next().unwrap_or("").trim().to_string();
                let mut parts = status_line.split_whitespace();
                return match (parts.next(), parts.next()) {
                    (Some(v), Some("200")) if v.starts_with("HTTP/") => Ok(()),
                    _ => Err(format!("unexpected answer {status_line:?}")),
                };
            }
            Err(e) => last_err = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last_err)
}

/// Static test credentials (LocalStack accepts any).
pub fn test_credentials() -> aws_sdk_sts::config::Credentials {
    aws_sdk_sts::config::Credentials::new("test", "test", None, None, "nova-tests")
}

/// SDK configuration for LocalStack: its endpoint, `us-east-1`, and static
/// test credentials, whatever AWS_* variables or profiles the environment has.
/// Panics like [`localstack_endpoint`] when LocalStack is not there.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(localstack_endpoint())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(test_credentials())
        .load()
        .await
}

/// A stack name unique to this call: the prefix (lowercased, reduced to
/// `[a-z0-9-]`, shortened if needed), a `-`, then the process id, a per-process
/// counter and a random tail, all base 36. At most 20 characters, starts with a
/// letter, valid in the names of every AWS resource nova creates.
///
/// Panics when the prefix does not start with an ASCII letter.
pub fn unique_stack(prefix: &str) -> String {
    const MAX_LEN: usize = 20;
    const MIN_RANDOM: usize = 4;
    static COUNTER: AtomicU32 = AtomicU32::new(0);

    let mut clean = String::with_capacity(prefix.len());
    for c in prefix.chars().map(|c| c.to_ascii_lowercase()) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && clean.ends_with('-')) {
            clean.push(c);
        }
    }
    assert!(
        clean.starts_with(|c: char| c.is_ascii_lowercase()),
        "unique_stack: prefix {prefix:?} must start with an ASCII letter"
    );
    let ids = format!(
        "{}{}",
        base36(u128::from(std::process::id())),
        base36(u128::from(COUNTER.fetch_add(1, Ordering::Relaxed)))
    );
    let prefix_len = clean
        .len()
        .min(MAX_LEN.saturating_sub(1 + ids.len() + MIN_RANDOM))
        .max(1);
    let head = clean[..prefix_len].trim_end_matches('-');
    let mut name = format!("{head}-{ids}");
    let random = base36(uuid::Uuid::new_v4().as_u128());
    let room = MAX_LEN.saturating_sub(name.len());
    name.push_str(&random[..room.min(random.len())]);
    debug_assert!(name.len() <= MAX_LEN, "{name}");
    name
}

fn base36(mut n: u128) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("base36 digits are ASCII")
}

/// A fresh, empty state directory, deleted when the value is dropped.
pub fn temp_state_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("nova-state-")
        .tempdir()
        .expect("create a temporary state directory")
}

/// Path of the `nova` binary built for this test run.
///
/// Uses `env!("CARGO_BIN_EXE_nova")`, which Cargo sets only when compiling
/// integration tests (files in `tests/`) of the package that has the `nova`
/// binary: this module cannot be used from unit tests in `src/`.
pub fn nova_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nova"))
}

/// `nova --state-dir <state_dir>` with the environment pointed at LocalStack
/// (endpoint, region, test credentials), ready for more arguments, e.g.
/// `nova_command(dir.path()).args(["--stack", &stack, "up", "--yes"])`.
pub fn nova_command(state_dir: &Path) -> Command {
    let mut cmd = Command::new(nova_bin());
    cmd.env("AWS_ENDPOINT_URL", localstack_endpoint())
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .arg("--state-dir")
        .arg(state_dir);
    cmd
}
