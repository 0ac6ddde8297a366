//! The one dependency graph: a DAG over any ordered node type, with a deterministic
//! topological order (Kahn's algorithm, smallest ready node first), cycle naming and DOT
//! output. The planner orders resource addresses with it; the executor orders its
//! operations (`apply::graph`) with it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fmt::Write as _;

use crate::model::{Address, Blueprint};

/// Why a set of resources cannot be ordered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("{from} depends on {to}, which is not defined")]
    MissingDependency { from: Address, to: Address },
    /// `cycle` lists each address once, starting with the smallest; each depends on the
    /// next and the last on the first.
    #[error("dependency cycle: {}", CyclePath(cycle))]
    Cycle { cycle: Vec<Address> },
}

/// Displays a cycle as `a.x -> b.y -> a.x`.
struct CyclePath<'a>(&'a [Address]);

impl fmt::Display for CyclePath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for a in self.0 {
            write!(f, "{a} -> ")?;
        }
        match self.0.first() {
            Some(first) => write!(f, "{first}"),
            None => Ok(()),
        }
    }
}

/// A directed graph whose edges go from a dependent to its dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph<N = Address> {
    nodes: BTreeSet<N>,
    /// dependent -> its dependencies
    deps: BTreeMap<N, BTreeSet<N>>,
    /// dependency -> its dependents
    rdeps: BTreeMap<N, BTreeSet<N>>,
}

impl<N> Default for Graph<N> {
    fn default() -> Self {
        Graph {
            nodes: BTreeSet::new(),
            deps: BTreeMap::new(),
            rdeps: BTreeMap::new(),
        }
    }
}

impl Graph<Address> {
    /// The graph of a blueprint's resources, with edges from [`crate::model::Resource::dependencies`].
    /// A dependency on an address the blueprint does not define is an error; so is a cycle.
    pub fn from_blueprint(b: &Blueprint) -> Result<Graph, GraphError> {
        let mut g = Graph::new();
        for r in &b.resources {
            g.add_node(r.address.clone());
        }
        for r in &b.resources {
            for dep in r.dependencies() {
                if !g.nodes.contains(&dep) {
                    return Err(GraphError::MissingDependency {
                        from: r.address.clone(),
                        to: dep,
                    });
                }
                g.add_edge(&r.address, &dep);
            }
        }
        g.topological_order()?;
        Ok(g)
    }

    /// Dependencies before dependents ([`Graph::order`]); a cycle is a [`GraphError`].
    pub fn topological_order(&self) -> Result<Vec<Address>, GraphError> {
        self.order().map_err(|cycle| GraphError::Cycle { cycle })
    }

    /// Dependents before dependencies: the order to delete in.
    pub fn reverse_topological_order(&self) -> Result<Vec<Address>, GraphError> {
        let mut order = self.topological_order()?;
        order.reverse();
        Ok(order)
    }
}

