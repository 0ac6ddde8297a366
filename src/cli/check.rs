//! `nova check`: the policy rules over the configuration (no AWS call) or over what is
//! deployed (`--live`: every resource in the state read back from AWS); and the automatic
//! check that `nova plan` and `nova up` run on the planned stack.

use std::sync::Arc;

use anyhow::{bail, Context};

use super::args::{CheckArgs, CheckFormat};
use super::session::Session;
use super::style;
use crate::config::StackConfig;
use crate::engine::{self, context::OFFLINE_ACCOUNT_ID};
use crate::policy::{
    self, render_json, render_sarif, render_table, Report, ResourceView, StackView,
};
use crate::provider::{Observed, SilentProgress};
use crate::stack::blueprint;

/// Prints the findings of the automatic check (to stderr, so `--json` output stays clean);
/// returns true when there are error-level findings.
pub fn print_plan_findings(report: &Report) -> bool {
    if report.findings.is_empty() {
        eprintln!("Policy check: {}", policy::summary_line(report));
    } else {
        eprintln!("\nPolicy check of the plan (`nova check` for details):");
        eprint!("{}", render_table(report, style::color_stderr()));
    }
    report.has_errors()
}

pub async fn run(session: &Session, args: &CheckArgs) -> anyhow::Result<i32> {
    let config = session.config()?;
    let state = session.load_state().await?;
    let report = if args.live {
        live_report(session, &config, &state).await?
    } else {
        let context = engine::context::offline(&config, &state)?;
        engine::check(&config, OFFLINE_ACCOUNT_ID, &blueprint(&config, &context))
    };
    match args.format {
        CheckFormat::Table => print!("{}", render_table(&report, style::color_stdout())),
        CheckFormat::Json => println!("{}", serde_json::to_string_pretty(&render_json(&report))?),
        CheckFormat::Sarif => println!("{}", serde_json::to_string_pretty(&render_sarif(&report))?),
    }
    Ok(report.exit_code())
}

/// Reads every resource of the state back from AWS and checks what is really there.
async fn live_report(
    session: &Session,
    config: &StackConfig,
    state: &crate::state::State,
) -> anyhow::Result<Report> {
    if state.resources.is_empty() {
        bail!(
            "stack `{}` has no resources in the state {}: nothing is deployed to check (run `nova up`, or `nova check` without --live to check the configuration)",
            session.stack,
            session.store.location()
        );
    }
    let aws_side = session.connect(config).await;
    let account_id = aws_side
        .clients
        .account_id()
        .await
        .context("cannot reach AWS to learn the account id")?;
    let observed = crate::refresh::refresh(
        &session.stack,
        state,
        &aws_side.providers,
        crate::refresh::read_parallelism(10),
        Arc::new(SilentProgress),
    )
    .await?;
    let mut resources = Vec::new();
    for recorded in &state.resources {
        // A resource deleted out of band is simply absent: the rules that need it fire.
        if let Some(Observed::Present { inputs, outputs }) = observed.get(&recorded.address) {
            resources.push(ResourceView {
                address: recorded.address.clone(),
                inputs: inputs.clone(),
                id: Some(recorded.id.clone()),
                outputs: outputs.clone(),
            });
        }
    }
    let view = StackView::from_live(
        resources,
        state.outputs.keys().cloned().collect(),
        &config.region,
        account_id,
        &config.environment,
    );
    Ok(policy::evaluate(&view))
}
