//! The CLI's side of the engine's [`Hooks`]: each step of a run printed as it happens, and
//! the confirmation prompt (or `--yes`) before anything changes.

use crate::apply::RecoveryReport;
use crate::engine::{HookError, Hooks};
use crate::plan::{render_human, Plan};
use crate::policy::Report;

use super::{check, confirm, scope, style};

/// Prints to the terminal; asks `question` before applying.
pub struct Terminal {
    /// `--yes`: apply without asking.
    pub yes: bool,
    pub question: String,
}

impl Hooks for Terminal {
    fn recovering(&self, pending: usize) {
        println!("Resolving {pending} operation(s) left pending by an interrupted run...");
    }

    fn recovered(&self, report: &RecoveryReport) {
        for r in &report.recovered {
            println!(
                "{}: pending {}: {}",
                r.address,
                r.operation.as_str(),
                r.resolution
            );
        }
    }

    fn refreshing(&self, resources: usize) {
        // stderr: `nova plan --json` keeps stdout for the JSON document.
        eprintln!("Refreshing {resources} resources...");
    }

    fn looking_up(&self, resources: usize) {
        eprintln!(
            "Looking for {resources} resources the state lacks: one that already exists with this stack's ownership tags is imported rather than created..."
        );
    }

    fn planned(&self, plan: &Plan) {
        scope::warn_partial_plan(plan);
        print!("{}", render_human(plan, style::color_stdout()));
    }

    fn checked(&self, report: &Report) {
        check::print_plan_findings(report);
    }

    fn confirm(&self, _plan: &Plan) -> Result<bool, HookError> {
        confirm::confirm(self.yes, &self.question).map_err(Into::into)
    }
}
