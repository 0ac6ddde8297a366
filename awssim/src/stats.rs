//! What the proxy saw and did: calls by service and action, throttled calls by bucket,
//! faults by kind, refusals and rewrites by rule. Served at `GET /_awssim/stats`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every AWS call that reached the proxy.
    pub calls: u64,
    /// Calls by `service:Action`.
    pub by_action: BTreeMap<String, u64>,
    /// Calls answered with a throttling error, by bucket (`ec2-mutating`, ...).
    pub throttled: BTreeMap<String, u64>,
    /// Injected faults by `before:<kind>` (never reached LocalStack) and `lost:<kind>`
    /// (reached it; answer lost).
    pub faults: BTreeMap<String, u64>,
    /// Faulted calls by `service:Action`.
    pub faulted: BTreeMap<String, u64>,
    /// Calls refused by a rule of the model (`subnet-dependencies`, ...).
    pub refusals: BTreeMap<String, u64>,
    /// Answers rewritten by a rule (`nat-gateway-pending`, ...).
    pub rewrites: BTreeMap<String, u64>,
    /// Calls answered from the client-token cache (a repeated idempotent create).
    pub replays: u64,
    /// Calls LocalStack did not answer (connection failures).
    pub upstream_errors: u64,
}

impl Stats {
    pub fn count(map: &mut BTreeMap<String, u64>, key: &str) {
        *map.entry(key.to_string()).or_default() += 1;
    }

    /// Calls of one `service:Action`.
    pub fn calls_of(&self, name: &str) -> u64 {
        self.by_action.get(name).copied().unwrap_or(0)
    }

    pub fn total(map: &BTreeMap<String, u64>) -> u64 {
        map.values().sum()
    }
}
