//! `nova state list|show|rm|mv|pull|push|history|restore|unlock`: read the state without
//! touching AWS, forget or move a resource in it, move it between backends, bring back an
//! earlier version, or clear a lock left by a dead process.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, Context};

use super::args::StateCommand;
use super::exit::EXIT_OK;
use super::session::Session;
use crate::model::Address;
use crate::state::{self, edit, Location, Restore, State, StateError, Version};

pub async fn run(session: &Session, command: &StateCommand) -> anyhow::Result<i32> {
    match command {
        StateCommand::List => list(session).await?,
        StateCommand::Show { address } => {
            let address: Address = address.parse()?;
            let state = session.load_state().await?;
            let Some(resource) = state.get(&address) else {
                bail!(
                    "{address} is not in the state of stack `{}` (see `nova state list`)",
                    session.stack
                );
            };
            println!("{}", serde_json::to_string_pretty(resource)?);
        }
        StateCommand::Rm { addresses } => rm(session, addresses).await?,
        StateCommand::Mv { from, to } => mv(session, from, to).await?,
        StateCommand::Pull => pull(session).await?,
        StateCommand::Push { file, force } => push(session, file, *force).await?,
        StateCommand::History => history(session).await?,
        StateCommand::Restore { serial, force } => {
            session.lock("nova state restore").await?;
            let done = session.store.restore(*serial, *force).await?;
            println!(
                "Restored version {serial} of stack `{}` as serial {} in {}{}.",
                session.stack,
                done.serial,
                session.store.location(),
                replacing(done.previous)
            );
        }
        StateCommand::Unlock { force, lock_id } => unlock(session, *force, lock_id).await?,
    }
    Ok(EXIT_OK)
}

/// `nova state rm`: forget, under the lock; the previous version stays in the backup.
async fn rm(session: &Session, addresses: &[Address]) -> anyhow::Result<()> {
    session.lock("nova state rm").await?;
    let mut state = session.load_state().await?;
    let wanted: BTreeSet<Address> = addresses.iter().cloned().collect();
    let removed = edit::forget(&mut state, &session.stack, &wanted)?;
    session.store.write_next(&state).await?;
    for resource in &removed {
        println!(
            "Removed {} ({}) from the state of stack `{}`.",
            resource.address, resource.id, session.stack
        );
    }
    println!(
        "Nothing was deleted in AWS: {} no longer managed by nova, and keep{} this stack's ownership \
         tags. The next plan shows {} as to be created again if still in the \
         configuration; `nova import ADDRESS ID` adopts an object again.",
        if removed.len() == 1 { "the object is" } else { "the objects are" },
        if removed.len() == 1 { "s" } else { "" },
        if removed.len() == 1 { "it" } else { "them" },
    );
    println!("{}", written(session, state.serial + 1));
    Ok(())
}

/// `nova state mv`: move, under the lock; the previous version stays in the backup.
async fn mv(session: &Session, from: &Address, to: &Address) -> anyhow::Result<()> {
    session.lock("nova state mv").await?;
    let mut state = session.load_state().await?;
    let moved = edit::rename(&mut state, &session.stack, from, to)?;
    session.store.write_next(&state).await?;
    println!(
        "Moved {from} ({}) to {to} in the state of stack `{}`. Nothing was changed in AWS; \
         the object's `nova:address` tag follows on the next `nova up`.",
        moved.id, session.stack
    );
    println!("{}", written(session, state.serial + 1));
    Ok(())
}

/// Where the edit went, and where the version before it is kept.
fn written(session: &Session, serial: u64) -> String {
    format!(
        "State: written to {} as serial {serial}; the previous version is kept in {} (`nova state history`, `nova state restore {}`).",
        session.store.location(),
        session.store.history_location(),
        serial - 1
    )
}

async fn list(session: &Session) -> anyhow::Result<()> {
    let state = session.load_state().await?;
    for resource in &state.resources {
        println!("{}", resource.address);
    }
    for pending in &state.pending {
        eprintln!(
            "(pending {} of {} from an interrupted run)",
            pending.operation.as_str(),
            pending.address
        );
    }
    Ok(())
}

/// Prints the state's bytes exactly as stored (after checking them).
async fn pull(session: &Session) -> anyhow::Result<()> {
    let Some((_, bytes)) = session.store.read().await? else {
        return Err(StateError::NoState {
            stack: session.stack.clone(),
            location: session.store.location(),
        }
        .into());
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&bytes)?;
    stdout.flush()?;
    Ok(())
}

async fn push(session: &Session, file: &Path, force: bool) -> anyhow::Result<()> {
    let (state, what) = read_state_file(file)?;
    session.lock("nova state push").await?;
    let done = session.store.push(state, &what, force).await?;
    println!(
        "Pushed {what} to {} as serial {}{}.",
        session.store.location(),
        done.serial,
        replacing(done.previous)
    );
    Ok(())
}

/// A state file to push, checked like a stored state; and how to name it in messages.
fn read_state_file(file: &Path) -> anyhow::Result<(State, String)> {
    let (bytes, location) = if file == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read the state from stdin")?;
        (bytes, Location::File("(stdin)".into()))
    } else {
        let bytes = std::fs::read(file)
            .with_context(|| format!("cannot read the state file {}", file.display()))?;
        (bytes, Location::File(file.to_path_buf()))
    };
    let state = state::decode(&bytes, &location, &Restore::Pull)?;
    let what = match &location {
        Location::File(path) => path.display().to_string(),
        other => other.to_string(),
    };
    Ok((state, what))
}

fn replacing(previous: Option<u64>) -> String {
    match previous {
        Some(serial) => format!(" (it was serial {serial})"),
        None => " (there was no readable state)".to_string(),
    }
}

async fn history(session: &Session) -> anyhow::Result<()> {
    let versions = session.store.history().await?;
    if versions.is_empty() {
        println!(
            "No versions of stack `{}` are kept in {}.",
            session.stack,
            session.store.history_location()
        );
        return Ok(());
    }
    print!("{}", history_table(&versions));
    Ok(())
}

/// The versions as a table, by serial; `*` marks the current one.
fn history_table(versions: &[Version]) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    let rows: Vec<[String; 6]> = versions
        .iter()
        .map(|v| {
            [
                if v.current { "*" } else { "" }.to_string(),
                v.serial.to_string(),
                dash(&v.written),
                dash(&v.who),
                dash(&v.command),
                dash(&v.lineage),
            ]
        })
        .collect();
    let header = ["", "SERIAL", "WRITTEN", "BY", "COMMAND", "LINEAGE"].map(str::to_string);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

async fn unlock(session: &Session, force: bool, lock_id: &Option<String>) -> anyhow::Result<()> {
    let removed = match session.store.unlock(force, lock_id.as_deref()).await {
        Ok(removed) => removed,
        Err(StateError::Locked { location, holder }) => bail!(
            "not removing the lock {location}: it is held by {holder}, which may still be \
             running (the process is alive, or it ran on another host). If you are sure no \
             nova is running for stack `{}`, run `nova state unlock --force`",
            session.stack
        ),
        Err(err) => return Err(err).context("cannot remove the lock"),
    };
    match removed {
        Some(holder) => println!("Removed the lock held by {holder}."),
        None => println!("Stack `{}` is not locked.", session.stack),
    }
    Ok(())
}
