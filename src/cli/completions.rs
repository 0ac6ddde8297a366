//! `nova completions SHELL`: the shell completion script, generated from the same clap
//! definition the arguments are parsed with (so it always knows every command and flag).

use clap::CommandFactory;
use clap_complete::Shell;

use super::args::{Cli, CompletionShell, CompletionsArgs};
use super::exit::EXIT_OK;

pub fn run(args: &CompletionsArgs) -> anyhow::Result<i32> {
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
        CompletionShell::Powershell => Shell::PowerShell,
    };
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "nova", &mut std::io::stdout().lock());
    Ok(EXIT_OK)
}
