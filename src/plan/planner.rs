//! The planner: a pure, deterministic function from the desired blueprint, the state, what
//! a refresh observed and the provider schemas to a [`Plan`]. No I/O, no clock, no randomness.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Change, DeposedObject, FieldDiff, Plan, Reason, Records, Scope};
use crate::graph::{Graph, GraphError};
use crate::model::{Address, Blueprint, Inputs, Outputs, Reference, Resource, Value};
use crate::provider::{Observed, Providers, Schema, Schemas};
use crate::state::{ResourceState, State};

/// What providers say about deleting an object (KMS keys are only scheduled for deletion)
/// or updating it in place (an instance whose type changes is stopped and started): pure
/// functions of the kind and the object's inputs, asked while planning.
pub trait DeleteNotes {
    fn delete_note(&self, address: &Address, inputs: &Inputs) -> Option<String>;

    fn update_note(&self, _address: &Address, _old: &Inputs, _new: &Inputs) -> Option<String> {
        None
    }
}

impl DeleteNotes for Providers {
    fn delete_note(&self, address: &Address, inputs: &Inputs) -> Option<String> {
        self.get(address.kind())?.delete_note(inputs)
    }

    fn update_note(&self, address: &Address, old: &Inputs, new: &Inputs) -> Option<String> {
        self.get(address.kind())?.update_note(old, new)
    }
}

/// No notes (plans made without providers, e.g. in tests).
pub struct NoNotes;

impl DeleteNotes for NoNotes {
    fn delete_note(&self, _address: &Address, _inputs: &Inputs) -> Option<String> {
        None
    }
}

/// Everything the planner looks at.
#[derive(Clone, Copy)]
pub struct PlanInput<'a> {
    pub stack: &'a str,
    pub blueprint: &'a Blueprint,
    pub state: &'a State,
    /// What a refresh read, by address; `None` when planning without refresh. An address
    /// missing from the map is taken as the state has it.
    pub observed: Option<&'a BTreeMap<Address, Observed>>,
    pub schemas: &'a Schemas,
    /// The providers' notes on deletes and replacements.
    pub notes: &'a dyn DeleteNotes,
}

/// What the user asked of a plan beyond "everything" (`nova plan|up` options). The
/// default is a full plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// `--target`: plan only these and what they depend on (empty: everything).
    pub targets: BTreeSet<Address>,
    /// `--exclude`: leave these and what depends on them out.
    pub excludes: BTreeSet<Address>,
    /// `--replace`: replace these even though nothing forces it.
    pub replace: BTreeSet<Address>,
    /// `--refresh-only`: record what a refresh found; plan no change in AWS.
    pub refresh_only: bool,
}

impl PlanOptions {
    /// The [`Scope`] a plan made with these options records.
    fn scope(&self) -> Scope {
        Scope {
            refresh_only: self.refresh_only,
            targets: self.targets.iter().cloned().collect(),
            excludes: self.excludes.iter().cloned().collect(),
        }
    }
}

/// An object that already exists for an address the state does not have (found by its
/// ownership tags or natural key, then read), gathered before planning like a refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub id: String,
    /// Its live attributes in the shape of its inputs.
    pub inputs: Inputs,
    pub outputs: Outputs,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{address}: unknown resource kind `{kind}`: no provider handles it")]
    UnknownKind { address: Address, kind: String },
    #[error("{option} {address}: no such resource in the configuration or the state of stack `{stack}` (see `nova state list` and `nova graph`)")]
    UnknownAddress {
        option: &'static str,
        address: Address,
        stack: String,
    },
    #[error("--replace {address}: {reason}")]
    CannotReplace {
        address: Address,
        reason: &'static str,
    },
    #[error("{0} is defined more than once in the configuration")]
    DuplicateAddress(Address),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("{address}: `{field}` cannot shrink in place from {from} to {to} (AWS only grows it): keep it at {from} or more")]
    Shrink {
        address: Address,
        field: String,
        from: i64,
        to: i64,
    },
    #[error(transparent)]
    Clash(Box<Clash>),
    #[error(transparent)]
    DeleteBlocked(Box<DeleteBlocked>),
    #[error("the plan's operations would wait for each other in a cycle: {}", path.join(" -> "))]
    Cycle { path: Vec<String> },
}

/// A planned object's unique field clashes with an object that stays, or with another
/// planned object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address}: `{field}` {value} clashes with {other}'s {other_value}{}", if *other_stays { ", which stays: choose a value that does not clash" } else { ": two new objects cannot have it" })]
pub struct Clash {
    pub address: Address,
    pub field: String,
    pub value: String,
    pub other: Address,
    pub other_value: String,
    pub other_stays: bool,
}

/// A delete-first replacement of an object that a resource which is only updated keeps
/// using (AWS would refuse the delete while the update waits for the new object).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address} must be deleted before its replacement is created ({cause}), but {user} keeps using it through `{field}` until the replacement exists, and AWS refuses to delete it while it is in use: make the change in two steps (first to a value that does not clash)")]
pub struct DeleteBlocked {
    pub address: Address,
    pub cause: String,
    pub user: Address,
    pub field: String,
}

/// Plans the changes that bring the state to the blueprint, with Terraform's semantics:
/// resources are visited dependencies first; a reference is known only when its resource
/// keeps its object (no-op or update), else the field is [`Value::Unknown`] and counts as
/// changed; a changed `force_new` field means replace; state entries the blueprint no
/// longer has are deleted. One change per address, sorted.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanError> {
    plan_with(input, &PlanOptions::default(), &BTreeMap::new())
}

