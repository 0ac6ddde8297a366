//! `nova output`: the stack's outputs as recorded by the last apply.

use anyhow::bail;

use super::args::OutputArgs;
use super::exit::EXIT_OK;
use super::session::Session;
use crate::model::Value;

pub async fn run(session: &Session, args: &OutputArgs) -> anyhow::Result<i32> {
    let state = session.load_state().await?;
    if state.outputs.is_empty() {
        if let Some(name) = &args.name {
            bail!(
                "no output named `{name}`: stack `{}` has no outputs yet (run `nova up`)",
                session.stack
            );
        }
        if args.json {
            println!("{{}}");
        } else {
            eprintln!(
                "No outputs: stack `{}` has not been applied yet (run `nova up`).",
                session.stack
            );
        }
        return Ok(EXIT_OK);
    }
    match &args.name {
        Some(name) => {
            let Some(value) = state.outputs.get(name) else {
                let known: Vec<&str> = state.outputs.keys().map(String::as_str).collect();
                bail!(
                    "no output named `{name}`; the outputs are: {}",
                    known.join(", ")
                );
            };
            match (value, args.json) {
                (Value::String(s), false) => println!("{s}"),
                _ => println!("{}", serde_json::to_string_pretty(&value.to_json())?),
            }
        }
        None if args.json => {
            let all = Value::Map(state.outputs.clone());
            println!("{}", serde_json::to_string_pretty(&all.to_json())?);
        }
        None => {
            let width = state.outputs.keys().map(String::len).max().unwrap_or(0);
            for (name, value) in &state.outputs {
                println!("{name:width$} = {value}");
            }
        }
    }
    Ok(EXIT_OK)
}
