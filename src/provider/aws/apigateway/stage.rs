//! `aws_api_gateway_stage`: a named stage serving one deployment of a REST API, with JSON
//! access logs to a CloudWatch log group, execution logging and metrics for every method
//! (`*/*`). The id is `<api>/<stage name>`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigateway::operation::get_stage::GetStageOutput;
use aws_sdk_apigateway::types::PatchOperation;

use super::calls::{change, unless_missing};
use super::kind::{GatewayKind, Target};
use super::{remove, replace, set_str, set_tags, Gateway};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::kinds;
use crate::provider::aws::tags::Tags;
use crate::provider::aws::{optional_str, required_str, retry_while, tags_of};
use crate::provider::schema::fields as f;
use crate::provider::Update;
use crate::provider::{Created, OpContext, ProviderError, Schema};

/// How long a settings change is retried while API Gateway says the account has no usable
/// CloudWatch role yet (the `aws_api_gateway_account` setting and IAM propagate slowly).
const ACCOUNT_ROLE_LIMIT: Duration = Duration::from_secs(120);

/// The method-settings key for "every resource, every method".
const ALL_METHODS: &str = "*/*";

/// `aws_api_gateway_stage`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static API_STAGE_SCHEMA: Schema = Schema::declare(
    kinds::API_STAGE,
    &[
        f::string("rest_api_id").required().force_new(),
        f::string("stage_name")
            .required()
            .force_new()
            .unique_within(&["rest_api_id"]),
        // A deployment that a stage points at cannot be deleted.
        f::string("deployment_id").required().blocks_delete(),
        f::string("access_log_destination_arn"),
        f::string("access_log_format"),
        f::string("logging_level"),
        f::boolean("metrics_enabled"),
        f::TAGS,
    ],
    &["id", "arn", "invoke_url"],
    true,
);

/// The `aws_api_gateway_stage` kind.
pub struct StageKind {
    gateway: Arc<Gateway>,
}

/// A stage as read live: GetStage, and its tags (GetTags).
pub struct LiveStage {
    stage: GetStageOutput,
    tags: Tags,
}

impl StageKind {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        StageKind { gateway }
    }

    fn outputs_of(&self, api: &str, stage: &str) -> Result<Outputs, ProviderError> {
        let region = self.gateway.region()?;
        let mut outputs = Outputs::new();
        outputs.insert("id".to_string(), Value::str(stage_id(api, stage)));
        outputs.insert(
            "arn".to_string(),
            Value::str(self.gateway.stage_arn(api, stage)?),
        );
        outputs.insert(
            "invoke_url".to_string(),
            Value::str(format!(
                "https://{api}.execute-api.{region}.amazonaws.com/{stage}"
            )),
        );
        Ok(outputs)
    }

    /// The live stage, or `None` when it (or its API) is gone.
    async fn get(&self, api: &str, stage: &str) -> Result<Option<GetStageOutput>, ProviderError> {
        let call = self
            .gateway
            .client()
            .get_stage()
            .rest_api_id(api)
            .stage_name(stage);
        unless_missing("GetStage", call.send().await)
    }

    async fn patch(
        &self,
        ctx: &OpContext,
        api: &str,
        stage: &str,
        ops: Vec<PatchOperation>,
    ) -> Result<(), ProviderError> {
        if ops.is_empty() {
            return Ok(());
        }
        retry_while(
            ctx,
            "waiting for the account's CloudWatch role",
            ACCOUNT_ROLE_LIMIT,
            needs_account_role,
            || {
                change(ctx, "updating the stage", "UpdateStage", || {
                    self.gateway
                        .client()
                        .update_stage()
                        .rest_api_id(api)
                        .stage_name(stage)
                        .set_patch_operations(Some(ops.clone()))
                        .send()
                })
            },
        )
        .await?;
        Ok(())
    }
}

fn stage_id(api: &str, stage: &str) -> String {
    format!("{api}/{stage}")
}

/// The REST API and the stage name the inputs `rest_api_id` and `stage_name` name.
fn stage_of_inputs(inputs: &Inputs) -> Result<(&str, &str), ProviderError> {
    Ok((
        required_str(inputs, "rest_api_id")?,
        required_str(inputs, "stage_name")?,
    ))
}

fn split_stage_id(id: &str) -> Result<(&str, &str), ProviderError> {
    match id.split_once('/') {
        Some((api, stage)) if !api.is_empty() && !stage.is_empty() => Ok((api, stage)),
        _ => Err(ProviderError::invalid(
            "id",
            format!("`{id}` is not of the form <rest api id>/<stage name>"),
        )),
    }
}

