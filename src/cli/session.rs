//! What every command shares: the stack's config, state backend and lock, and the AWS
//! connection. The run itself (context, refresh, plan, check, apply) is the library's
//! `engine`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::args::Cli;
use super::progress::Printer;
use crate::apply::ApplyObserver;
use crate::config::{self, StackConfig};
use crate::engine::Run;
use crate::provider::aws::{self, AwsClients};
use crate::provider::Providers;
use crate::state::{Backend, LockGuard, State};

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

impl Aws {
    /// A run that prints its changes as they happen on stdout.
    pub fn printed_run<'a>(
        &'a self,
        stack: &'a str,
        config: &'a StackConfig,
        parallelism: usize,
    ) -> Run<'a> {
        self.run(stack, config, Arc::new(Printer::stdout()), parallelism)
    }

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
}
