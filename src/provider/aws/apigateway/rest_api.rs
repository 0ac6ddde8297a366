//! `aws_api_gateway_rest_api`: a REGIONAL REST API with its name, description and tags.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_apigateway::operation::get_rest_api::GetRestApiOutput;
use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType};

use super::calls::{change, unless_missing};
use super::kind::{GatewayKind, Target};
use super::{owned, replace, set_str, set_tags, Gateway};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::kinds;
use crate::provider::aws::tags::Tags;
use crate::provider::aws::{aws_error, optional_str, required_str, tags_of};
use crate::provider::schema::fields as f;
use crate::provider::Update;
use crate::provider::{Created, OpContext, ProviderError, Schema};

/// `aws_api_gateway_rest_api`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static API_REST_API_SCHEMA: Schema = Schema::declare(
    kinds::API_REST_API,
    &[
        f::string("name").required(),
        f::string("description"),
        f::TAGS,
    ],
    &["id", "root_resource_id", "execution_arn"],
    false,
);

/// The `aws_api_gateway_rest_api` kind.
pub struct RestApiKind {
    gateway: Arc<Gateway>,
}

/// A REST API as read live: GetRestApi, and its tags (GetTags).
pub struct LiveRestApi {
    api: GetRestApiOutput,
    tags: Tags,
}

impl RestApiKind {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        RestApiKind { gateway }
    }

    /// The id of the API's `/` resource: from the API itself when AWS returns it, else the
    /// resource with path `/` (GetResources).
    async fn root_resource_id(
        &self,
        api_id: &str,
        known: Option<&str>,
    ) -> Result<String, ProviderError> {
        if let Some(root) = known.filter(|r| !r.is_empty()) {
            return Ok(root.to_string());
        }
        let root = self
            .gateway
            .first_resource(api_id, |r| r.path() == Some("/") && r.id().is_some())
            .await?;
        match root.as_ref().and_then(|r| r.id()) {
            Some(id) => Ok(id.to_string()),
            None => Err(ProviderError::Other(format!(
                "REST API {api_id} has no `/` resource"
            ))),
        }
    }

    async fn outputs_of(&self, api_id: &str, root: Option<&str>) -> Result<Outputs, ProviderError> {
        let root = self.root_resource_id(api_id, root).await?;
        let execution_arn = format!(
            "arn:aws:execute-api:{}:{}:{api_id}",
            self.gateway.region()?,
            self.gateway.account_id().await?
        );
        let mut outputs = Outputs::new();
        outputs.insert("id".to_string(), Value::str(api_id));
        outputs.insert("root_resource_id".to_string(), Value::str(root));
        outputs.insert("execution_arn".to_string(), Value::str(execution_arn));
        Ok(outputs)
    }
}

#[async_trait]
impl GatewayKind for RestApiKind {
    type Live = LiveRestApi;

    fn schema(&self) -> &'static Schema {
        &API_REST_API_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let name = required_str(inputs, "name")?;
        let tags: HashMap<String, String> = tags_of(inputs).into_iter().collect();
        let endpoint = EndpointConfiguration::builder()
            .types(EndpointType::Regional)
            .build();
        let created = change(ctx, "creating the REST API", "CreateRestApi", || {
            self.gateway
                .once()
                .create_rest_api()
                .name(name)
                .set_description(optional_str(inputs, "description").map(str::to_string))
                .endpoint_configuration(endpoint.clone())
                .set_tags((!tags.is_empty()).then(|| tags.clone()))
                .send()
        })
        .await?;
        let id = created
            .id()
            .ok_or_else(|| ProviderError::Other("CreateRestApi returned no id".to_string()))?
            .to_string();
        // Tagged at creation (so an interrupted create can be found) and checked with
        // GetTags: LocalStack keeps creation tags apart from TagResource's, and GetTags
        // only sees the latter. On AWS this finds nothing to change.
        let arn = self.gateway.rest_api_arn(&id)?;
        self.gateway.sync_tags(ctx, &arn, &tags_of(inputs)).await?;
        let outputs = self.outputs_of(&id, created.root_resource_id()).await?;
        Ok(Created { id, outputs })
    }

    async fn live(&self, at: Target<'_>) -> Result<Option<LiveRestApi>, ProviderError> {
        let api = self.gateway.client().get_rest_api().rest_api_id(at.id);
        let Some(api) = unless_missing("GetRestApi", api.send().await)? else {
            return Ok(None);
        };
        // GetTags, not the API's `tags`: LocalStack's GetRestApi keeps the tags given at
        // creation and misses TagResource/UntagResource changes.
        let tags = self
            .gateway
            .tags(&self.gateway.rest_api_arn(at.id)?)
            .await?;
        Ok(Some(LiveRestApi { api, tags }))
    }

    fn observe(&self, inputs: &mut Inputs, live: &LiveRestApi) {
        set_str(inputs, "name", live.api.name());
        set_str(inputs, "description", live.api.description());
        set_tags(inputs, live.tags.clone());
    }

    async fn outputs(&self, id: &str, live: &LiveRestApi) -> Result<Outputs, ProviderError> {
        self.outputs_of(id, live.api.root_resource_id()).await
    }

    async fn update(&self, ctx: &OpContext, update: Update<'_>) -> Result<Outputs, ProviderError> {
        let id = update.id;
        let mut ops = Vec::new();
        for (field, path) in [("name", "/name"), ("description", "/description")] {
            let desired = optional_str(update.new, field).unwrap_or("");
            if optional_str(update.old, field).unwrap_or("") != desired {
                ops.push(replace(path, desired));
            }
        }
        if !ops.is_empty() {
            change(ctx, "updating the REST API", "UpdateRestApi", || {
                self.gateway
                    .client()
                    .update_rest_api()
                    .rest_api_id(id)
                    .set_patch_operations(Some(ops.clone()))
                    .send()
            })
            .await?;
        }
        let arn = self.gateway.rest_api_arn(id)?;
        self.gateway
            .sync_tags(ctx, &arn, &tags_of(update.new))
            .await?;
        self.outputs_of(id, None).await
    }

    async fn delete(&self, ctx: &OpContext, at: Target<'_>) -> Result<(), ProviderError> {
        change(ctx, "deleting the REST API", "DeleteRestApi", || {
            self.gateway
                .client()
                .delete_rest_api()
                .rest_api_id(at.id)
                .send()
        })
        .await
        .map(|_| ())
    }

    async fn find(
        &self,
        ctx: &OpContext,
        _inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let mut pages = self
            .gateway
            .client()
            .get_rest_apis()
            .limit(500)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("GetRestApis", e))?;
            let found = page
                .items()
                .iter()
                .find(|api| owned(api.tags(), ctx))
                .and_then(|api| api.id().map(|id| (id.to_string(), api.root_resource_id())));
            if let Some((id, root)) = found {
                let root = root.map(str::to_string);
                let outputs = self.outputs_of(&id, root.as_deref()).await?;
                return Ok(Some(Created { id, outputs }));
            }
        }
        Ok(None)
    }
}
