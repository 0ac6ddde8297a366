//! Command-line arguments, parsed by clap into plain structs (no behaviour here).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::model::Address;

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
    /// Adopt an object that already exists in AWS as a resource of the stack.
    ///
    /// Reads the object with id ID through the provider of ADDRESS's kind (refused when
    /// no such object exists: the id must be of that kind), refuses an object that
    /// another stack owns or the state already holds, shows what the next plan would
    /// change on it, and records it in the state (under the lock, keeping a backup).
    /// Nothing is changed in AWS: nova's ownership tags (`nova:stack`, `nova:address`)
    /// are added by the next `nova up`, with whatever else differs from the
    /// configuration. ADDRESS must be a resource of the configuration (see `nova graph`)
    /// that the state does not have yet.
    Import(ImportArgs),
    /// Print the stack's outputs (all, or one by name).
    Output(OutputArgs),
    /// Print the resource dependency graph in Graphviz DOT format.
    Graph,
    /// Check the stack against nova's security and compliance rules.
    Check(CheckArgs),
    /// Inspect, edit, move, restore or unlock the state.
    #[command(subcommand)]
    State(StateCommand),
    /// Print a shell completion script for nova (needs no configuration).
    ///
    /// bash: `nova completions bash > ~/.local/share/bash-completion/completions/nova`;
    /// zsh: `nova completions zsh > ~/.zfunc/_nova` (with `fpath+=~/.zfunc` before
    /// `compinit`); fish: `nova completions fish > ~/.config/fish/completions/nova.fish`;
    /// PowerShell: `nova completions powershell >> $PROFILE`.
    Completions(CompletionsArgs),
}

/// What a plan considers and forces, shared by `nova plan` and `nova up`.
#[derive(Debug, Clone, Default, Args)]
pub struct ScopeArgs {
    /// Plan only ADDRESS and what it depends on (repeatable). The rest of the stack is left
    /// as it is, so the state is then partial: meant for exceptional situations
    /// (recovering from an error), not for routine use.
    #[arg(long = "target", value_name = "ADDRESS", value_parser = parse_address)]
    pub targets: Vec<Address>,

    /// Leave ADDRESS and everything that depends on it out of the plan (repeatable).
    #[arg(long = "exclude", value_name = "ADDRESS", value_parser = parse_address)]
    pub excludes: Vec<Address>,

    /// Replace ADDRESS even though nothing forces it, e.g. a broken instance (repeatable);
    /// what depends on it follows as for any replacement.
    #[arg(long = "replace", value_name = "ADDRESS", value_parser = parse_address)]
    pub replace: Vec<Address>,

    /// Only record what really exists: read every resource back and plan to write what
    /// changed outside nova (tags edited by another team, a deleted resource) into the
    /// state, without changing anything in AWS.
    #[arg(long, conflicts_with = "replace")]
    pub refresh_only: bool,
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

    /// Read every resource from AWS first, so drift and out-of-band deletes show (and look
    /// for resources the state lacks that already exist with this stack's ownership tags:
    /// they are imported rather than created).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,

    #[command(flatten)]
    pub scope: ScopeArgs,
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

    /// Read every resource from AWS before planning (and look for resources the state lacks
    /// that already exist with this stack's ownership tags).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,

    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The resource address in the configuration, e.g. aws_vpc.main.
    #[arg(value_parser = parse_address)]
    pub address: Address,

    /// The object's id as AWS names it (what `nova state show` calls `id`), e.g. vpc-0abc...
    pub id: String,
}

/// The shells `nova completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
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
    /// Forget resources: remove them from the state without deleting them in AWS.
    ///
    /// The objects keep existing, and nova no longer manages them: the next plan shows the
    /// resources as to be created again if they are still in the configuration, and never
    /// imports these objects again by their ownership tags (`nova import` adopts one again).
    /// Refused when a resource that stays in the state depends on one being removed
    /// (remove them together), or when an operation of an interrupted run is pending on
    /// it. Takes the lock and keeps a backup of the state.
    Rm {
        /// The resource addresses, e.g. aws_instance.web[1].
        #[arg(required = true, value_name = "ADDRESS", value_parser = parse_address)]
        addresses: Vec<Address>,
    },
    /// Move a resource to another address in the state (e.g. after it was renamed in the
    /// configuration), without any change in AWS.
    ///
    /// Both addresses must be of the same kind, and TO must not be in the state yet; what
    /// depended on FROM depends on TO afterwards. The object's ownership tag
    /// `nova:address` follows on the next `nova up`. Refused when an operation of an
    /// interrupted run is pending on FROM. Takes the lock and keeps a backup of the state.
    Mv {
        /// The address the resource has in the state now.
        #[arg(value_parser = parse_address)]
        from: Address,
        /// The address it gets.
        #[arg(value_parser = parse_address)]
        to: Address,
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

/// A resource address, `<kind>.<name>`.
fn parse_address(text: &str) -> Result<Address, String> {
    text.parse()
        .map_err(|e: crate::model::AddressError| e.to_string())
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
