//! Replacements in every combination, with the real planner and executor against the fake
//! cloud of `common::fake`, which refuses, as AWS does, a create whose unique name clashes
//! with a live object's, a create or update that refers to a deleted object, and the delete
//! of an object still used through a field that blocks deletes. A parent (create-before-
//! destroy kind or not; renamed, or replaced under the same name, which must be free
//! first) and a child that refers to it (through a force-new field, an in-place field that
//! blocks the parent's delete, or one that does not; renamed or not; of either kind): each
//! plan either applies without a single refusal, a cycle or a failure and plans clean
//! after, or is refused at plan time for the one reason that makes it impossible (the
//! parent must go first while a child that is only updated still uses it). Then chains,
//! a new object that takes another's old name, a clash with an object that stays, and a
//! swap of names (refused at plan time: each new object waits for the other's old one).

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use common::fake::{with_schemas, Cloud};
use nova::apply::{apply, ApplyOptions, SilentObserver};
use nova::model::{Address, Blueprint, Resource, Value};
use nova::plan::{plan, Action, NoNotes, Plan, PlanInput};
use nova::provider::{Field, FieldType, Providers, Schema};
use nova::state::{self, State, StateStore};

const CBD_KIND: &str = "t_cbd";
const DBC_KIND: &str = "t_dbc";

/// A kind with a unique `name`, a force-new `key`, and three ways to refer to another
/// object: `parent` (force-new, blocks its delete), `attached` (in place, blocks its
/// delete), `linked` (in place, does not).
fn kind(name: &'static str, create_before_destroy: bool) -> Schema {
    let string = |n: &'static str| Field::new(n, FieldType::String);
    Schema {
        kind: Cow::Borrowed(name),
        fields: Cow::Owned(vec![
            string("name").force_new().unique_within(&[]),
            string("key").force_new(),
            string("parent").force_new().blocks_delete(),
            string("attached").blocks_delete(),
            string("linked"),
        ]),
        outputs: Cow::Borrowed(&["id"]),
        create_before_destroy,
    }
}

fn kind_name(cbd: bool) -> &'static str {
    if cbd {
        CBD_KIND
    } else {
        DBC_KIND
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    store: StateStore,
    cloud: Arc<Cloud>,
    providers: Providers,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), "test");
        let cloud = Cloud::new(std::time::Duration::ZERO);
        let providers = with_schemas(&cloud, vec![kind(CBD_KIND, true), kind(DBC_KIND, false)]);
        Harness {
            _dir: dir,
            store,
            cloud,
            providers,
        }
    }

    fn state(&self) -> State {
        self.store.load().unwrap()
    }

    /// The real planner, and the check `nova plan` makes (no operation cycle).
    fn plan(&self, bp: &Blueprint) -> Result<Plan, String> {
        let state = self.state();
        let p = plan(&PlanInput {
            stack: "test",
            blueprint: bp,
            state: &state,
            observed: None,
            schemas: &self.providers.schemas(),
            notes: &NoNotes,
        })
        .map_err(|e| e.to_string())?;
        nova::engine::check_order(&p, &state).map_err(|e| e.to_string())?;
        Ok(p)
    }

    /// Plans and applies `bp`: every operation succeeds and the cloud refuses nothing.
    async fn up(&self, bp: &Blueprint, context: &str) -> Plan {
        let p = self
            .plan(bp)
            .unwrap_or_else(|e| panic!("{context}: plan refused: {e}"));
        let writer = state::writer::spawn(self.store.clone(), self.state());
        let report = apply(
            &p,
            &self.providers,
            &writer,
            Arc::new(SilentObserver),
            &ApplyOptions {
                parallelism: 4,
                stack: "test".into(),
            },
        )
        .await;
        writer.close().await.unwrap();
        assert!(
            report.is_success(),
            "{context}: failed {:?}, skipped {:?}",
            report
                .failed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            report.skipped
        );
        let refused = self.cloud.refusals.lock().unwrap().clone();
        assert!(
            refused.is_empty(),
            "{context}: the cloud refused {refused:#?}"
        );
        let again = self.plan(bp).expect("plan again");
        assert!(!again.has_changes(), "{context}: not clean after apply");
        p
    }

    /// The live objects' names, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .cloud
            .objects()
            .values()
            .filter_map(|o| {
                o.inputs
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        names.sort();
        names
    }
}

fn res(kind: &str, name: &str, object: &str, key: &str) -> Resource {
    Resource::new(Address::new(kind, name))
        .with("name", object)
        .with("key", key)
}

