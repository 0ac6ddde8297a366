//! Command-line arguments, parsed by clap into plain structs (no behaviour here).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The help heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// nova brings up, previews and tears down a secure production environment on AWS by
/// calling the AWS APIs directly.
///
/// AWS credentials, profile and endpoint come from the standard AWS environment
/// (AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL for LocalStack, ...).
///
/// The state lives in a local file (the default) or in S3 for a team: see `[backend]` in
/// Nova.toml and docs/remote-state.md.
///
/// Exit codes: 0 success (no changes with --detailed-exitcode), 1 error (including usage
/// errors), 2 changes present (plan --detailed-exitcode), 3 policy findings (check, or up
/// refusing an unsafe plan).
#[derive(Debug, Parser)]
#[command(name = "nova", bin_name = "nova", version, about, long_about)]
pub struct Cli {
    /// The stack to act on; its state lives in <state-dir>/<stack>.json, or in S3 (`[backend]`).
    #[arg(long, global = true, help_heading = GLOBAL, env = "NOVA_STACK", default_value = "production")]
    pub stack: String,

    /// The configuration file.
    #[arg(long, global = true, help_heading = GLOBAL, env = "NOVA_CONFIG", default_value = "Nova.toml")]
    pub config: PathBuf,

    /// Where state files and locks live (local backend). With the S3 backend nothing is
    /// written here except the copy of a version a refused write could not store.
    #[arg(long, global = true, help_heading = GLOBAL, env = "NOVA_STATE_DIR", default_value = "state")]
    pub state_dir: PathBuf,

    /// How long to wait for the stack's lock while another run holds it (e.g. 30s, 5m;
    /// 0: fail at once, naming the holder). A stale lock is reported at once.
    #[arg(long, global = true, help_heading = GLOBAL, env = "NOVA_LOCK_TIMEOUT", default_value = "0s", value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: Duration,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what `nova up` would create, update, replace or destroy.
    Plan(PlanArgs),
    /// Apply the changes (a fresh plan, or a plan saved with `nova plan --out`).
    Up(UpArgs),
    /// Destroy every resource of the stack, in reverse dependency order.
    Destroy(DestroyArgs),
    /// Print the stack's outputs (all, or one by name).
    Output(OutputArgs),
    /// Print the resource dependency graph in Graphviz DOT format.
    Graph,
    /// Check the stack against nova's security and compliance rules.
    Check(CheckArgs),
    /// Inspect, move, restore or unlock the state.
    #[command(subcommand)]
    State(StateCommand),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Save the plan to FILE, for `nova up FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Print the plan as JSON instead of text.
    #[arg(long)]
    pub json: bool,

    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// Read every resource from AWS first, so drift and out-of-band deletes show.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// A plan saved with `nova plan --out`; refused if the state changed since.
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,

    /// Apply without asking for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// How many resource operations may run at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,

    /// Apply even if `nova check` finds error-level problems in the plan.
    #[arg(long)]
    pub allow_findings: bool,

    /// Read every resource from AWS before planning.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Destroy without asking for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// How many resource operations may run at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print only this output (strings unquoted, for scripts).
    pub name: Option<String>,

    /// Print JSON: one object of all outputs, or the one value.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
    Sarif,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Check what is deployed (read back from AWS) instead of the configuration.
    #[arg(long)]
    pub live: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the resources in the state, sorted by address.
    List,
    /// Show one resource as recorded in the state (JSON).
    Show {
        /// The resource address, e.g. aws_vpc.main.
        address: String,
    },
    /// Print the current state (JSON, exactly as stored), e.g. to keep a copy or to move
    /// it to another backend with `nova state push`.
    Pull,
    /// Make a state file the current state (as the next serial), e.g. to move a local
    /// state to S3 or back. Takes the lock.
    ///
    /// Refused when the file has another lineage than the current state (another
    /// history) or an older serial (the state moved on since the file was taken), unless
    /// --force.
    Push {
        /// The state file to push (`-`: read it from stdin).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Replace the current state even if its lineage differs, its serial is newer, or
        /// it cannot be read.
        #[arg(long)]
        force: bool,
    },
    /// List the versions of the state that are kept: serial, time written, who wrote it
    /// with which command, lineage. S3 keeps every version; the local backend the current
    /// file and its backup.
    History,
    /// Make a kept version (see `nova state history`) the current state again, as the
    /// next serial. Takes the lock.
    Restore {
        /// The serial of the version to restore.
        serial: u64,
        /// Restore it even if its lineage differs from the current state's, or the current
        /// state cannot be read.
        #[arg(long)]
        force: bool,
    },
    /// Remove a lock left by a nova process that died.
    ///
    /// Local backend: removes the lock file when its holder is a dead process on this
    /// host, or always with --force. S3 backend: breaks the lock only with --force and the
    /// lock's id (the error of a refused run shows it), by a compare-and-swap on the lock
    /// object, so a lock taken since by someone else is never broken.
    Unlock {
        /// Remove the lock even if its holder still seems to be running.
        #[arg(long)]
        force: bool,
        /// The id of the lock to break (required with the S3 backend).
        #[arg(value_name = "LOCK_ID")]
        lock_id: Option<String>,
    },
}

/// A duration: `30s`, `5m`, `1h 30m`, or a number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration such as 30s or 5m: {e}"))
}
