//! The executor: carries out a plan's operation graph, readiness-driven (an operation
//! starts as soon as everything it waits for is done), at most `parallelism` at a time,
//! ready operations in address order. A failure skips only what (transitively) waits for
//! it; independent work goes on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::model::{Address, Inputs, Reference, Resource, Value};
use crate::plan::Plan;
use crate::provider::Providers;
use crate::state::{ResourceState, StateWriter};

use super::error::ApplyError;
use super::graph::{self, OpKey, Step};
use super::job::{Done, Finished, Job, Work};
use super::observe::ApplyObserver;

/// How an apply runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Most provider calls in flight at once (at least 1).
    pub parallelism: usize,
    /// The stack name handed to providers (ownership tags, crash recovery).
    pub stack: String,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 10,
            stack: String::new(),
        }
    }
}

/// One operation that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    pub address: Address,
    /// "create", "update", "delete", "delete deposed object <id>".
    pub what: String,
    /// False when no call was needed (an update whose resolved inputs were unchanged, a
    /// delete of something already absent from the state).
    pub call_made: bool,
    pub elapsed: Duration,
}

/// What an apply did, in the order things finished.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub completed: Vec<Completed>,
    pub failed: Vec<ApplyError>,
    /// (skipped address, the failed address upstream of it), in the order skipped.
    pub skipped: Vec<(Address, Address)>,
    /// Operations never started because the run stopped (the state could not be saved).
    pub not_started: Vec<Address>,
}

impl ApplyReport {
    pub fn is_success(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && self.not_started.is_empty()
    }
}

/// Carries out `plan`: creates, updates and deletes through `providers`, saving every
/// call as pending in the state before it is made and its outcome after; finally sets the
/// stack outputs. Does not close `writer`.
pub async fn apply(
    plan: &Plan,
    providers: &Providers,
    writer: &StateWriter,
    observer: Arc<dyn ApplyObserver>,
    options: &ApplyOptions,
) -> ApplyReport {
    let mut report = ApplyReport::default();
    let state = match writer.snapshot().await {
        Ok(s) => s,
        Err(source) => {
            report.failed.push(ApplyError::State {
                source: Box::new(source),
            });
            return report;
        }
    };
    let graph = match graph::build(plan, &state.deposed) {
        Ok(g) => g,
        Err(e) => {
            report.failed.push(e);
            return report;
        }
    };
    report.failed = missing_providers(&graph, providers);
    if !report.failed.is_empty() {
        return report;
    }
    let mut run = Scheduler {
        plan,
        providers,
        writer,
        observer,
        options,
        lineage: state.lineage.clone(),
        current: state
            .resources
            .iter()
            .map(|r| (r.address.clone(), r.clone()))
            .collect(),
        at_start: state
            .resources
            .iter()
            .map(|r| (r.address.clone(), r.clone()))
            .collect(),
        deposed: state.deposed.clone(),
        graph,
        waiting: BTreeMap::new(),
        ready: BTreeSet::new(),
        reported: BTreeSet::new(),
        report,
        halted: false,
    };
    for op in run.graph.nodes() {
        let waits = run.graph.dependencies(op).len();
        if waits == 0 {
            run.ready.insert(op.clone());
        } else {
            run.waiting.insert(op.clone(), waits);
        }
    }
    run.execute().await;
    run.set_outputs().await;
    run.report
}

fn missing_providers(graph: &graph::OpGraph, providers: &Providers) -> Vec<ApplyError> {
    let addresses: BTreeSet<&Address> = graph.nodes().map(|op| &op.address).collect();
    addresses
        .into_iter()
        .filter(|a| providers.get(a.kind()).is_none())
        .map(|a| ApplyError::NoProvider {
            address: a.clone(),
            kind: a.kind().to_string(),
        })
        .collect()
}

