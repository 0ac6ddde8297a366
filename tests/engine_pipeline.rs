//! The run pipeline (`nova::engine`) called as a library, without the binary: `up` of the
//! real production blueprint (offline context) against the fake cloud of `common::fake`,
//! with every kind's real schema; the confirm hook; the plan right after is all no-op;
//! `destroy` leaves nothing; a stale saved plan is refused before anything runs.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::fake::{every_kind, Cloud};
use nova::apply::SilentObserver;
use nova::config::{self, StackConfig};
use nova::engine::{self, HookError, Hooks, Offline, Outcome, Run, UpRequest};
use nova::plan::{Action, Plan, SavedPlan};
use nova::policy::Report;
use nova::provider::Providers;
use nova::state::{Backend, StateStore};

const STACK: &str = "production";

fn config() -> StackConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Nova.toml");
    config::load(&path, STACK, &|_| None).expect("the repository's Nova.toml")
}

/// Answers the confirm question with `yes` and records what the run showed.
#[derive(Default)]
struct Answers {
    yes: bool,
    asked: Mutex<usize>,
    planned: Mutex<Vec<Plan>>,
    checked: Mutex<Vec<Report>>,
}

impl Answers {
    fn yes() -> Self {
        Answers {
            yes: true,
            ..Answers::default()
        }
    }

    fn asked(&self) -> usize {
        *self.asked.lock().unwrap()
    }
}

impl Hooks for Answers {
    fn planned(&self, plan: &Plan) {
        self.planned.lock().unwrap().push(plan.clone());
    }

    fn checked(&self, report: &Report) {
        self.checked.lock().unwrap().push(report.clone());
    }

    fn confirm(&self, _plan: &Plan) -> Result<bool, HookError> {
        *self.asked.lock().unwrap() += 1;
        Ok(self.yes)
    }
}

fn run<'a>(config: &'a StackConfig, providers: &'a Providers) -> Run<'a> {
    Run {
        stack: STACK,
        config,
        providers,
        observer: Arc::new(SilentObserver),
        parallelism: 4,
    }
}

/// The local file behind the engine's backend handle.
fn backend(store: &StateStore) -> Backend {
    Backend::from(store.clone())
}

async fn up(run: &Run<'_>, store: &StateStore, request: UpRequest, hooks: &Answers) -> Outcome {
    let state = store.load().expect("state");
    engine::up(run, &backend(store), state, request, &Offline, hooks)
        .await
        .expect("up")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_applies_the_stack_then_plans_nothing_then_destroy_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path(), STACK);
    let (config, cloud) = (config(), Cloud::new(std::time::Duration::ZERO));
    let providers = every_kind(&cloud);
    let run = run(&config, &providers);

    let hooks = Answers::yes();
    let Outcome::Applied { plan, report, .. } =
        up(&run, &store, UpRequest::default(), &hooks).await
    else {
        panic!("not applied");
    };
    assert!(report.is_success(), "{report:?}");
    assert_eq!(hooks.asked(), 1, "asked once before changing anything");
    let first_check = hooks.checked.lock().unwrap()[0].clone();
    assert!(!first_check.has_errors(), "{:?}", first_check.findings);
    let resources = plan.blueprint.resources.len();
    assert!(plan.changes.iter().all(|c| c.action == Action::Create));
    assert_eq!(cloud.objects().len(), resources, "one object per resource");
    let state = store.load().unwrap();
    assert_eq!(state.resources.len(), resources);
    assert!(state.pending.is_empty());
    assert!(
        !state.outputs.is_empty(),
        "outputs saved from the final state"
    );

    let again = Answers::yes();
    let request = UpRequest {
        refresh: true,
        ..UpRequest::default()
    };
    let Outcome::Applied { plan, .. } = up(&run, &store, request, &again).await else {
        panic!("second up not applied");
    };
    assert!(!plan.has_changes(), "plan right after up is all no-op");
    assert_eq!(again.asked(), 0, "nothing to confirm");
    assert_eq!(cloud.objects().len(), resources, "no duplicates");

    let state = store.load().unwrap();
    let gone = Answers::yes();
    let Outcome::Applied { report, .. } = engine::destroy(&run, &backend(&store), state, &gone)
        .await
        .expect("destroy")
    else {
        panic!("not destroyed");
    };
    assert!(report.is_success(), "{report:?}");
    assert!(cloud.objects().is_empty(), "{:?}", cloud.objects().keys());
    assert!(store.load().unwrap().resources.is_empty());
    let state = store.load().unwrap();
    let nothing = engine::destroy(&run, &backend(&store), state, &gone)
        .await
        .unwrap();
    assert!(matches!(nothing, Outcome::NothingToDestroy));
}

#[tokio::test]
async fn a_declined_confirmation_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path(), STACK);
    let (config, cloud) = (config(), Cloud::new(std::time::Duration::ZERO));
    let providers = every_kind(&cloud);
    let hooks = Answers::default();
    let outcome = up(
        &run(&config, &providers),
        &store,
        UpRequest::default(),
        &hooks,
    )
    .await;
    assert!(matches!(outcome, Outcome::Cancelled { .. }), "{outcome:?}");
    assert_eq!(hooks.asked(), 1);
    assert_eq!(hooks.planned.lock().unwrap().len(), 1);
    assert!(cloud.calls().is_empty(), "no provider call");
    assert!(store.load().unwrap().resources.is_empty());
}

#[tokio::test]
async fn a_stale_saved_plan_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path(), STACK);
    let (config, cloud) = (config(), Cloud::new(std::time::Duration::ZERO));
    let providers = every_kind(&cloud);
    let run = run(&config, &providers);
    let hooks = Answers::yes();
    let Outcome::Applied { plan, .. } = up(&run, &store, UpRequest::default(), &hooks).await else {
        panic!("not applied");
    };
    // Made from the empty state, which the first up has moved on from.
    let request = UpRequest {
        saved: Some(SavedPlan::new(plan)),
        ..UpRequest::default()
    };
    let calls = cloud.calls().len();
    let err = engine::up(
        &run,
        &backend(&store),
        store.load().unwrap(),
        request,
        &Offline,
        &hooks,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("the saved plan is stale"), "{err}");
    assert_eq!(cloud.calls().len(), calls, "no provider call");
}
