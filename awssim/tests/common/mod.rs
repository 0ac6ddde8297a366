//! What awssim's own tests share: LocalStack's endpoint (the tests fail loudly without it),
//! a proxy started in front of it, and SDK configurations pointed at either.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use awssim::{Config, Model, Sim};

/// LocalStack's endpoint from `NOVA_TEST_LOCALSTACK` (else `AWS_ENDPOINT_URL`), checked
/// to answer `/_localstack/health`. Panics with instructions otherwise.
pub fn localstack() -> String {
    let endpoint = ["NOVA_TEST_LOCALSTACK", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| {
            panic!(
                "awssim's tests need LocalStack: start it with `scripts/localstack.sh start` \
                 and set NOVA_TEST_LOCALSTACK=http://127.0.0.1:4566, or run `scripts/test.sh` \
                 (docs/testbed.md)"
            )
        });
    let endpoint = endpoint.trim().trim_end_matches('/').to_string();
    let health = std::process::Command::new("curl")
        .args(["-fsS", "-m", "5", &format!("{endpoint}/_localstack/health")])
        .output();
    match health {
        Ok(out) if out.status.success() => endpoint,
        Ok(out) => panic!(
            "LocalStack at {endpoint} does not answer /_localstack/health: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("cannot run curl to probe LocalStack at {endpoint}: {e}"),
    }
}

/// A proxy in front of LocalStack with `model` at `scale`.
pub fn sim(model: Model, scale: f64) -> Sim {
    let mut config = Config::new(&localstack()).scale(scale);
    config.model = model;
    Sim::start(config).expect("start awssim")
}

/// The checked-in model with latency near zero, so tests measure only what they set up.
pub fn quiet_model() -> Model {
    let mut model = Model::builtin();
    model.latency.median_ms = 1.0;
    model.latency.p95_ms = 1.0;
    model.latency.action.clear();
    model
}

/// SDK configuration for `endpoint` with test credentials and at most `attempts` tries
/// per call (1: the test sees every error awssim sends).
pub async fn sdk(endpoint: &str, attempts: u32) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "awssim-tests",
        ))
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .load()
        .await
}

/// Polls `check` every 50 ms until it returns `Some`, failing the test after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: still not so after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A name unique to this test run.
pub fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{:x}", std::process::id(), n & 0xff_ffff)
}

/// The error code of an SDK error.
pub fn code<E: aws_sdk_ec2::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("none").to_string()
}
