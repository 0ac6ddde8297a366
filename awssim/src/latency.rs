//! Per-call latency: a log-normal draw per call, by service and action.

use crate::model::{action_matches, Latency};

/// The 95th percentile of the standard normal distribution.
const Z95: f64 = 1.644_853_6;

#[derive(Debug, Clone, Copy, PartialEq)]
struct LogNormal {
    mu: f64,
    sigma: f64,
}

impl LogNormal {
    fn new(median_ms: f64, p95_ms: f64) -> LogNormal {
        let median = (median_ms / 1000.0).max(1e-6);
        let p95 = (p95_ms / 1000.0).max(median);
        LogNormal {
            mu: median.ln(),
            sigma: (p95 / median).ln() / Z95,
        }
    }

    /// A draw in seconds, from two uniform numbers in (0, 1].
    fn sample(&self, u1: f64, u2: f64) -> f64 {
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (self.mu + self.sigma * z).exp()
    }

    fn median(&self) -> f64 {
        self.mu.exp()
    }
}

/// Draws the latency of each call (seeded, so runs are reproducible).
pub struct Latencies {
    default: LogNormal,
    by_action: Vec<(String, Vec<String>, LogNormal)>,
    rng: fastrand::Rng,
}

impl Latencies {
    pub fn new(model: &Latency, seed: u64) -> Latencies {
        Latencies {
            default: LogNormal::new(model.median_ms, model.p95_ms),
            by_action: model
                .action
                .iter()
                .map(|a| {
                    (
                        a.service.clone(),
                        a.actions.clone(),
                        LogNormal::new(a.median_ms, a.p95_ms),
                    )
                })
                .collect(),
            rng: fastrand::Rng::with_seed(seed ^ 0x001a_7ec7),
        }
    }

    fn distribution(&self, service: &str, action: &str) -> LogNormal {
        self.by_action
            .iter()
            .find(|(s, actions, _)| {
                s == service && actions.iter().any(|p| action_matches(p, action))
            })
            .map_or(self.default, |(_, _, d)| *d)
    }

    /// Model seconds this call takes.
    pub fn sample(&mut self, service: &str, action: &str) -> f64 {
        let d = self.distribution(service, action);
        let u1 = 1.0 - self.rng.f64();
        let u2 = self.rng.f64();
        d.sample(u1, u2)
    }

    /// The median latency of this call, in model seconds.
    pub fn median(&self, service: &str, action: &str) -> f64 {
        self.distribution(service, action).median()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    #[test]
    fn draws_follow_the_model() {
        let model = Model::builtin();
        let mut l = Latencies::new(&model.latency, 7);
        let mut draws: Vec<f64> = (0..4000).map(|_| l.sample("ec2", "DescribeVpcs")).collect();
        draws.sort_by(f64::total_cmp);
        let median = draws[2000];
        let p95 = draws[3800];
        assert!((0.13..0.17).contains(&median), "median {median}");
        assert!((0.34..0.46).contains(&p95), "p95 {p95}");
        assert!((l.median("ec2", "RunInstances") - 1.5).abs() < 1e-9);
    }
}
