//! Injected faults: which calls fail, decided from the seed, the call's name and how many
//! such calls came before it, so a run with the same calls gets the same faults whatever
//! the interleaving of different actions.

use std::collections::HashMap;

use crate::model::{FaultKind, Faults};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No fault.
    Pass,
    /// Answered with this fault without reaching LocalStack.
    Before(FaultKind),
    /// Reaches LocalStack (the change happens); the answer is replaced by this fault.
    Lost(FaultKind),
}

pub struct FaultPlan {
    faults: Faults,
    counts: HashMap<String, u64>,
}

impl FaultPlan {
    pub fn new(faults: Faults) -> FaultPlan {
        FaultPlan {
            faults,
            counts: HashMap::new(),
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn decide(&mut self, call: &str) -> Decision {
        let n = self.counts.entry(call.to_string()).or_default();
        *n += 1;
        if self.faults.rate <= 0.0 {
            return Decision::Pass;
        }
        let base = splitmix(self.faults.seed ^ fnv(call) ^ splitmix(*n));
        if unit(base) >= self.faults.rate {
            return Decision::Pass;
        }
        let second = splitmix(base);
        let third = splitmix(second);
        let lost = unit(second) < self.faults.lost_share;
        let kinds = if lost {
            &self.faults.lost_kinds
        } else {
            &self.faults.kinds
        };
        let kind = kinds[(third % kinds.len() as u64) as usize];
        if lost {
            Decision::Lost(kind)
        } else {
            Decision::Before(kind)
        }
    }
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A number in [0, 1) from the top 53 bits.
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    fn plan(rate: f64, lost_share: f64, seed: u64) -> FaultPlan {
        let mut faults = Model::builtin().faults;
        faults.rate = rate;
        faults.lost_share = lost_share;
        faults.seed = seed;
        FaultPlan::new(faults)
    }

    #[test]
    fn rate_and_share_are_honoured_and_reproducible() {
        let run = |seed| {
            let mut p = plan(0.1, 0.5, seed);
            (0..20_000)
                .map(|i| p.decide(if i % 2 == 0 { "ec2:A" } else { "ec2:B" }))
                .collect::<Vec<_>>()
        };
        let a = run(3);
        assert_eq!(a, run(3), "same seed, same faults");
        assert_ne!(a, run(4));
        let faulted = a.iter().filter(|d| **d != Decision::Pass).count();
        let lost = a.iter().filter(|d| matches!(d, Decision::Lost(_))).count();
        assert!((1800..2200).contains(&faulted), "{faulted}");
        assert!((800..1200).contains(&lost), "{lost}");
        assert!(a.contains(&Decision::Lost(FaultKind::Reset)));
        assert!(a.contains(&Decision::Before(FaultKind::Throttle)));
    }

    #[test]
    fn off_means_off() {
        let mut p = plan(0.0, 0.5, 1);
        assert!((0..1000).all(|_| p.decide("ec2:A") == Decision::Pass));
    }
}
