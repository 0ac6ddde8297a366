//! The simulated account: what awssim has seen created and deleted, with model times, and
//! the rules that make LocalStack's answers look like AWS's: slow resources, eventual
//! consistency, refusals while something is still being deleted, client tokens. One
//! module per service; each rule has a name that the stats count.

mod apigateway;
mod ec2;
mod iam;
mod lambda;
mod tokens;
mod volumes;

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::answer::{Answer, AwsError};
use crate::call::Call;
use crate::model::Model;

/// What to do with a call before it goes to LocalStack.
pub enum Verdict {
    Forward,
    /// Answer with this error, as rule `rule`.
    Refuse {
        rule: &'static str,
        error: AwsError,
    },
    /// Answer as the first call with the same client token was answered.
    Replay(Answer),
}

/// A NAT gateway awssim saw created.
#[derive(Debug, Clone)]
struct Nat {
    vpc: String,
    subnet: String,
    allocation: String,
    created: f64,
    deleted: Option<f64>,
}

/// Stop and start requests change an instance's state for a while.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Transition {
    Stop(f64),
    Start(f64),
}

#[derive(Debug, Clone)]
struct Instance {
    subnet: String,
    groups: Vec<String>,
    launched: f64,
    transition: Option<Transition>,
    terminated: Option<f64>,
}

/// The last ModifyVolume of a volume that awssim saw: sizes in GiB, start in model time.
#[derive(Debug, Clone)]
struct VolumeModification {
    original: i64,
    started: f64,
}

#[derive(Debug, Clone)]
struct Function {
    name: String,
    subnets: Vec<String>,
    groups: Vec<String>,
    created: f64,
    updated: Option<f64>,
    deleted: Option<f64>,
}

#[derive(Debug, Clone)]
struct Profile {
    created: f64,
    role_added: Option<f64>,
}

#[derive(Debug, Clone, Default)]
struct SubnetInfo {
    vpc: String,
    zone: String,
}

#[derive(Debug, Clone)]
struct Token {
    params: String,
    answer: Option<Answer>,
}

#[derive(Default)]
struct Records {
    nats: BTreeMap<String, Nat>,
    instances: BTreeMap<String, Instance>,
    /// Live functions and deleted ones whose interfaces may still linger, oldest first.
    functions: Vec<Function>,
    profiles: BTreeMap<String, Profile>,
    roles: BTreeMap<String, f64>,
    subnets: BTreeMap<String, SubnetInfo>,
    group_names: BTreeMap<String, String>,
    /// The last modification of each volume, by volume id.
    volume_modifications: BTreeMap<String, VolumeModification>,
    /// EC2 ids by the model time they were created (read-after-create consistency).
    created: BTreeMap<String, f64>,
    /// (action, client token) of EC2 calls.
    tokens: BTreeMap<(String, String), Token>,
}

pub struct World {
    model: Model,
    client_tokens: bool,
    records: Mutex<Records>,
}

impl World {
    pub fn new(model: Model, client_tokens: bool) -> World {
        World {
            model,
            client_tokens,
            records: Mutex::new(Records::default()),
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuses the call as AWS would at model time `now`, replays it, or lets it through.
    pub fn before(&self, call: &Call, now: f64) -> Verdict {
        let mut records = self.records();
        let refusal = match call.service.as_str() {
            "ec2" => ec2::before(&self.model, &records, call, now),
            "lambda" => lambda::before(&self.model, &records, call, now),
            "apigateway" => apigateway::before(&self.model, &records, call, now),
            _ => None,
        };
        if let Some((rule, error)) = refusal {
            return Verdict::Refuse { rule, error };
        }
        if self.client_tokens && call.service == "ec2" {
            if let Some(verdict) = tokens::before(&mut records, call) {
                return verdict;
            }
        }
        Verdict::Forward
    }

    /// Records what a successful call did and rewrites its answer as AWS would give it at
    /// model time `now`; returns the rules that changed the answer. `fresh` is false for
    /// an answer replayed from the client-token cache.
    pub fn after(
        &self,
        call: &Call,
        answer: &mut Answer,
        now: f64,
        fresh: bool,
    ) -> Vec<&'static str> {
        if !(200..300).contains(&answer.status) {
            return Vec::new();
        }
        let mut records = self.records();
        if fresh && self.client_tokens && call.service == "ec2" {
            tokens::after(&mut records, call, answer);
        }
        match call.service.as_str() {
            "ec2" => ec2::after(&self.model, &mut records, call, answer, now),
            "lambda" => lambda::after(&self.model, &mut records, call, answer, now),
            "iam" => {
                iam::after(&mut records, call, now);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

/// The name of a role or instance profile from its ARN (the part after the last `/`).
fn name_from_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}
