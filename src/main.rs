//! The `nova` binary: parse arguments, run, turn the outcome into an exit code.

use clap::Parser;

use nova::cli::{self, Cli, EXIT_ERROR};

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("Error: cannot start the async runtime: {err}");
            std::process::exit(EXIT_ERROR);
        }
    };
    let code = match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {err:#}");
            EXIT_ERROR
        }
    };
    std::process::exit(code);
}
