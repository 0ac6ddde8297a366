//! `aws_api_gateway_method`: an HTTP method on an API resource, with its authorization type
//! (`NONE`, `AWS_IAM`, ...). The id is `<api>/<resource>/<METHOD>`.

use std::sync::Arc;

use async_trait::async_trait;

use super::calls::change;
use super::kind::{GatewayKind, Target};
use super::method_key::MethodKey;
use super::{id_outputs, replace, set_str, Gateway};
use crate::model::{Inputs, Outputs};
use crate::provider::aws::kinds;
use crate::provider::aws::optional_str;
use crate::provider::schema::fields as f;
use crate::provider::Update;
use crate::provider::{Created, OpContext, ProviderError, Schema};

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

/// The `aws_api_gateway_method` kind.
pub struct MethodKind {
    gateway: Arc<Gateway>,
}

impl MethodKind {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        MethodKind { gateway }
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
impl GatewayKind for MethodKind {
    /// The authorization type.
    type Live = String;

    fn schema(&self) -> &'static Schema {
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

    async fn live(&self, at: Target<'_>) -> Result<Option<String>, ProviderError> {
        self.authorization(MethodKey::of_id(at.id)?).await
    }

    fn observe(&self, inputs: &mut Inputs, authorization: &String) {
        set_str(inputs, "authorization", Some(authorization));
    }

    async fn outputs(&self, id: &str, _live: &String) -> Result<Outputs, ProviderError> {
        Ok(id_outputs(id))
    }

    async fn update(&self, ctx: &OpContext, update: Update<'_>) -> Result<Outputs, ProviderError> {
        let key = MethodKey::of_id(update.id)?;
        let desired = authorization_of(update.new);
        if authorization_of(update.old) != desired {
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
        Ok(id_outputs(update.id))
    }

    async fn delete(&self, ctx: &OpContext, at: Target<'_>) -> Result<(), ProviderError> {
        let key = MethodKey::of_id(at.id)?;
        change(ctx, "deleting the method", "DeleteMethod", || {
            self.gateway
                .client()
                .delete_method()
                .rest_api_id(key.api)
                .resource_id(key.resource)
                .http_method(key.method)
                .send()
        })
        .await
        .map(|_| ())
    }

    /// Methods have no tags: the natural key (API, resource, HTTP method) is unique.
    async fn find(
        &self,
        _ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let key = MethodKey::of_inputs(inputs)?;
        Ok(self.authorization(key).await?.map(|_| key.created()))
    }
}
