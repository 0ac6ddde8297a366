//! API Gateway (REST API, v1) providers: one module per resource kind, and what they share
//! (the client, region and account id, not-found and busy-error handling, patch operations,
//! tags).

mod account;
mod deployment;
mod integration;
mod method;
mod resource;
mod rest_api;
mod stage;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_apigateway::types::{Op, PatchOperation};

use super::{aws_error, has_code, retry_while, tags_value, AwsClients, TAG_ADDRESS, TAG_STACK};
use crate::model::{Inputs, Value};
use crate::provider::{OpContext, ProviderError, ResourceProvider};

pub use account::AccountProvider;
pub use deployment::DeploymentProvider;
pub use integration::IntegrationProvider;
pub use method::MethodProvider;
pub use resource::ApiResourceProvider;
pub use rest_api::RestApiProvider;
pub use stage::StageProvider;

/// Every API Gateway provider, sharing one client and one cached account id.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn ResourceProvider>> {
    let gateway = Arc::new(Gateway::new(clients));
    vec![
        Arc::new(RestApiProvider::new(gateway.clone())),
        Arc::new(ApiResourceProvider::new(gateway.clone())),
        Arc::new(MethodProvider::new(gateway.clone())),
        Arc::new(IntegrationProvider::new(gateway.clone())),
        Arc::new(DeploymentProvider::new(gateway.clone())),
        Arc::new(StageProvider::new(gateway.clone())),
        Arc::new(AccountProvider::new(gateway)),
    ]
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
    async fn tags(&self, arn: &str) -> Result<HashMap<String, String>, ProviderError> {
        let out = self
            .client
            .get_tags()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error("GetTags", e))?;
        Ok(user_tags(out.tags()))
    }

    /// Makes the tags on `arn` exactly `desired`: untags keys that are live but not desired,
    /// then tags what differs. Reads the live tags first so out-of-band changes are undone.
    async fn sync_tags(
        &self,
        ctx: &OpContext,
        arn: &str,
        desired: &[(String, String)],
    ) -> Result<(), ProviderError> {
        let live = self.tags(arn).await?;
        let mut stale: Vec<&String> = live
            .keys()
            .filter(|k| !desired.iter().any(|(d, _)| d == *k))
            .collect();
        stale.sort();
        if !stale.is_empty() {
            let keys: Vec<String> = stale.into_iter().cloned().collect();
            retry_busy(ctx, "untagging", || async {
                self.client
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(keys.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_error("UntagResource", e))
            })
            .await?;
        }
        let changed = desired
            .iter()
            .any(|(k, v)| live.get(k).map(String::as_str) != Some(v.as_str()));
        if changed {
            let tags: HashMap<String, String> = desired.iter().cloned().collect();
            retry_busy(ctx, "tagging", || async {
                self.client
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(tags.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_error("TagResource", e))
            })
            .await?;
        }
        Ok(())
    }
}

/// True for API Gateway's "does not exist" error.
fn is_not_found(err: &ProviderError) -> bool {
    has_code(err, &["NotFoundException"])
}

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

/// Tags without the `aws:` ones AWS adds itself.
fn user_tags(tags: Option<&HashMap<String, String>>) -> HashMap<String, String> {
    tags.map(|t| {
        t.iter()
            .filter(|(k, _)| !k.starts_with("aws:"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
    .unwrap_or_default()
}

/// True when the tags mark the resource as `ctx`'s (same stack, same address).
fn owned_by(tags: Option<&HashMap<String, String>>, ctx: &OpContext) -> bool {
    let Some(tags) = tags else {
        return false;
    };
    tags.get(TAG_STACK).map(String::as_str) == Some(ctx.stack.as_str())
        && tags.get(TAG_ADDRESS).map(String::as_str) == Some(ctx.address.to_string().as_str())
}

/// Records live tags in `inputs` (sorted); an empty live set stays absent when nothing was
/// applied, so refresh does not show a false difference.
fn set_tags(inputs: &mut Inputs, live: HashMap<String, String>) {
    if live.is_empty() && !inputs.contains_key("tags") {
        return;
    }
    let mut sorted: Vec<(String, String)> = live.into_iter().collect();
    sorted.sort();
    inputs.insert("tags".to_string(), tags_value(sorted));
}

/// Records a live string attribute in `inputs`. AWS omits empty strings, so an absent live
/// value is recorded as `""` only when a non-empty value was applied (real drift); otherwise
/// the applied value (absent, null or `""`) is kept.
fn set_str(inputs: &mut Inputs, field: &str, live: Option<&str>) {
    match live.filter(|s| !s.is_empty()) {
        Some(s) => {
            inputs.insert(field.to_string(), Value::str(s));
        }
        None => {
            let applied_non_empty = inputs
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if applied_non_empty {
                inputs.insert(field.to_string(), Value::str(""));
            }
        }
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
        let err = |code: &str, message: &str| ProviderError::Aws {
            operation: "X".into(),
            code: code.into(),
            message: message.into(),
            request_id: None,
        };
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
        assert_eq!(inputs["description"], Value::str(""));
        set_str(&mut inputs, "description", Some("y"));
        assert_eq!(inputs["description"], Value::str("y"));
    }
}
