//! `aws_api_gateway_method`: an HTTP method on an API resource, with its authorization type
//! (`NONE`, `AWS_IAM`, ...). The id is `<api>/<resource>/<METHOD>`.

use std::sync::Arc;

use async_trait::async_trait;

use super::{id_outputs, replace, retry_busy, set_str, split_method_id, Gateway, NOT_FOUND};
use crate::model::{Inputs, Outputs};
use crate::provider::aws::kinds;
use crate::provider::aws::{aws_error, ok_if_gone, optional_str, required_str, unless_gone};
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};

/// The authorization type used when the input leaves it out.
const DEFAULT_AUTHORIZATION: &str = "NONE";

/// `aws_api_gateway_method`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static API_METHOD_SCHEMA: Schema = Schema::declare(
    kinds::API_METHOD,
    &[
        f::string("rest_api_id").required().force_new(),
        f::string("resource_id").required().force_new(),
        f::string("http_method").required().force_new(),
        f::string("authorization"),
    ],
    &["id"],
    false,
);

pub struct MethodProvider {
    gateway: Arc<Gateway>,
}

impl MethodProvider {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        MethodProvider { gateway }
    }

    /// The live authorization type, or `None` when the method (or its resource) is gone.
    async fn authorization(
        &self,
        api: &str,
        resource: &str,
        method: &str,
    ) -> Result<Option<String>, ProviderError> {
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
        Ok(unless_gone(result, NOT_FOUND)?.map(|out| {
            out.authorization_type()
                .unwrap_or(DEFAULT_AUTHORIZATION)
                .to_string()
        }))
    }
}

fn method_id(api: &str, resource: &str, method: &str) -> String {
    format!("{api}/{resource}/{method}")
}

fn authorization_of(inputs: &Inputs) -> &str {
    optional_str(inputs, "authorization").unwrap_or(DEFAULT_AUTHORIZATION)
}

#[async_trait]
impl ResourceProvider for MethodProvider {
    fn schema(&self) -> &Schema {
        &API_METHOD_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let api = required_str(inputs, "rest_api_id")?;
        let resource = required_str(inputs, "resource_id")?;
        let method = required_str(inputs, "http_method")?;
        retry_busy(ctx, "creating the method", || async {
            self.gateway
                .once()
                .put_method()
                .rest_api_id(api)
                .resource_id(resource)
                .http_method(method)
                .authorization_type(authorization_of(inputs))
                .send()
                .await
                .map_err(|e| aws_error("PutMethod", e))
        })
        .await?;
        let id = method_id(api, resource, method);
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
        let Some(authorization) = self.authorization(api, resource, method).await? else {
            return Ok(Observed::Gone);
        };
        let mut inputs = applied.clone();
        set_str(&mut inputs, "authorization", Some(&authorization));
        Ok(Observed::Present {
            inputs,
            outputs: id_outputs(id),
        })
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        old: &Inputs,
        new: &Inputs,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        let (api, resource, method) = split_method_id(id)?;
        let desired = authorization_of(new);
        if authorization_of(old) != desired {
            let ops = vec![replace("/authorizationType", desired)];
            retry_busy(ctx, "updating the method", || async {
                self.gateway
                    .client()
                    .update_method()
                    .rest_api_id(api)
                    .resource_id(resource)
                    .http_method(method)
                    .set_patch_operations(Some(ops.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_error("UpdateMethod", e))
            })
            .await?;
        }
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
        let result = retry_busy(ctx, "deleting the method", || async {
            self.gateway
                .client()
                .delete_method()
                .rest_api_id(api)
                .resource_id(resource)
                .http_method(method)
                .send()
                .await
                .map_err(|e| aws_error("DeleteMethod", e))
        })
        .await;
        ok_if_gone(result, NOT_FOUND)
    }

    /// Methods have no tags: the natural key (API, resource, HTTP method) is unique.
    async fn find_existing(
        &self,
        _ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let api = required_str(inputs, "rest_api_id")?;
        let resource = required_str(inputs, "resource_id")?;
        let method = required_str(inputs, "http_method")?;
        if self.authorization(api, resource, method).await?.is_none() {
            return Ok(None);
        }
        let id = method_id(api, resource, method);
        Ok(Some(Created {
            outputs: id_outputs(&id),
            id,
        }))
    }
}
