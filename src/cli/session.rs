//! What every command shares: the stack's config, state backend and lock, AWS connection,
//! the facts the blueprint needs, and planning (refresh + pure planner + delete notes).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::args::Cli;
use crate::apply::{ApplyObserver, ObserverProgress};
use crate::config::{self, StackConfig};
use crate::model::{Blueprint, Value};
use crate::plan::{self, Plan, PlanInput};
use crate::provider::aws::{self, AwsClients};
use crate::provider::{Progress, Providers};
use crate::stack::{StackContext, HEALTH_CHECK_SOURCE_DIR};
use crate::state::{Backend, LockGuard, State};

/// The account id used when nova plans without AWS (`nova graph`, `nova check`): only
/// the KMS key policy text depends on it, and no rule looks at the number.
pub const OFFLINE_ACCOUNT_ID: &str = "000000000000";
/// The AMI shown when nova plans without AWS and none is configured or recorded.
pub const OFFLINE_AMI: &str = "ami-00000000000000000";

pub struct Session {
    pub stack: String,
    /// The validated configuration, read once.
    config: StackConfig,
    /// Where the state lives: the one place the backend is opened.
    pub store: Backend,
    lock_timeout: Duration,
    /// The stack's lock while this command holds it.
    lock: tokio::sync::Mutex<Option<LockGuard>>,
}

/// The AWS side of a run.
pub struct Aws {
    pub clients: AwsClients,
    pub providers: Providers,
}

impl Session {
    /// Reads and validates the configuration and opens the state backend it names (no
    /// AWS call is made before both succeed).
    pub fn new(cli: &Cli) -> anyhow::Result<Self> {
        let config = config::load(&cli.config, &cli.stack, &|k| std::env::var(k).ok())?;
        let store = Backend::open(&config.backend, &cli.state_dir, &cli.stack);
        Ok(Session {
            stack: cli.stack.clone(),
            config,
            store,
            lock_timeout: cli.lock_timeout,
            lock: tokio::sync::Mutex::new(None),
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> anyhow::Result<StackConfig> {
        Ok(self.config.clone())
    }

    /// Takes the stack's lock for the rest of the command (released by [`Session::release`]).
    pub async fn lock(&self, command: &str) -> anyhow::Result<()> {
        let timeout = self.lock_timeout;
        let waiting = move |refusal: &crate::state::StateError| {
            eprintln!(
                "Waiting up to {} for the lock: {refusal}",
                humantime::format_duration(timeout)
            );
        };
        let guard = self.store.lock(command, timeout, &waiting).await?;
        *self.lock.lock().await = Some(guard);
        Ok(())
    }

    /// Releases the lock, if this command took it. Called once the command is over,
    /// whatever its outcome.
    pub async fn release(&self) -> anyhow::Result<()> {
        if let Some(guard) = self.lock.lock().await.take() {
            guard
                .release()
                .await
                .context("the command is over, but its lock could not be released")?;
        }
        Ok(())
    }

    /// The validated state (a fresh empty one when the stack has none yet).
    pub async fn load_state(&self) -> anyhow::Result<State> {
        Ok(self.store.load().await?)
    }

    /// The closing line about the state: how many writes, and with S3, the requests.
    pub fn state_report(&self, writes: u64) -> String {
        let mut line = format!("State: {writes} writes to {}", self.store.location());
        if let Some(s3) = self.store.usage().s3 {
            line.push_str(&format!("; S3 requests: {s3}"));
        }
        line
    }

    pub async fn connect(&self, config: &StackConfig) -> Aws {
        let clients = AwsClients::load(&config.region).await;
        let providers = aws::providers(&clients);
        Aws { clients, providers }
    }

    /// Account id, AMI and code hash, learnt from AWS and the repository.
    pub async fn stack_context(
        &self,
        aws: &Aws,
        config: &StackConfig,
        state: &State,
    ) -> anyhow::Result<StackContext> {
        let account_id = aws.clients.account_id().await.context(
            "cannot reach AWS to learn the account id (check your credentials, region and AWS_ENDPOINT_URL)",
        )?;
        let ami = match configured_or_recorded_ami(config, state) {
            Some(ami) => ami,
            None => aws::ec2_instance::latest_amazon_linux_2023(&aws.clients)
                .await
                .context("cannot find the newest Amazon Linux 2023 AMI; set `ami` in Nova.toml")?,
        };
        Ok(StackContext {
            account_id,
            ami,
            health_code_sha256: health_code_sha256()?,
        })
    }

    /// The context for commands that plan without AWS.
    pub fn offline_context(
        &self,
        config: &StackConfig,
        state: &State,
    ) -> anyhow::Result<StackContext> {
        Ok(StackContext {
            account_id: OFFLINE_ACCOUNT_ID.to_string(),
            ami: configured_or_recorded_ami(config, state)
                .unwrap_or_else(|| OFFLINE_AMI.to_string()),
            health_code_sha256: health_code_sha256()?,
        })
    }

    /// Refreshes (optionally) and plans. Pending operations must have been resolved.
    pub async fn plan(
        &self,
        aws: &Aws,
        blueprint: &Blueprint,
        state: &State,
        refresh: bool,
        parallelism: usize,
        observer: Arc<dyn ApplyObserver>,
    ) -> anyhow::Result<Plan> {
        let observed = if refresh && !state.resources.is_empty() {
            // stderr: `nova plan --json` keeps stdout for the JSON document.
            eprintln!("Refreshing {} resources...", state.resources.len());
            let progress: Arc<dyn Progress> = Arc::new(ObserverProgress(observer));
            Some(
                crate::refresh::refresh(&self.stack, state, &aws.providers, parallelism, progress)
                    .await?,
            )
        } else {
            None
        };
        let mut plan = plan::plan(&PlanInput {
            stack: &self.stack,
            blueprint,
            state,
            observed: observed.as_ref(),
            schemas: &aws.providers.schemas(),
        })?;
        add_delete_notes(&mut plan, &aws.providers);
        Ok(plan)
    }
}

/// The AMI from the config, or the one the instances were created with (so a newer
/// Amazon Linux release does not replace running instances).
fn configured_or_recorded_ami(config: &StackConfig, state: &State) -> Option<String> {
    config.ami.clone().or_else(|| {
        state
            .resources
            .iter()
            .filter(|r| r.kind == "aws_instance")
            .find_map(|r| {
                r.inputs
                    .get("ami")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
    })
}

fn health_code_sha256() -> anyhow::Result<String> {
    let dir = Path::new(HEALTH_CHECK_SOURCE_DIR);
    let package = aws::lambda_package::package_source(dir).with_context(|| {
        format!(
            "cannot package the health-check Lambda from {} (run nova from the repository root)",
            dir.display()
        )
    })?;
    Ok(package.sha256_hex)
}

/// Providers' notes on deletes (e.g. KMS keys are only scheduled for deletion).
pub fn add_delete_notes(plan: &mut Plan, providers: &Providers) {
    use crate::plan::Action;
    for change in &mut plan.changes {
        if !matches!(change.action, Action::Delete | Action::Replace { .. }) {
            continue;
        }
        let (Some(provider), Some(before)) =
            (providers.get(change.address.kind()), change.before.as_ref())
        else {
            continue;
        };
        if let Some(note) = provider.delete_note(before) {
            change.reasons.push(note);
        }
    }
}
