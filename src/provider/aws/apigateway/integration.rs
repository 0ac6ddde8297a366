//! `aws_api_gateway_integration`: what a method calls, here a Lambda function through an
//! `AWS_PROXY` integration (`integration_http_method` `POST`, `uri` the Lambda invoke ARN).
//! The id is `<api>/<resource>/<METHOD>`. PutIntegration replaces the whole integration, so
//! it is used for both create and update.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_apigateway::types::{Integration, IntegrationType};

use super::{id_outputs, retry_busy, set_str, split_method_id, Gateway, NOT_FOUND};
use crate::model::{Inputs, Outputs};
use crate::provider::aws::kinds;
use crate::provider::aws::{aws_error, ok_if_gone, optional_str, required_str, unless_gone};
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
        api: &str,
        resource: &str,
        method: &str,
        inputs: &Inputs,
    ) -> Result<(), ProviderError> {
        let kind = IntegrationType::from(optional_str(inputs, "type").unwrap_or(DEFAULT_TYPE));
        let integration_method =
            optional_str(inputs, "integration_http_method").unwrap_or(DEFAULT_INTEGRATION_METHOD);
        let uri = required_str(inputs, "uri")?;
        retry_busy(ctx, "putting the integration", || async {
            self.gateway
                .client()
                .put_integration()
                .rest_api_id(api)
                .resource_id(resource)
                .http_method(method)
                .r#type(kind.clone())
                .integration_http_method(integration_method)
                .uri(uri)
                .send()
                .await
                .map_err(|e| aws_error("PutIntegration", e))
        })
        .await?;
        Ok(())
    }

    /// The live integration, or `None` when it (or its method) is gone. Read from the
    /// method (GetMethod carries its integration): one call, and LocalStack answers
    /// GetIntegration of a method without one with a 500 where AWS says NotFound.
    async fn get(
        &self,
        api: &str,
        resource: &str,
        method: &str,
    ) -> Result<Option<Integration>, ProviderError> {
        let result = self
            .gateway
            .client()
            .get_method()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(method)
            .send()
            .await
            .map_err(|e| aws_error("GetMethod", e));
        Ok(unless_gone(result, NOT_FOUND)?.and_then(|out| out.method_integration))
    }
}

#[async_trait]
impl ResourceProvider for IntegrationProvider {
    fn schema(&self) -> &Schema {
        &API_INTEGRATION_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let api = required_str(inputs, "rest_api_id")?;
        let resource = required_str(inputs, "resource_id")?;
        let method = required_str(inputs, "http_method")?;
        self.put(ctx, api, resource, method, inputs).await?;
        let id = format!("{api}/{resource}/{method}");
        Ok(Created {
            outputs: id_outputs(&id),
            id,
        })
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let (api, resource, method) = split_method_id(id)?;
        let Some(live) = self.get(api, resource, method).await? else {
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
        let (api, resource, method) = split_method_id(id)?;
        self.put(ctx, api, resource, method, new).await?;
        Ok(id_outputs(id))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _inputs: &Inputs,
        _outputs: &Outputs,
    ) -> Result<(), ProviderError> {
        let (api, resource, method) = split_method_id(id)?;
        let result = retry_busy(ctx, "deleting the integration", || async {
            self.gateway
                .client()
                .delete_integration()
                .rest_api_id(api)
                .resource_id(resource)
                .http_method(method)
                .send()
                .await
                .map_err(|e| aws_error("DeleteIntegration", e))
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
        let api = required_str(inputs, "rest_api_id")?;
        let resource = required_str(inputs, "resource_id")?;
        let method = required_str(inputs, "http_method")?;
        if self.get(api, resource, method).await?.is_none() {
            return Ok(None);
        }
        let id = format!("{api}/{resource}/{method}");
        Ok(Some(Created {
            outputs: id_outputs(&id),
            id,
        }))
    }
}
