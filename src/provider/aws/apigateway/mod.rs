//! API Gateway (REST API, v1) providers: one module per resource kind, and what they share
//! (the client, region and account id, not-found and busy-error handling, patch operations,
//! tags, and the one provider over the kinds that share a shape, in `kind`).

mod account;
mod calls;
mod deployment;
mod integration;
mod kind;
mod method;
mod method_key;
mod resource;
mod rest_api;
mod stage;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_apigateway::types::{Op, PatchOperation};

use async_trait::async_trait;

use super::live::observed_optional;
use super::tags::{owned_by, sync_live_tags, tags_value, user_tags, TagApi, Tags};
use super::{aws_error, retry_while, AwsClients};
use crate::model::{Inputs, Value};
use crate::provider::{OpContext, ProviderError, ResourceProvider, Schema};

pub use account::{shared_role_name, AccountProvider, API_ACCOUNT_SCHEMA};
pub use deployment::API_DEPLOYMENT_SCHEMA;
pub use integration::API_INTEGRATION_SCHEMA;
pub use method::API_METHOD_SCHEMA;
pub use resource::API_RESOURCE_SCHEMA;
pub use rest_api::API_REST_API_SCHEMA;
pub use stage::API_STAGE_SCHEMA;

use calls::change;
use deployment::DeploymentKind;
use integration::IntegrationKind;
use kind::{GatewayKind, KindProvider};
use method::MethodKind;
use resource::ResourceKind;
use rest_api::RestApiKind;
use stage::StageKind;

/// The schemas of this module's kinds (see [`crate::provider::aws::schemas`]).
pub const SCHEMAS: [&Schema; 7] = [
    &API_REST_API_SCHEMA,
    &API_RESOURCE_SCHEMA,
    &API_METHOD_SCHEMA,
    &API_INTEGRATION_SCHEMA,
    &API_DEPLOYMENT_SCHEMA,
    &API_STAGE_SCHEMA,
    &API_ACCOUNT_SCHEMA,
];

/// Every API Gateway provider, sharing one client and one cached account id.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn ResourceProvider>> {
    let gateway = Arc::new(Gateway::new(clients));
    vec![
        kind_provider(RestApiKind::new(gateway.clone())),
        kind_provider(ResourceKind::new(gateway.clone())),
        kind_provider(MethodKind::new(gateway.clone())),
        kind_provider(IntegrationKind::new(gateway.clone())),
        kind_provider(DeploymentKind::new(gateway.clone())),
        kind_provider(StageKind::new(gateway.clone())),
        Arc::new(AccountProvider::new(gateway)),
    ]
}

/// The provider of one API Gateway kind.
fn kind_provider(kind: impl GatewayKind) -> Arc<dyn ResourceProvider> {
    Arc::new(KindProvider::new(kind))
}

/// How long a call is retried while API Gateway reports a concurrent modification of the
/// same API or throttles (`TooManyRequestsException`, e.g. DeleteRestApi's low rate limit).
const BUSY_RETRY_LIMIT: Duration = Duration::from_secs(180);

/// What every API Gateway provider needs: the client, the region, and the account id
/// (looked up once with STS GetCallerIdentity).
#[derive(Debug)]
pub struct Gateway {
    client: aws_sdk_apigateway::Client,
    clients: AwsClients,
    region: Option<String>,
}

impl Gateway {
    pub fn new(clients: &AwsClients) -> Self {
        Gateway {
            client: clients.apigateway.clone(),
            clients: clients.clone(),
            region: clients.config.region().map(|r| r.to_string()),
        }
    }

    fn client(&self) -> &aws_sdk_apigateway::Client {
        &self.client
    }

    /// The client without the SDK's retries, for create calls (`AwsClients::once`): a
    /// CreateRestApi or CreateDeployment sent twice makes two.
    fn once(&self) -> &aws_sdk_apigateway::Client {
        &self.clients.once.apigateway
    }

    fn region(&self) -> Result<&str, ProviderError> {
        self.region.as_deref().ok_or_else(|| {
            ProviderError::Other(
                "no AWS region is configured: API Gateway ARNs and URLs need one".to_string(),
            )
        })
    }

    /// The caller's account id (asked of STS once per run).
    async fn account_id(&self) -> Result<String, ProviderError> {
        self.clients.account_id().await
    }

    /// `arn:aws:apigateway:<region>::/restapis/<id>`: the ARN tags are attached to.
    fn rest_api_arn(&self, api_id: &str) -> Result<String, ProviderError> {
        Ok(format!(
            "arn:aws:apigateway:{}::/restapis/{api_id}",
            self.region()?
        ))
    }

    /// `arn:aws:apigateway:<region>::/restapis/<api>/stages/<stage>`.
    fn stage_arn(&self, api_id: &str, stage: &str) -> Result<String, ProviderError> {
        Ok(format!("{}/stages/{stage}", self.rest_api_arn(api_id)?))
    }

    /// The live tags on `arn` (GetTags), without AWS's own `aws:` tags.
    async fn tags(&self, arn: &str) -> Result<Tags, ProviderError> {
        let out = self.client.get_tags().resource_arn(arn).send().await;
        let out = out.map_err(|e| aws_error("GetTags", e))?;
        Ok(user_tags(out.tags().cloned().unwrap_or_default()))
    }