/// [`plan`] with the user's options and the objects found for addresses the state lacks
/// (`existing`, planned as [`Action::Import`] instead of create). `--replace` turns a kept
/// object into a replacement (dependants follow through unknown references, as for any
/// replacement); `--target`/`--exclude` keep only the changes of [`selection`], which
/// holds every dependency of what it keeps; `--refresh-only` plans no change in AWS and
/// records what the refresh found instead.
pub fn plan_with(
    input: &PlanInput,
    options: &PlanOptions,
    existing: &BTreeMap<Address, Existing>,
) -> Result<Plan, PlanError> {
    check_blueprint(input.blueprint, input.schemas)?;
    check_options(input.stack, input.blueprint, input.state, options)?;
    let selected = selection(input.blueprint, input.state, options)?;
    if options.refresh_only {
        return refresh_only_plan(input, options, selected.as_ref());
    }
    let order = Graph::from_blueprint(input.blueprint)?.topological_order()?;
    let mut planner = Planner {
        input,
        existing,
        actions: BTreeMap::new(),
    };
    let mut changes: BTreeMap<Address, Change> = BTreeMap::new();
    for address in &order {
        let Some(resource) = input.blueprint.get(address) else {
            continue;
        };
        let mut change = match existing.get(address) {
            Some(found) if input.state.get(address).is_none() => {
                planner.plan_import(resource, found)?
            }
            _ => planner.plan_resource(resource)?,
        };
        if options.replace.contains(address) {
            force_replacement(&mut change, &input.schemas[address.kind()]);
        }
        planner.actions.insert(address.clone(), change.action);
        changes.insert(address.clone(), change);
    }
    for prior in &input.state.resources {
        if !changes.contains_key(&prior.address) {
            let gone = matches!(planner.observed(&prior.address), Some(Observed::Gone));
            changes.insert(prior.address.clone(), delete_change(prior, gone));
        }
    }
    super::replacement::order(&mut changes, &order, input.blueprint, input.schemas)?;
    for change in changes.values_mut() {
        add_delete_note(change, input.notes);
    }
    let keep = |a: &Address| selected.as_ref().is_none_or(|s| s.contains(a));
    let changes: Vec<Change> = changes.into_values().filter(|c| keep(&c.address)).collect();
    let imported: BTreeSet<&Address> = changes
        .iter()
        .filter(|c| c.action == Action::Import)
        .map(|c| &c.address)
        .collect();
    let recorded = |a: &Address| input.state.get(a).is_some() || imported.contains(a);
    let records = Records {
        set: changes
            .iter()
            .filter(|c| c.action == Action::Import)
            .map(|c| imported_object(c, &existing[&c.address], &recorded))
            .collect(),
        forget: Vec::new(),
    };
    let mut deposed = deposed_objects(input.state);
    deposed.retain(|d| keep(&d.address));
    Ok(Plan {
        stack: input.stack.to_string(),
        lineage: input.state.lineage.clone(),
        serial: input.state.serial,
        blueprint: input.blueprint.clone(),
        changes,
        deposed,
        scope: options.scope(),
        records,
    })
}

/// Every address an option names must be in the configuration or the state (a typo
/// never plans "nothing"); `--replace` needs an object that exists and stays configured.
pub fn check_options(
    stack: &str,
    blueprint: &Blueprint,
    state: &State,
    options: &PlanOptions,
) -> Result<(), PlanError> {
    let known = |a: &Address| blueprint.get(a).is_some() || state.get(a).is_some();
    let named = [
        ("--target", &options.targets),
        ("--exclude", &options.excludes),
        ("--replace", &options.replace),
    ];
    for (option, addresses) in named {
        if let Some(address) = addresses.iter().find(|a| !known(a)) {
            return Err(PlanError::UnknownAddress {
                option,
                address: address.clone(),
                stack: stack.to_string(),
            });
        }
    }
    for address in &options.replace {
        let reason = if state.get(address).is_none() {
            "it does not exist yet (not in the state): it will be created anyway"
        } else if blueprint.get(address).is_none() {
            "it is no longer in the configuration: it will be destroyed, not replaced"
        } else {
            continue;
        };
        return Err(PlanError::CannotReplace {
            address: address.clone(),
            reason,
        });
    }
    Ok(())
}

/// The addresses a plan with `--target`/`--exclude` considers; `None` when it considers
/// everything. Targets pull in what they depend on (in the configuration), and a target
/// that is only in the state (to be destroyed) pulls in what depends on it there, since
/// those go first. Excludes push out what depends on them, in the configuration or the
/// state. So whatever is kept has every dependency kept too.
pub fn selection(
    blueprint: &Blueprint,
    state: &State,
    options: &PlanOptions,
) -> Result<Option<BTreeSet<Address>>, PlanError> {
    if options.targets.is_empty() && options.excludes.is_empty() {
        return Ok(None);
    }
    let everything: BTreeSet<Address> = blueprint
        .resources
        .iter()
        .map(|r| r.address.clone())
        .chain(state.resources.iter().map(|r| r.address.clone()))
        .collect();
    let mut selected = if options.targets.is_empty() {
        everything.clone()
    } else {
        let mut wanted = BTreeSet::new();
        let mut todo: Vec<Address> = options.targets.iter().cloned().collect();
        while let Some(address) = todo.pop() {
            if !wanted.insert(address.clone()) {
                continue;
            }
            match blueprint.get(&address) {
                Some(resource) => todo.extend(resource.dependencies()),
                None => todo.extend(state_dependents(state, &address)),
            }
        }
        wanted
    };
    let mut todo: Vec<Address> = options.excludes.iter().cloned().collect();
    let mut excluded = BTreeSet::new();
    while let Some(address) = todo.pop() {
        if !excluded.insert(address.clone()) {
            continue;
        }
        todo.extend(
            blueprint
                .resources
                .iter()
                .filter(|r| r.dependencies().contains(&address))
                .map(|r| r.address.clone()),
        );
        todo.extend(state_dependents(state, &address));
    }
    selected.retain(|a| !excluded.contains(a) && everything.contains(a));
    Ok(Some(selected))
}

