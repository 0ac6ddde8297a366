//! `nova import ADDRESS ID`: the engine's import under the stack's lock, and what it
//! recorded and what the next plan does with it, printed.

use super::args::ImportArgs;
use super::exit::EXIT_OK;
use super::session::Session;
use super::style;
use crate::engine::{self, FromAws};
use crate::plan::{render_human, Action, Plan};

pub async fn run(session: &Session, args: &ImportArgs) -> anyhow::Result<i32> {
    let config = session.config()?;
    session.lock("nova import").await?;
    let state = session.load_state().await?;
    let aws = session.connect(&config).await;
    let run = aws.printed_run(&session.stack, &config, 10);
    let imported = engine::import::import(
        &run,
        &session.store,
        state,
        &args.address,
        &args.id,
        &FromAws(&aws.clients),
    )
    .await?;
    println!(
        "Imported {} ({}) into the state of stack `{}` {} as serial {}. Nothing was changed in AWS.",
        args.address,
        args.id,
        session.stack,
        session.store.location(),
        imported.serial
    );
    let next = &imported.next;
    if next.action == Action::NoOp {
        println!("It matches the configuration: the next plan leaves it as it is.");
    } else {
        println!(
            "\nThe next `nova up` would change it as follows (nova's ownership tags `nova:stack` and `nova:address` are added then, if missing):\n"
        );
        let preview = Plan {
            stack: session.stack.clone(),
            lineage: String::new(),
            serial: 0,
            blueprint: Default::default(),
            changes: vec![next.clone()],
            deposed: Vec::new(),
            scope: Default::default(),
            records: Default::default(),
        };
        print!("{}", render_human(&preview, style::color_stdout()));
    }
    println!("Run `nova plan` to see the whole plan.");
    Ok(EXIT_OK)
}
