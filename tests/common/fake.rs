//! An in-memory cloud behind nova's own provider trait (Pulumi's `deploytest` idea): every
//! kind's provider is a [`Fake`] over one shared [`Cloud`] that records each call (with
//! sequence numbers, so tests can check order and overlap), counts calls in flight, and
//! fails, delays or "crashes" (hangs after making an object) where a test asks. Like AWS,
//! it refuses a create whose unique field clashes with a live object's, a create or update
//! that refers to an object already deleted, and the delete of an object that a live
//! object still uses through a field that blocks deletes (each as its kind's schema
//! declares). Never a mock of the AWS SDK: engine tests drive nova's real planner,
//! executor, writer and recovery against it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use nova::model::{Address, Inputs, Outputs, Value};
use nova::provider::schema::Clash;
use nova::provider::{
    CallOutcome, Created, Observed, OpContext, ProviderError, Providers, ResourceProvider, Schema,
};
use nova::provider::{Recorded, Update};

#[derive(Debug, Clone)]
pub struct Object {
    pub kind: String,
    pub inputs: Inputs,
    /// (stack, address) it was created for: what `find_existing` looks for.
    pub owner: (String, Address),
}

/// One provider call: its sequence numbers at start and end.
#[derive(Debug, Clone)]
pub struct Call {
    pub address: Address,
    pub op: &'static str,
    pub start: u64,
    pub end: u64,
    pub id: String,
}

#[derive(Default)]
pub struct Cloud {
    pub objects: Mutex<BTreeMap<String, Object>>,
    pub log: Mutex<Vec<Call>>,
    pub seq: AtomicU64,
    pub next_id: AtomicU64,
    pub in_flight: AtomicUsize,
    pub peak: AtomicUsize,
    pub creates: AtomicUsize,
    pub delay: Mutex<Duration>,
    pub fail_create: Mutex<BTreeSet<Address>>,
    /// Physical ids whose delete fails.
    pub fail_delete: Mutex<BTreeSet<String>>,
    /// Hang forever (after making the object) on the K-th create, waking the notify.
    pub crash_at: Mutex<Option<(usize, Arc<Notify>)>>,
    /// (id, old inputs) of every update, in call order.
    pub updated_from: Mutex<Vec<(String, Inputs)>>,
    /// Every id ever made (a value equal to one that is gone is a dangling reference).
    pub issued: Mutex<BTreeSet<String>>,
    /// What the cloud refused (clashes, dangling references, deletes of objects in use).
    pub refusals: Mutex<Vec<String>>,
    /// Per address, how many more creates make the object and then lose the answer (an
    /// uncertain 500, as after a dropped connection).
    pub lose_create_answer: Mutex<BTreeMap<Address, usize>>,
    /// Per address, how many more creates are throttled (nothing is made).
    pub throttle_create: Mutex<BTreeMap<Address, usize>>,
    /// Addresses whose name someone else holds: their creates answer "already exists".
    pub taken: Mutex<BTreeSet<Address>>,
    /// Addresses whose `find_existing` fails.
    pub fail_find: Mutex<BTreeSet<Address>>,
}

/// Takes one from `address`'s count in `counts`; true when there was one.
fn take_one(counts: &Mutex<BTreeMap<Address, usize>>, address: &Address) -> bool {
    let mut counts = counts.lock().unwrap();
    match counts.get_mut(address) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

/// An AWS error with this code and outcome.
fn aws(operation: &str, code: &str, outcome: CallOutcome) -> ProviderError {
    ProviderError::Aws {
        operation: operation.to_string(),
        code: code.to_string(),
        message: format!("injected {code}"),
        request_id: None,
        outcome,
    }
}

impl Cloud {
    pub fn new(delay: Duration) -> Arc<Cloud> {
        let cloud = Cloud::default();
        *cloud.delay.lock().unwrap() = delay;
        Arc::new(cloud)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.log.lock().unwrap().clone()
    }

    pub fn objects(&self) -> BTreeMap<String, Object> {
        self.objects.lock().unwrap().clone()
    }

    pub fn tick(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst)
    }
}

/// Counts a call in flight for as long as it lives (also when its future is dropped).
pub struct Gauge<'a>(&'a Cloud);

