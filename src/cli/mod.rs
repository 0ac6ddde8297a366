//! The command-line edge: parses arguments, runs one command, and turns the outcome into
//! an exit code. The only place that prints, prompts, or uses `anyhow`.

mod args;
mod check;
mod completions;
mod confirm;
mod destroy;
mod exit;
mod graph;
mod hooks;
mod import;
mod output;
mod plan;
mod progress;
mod scope;
mod session;
mod state;
mod style;
mod up;

pub use args::{Cli, Command};
pub use exit::{EXIT_CHANGES, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};

/// Runs the parsed command; the error, if any, is printed by `main` (exit 1). The stack's
/// lock, if the command took it, is released whatever the outcome.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    // Needs no configuration: it works anywhere, e.g. while installing nova.
    if let Command::Completions(args) = &cli.command {
        return completions::run(args);
    }
    let session = session::Session::new(&cli)?;
    let outcome = match cli.command {
        Command::Plan(args) => plan::run(&session, &args).await,
        Command::Up(args) => up::run(&session, &args).await,
        Command::Destroy(args) => destroy::run(&session, &args).await,
        Command::Import(args) => import::run(&session, &args).await,
        Command::Output(args) => output::run(&session, &args).await,
        Command::Graph => graph::run(&session).await,
        Command::Check(args) => check::run(&session, &args).await,
        Command::State(command) => state::run(&session, &command).await,
        Command::Completions(_) => unreachable!("handled before the session"),
    };
    let released = session.release().await;
    let code = outcome?;
    released?;
    Ok(code)
}
