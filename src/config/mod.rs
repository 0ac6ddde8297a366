//! Stack configuration: `Nova.toml` (built-in defaults, then `[defaults]`, then
//! `[stacks.<name>]`, then `NOVA_*` environment variables), validated into a typed
//! [`StackConfig`] before anything talks to AWS; `[backend]` says where the state lives.

mod backend;
mod cidr;
mod layout;
mod settings;

use std::fmt;
use std::path::{Path, PathBuf};

pub use backend::{BackendConfig, S3BackendConfig, DEFAULT_LOCK_LEASE_SECONDS, DEFAULT_PREFIX};
pub use cidr::Cidr;
pub use layout::{subnet_prefix, SubnetLayout};
pub use settings::{setting_keys, Settings};

/// The only region nova's production blueprint supports, with its availability zones
/// (the seed pins the stack to us-east-1).
pub const REGION: &str = "us-east-1";
pub const REGION_AZS: &[&str] = &[
    "us-east-1a",
    "us-east-1b",
    "us-east-1c",
    "us-east-1d",
    "us-east-1e",
    "us-east-1f",
];

/// How private subnets reach the internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatMode {
    /// One NAT gateway, in the first public subnet.
    Single,
    /// One NAT gateway per availability zone.
    PerAz,
}

/// A validated stack configuration: everything the blueprint needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackConfig {
    pub project: String,
    pub stack: String,
    pub region: String,
    pub environment: String,
    pub vpc_cidr: Cidr,
    pub availability_zones: Vec<String>,
    /// `public_subnet_cidrs`, one per zone, when given; else a [`SubnetLayout`] places them.
    pub public_subnet_cidrs: Option<Vec<Cidr>>,
    /// `private_subnet_cidrs`, likewise.
    pub private_subnet_cidrs: Option<Vec<Cidr>>,
    pub nat: NatMode,
    pub instance_count: u32,
    pub instance_type: String,
    /// `None`: the newest Amazon Linux 2023 image, resolved at plan time.
    pub ami: Option<String>,
    pub root_volume_size: u32,
    pub web_ingress_cidrs: Vec<Cidr>,
    pub log_retention_days: u32,
    pub kms_deletion_window_days: u32,
    pub health_schedule: String,
    pub lambda_memory_mb: u32,
    pub lambda_timeout_seconds: u32,
    /// Where the state and locks live (`[backend]`).
    pub backend: BackendConfig,
}

impl StackConfig {
    /// Zone `zone`'s public or private subnet: the configured CIDR, else the layout's.
    pub fn subnet_cidr(&self, layout: SubnetLayout, zone: usize, public: bool) -> Cidr {
        let explicit = if public {
            &self.public_subnet_cidrs
        } else {
            &self.private_subnet_cidrs
        };
        match explicit.as_ref().and_then(|list| list.get(zone)) {
            Some(cidr) => *cidr,
            None => layout.subnet(self.vpc_cidr, zone as u32, public),
        }
    }

    /// Every zone's public subnet CIDR, then every zone's private one, under `layout`.
    pub fn subnet_cidrs(&self, layout: SubnetLayout) -> (Vec<Cidr>, Vec<Cidr>) {
        let zones = 0..self.availability_zones.len();
        (
            zones
                .clone()
                .map(|z| self.subnet_cidr(layout, z, true))
                .collect(),
            zones.map(|z| self.subnet_cidr(layout, z, false)).collect(),
        )
    }
}

/// Where a setting came from, so an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Env(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}\n  hint: run nova from the directory holding Nova.toml, or pass --config PATH", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{origin}: `{key}`: {reason}")]
    Invalid {
        origin: Source,
        key: String,
        reason: String,
    },
}

/// Reads and validates the configuration of `stack` from `path`, with environment
/// overrides read through `env` (pass `|k| std::env::var(k).ok()` in production).
pub fn load(
    path: &Path,
    stack: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<StackConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path, stack, env)
}

/// [`load`] on text already read.
pub fn parse(
    text: &str,
    path: &Path,
    stack: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<StackConfig, ConfigError> {
    let file: settings::ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let file_source = Source::File(path.to_path_buf());
    validate_name(&file_source, "project", &file.project, 24)?;
    validate_name(
        &Source::Env("--stack / NOVA_STACK".into()),
        "stack",
        stack,
        20,
    )?;

    let mut merged = settings::Layered::builtin(&file_source);
    merged.apply(&file.defaults, &file_source);
    if let Some(overrides) = file.stacks.get(stack) {
        merged.apply(overrides, &file_source);
    }
    merged.apply_env(env)?;
    let mut config = merged.into_config(&file.project, stack, &file.region, &file_source)?;
    config.backend = backend::parse(file.backend.as_ref(), &file_source, env, &config.region)?;
    Ok(config)
}

/// Project and stack names end up in AWS resource names: lowercase letters, digits and
/// dashes, starting with a letter, short enough for the tightest name limit.
fn validate_name(source: &Source, key: &str, value: &str, max: usize) -> Result<(), ConfigError> {
    let ok = value.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && value.len() <= max
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            origin: source.clone(),
            key: key.to_string(),
            reason: format!(
                "`{value}` must start with a lowercase letter, use only lowercase letters, digits and `-`, and be at most {max} characters"
            ),
        })
    }
}

#[cfg(test)]
mod tests;
