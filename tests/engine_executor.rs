//! The executor and crash recovery against an in-memory fake provider: dependency order,
//! bounded parallelism, failure isolation, destroy order, replacement order, crash at
//! the K-th create followed by recovery, and coalesced state writes. The fake is
//! `common::fake`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use common::fake::{providers, Call, Cloud};
use nova::apply::{
    apply, recover_pending, ApplyObserver, ApplyOptions, ApplyReport, Resolution, SilentObserver,
};
use nova::model::{Address, Blueprint, Inputs, Resource, Value};
use nova::plan::{Action, Change, Plan};
use nova::provider::Providers;
use nova::state::{self, Operation, State, StateStore, StateWriter};

// ---------------------------------------------------------------- plans by hand

fn addr(name: &str) -> Address {
    Address::new("fake_thing", name)
}

/// A `fake_thing` whose input `dep_<d>` refers to each dependency's id.
fn thing(name: &str, deps: &[&str]) -> Resource {
    let mut r = Resource::new(addr(name)).with("name", name);
    for d in deps {
        r = r.with(&format!("dep_{d}"), Value::reference(&addr(d), "id"));
    }
    r
}

fn blueprint(resources: Vec<Resource>) -> Blueprint {
    let mut outputs = BTreeMap::new();
    if let Some(first) = resources.first() {
        outputs.insert("first_arn".into(), Value::reference(&first.address, "arn"));
    }
    Blueprint { resources, outputs }
}

/// `n` resources in a binary tree: `r<i>` depends on `r<(i-1)/2>`.
fn tree(n: usize) -> Blueprint {
    blueprint(
        (0..n)
            .map(|i| {
                let name = format!("r{i:02}");
                if i == 0 {
                    thing(&name, &[])
                } else {
                    thing(&name, &[&format!("r{:02}", (i - 1) / 2)])
                }
            })
            .collect(),
    )
}

fn change(address: &Address, action: Action) -> Change {
    Change {
        address: address.clone(),
        action,
        before: None,
        after: None,
        diffs: Vec::new(),
        reasons: Vec::new(),
        dependencies: BTreeSet::new(),
        prior_dependencies: BTreeSet::new(),
        waits_for_old: BTreeSet::new(),
    }
}

/// The tiny planner of these tests: resources absent from the state are created,
/// present ones left alone, state-only ones deleted.
fn converge_plan(bp: &Blueprint, state: &State) -> Plan {
    let mut changes = Vec::new();
    for r in &bp.resources {
        let action = if state.get(&r.address).is_some() {
            Action::NoOp
        } else {
            Action::Create
        };
        let mut c = change(&r.address, action);
        c.dependencies = r.dependencies();
        if let Some(s) = state.get(&r.address) {
            c.prior_dependencies = s.dependencies.clone();
        }
        changes.push(c);
    }
    for s in &state.resources {
        if bp.get(&s.address).is_none() {
            let mut c = change(&s.address, Action::Delete);
            c.prior_dependencies = s.dependencies.clone();
            changes.push(c);
        }
    }
    changes.sort_by(|a, b| a.address.cmp(&b.address));
    Plan {
        stack: "test".into(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        blueprint: bp.clone(),
        changes,
        deposed: Vec::new(),
        scope: Default::default(),
        records: Default::default(),
    }
}

/// The real planner (`nova::plan::plan`), optionally after a real refresh through the
/// fake provider's `read`.
async fn real_plan(h: &Harness, bp: &Blueprint, state: &State, refresh: bool) -> Plan {
    let observed = if refresh {
        Some(
            nova::refresh::refresh(
                &h.stack,
                state,
                &h.providers,
                4,
                Arc::new(nova::provider::SilentProgress),
            )
            .await
            .unwrap(),
        )
    } else {
        None
    };
    nova::plan::plan(&nova::plan::PlanInput {
        stack: &h.stack,
        blueprint: bp,
        state,
        observed: observed.as_ref(),
        schemas: &h.providers.schemas(),
        notes: &h.providers,
    })
    .unwrap()
}

/// Every change of `plan` is a no-op.
fn assert_all_no_op(plan: &Plan, context: &str) {
    let changing: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| format!("{} {:?}", c.address, c.action))
        .collect();
    assert!(
        changing.is_empty(),
        "{context}: plan after apply changes {changing:?}"
    );
    assert!(!plan.has_changes(), "{context}");
}

fn destroy_plan(state: &State) -> Plan {
    converge_plan(&Blueprint::default(), state)
}

