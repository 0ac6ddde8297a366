//! `nova check`: the policy rules over the plan (offline) or the live account; and the
//! automatic check at the start of `nova plan` / `nova up`.

use super::args::CheckArgs;
use super::session::Session;
use crate::config::StackConfig;
use crate::model::Blueprint;
use crate::plan::Plan;
use crate::stack::StackContext;

/// Findings placeholder until the policy engine lands.
pub struct Findings;

pub fn findings_for_plan(
    _config: &StackConfig,
    _context: &StackContext,
    _blueprint: &Blueprint,
) -> Findings {
    Findings
}

pub fn findings_for_saved_or_fresh(_config: &StackConfig, _plan: &Plan) -> Findings {
    Findings
}

/// Prints the findings; returns true when there are error-level ones.
pub fn print_plan_findings(_findings: &Findings) -> bool {
    false
}

pub async fn run(_session: &Session, _args: &CheckArgs) -> anyhow::Result<i32> {
    anyhow::bail!("nova check is not built yet")
}
