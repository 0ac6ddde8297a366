//! The run pipeline as a library: what `nova up`, `nova plan` and `nova destroy` do, step by
//! step, as functions the CLI calls and tests call without the binary. Recover what a
//! crashed run left pending, learn the context ([`context`]), refresh and plan (pure, with
//! the providers' delete notes), check the plan against the policy, ask the confirm hook,
//! apply (the executor saves the outputs resolved from the final state), close the writer.
//! The caller sees each step through [`Hooks`]: the CLI prints and prompts there.

pub mod context;
pub mod import;

use std::sync::Arc;

use async_trait::async_trait;

use crate::apply::{self, ApplyObserver, ApplyOptions, ApplyReport, ObserverProgress};
use crate::config::StackConfig;
use crate::model::Blueprint;
use crate::plan::{self, Plan, PlanInput, PlanOptions, SavedPlan, SavedPlanError};
use crate::policy::{self, Report, StackView};
use crate::provider::aws::AwsClients;
use crate::provider::{Progress, ProviderError, Providers};
use crate::stack::{self, StackContext};
use crate::state::{writer, Backend, Outcome as Recorded, State, StateError, StateWriter};

/// An error from a confirm hook (reading the terminal failed, no terminal, ...).
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot reach AWS to learn the account id (check your credentials, region and AWS_ENDPOINT_URL): {source}")]
    AccountId { source: Box<ProviderError> },
    #[error("cannot find the newest Amazon Linux 2023 AMI; set `ami` in Nova.toml: {source}")]
    Ami { source: Box<ProviderError> },
    #[error(
        "cannot package the health-check Lambda (the bundle `{bundle}` built into nova): {source}"
    )]
    Package {
        bundle: &'static str,
        source: Box<ProviderError>,
    },
    #[error(
        "the state changed while resolving pending operations; make a new plan with `nova plan`"
    )]
    StateChanged,
    #[error(transparent)]
    SavedPlan(Box<SavedPlanError>),
    #[error(transparent)]
    State(Box<StateError>),
    #[error(transparent)]
    Refresh(Box<crate::refresh::RefreshError>),
    #[error(transparent)]
    Plan(Box<plan::PlanError>),
    /// Resolving a pending operation failed; the rest stay pending.
    #[error(transparent)]
    Recover(Box<apply::ApplyError>),
    #[error("{0}")]
    Confirm(HookError),
    #[error(transparent)]
    Import(Box<import::ImportError>),
}

impl From<SavedPlanError> for EngineError {
    fn from(err: SavedPlanError) -> Self {
        EngineError::SavedPlan(Box::new(err))
    }
}

impl From<StateError> for EngineError {
    fn from(err: StateError) -> Self {
        EngineError::State(Box::new(err))
    }
}

impl From<crate::refresh::RefreshError> for EngineError {
    fn from(err: crate::refresh::RefreshError) -> Self {
        EngineError::Refresh(Box::new(err))
    }
}

impl From<plan::PlanError> for EngineError {
    fn from(err: plan::PlanError) -> Self {
        EngineError::Plan(Box::new(err))
    }
}

impl From<apply::ApplyError> for EngineError {
    fn from(err: apply::ApplyError) -> Self {
        EngineError::Recover(Box::new(err))
    }
}

/// What a run tells its caller along the way, and the one question it asks. Every method
/// but [`Hooks::confirm`] is a notice with nothing to answer.
pub trait Hooks: Send + Sync {
    /// Pending operations of an interrupted run are about to be resolved.
    fn recovering(&self, _pending: usize) {}
    /// What each pending operation turned out to be.
    fn recovered(&self, _report: &apply::RecoveryReport) {}
    /// The resources of the state are about to be read back.
    fn refreshing(&self, _resources: usize) {}
    /// Resources the state lacks are about to be looked for (they may exist already,
    /// with this stack's ownership tags).
    fn looking_up(&self, _resources: usize) {}
    /// The plan that will be checked, confirmed and applied.
    fn planned(&self, _plan: &Plan) {}
    /// The policy check of the plan's blueprint.
    fn checked(&self, _report: &Report) {}
    /// Asked before a plan with changes is applied; `false` cancels.
    fn confirm(&self, plan: &Plan) -> Result<bool, HookError>;
}

/// Where a run learns its [`StackContext`] from: AWS, or stand-ins (tests, offline).
#[async_trait]
pub trait ContextSource: Send + Sync {
    async fn context(
        &self,
        config: &StackConfig,
        state: &State,
    ) -> Result<StackContext, EngineError>;
}

/// The account id and AMI from AWS ([`context::learn`]).
pub struct FromAws<'a>(pub &'a AwsClients);

#[async_trait]
impl ContextSource for FromAws<'_> {
    async fn context(
        &self,
        config: &StackConfig,
        state: &State,
    ) -> Result<StackContext, EngineError> {
        context::learn(self.0, config, state).await
    }
}

/// The offline stand-ins ([`context::offline`]).
pub struct Offline;

#[async_trait]
impl ContextSource for Offline {
    async fn context(
        &self,
        config: &StackConfig,
        state: &State,
    ) -> Result<StackContext, EngineError> {
        context::offline(config, state)
    }
}

