//! EventBridge: the `aws_cloudwatch_event_rule` provider (a scheduled rule on the default
//! bus, with tags) and the `aws_cloudwatch_event_target` provider (one target of a rule).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput;
use aws_sdk_eventbridge::types::{RuleState, Tag, Target};
use aws_sdk_eventbridge::Client;

use super::composite_id;
use super::live::{put_optional, put_string_map};
use super::send::{send, send_ok_if_gone, send_only, send_unless_gone};
use super::tags::{adopt_if_owned, sync_live_tags, tags_of, user_tags, TagApi, Tags};
use super::{optional_str, required_str, unless_gone, AwsClients};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::kinds;
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};
use crate::provider::{Recorded, Update};

const NOT_FOUND: &str = "ResourceNotFoundException";

/// The schemas of this module's kinds (see [`super::schemas`]).
pub const SCHEMAS: [&Schema; 2] = [&EVENT_RULE_SCHEMA, &EVENT_TARGET_SCHEMA];

/// The providers of this module.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn ResourceProvider>> {
    vec![
        Arc::new(RuleProvider::new(clients.eventbridge.clone())),
        Arc::new(TargetProvider::new(clients.eventbridge.clone())),
    ]
}

/// The codes of a rule or target that does not exist.
const GONE: &[&str] = &[NOT_FOUND];

/// EventBridge's tag calls on a rule ARN.
struct EventsTags<'a>(&'a Client);

#[async_trait]
impl TagApi for EventsTags<'_> {
    async fn list(&self, arn: &str) -> Result<Tags, ProviderError> {
        let call = self.0.list_tags_for_resource().resource_arn(arn);
        let out = send("ListTagsForResource", call.send()).await?;
        Ok(user_tags(out.tags().iter().map(|t| (t.key(), t.value()))))
    }

    async fn tag(&self, arn: &str, tags: &Tags) -> Result<(), ProviderError> {
        let call = self.0.tag_resource().resource_arn(arn);
        let call = call.set_tags(Some(sdk_tags(tags.clone())?));
        send_only("TagResource", call.send()).await
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), ProviderError> {
        let call = self.0.untag_resource().resource_arn(arn);
        let call = call.set_tag_keys(Some(keys.to_vec()));
        send_only("UntagResource", call.send()).await
    }
}

fn build_error(what: &str, err: impl std::fmt::Display) -> ProviderError {
    ProviderError::Other(format!("building the {what} request: {err}"))
}

fn sdk_tags(tags: impl IntoIterator<Item = (String, String)>) -> Result<Vec<Tag>, ProviderError> {
    tags.into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| build_error("tag", e))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// aws_cloudwatch_event_rule
// ---------------------------------------------------------------------------------------

/// `aws_cloudwatch_event_rule`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static EVENT_RULE_SCHEMA: Schema = Schema::declare(
    kinds::EVENT_RULE,
    &[
        f::string("name").required().force_new().unique_within(&[]),
        f::string("schedule_expression"),
        f::string("description"),
        f::string("state"),
        f::TAGS,
    ],
    &["id", "arn", "name"],
    true,
);

/// `aws_cloudwatch_event_target`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static EVENT_TARGET_SCHEMA: Schema = Schema::declare(
    kinds::EVENT_TARGET,
    &[
        f::string("rule").required().force_new(),
        f::string("target_id")
            .required()
            .force_new()
            .unique_within(&["rule"]),
        f::string("arn").required(),
    ],
    &["id"],
    true,
);

/// `aws_cloudwatch_event_rule`: id = the rule name.
pub struct RuleProvider {
    events: Client,
}

fn rule_outputs(name: &str, arn: &str) -> Outputs {
    Outputs::from([
        ("id".to_string(), Value::str(name)),
        ("arn".to_string(), Value::str(arn)),
        ("name".to_string(), Value::str(name)),
    ])
}

impl RuleProvider {
    pub fn new(events: Client) -> Self {
        RuleProvider { events }
    }

    async fn describe(&self, name: &str) -> Result<Option<DescribeRuleOutput>, ProviderError> {
        let call = self.events.describe_rule().name(name);
        send_unless_gone("DescribeRule", GONE, call.send()).await
    }

