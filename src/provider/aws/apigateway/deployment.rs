//! `aws_api_gateway_deployment`: a snapshot of a REST API's methods that a stage serves.
//! `triggers` (a map) is read only by the planner: it forces replacement, so a change to the
//! methods (hashed into a trigger by the blueprint) makes a new deployment. Replacement is
//! create-before-destroy: the new deployment exists, the stage moves to it, then the old one
//! is deleted.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigateway::types::Deployment;

use super::calls::{change, unless_missing};
use super::kind::{GatewayKind, Target};
use super::{id_outputs, replace, set_str, Gateway, NOT_FOUND};
use crate::model::{Inputs, Outputs};
use crate::provider::aws::kinds;
use crate::provider::aws::{ok_if_gone, optional_str, required_str, retry_while};
use crate::provider::schema::fields as f;
use crate::provider::Update;
use crate::provider::{Created, OpContext, ProviderError, Schema};

/// How long a delete waits for stages to stop pointing at the deployment (a stage update
/// that has just been made, e.g. during a create-before-destroy replacement).
const STAGE_MOVE_LIMIT: Duration = Duration::from_secs(30);

/// `aws_api_gateway_deployment`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static API_DEPLOYMENT_SCHEMA: Schema = Schema::declare(
    kinds::API_DEPLOYMENT,
    &[
        f::string("rest_api_id").required().force_new(),
        f::string("description"),
        f::string_map("triggers").force_new(),
    ],
    &["id"],
    true,
);

/// The `aws_api_gateway_deployment` kind.
pub struct DeploymentKind {
    gateway: Arc<Gateway>,
}

impl DeploymentKind {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        DeploymentKind { gateway }
    }

    /// The deployment, or `None` when it (or its API) is gone. Looked up in GetDeployments
    /// rather than with GetDeployment: LocalStack answers GetDeployment of a deleted
    /// deployment with a retried 500 `InternalError` instead of `NotFoundException`.
    async fn get(&self, api: &str, id: &str) -> Result<Option<Deployment>, ProviderError> {
        self.first_listed(api, |d| d.id() == Some(id)).await
    }

    /// The first deployment of the API (GetDeployments) that is `wanted`, or `None` when
    /// there is none (or the API is gone).
    async fn first_listed(
        &self,
        api: &str,
        wanted: impl Fn(&Deployment) -> bool,
    ) -> Result<Option<Deployment>, ProviderError> {
        let mut pages = self
            .gateway
            .client()
            .get_deployments()
            .rest_api_id(api)
            .limit(500)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let Some(page) = unless_missing("GetDeployments", page)? else {
                return Ok(None);
            };
            if let Some(found) = page.items().iter().find(|d| wanted(d)) {
                return Ok(Some(found.clone()));
            }
        }
        Ok(None)
    }

    async fn delete_once(&self, ctx: &OpContext, api: &str, id: &str) -> Result<(), ProviderError> {
        let result = change(ctx, "deleting the deployment", "DeleteDeployment", || {
            self.gateway
                .client()
                .delete_deployment()
                .rest_api_id(api)
                .deployment_id(id)
                .send()
        })
        .await;
        ok_if_gone(result, NOT_FOUND)
    }
}

/// True for "Active stages pointing to this deployment must be moved or deleted".
fn is_in_use(err: &ProviderError) -> bool {
    match err {
        ProviderError::Aws { code, message, .. } => {
            code == "BadRequestException" && message.to_ascii_lowercase().contains("active stages")
        }
        _ => false,
    }
}

#[async_trait]
impl GatewayKind for DeploymentKind {
    type Live = Deployment;

