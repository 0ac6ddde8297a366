//! `nova up`: resolve what a crashed run left pending, plan (or load a saved plan),
//! check it, confirm, apply in parallel, report.

use std::sync::Arc;

use anyhow::bail;

use super::args::UpArgs;
use super::exit::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use super::progress::Printer;
use super::session::{Aws, Session};
use super::{check, confirm, plan as plan_cmd, style};
use crate::apply::{self, ApplyObserver, ApplyOptions, ApplyReport};
use crate::plan::{render_human, Plan};
use crate::stack::blueprint;
use crate::state::{self, State, StateWriter};

pub async fn run(session: &Session, args: &UpArgs) -> anyhow::Result<i32> {
    let config = session.config()?;
    let saved = args
        .plan_file
        .as_deref()
        .map(plan_cmd::load_saved)
        .transpose()?;
    session.lock("nova up").await?;
    let mut state = session.load_state().await?;
    if let Some(saved) = &saved {
        check_saved_plan_matches(saved, &mut state, session)?;
    }
    let aws = session.connect(&config).await;
    let observer: Arc<dyn ApplyObserver> = Arc::new(Printer::stdout());
    let writer = state::writer::spawn(session.store.clone(), state);
    let state = recover(session, &aws, &writer, observer.clone()).await?;

    let context = session.stack_context(&aws, &config, &state).await?;
    let plan = match saved {
        Some(saved) => {
            if state.serial != saved.serial {
                bail!("the state changed while resolving pending operations; make a new plan with `nova plan`");
            }
            saved
        }
        None => {
            let blueprint = blueprint(&config, &context);
            session
                .plan(
                    &aws,
                    &blueprint,
                    &state,
                    args.refresh,
                    usize::from(args.parallelism),
                    observer.clone(),
                )
                .await?
        }
    };
    print!("{}", render_human(&plan, style::color_stdout()));

    let findings = check::plan_report(&config, &context.account_id, &plan.blueprint);
    if check::print_plan_findings(&findings) && !args.allow_findings {
        eprintln!("\nRefusing to apply: the plan has error-level findings. Fix them, or pass --allow-findings to apply anyway.");
        writer.close().await?;
        return Ok(EXIT_FINDINGS);
    }
    if plan.has_changes() && !confirm::confirm(args.yes, "Do you want to perform these actions?")? {
        println!("Apply cancelled.");
        writer.close().await?;
        return Ok(EXIT_ERROR);
    }
    let options = ApplyOptions {
        parallelism: usize::from(args.parallelism),
        stack: session.stack.clone(),
    };
    let report = apply::apply(&plan, &aws.providers, &writer, observer, &options).await;
    let writes = writer.clone();
    writer.close().await?;
    let code = finish(&plan, &report, "Apply");
    println!("{}", session.state_report(writes.writes()));
    println!("AWS API calls: {}", aws.clients.calls.count());
    Ok(code)
}

/// A saved plan applies only to the state it was made from.
fn check_saved_plan_matches(
    saved: &Plan,
    state: &mut State,
    session: &Session,
) -> anyhow::Result<()> {
    if saved.stack != session.stack {
        bail!(
            "the plan was made for stack `{}`, not `{}`",
            saved.stack,
            session.stack
        );
    }
    // No state file yet: the plan was made against the same empty state.
    if state.serial == 0 && saved.serial == 0 && state.resources.is_empty() {
        state.lineage = saved.lineage.clone();
        return Ok(());
    }
    if saved.lineage != state.lineage || saved.serial != state.serial {
        bail!(
            "the saved plan is stale: it was made from state lineage {} serial {}, but the state {} is now lineage {} serial {}; make a new plan with `nova plan --out`",
            saved.lineage,
            saved.serial,
            session.store.location(),
            state.lineage,
            state.serial
        );
    }
    Ok(())
}

/// Resolves pending operations left by a crashed run; returns the state afterwards.
pub async fn recover(
    session: &Session,
    aws: &Aws,
    writer: &StateWriter,
    observer: Arc<dyn ApplyObserver>,
) -> anyhow::Result<State> {
    let state = writer.snapshot().await?;
    if state.pending.is_empty() {
        return Ok(state);
    }
    println!(
        "Resolving {} operation(s) left pending by an interrupted run...",
        state.pending.len()
    );
    let report =
        apply::recover_pending(&state, &aws.providers, writer, observer, &session.stack).await?;
    for r in &report.recovered {
        println!(
            "{}: pending {}: {}",
            r.address,
            r.operation.as_str(),
            r.resolution
        );
    }
    Ok(writer.snapshot().await?)
}

/// Prints the closing summary; returns the exit code.
pub fn finish(plan: &Plan, report: &ApplyReport, what: &str) -> i32 {
    if report.is_success() {
        let s = plan.summary();
        println!(
            "\n{what} complete! Resources: {} added, {} changed, {} replaced, {} destroyed.",
            s.add, s.change, s.replace, s.destroy
        );
        return EXIT_OK;
    }
    eprintln!("\n{what} failed: {} error(s).", report.failed.len());
    for err in &report.failed {
        eprintln!("  - {err}");
    }
    for (address, upstream) in &report.skipped {
        eprintln!("  - {address}: skipped (upstream failed: {upstream})");
    }
    for address in &report.not_started {
        eprintln!("  - {address}: not started (the run stopped)");
    }
    eprintln!(
        "The state records everything that was done; fix the cause and run the command again."
    );
    EXIT_ERROR
}
