//! The options that limit or force a plan (`--target`, `--exclude`, `--replace`,
//! `--refresh-only`), shared by `nova plan` and `nova up`: checked against the stack
//! before any AWS call, and the warnings Terraform users know for a partial plan.

use super::args::ScopeArgs;
use crate::config::StackConfig;
use crate::engine;
use crate::plan::{check_options, Plan, PlanOptions};
use crate::stack::blueprint;
use crate::state::State;

impl ScopeArgs {
    pub fn options(&self) -> PlanOptions {
        PlanOptions {
            targets: self.targets.iter().cloned().collect(),
            excludes: self.excludes.iter().cloned().collect(),
            replace: self.replace.iter().cloned().collect(),
            refresh_only: self.refresh_only,
        }
    }

    /// Any option given.
    pub fn any(&self) -> bool {
        self.options() != PlanOptions::default()
    }
}

/// Refuses an address the configuration and the state do not have (a typo), or a
/// `--replace` of something that does not exist, before any AWS call: the blueprint's
/// addresses do not depend on what AWS would tell (account id, AMI).
pub fn check(
    stack: &str,
    config: &StackConfig,
    state: &State,
    options: &PlanOptions,
) -> anyhow::Result<()> {
    if *options == PlanOptions::default() {
        return Ok(());
    }
    let context = engine::context::offline(config, state)?;
    check_options(stack, &blueprint(config, &context), state, options)?;
    Ok(())
}

/// Terraform's warning for `-target`: printed (stderr) before a partial plan.
pub fn warn_partial_plan(plan: &Plan) {
    if plan.scope.is_partial() {
        eprintln!(
            "\nWarning: resource targeting is in effect (--target/--exclude).\n\
             The plan covers only part of the configuration: other changes it asks for are \
             not shown and would not be applied, so the state is partial afterwards.\n\
             --target and --exclude are for exceptional situations (recovering from an error \
             or a mistake), not for routine use.\n"
        );
    }
}

/// Terraform's warning after applying a partial plan.
pub fn warn_partial_apply(plan: &Plan) {
    if plan.scope.is_partial() {
        eprintln!(
            "\nWarning: applied changes may be incomplete.\n\
             The plan was made with --target/--exclude, so changes the configuration asks \
             for elsewhere were left out and the outputs may not be up to date. Run \
             `nova plan` to see what else is pending."
        );
    }
}