/// The resources of the state that depended on `address` when applied.
fn state_dependents<'s>(
    state: &'s State,
    address: &'s Address,
) -> impl Iterator<Item = Address> + 's {
    state
        .resources
        .iter()
        .filter(move |r| r.dependencies.contains(address))
        .map(|r| r.address.clone())
}

/// `--replace`: a kept object (no-op or update) becomes a replacement, in the kind's
/// order; a replacement already planned only gains the reason.
fn force_replacement(change: &mut Change, schema: &Schema) {
    match change.action {
        Action::NoOp | Action::Update => {
            change.action = Action::Replace {
                create_before_destroy: schema.create_before_destroy,
            };
        }
        Action::Replace { .. } => {}
        Action::Create | Action::Delete | Action::Import => return,
    }
    change.reasons.push(Reason::ReplaceRequested);
}

/// The state entry of an imported object: as it is live, depending on what it will depend
/// on that is in the state once the imports are recorded (`recorded`). A dependency still
/// to be created joins with the in-place update that follows the import.
fn imported_object(
    change: &Change,
    found: &Existing,
    recorded: &dyn Fn(&Address) -> bool,
) -> ResourceState {
    ResourceState {
        address: change.address.clone(),
        kind: change.address.kind().to_string(),
        id: found.id.clone(),
        inputs: found.inputs.clone(),
        outputs: found.outputs.clone(),
        dependencies: change
            .dependencies
            .iter()
            .filter(|d| recorded(d))
            .cloned()
            .collect(),
    }
}

/// `--refresh-only`: one change per resource of the state (in the selection) saying what
/// the refresh found (update: changed outside nova; delete: deleted outside nova), and
/// the records that write it into the state. Nothing is created, changed or deleted in
/// AWS; the configuration is not looked at.
fn refresh_only_plan(
    input: &PlanInput,
    options: &PlanOptions,
    selected: Option<&BTreeSet<Address>>,
) -> Result<Plan, PlanError> {
    let mut changes = Vec::new();
    let mut records = Records::default();
    for prior in &input.state.resources {
        if selected.is_some_and(|s| !s.contains(&prior.address)) {
            continue;
        }
        let schema = input
            .schemas
            .get(&prior.kind)
            .ok_or_else(|| PlanError::UnknownKind {
                address: prior.address.clone(),
                kind: prior.kind.clone(),
            })?;
        let mut change = Change {
            address: prior.address.clone(),
            action: Action::NoOp,
            before: Some(prior.inputs.clone()),
            after: Some(prior.inputs.clone()),
            diffs: Vec::new(),
            reasons: Vec::new(),
            dependencies: prior.dependencies.clone(),
            prior_dependencies: prior.dependencies.clone(),
            waits_for_old: BTreeSet::new(),
        };
        match input.observed.and_then(|o| o.get(&prior.address)) {
            None => {}
            Some(Observed::Gone) => {
                change.action = Action::Delete;
                change.after = None;
                records.forget.push(prior.address.clone());
            }
            Some(Observed::Present { inputs, outputs }) => {
                change.diffs = diff_fields(&prior.inputs, inputs, schema);
                if !change.diffs.is_empty() || outputs != &prior.outputs {
                    change.action = Action::Update;
                    change.after = Some(inputs.clone());
                    records.set.push(ResourceState {
                        inputs: inputs.clone(),
                        outputs: outputs.clone(),
                        ..prior.clone()
                    });
                }
            }
        }
        changes.push(change);
    }
    changes.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(Plan {
        stack: input.stack.to_string(),
        lineage: input.state.lineage.clone(),
        serial: input.state.serial,
        blueprint: input.blueprint.clone(),
        changes,
        deposed: Vec::new(),
        scope: options.scope(),
        records,
    })
}

