//! awssim: an HTTP proxy that makes LocalStack behave like AWS for nova's tests and
//! benchmarks: per-call latency, slow resources (NAT gateways, instances, VPC Lambdas),
//! eventual consistency (IAM, EC2 reads after create), refusals while something is being
//! deleted, throttling with AWS's token buckets, client tokens, and seeded faults, all
//! from a timing model in `fixtures/awssim/` that names its sources. See docs/testbed.md.

pub mod answer;
pub mod bound;
pub mod call;
pub mod clock;
pub mod faults;
pub mod latency;
pub mod model;
mod proxy;
mod routes;
pub mod stats;
pub mod throttle;
mod world;
pub mod xml;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::watch;

pub use model::{FaultKind, Faults, Model};
pub use proxy::Shared;
pub use stats::Stats;

/// How to run a proxy.
#[derive(Debug, Clone)]
pub struct Config {
    /// LocalStack, e.g. `http://127.0.0.1:4566`.
    pub upstream: String,
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    pub model: Model,
    /// Model time runs this much slower than real time: 1.0 is AWS's timing, 0.05 twenty
    /// times as fast.
    pub scale: f64,
    /// Honour EC2 client tokens (LocalStack ignores them).
    pub client_tokens: bool,
    /// Print a line per call to stderr.
    pub trace: bool,
}

impl Config {
    /// The checked-in model at AWS's timing, on any free local port.
    pub fn new(upstream: &str) -> Config {
        Config {
            upstream: upstream.to_string(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            model: Model::builtin(),
            scale: 1.0,
            client_tokens: true,
            trace: false,
        }
    }

    pub fn scale(mut self, scale: f64) -> Config {
        self.scale = scale;
        self
    }
}

/// A running proxy, on a thread and runtime of its own (so a test that blocks on a child
/// process does not stop it). Stopped when dropped.
pub struct Sim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Sim {
    pub fn start(config: Config) -> std::io::Result<Sim> {
        if !(config.scale > 0.0 && config.scale.is_finite()) {
            return Err(std::io::Error::other("scale must be a number > 0"));
        }
        let listener = std::net::TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(
            &config.upstream,
            config.model,
            config.scale,
            config.client_tokens,
            config.trace,
        ));
        let (stop, stopped) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("awssim")
            .build()?;
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("awssim".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("a bound listener converts");
                    proxy::serve(listener, serving, stopped).await;
                });
            })?;
        Ok(Sim {
            addr,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`: what `AWS_ENDPOINT_URL` points at.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    pub fn reset_stats(&self) {
        self.shared.reset_stats();
    }

    pub fn set_faults(&self, faults: Faults) -> Result<(), String> {
        self.shared.set_faults(faults)
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    /// The model this proxy runs.
    pub fn model(&self) -> &Model {
        &self.shared.model
    }

    /// The real duration of `model_seconds` at this proxy's scale.
    pub fn real(&self, model_seconds: f64) -> std::time::Duration {
        self.shared.clock.real(model_seconds)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
