//! The API Gateway kinds with one shape (REST APIs and their resources, methods,
//! integrations, deployments and stages): what differs from kind to kind ([`GatewayKind`]),
//! and the one [`ResourceProvider`] over it ([`KindProvider`]), which holds what they share:
//! a read is "gone, or the applied inputs as the live thing shows them", and deleting what
//! is gone succeeds.

use async_trait::async_trait;

use super::NOT_FOUND;
use crate::model::{Inputs, Outputs};
use crate::provider::aws::{ok_if_gone, required_str};
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};
use crate::provider::{Recorded, Update};

/// What a read or a delete is about: its id and its inputs as applied.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target<'a> {
    pub id: &'a str,
    pub inputs: &'a Inputs,
}

impl<'a> Target<'a> {
    /// The id of the REST API it belongs to (the input `rest_api_id`).
    pub fn rest_api_id(&self) -> Result<&'a str, ProviderError> {
        required_str(self.inputs, "rest_api_id")
    }
}

/// One API Gateway kind, as the calls that differ from kind to kind.
#[async_trait]
pub(super) trait GatewayKind: Send + Sync + 'static {
    /// A thing of the kind as read live.
    type Live: Send + Sync;

    /// The kind's fields, outputs and replacement order.
    fn schema(&self) -> &'static Schema;

    /// Creates a thing of the kind (and waits until it is usable).
    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError>;

    /// The thing as live now, or `None` when it (or its API) no longer exists.
    async fn live(&self, at: Target<'_>) -> Result<Option<Self::Live>, ProviderError>;

    /// Records in `inputs` (at first, those applied) what the live thing says of them.
    fn observe(&self, inputs: &mut Inputs, live: &Self::Live);

    /// The outputs of the live thing with id `id`.
    async fn outputs(&self, id: &str, live: &Self::Live) -> Result<Outputs, ProviderError>;

    /// Changes the thing in place and returns its outputs afterwards.
    async fn update(&self, ctx: &OpContext, update: Update<'_>) -> Result<Outputs, ProviderError>;

    /// Sends the delete call(s); an error saying it is gone counts as done.
    async fn delete(&self, ctx: &OpContext, at: Target<'_>) -> Result<(), ProviderError>;

    /// The thing an interrupted create of `inputs` made, by its ownership tags or its
    /// natural key (see [`ResourceProvider::find_existing`]).
    async fn find(
        &self,
        ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError>;
}

/// The provider of one API Gateway kind.
pub(super) struct KindProvider<K> {
    kind: K,
}

impl<K: GatewayKind> KindProvider<K> {
    pub(super) fn new(kind: K) -> Self {
        KindProvider { kind }
    }
}

#[async_trait]
impl<K: GatewayKind> ResourceProvider for KindProvider<K> {
    fn schema(&self) -> &Schema {
        self.kind.schema()
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        self.kind.create(ctx, inputs).await
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let at = Target {
            id,
            inputs: applied,
        };
        let Some(live) = self.kind.live(at).await? else {
            return Ok(Observed::Gone);
        };
        let mut inputs = applied.clone();
        self.kind.observe(&mut inputs, &live);
        Ok(Observed::Present {
            inputs,
            outputs: self.kind.outputs(id, &live).await?,
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        self.kind.update(ctx, change).await
    }

    async fn delete(&self, ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError> {
        let Recorded { id, inputs, .. } = object;
        let deleted = self.kind.delete(ctx, Target { id, inputs }).await;
        ok_if_gone(deleted, NOT_FOUND)
    }

    async fn find_existing(
        &self,
        ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        self.kind.find(ctx, inputs).await
    }
}
