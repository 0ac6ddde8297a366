//! CloudWatch Logs: the `aws_cloudwatch_log_group` provider (name, KMS key, retention,
//! tags).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::LogGroup;
use aws_sdk_cloudwatchlogs::Client;

use super::live::{optional_i32, put_optional, put_string_map};
use super::send::{send, send_ok_if_gone, send_only};
use super::tags::{adopt_if_owned, sync_live_tags, tags_of, user_tags, TagApi, Tags};
use super::{optional_str, required_str, unless_gone, AwsClients};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::kinds;
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};
use crate::provider::{Recorded, Update};

const NOT_FOUND: &str = "ResourceNotFoundException";

/// The schemas of this module's kinds (see [`super::schemas`]).
pub const SCHEMAS: [&Schema; 1] = [&LOG_GROUP_SCHEMA];

/// The providers of this module.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn ResourceProvider>> {
    vec![Arc::new(LogGroupProvider::new(clients))]
}

/// `aws_cloudwatch_log_group`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static LOG_GROUP_SCHEMA: Schema = Schema::declare(
    kinds::LOG_GROUP,
    &[
        f::string("name").required().force_new().unique_within(&[]),
        f::string("kms_key_id"),
        f::int("retention_in_days"),
        f::TAGS,
    ],
    &["id", "arn", "name"],
    true,
);

/// `aws_cloudwatch_log_group`: id = the log group name.
pub struct LogGroupProvider {
    logs: Client,
    /// The same client without the SDK's retries, for the create call (`AwsClients::once`).
    once: Client,
}

impl LogGroupProvider {
    pub fn new(clients: &AwsClients) -> Self {
        LogGroupProvider {
            logs: clients.logs.clone(),
            once: clients.once.logs.clone(),
        }
    }

    /// The log group with exactly this name, if any.
    async fn describe(&self, name: &str) -> Result<Option<LogGroup>, ProviderError> {
        let mut next_token: Option<String> = None;
        loop {
            let call = self.logs.describe_log_groups().log_group_name_prefix(name);
            let call = call.set_next_token(next_token.take());
            let page = send("DescribeLogGroups", call.send()).await?;
            if let Some(group) = page
                .log_groups()
                .iter()
                .find(|g| g.log_group_name() == Some(name))
            {
                return Ok(Some(group.clone()));
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(None),
            }
        }
    }

    async fn set_retention(&self, name: &str, days: Option<i32>) -> Result<(), ProviderError> {
        match days {
            Some(days) => {
                let call = self.logs.put_retention_policy().log_group_name(name);
                let call = call.retention_in_days(days);
                send_only("PutRetentionPolicy", call.send()).await
            }
            None => {
                let call = self.logs.delete_retention_policy().log_group_name(name);
                send_only("DeleteRetentionPolicy", call.send()).await
            }
        }
    }

    async fn set_kms_key(&self, name: &str, key: Option<&str>) -> Result<(), ProviderError> {
        match key {
            Some(key) => {
                let call = self.logs.associate_kms_key().log_group_name(name);
                let call = call.kms_key_id(key);
                send_only("AssociateKmsKey", call.send()).await
            }
            None => {
                let call = self.logs.disassociate_kms_key().log_group_name(name);
                send_only("DisassociateKmsKey", call.send()).await
            }
        }
    }

    async fn require(&self, name: &str) -> Result<LogGroup, ProviderError> {
        self.describe(name).await?.ok_or_else(|| {
            ProviderError::Other(format!("log group {name} not found right after writing it"))
        })
    }
}

/// A log group's inputs, typed.
struct LogGroupConfig<'a> {
    name: &'a str,
    kms_key_id: Option<&'a str>,
    retention_in_days: Option<i32>,
    tags: Tags,
}

impl<'a> LogGroupConfig<'a> {
    fn from_inputs(inputs: &'a Inputs) -> Result<Self, ProviderError> {
        Ok(LogGroupConfig {
            name: required_str(inputs, "name")?,
            kms_key_id: optional_str(inputs, "kms_key_id"),
            retention_in_days: optional_i32(inputs, "retention_in_days")?,
            tags: tags_of(inputs),
        })
    }
}

/// CloudWatch Logs' tag calls on a log group ARN.
struct LogsTags<'a>(&'a Client);

