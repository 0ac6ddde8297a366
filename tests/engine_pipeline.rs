//! The run pipeline (`nova::engine`) called as a library, without the binary: `up` of the
//! real production blueprint (offline context) against the fake cloud of `common::fake`,
//! with every kind's real schema; the confirm hook; the plan right after is all no-op;
//! `destroy` leaves nothing; a stale saved plan is refused before anything runs; and the
//! plan options: a lost state imported, `--target`, `--replace`, `--refresh-only`, and
//! `nova import` as a library.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::fake::{every_kind, Cloud};
use nova::apply::SilentObserver;
use nova::config::{self, StackConfig};
use nova::engine::{self, HookError, Hooks, Offline, Outcome, Run, UpRequest};
use nova::model::{Address, Value};
use nova::plan::{Action, Plan, PlanOptions, SavedPlan};
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

fn refreshing(options: PlanOptions) -> UpRequest {
    UpRequest {
        refresh: true,
        options,
        ..UpRequest::default()
    }
}

fn addr(text: &str) -> Address {
    text.parse().unwrap()
}

/// Applies the whole stack; returns how many resources it has.
async fn applied(run: &Run<'_>, store: &StateStore) -> usize {
    let Outcome::Applied { plan, report, .. } = up(
        run,
        store,
        refreshing(PlanOptions::default()),
        &Answers::yes(),
    )
    .await
    else {
        panic!("not applied");
    };
    assert!(report.is_success(), "{report:?}");
    plan.blueprint.resources.len()
}

/// A lost state (the file deleted): the next plan finds every object by its ownership
/// tags and imports it; nothing is created twice, and the plan after is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_state_is_imported_not_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path(), STACK);
    let (config, cloud) = (config(), Cloud::new(std::time::Duration::ZERO));
    let providers = every_kind(&cloud);
    let run = run(&config, &providers);
    let resources = applied(&run, &store).await;
    let creates = cloud.creates.load(std::sync::atomic::Ordering::SeqCst);
    std::fs::remove_file(store.path()).unwrap();

    let hooks = Answers::yes();
    let Outcome::Applied { plan, report, .. } =
        up(&run, &store, refreshing(PlanOptions::default()), &hooks).await
    else {
        panic!("not applied");
    };
    assert!(report.is_success(), "{report:?}");
    assert!(
        plan.changes.iter().all(|c| c.action == Action::Import),
        "{:?}",
        plan.changes
            .iter()
            .filter(|c| c.action != Action::Import)
            .map(|c| &c.address)
            .collect::<Vec<_>>()
    );
    assert_eq!(plan.summary().import, resources);
    assert_eq!(hooks.asked(), 1, "an import is a change: confirmed first");
    assert_eq!(
        cloud.creates.load(std::sync::atomic::Ordering::SeqCst),
        creates,
        "nothing created again"
    );
    assert_eq!(cloud.objects().len(), resources, "no duplicates");
    let state = store.load().unwrap();
    assert_eq!(state.resources.len(), resources);
    assert!(
        !state.outputs.is_empty(),
        "outputs resolved from the imports"
    );

    let again = Answers::yes();
    let Outcome::Applied { plan, .. } =
        up(&run, &store, refreshing(PlanOptions::default()), &again).await
    else {
        panic!("not applied");
    };
    assert!(!plan.has_changes(), "the plan after the imports is empty");
}