    /// PutRule with every field of `inputs` (creates or overwrites); returns the ARN.
    async fn put_rule(
        &self,
        inputs: &Inputs,
        tags: Option<Vec<Tag>>,
    ) -> Result<String, ProviderError> {
        let name = required_str(inputs, "name")?;
        let call = self
            .events
            .put_rule()
            .name(name)
            .set_schedule_expression(
                optional_str(inputs, "schedule_expression").map(str::to_string),
            )
            .set_description(optional_str(inputs, "description").map(str::to_string))
            .set_state(optional_str(inputs, "state").map(RuleState::from))
            .set_tags(tags);
        let out = send("PutRule", call.send()).await?;
        out.rule_arn()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::Other(format!("PutRule returned no ARN for {name}")))
    }
}

#[async_trait]
impl ResourceProvider for RuleProvider {
    fn schema(&self) -> &Schema {
        &EVENT_RULE_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let name = required_str(inputs, "name")?;
        // PutRule silently overwrites: never take over a rule nova did not create.
        if self.describe(name).await?.is_some() {
            return Err(ProviderError::invalid(
                "name",
                format!("an EventBridge rule named {name} already exists"),
            ));
        }
        ctx.note(&format!("creating rule {name}"));
        let tags = tags_of(inputs);
        let tags = if tags.is_empty() {
            None
        } else {
            Some(sdk_tags(tags)?)
        };
        let arn = self.put_rule(inputs, tags).await?;
        Ok(Created {
            id: name.to_string(),
            outputs: rule_outputs(name, &arn),
        })
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let Some(rule) = self.describe(id).await? else {
            return Ok(Observed::Gone);
        };
        let arn = rule.arn().unwrap_or_default().to_string();
        let Some(tags) = unless_gone(EventsTags(&self.events).list(&arn).await, GONE)? else {
            return Ok(Observed::Gone);
        };
        let text = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(Value::str);
        let mut inputs = Inputs::new();
        inputs.insert("name".to_string(), Value::str(id));
        put_optional(
            &mut inputs,
            applied,
            "schedule_expression",
            text(rule.schedule_expression()),
        );
        put_optional(
            &mut inputs,
            applied,
            "description",
            text(rule.description()),
        );
        put_optional(
            &mut inputs,
            applied,
            "state",
            text(rule.state().map(RuleState::as_str)),
        );
        put_string_map(&mut inputs, applied, "tags", tags);
        Ok(Observed::Present {
            inputs,
            outputs: rule_outputs(id, &arn),
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, new, .. } = change;
        if self.describe(id).await?.is_none() {
            return Err(ProviderError::Other(format!(
                "rule {id} no longer exists; refresh and plan again"
            )));
        }
        ctx.note(&format!("updating rule {id}"));
        // Tags are changed by difference below, not by PutRule (which only adds).
        let arn = self.put_rule(new, None).await?;
        sync_live_tags(&EventsTags(&self.events), &arn, &tags_of(new)).await?;
        Ok(rule_outputs(id, &arn))
    }

    async fn delete(&self, ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        ctx.note(&format!("deleting rule {id}"));
        let call = self.events.delete_rule().name(id);
        send_ok_if_gone("DeleteRule", GONE, call.send()).await
    }

    async fn find_existing(
        &self,
        ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let name = required_str(inputs, "name")?;
        let Some(rule) = self.describe(name).await? else {
            return Ok(None);
        };
        let arn = rule.arn().unwrap_or_default();
        let found = Created {
            id: name.to_string(),
            outputs: rule_outputs(name, arn),
        };
        adopt_if_owned(&EventsTags(&self.events), arn, ctx, found).await
    }
}

// ---------------------------------------------------------------------------------------
// aws_cloudwatch_event_target
// ---------------------------------------------------------------------------------------

/// `aws_cloudwatch_event_target`: id = `<rule>/<target_id>`.
pub struct TargetProvider {
    events: Client,
}

fn target_id(rule: &str, target: &str) -> String {
    composite_id::join(rule, target)
}

/// Splits `<rule>/<target_id>`; rule names cannot contain `/`.
fn split_target_id(id: &str) -> Result<(&str, &str), ProviderError> {
    let (kind, form) = ("aws_cloudwatch_event_target", "<rule>/<target_id>");
    composite_id::parts(id.split_once('/'), id, kind, form)
}

impl TargetProvider {
    pub fn new(events: Client) -> Self {
        TargetProvider { events }
    }