    fn schema(&self) -> &'static Schema {
        &API_DEPLOYMENT_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let api = required_str(inputs, "rest_api_id")?;
        let out = change(ctx, "creating the deployment", "CreateDeployment", || {
            self.gateway
                .once()
                .create_deployment()
                .rest_api_id(api)
                .description(marked(
                    optional_str(inputs, "description").unwrap_or(""),
                    &ctx.client_token,
                ))
                .send()
        })
        .await?;
        let id = out
            .id()
            .ok_or_else(|| ProviderError::Other("CreateDeployment returned no id".to_string()))?
            .to_string();
        Ok(Created {
            outputs: id_outputs(&id),
            id,
        })
    }

    async fn live(&self, at: Target<'_>) -> Result<Option<Deployment>, ProviderError> {
        self.get(at.rest_api_id()?, at.id).await
    }

    /// `triggers` exists only in nova: it is kept as applied.
    fn observe(&self, inputs: &mut Inputs, deployment: &Deployment) {
        set_str(
            inputs,
            "description",
            deployment.description().map(unmarked),
        );
    }

    async fn outputs(&self, id: &str, _live: &Deployment) -> Result<Outputs, ProviderError> {
        Ok(id_outputs(id))
    }

    async fn update(&self, ctx: &OpContext, update: Update<'_>) -> Result<Outputs, ProviderError> {
        let api = required_str(update.new, "rest_api_id")?;
        let desired = optional_str(update.new, "description").unwrap_or("");
        if optional_str(update.old, "description").unwrap_or("") != desired {
            let ops = vec![replace("/description", desired)];
            change(ctx, "updating the deployment", "UpdateDeployment", || {
                self.gateway
                    .client()
                    .update_deployment()
                    .rest_api_id(api)
                    .deployment_id(update.id)
                    .set_patch_operations(Some(ops.clone()))
                    .send()
            })
            .await?;
        }
        Ok(id_outputs(update.id))
    }

    async fn delete(&self, ctx: &OpContext, at: Target<'_>) -> Result<(), ProviderError> {
        let (api, id) = (at.rest_api_id()?, at.id);
        let result = retry_while(
            ctx,
            "waiting for stages to move off the deployment",
            STAGE_MOVE_LIMIT,
            is_in_use,
            || self.delete_once(ctx, api, id),
        )
        .await;
        match result {
            Err(err) if is_in_use(&err) => Err(ProviderError::Other(format!(
                "deployment {id} of REST API {api} is still used by a stage after {}s: point \
                 the stage at another deployment (or delete the stage) first ({err})",
                STAGE_MOVE_LIMIT.as_secs()
            ))),
            other => other,
        }
    }

    /// Deployments have no tags and no name: the one an interrupted create made carries
    /// its client token at the end of its description (see [`marked`]).
    async fn find(
        &self,
        ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let api = required_str(inputs, "rest_api_id")?;
        let marker = marker(&ctx.client_token);
        let found = self
            .first_listed(api, |d| {
                d.description().is_some_and(|text| text.ends_with(&marker))
                    && d.id().is_some_and(|id| !ctx.is_known(id))
            })
            .await?;
        Ok(found.as_ref().and_then(Deployment::id).map(|id| Created {
            outputs: id_outputs(id),
            id: id.to_string(),
        }))
    }
}

/// The end of a deployment's description that names the create that made it.
fn marker(client_token: &str) -> String {
    format!("[{MARK}{client_token}]")
}

/// What a marker starts with.
const MARK: &str = "nova:";

/// The description a deployment is created with: the input's, then the create's client
/// token in brackets, by which an interrupted create finds it (deployments have no tags).
fn marked(description: &str, client_token: &str) -> String {
    let marker = marker(client_token);
    if description.is_empty() {
        marker
    } else {
        format!("{description} {marker}")
    }
}

/// A live description without the marker [`marked`] added.
fn unmarked(description: &str) -> &str {
    let spaced = format!(" [{MARK}");
    let at = description
        .rfind(&spaced)
        .or_else(|| description.starts_with(&spaced[1..]).then_some(0));
    match at {
        Some(at) if description.ends_with(']') => &description[..at],
        _ => description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_round_trips() {
        let token = "nova-0123456789abcdef0123456789abcdef01234567";
        assert_eq!(unmarked(&marked("health v3", token)), "health v3");
        assert_eq!(unmarked(&marked("", token)), "");
        assert!(marked("x", token).ends_with(&marker(token)));
        assert_eq!(unmarked("made by hand [draft]"), "made by hand [draft]");
    }
}
