//! `nova up`: load a saved plan if one is given, then run the engine's `up` (resolve what a
//! crashed run left pending, plan, check, confirm, apply in parallel) and report.

use super::args::UpArgs;
use super::exit::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use super::hooks::Terminal;
use super::scope;
use super::session::Session;
use crate::apply::ApplyReport;
use crate::engine::{self, FromAws, Outcome, UpRequest};
use crate::plan::{Plan, SavedPlan};

pub async fn run(session: &Session, args: &UpArgs) -> anyhow::Result<i32> {
    let config = session.config()?;
    if args.plan_file.is_some() && args.scope.any() {
        anyhow::bail!(
            "--target, --exclude, --replace and --refresh-only cannot be used with a saved plan: \
             it was made with its own (make it with `nova plan --out FILE` and those options)"
        );
    }
    let options = args.scope.options();
    if options.refresh_only && !args.refresh {
        anyhow::bail!(
            "--refresh-only reads every resource back: it cannot be combined with --refresh=false"
        );
    }
    let saved = args.plan_file.as_deref().map(SavedPlan::load).transpose()?;
    session.lock("nova up").await?;
    let state = session.load_state().await?;
    scope::check(&session.stack, &config, &state, &options)?;
    if let Some(saved) = &saved {
        // Refused before connecting: a stale plan never leads to an AWS call.
        saved.check_applies_to(
            &session.stack,
            &mut state.clone(),
            &session.store.location().to_string(),
        )?;
    }
    let aws = session.connect(&config).await;
    let run = aws.printed_run(&session.stack, &config, usize::from(args.parallelism));
    let request = UpRequest {
        saved,
        refresh: args.refresh,
        allow_findings: args.allow_findings,
        options,
    };
    let hooks = Terminal {
        yes: args.yes,
        question: "Do you want to perform these actions?".to_string(),
    };
    let outcome = engine::up(
        &run,
        &session.store,
        state,
        request,
        &FromAws(&aws.clients),
        &hooks,
    )
    .await?;
    let code = match outcome {
        Outcome::Refused { .. } => {
            eprintln!("\nRefusing to apply: the plan has error-level findings. Fix them, or pass --allow-findings to apply anyway.");
            return Ok(EXIT_FINDINGS);
        }
        Outcome::Cancelled { .. } => {
            println!("Apply cancelled.");
            return Ok(EXIT_ERROR);
        }
        Outcome::NothingToDestroy => EXIT_OK,
        Outcome::Applied {
            plan,
            report,
            state_writes,
        } => {
            let code = finish(&plan, &report, "Apply");
            scope::warn_partial_apply(&plan);
            println!("{}", session.state_report(state_writes));
            code
        }
    };
    println!("AWS API calls: {}", aws.clients.calls.count());
    Ok(code)
}

/// Prints the closing summary; returns the exit code.
pub fn finish(plan: &Plan, report: &ApplyReport, what: &str) -> i32 {
    if report.is_success() && plan.scope.refresh_only {
        println!(
            "\nRefresh complete! The state now records {} object(s) as they are and forgot {} deleted outside nova; nothing was changed in AWS.",
            plan.records.set.len(),
            plan.records.forget.len()
        );
        return EXIT_OK;
    }
    if report.is_success() {
        let s = plan.summary();
        let imported = if s.import > 0 {
            format!("{} imported, ", s.import)
        } else {
            String::new()
        };
        println!(
            "\n{what} complete! Resources: {imported}{} added, {} changed, {} replaced, {} destroyed.",
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
