//! `nova destroy`: delete every resource of the stack, in reverse dependency order.

use std::sync::Arc;

use super::args::DestroyArgs;
use super::exit::{EXIT_ERROR, EXIT_OK};
use super::progress::Printer;
use super::session::{self, Session};
use super::{confirm, style, up};
use crate::apply::{self, ApplyObserver, ApplyOptions};
use crate::plan::{destroy_plan, render_human};
use crate::state;

pub async fn run(session: &Session, args: &DestroyArgs) -> anyhow::Result<i32> {
    let config = session.config()?;
    session.lock("nova destroy").await?;
    let state = session.load_state().await?;
    let aws = session.connect(&config).await;
    let observer: Arc<dyn ApplyObserver> = Arc::new(Printer::stdout());
    let writer = state::writer::spawn(session.store.clone(), state);
    let state = up::recover(session, &aws, &writer, observer.clone()).await?;
    let mut plan = destroy_plan(&session.stack, &state);
    session::add_delete_notes(&mut plan, &aws.providers);
    if !plan.has_changes() {
        println!(
            "Nothing to destroy: stack `{}` has no resources.",
            session.stack
        );
        writer.close().await?;
        return Ok(EXIT_OK);
    }
    print!("{}", render_human(&plan, style::color_stdout()));
    if !confirm::confirm(
        args.yes,
        &format!(
            "Do you really want to destroy all resources of stack `{}`?",
            session.stack
        ),
    )? {
        println!("Destroy cancelled.");
        writer.close().await?;
        return Ok(EXIT_ERROR);
    }
    let options = ApplyOptions {
        parallelism: usize::from(args.parallelism),
        stack: session.stack.clone(),
    };
    let report = apply::apply(&plan, &aws.providers, &writer, observer, &options).await;
    let writes = writer.clone();
    writer.close().await?;
    let code = up::finish(&plan, &report, "Destroy");
    println!("{}", session.state_report(writes.writes()));
    println!("AWS API calls: {}", aws.clients.calls.count());
    Ok(code)
}