/// What every step of a run needs.
#[derive(Clone)]
pub struct Run<'a> {
    pub stack: &'a str,
    pub config: &'a StackConfig,
    pub providers: &'a Providers,
    pub observer: Arc<dyn ApplyObserver>,
    /// Most provider calls in flight at once (refresh and apply).
    pub parallelism: usize,
}

/// What `up` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct UpRequest {
    /// A plan saved by `nova plan --out`, applied instead of planning again.
    pub saved: Option<SavedPlan>,
    /// Read every resource back before planning.
    pub refresh: bool,
    /// Apply even with error-level findings.
    pub allow_findings: bool,
    /// `--target`, `--exclude`, `--replace`, `--refresh-only` (ignored with a saved plan,
    /// which was made with its own).
    pub options: PlanOptions,
}

/// How a run ended, when nothing went wrong.
#[derive(Debug)]
pub enum Outcome {
    /// The plan had error-level findings and they were not allowed: nothing was changed.
    Refused { plan: Plan, findings: Report },
    /// The confirm hook said no: nothing was changed.
    Cancelled { plan: Plan },
    /// `destroy` of a stack without resources.
    NothingToDestroy,
    /// The plan was applied (the report says whether every operation succeeded);
    /// `state_writes` is how many times the state was written during the run.
    Applied {
        plan: Plan,
        report: ApplyReport,
        state_writes: u64,
    },
}

/// Resolves the pending operations an interrupted run left in the writer's state; returns
/// the state afterwards.
pub async fn recover(
    run: &Run<'_>,
    writer: &StateWriter,
    hooks: &dyn Hooks,
) -> Result<State, EngineError> {
    let state = writer.snapshot().await?;
    if state.pending.is_empty() {
        return Ok(state);
    }
    hooks.recovering(state.pending.len());
    let report = apply::recover_pending(
        &state,
        run.providers,
        writer,
        run.observer.clone(),
        run.stack,
    )
    .await?;
    hooks.recovered(&report);
    Ok(writer.snapshot().await?)
}

/// Refreshes (when asked and there is anything to read) and plans. Pending operations must
/// have been resolved.
pub async fn plan(
    run: &Run<'_>,
    blueprint: &Blueprint,
    state: &State,
    refresh: bool,
    hooks: &dyn Hooks,
) -> Result<Plan, EngineError> {
    plan_with(
        run,
        blueprint,
        state,
        refresh,
        &PlanOptions::default(),
        hooks,
    )
    .await
}

/// [`plan`] with the user's options: the addresses they name are checked first (before
/// any AWS call), only the selected resources are refreshed, and (with refresh, unless
/// refresh-only) the selected resources the state lacks are looked for, so that one that
/// already exists with this stack's ownership tags is imported rather than created.
pub async fn plan_with(
    run: &Run<'_>,
    blueprint: &Blueprint,
    state: &State,
    refresh: bool,
    options: &PlanOptions,
    hooks: &dyn Hooks,
) -> Result<Plan, EngineError> {
    plan::check_options(run.stack, blueprint, state, options)?;
    let selected = plan::selection(blueprint, state, options)?;
    let progress: Arc<dyn Progress> = Arc::new(ObserverProgress(run.observer.clone()));
    let mut to_read = state.clone();
    if let Some(selected) = &selected {
        to_read.resources.retain(|r| selected.contains(&r.address));
    }
    let observed = if refresh && !to_read.resources.is_empty() {
        hooks.refreshing(to_read.resources.len());
        Some(
            crate::refresh::refresh(
                run.stack,
                &to_read,
                run.providers,
                crate::refresh::read_parallelism(run.parallelism),
                progress.clone(),
            )
            .await?,
        )
    } else {
        None
    };
    let existing = if refresh && !options.refresh_only {
        let missing = blueprint
            .resources
            .iter()
            .filter(|r| state.get(&r.address).is_none())
            .filter(|r| selected.as_ref().is_none_or(|s| s.contains(&r.address)))
            .count();
        if missing > 0 {
            hooks.looking_up(missing);
        }
        let known = crate::refresh::existing::Known {
            state,
            observed: observed.as_ref(),
        };
        crate::refresh::existing::find_existing(
            run.stack,
            blueprint,
            &known,
            selected.as_ref(),
            run.providers,
            crate::refresh::read_parallelism(run.parallelism),
            progress,
        )
        .await?
    } else {
        Default::default()
    };
    let plan = plan::plan_with(
        &PlanInput {
            stack: run.stack,
            blueprint,
            state,
            observed: observed.as_ref(),
            schemas: &run.providers.schemas(),
            notes: run.providers,
        },
        options,
        &existing,
    )?;
    check_order(&plan, state)?;
    Ok(plan)
}

/// Refuses, at plan time, a plan whose operations would wait for each other in a cycle
/// (the executor would refuse it before changing anything; the user learns it from
/// `nova plan` already).
pub fn check_order(plan: &Plan, state: &State) -> Result<(), EngineError> {
    match apply::operation_graph(plan, &state.deposed) {
        Err(apply::ApplyError::Cycle { path }) => Err(plan::PlanError::Cycle { path }.into()),
        Err(other) => Err(other.into()),
        Ok(_) => Ok(()),
    }
}