struct Scheduler<'a> {
    plan: &'a Plan,
    providers: &'a Providers,
    writer: &'a StateWriter,
    observer: Arc<dyn ApplyObserver>,
    options: &'a ApplyOptions,
    lineage: String,
    /// Each address's object as of now (results of this run included).
    current: BTreeMap<Address, ResourceState>,
    /// Each address's object when the run started: what its delete removes.
    at_start: BTreeMap<Address, ResourceState>,
    deposed: Vec<ResourceState>,
    /// Operations not yet ready, with how many operations they still wait for.
    waiting: BTreeMap<OpKey, usize>,
    /// The operations and what each waits for.
    graph: graph::OpGraph,
    ready: BTreeSet<OpKey>,
    /// Addresses already reported failed or skipped.
    reported: BTreeSet<Address>,
    report: ApplyReport,
    /// Set when the state cannot be saved: nothing more is started.
    halted: bool,
}

impl Scheduler<'_> {
    async fn execute(&mut self) {
        let parallelism = self.options.parallelism.max(1);
        let mut tasks: JoinSet<(OpKey, Result<Finished, ApplyError>)> = JoinSet::new();
        loop {
            while !self.halted && tasks.len() < parallelism {
                let Some(op) = self.ready.pop_first() else {
                    break;
                };
                match self.prepare(&op) {
                    Ok(Some(job)) => {
                        tasks.spawn(async move {
                            let result = job.run().await;
                            (op, result)
                        });
                    }
                    Ok(None) => self.complete(&op, nothing_done()),
                    Err(e) => {
                        self.observer
                            .finished(&op.address, &op.what(), Duration::ZERO, Some(&e));
                        self.fail(&op, e);
                    }
                }
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            match joined {
                Ok((op, Ok(finished))) => self.complete(&op, finished),
                Ok((op, Err(e))) => self.fail(&op, e),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {} // cancelled: only when the runtime shuts down
            }
        }
        let left: BTreeSet<Address> = self
            .ready
            .iter()
            .chain(self.waiting.keys())
            .map(|op| op.address.clone())
            .collect();
        self.report.not_started = left.into_iter().collect();
    }

    /// Every id this address has in the state now: its current object (the old one while a
    /// create-before-destroy replacement creates the new) and deposed ones. An object
    /// already deleted (a delete-first replacement) is not among them: its name may be
    /// taken again.
    fn known_ids(&self, address: &Address) -> Vec<String> {
        let mut ids: Vec<String> = self
            .current
            .get(address)
            .into_iter()
            .chain(self.deposed.iter().filter(|r| &r.address == address))
            .map(|r| r.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Builds the job for `op`; `None` when there is nothing to do.
    fn prepare(&self, op: &OpKey) -> Result<Option<Job>, ApplyError> {
        let address = &op.address;
        let provider = self
            .providers
            .get(address.kind())
            .ok_or_else(|| ApplyError::NoProvider {
                address: address.clone(),
                kind: address.kind().to_string(),
            })?
            .clone();
        let work = match &op.step {
            Step::Create => {
                let resource = self.desired(address)?;
                Work::Create {
                    inputs: self.resolve(resource)?,
                    dependencies: resource.lasting_dependencies(),
                }
            }
            Step::Update => {
                let resource = self.desired(address)?;
                let inputs = self.resolve(resource)?;
                let dependencies = resource.lasting_dependencies();
                match self.current.get(address) {
                    Some(old) => Work::Update {
                        old: self.as_planned(old),
                        inputs,
                        dependencies,
                    },
                    // Not in the state after all: make it.
                    None => Work::Create {
                        inputs,
                        dependencies,
                    },
                }
            }
            Step::Delete => match self.at_start.get(address) {
                Some(old) => Work::Delete { old: old.clone() },
                None => {
                    self.observer
                        .note(address, "not in the state: nothing to delete");
                    return Ok(None);
                }
            },
            Step::DeleteDeposed(id) => {
                match self
                    .deposed
                    .iter()
                    .find(|r| &r.address == address && &r.id == id)
                {
                    Some(old) => Work::Delete { old: old.clone() },
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(Job {
            address: address.clone(),
            known_ids: self.known_ids(address),
            what: op.what(),
            lineage: self.lineage.clone(),
            stack: self.options.stack.clone(),
            provider,
            writer: self.writer.clone(),
            observer: self.observer.clone(),
            work,
        }))
    }

    /// The object to update, with the inputs the plan saw: after a refresh these are the
    /// live values (drift, e.g. a tag changed out of band), which the update must diff
    /// against; the inputs last applied would hide the drift and skip the call.
    fn as_planned(&self, old: &ResourceState) -> ResourceState {
        let mut old = old.clone();
        if let Some(before) = self
            .plan
            .change(&old.address)
            .and_then(|c| c.before.as_ref())
        {
            old.inputs = before.clone();
        }
        old
    }

    fn desired(&self, address: &Address) -> Result<&Resource, ApplyError> {
        self.plan
            .blueprint
            .get(address)
            .ok_or_else(|| ApplyError::NotInBlueprint {
                address: address.clone(),
            })
    }

    fn lookup(&self, r: &Reference) -> Option<Value> {
        self.current
            .get(&r.address)
            .and_then(|res| res.outputs.get(&r.output))
            .cloned()
    }

    /// The resource's inputs with every reference replaced by the output known now.
    fn resolve(&self, resource: &Resource) -> Result<Inputs, ApplyError> {
        let mut inputs = Inputs::new();
        for (field, value) in &resource.inputs {
            let resolved = value.resolve(&|r| self.lookup(r));
            if !resolved.is_known() {
                return Err(ApplyError::Unresolved {
                    address: resource.address.clone(),
                    field: field.clone(),
                    detail: self.why_unknown(value),
                });
            }
            inputs.insert(field.clone(), resolved);
        }
        Ok(inputs)
    }

    fn why_unknown(&self, value: &Value) -> String {
        let mut refs = BTreeSet::new();
        value.references(&mut refs);
        for r in refs {
            if self.lookup(&r).is_some() {
                continue;
            }
            return match self.current.get(&r.address) {
                Some(_) => format!("`{}` has no output `{}`", r.address, r.output),
                None => format!("it refers to `{r}`, but `{}` does not exist", r.address),
            };
        }
        "it holds a value only known after apply, with nothing to resolve it from".to_string()
    }

    fn complete(&mut self, op: &OpKey, finished: Finished) {
        match finished.done {
            Done::Present(resource) => {
                self.current.insert(resource.address.clone(), resource);
            }
            Done::Deleted(id) => {
                if self.current.get(&op.address).is_some_and(|r| r.id == id) {
                    self.current.remove(&op.address);
                }
            }
            Done::Nothing => {}
        }
        self.report.completed.push(Completed {
            address: op.address.clone(),
            what: op.what(),
            call_made: finished.call_made,
            elapsed: finished.elapsed,
        });
        for d in self.graph.dependents(op) {
            if let Some(n) = self.waiting.get_mut(&d) {
                *n -= 1;
                if *n == 0 {
                    self.waiting.remove(&d);
                    self.ready.insert(d);
                }
            }
        }
    }

    /// Records a failure and skips everything that (transitively) waits for `op`.
    fn fail(&mut self, op: &OpKey, error: ApplyError) {
        if matches!(error, ApplyError::StateSave { .. }) {
            self.halted = true;
        }
        self.reported.insert(op.address.clone());
        self.report.failed.push(error);
        let mut stack: Vec<OpKey> = self.graph.dependents(op).into_iter().collect();
        while let Some(d) = stack.pop() {
            if self.waiting.remove(&d).is_none() {
                continue; // already skipped through another path
            }
            stack.extend(self.graph.dependents(&d));
            if self.reported.insert(d.address.clone()) {
                self.observer.skipped(&d.address, &op.address);
                self.report
                    .skipped
                    .push((d.address.clone(), op.address.clone()));
            }
        }
    }

    /// Stack outputs resolved against the final objects; only fully known ones are kept.
    async fn set_outputs(&self) {
        let outputs: BTreeMap<String, Value> = self
            .plan
            .blueprint
            .outputs
            .iter()
            .map(|(name, value)| (name.clone(), value.resolve(&|r| self.lookup(r))))
            .filter(|(_, v)| v.is_known())
            .collect();
        self.writer.set_outputs(outputs).await;
    }
}

fn nothing_done() -> Finished {
    Finished {
        done: Done::Nothing,
        call_made: false,
        elapsed: Duration::ZERO,
    }
}