#[async_trait]
impl TagApi for LogsTags<'_> {
    async fn list(&self, arn: &str) -> Result<Tags, ProviderError> {
        let call = self.0.list_tags_for_resource().resource_arn(arn);
        let out = send("ListTagsForResource", call.send()).await?;
        Ok(user_tags(out.tags().cloned().unwrap_or_default()))
    }

    async fn tag(&self, arn: &str, tags: &Tags) -> Result<(), ProviderError> {
        let call = self.0.tag_resource().resource_arn(arn);
        let call = call.set_tags(Some(tags.clone().into_iter().collect()));
        send_only("TagResource", call.send()).await
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), ProviderError> {
        let call = self.0.untag_resource().resource_arn(arn);
        let call = call.set_tag_keys(Some(keys.to_vec()));
        send_only("UntagResource", call.send()).await
    }
}

/// The log group's ARN without the `:*` suffix DescribeLogGroups adds (the form the
/// tagging APIs take).
fn group_arn(group: &LogGroup) -> String {
    group
        .log_group_arn()
        .map(str::to_string)
        .or_else(|| {
            group
                .arn()
                .map(|a| a.strip_suffix(":*").unwrap_or(a).to_string())
        })
        .unwrap_or_default()
}

fn outputs_of(name: &str, group: &LogGroup) -> Outputs {
    Outputs::from([
        ("id".to_string(), Value::str(name)),
        ("arn".to_string(), Value::str(group_arn(group))),
        ("name".to_string(), Value::str(name)),
    ])
}

#[async_trait]
impl ResourceProvider for LogGroupProvider {
    fn schema(&self) -> &Schema {
        &LOG_GROUP_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let config = LogGroupConfig::from_inputs(inputs)?;
        let (name, retention) = (config.name, config.retention_in_days);
        ctx.note(&format!("creating log group {name}"));
        let mut request = self
            .once
            .create_log_group()
            .log_group_name(name)
            .set_kms_key_id(config.kms_key_id.map(str::to_string));
        if !config.tags.is_empty() {
            request = request.set_tags(Some(config.tags.into_iter().collect()));
        }
        send_only("CreateLogGroup", request.send()).await?;
        if retention.is_some() {
            self.set_retention(name, retention).await?;
        }
        let group = self.require(name).await?;
        Ok(Created {
            id: name.to_string(),
            outputs: outputs_of(name, &group),
        })
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let Some(group) = self.describe(id).await? else {
            return Ok(Observed::Gone);
        };
        // Gone when deleted between the two calls.
        let tags = LogsTags(&self.logs).list(&group_arn(&group)).await;
        let Some(tags) = unless_gone(tags, &[NOT_FOUND])? else {
            return Ok(Observed::Gone);
        };
        let mut inputs = Inputs::new();
        inputs.insert("name".to_string(), Value::str(id));
        put_optional(
            &mut inputs,
            applied,
            "kms_key_id",
            group.kms_key_id().map(Value::str),
        );
        put_optional(
            &mut inputs,
            applied,
            "retention_in_days",
            group.retention_in_days().map(|d| Value::Int(i64::from(d))),
        );
        put_string_map(&mut inputs, applied, "tags", tags);
        Ok(Observed::Present {
            inputs,
            outputs: outputs_of(id, &group),
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, new, .. } = change;
        let group = self.describe(id).await?.ok_or_else(|| {
            ProviderError::Other(format!(
                "log group {id} no longer exists; refresh and plan again"
            ))
        })?;
        let new = LogGroupConfig::from_inputs(new)?;
        if group.kms_key_id() != new.kms_key_id {
            ctx.note(&format!("setting the KMS key of log group {id}"));
            self.set_kms_key(id, new.kms_key_id).await?;
        }
        if group.retention_in_days() != new.retention_in_days {
            self.set_retention(id, new.retention_in_days).await?;
        }
        sync_live_tags(&LogsTags(&self.logs), &group_arn(&group), &new.tags).await?;
        let group = self.require(id).await?;
        Ok(outputs_of(id, &group))
    }

    async fn delete(&self, ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        ctx.note(&format!("deleting log group {id}"));
        let call = self.logs.delete_log_group().log_group_name(id);
        send_ok_if_gone("DeleteLogGroup", &[NOT_FOUND], call.send()).await
    }

    async fn find_existing(
        &self,
        ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let name = required_str(inputs, "name")?;
        let Some(group) = self.describe(name).await? else {
            return Ok(None);
        };
        let found = Created {
            id: name.to_string(),
            outputs: outputs_of(name, &group),
        };
        adopt_if_owned(&LogsTags(&self.logs), &group_arn(&group), ctx, found).await
    }
}