fn blueprint(resources: Vec<Resource>) -> Blueprint {
    Blueprint {
        resources,
        outputs: BTreeMap::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParentChange {
    /// A new name and key: no clash with the old object.
    Renamed,
    /// A new key under the same name: the old object must go first.
    SameName,
}

const RELATIONS: [&str; 3] = ["parent", "attached", "linked"];

fn action(p: &Plan, address: &Address) -> Action {
    p.change(address).expect("planned").action
}

fn replace(cbd: bool) -> Action {
    Action::Replace {
        create_before_destroy: cbd,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_combination_of_replacement_modes_applies_or_is_refused_at_plan_time() {
    let mut applied = 0;
    let mut refused = 0;
    for parent_cbd in [true, false] {
        for change in [ParentChange::Renamed, ParentChange::SameName] {
            for child_cbd in [true, false] {
                for relation in RELATIONS {
                    for child_renamed in [false, true] {
                        let context = format!(
                            "parent {} {change:?}, child {} via `{relation}`, renamed {child_renamed}",
                            kind_name(parent_cbd),
                            kind_name(child_cbd)
                        );
                        let h = Harness::new();
                        let pk = kind_name(parent_cbd);
                        let ck = kind_name(child_cbd);
                        let p_addr = Address::new(pk, "p");
                        let c_addr = Address::new(ck, "c");
                        let v1 = blueprint(vec![
                            res(pk, "p", "p", "1"),
                            res(ck, "c", "c", "1").with(relation, Value::reference(&p_addr, "id")),
                        ]);
                        h.up(&v1, &format!("{context}: first up")).await;

                        let p_name = if change == ParentChange::Renamed {
                            "p2"
                        } else {
                            "p"
                        };
                        let c_name = if child_renamed { "c2" } else { "c" };
                        let v2 = blueprint(vec![
                            res(pk, "p", p_name, "2"),
                            res(ck, "c", c_name, "1")
                                .with(relation, Value::reference(&p_addr, "id")),
                        ]);

                        let parent_first = !parent_cbd || change == ParentChange::SameName;
                        let child_replaced = relation == "parent" || child_renamed;
                        if parent_first && !child_replaced && relation == "attached" {
                            let err = h.plan(&v2).expect_err(&context);
                            assert!(
                                err.contains("must be deleted before its replacement is created")
                                    && err.contains("through `attached`"),
                                "{context}: {err}"
                            );
                            assert_eq!(h.names(), ["c", "p"], "{context}: nothing changed");
                            refused += 1;
                            continue;
                        }
                        let p = h.up(&v2, &context).await;
                        assert_eq!(action(&p, &p_addr), replace(!parent_first), "{context}");
                        let child_first = !child_cbd || !child_renamed || parent_first;
                        let expected = if child_replaced {
                            replace(!child_first)
                        } else {
                            Action::Update
                        };
                        assert_eq!(action(&p, &c_addr), expected, "{context}");
                        let mut names = vec![c_name.to_string(), p_name.to_string()];
                        names.sort();
                        assert_eq!(h.names(), names, "{context}: live objects");
                        applied += 1;
                    }
                }
            }
        }
    }
    assert_eq!((applied, refused), (42, 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_first_spreads_down_a_chain() {
    let h = Harness::new();
    let g = Address::new(DBC_KIND, "g");
    let p = Address::new(CBD_KIND, "p");
    let v = |key: &str| {
        blueprint(vec![
            res(DBC_KIND, "g", "g", key),
            res(CBD_KIND, "p", "p", "1").with("parent", Value::reference(&g, "id")),
            res(CBD_KIND, "c", "c", "1").with("parent", Value::reference(&p, "id")),
            res(CBD_KIND, "u", "u", "1").with("linked", Value::reference(&p, "id")),
        ])
    };
    h.up(&v("1"), "first up").await;
    let plan = h.up(&v("2"), "grandparent replaced").await;
    for name in ["p", "c"] {
        assert_eq!(
            action(&plan, &Address::new(CBD_KIND, name)),
            replace(false),
            "{name}"
        );
    }
    assert_eq!(action(&plan, &Address::new(CBD_KIND, "u")), Action::Update);
    assert_eq!(h.names(), ["c", "g", "p", "u"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_object_takes_an_old_name_once_it_is_free() {
    let h = Harness::new();
    let a = |name: &str| res(CBD_KIND, "a", name, "1");
    h.up(&blueprint(vec![a("shared")]), "first up").await;
    // a moves to a new name; a new object b takes the old one.
    let p = h
        .up(
            &blueprint(vec![a("a-new"), res(CBD_KIND, "b", "shared", "1")]),
            "rename and reuse",
        )
        .await;
    let b = p.change(&Address::new(CBD_KIND, "b")).unwrap();
    assert_eq!(b.waits_for_old, [Address::new(CBD_KIND, "a")].into());
    assert_eq!(h.names(), ["a-new", "shared"]);

    // The name of an object that stays is refused at plan time.
    let err = h
        .plan(&blueprint(vec![
            a("a-new"),
            res(CBD_KIND, "b", "shared", "1"),
            res(CBD_KIND, "x", "a-new", "1"),
        ]))
        .unwrap_err();
    assert!(err.contains("which stays"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_swap_of_names_is_refused_at_plan_time() {
    let h = Harness::new();
    let v =
        |x: &str, y: &str| blueprint(vec![res(CBD_KIND, "a", x, "1"), res(CBD_KIND, "b", y, "1")]);
    h.up(&v("one", "two"), "first up").await;
    let err = h.plan(&v("two", "one")).unwrap_err();
    assert!(
        err.contains("would wait for each other in a cycle"),
        "{err}"
    );
    assert_eq!(h.names(), ["one", "two"], "nothing changed");
}
