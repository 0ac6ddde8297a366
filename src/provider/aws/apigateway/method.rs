//! `aws_api_gateway_method`: an HTTP method on an API resource, with its authorization type
//! (`NONE`, `AWS_IAM`, ...). The id is `<api>/<resource>/<METHOD>`.

use std::sync::Arc;

use async_trait::async_trait;

use super::calls::change;
use super::method_key::MethodKey;
use super::{id_outputs, replace, set_str, Gateway, NOT_FOUND};
use crate::model::{Inputs, Outputs};
use crate::provider::aws::kinds;
use crate::provider::aws::{ok_if_gone, optional_str};
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
        f::string("http_method")
            .required()
            .force_new()
            .unique_within(&["rest_api_id", "resource_id"]),
        f::string("authorization"),
    ],
    &["id"],
    true,
);

pub struct MethodProvider {
    gateway: Arc<Gateway>,
}

impl MethodProvider {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        MethodProvider { gateway }
    }

    /// The live authorization type, or `None` when the method (or its resource) is gone.
    async fn authorization(&self, key: MethodKey<'_>) -> Result<Option<String>, ProviderError> {
        Ok(self.gateway.method(key).await?.map(|out| {
            out.authorization_type()
                .unwrap_or(DEFAULT_AUTHORIZATION)
                .to_string()
        }))
    }
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
        let key = MethodKey::of_inputs(inputs)?;
        change(ctx, "creating the method", "PutMethod", || {
            self.gateway
                .once()
                .put_method()
                .rest_api_id(key.api)
                .resource_id(key.resource)
                .http_method(key.method)
                .authorization_type(authorization_of(inputs))
                .send()
        })
        .await?;
        Ok(key.created())
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let Some(authorization) = self.authorization(MethodKey::of_id(id)?).await? else {
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
        let key = MethodKey::of_id(id)?;
        let desired = authorization_of(new);
        if authorization_of(old) != desired {
            let ops = vec![replace("/authorizationType", desired)];
            change(ctx, "updating the method", "UpdateMethod", || {
                self.gateway
                    .client()
                    .update_method()
                    .rest_api_id(key.api)
                    .resource_id(key.resource)
                    .http_method(key.method)
                    .set_patch_operations(Some(ops.clone()))
                    .send()
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
        let key = MethodKey::of_id(id)?;
        let result = change(ctx, "deleting the method", "DeleteMethod", || {
            self.gateway
                .client()
                .delete_method()
                .rest_api_id(key.api)
                .resource_id(key.resource)
                .http_method(key.method)
                .send()
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
        let key = MethodKey::of_inputs(inputs)?;
        Ok(self.authorization(key).await?.map(|_| key.created()))
    }
}