impl<N: Ord + Clone> Graph<N> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_node(&mut self, a: N) {
        self.nodes.insert(a);
    }

    /// Records that `dependent` depends on `dependency`; adds both as nodes.
    pub fn add_edge(&mut self, dependent: &N, dependency: &N) {
        self.nodes.insert(dependent.clone());
        self.nodes.insert(dependency.clone());
        self.deps
            .entry(dependent.clone())
            .or_default()
            .insert(dependency.clone());
        self.rdeps
            .entry(dependency.clone())
            .or_default()
            .insert(dependent.clone());
    }

    /// Every node, sorted.
    pub fn nodes(&self) -> impl Iterator<Item = &N> {
        self.nodes.iter()
    }

    pub fn contains(&self, a: &N) -> bool {
        self.nodes.contains(a)
    }

    /// What `a` depends on directly.
    pub fn dependencies(&self, a: &N) -> BTreeSet<N> {
        self.deps.get(a).cloned().unwrap_or_default()
    }

    /// What depends on `a` directly.
    pub fn dependents(&self, a: &N) -> BTreeSet<N> {
        self.rdeps.get(a).cloned().unwrap_or_default()
    }

    /// Everything that depends on `a`, directly or not (not `a` itself unless in a cycle).
    pub fn transitive_dependents(&self, a: &N) -> BTreeSet<N> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&N> = vec![a];
        while let Some(next) = todo.pop() {
            for d in self.rdeps.get(next).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d);
                }
            }
        }
        seen
    }

    /// Dependencies before dependents; among nodes ready at the same time, the smallest
    /// first (Kahn's algorithm over a sorted ready set), so the order is stable. `Err`
    /// names one cycle: each node once, starting with the smallest; each depends on the
    /// next and the last on the first.
    pub fn order(&self) -> Result<Vec<N>, Vec<N>> {
        let mut waiting: BTreeMap<&N, usize> = self
            .nodes
            .iter()
            .map(|n| (n, self.deps.get(n).map_or(0, BTreeSet::len)))
            .collect();
        let mut ready: BTreeSet<&N> = waiting
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(a, _)| *a)
            .collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some(next) = ready.pop_first() {
            waiting.remove(next);
            for d in self.rdeps.get(next).into_iter().flatten() {
                if let Some(n) = waiting.get_mut(d) {
                    *n -= 1;
                    if *n == 0 {
                        ready.insert(d);
                    }
                }
            }
            order.push(next.clone());
        }
        if waiting.is_empty() {
            Ok(order)
        } else {
            let stuck: BTreeSet<&N> = waiting.keys().copied().collect();
            Err(self.find_cycle(&stuck))
        }
    }

    /// One cycle among `stuck`, the nodes Kahn's algorithm could not order. Each of them
    /// has a dependency that is also stuck, so following the smallest such dependency from
    /// the smallest stuck node must come back to a node already visited: that loop is a cycle.
    fn find_cycle(&self, stuck: &BTreeSet<&N>) -> Vec<N> {
        let mut path: Vec<&N> = Vec::new();
        let mut current = stuck.first().copied();
        while let Some(node) = current {
            if let Some(start) = path.iter().position(|p| *p == node) {
                return rotate_to_smallest(&path[start..]);
            }
            path.push(node);
            current = self
                .deps
                .get(node)
                .into_iter()
                .flatten()
                .find(|d| stuck.contains(d));
        }
        // Unreachable for a real cycle; report the stuck nodes rather than panic.
        stuck.iter().map(|a| (*a).clone()).collect()
    }
}

impl<N: Ord + Clone + fmt::Display> Graph<N> {
    /// Graphviz DOT, nodes and edges sorted; edges point from dependent to dependency.
    pub fn to_dot(&self) -> String {
        self.to_dot_with(|_, _| None)
    }

    /// [`Graph::to_dot`] with DOT attributes (e.g. `style = "dashed"`) on the edges for
    /// which `attributes(from, to)` gives some.
    pub fn to_dot_with(&self, attributes: impl Fn(&N, &N) -> Option<String>) -> String {
        let mut out = String::from("digraph nova {\n  rankdir = \"RL\";\n");
        for n in &self.nodes {
            let _ = writeln!(out, "  \"{n}\";");
        }
        for (from, tos) in &self.deps {
            for to in tos {
                match attributes(from, to) {
                    Some(a) => {
                        let _ = writeln!(out, "  \"{from}\" -> \"{to}\" [{a}];");
                    }
                    None => {
                        let _ = writeln!(out, "  \"{from}\" -> \"{to}\";");
                    }
                }
            }
        }
        out.push_str("}\n");
        out
    }
}

