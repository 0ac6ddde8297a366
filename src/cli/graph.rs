//! `nova graph`: the blueprint's dependency graph as Graphviz DOT (no AWS call).

use super::exit::EXIT_OK;
use super::session::Session;
use crate::graph::Graph;
use crate::stack::blueprint;

pub async fn run(session: &Session) -> anyhow::Result<i32> {
    let config = session.config()?;
    let state = session.load_state().await?;
    let context = crate::engine::context::offline(&config, &state)?;
    let graph = Graph::from_blueprint(&blueprint(&config, &context))?;
    print!("{}", graph.to_dot());
    Ok(EXIT_OK)
}
