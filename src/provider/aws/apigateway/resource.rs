//! `aws_api_gateway_resource`: one path segment (`path_part`) under a parent resource of a
//! REST API. Every field forces replacement.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_apigateway::types::Resource;

use super::calls::{change, unless_missing};
use super::kind::{GatewayKind, Target};
use super::{set_str, Gateway, NOT_FOUND};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::kinds;
use crate::provider::aws::{aws_error, required_str, unless_gone};
use crate::provider::schema::fields as f;
use crate::provider::Update;
use crate::provider::{Created, OpContext, ProviderError, Schema};

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

/// The `aws_api_gateway_resource` kind.
pub struct ResourceKind {
    gateway: Arc<Gateway>,
}

impl ResourceKind {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        ResourceKind { gateway }
    }

    /// The resource, or `None` when it (or its API) no longer exists.
    async fn get(&self, api_id: &str, id: &str) -> Result<Option<Resource>, ProviderError> {
        let call = self
            .gateway
            .client()
            .get_resource()
            .rest_api_id(api_id)
            .resource_id(id);
        Ok(
            unless_missing("GetResource", call.send().await)?.map(|out| {
                Resource::builder()
                    .set_id(out.id)
                    .set_parent_id(out.parent_id)
                    .set_path_part(out.path_part)
                    .set_path(out.path)
                    .build()
            }),
        )
    }
}

/// Where a resource stands in its API, as its inputs say: the API, the parent resource and
/// the path part. A create makes the resource there; an interrupted one is found there.
#[derive(Debug, Clone, Copy)]
struct Place<'a> {
    api: &'a str,
    parent: &'a str,
    path_part: &'a str,
}

impl<'a> Place<'a> {
    /// The place the inputs `rest_api_id`, `parent_id` and `path_part` name.
    fn of_inputs(inputs: &'a Inputs) -> Result<Self, ProviderError> {
        Ok(Place {
            api: required_str(inputs, "rest_api_id")?,
            parent: required_str(inputs, "parent_id")?,
            path_part: required_str(inputs, "path_part")?,
        })
    }

    /// True when `resource` stands at this place.
    fn holds(&self, resource: &Resource) -> bool {
        resource.parent_id() == Some(self.parent) && resource.path_part() == Some(self.path_part)
    }
}

fn outputs_of(id: &str, path: Option<&str>) -> Outputs {
    let mut outputs = Outputs::new();
    outputs.insert("id".to_string(), Value::str(id));
    outputs.insert("path".to_string(), Value::str(path.unwrap_or("")));
    outputs
}

#[async_trait]
impl GatewayKind for ResourceKind {
    type Live = Resource;

    fn schema(&self) -> &'static Schema {
        &API_RESOURCE_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let place = Place::of_inputs(inputs)?;
        let out = change(ctx, "creating the API resource", "CreateResource", || {
            self.gateway
                .once()
                .create_resource()
                .rest_api_id(place.api)
                .parent_id(place.parent)
                .path_part(place.path_part)
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

    async fn live(&self, at: Target<'_>) -> Result<Option<Resource>, ProviderError> {
        self.get(at.rest_api_id()?, at.id).await
    }

    fn observe(&self, inputs: &mut Inputs, resource: &Resource) {
        set_str(inputs, "parent_id", resource.parent_id());
        set_str(inputs, "path_part", resource.path_part());
    }

    async fn outputs(&self, id: &str, resource: &Resource) -> Result<Outputs, ProviderError> {
        Ok(outputs_of(id, resource.path()))
    }

    /// Every input forces replacement: nothing to change in place, the outputs are read.
    async fn update(&self, _ctx: &OpContext, update: Update<'_>) -> Result<Outputs, ProviderError> {
        let api_id = required_str(update.new, "rest_api_id")?;
        match self.get(api_id, update.id).await? {
            Some(resource) => Ok(outputs_of(update.id, resource.path())),
            None => Ok(update.outputs.clone()),
        }
    }

    async fn delete(&self, ctx: &OpContext, at: Target<'_>) -> Result<(), ProviderError> {
        let api_id = at.rest_api_id()?;
        change(ctx, "deleting the API resource", "DeleteResource", || {
            self.gateway
                .client()
                .delete_resource()
                .rest_api_id(api_id)
                .resource_id(at.id)
                .send()
        })
        .await
        .map(|_| ())
    }

    /// Resources have no tags: the natural key is (API, parent, path part), unique in an API.
    async fn find(
        &self,
        _ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let place = Place::of_inputs(inputs)?;
        let found = self
            .gateway
            .first_resource(place.api, |r| place.holds(r) && r.id().is_some());
        // The API gone: nothing to find.
        let found = unless_gone(found.await, NOT_FOUND)?.flatten();
        Ok(found.and_then(|r| {
            r.id().map(|id| Created {
                id: id.to_string(),
                outputs: outputs_of(id, r.path()),
            })
        }))
    }
}

impl Gateway {
    /// The first resource of the API (GetResources) that is `wanted`, or `None` when there
    /// is none.
    pub(super) async fn first_resource(
        &self,
        api_id: &str,
        wanted: impl Fn(&Resource) -> bool,
    ) -> Result<Option<Resource>, ProviderError> {
        let mut pages = self
            .client()
            .get_resources()
            .rest_api_id(api_id)
            .limit(500)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("GetResources", e))?;
            if let Some(found) = page.items().iter().find(|r| wanted(r)) {
                return Ok(Some(found.clone()));
            }
        }
        Ok(None)
    }
}