/// `--target`: only the target and what it depends on are created; the rest waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_target_applies_only_it_and_what_it_depends_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path(), STACK);
    let (config, cloud) = (config(), Cloud::new(std::time::Duration::ZERO));
    let providers = every_kind(&cloud);
    let run = run(&config, &providers);
    let options = PlanOptions {
        targets: [addr("aws_route_table.private[0]")].into(),
        ..PlanOptions::default()
    };
    let Outcome::Applied { plan, report, .. } =
        up(&run, &store, refreshing(options), &Answers::yes()).await
    else {
        panic!("not applied");
    };
    assert!(report.is_success(), "{report:?}");
    assert!(plan.scope.is_partial());
    let made: Vec<String> = store
        .load()
        .unwrap()
        .resources
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    // The private route table routes through the NAT gateway, which sits in a public
    // subnet and holds an Elastic IP; the subnets are in the VPC, which the gateway needs
    // attached.
    assert_eq!(
        made,
        [
            "aws_eip.nat[0]",
            "aws_internet_gateway.main",
            "aws_nat_gateway.main[0]",
            "aws_route_table.private[0]",
            "aws_subnet.private[0]",
            "aws_subnet.public[0]",
            "aws_vpc.main",
        ]
    );
    assert_eq!(cloud.objects().len(), made.len());
    let resources = applied(&run, &store).await;
    assert_eq!(
        cloud.objects().len(),
        resources,
        "the full run makes the rest"
    );
}

/// `--replace`: a new object for the one asked, the old one deleted; its sibling stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replace_makes_a_new_object_for_the_one_asked_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path(), STACK);
    let (config, cloud) = (config(), Cloud::new(std::time::Duration::ZERO));
    let providers = every_kind(&cloud);
    let run = run(&config, &providers);
    let resources = applied(&run, &store).await;
    let before = store.load().unwrap();
    let id = |s: &nova::state::State, a: &str| s.get(&addr(a)).unwrap().id.clone();
    let options = PlanOptions {
        replace: [addr("aws_instance.web[0]")].into(),
        ..PlanOptions::default()
    };
    let Outcome::Applied { plan, report, .. } =
        up(&run, &store, refreshing(options), &Answers::yes()).await
    else {
        panic!("not applied");
    };
    assert!(report.is_success(), "{report:?}");
    assert_eq!(plan.summary().replace, 1, "{:?}", plan.summary());
    let after = store.load().unwrap();
    assert_ne!(
        id(&after, "aws_instance.web[0]"),
        id(&before, "aws_instance.web[0]")
    );
    assert_eq!(
        id(&after, "aws_instance.web[1]"),
        id(&before, "aws_instance.web[1]")
    );
    assert!(!cloud
        .objects()
        .contains_key(&id(&before, "aws_instance.web[0]")));
    assert_eq!(cloud.objects().len(), resources);
}

/// `--refresh-only`: what changed outside nova (an edited tag, a deleted object) is
/// recorded in the state, after the confirmation, without a single create, update or
/// delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_only_records_drift_and_deletes_without_changing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path(), STACK);
    let (config, cloud) = (config(), Cloud::new(std::time::Duration::ZERO));
    let providers = every_kind(&cloud);
    let run = run(&config, &providers);
    applied(&run, &store).await;
    let state = store.load().unwrap();
    let vpc = state.get(&addr("aws_vpc.main")).unwrap().id.clone();
    let target = state
        .get(&addr("aws_cloudwatch_event_target.health"))
        .unwrap()
        .id
        .clone();
    {
        let mut objects = cloud.objects.lock().unwrap();
        let tags = objects
            .get_mut(&vpc)
            .unwrap()
            .inputs
            .get_mut("tags")
            .unwrap();
        let Value::Map(tags) = tags else {
            panic!("tags are a map")
        };
        tags.insert("Team".into(), Value::str("platform"));
        objects.remove(&target);
    }
    let calls = cloud.calls().len();
    let hooks = Answers::yes();
    let options = PlanOptions {
        refresh_only: true,
        ..PlanOptions::default()
    };
    let Outcome::Applied { plan, report, .. } = up(&run, &store, refreshing(options), &hooks).await
    else {
        panic!("not applied");
    };
    assert!(report.is_success(), "{report:?}");
    assert_eq!(hooks.asked(), 1, "confirmed like any other change");
    assert_eq!(plan.records.set.len(), 1);
    assert_eq!(
        plan.records.forget,
        [addr("aws_cloudwatch_event_target.health")]
    );
    assert_eq!(cloud.calls().len(), calls, "no create, update or delete");
    let state = store.load().unwrap();
    assert!(state
        .get(&addr("aws_cloudwatch_event_target.health"))
        .is_none());
    let tags = &state.get(&addr("aws_vpc.main")).unwrap().inputs["tags"];
    assert_eq!(
        tags.as_map().unwrap().get("Team"),
        Some(&Value::str("platform"))
    );
    // Refreshing again finds nothing more to record.
    let options = PlanOptions {
        refresh_only: true,
        ..PlanOptions::default()
    };
    let quiet = Answers::yes();
    let Outcome::Applied { plan, .. } = up(&run, &store, refreshing(options), &quiet).await else {
        panic!("not applied");
    };
    assert!(!plan.has_changes());
    assert_eq!(quiet.asked(), 0);
}