/// The policy rules over a planned stack.
pub fn check(config: &StackConfig, account_id: &str, blueprint: &Blueprint) -> Report {
    let view =
        StackView::from_blueprint(blueprint, &config.region, account_id, &config.environment);
    policy::evaluate(&view)
}

/// `nova up`: recover, plan (or take the saved plan if it still applies), check, confirm,
/// apply. The state is owned by one writer from the start; it is closed (final flush) on
/// every way out that gets that far.
pub async fn up(
    run: &Run<'_>,
    store: &Backend,
    mut state: State,
    request: UpRequest,
    context: &dyn ContextSource,
    hooks: &dyn Hooks,
) -> Result<Outcome, EngineError> {
    if let Some(saved) = &request.saved {
        saved.check_applies_to(run.stack, &mut state, &store.location().to_string())?;
    }
    let writer = writer::spawn(store.clone(), state);
    let result = plan_and_apply(run, &writer, request, context, hooks).await;
    close(writer, result).await
}

async fn plan_and_apply(
    run: &Run<'_>,
    writer: &StateWriter,
    request: UpRequest,
    context: &dyn ContextSource,
    hooks: &dyn Hooks,
) -> Result<Outcome, EngineError> {
    let state = recover(run, writer, hooks).await?;
    let context = context.context(run.config, &state).await?;
    let plan = match request.saved {
        Some(saved) if state.serial != saved.plan.serial => {
            return Err(EngineError::StateChanged);
        }
        Some(saved) => saved.plan,
        None => {
            let blueprint = stack::blueprint(run.config, &context);
            plan_with(
                run,
                &blueprint,
                &state,
                request.refresh,
                &request.options,
                hooks,
            )
            .await?
        }
    };
    hooks.planned(&plan);
    // A refresh-only plan changes nothing in AWS: there is nothing to check.
    if !plan.scope.refresh_only {
        let findings = check(run.config, &context.account_id, &plan.blueprint);
        hooks.checked(&findings);
        if findings.has_errors() && !request.allow_findings {
            return Ok(Outcome::Refused { plan, findings });
        }
    }
    apply_confirmed(run, writer, plan, hooks).await
}

/// `nova destroy`: recover, plan the delete of everything, confirm, apply.
pub async fn destroy(
    run: &Run<'_>,
    store: &Backend,
    state: State,
    hooks: &dyn Hooks,
) -> Result<Outcome, EngineError> {
    let writer = writer::spawn(store.clone(), state);
    let result = destroy_with(run, &writer, hooks).await;
    close(writer, result).await
}

/// Closes the writer (final flush) whatever `result` is; an applied outcome learns how
/// many state writes the run made.
async fn close(
    writer: StateWriter,
    result: Result<Outcome, EngineError>,
) -> Result<Outcome, EngineError> {
    let counter = writer.clone();
    let closed = writer.close().await;
    let mut outcome = result?;
    closed?;
    if let Outcome::Applied { state_writes, .. } = &mut outcome {
        *state_writes = counter.writes();
    }
    Ok(outcome)
}

async fn destroy_with(
    run: &Run<'_>,
    writer: &StateWriter,
    hooks: &dyn Hooks,
) -> Result<Outcome, EngineError> {
    let state = recover(run, writer, hooks).await?;
    let plan = plan::destroy_plan(run.stack, &state, run.providers);
    if !plan.has_changes() {
        return Ok(Outcome::NothingToDestroy);
    }
    hooks.planned(&plan);
    apply_confirmed(run, writer, plan, hooks).await
}

/// Writes the plan's state-only records (imported objects, what a refresh-only plan read
/// or found deleted) into the writer's state, before any AWS call; they become durable
/// with the executor's first write (or the final one).
async fn record(writer: &StateWriter, plan: &Plan) {
    for object in &plan.records.set {
        writer.record(Recorded::Updated(object.clone())).await;
    }
    for address in &plan.records.forget {
        if let Ok(state) = writer.snapshot().await {
            if let Some(object) = state.get(address) {
                let id = object.id.clone();
                writer
                    .record(Recorded::Deleted {
                        address: address.clone(),
                        id,
                    })
                    .await;
            }
        }
    }
}

/// Asks the confirm hook when the plan changes anything, then applies.
async fn apply_confirmed(
    run: &Run<'_>,
    writer: &StateWriter,
    plan: Plan,
    hooks: &dyn Hooks,
) -> Result<Outcome, EngineError> {
    if plan.has_changes() && !hooks.confirm(&plan).map_err(EngineError::Confirm)? {
        return Ok(Outcome::Cancelled { plan });
    }
    let options = ApplyOptions {
        parallelism: run.parallelism,
        stack: run.stack.to_string(),
    };
    record(writer, &plan).await;
    let executed = plan.for_executor();
    let report = apply::apply(
        &executed,
        run.providers,
        writer,
        run.observer.clone(),
        &options,
    )
    .await;
    Ok(Outcome::Applied {
        plan,
        report,
        state_writes: 0,
    })
}
