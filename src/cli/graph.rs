//! `nova graph`: the blueprint's dependency graph as Graphviz DOT (no AWS call). An
//! order that holds for creates only is drawn dashed, labelled `create only`.

use std::collections::BTreeSet;

use super::exit::EXIT_OK;
use super::session::Session;
use crate::graph::Graph;
use crate::model::Address;
use crate::stack::blueprint;

pub async fn run(session: &Session) -> anyhow::Result<i32> {
    let config = session.config()?;
    let state = session.load_state().await?;
    let context = crate::engine::context::offline(&config, &state)?;
    let blueprint = blueprint(&config, &context);
    let graph = Graph::from_blueprint(&blueprint)?;
    let create_only: BTreeSet<(Address, Address)> = blueprint
        .resources
        .iter()
        .flat_map(|r| {
            r.create_only_dependencies()
                .into_iter()
                .map(|d| (r.address.clone(), d))
        })
        .collect();
    print!(
        "{}",
        graph.to_dot_with(|from, to| create_only
            .contains(&(from.clone(), to.clone()))
            .then(|| "style = \"dashed\", label = \"create only\"".to_string()))
    );
    Ok(EXIT_OK)
}