    /// The target's ARN, `None` when the rule or the target is gone.
    async fn find(&self, rule: &str, target: &str) -> Result<Option<String>, ProviderError> {
        let mut next_token: Option<String> = None;
        loop {
            let call = self.events.list_targets_by_rule().rule(rule);
            let call = call.set_next_token(next_token.take());
            let Some(page) = send_unless_gone("ListTargetsByRule", GONE, call.send()).await? else {
                return Ok(None);
            };
            if let Some(found) = page.targets().iter().find(|t| t.id() == target) {
                return Ok(Some(found.arn().to_string()));
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(None),
            }
        }
    }

    /// PutTargets (creates or overwrites the target); returns the id.
    async fn put(&self, ctx: &OpContext, inputs: &Inputs) -> Result<String, ProviderError> {
        let rule = required_str(inputs, "rule")?;
        let target = required_str(inputs, "target_id")?;
        let arn = required_str(inputs, "arn")?;
        ctx.note(&format!("pointing target {target} of rule {rule} at {arn}"));
        let sdk_target = Target::builder()
            .id(target)
            .arn(arn)
            .build()
            .map_err(|e| build_error("target", e))?;
        let call = self.events.put_targets().rule(rule).targets(sdk_target);
        let out = send("PutTargets", call.send()).await?;
        if let Some(failed) = out.failed_entries().first() {
            return Err(ProviderError::refused(
                "PutTargets",
                failed.error_code().unwrap_or("FailedEntry"),
                failed.error_message().unwrap_or("target rejected"),
            ));
        }
        Ok(target_id(rule, target))
    }
}

#[async_trait]
impl ResourceProvider for TargetProvider {
    fn schema(&self) -> &Schema {
        &EVENT_TARGET_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        Ok(composite_id::created(self.put(ctx, inputs).await?))
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        _applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let (rule, target) = split_target_id(id)?;
        let Some(arn) = self.find(rule, target).await? else {
            return Ok(Observed::Gone);
        };
        let inputs = Inputs::from([
            ("rule".to_string(), Value::str(rule)),
            ("target_id".to_string(), Value::str(target)),
            ("arn".to_string(), Value::str(arn)),
        ]);
        Ok(Observed::Present {
            inputs,
            outputs: composite_id::outputs(id),
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, new, .. } = change;
        let new_id = self.put(ctx, new).await?;
        if new_id != id {
            return Err(ProviderError::Other(format!(
                "aws_cloudwatch_event_target {id} cannot be moved in place to {new_id}"
            )));
        }
        Ok(composite_id::outputs(id))
    }

    async fn delete(&self, ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        let (rule, target) = split_target_id(id)?;
        ctx.note(&format!("removing target {target} from rule {rule}"));
        let call = self.events.remove_targets().rule(rule).ids(target);
        let Some(out) = send_unless_gone("RemoveTargets", GONE, call.send()).await? else {
            return Ok(());
        };
        match out.failed_entries().first() {
            Some(failed) if failed.error_code() != Some(NOT_FOUND) => Err(ProviderError::refused(
                "RemoveTargets",
                failed.error_code().unwrap_or("FailedEntry"),
                failed.error_message().unwrap_or("target not removed"),
            )),
            _ => Ok(()),
        }
    }

    async fn find_existing(
        &self,
        _ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let rule = required_str(inputs, "rule")?;
        let target = required_str(inputs, "target_id")?;
        if self.find(rule, target).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(composite_id::created(target_id(rule, target))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_ids_round_trip() {
        let id = target_id("rule-a", "lambda");
        assert_eq!(split_target_id(&id).ok(), Some(("rule-a", "lambda")));
        assert!(split_target_id("nosep").is_err());
        assert!(split_target_id("r/").is_err());
    }
}