/// The plan of `nova destroy`: every resource in the state is deleted. The same as
/// planning an empty blueprint without refresh, except that the deletes carry no
/// "not in the configuration" reason (the user asked for them).
pub fn destroy_plan(stack: &str, state: &State, notes: &dyn DeleteNotes) -> Plan {
    let mut changes: Vec<Change> = state
        .resources
        .iter()
        .map(|r| {
            let mut change = Change {
                reasons: Vec::new(),
                ..delete_change(r, false)
            };
            add_delete_note(&mut change, notes);
            change
        })
        .collect();
    changes.sort_by(|a, b| a.address.cmp(&b.address));
    Plan {
        stack: stack.to_string(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        blueprint: Blueprint::default(),
        changes,
        deposed: deposed_objects(state),
        scope: Scope::default(),
        records: Records::default(),
    }
}

/// The provider's note on a delete or replacement of the object `before` describes, or on
/// an in-place update.
fn add_delete_note(change: &mut Change, notes: &dyn DeleteNotes) {
    if change.action == Action::Update {
        if let (Some(before), Some(after)) = (&change.before, &change.after) {
            if let Some(note) = notes.update_note(&change.address, before, after) {
                change.reasons.push(Reason::ProviderNote { note });
            }
        }
        return;
    }
    if !matches!(change.action, Action::Delete | Action::Replace { .. }) {
        return;
    }
    if let Some(note) = change
        .before
        .as_ref()
        .and_then(|before| notes.delete_note(&change.address, before))
    {
        change.reasons.push(Reason::ProviderNote { note });
    }
}

/// The deposed objects of `state`, sorted.
fn deposed_objects(state: &State) -> Vec<DeposedObject> {
    let mut deposed: Vec<DeposedObject> = state
        .deposed
        .iter()
        .map(|r| DeposedObject {
            address: r.address.clone(),
            id: r.id.clone(),
        })
        .collect();
    deposed.sort_by(|a, b| (&a.address, &a.id).cmp(&(&b.address, &b.id)));
    deposed
}

/// Every address once, every kind known.
fn check_blueprint(blueprint: &Blueprint, schemas: &Schemas) -> Result<(), PlanError> {
    let mut seen = BTreeSet::new();
    for r in &blueprint.resources {
        if !seen.insert(&r.address) {
            return Err(PlanError::DuplicateAddress(r.address.clone()));
        }
        if !schemas.contains_key(r.address.kind()) {
            return Err(PlanError::UnknownKind {
                address: r.address.clone(),
                kind: r.address.kind().to_string(),
            });
        }
    }
    Ok(())
}

/// The walk's memory: the action already chosen for each resource planned so far.
struct Planner<'a> {
    input: &'a PlanInput<'a>,
    /// Objects found for addresses the state lacks (imported).
    existing: &'a BTreeMap<Address, Existing>,
    actions: BTreeMap<Address, Action>,
}

impl Planner<'_> {
    fn observed(&self, address: &Address) -> Option<&Observed> {
        self.input.observed.and_then(|o| o.get(address))
    }

    /// The outputs the existing object has now: as refreshed, else as recorded, else as
    /// found (an import).
    fn current_outputs(&self, address: &Address) -> Option<&Outputs> {
        match self.observed(address) {
            Some(Observed::Present { outputs, .. }) => Some(outputs),
            Some(Observed::Gone) => None,
            None => self
                .input
                .state
                .get(address)
                .map(|r| &r.outputs)
                .or_else(|| self.existing.get(address).map(|e| &e.outputs)),
        }
    }

    /// A referenced output, if it is known before apply: only when its resource keeps its
    /// object (no-op, in-place update, import) and that object has the output.
    fn lookup(&self, r: &Reference) -> Option<Value> {
        match self.actions.get(&r.address) {
            Some(Action::NoOp | Action::Update | Action::Import) => {
                self.current_outputs(&r.address)?.get(&r.output).cloned()
            }
            _ => None,
        }
    }

    /// An import of `found` for `resource`: its live inputs against the desired ones. The
    /// fields that differ are updated in place after the import; when one cannot change in
    /// place, the import only records the object and the next plan replaces it.
    fn plan_import(&self, resource: &Resource, found: &Existing) -> Result<Change, PlanError> {
        let address = &resource.address;
        let schema = self.schema(address)?;
        let after = self.resolve(&resource.inputs);
        let diffs = diff_fields(&found.inputs, &after, schema);
        let mut reasons = vec![Reason::FoundExisting];
        if diffs.iter().any(|d| d.forces_replacement) {
            reasons.push(Reason::ReplaceAfterImport);
        }
        Ok(Change {
            address: address.clone(),
            action: Action::Import,
            before: Some(found.inputs.clone()),
            after: Some(after),
            diffs,
            reasons,
            dependencies: resource.dependencies(),
            prior_dependencies: BTreeSet::new(),
            waits_for_old: BTreeSet::new(),
        })
    }

    fn schema(&self, address: &Address) -> Result<&Schema, PlanError> {
        self.input
            .schemas
            .get(address.kind())
            .ok_or_else(|| PlanError::UnknownKind {
                address: address.clone(),
                kind: address.kind().to_string(),
            })
    }

    fn resolve(&self, inputs: &Inputs) -> Inputs {
        let lookup = |r: &Reference| self.lookup(r);
        inputs
            .iter()
            .map(|(field, value)| (field.clone(), value.resolve(&lookup)))
            .collect()
    }

    fn plan_resource(&self, resource: &Resource) -> Result<Change, PlanError> {
        let address = &resource.address;
        let schema =
            self.input
                .schemas
                .get(address.kind())
                .ok_or_else(|| PlanError::UnknownKind {
                    address: address.clone(),
                    kind: address.kind().to_string(),
                })?;
        let after = self.resolve(&resource.inputs);
        let prior = self.input.state.get(address);
        let mut change = Change {
            address: address.clone(),
            action: Action::Create,
            before: None,
            after: None,
            diffs: Vec::new(),
            reasons: Vec::new(),
            dependencies: resource.dependencies(),
            prior_dependencies: prior.map(|p| p.dependencies.clone()).unwrap_or_default(),
            waits_for_old: BTreeSet::new(),
        };
        let before = match (prior, self.observed(address)) {
            (None, _) => None,
            (Some(_), Some(Observed::Gone)) => {
                change.reasons.push(Reason::GoneOutOfBand);
                None
            }
            (Some(_), Some(Observed::Present { inputs, .. })) => Some(inputs.clone()),
            (Some(p), None) => Some(p.inputs.clone()),
        };
        match before {
            None => change.diffs = create_diffs(&after),
            Some(before) => {
                change.diffs = diff_fields(&before, &after, schema);
                change.action = action_for(&change.diffs, schema);
                change.reasons = replacement_reasons(&change.diffs);
                if prior.is_some_and(|p| is_drift(&change.diffs, &p.inputs)) {
                    change.reasons.push(Reason::Drift);
                }
                change.before = Some(before);
            }
        }
        change.after = Some(after);
        Ok(change)
    }
}

