//! `aws_api_gateway_integration`: what a method calls, here a Lambda function through an
//! `AWS_PROXY` integration (`integration_http_method` `POST`, `uri` the Lambda invoke ARN).
//! The id is `<api>/<resource>/<METHOD>`. PutIntegration replaces the whole integration, so
//! it is used for both create and update.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_apigateway::types::{Integration, IntegrationType};

use super::calls::change;
use super::method_key::MethodKey;
use super::{id_outputs, set_str, Gateway, NOT_FOUND};
use crate::model::{Inputs, Outputs};
use crate::provider::aws::kinds;
use crate::provider::aws::{ok_if_gone, optional_str, required_str};
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};

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

pub struct IntegrationProvider {
    gateway: Arc<Gateway>,
}

impl IntegrationProvider {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        IntegrationProvider { gateway }
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
impl ResourceProvider for IntegrationProvider {
    fn schema(&self) -> &Schema {
        &API_INTEGRATION_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let key = MethodKey::of_inputs(inputs)?;
        self.put(ctx, key, inputs).await?;
        Ok(key.created())
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let Some(live) = self.get(MethodKey::of_id(id)?).await? else {
            return Ok(Observed::Gone);
        };
        let mut inputs = applied.clone();
        set_str(&mut inputs, "type", live.r#type().map(|t| t.as_str()));
        set_str(&mut inputs, "integration_http_method", live.http_method());
        set_str(&mut inputs, "uri", live.uri());
        Ok(Observed::Present {
            inputs,
            outputs: id_outputs(id),
        })
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Inputs,
        new: &Inputs,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        self.put(ctx, MethodKey::of_id(id)?, new).await?;
        Ok(id_outputs(id))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _inputs: &Inputs,
        _outputs: &Outputs,
    ) -> Result<(), ProviderError> {
        let key = MethodKey::of_id(id)?;
        let result = change(ctx, "deleting the integration", "DeleteIntegration", || {
            self.gateway
                .client()
                .delete_integration()
                .rest_api_id(key.api)
                .resource_id(key.resource)
                .http_method(key.method)
                .send()
        })
        .await;
        ok_if_gone(result, NOT_FOUND)
    }

    /// Integrations have no tags: the natural key (API, resource, HTTP method) is unique.
    async fn find_existing(
        &self,
        _ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let key = MethodKey::of_inputs(inputs)?;
        Ok(self.get(key).await?.map(|_| key.created()))
    }
}