// ---------------------------------------------------------------- harness

struct Harness {
    _dir: tempfile::TempDir,
    store: StateStore,
    cloud: Arc<Cloud>,
    providers: Providers,
    stack: String,
}

impl Harness {
    fn new(delay: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let stack = "test".to_string();
        let store = StateStore::new(dir.path(), &stack);
        let cloud = Cloud::new(delay);
        let providers = providers(&cloud);
        Harness {
            _dir: dir,
            store,
            cloud,
            providers,
            stack,
        }
    }

    fn options(&self, parallelism: usize) -> ApplyOptions {
        ApplyOptions {
            parallelism,
            stack: self.stack.clone(),
        }
    }

    /// Applies `plan` with a fresh writer on the state on disk; returns the report, the
    /// closed state and the writer's write count.
    async fn run(&self, plan: &Plan, parallelism: usize) -> (ApplyReport, State, u64) {
        let writer = state::writer::spawn(self.store.clone(), self.store.load().unwrap());
        let report = apply(
            plan,
            &self.providers,
            &writer,
            Arc::new(SilentObserver),
            &self.options(parallelism),
        )
        .await;
        let writes_handle = writer.clone();
        let state = writer.close().await.unwrap();
        (report, state, writes_handle.writes())
    }

    async fn converge(&self, bp: &Blueprint, parallelism: usize) -> (ApplyReport, State, u64) {
        let plan = converge_plan(bp, &self.store.load().unwrap());
        self.run(&plan, parallelism).await
    }
}

fn find_call<'a>(calls: &'a [Call], address: &Address, op: &str) -> &'a Call {
    calls
        .iter()
        .find(|c| &c.address == address && c.op == op)
        .unwrap_or_else(|| panic!("no {op} of {address} in {calls:#?}"))
}

fn assert_before(calls: &[Call], first: (&Address, &str), then: (&Address, &str)) {
    let a = find_call(calls, first.0, first.1);
    let b = find_call(calls, then.0, then.1);
    assert!(
        a.end < b.start,
        "{} {} (ended at {}) must finish before {} {} starts (at {})",
        first.1,
        first.0,
        a.end,
        then.1,
        then.0,
        b.start
    );
}

