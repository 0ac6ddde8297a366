//! Raw settings as written in `Nova.toml` or the environment, layered, then checked and
//! turned into a [`StackConfig`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    validate_name, Cidr, ConfigError, NatMode, Source, StackConfig, SubnetLayout, REGION,
    REGION_AZS,
};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfigFile {
    pub project: String,
    pub region: String,
    #[serde(default)]
    pub defaults: Settings,
    #[serde(default)]
    pub stacks: BTreeMap<String, Settings>,
    /// `[backend]`, checked by `config::backend`.
    #[serde(default)]
    pub backend: Option<toml::Table>,
}

/// One table of settings (`[defaults]` or `[stacks.<name>]`), keys checked against [`KEYS`].
pub type Settings = BTreeMap<String, toml::Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    List,
}

/// Every setting nova knows, its type and its built-in default (None = no default).
const KEYS: &[(&str, Kind, Option<&str>)] = &[
    ("environment", Kind::Str, Some("Production")),
    ("region", Kind::Str, None),
    ("vpc_cidr", Kind::Str, Some("10.0.0.0/16")),
    ("az_count", Kind::Int, Some("2")),
    ("availability_zones", Kind::List, None),
    ("public_subnet_cidrs", Kind::List, None),
    ("private_subnet_cidrs", Kind::List, None),
    ("nat", Kind::Str, Some("single")),
    ("instance_count", Kind::Int, Some("2")),
    ("instance_type", Kind::Str, Some("t3.micro")),
    ("ami", Kind::Str, None),
    ("root_volume_size", Kind::Int, Some("8")),
    ("web_ingress_cidrs", Kind::List, Some("0.0.0.0/0")),
    ("log_retention_days", Kind::Int, Some("90")),
    ("kms_deletion_window_days", Kind::Int, Some("7")),
    ("health_schedule", Kind::Str, Some("rate(5 minutes)")),
    ("lambda_memory_mb", Kind::Int, Some("128")),
    ("lambda_timeout_seconds", Kind::Int, Some("30")),
];

/// Retention values CloudWatch Logs accepts.
const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

fn kind_of(key: &str) -> Option<Kind> {
    KEYS.iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, kind, _)| *kind)
}

/// Every setting key, in the order of [`KEYS`] (Nova.toml's).
pub fn setting_keys() -> Vec<&'static str> {
    KEYS.iter().map(|(k, _, _)| *k).collect()
}

fn known_keys() -> String {
    KEYS.iter()
        .map(|(k, _, _)| *k)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The value each key ends up with, and where it came from.
pub(super) struct Layered {
    values: BTreeMap<String, (toml::Value, Source)>,
}

fn invalid(source: &Source, key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        origin: source.clone(),
        key: key.to_string(),
        reason: reason.into(),
    }
}

fn env_var(key: &str) -> String {
    format!("NOVA_{}", key.to_ascii_uppercase())
}

/// Parses a textual value (a built-in default or an environment variable) as `kind`.
fn parse_text(kind: Kind, text: &str) -> Result<toml::Value, String> {
    match kind {
        Kind::Str => Ok(toml::Value::String(text.to_string())),
        Kind::Int => text
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("`{text}` is not an integer")),
        Kind::List => Ok(toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        )),
    }
}

impl Layered {
    pub fn builtin(source: &Source) -> Self {
        let values = KEYS
            .iter()
            .filter_map(|(key, kind, default)| {
                let value = parse_text(*kind, (*default)?).ok()?;
                Some((key.to_string(), (value, source.clone())))
            })
            .collect();
        Layered { values }
    }

    /// Applies one table; unknown keys are refused by [`Layered::check_keys`].
    pub fn apply(&mut self, settings: &Settings, source: &Source) {
        for (key, value) in settings {
            self.values
                .insert(key.clone(), (value.clone(), source.clone()));
        }
    }

