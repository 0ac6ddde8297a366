//! `aws_api_gateway_integration`: what a method calls, here a Lambda function through an
//! `AWS_PROXY` integration (`integration_http_method` `POST`, `uri` the Lambda invoke ARN).
//! The id is `<api>/<resource>/<METHOD>`. PutIntegration replaces the whole integration, so
//! it is used for both create and update.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_apigateway::types::{Integration, IntegrationType};

use super::calls::change;
use super::kind::{GatewayKind, Target};
use super::method_key::MethodKey;
use super::{id_outputs, set_str, Gateway};
use crate::model::{Inputs, Outputs};
use crate::provider::aws::kinds;
use crate::provider::aws::{optional_str, required_str};
use crate::provider::schema::fields as f;
use crate::provider::Update;
use crate::provider::{Created, OpContext, ProviderError, Schema};

const DEFAULT_TYPE: &str = "AWS_PROXY";
const DEFAULT_INTEGRATION_METHOD: &str = "POST";

/// `aws_api_gateway_integration`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static API_INTEGRATION_SCHEMA: Schema = Schema::declare(
    kinds::API_INTEGRATION,
    &[
        f::string("rest_api_id").required().force_new(),
        f::string("resource_id").required().force_new(),
        // One integration per method.
        f::string("http_method")
            .required()
            .force_new()
            .unique_within(&["rest_api_id", "resource_id"]),
        f::string("type"),
        f::string("integration_http_method"),
        f::string("uri").required(),
    ],
    &["id"],
    true,
);

/// The `aws_api_gateway_integration` kind.
pub struct IntegrationKind {
    gateway: Arc<Gateway>,
}

impl IntegrationKind {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        IntegrationKind { gateway }
    }

    /// PutIntegration with the type, integration method and uri in `inputs`.
    async fn put(
        &self,
        ctx: &OpContext,
        key: MethodKey<'_>,
        inputs: &Inputs,
    ) -> Result<(), ProviderError> {
        let kind = IntegrationType::from(optional_str(inputs, "type").unwrap_or(DEFAULT_TYPE));
        let integration_method =
            optional_str(inputs, "integration_http_method").unwrap_or(DEFAULT_INTEGRATION_METHOD);
        let uri = required_str(inputs, "uri")?;
        change(ctx, "putting the integration", "PutIntegration", || {
            self.gateway
                .client()
                .put_integration()
                .rest_api_id(key.api)
                .resource_id(key.resource)
                .http_method(key.method)
                .r#type(kind.clone())
                .integration_http_method(integration_method)
                .uri(uri)
                .send()
        })
        .await?;
        Ok(())
    }

    /// The live integration, or `None` when it (or its method) is gone. Read from the
    /// method (GetMethod carries its integration): one call, and LocalStack answers
    /// GetIntegration of a method without one with a 500 where AWS says NotFound.
    async fn get(&self, key: MethodKey<'_>) -> Result<Option<Integration>, ProviderError> {
        Ok(self
            .gateway
            .method(key)
            .await?
            .and_then(|out| out.method_integration))
    }
}

#[async_trait]
impl GatewayKind for IntegrationKind {
    type Live = Integration;

    fn schema(&self) -> &'static Schema {
        &API_INTEGRATION_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let key = MethodKey::of_inputs(inputs)?;
        self.put(ctx, key, inputs).await?;
        Ok(key.created())
    }

    async fn live(&self, at: Target<'_>) -> Result<Option<Self::Live>, ProviderError> {
        self.get(MethodKey::of_id(at.id)?).await
    }

    fn observe(&self, inputs: &mut Inputs, live: &Self::Live) {
        set_str(inputs, "type", live.r#type().map(|t| t.as_str()));
        set_str(inputs, "integration_http_method", live.http_method());
        set_str(inputs, "uri", live.uri());
    }

    async fn outputs(&self, id: &str, _live: &Self::Live) -> Result<Outputs, ProviderError> {
        Ok(id_outputs(id))
    }

    async fn update(&self, ctx: &OpContext, update: Update<'_>) -> Result<Outputs, ProviderError> {
        self.put(ctx, MethodKey::of_id(update.id)?, update.new)
            .await?;
        Ok(id_outputs(update.id))
    }

    async fn delete(&self, ctx: &OpContext, at: Target<'_>) -> Result<(), ProviderError> {
        let key = MethodKey::of_id(at.id)?;
        change(ctx, "deleting the integration", "DeleteIntegration", || {
            self.gateway
                .client()
                .delete_integration()
                .rest_api_id(key.api)
                .resource_id(key.resource)
                .http_method(key.method)
                .send()
        })
        .await
        .map(|_| ())
    }

    /// Integrations have no tags: the natural key (API, resource, HTTP method) is unique.
    async fn find(
        &self,
        _ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let key = MethodKey::of_inputs(inputs)?;
        Ok(self.get(key).await?.map(|_| key.created()))
    }
}
