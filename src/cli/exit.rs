//! nova's exit codes (documented in `nova --help` and README.md).

/// Success; with `plan --detailed-exitcode`: no changes.
pub const EXIT_OK: i32 = 0;
/// Any error: bad config or state, an AWS failure, a refused confirmation.
pub const EXIT_ERROR: i32 = 1;
/// `plan --detailed-exitcode`: the plan has changes.
pub const EXIT_CHANGES: i32 = 2;
/// `check` found problems, or `up` refused a plan with error-level findings (defined with
/// the policy engine's other exit code).
pub use crate::policy::EXIT_FINDINGS;
