//! The `[backend]` table of `Nova.toml` (and its `NOVA_BACKEND_*` variables): where the
//! state of every stack lives, a local directory (the default) or an S3 bucket, checked
//! before anything talks to AWS.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{ConfigError, Source};

/// Where the state and locks of the project's stacks live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BackendConfig {
    /// `<state-dir>/<stack>.json` and `<state-dir>/<stack>.lock` (the default).
    #[default]
    Local,
    /// Objects in an S3 bucket the user created.
    S3(S3BackendConfig),
}

/// A validated `[backend]` with `type = "s3"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3BackendConfig {
    pub bucket: String,
    /// Every object nova writes lives under it: empty, or ending with `/`.
    pub prefix: String,
    /// The bucket's region (the stack's region unless set).
    pub region: String,
    /// SSE-KMS key for every object nova writes (state, history, lock), if set.
    pub kms_key_id: Option<String>,
    /// How long a lock stays valid without its holder renewing it.
    pub lock_lease: Duration,
}

/// The keys of `[backend]`, each also settable as `NOVA_BACKEND_<KEY>`.
const KEYS: &[&str] = &[
    "type",
    "bucket",
    "prefix",
    "region",
    "kms_key_id",
    "lock_lease_seconds",
];

/// The default prefix: the example of the documentation.
pub const DEFAULT_PREFIX: &str = "nova/";
/// The default lease of a lock: its holder renews it every quarter of this.
pub const DEFAULT_LOCK_LEASE_SECONDS: u64 = 60;
const LOCK_LEASE_RANGE: std::ops::RangeInclusive<u64> = 2..=3600;

fn env_var(key: &str) -> String {
    format!("NOVA_BACKEND_{}", key.to_ascii_uppercase())
}

fn invalid(source: &Source, key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        origin: source.clone(),
        key: format!("backend.{key}"),
        reason: reason.into(),
    }
}

/// Reads `[backend]` (already parsed from `file`) with `NOVA_BACKEND_*` overrides.
/// `stack_region` is the default of `region`.
pub(super) fn parse(
    table: Option<&toml::Table>,
    file: &Source,
    env: &dyn Fn(&str) -> Option<String>,
    stack_region: &str,
) -> Result<BackendConfig, ConfigError> {
    let mut values: BTreeMap<String, (toml::Value, Source)> = BTreeMap::new();
    for (key, value) in table.into_iter().flatten() {
        values.insert(key.clone(), (value.clone(), file.clone()));
    }
    for key in KEYS {
        let var = env_var(key);
        if let Some(text) = env(&var) {
            let value = if *key == "lock_lease_seconds" {
                let n = text.trim().parse::<i64>().map_err(|_| {
                    invalid(
                        &Source::Env(var.clone()),
                        key,
                        format!("`{text}` is not an integer"),
                    )
                })?;
                toml::Value::Integer(n)
            } else {
                toml::Value::String(text)
            };
            values.insert(key.to_string(), (value, Source::Env(var)));
        }
    }
    let settings = Settings { values, file };
    settings.check_keys()?;
    match settings.str("type")?.unwrap_or("local") {
        "local" => settings.local(),
        "s3" => settings.s3(stack_region).map(BackendConfig::S3),
        other => Err(invalid(
            &settings.source("type"),
            "type",
            format!("must be \"local\" or \"s3\", got \"{other}\""),
        )),
    }
}

struct Settings<'a> {
    values: BTreeMap<String, (toml::Value, Source)>,
    file: &'a Source,
}

