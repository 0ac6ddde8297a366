//! Throttling: AWS's token buckets per service and action group, in model time.

use crate::model::{action_matches, Bucket};

struct State {
    bucket: Bucket,
    tokens: f64,
    last: f64,
}

pub struct Throttle {
    buckets: Vec<State>,
}

impl Throttle {
    pub fn new(buckets: &[Bucket]) -> Throttle {
        Throttle {
            buckets: buckets
                .iter()
                .map(|b| State {
                    bucket: b.clone(),
                    tokens: b.burst,
                    last: 0.0,
                })
                .collect(),
        }
    }

    /// Takes a token for this call at model time `now`: `Err(bucket name)` when its bucket
    /// is empty. Calls that no bucket covers are never throttled.
    pub fn take(&mut self, service: &str, action: &str, now: f64) -> Result<(), String> {
        let Some(state) = self.buckets.iter_mut().find(|s| {
            s.bucket.service == service
                && s.bucket.actions.iter().any(|p| action_matches(p, action))
        }) else {
            return Ok(());
        };
        let refill = (now - state.last).max(0.0) * state.bucket.per_second;
        state.tokens = (state.tokens + refill).min(state.bucket.burst);
        state.last = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            Ok(())
        } else {
            Err(state.bucket.name.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    #[test]
    fn burst_then_refill_rate() {
        let mut t = Throttle::new(&Model::builtin().throttle);
        // CreateDeployment: 1 per 5 s.
        assert!(t.take("apigateway", "CreateDeployment", 0.0).is_ok());
        assert_eq!(
            t.take("apigateway", "CreateDeployment", 1.0),
            Err("apigateway-create-deployment".into())
        );
        assert!(t.take("apigateway", "CreateDeployment", 6.0).is_ok());
        // EC2 mutating: 50 at once, then 5 per s.
        for _ in 0..50 {
            assert!(t.take("ec2", "CreateVpc", 10.0).is_ok());
        }
        assert!(t.take("ec2", "CreateVpc", 10.0).is_err());
        assert!(t.take("ec2", "CreateVpc", 10.3).is_ok());
        // Other buckets are separate; unknown services are never throttled.
        assert!(t.take("ec2", "DescribeVpcs", 10.3).is_ok());
        assert!(t.take("sts", "GetCallerIdentity", 10.3).is_ok());
    }
}