/// A create's diffs: every desired field, from nothing.
fn create_diffs(after: &Inputs) -> Vec<FieldDiff> {
    after
        .iter()
        .map(|(field, value)| FieldDiff {
            field: field.clone(),
            before: None,
            after: Some(value.clone()),
            forces_replacement: false,
        })
        .collect()
}

/// The fields that differ, over the union of field names, sorted. A field that is not yet
/// known counts as changed; an absent field and a `null` one are the same; lists are sets
/// (their order never matters, see [`Value::same_as`]) unless the kind's schema declares
/// the field an ordered list.
pub(crate) fn diff_fields(before: &Inputs, after: &Inputs, schema: &Schema) -> Vec<FieldDiff> {
    let fields: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    fields
        .into_iter()
        .filter_map(|field| {
            let b = present(before.get(field));
            let a = present(after.get(field));
            let changed = a.is_some_and(|v| !v.is_known())
                || match (b, a) {
                    (Some(b), Some(a)) if schema.is_ordered(field) => b != a,
                    (Some(b), Some(a)) => !b.same_as(a),
                    (b, a) => b != a,
                };
            changed.then(|| FieldDiff {
                field: field.clone(),
                before: b.cloned(),
                after: a.cloned(),
                forces_replacement: schema.is_force_new(field),
            })
        })
        .collect()
}

/// `None` for an absent or `null` field.
fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| **v != Value::Null)
}

fn action_for(diffs: &[FieldDiff], schema: &Schema) -> Action {
    if diffs.is_empty() {
        Action::NoOp
    } else if diffs.iter().any(|d| d.forces_replacement) {
        Action::Replace {
            create_before_destroy: schema.create_before_destroy,
        }
    } else {
        Action::Update
    }
}

fn replacement_reasons(diffs: &[FieldDiff]) -> Vec<Reason> {
    diffs
        .iter()
        .filter(|d| d.forces_replacement)
        .map(|d| Reason::ForceNew {
            field: d.field.clone(),
        })
        .collect()
}

/// True when some field differs only because it changed outside nova: what nova applied
/// (the state) already is what is desired, but the live value (refreshed) is not.
fn is_drift(diffs: &[FieldDiff], applied: &Inputs) -> bool {
    diffs.iter().any(|d| {
        let applied = present(applied.get(&d.field));
        match (applied, d.after.as_ref()) {
            (Some(a), Some(after)) => after.is_known() && a.same_as(after),
            (None, None) => true,
            _ => false,
        }
    })
}