/// `nova import` as a library: an object made outside nova is recorded, with what the
/// next plan changes on it; refused for an address already managed, an id of nothing,
/// and an object another stack owns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn import_records_an_object_made_outside_nova_and_refuses_what_it_must() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path(), STACK);
    let (config, cloud) = (config(), Cloud::new(std::time::Duration::ZERO));
    let providers = every_kind(&cloud);
    let run = run(&config, &providers);
    let outside = |id: &str, tags: &[(&str, &str)]| {
        let inputs: nova::model::Inputs = [
            ("cidr_block".to_string(), Value::str("10.0.0.0/16")),
            (
                "tags".to_string(),
                nova::provider::aws::tags_value(tags.iter().copied()),
            ),
        ]
        .into();
        cloud.objects.lock().unwrap().insert(
            id.to_string(),
            common::fake::Object {
                kind: "aws_vpc".into(),
                inputs,
                owner: ("someone".into(), addr("aws_vpc.theirs")),
            },
        );
    };
    outside("vpc-made-by-hand", &[("Name", "by hand")]);
    outside("vpc-of-staging", &[("nova:stack", "staging")]);
    let vpc = addr("aws_vpc.main");
    let import = |id: &'static str| {
        let (run, store, vpc) = (&run, &store, &vpc);
        async move {
            engine::import::import(
                run,
                &backend(store),
                store.load().unwrap(),
                vpc,
                id,
                &Offline,
            )
            .await
        }
    };

    let imported = import("vpc-made-by-hand").await.expect("import");
    assert_eq!(imported.object.id, "vpc-made-by-hand");
    assert_eq!(imported.next.action, Action::Update, "{:?}", imported.next);
    assert!(imported.next.diffs.iter().any(|d| d.field == "tags"));
    let state = store.load().unwrap();
    assert_eq!(state.get(&vpc).unwrap().id, "vpc-made-by-hand");
    assert_eq!(state.serial, imported.serial);
    assert!(cloud.calls().is_empty(), "nothing changed in the cloud");

    let err = import("vpc-of-staging").await.unwrap_err().to_string();
    assert!(
        err.contains("aws_vpc.main is already in the state"),
        "{err}"
    );
    std::fs::remove_file(store.path()).unwrap();
    let err = import("vpc-nothing").await.unwrap_err().to_string();
    assert_eq!(
        err,
        "no aws_vpc with id `vpc-nothing` exists (for aws_vpc.main): the id must be of the \
         kind the address names"
    );
    let err = import("vpc-of-staging").await.unwrap_err().to_string();
    assert!(err.contains("belongs to nova stack `staging`"), "{err}");
    let err = engine::import::import(
        &run,
        &backend(&store),
        store.load().unwrap(),
        &addr("aws_vpc.other"),
        "vpc-made-by-hand",
        &Offline,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("aws_vpc.other is not a resource of the configuration")
            && err.contains("aws_vpc.main"),
        "{err}"
    );
    assert!(!store.path().exists(), "nothing written by a refusal");
}
