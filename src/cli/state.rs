//! `nova state list|show|unlock`: read the state without touching AWS, or clear a lock
//! left by a dead process.

use anyhow::{bail, Context};

use super::args::StateCommand;
use super::exit::EXIT_OK;
use super::session::Session;
use crate::model::Address;
use crate::state::StateError;

pub fn run(session: &Session, command: &StateCommand) -> anyhow::Result<i32> {
    match command {
        StateCommand::List => {
            let state = session.load_state()?;
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
        }
        StateCommand::Show { address } => {
            let address: Address = address.parse()?;
            let state = session.load_state()?;
            let Some(resource) = state.get(&address) else {
                bail!(
                    "{address} is not in the state of stack `{}` (see `nova state list`)",
                    session.stack
                );
            };
            println!("{}", serde_json::to_string_pretty(resource)?);
        }
        StateCommand::Unlock { force } => {
            let removed = match session.store.force_unlock(*force) {
                Ok(removed) => removed,
                Err(StateError::Locked { path, holder }) => bail!(
                    "not removing the lock {}: it is held by {holder}, which may still be running \
                     (the process is alive, or it ran on another host). If you are sure no nova \
                     is running for stack `{}`, run `nova state unlock --force`",
                    path.display(),
                    session.stack
                ),
                Err(err) => return Err(err).context("cannot remove the lock"),
            };
            match removed {
                Some(holder) => println!("Removed the lock held by {holder}."),
                None => println!("Stack `{}` is not locked.", session.stack),
            }
        }
    }
    Ok(EXIT_OK)
}