/// True for "CloudWatch Logs role ARN must be set in account settings to enable logging".
fn needs_account_role(err: &ProviderError) -> bool {
    match err {
        ProviderError::Aws { code, message, .. } => {
            code == "BadRequestException"
                && message
                    .to_ascii_lowercase()
                    .contains("role arn must be set in account settings")
        }
        _ => false,
    }
}

/// A log group ARN as API Gateway wants it: without the `:*` that DescribeLogGroups and
/// the log group's `arn` output end with.
fn log_destination(arn: &str) -> &str {
    arn.strip_suffix(":*").unwrap_or(arn)
}

/// The access log settings in `inputs`: destination (without `:*`) and format, or `None`
/// when access logging is off.
fn access_log(inputs: &Inputs) -> Option<(&str, &str)> {
    optional_str(inputs, "access_log_destination_arn")
        .filter(|a| !a.is_empty())
        .map(|arn| {
            (
                log_destination(arn),
                optional_str(inputs, "access_log_format").unwrap_or(""),
            )
        })
}

fn logging_level(inputs: &Inputs) -> &str {
    optional_str(inputs, "logging_level").unwrap_or("OFF")
}

fn metrics_enabled(inputs: &Inputs) -> bool {
    inputs
        .get("metrics_enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The patch operations that take the stage's settings from `old` to `new` (`None` = a new
/// stage with API Gateway's defaults: no access log, logging off, metrics off).
fn settings_ops(old: Option<&Inputs>, new: &Inputs) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    let old_log = old.and_then(access_log);
    match (old_log, access_log(new)) {
        (before, Some((arn, format))) if before != Some((arn, format)) => {
            ops.push(replace("/accessLogSettings/destinationArn", arn));
            ops.push(replace("/accessLogSettings/format", format));
        }
        (Some(_), None) => ops.push(remove("/accessLogSettings")),
        _ => {}
    }
    let old_level = old.map(logging_level).unwrap_or("OFF");
    if old_level != logging_level(new) {
        ops.push(replace("/*/*/logging/loglevel", logging_level(new)));
    }
    if old.map(metrics_enabled).unwrap_or(false) != metrics_enabled(new) {
        let value = if metrics_enabled(new) {
            "true"
        } else {
            "false"
        };
        ops.push(replace("/*/*/metrics/enabled", value));
    }
    ops
}

/// Records the live stage's settings in `inputs` (at first, those applied).
fn observe_settings(inputs: &mut Inputs, live: &GetStageOutput) {
    set_str(inputs, "deployment_id", live.deployment_id());
    let log = live.access_log_settings();
    let live_arn = log.and_then(|l| l.destination_arn());
    let applied_arn = optional_str(inputs, "access_log_destination_arn");
    // The applied ARN may end with `:*`, which API Gateway drops: the same log group.
    let same_group =
        matches!((applied_arn, live_arn), (Some(a), Some(l)) if log_destination(a) == l);
    if !same_group {
        set_str(inputs, "access_log_destination_arn", live_arn);
    }
    set_str(inputs, "access_log_format", log.and_then(|l| l.format()));
    let all = live
        .method_settings()
        .and_then(|m: &HashMap<_, _>| m.get(ALL_METHODS));
    let level = all.and_then(|s| s.logging_level()).unwrap_or("OFF");
    if inputs.contains_key("logging_level") || level != "OFF" {
        inputs.insert("logging_level".to_string(), Value::str(level));
    }
    let metrics = all.is_some_and(|s| s.metrics_enabled());
    if inputs.contains_key("metrics_enabled") || metrics {
        inputs.insert("metrics_enabled".to_string(), Value::Bool(metrics));
    }
}

#[async_trait]
impl GatewayKind for StageKind {
    type Live = LiveStage;

    fn schema(&self) -> &'static Schema {
        &API_STAGE_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let (api, stage) = stage_of_inputs(inputs)?;
        let deployment = required_str(inputs, "deployment_id")?;
        let tags: HashMap<String, String> = tags_of(inputs).into_iter().collect();
        change(ctx, "creating the stage", "CreateStage", || {
            self.gateway
                .once()
                .create_stage()
                .rest_api_id(api)
                .stage_name(stage)
                .deployment_id(deployment)
                .set_tags((!tags.is_empty()).then(|| tags.clone()))
                .send()
        })
        .await?;
        self.patch(ctx, api, stage, settings_ops(None, inputs))
            .await?;
        // See the REST API's create: GetTags must see the creation tags on LocalStack too.
        let arn = self.gateway.stage_arn(api, stage)?;
        self.gateway.sync_tags(ctx, &arn, &tags_of(inputs)).await?;
        Ok(Created {
            id: stage_id(api, stage),
            outputs: self.outputs_of(api, stage)?,
        })
    }

    async fn live(&self, at: Target<'_>) -> Result<Option<LiveStage>, ProviderError> {
        let (api, stage) = split_stage_id(at.id)?;
        let Some(live) = self.get(api, stage).await? else {
            return Ok(None);
        };
        // GetTags, not the stage's `tags`: LocalStack's GetStage misses TagResource changes.
        let tags = self
            .gateway
            .tags(&self.gateway.stage_arn(api, stage)?)
            .await?;
        Ok(Some(LiveStage { stage: live, tags }))
    }

    fn observe(&self, inputs: &mut Inputs, live: &LiveStage) {
        observe_settings(inputs, &live.stage);
        set_tags(inputs, live.tags.clone());
    }

    async fn outputs(&self, id: &str, _live: &LiveStage) -> Result<Outputs, ProviderError> {
        let (api, stage) = split_stage_id(id)?;
        self.outputs_of(api, stage)
    }

    async fn update(&self, ctx: &OpContext, update: Update<'_>) -> Result<Outputs, ProviderError> {
        let (api, stage) = split_stage_id(update.id)?;
        let mut ops = Vec::new();
        let deployment = required_str(update.new, "deployment_id")?;
        if optional_str(update.old, "deployment_id") != Some(deployment) {
            ops.push(replace("/deploymentId", deployment));
        }
        ops.extend(settings_ops(Some(update.old), update.new));
        self.patch(ctx, api, stage, ops).await?;
        let arn = self.gateway.stage_arn(api, stage)?;
        self.gateway
            .sync_tags(ctx, &arn, &tags_of(update.new))
            .await?;
        self.outputs_of(api, stage)
    }

    async fn delete(&self, ctx: &OpContext, at: Target<'_>) -> Result<(), ProviderError> {
        let (api, stage) = split_stage_id(at.id)?;
        change(ctx, "deleting the stage", "DeleteStage", || {
            self.gateway
                .client()
                .delete_stage()
                .rest_api_id(api)
                .stage_name(stage)
                .send()
        })
        .await
        .map(|_| ())
    }

    /// A stage name is unique in its API: the stage is adopted when it exists and carries
    /// this resource's ownership tags.
    async fn find(
        &self,
        ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let (api, stage) = stage_of_inputs(inputs)?;
        match self.get(api, stage).await? {
            Some(live) if super::owned(live.tags(), ctx) => Ok(Some(Created {
                id: stage_id(api, stage),
                outputs: self.outputs_of(api, stage)?,
            })),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(pairs: &[(&str, Value)]) -> Inputs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn new_stage_gets_log_settings_without_the_trailing_wildcard() {
        let new = inputs(&[
            (
                "access_log_destination_arn",
                Value::str("arn:aws:logs:us-east-1:1:log-group:g:*"),
            ),
            ("access_log_format", Value::str("{}")),
            ("logging_level", Value::str("INFO")),
            ("metrics_enabled", Value::Bool(true)),
        ]);
        let ops: Vec<(String, String)> = settings_ops(None, &new)
            .iter()
            .map(|o| {
                (
                    o.path().unwrap_or("").to_string(),
                    o.value().unwrap_or("").to_string(),
                )
            })
            .collect();
        assert_eq!(
            ops,
            vec![
                (
                    "/accessLogSettings/destinationArn".to_string(),
                    "arn:aws:logs:us-east-1:1:log-group:g".to_string()
                ),
                ("/accessLogSettings/format".to_string(), "{}".to_string()),
                ("/*/*/logging/loglevel".to_string(), "INFO".to_string()),
                ("/*/*/metrics/enabled".to_string(), "true".to_string()),
            ]
        );
        assert!(settings_ops(Some(&new), &new).is_empty());
    }

    #[test]
    fn turning_access_logs_off_removes_them() {
        let old = inputs(&[("access_log_destination_arn", Value::str("arn:x"))]);
        let ops = settings_ops(Some(&old), &Inputs::new());
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].path(), Some("/accessLogSettings"));
    }
}