    /// Applies `NOVA_<KEY>` environment variables (lists are comma separated).
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for (key, kind, _) in KEYS {
            let var = env_var(key);
            if let Some(text) = env(&var) {
                let source = Source::Env(var);
                let value =
                    parse_text(*kind, &text).map_err(|reason| invalid(&source, key, reason))?;
                self.values.insert(key.to_string(), (value, source));
            }
        }
        Ok(())
    }

    fn check_keys(&self) -> Result<(), ConfigError> {
        for (key, (value, source)) in &self.values {
            let kind = kind_of(key).ok_or_else(|| {
                invalid(
                    source,
                    key,
                    format!("unknown key; known keys: {}", known_keys()),
                )
            })?;
            let ok = match kind {
                Kind::Str => value.is_str(),
                Kind::Int => value.is_integer(),
                Kind::List => value
                    .as_array()
                    .is_some_and(|a| a.iter().all(toml::Value::is_str)),
            };
            if !ok {
                let expected = match kind {
                    Kind::Str => "a string",
                    Kind::Int => "an integer",
                    Kind::List => "a list of strings",
                };
                return Err(invalid(
                    source,
                    key,
                    format!("must be {expected}, got {value}"),
                ));
            }
        }
        Ok(())
    }

    fn source(&self, key: &str, fallback: &Source) -> Source {
        self.values
            .get(key)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| fallback.clone())
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.values.get(key).and_then(|(v, _)| v.as_str())
    }

    fn list(&self, key: &str) -> Option<Vec<String>> {
        self.values.get(key).and_then(|(v, _)| {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
        })
    }

    /// An integer setting within `min..=max`.
    fn int(&self, key: &str, min: i64, max: i64, why: &str) -> Result<u32, ConfigError> {
        let (value, source) = self
            .values
            .get(key)
            .ok_or_else(|| invalid(&Source::Env(env_var(key)), key, "missing"))?;
        let n = value.as_integer().unwrap_or_default();
        if n < min || n > max {
            return Err(invalid(
                source,
                key,
                format!("must be between {min} and {max} ({why}), got {n}"),
            ));
        }
        u32::try_from(n).map_err(|_| invalid(source, key, "out of range"))
    }

    fn cidr(&self, key: &str, text: &str, fallback: &Source) -> Result<Cidr, ConfigError> {
        text.parse()
            .map_err(|reason: String| invalid(&self.source(key, fallback), key, reason))
    }

    pub fn into_config(
        self,
        project: &str,
        stack: &str,
        file_region: &str,
        file: &Source,
    ) -> Result<StackConfig, ConfigError> {
        self.check_keys()?;
        let region = self.str("region").unwrap_or(file_region).to_string();
        if region != REGION {
            let source = if self.values.contains_key("region") {
                self.source("region", file)
            } else {
                file.clone()
            };
            return Err(invalid(
                &source,
                "region",
                format!("the production stack must be in {REGION} (the environment's required region), got `{region}`"),
            ));
        }
        let environment = self.str("environment").unwrap_or_default().to_string();
        if environment.is_empty() {
            return Err(invalid(
                &self.source("environment", file),
                "environment",
                "must not be empty",
            ));
        }

        let az_count = self.int(
            "az_count",
            2,
            REGION_AZS.len() as i64,
            "at least 2 for high availability, at most the zones us-east-1 has",
        )?;
        let availability_zones = self.availability_zones(az_count, file)?;
        let vpc_cidr = self.cidr("vpc_cidr", self.str("vpc_cidr").unwrap_or_default(), file)?;
        if !(16..=24).contains(&vpc_cidr.prefix()) {
            return Err(invalid(
                &self.source("vpc_cidr", file),
                "vpc_cidr",
                format!("AWS VPCs take a prefix between /16 and /24, got {vpc_cidr}"),
            ));
        }
        let public_subnet_cidrs = self.subnets("public_subnet_cidrs", vpc_cidr, az_count, file)?;
        let private_subnet_cidrs =
            self.subnets("private_subnet_cidrs", vpc_cidr, az_count, file)?;
        // Explicit lists next to the zone blocks (the layout of new stacks) must not
        // overlap them; a stack deployed with the packed layout is checked by the planner.
        let derived = |list: &Option<Vec<Cidr>>, public: bool| match list {
            Some(list) => list.clone(),
            None => (0..az_count)
                .map(|z| SubnetLayout::Zones.subnet(vpc_cidr, z, public))
                .collect(),
        };
        self.check_disjoint(
            &derived(&public_subnet_cidrs, true),
            &derived(&private_subnet_cidrs, false),
            file,
        )?;

        let nat = match self.str("nat") {
            Some("single") => NatMode::Single,
            Some("per_az") => NatMode::PerAz,
            other => {
                return Err(invalid(
                    &self.source("nat", file),
                    "nat",
                    format!(
                        "must be \"single\" or \"per_az\", got {:?}",
                        other.unwrap_or_default()
                    ),
                ))
            }
        };
        let web_ingress_cidrs = self
            .list("web_ingress_cidrs")
            .unwrap_or_default()
            .iter()
            .map(|c| self.cidr("web_ingress_cidrs", c, file))
            .collect::<Result<Vec<_>, _>>()?;
        if web_ingress_cidrs.is_empty() {
            return Err(invalid(
                &self.source("web_ingress_cidrs", file),
                "web_ingress_cidrs",
                "must list at least one CIDR allowed to reach ports 80 and 443",
            ));
        }
        let log_retention_days =
            self.int("log_retention_days", 1, 3653, "CloudWatch Logs retention")?;
        if !RETENTION_DAYS.contains(&log_retention_days) {
            return Err(invalid(
                &self.source("log_retention_days", file),
                "log_retention_days",
                format!(
                    "CloudWatch Logs accepts one of {RETENTION_DAYS:?}, got {log_retention_days}"
                ),
            ));
        }
        let instance_type = self.str("instance_type").unwrap_or_default().to_string();
        if !instance_type.contains('.') {
            return Err(invalid(
                &self.source("instance_type", file),
                "instance_type",
                format!("`{instance_type}` is not an EC2 instance type such as t3.micro"),
            ));
        }
        let ami = self.str("ami").map(str::to_string);
        if let Some(ami) = &ami {
            if !ami.starts_with("ami-") {
                return Err(invalid(
                    &self.source("ami", file),
                    "ami",
                    format!("`{ami}` is not an AMI id (ami-...)"),
                ));
            }
        }
        let health_schedule = self.str("health_schedule").unwrap_or_default().to_string();
        if !(health_schedule.starts_with("rate(") || health_schedule.starts_with("cron("))
            || !health_schedule.ends_with(')')
        {
            return Err(invalid(
                &self.source("health_schedule", file),
                "health_schedule",
                format!("must be an EventBridge schedule like rate(5 minutes) or cron(...), got `{health_schedule}`"),
            ));
        }
        validate_name(file, "project", project, 24)?;

        Ok(StackConfig {
            project: project.to_string(),
            stack: stack.to_string(),
            region,
            environment,
            vpc_cidr,
            availability_zones,
            public_subnet_cidrs,
            private_subnet_cidrs,
            nat,
            instance_count: self.int("instance_count", 1, 20, "instances in the stack")?,
            instance_type,
            ami,
            root_volume_size: self.int(
                "root_volume_size",
                8,
                16384,
                "GiB, the AMI needs at least 8",
            )?,
            web_ingress_cidrs,
            log_retention_days,
            kms_deletion_window_days: self.int(
                "kms_deletion_window_days",
                7,
                30,
                "the window KMS allows",
            )?,
            health_schedule,
            lambda_memory_mb: self.int("lambda_memory_mb", 128, 10240, "Lambda memory in MB")?,
            lambda_timeout_seconds: self.int(
                "lambda_timeout_seconds",
                1,
                900,
                "Lambda timeout in seconds",
            )?,
            backend: super::BackendConfig::Local,
        })
    }

    fn availability_zones(&self, az_count: u32, file: &Source) -> Result<Vec<String>, ConfigError> {
        let Some(zones) = self.list("availability_zones") else {
            return Ok(REGION_AZS[..az_count as usize]
                .iter()
                .map(|s| s.to_string())
                .collect());
        };
        let source = self.source("availability_zones", file);
        if zones.len() != az_count as usize {
            return Err(invalid(
                &source,
                "availability_zones",
                format!("lists {} zones but az_count is {az_count}", zones.len()),
            ));
        }
        for (i, zone) in zones.iter().enumerate() {
            if !REGION_AZS.contains(&zone.as_str()) {
                return Err(invalid(
                    &source,
                    "availability_zones",
                    format!(
                        "`{zone}` is not a zone of {REGION} ({})",
                        REGION_AZS.join(", ")
                    ),
                ));
            }
            if zones[..i].contains(zone) {
                return Err(invalid(
                    &source,
                    "availability_zones",
                    format!("`{zone}` is listed twice"),
                ));
            }
        }
        Ok(zones)
    }

    /// Explicit subnet CIDRs, one per zone, each inside the VPC; `None` when not given
    /// (a [`SubnetLayout`] places them).
    fn subnets(
        &self,
        key: &str,
        vpc: Cidr,
        count: u32,
        file: &Source,
    ) -> Result<Option<Vec<Cidr>>, ConfigError> {
        let source = self.source(key, file);
        let Some(list) = self.list(key) else {
            return Ok(None);
        };
        let cidrs = list
            .iter()
            .map(|c| self.cidr(key, c, file))
            .collect::<Result<Vec<_>, _>>()?;
        if cidrs.len() != count as usize {
            return Err(invalid(
                &source,
                key,
                format!(
                    "lists {} subnets but az_count is {count}: one per zone",
                    cidrs.len()
                ),
            ));
        }
        for c in &cidrs {
            if !vpc.contains(c) {
                return Err(invalid(
                    &source,
                    key,
                    format!("{c} does not fit in the VPC {vpc}"),
                ));
            }
            if c.prefix() > 28 {
                return Err(invalid(
                    &source,
                    key,
                    format!("{c} is smaller than /28, the smallest AWS subnet"),
                ));
            }
        }
        Ok(Some(cidrs))
    }

    fn check_disjoint(
        &self,
        public: &[Cidr],
        private: &[Cidr],
        file: &Source,
    ) -> Result<(), ConfigError> {
        let all: Vec<&Cidr> = public.iter().chain(private).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                if a.overlaps(b) {
                    let key = if i < public.len() {
                        "public_subnet_cidrs"
                    } else {
                        "private_subnet_cidrs"
                    };
                    return Err(invalid(
                        &self.source(key, file),
                        key,
                        format!("subnets {a} and {b} overlap"),
                    ));
                }
            }
        }
        Ok(())
    }
}
