//! What each `Nova.toml` key does when it changes, rendered from real plans and checked
//! against the table "When a setting changes" in docs/stack.md: for each change of
//! `common::keys::CHANGES`, the default stack (or the row's starting point) is deployed
//! into the fake cloud of `common::fake` with the real engine, the key is changed, and the
//! plan (or the refusal) becomes the row. The table in the docs must be exactly this one;
//! `NOVA_UPDATE_DOCS=1` writes it there. `tests/config_changes.rs` makes the same changes
//! on LocalStack and checks each plan against the docs' row.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::fake::{every_kind, Cloud};
use common::keys::{self, KeyChange, CHANGES};
use nova::apply::SilentObserver;
use nova::config::{self, StackConfig};
use nova::engine::{self, HookError, Hooks, Offline, Outcome, Run, UpRequest};
use nova::plan::{render_json, Plan};
use nova::state::{Backend, StateStore};

const STACK: &str = "production";
const OTHER_AMI: &str = "ami-0fedcba9876543210";

struct Yes;

impl Hooks for Yes {
    fn confirm(&self, _plan: &Plan) -> Result<bool, HookError> {
        Ok(true)
    }
}

fn parse(text: &str, env: &[(String, String)]) -> Result<StackConfig, config::ConfigError> {
    let lookup = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    config::parse(text, Path::new("Nova.toml"), STACK, &lookup)
}

fn run<'a>(config: &'a StackConfig, providers: &'a nova::provider::Providers) -> Run<'a> {
    Run {
        stack: STACK,
        config,
        providers,
        observer: Arc::new(SilentObserver),
        parallelism: 4,
    }
}

/// The row of `change`: deploy its starting point, change the key, plan.
async fn effect(change: &KeyChange) -> keys::Effect {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path(), STACK);
    let cloud = Cloud::new(std::time::Duration::ZERO);
    let providers = every_kind(&cloud);
    let default_text = KeyChange {
        project: None,
        ..*change
    }
    .config_text();
    let before_env: Vec<(String, String)> = change
        .before
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let before = parse(&default_text, &before_env).expect("the starting point is valid");
    let outcome = engine::up(
        &run(&before, &providers),
        &Backend::from(store.clone()),
        store.load().unwrap(),
        UpRequest::default(),
        &Offline,
        &Yes,
    )
    .await
    .expect("deploy the starting point");
    let Outcome::Applied { report, .. } = outcome else {
        panic!("{}: not applied", change.key);
    };
    assert!(report.is_success(), "{report:?}");

    let after = match parse(&change.config_text(), &change.after_with(OTHER_AMI)) {
        Ok(config) => config,
        Err(e) => return keys::refusal(&e.to_string()),
    };
    let state = store.load().unwrap();
    let context = engine::context::offline(&after, &state).expect("offline context");
    let blueprint = nova::stack::blueprint(&after, &context);
    match engine::plan(&run(&after, &providers), &blueprint, &state, false, &Yes).await {
        Ok(plan) => keys::effect_of(&render_json(&plan)),
        Err(e) => keys::refusal(&e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_key_table_in_docs_is_what_the_plans_say() {
    let mut lines = vec![keys::HEADER.to_string()];
    for change in CHANGES {
        lines.push(keys::row(change, &effect(change).await));
    }
    let table = lines.join("\n");
    if std::env::var("NOVA_UPDATE_DOCS").is_ok_and(|v| v == "1") {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/stack.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let start = text.find(keys::BEGIN).expect("begin marker") + keys::BEGIN.len();
        let end = text.find(keys::END).expect("end marker");
        let updated = format!("{}\n{table}\n{}", &text[..start], &text[end..]);
        std::fs::write(&path, updated).unwrap();
    }
    assert_eq!(
        keys::documented_table(),
        table,
        "docs/stack.md's key table differs from the plans (NOVA_UPDATE_DOCS=1 rewrites it)"
    );
}

#[test]
fn every_key_nova_knows_has_a_row() {
    let mut documented: Vec<&str> = CHANGES.iter().map(|c| c.key).collect();
    documented.dedup();
    let mut known = config::setting_keys();
    known.push("project");
    assert_eq!(
        documented, known,
        "CHANGES follows the keys in Nova.toml's order"
    );
}

/// The promise, pinned here as well as in the table: a bigger type, a bigger disk
/// and one more zone replace nothing and remove nothing; one zone fewer removes only the
/// third zone's resources.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn everyday_changes_replace_and_remove_nothing() {
    let rows = [
        ("instance_type", "`t3.micro` → `t3.small`"),
        ("root_volume_size", "8 → 16"),
        ("az_count", "2 → 3"),
        ("az_count", "3 → 2"),
        ("az_count", "2 → 3 with `nat = \"per_az\"`"),
        ("az_count", "3 → 2 with `nat = \"per_az\"`"),
    ];
    for (key, shown) in rows {
        let change = CHANGES
            .iter()
            .find(|c| c.key == key && c.shown == shown)
            .expect("a row of the table");
        let effect = effect(change).await;
        let what = format!("{key} {shown}");
        assert_eq!(effect.refused, "", "{what}");
        assert_eq!(effect.replaced, "—", "{what} replaces nothing");
        if shown.starts_with("3 → 2") {
            assert_ne!(effect.removed, "—", "{what} removes the third zone's");
            for cell in effect.removed.split(", ") {
                assert!(
                    cell.ends_with("[2]`"),
                    "{what} removes only zone 2's: {cell}"
                );
            }
        } else {
            assert_eq!(effect.removed, "—", "{what} removes nothing");
        }
    }
}