fn rotate_to_smallest<N: Ord + Clone>(cycle: &[&N]) -> Vec<N> {
    let start = cycle
        .iter()
        .enumerate()
        .min_by_key(|(_, a)| **a)
        .map_or(0, |(i, _)| i);
    cycle[start..]
        .iter()
        .chain(&cycle[..start])
        .map(|a| (*a).clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Resource, Value};

    fn a(s: &str) -> Address {
        s.parse().unwrap()
    }

    fn graph(edges: &[(&str, &str)], nodes: &[&str]) -> Graph {
        let mut g = Graph::new();
        for n in nodes {
            g.add_node(a(n));
        }
        for (from, to) in edges {
            g.add_edge(&a(from), &a(to));
        }
        g
    }

    fn names(v: &[Address]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    fn network() -> Graph {
        graph(
            &[
                ("aws_subnet.a", "aws_vpc.main"),
                ("aws_subnet.b", "aws_vpc.main"),
                ("aws_instance.web", "aws_subnet.a"),
                ("aws_instance.web", "aws_security_group.web"),
                ("aws_security_group.web", "aws_vpc.main"),
                ("aws_nat_gateway.main", "aws_subnet.b"),
                ("aws_nat_gateway.main", "aws_eip.nat"),
            ],
            &["aws_kms_key.main"],
        )
    }

    #[test]
    fn order_respects_every_edge() {
        let g = network();
        let order = g.topological_order().unwrap();
        assert_eq!(order.len(), g.nodes().count());
        let pos = |x: &Address| order.iter().position(|o| o == x).unwrap();
        for n in g.nodes() {
            for d in g.dependencies(n) {
                assert!(pos(&d) < pos(n), "{d} must come before {n}");
            }
        }
    }

    #[test]
    fn ties_are_broken_by_address() {
        let order = network().topological_order().unwrap();
        assert_eq!(
            names(&order),
            [
                "aws_eip.nat",
                "aws_kms_key.main",
                "aws_vpc.main",
                "aws_security_group.web",
                "aws_subnet.a",
                "aws_instance.web",
                "aws_subnet.b",
                "aws_nat_gateway.main",
            ]
        );
        // Insertion order does not matter.
        let net = network();
        let mut nodes: Vec<&Address> = net.nodes().collect();
        nodes.reverse();
        let mut g = Graph::new();
        for n in &nodes {
            g.add_node((*n).clone());
        }
        for n in &nodes {
            for d in net.dependencies(n).iter().rev() {
                g.add_edge(n, d);
            }
        }
        assert_eq!(g.topological_order().unwrap(), order);
    }

    #[test]
    fn reverse_order_puts_dependents_first() {
        let g = network();
        let mut order = g.topological_order().unwrap();
        order.reverse();
        assert_eq!(g.reverse_topological_order().unwrap(), order);
        assert_eq!(order.first().unwrap(), &a("aws_nat_gateway.main"));
        assert_eq!(order.last().unwrap(), &a("aws_eip.nat"));
    }

    #[test]
    fn dependents_direct_and_transitive() {
        let g = network();
        assert_eq!(
            names(
                &g.dependents(&a("aws_vpc.main"))
                    .into_iter()
                    .collect::<Vec<_>>()
            ),
            ["aws_security_group.web", "aws_subnet.a", "aws_subnet.b"]
        );
        assert_eq!(
            names(
                &g.transitive_dependents(&a("aws_vpc.main"))
                    .into_iter()
                    .collect::<Vec<_>>()
            ),
            [
                "aws_instance.web",
                "aws_nat_gateway.main",
                "aws_security_group.web",
                "aws_subnet.a",
                "aws_subnet.b",
            ]
        );
        assert!(g.transitive_dependents(&a("aws_kms_key.main")).is_empty());
    }

    #[test]
    fn blueprint_edges_come_from_references_and_depends_on() {
        let vpc = a("aws_vpc.main");
        let key = a("aws_kms_key.main");
        let b = Blueprint {
            resources: vec![
                Resource::new(a("aws_subnet.a"))
                    .with("vpc_id", Value::reference(&vpc, "id"))
                    .after(&key),
                Resource::new(vpc.clone()),
                Resource::new(key.clone()),
            ],
            outputs: Default::default(),
        };
        let g = Graph::from_blueprint(&b).unwrap();
        assert_eq!(
            g.dependencies(&a("aws_subnet.a")),
            [key, vpc].into_iter().collect()
        );
    }

    #[test]
    fn missing_dependency_is_an_error() {
        let b = Blueprint {
            resources: vec![Resource::new(a("aws_subnet.a"))
                .with("vpc_id", Value::reference(&a("aws_vpc.x"), "id"))],
            outputs: Default::default(),
        };
        let err = Graph::from_blueprint(&b).unwrap_err();
        assert_eq!(
            err,
            GraphError::MissingDependency {
                from: a("aws_subnet.a"),
                to: a("aws_vpc.x")
            }
        );
        assert_eq!(
            err.to_string(),
            "aws_subnet.a depends on aws_vpc.x, which is not defined"
        );
    }

    #[test]
    fn two_cycle_is_named() {
        // x.d depends on the cycle but is not part of it.
        let g = graph(
            &[
                ("b.y", "a.x"),
                ("a.x", "b.y"),
                ("x.d", "a.x"),
                ("a.x", "c.z"),
            ],
            &[],
        );
        let err = g.topological_order().unwrap_err();
        assert_eq!(
            err,
            GraphError::Cycle {
                cycle: vec![a("a.x"), a("b.y")]
            }
        );
        assert_eq!(err.to_string(), "dependency cycle: a.x -> b.y -> a.x");
    }

    #[test]
    fn three_cycle_is_named_in_dependency_order() {
        // a.a depends on c.c ... the path enters the cycle from a node outside it.
        let g = graph(
            &[
                ("a.a", "c.c"),
                ("c.c", "e.e"),
                ("e.e", "d.d"),
                ("d.d", "c.c"),
            ],
            &["b.b"],
        );
        let err = g.topological_order().unwrap_err();
        assert_eq!(
            err.to_string(),
            "dependency cycle: c.c -> e.e -> d.d -> c.c"
        );
        assert!(g.reverse_topological_order().is_err());
    }

    #[test]
    fn self_loop_is_a_cycle() {
        let g = graph(&[("a.x", "a.x"), ("b.y", "a.x")], &[]);
        let err = g.topological_order().unwrap_err();
        assert_eq!(
            err,
            GraphError::Cycle {
                cycle: vec![a("a.x")]
            }
        );
        assert_eq!(err.to_string(), "dependency cycle: a.x -> a.x");
    }

    #[test]
    fn blueprint_cycle_is_an_error() {
        let x = a("aws_vpc.x");
        let y = a("aws_subnet.y");
        let b = Blueprint {
            resources: vec![
                Resource::new(x.clone()).after(&y),
                Resource::new(y.clone()).with("vpc_id", Value::reference(&x, "id")),
            ],
            outputs: Default::default(),
        };
        let err = Graph::from_blueprint(&b).unwrap_err();
        assert_eq!(
            err.to_string(),
            "dependency cycle: aws_subnet.y -> aws_vpc.x -> aws_subnet.y"
        );
    }

    #[test]
    fn dot_output() {
        let g = graph(
            &[
                ("aws_subnet.a", "aws_vpc.main"),
                ("aws_instance.web", "aws_subnet.a"),
            ],
            &["aws_kms_key.main"],
        );
        assert_eq!(
            g.to_dot(),
            r#"digraph nova {
  rankdir = "RL";
  "aws_instance.web";
  "aws_kms_key.main";
  "aws_subnet.a";
  "aws_vpc.main";
  "aws_instance.web" -> "aws_subnet.a";
  "aws_subnet.a" -> "aws_vpc.main";
}
"#
        );
    }

    #[test]
    fn dot_edges_carry_the_attributes_asked_for() {
        let mut g: Graph<String> = Graph::new();
        for n in ["a", "b", "c"] {
            g.add_node(n.to_string());
        }
        g.add_edge(&"a".to_string(), &"b".to_string());
        g.add_edge(&"a".to_string(), &"c".to_string());
        let dot = g.to_dot_with(|_, to| (to == "c").then(|| "style = \"dashed\"".to_string()));
        assert!(dot.contains("  \"a\" -> \"b\";\n"), "{dot}");
        assert!(
            dot.contains("  \"a\" -> \"c\" [style = \"dashed\"];\n"),
            "{dot}"
        );
    }
}
