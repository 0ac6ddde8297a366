//! `nova plan`: refresh, plan, print (text or JSON), optionally save for `nova up FILE`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::args::PlanArgs;
use super::exit::{EXIT_CHANGES, EXIT_OK};
use super::progress::Printer;
use super::session::Session;
use super::{check, style};
use crate::plan::{render_human, render_json, Plan};
use crate::stack::blueprint;

/// A saved plan file: `nova plan --out FILE`.
#[derive(Debug, Serialize, Deserialize)]
struct SavedPlan {
    format: String,
    format_version: u32,
    plan: Plan,
}

const SAVED_PLAN_FORMAT: &str = "nova-plan";
const SAVED_PLAN_VERSION: u32 = 1;

pub async fn run(session: &Session, args: &PlanArgs) -> anyhow::Result<i32> {
    let config = session.config()?;
    session.lock("nova plan").await?;
    let state = session.load_state().await?;
    let aws = session.connect(&config).await;
    let context = session.stack_context(&aws, &config, &state).await?;
    let blueprint = blueprint(&config, &context);
    let findings = check::plan_report(&config, &context.account_id, &blueprint);
    if !state.pending.is_empty() {
        eprintln!(
            "Warning: {} operation(s) of an interrupted run are pending in the state {}; `nova up` resolves them before applying.",
            state.pending.len(),
            session.store.location()
        );
    }
    let plan = session
        .plan(
            &aws,
            &blueprint,
            &state,
            args.refresh,
            10,
            Arc::new(if args.json {
                Printer::stderr()
            } else {
                Printer::stdout()
            }),
        )
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&render_json(&plan))?);
    } else {
        print!("{}", render_human(&plan, style::color_stdout()));
        check::print_plan_findings(&findings);
    }
    if let Some(out) = &args.out {
        save(&plan, out)?;
        eprintln!(
            "Saved the plan to {}; apply it with: nova up {}",
            out.display(),
            out.display()
        );
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

fn save(plan: &Plan, path: &Path) -> anyhow::Result<()> {
    let saved = SavedPlan {
        format: SAVED_PLAN_FORMAT.to_string(),
        format_version: SAVED_PLAN_VERSION,
        plan: plan.clone(),
    };
    let text = serde_json::to_string_pretty(&saved)?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("cannot write the plan to {}", path.display()))
}

/// The first fields of a saved plan, read before the plan itself so that a plan file of
/// another format version is named as such rather than failing on its first changed field.
#[derive(Debug, Deserialize)]
struct SavedPlanHeader {
    format: String,
    format_version: u32,
}

/// Reads a saved plan, refusing anything that is not one.
pub fn load_saved(path: &Path) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the plan file {}", path.display()))?;
    let not_a_plan = || {
        format!(
            "{} is not a plan saved by `nova plan --out`",
            path.display()
        )
    };
    let header: SavedPlanHeader = serde_json::from_str(&text).with_context(not_a_plan)?;
    if header.format != SAVED_PLAN_FORMAT {
        anyhow::bail!("{}: its format is `{}`", not_a_plan(), header.format);
    }
    if header.format_version != SAVED_PLAN_VERSION {
        anyhow::bail!(
            "{} is a {SAVED_PLAN_FORMAT} v{} file; this nova reads {SAVED_PLAN_FORMAT} v{SAVED_PLAN_VERSION}: make a new plan with `nova plan --out`",
            path.display(),
            header.format_version
        );
    }
    let saved: SavedPlan = serde_json::from_str(&text)
        .with_context(|| format!("{} is a damaged plan file", path.display()))?;
    Ok(saved.plan)
}
