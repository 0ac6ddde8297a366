//! `nova graph`: the blueprint's dependency graph as Graphviz DOT (no AWS call). An
//! order that holds for creates only is drawn dashed, labelled `create only`.

use super::exit::EXIT_OK;
use super::session::Session;
use std::collections::BTreeSet;

use crate::graph::Graph;
use crate::model::Blueprint;
use crate::stack::blueprint;

pub async fn run(session: &Session) -> anyhow::Result<i32> {
    let config = session.config()?;
    let state = session.load_state().await?;
    let context = crate::engine::context::offline(&config, &state)?;
    let blueprint = blueprint(&config, &context);
    let graph = Graph::from_blueprint(&blueprint)?;
    print!("{}", mark_create_only(&graph.to_dot(), &blueprint));
    Ok(EXIT_OK)
}

/// `dot` with each create-only edge of `blueprint` dashed and labelled.
fn mark_create_only(dot: &str, blueprint: &Blueprint) -> String {
    let create_only: BTreeSet<String> = blueprint
        .resources
        .iter()
        .flat_map(|r| {
            r.create_only_dependencies()
                .into_iter()
                .map(move |d| format!("  \"{}\" -> \"{d}\";", r.address))
        })
        .collect();
    dot.lines()
        .map(|line| match create_only.contains(line) {
            true => format!(
                "{} [style = \"dashed\", label = \"create only\"];\n",
                line.trim_end_matches(';')
            ),
            false => format!("{line}\n"),
        })
        .collect()
}
