//! What every command shares: the stack's config, state store, AWS connection, the facts
//! the blueprint needs, and planning (refresh + pure planner + delete notes).

use crate::provider::aws::kinds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use super::args::Cli;
use crate::apply::{ApplyObserver, ObserverProgress};
use crate::config::{self, StackConfig};
use crate::model::{Blueprint, Value};
use crate::plan::{self, Plan, PlanInput};
use crate::provider::aws::{self, AwsClients};
use crate::provider::{Progress, Providers};
use crate::stack::{StackContext, HEALTH_CHECK_SOURCE_DIR};
use crate::state::{State, StateLock, StateStore};

/// The account id used when nova plans without AWS (`nova graph`, `nova check`): only
/// the KMS key policy text depends on it, and no rule looks at the number.
pub const OFFLINE_ACCOUNT_ID: &str = "000000000000";
/// The AMI shown when nova plans without AWS and none is configured or recorded.
pub const OFFLINE_AMI: &str = "ami-00000000000000000";

pub struct Session {
    pub stack: String,
    pub config_path: PathBuf,
    pub store: StateStore,
}

/// The AWS side of a run.
pub struct Aws {
    pub clients: AwsClients,
    pub providers: Providers,
}

impl Session {
    pub fn new(cli: &Cli) -> Self {
        Session {
            stack: cli.stack.clone(),
            config_path: cli.config.clone(),
            store: StateStore::new(&cli.state_dir, &cli.stack),
        }
    }

    /// The validated configuration (no AWS call is made before this succeeds).
    pub fn config(&self) -> anyhow::Result<StackConfig> {
        Ok(config::load(&self.config_path, &self.stack, &|k| {
            std::env::var(k).ok()
        })?)
    }

    /// Takes the stack's lock for the whole run.
    pub fn lock(&self, command: &str) -> anyhow::Result<StateLock> {
        std::fs::create_dir_all(self.store.dir()).with_context(|| {
            format!(
                "cannot create the state directory {}",
                self.store.dir().display()
            )
        })?;
        Ok(self.store.lock(command)?)
    }

    /// The validated state (a fresh empty one when the stack has none yet).
    pub fn load_state(&self) -> anyhow::Result<State> {
        Ok(self.store.load()?)
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
            .filter(|r| r.kind == kinds::INSTANCE)
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