impl<'a> Gauge<'a> {
    fn enter(cloud: &'a Cloud) -> Self {
        let now = cloud.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        cloud.peak.fetch_max(now, Ordering::SeqCst);
        Gauge(cloud)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct Fake {
    pub schema: Schema,
    pub cloud: Arc<Cloud>,
    /// Every kind's schema in this cloud (which fields of other objects block a delete).
    pub schemas: Arc<BTreeMap<String, Schema>>,
}

pub fn outputs_for(id: &str) -> Outputs {
    let mut o = Outputs::new();
    o.insert("id".into(), Value::str(id));
    o.insert("arn".into(), Value::str(format!("arn:fake:{id}")));
    o
}

/// The strings in `value` (itself, or a list's items).
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::List(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn clashes(how: Clash, a: &str, b: &str) -> bool {
    match (
        how,
        a.parse::<nova::config::Cidr>(),
        b.parse::<nova::config::Cidr>(),
    ) {
        (Clash::CidrOverlap, Ok(a), Ok(b)) => a.overlaps(&b),
        _ => a == b,
    }
}

impl Cloud {
    /// Why AWS would refuse to make or change an object of `kind` to `inputs` now (`id`:
    /// the object itself, for an update): a value naming an object already deleted, or
    /// a unique field clashing with another live object's.
    fn refusal(&self, schema: &Schema, id: Option<&str>, inputs: &Inputs) -> Option<String> {
        let objects = self.objects.lock().unwrap();
        let issued = self.issued.lock().unwrap();
        for (field, value) in inputs {
            if let Some(gone) = strings(value)
                .into_iter()
                .find(|s| issued.contains(*s) && !objects.contains_key(*s))
            {
                return Some(format!("`{field}` refers to {gone}, which was deleted"));
            }
        }
        for (field, unique) in schema.unique_fields() {
            let Some(value) = inputs.get(field).and_then(Value::as_str) else {
                continue;
            };
            let scope = |i: &Inputs| {
                unique
                    .scope
                    .iter()
                    .map(|s| i.get(*s).cloned())
                    .collect::<Vec<_>>()
            };
            let clash = objects.iter().find(|(other, o)| {
                Some(other.as_str()) != id
                    && o.kind == schema.kind
                    && scope(&o.inputs) == scope(inputs)
                    && o.inputs
                        .get(field)
                        .and_then(Value::as_str)
                        .is_some_and(|v| clashes(unique.clash, v, value))
            });
            if let Some((other, _)) = clash {
                return Some(format!("`{field}` {value} clashes with live {other}"));
            }
        }
        None
    }

    /// Why AWS would refuse to delete `id` now: a live object uses it through a field
    /// that blocks deletes.
    fn in_use(&self, id: &str, schemas: &dyn Fn(&str) -> Option<Schema>) -> Option<String> {
        let objects = self.objects.lock().unwrap();
        objects.iter().find_map(|(user, o)| {
            let schema = schemas(&o.kind)?;
            o.inputs.iter().find_map(|(field, value)| {
                (schema.blocks_delete(field) && strings(value).contains(&id))
                    .then(|| format!("{id} is in use by {user} (`{field}`)"))
            })
        })
    }

    fn refuse(&self, what: String) -> ProviderError {
        self.refusals.lock().unwrap().push(what.clone());
        ProviderError::Other(what)
    }
}

impl Fake {
    /// `id`, `arn`, and every other output the kind's schema declares (`<output>-of-<id>`),
    /// so references to any declared output resolve.
    fn outputs(&self, id: &str) -> Outputs {
        let mut outputs = outputs_for(id);
        for name in self.schema.outputs.iter() {
            outputs
                .entry(name.to_string())
                .or_insert_with(|| Value::str(format!("{name}-of-{id}")));
        }
        outputs
    }

    async fn pause(&self) {
        let delay = *self.cloud.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    fn log(&self, ctx: &OpContext, op: &'static str, start: u64, id: &str) {
        let end = self.cloud.tick();
        self.cloud.log.lock().unwrap().push(Call {
            address: ctx.address.clone(),
            op,
            start,
            end,
            id: id.to_string(),
        });
    }
}

#[async_trait]
impl ResourceProvider for Fake {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let _gauge = Gauge::enter(&self.cloud);
        assert!(ctx.client_token.len() <= 64 && !ctx.client_token.is_empty());
        assert!(inputs.values().all(Value::is_known), "{inputs:?}");
        let start = self.cloud.tick();
        self.pause().await;
        if self
            .cloud
            .fail_create
            .lock()
            .unwrap()
            .contains(&ctx.address)
        {
            self.log(ctx, "create-failed", start, "");
            return Err(ProviderError::Other("injected failure".into()));
        }
        if take_one(&self.cloud.throttle_create, &ctx.address) {
            self.log(ctx, "create-throttled", start, "");
            return Err(aws("Create", "Throttling", CallOutcome::Throttled));
        }
        if self.cloud.taken.lock().unwrap().contains(&ctx.address) {
            self.log(ctx, "create-taken", start, "");
            return Err(aws("Create", "EntityAlreadyExists", CallOutcome::Refused));
        }
        if let Some(why) = self.cloud.refusal(&self.schema, None, inputs) {
            self.log(ctx, "create-refused", start, "");
            return Err(self.cloud.refuse(format!("{}: {why}", ctx.address)));
        }
        let id = format!(
            "{}-{}",
            self.schema.kind,
            self.cloud.next_id.fetch_add(1, Ordering::SeqCst)
        );
        self.cloud.issued.lock().unwrap().insert(id.clone());
        self.cloud.objects.lock().unwrap().insert(
            id.clone(),
            Object {
                kind: self.schema.kind.to_string(),
                inputs: inputs.clone(),
                owner: (ctx.stack.clone(), ctx.address.clone()),
            },
        );
        let made = self.cloud.creates.fetch_add(1, Ordering::SeqCst) + 1;
        let crash = {
            let mut slot = self.cloud.crash_at.lock().unwrap();
            match slot.as_ref() {
                Some((k, _)) if *k == made => slot.take().map(|(_, n)| n),
                _ => None,
            }
        };
        if let Some(notify) = crash {
            notify.notify_one();
            std::future::pending::<()>().await;
        }
        if take_one(&self.cloud.lose_create_answer, &ctx.address) {
            self.log(ctx, "create-answer-lost", start, &id);
            return Err(aws("Create", "InternalError", CallOutcome::Uncertain));
        }
        self.log(ctx, "create", start, &id);
        Ok(Created {
            outputs: self.outputs(&id),
            id,
        })
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        _applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        Ok(match self.cloud.objects.lock().unwrap().get(id) {
            Some(o) => Observed::Present {
                inputs: o.inputs.clone(),
                outputs: self.outputs(id),
            },
            None => Observed::Gone,
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, old, new, .. } = change;
        self.cloud
            .updated_from
            .lock()
            .unwrap()
            .push((id.to_string(), old.clone()));
        let _gauge = Gauge::enter(&self.cloud);
        let start = self.cloud.tick();
        self.pause().await;
        if let Some(why) = self.cloud.refusal(&self.schema, Some(id), new) {
            self.log(ctx, "update-refused", start, id);
            return Err(self.cloud.refuse(format!("{}: {why}", ctx.address)));
        }
        match self.cloud.objects.lock().unwrap().get_mut(id) {
            Some(o) => o.inputs = new.clone(),
            None => return Err(ProviderError::Other(format!("{id} does not exist"))),
        }
        self.log(ctx, "update", start, id);
        Ok(self.outputs(id))
    }

    async fn delete(&self, ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        let _gauge = Gauge::enter(&self.cloud);
        let start = self.cloud.tick();
        self.pause().await;
        if self.cloud.fail_delete.lock().unwrap().contains(id) {
            self.log(ctx, "delete-failed", start, id);
            return Err(ProviderError::Other("injected delete failure".into()));
        }
        let schemas = self.schemas.clone();
        let schema_of = |kind: &str| schemas.get(kind).cloned();
        if let Some(why) = self.cloud.in_use(id, &schema_of) {
            self.log(ctx, "delete-refused", start, id);
            return Err(self.cloud.refuse(format!("{}: {why}", ctx.address)));
        }
        self.cloud.objects.lock().unwrap().remove(id);
        self.log(ctx, "delete", start, id);
        Ok(())
    }

    async fn find_existing(
        &self,
        ctx: &OpContext,
        _inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        if self.cloud.fail_find.lock().unwrap().contains(&ctx.address) {
            return Err(aws("Describe", "InternalError", CallOutcome::Uncertain));
        }
        let owner = (ctx.stack.clone(), ctx.address.clone());
        let objects = self.cloud.objects.lock().unwrap();
        Ok(objects
            .iter()
            .find(|(id, o)| o.owner == owner && !ctx.is_known(id))
            .map(|(id, _)| Created {
                id: id.clone(),
                outputs: self.outputs(id),
            }))
    }
}

/// A provider of each of `schemas`, over `cloud`.
pub fn with_schemas(cloud: &Arc<Cloud>, schemas: Vec<Schema>) -> Providers {
    let all: Arc<BTreeMap<String, Schema>> = Arc::new(
        schemas
            .iter()
            .map(|s| (s.kind.to_string(), s.clone()))
            .collect(),
    );
    let mut p = Providers::new();
    for schema in schemas {
        p.register(Arc::new(Fake {
            schema,
            cloud: cloud.clone(),
            schemas: all.clone(),
        }));
    }
    p
}

/// Kinds: `fake_thing` (replaced delete-first), `fake_cbd` (create-before-destroy).
pub fn providers(cloud: &Arc<Cloud>) -> Providers {
    with_schemas(
        cloud,
        vec![
            Schema::new("fake_thing", &["name"], false),
            Schema::new("fake_cbd", &["name"], true),
        ],
    )
}

/// A fake of every kind nova manages, each with the kind's real schema: the production
/// blueprint plans and applies against it.
pub fn every_kind(cloud: &Arc<Cloud>) -> Providers {
    with_schemas(
        cloud,
        nova::provider::aws::schemas()
            .into_iter()
            .cloned()
            .collect(),
    )
}
