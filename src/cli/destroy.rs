//! `nova destroy`: the engine's `destroy` (every resource deleted, in reverse dependency
//! order), with a confirmation naming the stack.

use super::args::DestroyArgs;
use super::exit::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use super::hooks::Terminal;
use super::session::Session;
use super::up;
use crate::engine::{self, Outcome};

pub async fn run(session: &Session, args: &DestroyArgs) -> anyhow::Result<i32> {
    let config = session.config()?;
    session.lock("nova destroy").await?;
    let state = session.load_state().await?;
    let aws = session.connect(&config).await;
    let run = aws.printed_run(&session.stack, &config, usize::from(args.parallelism));
    let hooks = Terminal {
        yes: args.yes,
        question: format!(
            "Do you really want to destroy all resources of stack `{}`?",
            session.stack
        ),
    };
    let code = match engine::destroy(&run, &session.store, state, &hooks).await? {
        Outcome::NothingToDestroy => {
            println!(
                "Nothing to destroy: stack `{}` has no resources.",
                session.stack
            );
            return Ok(EXIT_OK);
        }
        Outcome::Cancelled { .. } => {
            println!("Destroy cancelled.");
            return Ok(EXIT_ERROR);
        }
        // destroy runs no policy check
        Outcome::Refused { .. } => EXIT_FINDINGS,
        Outcome::Applied {
            plan,
            report,
            state_writes,
        } => {
            let code = up::finish(&plan, &report, "Destroy");
            println!("{}", session.state_report(state_writes));
            code
        }
    };
    println!("AWS API calls: {}", aws.clients.calls.count());
    Ok(code)
}
