//! `aws_api_gateway_resource`: one path segment (`path_part`) under a parent resource of a
//! REST API. Every field forces replacement.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_apigateway::types::Resource;

use super::calls::{change, unless_missing};
use super::{set_str, Gateway, NOT_FOUND};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::kinds;
use crate::provider::aws::{ok_if_gone, required_str};
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};

/// `aws_api_gateway_resource`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static API_RESOURCE_SCHEMA: Schema = Schema::declare(
    kinds::API_RESOURCE,
    &[
        f::string("rest_api_id").required().force_new(),
        f::string("parent_id").required().force_new(),
        f::string("path_part")
            .required()
            .force_new()
            .unique_within(&["rest_api_id", "parent_id"]),
    ],
    &["id", "path"],
    true,
);

pub struct ApiResourceProvider {
    gateway: Arc<Gateway>,
}

impl ApiResourceProvider {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        ApiResourceProvider { gateway }
    }

    /// The resource, or `None` when it (or its API) no longer exists.
    async fn get(&self, api_id: &str, id: &str) -> Result<Option<Resource>, ProviderError> {
        let call = self
            .gateway
            .client()
            .get_resource()
            .rest_api_id(api_id)
            .resource_id(id);
        Ok(unless_missing("GetResource", call.send().await)?.map(|out| {
            Resource::builder()
                .set_id(out.id)
                .set_parent_id(out.parent_id)
                .set_path_part(out.path_part)
                .set_path(out.path)
                .build()
        }))
    }
}

fn outputs_of(id: &str, path: Option<&str>) -> Outputs {
    let mut outputs = Outputs::new();
    outputs.insert("id".to_string(), Value::str(id));
    outputs.insert("path".to_string(), Value::str(path.unwrap_or("")));
    outputs
}

#[async_trait]
impl ResourceProvider for ApiResourceProvider {
    fn schema(&self) -> &Schema {
        &API_RESOURCE_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let api_id = required_str(inputs, "rest_api_id")?;
        let parent_id = required_str(inputs, "parent_id")?;
        let path_part = required_str(inputs, "path_part")?;
        let out = change(ctx, "creating the API resource", "CreateResource", || {
            self.gateway
                .once()
                .create_resource()
                .rest_api_id(api_id)
                .parent_id(parent_id)
                .path_part(path_part)
                .send()
        })
        .await?;
        let id = out
            .id()
            .ok_or_else(|| ProviderError::Other("CreateResource returned no id".to_string()))?
            .to_string();
        let outputs = outputs_of(&id, out.path());
        Ok(Created { id, outputs })
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let api_id = required_str(applied, "rest_api_id")?;
        let Some(resource) = self.get(api_id, id).await? else {
            return Ok(Observed::Gone);
        };
        let mut inputs = applied.clone();
        set_str(&mut inputs, "parent_id", resource.parent_id());
        set_str(&mut inputs, "path_part", resource.path_part());
        Ok(Observed::Present {
            inputs,
            outputs: outputs_of(id, resource.path()),
        })
    }

    async fn update(
        &self,
        _ctx: &OpContext,
        id: &str,
        _old: &Inputs,
        new: &Inputs,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        // Every input forces replacement: nothing to change in place.
        let api_id = required_str(new, "rest_api_id")?;
        match self.get(api_id, id).await? {
            Some(resource) => Ok(outputs_of(id, resource.path())),
            None => Ok(outputs.clone()),
        }
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        inputs: &Inputs,
        _outputs: &Outputs,
    ) -> Result<(), ProviderError> {
        let api_id = required_str(inputs, "rest_api_id")?;
        let result = change(ctx, "deleting the API resource", "DeleteResource", || {
            self.gateway
                .client()
                .delete_resource()
                .rest_api_id(api_id)
                .resource_id(id)
                .send()
        })
        .await;
        ok_if_gone(result, NOT_FOUND)
    }

    /// Resources have no tags: the natural key is (API, parent, path part), unique in an API.
    async fn find_existing(
        &self,
        _ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let api_id = required_str(inputs, "rest_api_id")?;
        let parent_id = required_str(inputs, "parent_id")?;
        let path_part = required_str(inputs, "path_part")?;
        let mut pages = self
            .gateway
            .client()
            .get_resources()
            .rest_api_id(api_id)
            .limit(500)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let Some(page) = unless_missing("GetResources", page)? else {
                return Ok(None);
            };
            let found = page
                .items()
                .iter()
                .find(|r| r.parent_id() == Some(parent_id) && r.path_part() == Some(path_part));
            if let Some(id) = found.and_then(|r| r.id()) {
                let outputs = outputs_of(id, found.and_then(|r| r.path()));
                return Ok(Some(Created {
                    id: id.to_string(),
                    outputs,
                }));
            }
        }
        Ok(None)
    }
}
