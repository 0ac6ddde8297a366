//! The `nova` binary: parse arguments, run, turn the outcome into an exit code.

use clap::{CommandFactory, FromArgMatches};

use nova::cli::{self, Cli, EXIT_ERROR};

/// `nova --version`: the crate version and the commit it was built from (see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("NOVA_BUILD_COMMIT"),
    ")"
);

fn main() {
    restore_default_sigpipe();
    let parsed = Cli::command()
        .version(VERSION)
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout and exit 0. Usage errors exit 1, not clap's 2:
            // 2 means "the plan has changes" under `plan --detailed-exitcode`.
            let code = if err.use_stderr() { EXIT_ERROR } else { 0 };
            let _ = err.print();
            std::process::exit(code);
        }
    };
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

/// Rust ignores SIGPIPE, so printing into a closed pipe (`nova plan | head`) would panic;
/// like other command-line tools, nova just stops quietly instead.
fn restore_default_sigpipe() {
    // SAFETY: called once at start-up, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
