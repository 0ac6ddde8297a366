//! `aws_api_gateway_rest_api`: a REGIONAL REST API with its name, description and tags.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType};

use super::calls::{change, unless_missing};
use super::{owned, replace, set_str, set_tags, Gateway, NOT_FOUND};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::kinds;
use crate::provider::aws::{aws_error, ok_if_gone, optional_str, required_str, tags_of};
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};

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

pub struct RestApiProvider {
    gateway: Arc<Gateway>,
}

impl RestApiProvider {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        RestApiProvider { gateway }
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
        let mut pages = self
            .gateway
            .client()
            .get_resources()
            .rest_api_id(api_id)
            .limit(500)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("GetResources", e))?;
            if let Some(root) = page.items().iter().find(|r| r.path() == Some("/")) {
                if let Some(id) = root.id() {
                    return Ok(id.to_string());
                }
            }
        }
        Err(ProviderError::Other(format!(
            "REST API {api_id} has no `/` resource"
        )))
    }

    async fn outputs(&self, api_id: &str, root: Option<&str>) -> Result<Outputs, ProviderError> {
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
impl ResourceProvider for RestApiProvider {
    fn schema(&self) -> &Schema {
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
        let outputs = self.outputs(&id, created.root_resource_id()).await?;
        Ok(Created { id, outputs })
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let api = self.gateway.client().get_rest_api().rest_api_id(id);
        let Some(api) = unless_missing("GetRestApi", api.send().await)? else {
            return Ok(Observed::Gone);
        };
        let mut inputs = applied.clone();
        set_str(&mut inputs, "name", api.name());
        set_str(&mut inputs, "description", api.description());
        // GetTags, not the API's `tags`: LocalStack's GetRestApi keeps the tags given at
        // creation and misses TagResource/UntagResource changes.
        let tags = self.gateway.tags(&self.gateway.rest_api_arn(id)?).await?;
        set_tags(&mut inputs, tags);
        let outputs = self.outputs(id, api.root_resource_id()).await?;
        Ok(Observed::Present { inputs, outputs })
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        old: &Inputs,
        new: &Inputs,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        let mut ops = Vec::new();
        for (field, path) in [("name", "/name"), ("description", "/description")] {
            let desired = optional_str(new, field).unwrap_or("");
            if optional_str(old, field).unwrap_or("") != desired {
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
        self.gateway.sync_tags(ctx, &arn, &tags_of(new)).await?;
        self.outputs(id, None).await
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _inputs: &Inputs,
        _outputs: &Outputs,
    ) -> Result<(), ProviderError> {
        let result = change(ctx, "deleting the REST API", "DeleteRestApi", || {
            self.gateway
                .client()
                .delete_rest_api()
                .rest_api_id(id)
                .send()
        })
        .await;
        ok_if_gone(result, NOT_FOUND)
    }

    async fn find_existing(
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
                let outputs = self.outputs(&id, root.as_deref()).await?;
                return Ok(Some(Created { id, outputs }));
            }
        }
        Ok(None)
    }
}
