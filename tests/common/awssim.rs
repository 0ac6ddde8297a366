//! awssim in front of LocalStack for nova's scenario tests: AWS's timing (scaled down for
//! CI), throttling, eventual consistency, refusals during slow deletes and, when a test
//! asks, seeded faults. The proxy runs in this test process on a free port; `nova`
//! processes and SDK clients point at [`Realistic::endpoint`], while witnesses read
//! straight from LocalStack. See docs/testbed.md.

use std::time::Duration;

use awssim::{Config, FaultKind, Faults, Model, Sim};

use super::localstack_endpoint;

/// The time scale scenario tests run the model at: AWS's timing 20 times as fast (a NAT
/// gateway takes 5 s). `NOVA_AWSSIM_SCALE` overrides it (1.0 is AWS's real timing).
pub fn ci_scale() -> f64 {
    std::env::var("NOVA_AWSSIM_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(0.05)
}

/// The checked-in model for scenario tests: a deleted Lambda's interfaces linger 2
/// minutes of model time (18.5 on AWS: long enough to matter, short enough for CI).
pub fn scenario_model() -> Model {
    let mut model = Model::builtin();
    model.lambda.eni_linger_s = 120.0;
    model
}

/// Every call delayed by `delay` and nothing else: a distant region in front of an
/// instant LocalStack, for tests that must act in the middle of a run.
pub fn latency_only(delay: Duration) -> Model {
    let mut model = Model::builtin();
    let ms = delay.as_secs_f64() * 1000.0;
    model.latency.median_ms = ms;
    model.latency.p95_ms = ms;
    model.latency.action.clear();
    model.nat_gateway.pending_s = 0.0;
    model.nat_gateway.deleting_s = 0.0;
    model.instance.pending_s = 0.0;
    model.instance.shutting_down_s = 0.0;
    model.instance.stopping_s = 0.0;
    model.volume.modifying_s = 0.0;
    model.volume.optimizing_s = 0.0;
    model.lambda.vpc_pending_s = 0.0;
    model.lambda.pending_s = 0.0;
    model.lambda.update_s = 0.0;
    model.lambda.eni_linger_s = 0.0;
    model.consistency.instance_profile_s = 0.0;
    model.consistency.role_assumable_s = 0.0;
    model.consistency.apigateway_role_s = 0.0;
    model.consistency.ec2_read_after_create_s = 0.0;
    model.throttle.clear();
    model
}

/// `rate` of the calls faulted, `lost_share` of those after LocalStack made the change
/// (answers replaced by a 500 or a reset connection), the others answered 500, 503 or
/// throttled without reaching it.
pub fn faults(rate: f64, lost_share: f64, seed: u64) -> Faults {
    Faults {
        rate,
        lost_share,
        kinds: vec![
            FaultKind::InternalError,
            FaultKind::Unavailable,
            FaultKind::Throttle,
        ],
        lost_kinds: vec![FaultKind::InternalError, FaultKind::Reset],
        seed,
        source: String::new(),
    }
}

/// A running proxy in front of the test LocalStack.
pub struct Realistic {
    pub sim: Sim,
}

impl Realistic {
    /// `model` at `scale`, in front of the LocalStack the tests use (panics with
    /// instructions when there is none).
    pub fn start(model: Model, scale: f64) -> Realistic {
        let mut config = Config::new(&localstack_endpoint()).scale(scale);
        config.model = model;
        Realistic {
            sim: Sim::start(config).expect("start awssim in front of LocalStack"),
        }
    }

    /// What `AWS_ENDPOINT_URL` points at.
    pub fn endpoint(&self) -> String {
        self.sim.endpoint()
    }
}
