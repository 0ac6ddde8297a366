//! The critical-path bound of a nova run under the timing model: the longest chain of
//! dependent work in the run's dependency graph, each resource costing its kind's calls on
//! the happy path at their median latency plus the waits no client can shorten
//! (`fixtures/awssim/nova-kinds.toml`). No run can be faster than this; the realistic
//! benchmark reports how close nova comes.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::latency::Latencies;
use crate::model::Model;

/// Whether the run creates (dependencies first) or deletes (dependents first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Create,
    Delete,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct KindCost {
    create: Vec<String>,
    #[serde(default)]
    create_wait: Option<String>,
    delete: Vec<String>,
    #[serde(default)]
    delete_wait: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EdgeWait {
    on: Phase,
    from: String,
    to: String,
    wait: String,
}

/// What each kind costs (`fixtures/awssim/nova-kinds.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Costs {
    kind: BTreeMap<String, KindCost>,
    #[serde(default)]
    edge: Vec<EdgeWait>,
}

impl Costs {
    pub fn builtin() -> Costs {
        Costs::parse(BUILTIN).expect("the checked-in kind costs are valid")
    }

    pub fn parse(text: &str) -> Result<Costs, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

const BUILTIN: &str = include_str!("../../fixtures/awssim/nova-kinds.toml");

/// A dependency graph: `edges` are (dependent, dependency), as `nova graph` draws them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    pub nodes: BTreeSet<String>,
    pub edges: BTreeSet<(String, String)>,
    /// The edges that order creates only (`label = "create only"`): deletes ignore them.
    pub create_only: BTreeSet<(String, String)>,
}

impl Graph {
    /// Reads the DOT `nova graph` prints: `"a";` nodes and `"a" -> "b";` edges (with
    /// `[style = "dashed", label = "create only"]` for an order of creates only).
    pub fn from_dot(dot: &str) -> Graph {
        let mut graph = Graph::default();
        for line in dot.lines() {
            let quoted: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
            match (quoted.as_slice(), line.contains("->")) {
                ([from, to, ..], true) => {
                    graph.nodes.insert(from.to_string());
                    graph.nodes.insert(to.to_string());
                    let edge = (from.to_string(), to.to_string());
                    if quoted.contains(&"create only") {
                        graph.create_only.insert(edge.clone());
                    }
                    graph.edges.insert(edge);
                }
                ([node], false) if line.trim_end().ends_with(';') && !line.contains('=') => {
                    graph.nodes.insert(node.to_string());
                }
                _ => {}
            }
        }
        graph
    }
}

/// The bound and the chain that makes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub seconds: f64,
    /// (address, model second at which it is done), first to last.
    pub chain: Vec<(String, f64)>,
}

impl Bound {
    /// `aws_vpc.main (1.2 s) -> aws_subnet.public[0] (2.3 s) -> ...`.
    pub fn chain_text(&self) -> String {
        self.chain
            .iter()
            .map(|(a, t)| format!("{a} ({t:.1} s)"))
            .collect::<Vec<_>>()
            .join(" -> ")
    }
}