impl Settings<'_> {
    fn check_keys(&self) -> Result<(), ConfigError> {
        for (key, (_, source)) in &self.values {
            if !KEYS.contains(&key.as_str()) {
                return Err(invalid(
                    source,
                    key,
                    format!("unknown key; known keys: {}", KEYS.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn source(&self, key: &str) -> Source {
        self.values
            .get(key)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| self.file.clone())
    }

    fn str(&self, key: &str) -> Result<Option<&str>, ConfigError> {
        match self.values.get(key) {
            None => Ok(None),
            Some((toml::Value::String(s), _)) => Ok(Some(s.as_str())),
            Some((other, source)) => Err(invalid(
                source,
                key,
                format!("must be a string, got {other}"),
            )),
        }
    }

    /// `type = "local"` takes no other key: a bucket without `type = "s3"` is a mistake.
    /// When `NOVA_BACKEND_TYPE=local` overrides the file, the file's S3 keys are ignored
    /// (that is how a state is moved back from S3 to a local file).
    fn local(&self) -> Result<BackendConfig, ConfigError> {
        let type_from_env = matches!(self.source("type"), Source::Env(_));
        let stray = self.values.iter().find(|(key, (_, source))| {
            key.as_str() != "type" && !(type_from_env && matches!(source, Source::File(_)))
        });
        if let Some((key, (_, source))) = stray {
            return Err(invalid(
                source,
                key,
                "only applies to `type = \"s3\"`; the backend is local (set `type = \"s3\"` to keep the state in S3)",
            ));
        }
        Ok(BackendConfig::Local)
    }

    fn s3(&self, stack_region: &str) -> Result<S3BackendConfig, ConfigError> {
        let bucket = self.str("bucket")?.ok_or_else(|| {
            invalid(
                &self.source("bucket"),
                "bucket",
                "missing: `type = \"s3\"` needs the name of a bucket you created (see docs/remote-state.md)",
            )
        })?;
        check_bucket(bucket).map_err(|r| invalid(&self.source("bucket"), "bucket", r))?;
        let prefix = self.str("prefix")?.unwrap_or(DEFAULT_PREFIX);
        check_prefix(prefix).map_err(|r| invalid(&self.source("prefix"), "prefix", r))?;
        let region = self.str("region")?.unwrap_or(stack_region);
        check_region(region).map_err(|r| invalid(&self.source("region"), "region", r))?;
        let kms_key_id = self.str("kms_key_id")?;
        if let Some(key) = kms_key_id {
            check_kms_key(key).map_err(|r| invalid(&self.source("kms_key_id"), "kms_key_id", r))?;
        }
        Ok(S3BackendConfig {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            region: region.to_string(),
            kms_key_id: kms_key_id.map(str::to_string),
            lock_lease: Duration::from_secs(self.lease()?),
        })
    }

    fn lease(&self) -> Result<u64, ConfigError> {
        let Some((value, source)) = self.values.get("lock_lease_seconds") else {
            return Ok(DEFAULT_LOCK_LEASE_SECONDS);
        };
        let n = value.as_integer().ok_or_else(|| {
            invalid(
                source,
                "lock_lease_seconds",
                format!("must be an integer, got {value}"),
            )
        })?;
        u64::try_from(n)
            .ok()
            .filter(|n| LOCK_LEASE_RANGE.contains(n))
            .ok_or_else(|| {
                invalid(
                    source,
                    "lock_lease_seconds",
                    format!(
                        "must be between {} and {} seconds, got {n}",
                        LOCK_LEASE_RANGE.start(),
                        LOCK_LEASE_RANGE.end()
                    ),
                )
            })
    }
}

/// S3's rules for a general purpose bucket name.
fn check_bucket(name: &str) -> Result<(), String> {
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let looks_like_ip = name.split('.').count() == 4
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !(3..=63).contains(&name.len())
        || !chars_ok
        || !ends_ok(name.chars().next())
        || !ends_ok(name.chars().last())
        || name.contains("..")
        || looks_like_ip
    {
        return Err(format!(
            "`{name}` is not a valid S3 bucket name (3 to 63 lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit)"
        ));
    }
    Ok(())
}

/// A key prefix: empty, or relative, ending with `/`, without empty segments.
fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Ok(());
    }
    let printable = prefix
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '\\' && c != '{' && c != '}');
    if !printable
        || prefix.starts_with('/')
        || !prefix.ends_with('/')
        || prefix.contains("//")
        || prefix.len() > 512
        || prefix.split('/').any(|s| s == "." || s == "..")
    {
        return Err(format!(
            "`{prefix}` must be empty or a relative key prefix ending with `/` (like \"nova/\"), of printable ASCII without spaces, `\\`, `{{`, `}}`, `//`, `.` or `..` segments"
        ));
    }
    Ok(())
}

/// An AWS region name such as `us-east-1` or `us-gov-west-1`.
fn check_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(format!("`{region}` is not an AWS region such as us-east-1"))
    }
}

/// A KMS key id, key ARN, alias name or alias ARN.
fn check_kms_key(key: &str) -> Result<(), String> {
    let is_uuid = uuid::Uuid::parse_str(key).is_ok();
    let is_mrk = key
        .strip_prefix("mrk-")
        .is_some_and(|h| h.len() == 32 && h.chars().all(|c| c.is_ascii_hexdigit()));
    let is_alias = key.strip_prefix("alias/").is_some_and(|a| !a.is_empty());
    let is_arn =
        key.starts_with("arn:") && key.contains(":kms:") && !key.contains(char::is_whitespace);
    if is_uuid || is_mrk || is_alias || is_arn {
        Ok(())
    } else {
        Err(format!(
            "`{key}` is not a KMS key id, key ARN, alias (alias/...) or alias ARN"
        ))
    }
}
