//! `nova plan`: the engine's context, refresh and plan, printed (text or JSON), optionally
//! saved for `nova up FILE`.

use std::sync::Arc;

use super::args::PlanArgs;
use super::exit::{EXIT_CHANGES, EXIT_OK};
use super::hooks::Terminal;
use super::progress::Printer;
use super::session::Session;
use super::{check, scope, style};
use crate::engine;
use crate::plan::{render_human, render_json, SavedPlan};
use crate::stack::blueprint;

pub async fn run(session: &Session, args: &PlanArgs) -> anyhow::Result<i32> {
    let config = session.config()?;
    session.lock("nova plan").await?;
    let state = session.load_state().await?;
    let options = args.scope.options();
    if options.refresh_only && !args.refresh {
        anyhow::bail!(
            "--refresh-only reads every resource back: it cannot be combined with --refresh=false"
        );
    }
    scope::check(&session.stack, &config, &state, &options)?;
    let aws = session.connect(&config).await;
    let context = engine::context::learn(&aws.clients, &config, &state).await?;
    let blueprint = blueprint(&config, &context);
    let findings = engine::check(&config, &context.account_id, &blueprint);
    if !state.pending.is_empty() {
        eprintln!(
            "Warning: {} operation(s) of an interrupted run are pending in the state {}; `nova up` resolves them before applying.",
            state.pending.len(),
            session.store.location()
        );
    }
    let observer = Arc::new(if args.json {
        Printer::stderr()
    } else {
        Printer::stdout()
    });
    let run = aws.run(&session.stack, &config, observer, 10);
    let hooks = Terminal {
        yes: false,
        question: String::new(),
    };
    let plan = engine::plan_with(&run, &blueprint, &state, args.refresh, &options, &hooks).await?;
    scope::warn_partial_plan(&plan);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&render_json(&plan))?);
    } else {
        print!("{}", render_human(&plan, style::color_stdout()));
        if !plan.scope.refresh_only {
            check::print_plan_findings(&findings);
        }
    }
    if let Some(out) = &args.out {
        SavedPlan::new(plan.clone()).save(out)?;
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