/// The longest chain of `graph` under `model` and `costs`, for `phase`.
pub fn bound(graph: &Graph, model: &Model, costs: &Costs, phase: Phase) -> Result<Bound, String> {
    let latencies = Latencies::new(&model.latency, 0);
    let kind = |address: &str| address.split('.').next().unwrap_or(address).to_string();
    let own_cost = |address: &str| -> Result<f64, String> {
        let k = kind(address);
        let cost = costs
            .kind
            .get(&k)
            .ok_or_else(|| format!("no cost for kind {k} in the kind table"))?;
        let (calls, wait) = match phase {
            Phase::Create => (&cost.create, &cost.create_wait),
            Phase::Delete => (&cost.delete, &cost.delete_wait),
        };
        let mut seconds = 0.0;
        for call in calls {
            let (service, action) = call
                .split_once(':')
                .ok_or_else(|| format!("call {call:?} of {k} is not service:Action"))?;
            seconds += latencies.median(service, action);
        }
        if let Some(key) = wait {
            seconds += model
                .figure(key)
                .ok_or_else(|| format!("{k}: the model has no figure {key}"))?;
        }
        Ok(seconds)
    };
    let edge_wait = |first: &str, then: &str| -> Result<f64, String> {
        let (first, then) = (kind(first), kind(then));
        let mut wait = 0.0;
        for e in costs
            .edge
            .iter()
            .filter(|e| e.on == phase && e.from == first && e.to == then)
        {
            wait += model
                .figure(&e.wait)
                .ok_or_else(|| format!("edge {first} -> {then}: no figure {}", e.wait))?;
        }
        Ok(wait)
    };
    // What must be done before each node starts: its dependencies on create, its
    // dependents on delete.
    let mut before: BTreeMap<&str, Vec<&str>> = graph
        .nodes
        .iter()
        .map(|n| (n.as_str(), Vec::new()))
        .collect();
    for edge in &graph.edges {
        let (dependent, dependency) = edge;
        let (node, first) = match phase {
            Phase::Create => (dependent.as_str(), dependency.as_str()),
            Phase::Delete if graph.create_only.contains(edge) => continue,
            Phase::Delete => (dependency.as_str(), dependent.as_str()),
        };
        before.entry(node).or_default().push(first);
    }
    let mut done: BTreeMap<&str, (f64, Option<&str>)> = BTreeMap::new();
    let mut left: BTreeSet<&str> = graph.nodes.iter().map(String::as_str).collect();
    while !left.is_empty() {
        let ready: Vec<&str> = left
            .iter()
            .copied()
            .filter(|n| before[n].iter().all(|f| done.contains_key(f)))
            .collect();
        if ready.is_empty() {
            return Err(format!("the graph has a cycle among {left:?}"));
        }
        for node in ready {
            let mut start = 0.0;
            let mut via = None;
            for first in &before[node] {
                let t = done[first].0 + edge_wait(first, node)?;
                if t > start {
                    start = t;
                    via = Some(*first);
                }
            }
            done.insert(node, (start + own_cost(node)?, via));
            left.remove(node);
        }
    }
    let Some((last, (seconds, _))) = done
        .iter()
        .max_by(|a, b| a.1 .0.total_cmp(&b.1 .0))
        .map(|(n, v)| (*n, *v))
    else {
        return Ok(Bound {
            seconds: 0.0,
            chain: Vec::new(),
        });
    };
    let mut chain = vec![(last.to_string(), seconds)];
    let mut at = last;
    while let Some(prev) = done[at].1 {
        chain.push((prev.to_string(), done[prev].0));
        at = prev;
    }
    chain.reverse();
    Ok(Bound { seconds, chain })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOT: &str = r#"digraph nova {
  rankdir = "RL";
  "aws_vpc.main";
  "aws_subnet.public";
  "aws_eip.nat";
  "aws_nat_gateway.main";
  "aws_instance.web";
  "aws_iam_role.web";
  "aws_iam_instance_profile.web";
  "aws_subnet.public" -> "aws_vpc.main";
  "aws_nat_gateway.main" -> "aws_subnet.public";
  "aws_nat_gateway.main" -> "aws_eip.nat";
  "aws_instance.web" -> "aws_nat_gateway.main";
  "aws_instance.web" -> "aws_iam_instance_profile.web";
  "aws_iam_instance_profile.web" -> "aws_iam_role.web";
}"#;

    #[test]
    fn the_longest_chain_is_found_and_named() {
        let graph = Graph::from_dot(DOT);
        assert_eq!(graph.nodes.len(), 7);
        assert_eq!(graph.edges.len(), 6);
        let model = Model::builtin();
        let b = bound(&graph, &model, &Costs::builtin(), Phase::Create).unwrap();
        let chain: Vec<&str> = b.chain.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            chain,
            [
                "aws_vpc.main",
                "aws_subnet.public",
                "aws_nat_gateway.main",
                "aws_instance.web"
            ]
        );
        // NAT 100 s + instance 16 s + the calls' latencies.
        assert!((118.0..123.0).contains(&b.seconds), "{}", b.seconds);
        let d = bound(&graph, &model, &Costs::builtin(), Phase::Delete).unwrap();
        assert_eq!(
            d.chain.first().map(|c| c.0.as_str()),
            Some("aws_instance.web")
        );
        assert!((95.0..100.0).contains(&d.seconds), "{}", d.seconds);
    }

    #[test]
    fn a_create_only_edge_orders_creates_but_not_deletes() {
        let dot = DOT.replace(
            r#""aws_instance.web" -> "aws_nat_gateway.main";"#,
            r#""aws_instance.web" -> "aws_nat_gateway.main" [style = "dashed", label = "create only"];"#,
        );
        let graph = Graph::from_dot(&dot);
        assert_eq!(graph.edges.len(), 6);
        assert_eq!(graph.create_only.len(), 1);
        let model = Model::builtin();
        let b = bound(&graph, &model, &Costs::builtin(), Phase::Create).unwrap();
        assert!((118.0..123.0).contains(&b.seconds), "{}", b.seconds);
        // The NAT gateway's delete (55 s) no longer waits for the instance's (40 s).
        let d = bound(&graph, &model, &Costs::builtin(), Phase::Delete).unwrap();
        assert_eq!(
            d.chain.first().map(|c| c.0.as_str()),
            Some("aws_nat_gateway.main")
        );
        assert!((55.0..60.0).contains(&d.seconds), "{}", d.seconds);
    }

    #[test]
    fn an_unknown_kind_is_an_error() {
        let graph = Graph::from_dot("\"aws_nope.x\";");
        let err = bound(&graph, &Model::builtin(), &Costs::builtin(), Phase::Create).unwrap_err();
        assert!(err.contains("aws_nope"), "{err}");
    }
}