    /// Makes the tags on `arn` exactly `desired`, from the tags live now (so out-of-band
    /// changes are undone).
    async fn sync_tags(
        &self,
        ctx: &OpContext,
        arn: &str,
        desired: &Tags,
    ) -> Result<(), ProviderError> {
        let api = GatewayTags { gateway: self, ctx };
        sync_live_tags(&api, arn, desired).await
    }
}

/// API Gateway's tag calls on an ARN, retried while the API is busy.
struct GatewayTags<'a> {
    gateway: &'a Gateway,
    ctx: &'a OpContext,
}

#[async_trait]
impl TagApi for GatewayTags<'_> {
    async fn list(&self, arn: &str) -> Result<Tags, ProviderError> {
        self.gateway.tags(arn).await
    }

    async fn tag(&self, arn: &str, tags: &Tags) -> Result<(), ProviderError> {
        let tags: HashMap<String, String> = tags.clone().into_iter().collect();
        change(self.ctx, "tagging", "TagResource", || {
            let call = self.gateway.client.tag_resource().resource_arn(arn);
            call.set_tags(Some(tags.clone())).send()
        })
        .await
        .map(|_| ())
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), ProviderError> {
        change(self.ctx, "untagging", "UntagResource", || {
            let call = self.gateway.client.untag_resource().resource_arn(arn);
            call.set_tag_keys(Some(keys.to_vec())).send()
        })
        .await
        .map(|_| ())
    }
}

/// API Gateway's "does not exist" error code.
const NOT_FOUND: &[&str] = &["NotFoundException"];

/// True for errors that go away by themselves: a concurrent modification of the same API
/// (API Gateway serializes changes per API) or throttling.
fn is_busy(err: &ProviderError) -> bool {
    match err {
        ProviderError::Aws { code, message, .. } => {
            code == "TooManyRequestsException"
                || (code == "ConflictException"
                    && message
                        .to_ascii_lowercase()
                        .contains("concurrent modification"))
        }
        _ => false,
    }
}

/// Runs a mutating call, retrying (bounded, with backoff) while API Gateway is busy.
async fn retry_busy<T, F, Fut>(ctx: &OpContext, what: &str, call: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    retry_while(ctx, what, BUSY_RETRY_LIMIT, is_busy, call).await
}

/// A `replace` patch operation.
fn replace(path: &str, value: &str) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
}

/// A `remove` patch operation.
fn remove(path: &str) -> PatchOperation {
    PatchOperation::builder().op(Op::Remove).path(path).build()
}

/// True when the tags of a listed API or stage mark it as `ctx`'s.
fn owned(tags: Option<&HashMap<String, String>>, ctx: &OpContext) -> bool {
    owned_by(&user_tags(tags.cloned().unwrap_or_default()), ctx)
}

/// Records live tags in `inputs`; an empty live set stays absent when nothing was applied,
/// so refresh does not show a false difference.
fn set_tags(inputs: &mut Inputs, live: Tags) {
    if live.is_empty() && !inputs.contains_key("tags") {
        return;
    }
    inputs.insert("tags".to_string(), tags_value(live));
}

/// Records a live string attribute in `inputs`, which hold what was applied, by the one
/// "absent live value" rule ([`observed_optional`]); API Gateway omits empty strings.
fn set_str(inputs: &mut Inputs, field: &str, live: Option<&str>) {
    let live = live.filter(|s| !s.is_empty()).map(Value::str);
    if let Some(value) = observed_optional(inputs.get(field), live) {
        inputs.insert(field.to_string(), value);
    }
}

/// Outputs holding only `id`.
fn id_outputs(id: &str) -> crate::model::Outputs {
    let mut outputs = crate::model::Outputs::new();
    outputs.insert("id".to_string(), Value::str(id));
    outputs
}

/// Splits a composite id `<api>/<resource>/<METHOD>` (methods and integrations).
fn split_method_id(id: &str) -> Result<(&str, &str, &str), ProviderError> {
    let mut parts = id.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(api), Some(resource), Some(method))
            if !api.is_empty() && !resource.is_empty() && !method.is_empty() =>
        {
            Ok((api, resource, method))
        }
        _ => Err(ProviderError::invalid(
            "id",
            format!("`{id}` is not of the form <rest api id>/<resource id>/<HTTP method>"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_ids_split_in_three() {
        assert_eq!(split_method_id("a1/r2/GET").unwrap(), ("a1", "r2", "GET"));
        assert!(split_method_id("a1/r2").is_err());
        assert!(split_method_id("a1//GET").is_err());
    }

    #[test]
    fn busy_means_concurrent_modification_or_throttling() {
        let err = |code: &str, message: &str| ProviderError::refused("X", code, message);
        assert!(is_busy(&err(
            "ConflictException",
            "Unable to complete operation due to concurrent modification. Please try again later."
        )));
        assert!(is_busy(&err(
            "TooManyRequestsException",
            "Too Many Requests"
        )));
        assert!(!is_busy(&err(
            "ConflictException",
            "Another resource with the same parent already has this name: health"
        )));
    }

    #[test]
    fn set_str_keeps_applied_empty_and_reports_drift() {
        let mut inputs = Inputs::new();
        set_str(&mut inputs, "description", None);
        assert!(!inputs.contains_key("description"));
        inputs.insert("description".into(), Value::str("x"));
        set_str(&mut inputs, "description", None);
        assert_eq!(
            inputs["description"],
            Value::Null,
            "drift: applied but not live"
        );
        set_str(&mut inputs, "description", Some("y"));
        assert_eq!(inputs["description"], Value::str("y"));
    }
}