fn assert_clean(report: &ApplyReport) {
    assert!(
        report.is_success(),
        "failed: {:?} skipped: {:?} not started: {:?}",
        report
            .failed
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        report.skipped,
        report.not_started
    );
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dependencies_finish_before_their_dependents_start() {
    let h = Harness::new(Duration::from_millis(5));
    let bp = tree(15);
    let (report, state, _) = h.converge(&bp, 4).await;
    assert_clean(&report);
    let calls = h.cloud.calls();
    assert_eq!(calls.len(), 15);
    for r in &bp.resources {
        for dep in r.dependencies() {
            assert_before(&calls, (&dep, "create"), (&r.address, "create"));
        }
    }
    assert_eq!(state.resources.len(), 15);
    assert!(state.pending.is_empty());
    // Inputs were resolved from the dependency's real id.
    let r01 = state.get(&addr("r01")).unwrap();
    let r00 = state.get(&addr("r00")).unwrap();
    assert_eq!(r01.inputs["dep_r00"], Value::str(&r00.id));
    assert_eq!(r01.dependencies, [addr("r00")].into());
    assert_eq!(
        state.outputs["first_arn"],
        Value::str(format!("arn:fake:{}", r00.id))
    );
    // Planning again changes nothing.
    assert!(!converge_plan(&bp, &h.store.load().unwrap()).has_changes());
}

#[test]
fn peak_concurrency_equals_parallelism() {
    for n in [1, 4, 10] {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        let h = Harness::new(Duration::from_millis(30));
        let bp = blueprint((0..40).map(|i| thing(&format!("w{i:02}"), &[])).collect());
        let (report, state, _) = rt.block_on(h.converge(&bp, n));
        assert_clean(&report);
        assert_eq!(state.resources.len(), 40);
        let peak = h.cloud.peak.load(Ordering::SeqCst);
        println!("parallelism {n}: peak in-flight provider calls {peak}");
        assert_eq!(peak, n, "parallelism {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failure_skips_only_its_dependents() {
    let h = Harness::new(Duration::from_millis(2));
    // a <- b <- c <- f, and d, e independent; e also depends on a.
    let bp = blueprint(vec![
        thing("a", &[]),
        thing("b", &["a"]),
        thing("c", &["b"]),
        thing("d", &[]),
        thing("e", &["a"]),
        thing("f", &["c"]),
    ]);
    h.cloud.fail_create.lock().unwrap().insert(addr("b"));
    let (report, state, _) = h.converge(&bp, 4).await;
    assert_eq!(report.failed.len(), 1);
    let message = report.failed[0].to_string();
    assert_eq!(
        message, "fake_thing.b: create failed: injected failure",
        "{message}"
    );
    let skipped: BTreeSet<(Address, Address)> = report.skipped.iter().cloned().collect();
    assert_eq!(
        skipped,
        [(addr("c"), addr("b")), (addr("f"), addr("b"))].into()
    );
    let in_state: BTreeSet<Address> = state.resources.iter().map(|r| r.address.clone()).collect();
    assert_eq!(in_state, [addr("a"), addr("d"), addr("e")].into());
    assert!(
        state.pending.is_empty(),
        "the failed create is no longer pending"
    );
    let called: BTreeSet<Address> = h.cloud.calls().iter().map(|c| c.address.clone()).collect();
    assert!(!called.contains(&addr("c")) && !called.contains(&addr("f")));
    assert_eq!(h.cloud.objects().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn destroy_deletes_dependents_first() {
    let h = Harness::new(Duration::from_millis(3));
    let bp = tree(15);
    let (report, _, _) = h.converge(&bp, 10).await;
    assert_clean(&report);
    let before = h.cloud.calls().len();

    let state = h.store.load().unwrap();
    let (report, state, _) = h.run(&destroy_plan(&state), 10).await;
    assert_clean(&report);
    let deletes: Vec<Call> = h.cloud.calls()[before..].to_vec();
    assert_eq!(deletes.len(), 15);
    for r in &bp.resources {
        for dep in r.dependencies() {
            assert_before(&deletes, (&r.address, "delete"), (&dep, "delete"));
        }
    }
    assert!(h.cloud.objects().is_empty());
    assert!(state.resources.is_empty());
    assert!(state.pending.is_empty());
}

/// `x` (of `kind`) and `r`, whose input refers to `x.id`.
fn pair(kind: &str) -> (Address, Blueprint) {
    let x = Address::new(kind, "x");
    let bp = blueprint(vec![
        Resource::new(x.clone()).with("name", "x1"),
        Resource::new(addr("r"))
            .with("name", "r")
            .with("x_id", Value::reference(&x, "id")),
    ]);
    (x, bp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_before_destroy_replacement_creates_updates_then_deletes() {
    let h = Harness::new(Duration::from_millis(2));
    let (x, mut bp) = pair("fake_cbd");
    let (report, state, _) = h.converge(&bp, 4).await;
    assert_clean(&report);
    let old_id = state.get(&x).unwrap().id.clone();

    bp.resources[0] = Resource::new(x.clone()).with("name", "x2");
    let mut cx = change(
        &x,
        Action::Replace {
            create_before_destroy: true,
        },
    );
    let mut cr = change(&addr("r"), Action::Update);
    cr.dependencies = [x.clone()].into();
    cr.prior_dependencies = [x.clone()].into();
    cx.dependencies = BTreeSet::new();
    let plan = Plan {
        stack: "test".into(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        blueprint: bp.clone(),
        changes: vec![cr, cx],
        deposed: Vec::new(),
        scope: Default::default(),
        records: Default::default(),
    };
    let before = h.cloud.calls().len();
    let (report, state, _) = h.run(&plan, 4).await;
    assert_clean(&report);
    let calls = h.cloud.calls()[before..].to_vec();
    let ops: Vec<(String, &str)> = calls
        .iter()
        .map(|c| (c.address.to_string(), c.op))
        .collect();
    assert_eq!(
        ops,
        [
            ("fake_cbd.x".to_string(), "create"),
            ("fake_thing.r".to_string(), "update"),
            ("fake_cbd.x".to_string(), "delete"),
        ]
    );
    assert_eq!(calls[2].id, old_id, "the old object is the one deleted");
    let new_id = &state.get(&x).unwrap().id;
    assert_ne!(new_id, &old_id);
    assert_eq!(
        state.get(&addr("r")).unwrap().inputs["x_id"],
        Value::str(new_id)
    );
    assert!(state.deposed.is_empty());
    assert_eq!(h.cloud.objects().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_before_create_replacement_deletes_dependents_first() {
    let h = Harness::new(Duration::from_millis(2));
    let (x, mut bp) = pair("fake_thing");
    let (report, state, _) = h.converge(&bp, 4).await;
    assert_clean(&report);

    bp.resources[0] = Resource::new(x.clone()).with("name", "x2");
    let replace = Action::Replace {
        create_before_destroy: false,
    };
    let cx = change(&x, replace);
    let mut cr = change(&addr("r"), replace);
    cr.dependencies = [x.clone()].into();
    cr.prior_dependencies = [x.clone()].into();
    let plan = Plan {
        stack: "test".into(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        blueprint: bp.clone(),
        changes: vec![cr, cx],
        deposed: Vec::new(),
        scope: Default::default(),
        records: Default::default(),
    };
    let before = h.cloud.calls().len();
    let (report, state, _) = h.run(&plan, 4).await;
    assert_clean(&report);
    let ops: Vec<(String, &str)> = h.cloud.calls()[before..]
        .iter()
        .map(|c| (c.address.to_string(), c.op))
        .collect();
    assert_eq!(
        ops,
        [
            ("fake_thing.r".to_string(), "delete"),
            ("fake_thing.x".to_string(), "delete"),
            ("fake_thing.x".to_string(), "create"),
            ("fake_thing.r".to_string(), "create"),
        ]
    );
    assert_eq!(state.resources.len(), 2);
    assert_eq!(
        state.get(&addr("r")).unwrap().dependencies,
        [x.clone()].into()
    );
    assert_eq!(h.cloud.objects().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_with_unchanged_resolved_inputs_makes_no_call() {
    let h = Harness::new(Duration::ZERO);
    let bp = blueprint(vec![thing("a", &[]), thing("b", &["a"])]);
    let (report, state, _) = h.converge(&bp, 2).await;
    assert_clean(&report);
    let plan = Plan {
        stack: "test".into(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        blueprint: bp.clone(),
        changes: vec![change(&addr("b"), Action::Update)],
        deposed: Vec::new(),
        scope: Default::default(),
        records: Default::default(),
    };
    let before = h.cloud.calls().len();
    let (report, _, _) = h.run(&plan, 2).await;
    assert_clean(&report);
    assert_eq!(h.cloud.calls().len(), before, "no provider call");
    assert_eq!(report.completed.len(), 1);
    assert!(!report.completed[0].call_made);
}

/// After a refresh the plan's `before` holds the live inputs. When they drifted from the
/// applied ones, the update must be made (the resolved inputs equal the applied ones, not
/// the live ones) and must start from the live inputs, so the provider undoes the drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_of_drift_starts_from_the_refreshed_inputs() {
    let h = Harness::new(Duration::ZERO);
    let bp = blueprint(vec![thing("a", &[]), thing("b", &["a"])]);
    let (report, state, _) = h.converge(&bp, 2).await;
    assert_clean(&report);
    let recorded = state.get(&addr("b")).unwrap().clone();
    let mut live = recorded.inputs.clone();
    live.insert("name".into(), Value::str("changed behind nova's back"));
    let mut update = change(&addr("b"), Action::Update);
    update.before = Some(live.clone());
    let plan = Plan {
        stack: "test".into(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        blueprint: bp.clone(),
        changes: vec![update],
        deposed: Vec::new(),
        scope: Default::default(),
        records: Default::default(),
    };
    let (report, after, _) = h.run(&plan, 2).await;
    assert_clean(&report);
    assert_eq!(report.completed.len(), 1);
    assert!(report.completed[0].call_made, "the drift must be undone");
    assert_eq!(
        h.cloud.updated_from.lock().unwrap().clone(),
        vec![(recorded.id.clone(), live)]
    );
    assert_eq!(after.get(&addr("b")).unwrap().inputs, recorded.inputs);
    assert_eq!(h.cloud.objects()[&recorded.id].inputs, recorded.inputs);
}

/// Records which addresses were reported skipped, to check the observer is told.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
}

impl ApplyObserver for Recorder {
    fn started(&self, address: &Address, what: &str) {
        self.events
            .lock()
            .unwrap()
            .push(format!("start {what} {address}"));
    }
    fn finished(
        &self,
        address: &Address,
        what: &str,
        _elapsed: Duration,
        error: Option<&nova::apply::ApplyError>,
    ) {
        let status = if error.is_some() { "failed" } else { "done" };
        self.events
            .lock()
            .unwrap()
            .push(format!("{status} {what} {address}"));
    }
    fn skipped(&self, address: &Address, upstream: &Address) {
        self.events
            .lock()
            .unwrap()
            .push(format!("skip {address} after {upstream}"));
    }
    fn note(&self, _address: &Address, _message: &str) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_hears_starts_finishes_and_skips() {
    let h = Harness::new(Duration::ZERO);
    let bp = blueprint(vec![thing("a", &[]), thing("b", &["a"])]);
    h.cloud.fail_create.lock().unwrap().insert(addr("a"));
    let writer = state::writer::spawn(h.store.clone(), State::new());
    let recorder = Arc::new(Recorder::default());
    let plan = converge_plan(&bp, &State::new());
    let report = apply(
        &plan,
        &h.providers,
        &writer,
        recorder.clone(),
        &h.options(2),
    )
    .await;
    writer.close().await.unwrap();
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        *recorder.events.lock().unwrap(),
        [
            "start create fake_thing.a",
            "failed create fake_thing.a",
            "skip fake_thing.b after fake_thing.a",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cyclic_plan_is_refused_before_any_call() {
    let h = Harness::new(Duration::ZERO);
    let bp = blueprint(vec![thing("a", &["b"]), thing("b", &["a"])]);
    let plan = converge_plan(&bp, &State::new());
    let (report, state, _) = h.run(&plan, 2).await;
    assert_eq!(report.failed.len(), 1);
    let message = report.failed[0].to_string();
    assert!(message.contains("cycle"), "{message}");
    assert!(message.contains("fake_thing.a (create)"), "{message}");
    assert!(message.contains("fake_thing.b (create)"), "{message}");
    assert!(h.cloud.calls().is_empty());
    assert!(state.resources.is_empty());
}

/// Crashes the apply of a 15-resource tree once the fake has made its `k`-th object (the
/// call never returns; the runtime is dropped), then recovers and applies again.
fn crash_then_recover(k: usize) {
    let h = Harness::new(Duration::from_millis(3));
    let bp = tree(15);
    let crashed = Arc::new(Notify::new());
    *h.cloud.crash_at.lock().unwrap() = Some((k, crashed.clone()));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let state = h.store.load().unwrap();
        let writer = state::writer::spawn(h.store.clone(), state.clone());
        let plan = converge_plan(&bp, &state);
        let options = h.options(4);
        tokio::select! {
            _ = apply(&plan, &h.providers, &writer, Arc::new(SilentObserver), &options) => {
                panic!("the apply finished without reaching create #{k}")
            }
            () = crashed.notified() => {}
        }
    });
    // The "process" dies: every task is dropped mid-flight, nothing more is written.
    rt.shutdown_timeout(Duration::from_secs(5));
    assert!(h.cloud.objects().len() >= k);

    let state = h.store.load().unwrap();
    assert!(
        !state.pending.is_empty(),
        "K={k}: the interrupted create is pending on disk"
    );
    let pending_creates = state.pending.len();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let final_state = rt.block_on(async {
        let writer: StateWriter = state::writer::spawn(h.store.clone(), state.clone());
        let recovery = recover_pending(
            &state,
            &h.providers,
            &writer,
            Arc::new(SilentObserver),
            &h.stack,
        )
        .await
        .unwrap();
        assert_eq!(recovery.recovered.len(), pending_creates);
        assert!(recovery
            .recovered
            .iter()
            .any(|r| matches!(r.resolution, Resolution::Adopted { .. })));
        let now = writer.snapshot().await.unwrap();
        assert!(now.pending.is_empty());
        assert!(
            h.store.load().unwrap().pending.is_empty(),
            "recovery is saved"
        );

        // The real planner, refreshed: adopted resources are no-ops, the rest creates.
        let plan = real_plan(&h, &bp, &now, true).await;
        assert!(plan
            .changes
            .iter()
            .all(|c| matches!(c.action, Action::NoOp | Action::Create)));
        let report = apply(
            &plan,
            &h.providers,
            &writer,
            Arc::new(SilentObserver),
            &h.options(4),
        )
        .await;
        assert_clean(&report);
        let done = writer.close().await.unwrap();
        assert_all_no_op(&real_plan(&h, &bp, &done, true).await, &format!("K={k}"));
        done
    });

    let objects = h.cloud.objects();
    let mut per_address: BTreeMap<Address, usize> = BTreeMap::new();
    for o in objects.values() {
        assert_eq!(o.owner.0, h.stack);
        assert_eq!(o.kind, "fake_thing");
        *per_address.entry(o.owner.1.clone()).or_default() += 1;
    }
    assert_eq!(per_address.len(), 15, "K={k}: every address exists");
    assert!(
        per_address.values().all(|n| *n == 1),
        "K={k}: duplicates {per_address:?}"
    );
    assert!(final_state.pending.is_empty());
    assert_eq!(final_state.resources.len(), 15);
    for r in &final_state.resources {
        assert_eq!(
            objects[&r.id].owner.1, r.address,
            "K={k}: state id matches cloud"
        );
    }
    assert_eq!(h.store.load().unwrap(), final_state);
}

#[tokio::test]
async fn plan_right_after_apply_is_all_no_op() {
    let h = Harness::new(Duration::ZERO);
    let bp = tree(20);
    let first = real_plan(&h, &bp, &h.store.load().unwrap(), true).await;
    assert_eq!(first.summary().add, 20);
    let (report, state, _) = h.run(&first, 10).await;
    assert_clean(&report);
    assert_eq!(
        state.outputs["first_arn"],
        Value::str(format!("arn:fake:{}", state.resources[0].id))
    );
    assert_all_no_op(&real_plan(&h, &bp, &state, false).await, "without refresh");
    assert_all_no_op(&real_plan(&h, &bp, &state, true).await, "with refresh");
    // And a destroy converges to nothing.
    let destroy = nova::plan::destroy_plan(&h.stack, &state, &h.providers);
    let (report, state, _) = h.run(&destroy, 10).await;
    assert_clean(&report);
    assert!(state.resources.is_empty() && state.pending.is_empty());
    assert!(h.cloud.objects().is_empty());
}

#[test]
fn crash_after_the_kth_create_then_recover_leaves_no_duplicates() {
    for k in [1, 3, 7, 12] {
        crash_then_recover(k);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_writer_coalesces_state_writes() {
    let h = Harness::new(Duration::ZERO);
    let n = 1000;
    let bp = blueprint((0..n).map(|i| thing(&format!("c{i:04}"), &[])).collect());
    let started = std::time::Instant::now();
    let (report, state, writes) = h.converge(&bp, 10).await;
    assert_clean(&report);
    assert_eq!(state.resources.len(), n);
    println!(
        "{n} resources at parallelism 10: {writes} state writes (naive: {}), {:?}",
        2 * n,
        started.elapsed()
    );
    assert!(
        writes as usize <= n + 2,
        "{writes} writes for {n} resources"
    );
    assert_eq!(h.store.load().unwrap().serial, writes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_of_interrupted_updates_and_deletes() {
    let h = Harness::new(Duration::ZERO);
    let bp = blueprint(vec![thing("a", &[]), thing("b", &[]), thing("c", &[])]);
    let (report, mut state, _) = h.converge(&bp, 2).await;
    assert_clean(&report);
    let id = |s: &State, n: &str| s.get(&addr(n)).unwrap().id.clone();
    // `a`: update interrupted. `b`: delete interrupted after the object went.
    // `c`: delete interrupted before anything happened.
    let mut new_inputs = state.get(&addr("a")).unwrap().inputs.clone();
    new_inputs.insert("extra".into(), Value::Int(1));
    let pending = |n: &str, operation, inputs: Inputs| nova::state::PendingOperation {
        address: addr(n),
        kind: "fake_thing".into(),
        operation,
        id: Some(id(&state, n)),
        inputs,
        dependencies: BTreeSet::new(),
        client_token: "nova-test".into(),
        started_at: "2024-01-01T00:00:00Z".into(),
    };
    let ops = vec![
        pending("a", Operation::Update, new_inputs.clone()),
        pending("b", Operation::Delete, Inputs::new()),
        pending("c", Operation::Delete, Inputs::new()),
    ];
    h.cloud.objects.lock().unwrap().remove(&id(&state, "b"));
    state.pending = ops;
    h.store.write(&mut state).unwrap();

    let state = h.store.load().unwrap();
    let writer = state::writer::spawn(h.store.clone(), state.clone());
    let report = recover_pending(
        &state,
        &h.providers,
        &writer,
        Arc::new(SilentObserver),
        &h.stack,
    )
    .await
    .unwrap();
    let resolutions: Vec<(String, Resolution)> = report
        .recovered
        .iter()
        .map(|r| (r.address.to_string(), r.resolution.clone()))
        .collect();
    assert_eq!(
        resolutions,
        [
            ("fake_thing.a".to_string(), Resolution::Refreshed),
            ("fake_thing.b".to_string(), Resolution::Gone),
            ("fake_thing.c".to_string(), Resolution::StillPresent),
        ]
    );
    let after = writer.close().await.unwrap();
    assert!(after.pending.is_empty());
    assert_eq!(after.get(&addr("a")).unwrap().inputs, new_inputs);
    assert!(after.get(&addr("b")).is_none());
    assert!(after.get(&addr("c")).is_some());
    assert_eq!(h.store.load().unwrap(), after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_write_failure_stops_the_run_before_any_call() {
    let h = Harness::new(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let store = StateStore::new(blocker.join("state"), "test");
    let writer = state::writer::spawn(store, State::new());
    let bp = blueprint(vec![thing("a", &[]), thing("b", &[]), thing("c", &[])]);
    let plan = converge_plan(&bp, &State::new());
    let report = apply(
        &plan,
        &h.providers,
        &writer,
        Arc::new(SilentObserver),
        &h.options(1),
    )
    .await;
    assert_eq!(report.failed.len(), 1);
    let message = report.failed[0].to_string();
    assert!(
        message.starts_with("fake_thing.a: create not started: the state could not be saved"),
        "{message}"
    );
    assert_eq!(report.not_started, [addr("b"), addr("c")]);
    assert!(
        h.cloud.calls().is_empty(),
        "no provider call after the failure"
    );
    assert!(writer.close().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_object_left_by_a_failed_delete_is_deleted_by_the_next_apply() {
    let h = Harness::new(Duration::ZERO);
    let (x, mut bp) = pair("fake_cbd");
    let (report, state, _) = h.converge(&bp, 2).await;
    assert_clean(&report);
    let old_id = state.get(&x).unwrap().id.clone();
    h.cloud.fail_delete.lock().unwrap().insert(old_id.clone());

    bp.resources[0] = Resource::new(x.clone()).with("name", "x2");
    let mut cr = change(&addr("r"), Action::Update);
    cr.dependencies = [x.clone()].into();
    cr.prior_dependencies = [x.clone()].into();
    let plan = Plan {
        stack: "test".into(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        blueprint: bp.clone(),
        changes: vec![
            cr,
            change(
                &x,
                Action::Replace {
                    create_before_destroy: true,
                },
            ),
        ],
        deposed: Vec::new(),
        scope: Default::default(),
        records: Default::default(),
    };
    let (report, state, _) = h.run(&plan, 2).await;
    assert_eq!(report.failed.len(), 1, "the old object's delete failed");
    assert_eq!(state.deposed.len(), 1);
    assert_eq!(state.deposed[0].id, old_id);
    assert_ne!(state.get(&x).unwrap().id, old_id);
    assert_eq!(h.cloud.objects().len(), 3);

    h.cloud.fail_delete.lock().unwrap().clear();
    let plan = converge_plan(&bp, &state);
    assert!(!plan.has_changes());
    let (report, state, _) = h.run(&plan, 2).await;
    assert_clean(&report);
    assert_eq!(report.completed.len(), 1);
    assert_eq!(
        report.completed[0].what,
        format!("delete deposed object {old_id}")
    );
    assert!(state.deposed.is_empty());
    assert_eq!(h.cloud.objects().len(), 2);
    assert!(!h.cloud.objects().contains_key(&old_id));
}

// ---------------------------------------------------------------- uncertain creates

/// The objects the fake cloud holds for `address` (what a duplicate would show).
fn objects_of(h: &Harness, address: &Address) -> Vec<String> {
    h.cloud
        .objects()
        .into_iter()
        .filter(|(_, o)| &o.owner.1 == address)
        .map(|(id, _)| id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_was_lost_is_adopted_not_made_twice() {
    let h = Harness::new(Duration::from_millis(1));
    let bp = tree(3);
    let lost = addr("r01");
    h.cloud
        .lose_create_answer
        .lock()
        .unwrap()
        .insert(lost.clone(), 1);
    let (report, state, _) = h.converge(&bp, 2).await;
    assert_clean(&report);
    let made = objects_of(&h, &lost);
    assert_eq!(made.len(), 1, "one object for {lost}: {made:?}");
    assert_eq!(
        state.get(&lost).unwrap().id,
        made[0],
        "the lost one, adopted"
    );
    let creates: Vec<&str> = h
        .cloud
        .calls()
        .iter()
        .filter(|c| c.address == lost)
        .map(|c| c.op)
        .collect();
    assert_eq!(creates, ["create-answer-lost"], "no second create");
    assert!(state.pending.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_create_is_tried_again_and_makes_one() {
    let h = Harness::new(Duration::from_millis(1));
    let bp = tree(2);
    let throttled = addr("r01");
    h.cloud
        .throttle_create
        .lock()
        .unwrap()
        .insert(throttled.clone(), 2);
    let (report, state, _) = h.converge(&bp, 2).await;
    assert_clean(&report);
    assert_eq!(objects_of(&h, &throttled).len(), 1);
    let ops: Vec<&str> = h
        .cloud
        .calls()
        .iter()
        .filter(|c| c.address == throttled)
        .map(|c| c.op)
        .collect();
    assert_eq!(ops, ["create-throttled", "create-throttled", "create"]);
    assert!(state.get(&throttled).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_held_by_someone_else_fails_clearly_and_makes_nothing() {
    let h = Harness::new(Duration::from_millis(1));
    let bp = tree(2);
    let taken = addr("r01");
    h.cloud.taken.lock().unwrap().insert(taken.clone());
    let (report, state, _) = h.converge(&bp, 2).await;
    assert_eq!(report.failed.len(), 1);
    let message = report.failed[0].to_string();
    assert!(
        message.contains("belongs to someone else") && message.contains("fake_thing.r01"),
        "{message}"
    );
    assert!(objects_of(&h, &taken).is_empty());
    assert!(state.pending.is_empty(), "nothing is left to resolve");
    assert!(
        state.get(&addr("r00")).is_some(),
        "independent work was done"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_outcome_stays_pending_and_the_next_run_adopts_it() {
    let h = Harness::new(Duration::from_millis(1));
    let bp = tree(2);
    let lost = addr("r01");
    h.cloud
        .lose_create_answer
        .lock()
        .unwrap()
        .insert(lost.clone(), 1);
    h.cloud.fail_find.lock().unwrap().insert(lost.clone());
    let (report, state, _) = h.converge(&bp, 2).await;
    assert_eq!(report.failed.len(), 1);
    let message = report.failed[0].to_string();
    assert!(message.contains("stays pending"), "{message}");
    assert_eq!(
        state.pending.len(),
        1,
        "the create is still pending on disk"
    );
    assert_eq!(state.pending[0].address, lost);

    h.cloud.fail_find.lock().unwrap().clear();
    let writer = state::writer::spawn(h.store.clone(), state.clone());
    let recovery = recover_pending(
        &state,
        &h.providers,
        &writer,
        Arc::new(SilentObserver),
        &h.stack,
    )
    .await
    .unwrap();
    writer.close().await.unwrap();
    assert!(matches!(
        recovery.recovered[0].resolution,
        Resolution::Adopted { .. }
    ));
    let (report, state, _) = h.converge(&bp, 2).await;
    assert_clean(&report);
    assert_eq!(objects_of(&h, &lost).len(), 1, "adopted, never made twice");
    assert!(state.pending.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_answer_in_a_create_before_destroy_replacement_never_adopts_the_old_object() {
    let h = Harness::new(Duration::from_millis(1));
    let (x, mut bp) = pair("fake_cbd");
    let (report, state, _) = h.converge(&bp, 4).await;
    assert_clean(&report);
    let old_id = state.get(&x).unwrap().id.clone();

    bp.resources[0] = Resource::new(x.clone()).with("name", "x2");
    let mut cx = change(
        &x,
        Action::Replace {
            create_before_destroy: true,
        },
    );
    cx.dependencies = BTreeSet::new();
    let mut cr = change(&addr("r"), Action::Update);
    cr.dependencies = [x.clone()].into();
    cr.prior_dependencies = [x.clone()].into();
    let plan = Plan {
        stack: "test".into(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        blueprint: bp.clone(),
        changes: vec![cr, cx],
        deposed: Vec::new(),
        scope: Default::default(),
        records: Default::default(),
    };
    h.cloud
        .lose_create_answer
        .lock()
        .unwrap()
        .insert(x.clone(), 1);
    let (report, state, _) = h.run(&plan, 4).await;
    assert_clean(&report);
    let new_id = state.get(&x).unwrap().id.clone();
    assert_ne!(
        new_id, old_id,
        "the new object, not the old one with the same tags"
    );
    assert_eq!(
        objects_of(&h, &x),
        [new_id],
        "the old one is deleted, no extra"
    );
}
