//! CloudWatch Logs: the `aws_cloudwatch_log_group` provider (name, KMS key, retention,
//! tags).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::LogGroup;
use aws_sdk_cloudwatchlogs::Client;

use super::live::{optional_i32, owned_by, put_optional, put_string_map};
use super::tag_diff::{user_tags, TagDiff};
use super::{aws_error, has_code, optional_str, required_str, tags_of, AwsClients};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};

pub const LOG_GROUP: &str = "aws_cloudwatch_log_group";

const NOT_FOUND: &str = "ResourceNotFoundException";

/// The providers of this module.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn ResourceProvider>> {
    vec![Arc::new(LogGroupProvider::new(clients.logs.clone()))]
}

/// `aws_cloudwatch_log_group`: id = the log group name.
pub struct LogGroupProvider {
    logs: Client,
    schema: Schema,
}

impl LogGroupProvider {
    pub fn new(logs: Client) -> Self {
        LogGroupProvider {
            logs,
            schema: Schema::new(LOG_GROUP, &["name"], false),
        }
    }

    /// The log group with exactly this name, if any.
    async fn describe(&self, name: &str) -> Result<Option<LogGroup>, ProviderError> {
        let mut next_token: Option<String> = None;
        loop {
            let page = self
                .logs
                .describe_log_groups()
                .log_group_name_prefix(name)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| aws_error("DescribeLogGroups", e))?;
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

    async fn live_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self
            .logs
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error("ListTagsForResource", e))?;
        Ok(user_tags(out.tags().cloned().unwrap_or_default()))
    }

    async fn set_retention(&self, name: &str, days: Option<i32>) -> Result<(), ProviderError> {
        match days {
            Some(days) => self
                .logs
                .put_retention_policy()
                .log_group_name(name)
                .retention_in_days(days)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("PutRetentionPolicy", e)),
            None => self
                .logs
                .delete_retention_policy()
                .log_group_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteRetentionPolicy", e)),
        }
    }

    async fn set_kms_key(&self, name: &str, key: Option<&str>) -> Result<(), ProviderError> {
        match key {
            Some(key) => self
                .logs
                .associate_kms_key()
                .log_group_name(name)
                .kms_key_id(key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("AssociateKmsKey", e)),
            None => self
                .logs
                .disassociate_kms_key()
                .log_group_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DisassociateKmsKey", e)),
        }
    }

    async fn apply_tags(&self, arn: &str, desired: &Inputs) -> Result<(), ProviderError> {
        let live = self.live_tags(arn).await?;
        let diff = TagDiff::between(&live, &tags_of(desired));
        if !diff.remove.is_empty() {
            self.logs
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(diff.remove.clone()))
                .send()
                .await
                .map_err(|e| aws_error("UntagResource", e))?;
        }
        if !diff.set.is_empty() {
            self.logs
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(diff.set.into_iter().collect()))
                .send()
                .await
                .map_err(|e| aws_error("TagResource", e))?;
        }
        Ok(())
    }

    async fn require(&self, name: &str) -> Result<LogGroup, ProviderError> {
        self.describe(name).await?.ok_or_else(|| {
            ProviderError::Other(format!("log group {name} not found right after writing it"))
        })
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
        &self.schema
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let name = required_str(inputs, "name")?;
        let retention = optional_i32(inputs, "retention_in_days")?;
        let tags = tags_of(inputs);
        ctx.note(&format!("creating log group {name}"));
        let mut request = self
            .logs
            .create_log_group()
            .log_group_name(name)
            .set_kms_key_id(optional_str(inputs, "kms_key_id").map(str::to_string));
        if !tags.is_empty() {
            request = request.set_tags(Some(tags.into_iter().collect()));
        }
        request
            .send()
            .await
            .map_err(|e| aws_error("CreateLogGroup", e))?;
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
        let tags = match self.live_tags(&group_arn(&group)).await {
            Ok(tags) => tags,
            // Deleted between the two calls.
            Err(err) if has_code(&err, &[NOT_FOUND]) => return Ok(Observed::Gone),
            Err(err) => return Err(err),
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

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Inputs,
        new: &Inputs,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        let group = self.describe(id).await?.ok_or_else(|| {
            ProviderError::Other(format!(
                "log group {id} no longer exists; refresh and plan again"
            ))
        })?;
        let new_key = optional_str(new, "kms_key_id");
        if group.kms_key_id() != new_key {
            ctx.note(&format!("setting the KMS key of log group {id}"));
            self.set_kms_key(id, new_key).await?;
        }
        let new_retention = optional_i32(new, "retention_in_days")?;
        if group.retention_in_days() != new_retention {
            self.set_retention(id, new_retention).await?;
        }
        self.apply_tags(&group_arn(&group), new).await?;
        let group = self.require(id).await?;
        Ok(outputs_of(id, &group))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _inputs: &Inputs,
        _outputs: &Outputs,
    ) -> Result<(), ProviderError> {
        ctx.note(&format!("deleting log group {id}"));
        match self.logs.delete_log_group().log_group_name(id).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = aws_error("DeleteLogGroup", e);
                if has_code(&err, &[NOT_FOUND]) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
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
        let tags = self.live_tags(&group_arn(&group)).await?;
        if !owned_by(&tags, &ctx.stack, &ctx.address.to_string()) {
            return Ok(None);
        }
        Ok(Some(Created {
            id: name.to_string(),
            outputs: outputs_of(name, &group),
        }))
    }
}
