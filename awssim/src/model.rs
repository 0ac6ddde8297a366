//! The timing model: what AWS takes and allows, read from a TOML file in `fixtures/awssim/`
//! where every table names the source of its figures.

use std::path::Path;

use serde::Deserialize;

/// The whole model, in model time (AWS's real timing; `--scale` shrinks it at run time).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub latency: Latency,
    pub nat_gateway: NatGateway,
    pub instance: Instance,
    pub lambda: Lambda,
    pub consistency: Consistency,
    #[serde(default)]
    pub throttle: Vec<Bucket>,
    pub faults: Faults,
}

/// Per-call latency: log-normal with this median and 95th percentile, with overrides.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub median_ms: f64,
    pub p95_ms: f64,
    pub source: String,
    #[serde(default)]
    pub action: Vec<ActionLatency>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ActionLatency {
    pub service: String,
    pub actions: Vec<String>,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NatGateway {
    pub pending_s: f64,
    pub deleting_s: f64,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub pending_s: f64,
    pub shutting_down_s: f64,
    pub stopping_s: f64,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Lambda {
    pub vpc_pending_s: f64,
    pub pending_s: f64,
    pub update_s: f64,
    pub eni_linger_s: f64,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Consistency {
    pub instance_profile_s: f64,
    pub role_assumable_s: f64,
    pub apigateway_role_s: f64,
    pub ec2_read_after_create_s: f64,
    pub source: String,
}

/// One throttling token bucket.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub name: String,
    pub service: String,
    pub actions: Vec<String>,
    pub burst: f64,
    pub per_second: f64,
    pub source: String,
}

/// Injected faults (off in the checked-in model).
#[derive(Debug, Clone, Deserialize, PartialEq, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Fraction of calls faulted, 0..=1.
    pub rate: f64,
    /// Of the faulted calls, the fraction that reach LocalStack and lose their answer.
    pub lost_share: f64,
    /// Answers for faults that never reach LocalStack: "500", "503", "throttle".
    pub kinds: Vec<FaultKind>,
    /// Answers for lost ones: "500", "reset" (the connection is closed, no answer).
    pub lost_kinds: Vec<FaultKind>,
    pub seed: u64,
    #[serde(default, skip_serializing)]
    pub source: String,
}

/// How a faulted call is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
pub enum FaultKind {
    #[serde(rename = "500")]
    InternalError,
    #[serde(rename = "503")]
    Unavailable,
    #[serde(rename = "throttle")]
    Throttle,
    #[serde(rename = "reset")]
    Reset,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::InternalError => "500",
            FaultKind::Unavailable => "503",
            FaultKind::Throttle => "throttle",
            FaultKind::Reset => "reset",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read the timing model {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the timing model {path} is invalid: {reason}")]
    Invalid { path: String, reason: String },
}

impl Model {
    /// The model checked into the repository (`fixtures/awssim/aws-us-east-1.toml`).
    pub fn builtin() -> Model {
        Model::parse(BUILTIN, "fixtures/awssim/aws-us-east-1.toml")
            .expect("the checked-in timing model is valid")
    }

    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Model::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, path: &str) -> Result<Model, ModelError> {
        Model::parse_with(text, path, &[])
    }

    /// Parses the model with `sets` applied: `table.key=value` (TOML values, e.g.
    /// `lambda.eni_linger_s=60`), each naming a key that exists.
    pub fn parse_with(text: &str, path: &str, sets: &[String]) -> Result<Model, ModelError> {
        let invalid = |reason: String| ModelError::Invalid {
            path: path.to_string(),
            reason,
        };
        let mut value: toml::Table = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        for set in sets {
            apply_set(&mut value, set).map_err(invalid)?;
        }
        let model: Model = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        model.validate().map_err(invalid)?;
        Ok(model)
    }

    /// Every figure is finite and not negative, every table names its source, fault
    /// fractions are within 0..=1.
    fn validate(&self) -> Result<(), String> {
        let mut sources = vec![
            ("latency", &self.latency.source),
            ("nat_gateway", &self.nat_gateway.source),
            ("instance", &self.instance.source),
            ("lambda", &self.lambda.source),
            ("consistency", &self.consistency.source),
            ("faults", &self.faults.source),
        ];
        sources.extend(
            self.latency
                .action
                .iter()
                .map(|a| ("latency.action", &a.source)),
        );
        sources.extend(self.throttle.iter().map(|b| ("throttle", &b.source)));
        if let Some((table, _)) = sources.iter().find(|(_, s)| s.trim().is_empty()) {
            return Err(format!("[{table}] has no source"));
        }
        let figures = [
            ("latency.median_ms", self.latency.median_ms),
            ("latency.p95_ms", self.latency.p95_ms),
            ("nat_gateway.pending_s", self.nat_gateway.pending_s),
            ("nat_gateway.deleting_s", self.nat_gateway.deleting_s),
            ("instance.pending_s", self.instance.pending_s),
            ("instance.shutting_down_s", self.instance.shutting_down_s),
            ("instance.stopping_s", self.instance.stopping_s),
            ("lambda.vpc_pending_s", self.lambda.vpc_pending_s),
            ("lambda.pending_s", self.lambda.pending_s),
            ("lambda.update_s", self.lambda.update_s),
            ("lambda.eni_linger_s", self.lambda.eni_linger_s),
            (
                "consistency.instance_profile_s",
                self.consistency.instance_profile_s,
            ),
            (
                "consistency.role_assumable_s",
                self.consistency.role_assumable_s,
            ),
            (
                "consistency.apigateway_role_s",
                self.consistency.apigateway_role_s,
            ),
            (
                "consistency.ec2_read_after_create_s",
                self.consistency.ec2_read_after_create_s,
            ),
        ];
        if let Some((name, value)) = figures.iter().find(|(_, v)| !v.is_finite() || *v < 0.0) {
            return Err(format!("{name} = {value} must be a number >= 0"));
        }
        for a in &self.latency.action {
            if a.p95_ms < a.median_ms {
                return Err(format!(
                    "latency for {:?}: p95_ms below median_ms",
                    a.actions
                ));
            }
        }
        if self.latency.p95_ms < self.latency.median_ms {
            return Err("latency.p95_ms is below latency.median_ms".into());
        }
        for b in &self.throttle {
            if !(b.burst >= 1.0 && b.per_second > 0.0 && b.per_second.is_finite()) {
                return Err(format!(
                    "throttle bucket {}: burst must be >= 1 and per_second > 0",
                    b.name
                ));
            }
        }
        self.faults.validate()
    }
}

impl Model {
    /// A figure by its key in the model file, e.g. `nat_gateway.pending_s`.
    pub fn figure(&self, key: &str) -> Option<f64> {
        Some(match key {
            "nat_gateway.pending_s" => self.nat_gateway.pending_s,
            "nat_gateway.deleting_s" => self.nat_gateway.deleting_s,
            "instance.pending_s" => self.instance.pending_s,
            "instance.shutting_down_s" => self.instance.shutting_down_s,
            "instance.stopping_s" => self.instance.stopping_s,
            "lambda.vpc_pending_s" => self.lambda.vpc_pending_s,
            "lambda.pending_s" => self.lambda.pending_s,
            "lambda.update_s" => self.lambda.update_s,
            "lambda.eni_linger_s" => self.lambda.eni_linger_s,
            "consistency.instance_profile_s" => self.consistency.instance_profile_s,
            "consistency.role_assumable_s" => self.consistency.role_assumable_s,
            "consistency.apigateway_role_s" => self.consistency.apigateway_role_s,
            "consistency.ec2_read_after_create_s" => self.consistency.ec2_read_after_create_s,
            _ => return None,
        })
    }
}

impl Faults {
    pub fn validate(&self) -> Result<(), String> {
        let fraction = |v: f64| (0.0..=1.0).contains(&v);
        if !fraction(self.rate) || !fraction(self.lost_share) {
            return Err("faults.rate and faults.lost_share must be within 0..=1".into());
        }
        if self.rate > 0.0 && self.lost_share < 1.0 && self.kinds.is_empty() {
            return Err("faults.kinds is empty".into());
        }
        if self.rate > 0.0 && self.lost_share > 0.0 && self.lost_kinds.is_empty() {
            return Err("faults.lost_kinds is empty".into());
        }
        if self.kinds.contains(&FaultKind::Reset) {
            return Err(
                "faults.kinds cannot hold \"reset\" (a reset is a lost answer: lost_kinds)".into(),
            );
        }
        if self.lost_kinds.contains(&FaultKind::Throttle) {
            return Err("faults.lost_kinds cannot hold \"throttle\"".into());
        }
        Ok(())
    }
}

const BUILTIN: &str = include_str!("../../fixtures/awssim/aws-us-east-1.toml");

/// Applies one `table.key=value` override to the parsed model text.
fn apply_set(model: &mut toml::Table, set: &str) -> Result<(), String> {
    let (path, raw) = set
        .split_once('=')
        .ok_or_else(|| format!("`{set}`: expected KEY=VALUE"))?;
    let value: toml::Value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let keys: Vec<&str> = path.trim().split('.').collect();
    let (last, tables) = keys
        .split_last()
        .ok_or_else(|| format!("`{set}`: empty key"))?;
    let mut table = model;
    for key in tables {
        table = table
            .get_mut(*key)
            .and_then(toml::Value::as_table_mut)
            .ok_or_else(|| format!("`{set}`: the model has no table `{key}`"))?;
    }
    let slot = table
        .get_mut(*last)
        .ok_or_else(|| format!("`{set}`: the model has no key `{path}`"))?;
    *slot = match (&*slot, value) {
        (toml::Value::Float(_), toml::Value::Integer(i)) => toml::Value::Float(i as f64),
        (_, v) => v,
    };
    Ok(())
}

/// True when `pattern` (`Name`, `Prefix*` or `*`) matches `action`.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => pattern == action,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_model_is_valid_and_sourced() {
        let model = Model::builtin();
        assert_eq!(model.nat_gateway.pending_s, 100.0);
        assert!(model.throttle.iter().any(|b| b.name == "ec2-mutating"));
        assert_eq!(model.faults.rate, 0.0, "faults are off in the model");
    }

    #[test]
    fn a_table_without_source_is_refused() {
        let text: String = BUILTIN
            .lines()
            .map(|line| {
                if line.starts_with("source = \"D: EC2 API request throttling, resource") {
                    "source = \"\"".to_string()
                } else {
                    line.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let err = Model::parse(&text, "m.toml").unwrap_err().to_string();
        assert!(
            err.contains("m.toml") && err.contains("[throttle] has no source"),
            "{err}"
        );
    }

    #[test]
    fn negative_durations_are_refused() {
        let text = BUILTIN.replacen("pending_s = 100", "pending_s = -1", 1);
        let err = Model::parse(&text, "m.toml").unwrap_err().to_string();
        assert!(err.contains("nat_gateway.pending_s"), "{err}");
    }

    #[test]
    fn overrides_change_one_figure_and_refuse_unknown_keys() {
        let sets = [
            "lambda.eni_linger_s=60".to_string(),
            "faults.rate=0.1".to_string(),
        ];
        let model = Model::parse_with(BUILTIN, "m.toml", &sets).unwrap();
        assert_eq!(model.lambda.eni_linger_s, 60.0);
        assert_eq!(model.faults.rate, 0.1);
        let err = Model::parse_with(BUILTIN, "m.toml", &["lambda.nope=1".to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no key `lambda.nope`"), "{err}");
    }

    #[test]
    fn action_patterns() {
        assert!(action_matches("*", "RunInstances"));
        assert!(action_matches("Describe*", "DescribeVpcs"));
        assert!(!action_matches("Describe*", "CreateVpc"));
        assert!(action_matches("CreateVpc", "CreateVpc"));
        assert!(!action_matches("CreateVpc", "CreateVpcEndpoint"));
    }
}