fn delete_change(prior: &ResourceState, already_gone: bool) -> Change {
    let mut reasons = vec![Reason::NotInConfig];
    if already_gone {
        reasons.push(Reason::AlreadyGone);
    }
    Change {
        address: prior.address.clone(),
        action: Action::Delete,
        before: Some(prior.inputs.clone()),
        after: None,
        diffs: Vec::new(),
        reasons,
        dependencies: BTreeSet::new(),
        prior_dependencies: prior.dependencies.clone(),
        waits_for_old: BTreeSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::*;

    fn plan_of(blueprint: &Blueprint, state: &State) -> Plan {
        plan_of_stack("test", blueprint, state, None)
    }

    fn refreshed(
        blueprint: &Blueprint,
        state: &State,
        observed: &BTreeMap<Address, Observed>,
    ) -> Plan {
        plan_of_stack("test", blueprint, state, Some(observed))
    }

    fn change<'p>(plan: &'p Plan, address: &str) -> &'p Change {
        plan.change(&addr(address))
            .unwrap_or_else(|| panic!("no change for {address}"))
    }

    fn after(plan: &Plan, address: &str, field: &str) -> Value {
        change(plan, address).after.as_ref().unwrap()[field].clone()
    }

    fn changed_fields(c: &Change) -> Vec<&str> {
        c.diffs.iter().map(|d| d.field.as_str()).collect()
    }

    #[test]
    fn empty_state_creates_everything_with_unknown_references() {
        let b = network_blueprint();
        let state = empty_state();
        let p = plan_of(&b, &state);
        assert_eq!(p.stack, "test");
        assert_eq!(p.lineage, state.lineage);
        assert_eq!(p.serial, state.serial);
        assert_eq!(p.blueprint, b);
        let addrs: Vec<String> = p.changes.iter().map(|c| c.address.to_string()).collect();
        assert_eq!(addrs, ["aws_subnet.public", "aws_vpc.main"]);
        for c in &p.changes {
            assert_eq!(c.action, Action::Create);
            assert_eq!(c.before, None);
            assert!(c.reasons.is_empty());
            assert_eq!(
                changed_fields(c),
                c.after
                    .as_ref()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
            );
        }
        assert_eq!(after(&p, "aws_subnet.public", "vpc_id"), Value::Unknown);
        assert_eq!(
            after(&p, "aws_subnet.public", "cidr_block"),
            Value::str("10.0.1.0/24")
        );
        assert_eq!(
            change(&p, "aws_subnet.public").dependencies,
            [addr("aws_vpc.main")].into_iter().collect()
        );
        assert_eq!(p.summary().add, 2);
    }

    #[test]
    fn state_as_apply_records_it_plans_no_changes() {
        let b = network_blueprint();
        let state = applied_network_state();
        let p = plan_of(&b, &state);
        assert!(!p.has_changes(), "{p:#?}");
        assert_eq!(p.changes.len(), 2);
        let subnet = change(&p, "aws_subnet.public");
        assert_eq!(subnet.action, Action::NoOp);
        assert!(subnet.diffs.is_empty());
        assert_eq!(subnet.after.as_ref(), subnet.before.as_ref());
        assert_eq!(
            after(&p, "aws_subnet.public", "vpc_id"),
            Value::str("vpc-0001")
        );
        assert_eq!(
            subnet.prior_dependencies,
            [addr("aws_vpc.main")].into_iter().collect()
        );
    }

    #[test]
    fn tag_change_updates_in_place_and_dependents_keep_known_outputs() {
        let b = network_blueprint_with(&[("aws_vpc.main", "tags", tags(&[("Name", "renamed")]))]);
        let p = plan_of(&b, &applied_network_state());
        let vpc = change(&p, "aws_vpc.main");
        assert_eq!(vpc.action, Action::Update);
        assert!(vpc.reasons.is_empty());
        assert_eq!(
            vpc.diffs,
            vec![FieldDiff {
                field: "tags".into(),
                before: Some(tags(&[("Name", "main")])),
                after: Some(tags(&[("Name", "renamed")])),
                forces_replacement: false,
            }]
        );
        assert_eq!(change(&p, "aws_subnet.public").action, Action::NoOp);
        assert_eq!(p.summary().change, 1);
    }

    #[test]
    fn forced_replacement_propagates_through_references() {
        let b =
            network_blueprint_with(&[("aws_vpc.main", "cidr_block", Value::str("10.1.0.0/16"))]);
        let p = plan_of(&b, &applied_network_state());
        let vpc = change(&p, "aws_vpc.main");
        assert_eq!(
            vpc.action,
            Action::Replace {
                create_before_destroy: true
            }
        );
        assert_eq!(vpc.reasons, ["`cidr_block` forces replacement"]);
        assert!(vpc.diffs[0].forces_replacement);

        // The subnet's vpc_id is now unknown, and vpc_id forces replacement of a subnet;
        // in a new VPC its CIDR clashes with nothing, so the new one comes first.
        let subnet = change(&p, "aws_subnet.public");
        assert_eq!(
            subnet.action,
            Action::Replace {
                create_before_destroy: true
            }
        );
        assert_eq!(subnet.reasons, ["`vpc_id` forces replacement"]);
        assert_eq!(
            subnet.diffs,
            vec![FieldDiff {
                field: "vpc_id".into(),
                before: Some(Value::str("vpc-0001")),
                after: Some(Value::Unknown),
                forces_replacement: true,
            }]
        );
        assert_eq!(p.summary().replace, 2);
    }

    #[test]
    fn several_forcing_fields_give_one_reason_each() {
        let b = network_blueprint_with(&[
            ("aws_subnet.public", "cidr_block", Value::str("10.0.9.0/24")),
            (
                "aws_subnet.public",
                "availability_zone",
                Value::str("us-east-1b"),
            ),
            (
                "aws_subnet.public",
                "map_public_ip_on_launch",
                Value::Bool(true),
            ),
        ]);
        let p = plan_of(&b, &applied_network_state());
        let subnet = change(&p, "aws_subnet.public");
        assert_eq!(
            subnet.reasons,
            [
                "`availability_zone` forces replacement",
                "`cidr_block` forces replacement"
            ]
        );
        assert_eq!(
            changed_fields(subnet),
            ["availability_zone", "cidr_block", "map_public_ip_on_launch"]
        );
        let forcing: Vec<bool> = subnet.diffs.iter().map(|d| d.forces_replacement).collect();
        assert_eq!(forcing, [true, true, false]);
        assert_eq!(change(&p, "aws_vpc.main").action, Action::NoOp);
    }

    #[test]
    fn resource_not_in_blueprint_is_deleted() {
        let b = network_blueprint();
        let mut state = applied_network_state();
        let old = ResourceState {
            address: addr("aws_subnet.old"),
            kind: "aws_subnet".into(),
            id: "subnet-old".into(),
            inputs: [("cidr_block".to_string(), Value::str("10.0.5.0/24"))].into(),
            outputs: [("id".to_string(), Value::str("subnet-old"))].into(),
            dependencies: [addr("aws_vpc.main")].into(),
        };
        state.upsert(old.clone());
        let p = plan_of(&b, &state);
        let c = change(&p, "aws_subnet.old");
        assert_eq!(c.action, Action::Delete);
        assert_eq!(c.reasons, ["not in the configuration"]);
        assert_eq!(c.before, Some(old.inputs));
        assert_eq!(c.after, None);
        assert!(c.diffs.is_empty());
        assert!(c.dependencies.is_empty());
        assert_eq!(c.prior_dependencies, old.dependencies);
        assert_eq!(p.summary().destroy, 1);
        let addrs: Vec<String> = p.changes.iter().map(|c| c.address.to_string()).collect();
        assert_eq!(
            addrs,
            ["aws_subnet.old", "aws_subnet.public", "aws_vpc.main"]
        );
    }

    #[test]
    fn removed_field_is_an_update_and_null_equals_absent() {
        let mut b = network_blueprint();
        remove_input(&mut b, "aws_vpc.main", "enable_dns_hostnames");
        set_input(&mut b, "aws_vpc.main", "extra", Value::Null);
        let p = plan_of(&b, &applied_network_state());
        let vpc = change(&p, "aws_vpc.main");
        assert_eq!(vpc.action, Action::Update);
        assert_eq!(
            vpc.diffs,
            vec![FieldDiff {
                field: "enable_dns_hostnames".into(),
                before: Some(Value::Bool(true)),
                after: None,
                forces_replacement: false,
            }]
        );
    }

    #[test]
    fn concat_resolves_only_when_its_reference_is_known() {
        let api = addr("aws_api_gateway_rest_api.main");
        let perm = Resource::new(addr("aws_lambda_permission.api")).with(
            "source_arn",
            Value::Concat(vec![
                Value::reference(&api, "execution_arn"),
                Value::str("/*/GET/health"),
            ]),
        );
        let b = Blueprint {
            resources: vec![
                perm,
                Resource::new(api.clone()).with("name", Value::str("api")),
            ],
            outputs: BTreeMap::new(),
        };
        // Nothing exists: the ARN is unknown.
        let p = plan_of(&b, &empty_state());
        assert_eq!(
            after(&p, "aws_lambda_permission.api", "source_arn"),
            Value::Unknown
        );

        // The API exists and is kept: the ARN is a known string, and matches the state.
        let arn = "arn:aws:execute-api:us-east-1:000000000000:abc123";
        let mut state = empty_state();
        state.upsert(ResourceState {
            address: api.clone(),
            kind: api.kind().into(),
            id: "abc123".into(),
            inputs: [("name".to_string(), Value::str("api"))].into(),
            outputs: [("execution_arn".to_string(), Value::str(arn))].into(),
            dependencies: BTreeSet::new(),
        });
        let p = plan_of(&b, &state);
        let full = Value::str(format!("{arn}/*/GET/health"));
        assert_eq!(after(&p, "aws_lambda_permission.api", "source_arn"), full);
        assert_eq!(
            change(&p, "aws_lambda_permission.api").action,
            Action::Create
        );

        state.upsert(ResourceState {
            address: addr("aws_lambda_permission.api"),
            kind: "aws_lambda_permission".into(),
            id: "f/api".into(),
            inputs: [("source_arn".to_string(), full)].into(),
            outputs: BTreeMap::new(),
            dependencies: [api].into(),
        });
        assert!(!plan_of(&b, &state).has_changes());
    }

    #[test]
    fn refresh_gone_recreates_and_dependents_follow() {
        let b = network_blueprint();
        let state = applied_network_state();
        let observed: BTreeMap<Address, Observed> = [
            (addr("aws_vpc.main"), Observed::Gone),
            (
                addr("aws_subnet.public"),
                observed_as_in_state(&state, "aws_subnet.public"),
            ),
        ]
        .into();
        let p = refreshed(&b, &state, &observed);
        let vpc = change(&p, "aws_vpc.main");
        assert_eq!(vpc.action, Action::Create);
        assert_eq!(vpc.reasons, ["deleted outside nova: will be created again"]);
        assert_eq!(vpc.before, None);
        let subnet = change(&p, "aws_subnet.public");
        assert_eq!(
            subnet.action,
            Action::Replace {
                create_before_destroy: true
            }
        );
        assert_eq!(after(&p, "aws_subnet.public", "vpc_id"), Value::Unknown);
    }

    #[test]
    fn refresh_drift_updates_from_the_observed_values() {
        let b = network_blueprint();
        let state = applied_network_state();
        let Observed::Present {
            mut inputs,
            outputs,
        } = observed_as_in_state(&state, "aws_vpc.main")
        else {
            unreachable!()
        };
        inputs.insert("tags".into(), tags(&[("Name", "edited-by-hand")]));
        let observed: BTreeMap<Address, Observed> = [(
            addr("aws_vpc.main"),
            Observed::Present {
                inputs: inputs.clone(),
                outputs,
            },
        )]
        .into();
        let p = refreshed(&b, &state, &observed);
        let vpc = change(&p, "aws_vpc.main");
        assert_eq!(vpc.action, Action::Update);
        assert_eq!(vpc.before, Some(inputs));
        assert_eq!(
            vpc.diffs[0].before,
            Some(tags(&[("Name", "edited-by-hand")]))
        );
        assert_eq!(vpc.diffs[0].after, Some(tags(&[("Name", "main")])));
        // The subnet was not refreshed: taken as the state has it.
        assert_eq!(change(&p, "aws_subnet.public").action, Action::NoOp);

        // Without refresh the drift is not seen.
        assert!(!plan_of(&b, &state).has_changes());
    }

    #[test]
    fn refreshed_outputs_feed_references() {
        let b = network_blueprint();
        let state = applied_network_state();
        let Observed::Present {
            inputs,
            mut outputs,
        } = observed_as_in_state(&state, "aws_vpc.main")
        else {
            unreachable!()
        };
        outputs.insert("id".into(), Value::str("vpc-0002"));
        let observed: BTreeMap<Address, Observed> =
            [(addr("aws_vpc.main"), Observed::Present { inputs, outputs })].into();
        let p = refreshed(&b, &state, &observed);
        assert_eq!(
            after(&p, "aws_subnet.public", "vpc_id"),
            Value::str("vpc-0002")
        );
        assert_eq!(
            change(&p, "aws_subnet.public").action,
            Action::Replace {
                create_before_destroy: true
            }
        );
    }

    #[test]
    fn planning_is_deterministic_and_ignores_blueprint_order() {
        let mut b =
            network_blueprint_with(&[("aws_vpc.main", "cidr_block", Value::str("10.1.0.0/16"))]);
        let state = applied_network_state();
        let first = plan_of(&b, &state);
        assert_eq!(plan_of(&b, &state), first);
        let json = serde_json::to_string(&first).unwrap();
        assert_eq!(serde_json::to_string(&plan_of(&b, &state)).unwrap(), json);
        b.resources.reverse();
        assert_eq!(plan_of(&b, &state).changes, first.changes);
    }

    #[test]
    fn destroy_plan_deletes_everything_like_an_empty_blueprint() {
        let state = applied_network_state();
        let d = destroy_plan("test", &state, &NoNotes);
        assert_eq!(d.changes.len(), 2);
        assert!(d.changes.iter().all(|c| c.action == Action::Delete));
        assert_eq!(d.summary().destroy, 2);
        assert!(d.changes.iter().all(|c| c.reasons.is_empty()));
        let mut empty = plan_of(&Blueprint::default(), &state);
        for c in &mut empty.changes {
            assert_eq!(c.reasons, ["not in the configuration"]);
            c.reasons.clear();
        }
        assert_eq!(empty, d);
        assert!(!destroy_plan("test", &empty_state(), &NoNotes).has_changes());
    }

    #[test]
    fn deposed_objects_are_planned_for_deletion_and_shown() {
        let mut state = applied_network_state();
        let mut old = state.resources[0].clone();
        old.id = "old-object-1".into();
        state.deposed.push(old.clone());
        let p = plan_of(&network_blueprint(), &state);
        assert!(p.has_changes());
        assert_eq!(p.summary().destroy, 1);
        assert_eq!(p.deposed.len(), 1);
        let text = crate::plan::render_human(&p, false);
        assert!(
            text.contains(&format!(
                "# {} (deposed object old-object-1) will be destroyed",
                old.address
            )),
            "{text}"
        );
        assert!(
            text.contains("Plan: 0 to add, 0 to change, 0 to replace, 1 to destroy."),
            "{text}"
        );
    }

    #[test]
    fn list_order_is_not_a_change() {
        let state = applied_network_state();
        let mut b = network_blueprint_with(&[(
            "aws_vpc.main",
            "extra",
            Value::list_of_strings(["b", "a"]),
        )]);
        let mut reordered = state.clone();
        let vpc = reordered
            .resources
            .iter_mut()
            .find(|r| r.address == addr("aws_vpc.main"))
            .unwrap();
        vpc.inputs
            .insert("extra".into(), Value::list_of_strings(["a", "b"]));
        assert_eq!(
            change(&plan_of(&b, &reordered), "aws_vpc.main").action,
            Action::NoOp
        );
        set_input(
            &mut b,
            "aws_vpc.main",
            "extra",
            Value::list_of_strings(["c", "a"]),
        );
        assert_eq!(
            change(&plan_of(&b, &reordered), "aws_vpc.main").action,
            Action::Update
        );
    }

    #[test]
    fn delete_of_a_resource_already_gone_says_so() {
        let state = applied_network_state();
        let observed: BTreeMap<Address, Observed> = [(addr("aws_vpc.main"), Observed::Gone)].into();
        let p = refreshed(&Blueprint::default(), &state, &observed);
        assert_eq!(
            change(&p, "aws_vpc.main").reasons,
            ["not in the configuration", "already deleted outside nova"]
        );
    }

    #[test]
    fn unknown_kind_duplicate_and_graph_errors() {
        let schemas = schemas();
        let state = empty_state();
        let run = |b: &Blueprint| {
            plan(&PlanInput {
                stack: "test",
                blueprint: b,
                state: &state,
                observed: None,
                schemas: &schemas,
                notes: &NoNotes,
            })
        };
        let b = Blueprint {
            resources: vec![Resource::new(addr("aws_mystery.x"))],
            outputs: BTreeMap::new(),
        };
        let err = run(&b).unwrap_err();
        assert_eq!(
            err,
            PlanError::UnknownKind {
                address: addr("aws_mystery.x"),
                kind: "aws_mystery".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "aws_mystery.x: unknown resource kind `aws_mystery`: no provider handles it"
        );

        let mut b = network_blueprint();
        b.resources.push(b.resources[0].clone());
        assert_eq!(
            run(&b).unwrap_err(),
            PlanError::DuplicateAddress(addr("aws_vpc.main"))
        );

        let mut b = network_blueprint();
        b.resources.retain(|r| r.address.kind() == "aws_subnet");
        let err = run(&b).unwrap_err();
        assert_eq!(
            err.to_string(),
            "aws_subnet.public depends on aws_vpc.main, which is not defined"
        );
        assert!(matches!(err, PlanError::Graph(_)));
    }
}
