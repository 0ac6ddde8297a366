//! What every command shares: the stack's config, state store and AWS connection. The
//! run itself (context, refresh, plan, check, apply) is the library's `engine`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::args::Cli;
use crate::apply::ApplyObserver;
use crate::config::{self, StackConfig};
use crate::engine::Run;
use crate::provider::aws::{self, AwsClients};
use crate::provider::Providers;
use crate::state::{State, StateLock, StateStore};

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

impl Aws {
    /// The engine's view of a run on this connection.
    pub fn run<'a>(
        &'a self,
        stack: &'a str,
        config: &'a StackConfig,
        observer: Arc<dyn ApplyObserver>,
        parallelism: usize,
    ) -> Run<'a> {
        Run {
            stack,
            config,
            providers: &self.providers,
            observer,
            parallelism,
        }
    }
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
}
