//! KMS providers: `aws_kms_key` (a customer managed key with nova's key policy, rotation
//! and tags; deleting it schedules its deletion) and `aws_kms_alias`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kms::types::{KeyMetadata, KeyState, Tag};

use super::policy_doc::{observed_policy, policies_equal};
use super::send::{send, send_ok_if_gone, send_only, send_unless_gone};
use super::tags::{is_owned, sync_tags, tags_of, tags_value, user_tags, TagApi, Tags};
use super::{live_inputs, optional_str, required_str, wait_until, AwsClients};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::kinds;
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};
use crate::provider::{Recorded, Update};

/// The only key policy name KMS knows.
const POLICY_NAME: &str = "default";
/// `deletion_window_days` when the input is absent.
const DEFAULT_DELETION_WINDOW_DAYS: i64 = 7;
/// How long a new key may take to become `Enabled`.
const ENABLE_WAIT: Duration = Duration::from_secs(120);
/// KMS error code for a key or alias that does not exist.
const NOT_FOUND: &str = "NotFoundException";
const GONE: &[&str] = &[NOT_FOUND];

/// The schemas of this module's kinds (see [`super::schemas`]).
pub const SCHEMAS: [&Schema; 2] = [&KMS_KEY_SCHEMA, &KMS_ALIAS_SCHEMA];

/// The KMS providers.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn ResourceProvider>> {
    vec![
        Arc::new(KmsKey::new(clients)),
        Arc::new(KmsAlias::new(clients)),
    ]
}

/// `aws_kms_key`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static KMS_KEY_SCHEMA: Schema = Schema::declare(
    kinds::KMS_KEY,
    &[
        f::string("description"),
        f::json("policy").required(),
        f::boolean("enable_key_rotation"),
        f::int("deletion_window_days"),
        f::TAGS,
    ],
    &["id", "arn", "key_id"],
    true,
);

/// `aws_kms_alias`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static KMS_ALIAS_SCHEMA: Schema = Schema::declare(
    kinds::KMS_ALIAS,
    &[
        f::string("name").required().force_new().unique_within(&[]),
        f::string("target_key_id").required(),
    ],
    &["id", "arn", "name"],
    true,
);

/// `aws_kms_key`.
pub struct KmsKey {
    kms: aws_sdk_kms::Client,
    /// The same client without the SDK's retries, for the create call (`AwsClients::once`).
    once: aws_sdk_kms::Client,
}

impl KmsKey {
    pub fn new(clients: &AwsClients) -> Self {
        KmsKey {
            kms: clients.kms.clone(),
            once: clients.once.kms.clone(),
        }
    }

    async fn describe(&self, key_id: &str) -> Result<Option<KeyMetadata>, ProviderError> {
        let call = self.kms.describe_key().key_id(key_id);
        let out = send_unless_gone("DescribeKey", GONE, call.send()).await?;
        Ok(out.and_then(|out| out.key_metadata))
    }

    async fn set_rotation(&self, key_id: &str, enabled: bool) -> Result<(), ProviderError> {
        if enabled {
            let call = self.kms.enable_key_rotation().key_id(key_id);
            send_only("EnableKeyRotation", call.send()).await
        } else {
            let call = self.kms.disable_key_rotation().key_id(key_id);
            send_only("DisableKeyRotation", call.send()).await
        }
    }

    /// Waits until a new key is `Enabled` (KMS creates keys synchronously, but a key
    /// created in a custom key store or replicated may be `Creating` for a while).
    async fn wait_enabled(
        &self,
        ctx: &OpContext,
        key_id: &str,
    ) -> Result<KeyMetadata, ProviderError> {
        wait_until(
            ctx,
            &format!("KMS key {key_id} to be Enabled"),
            ENABLE_WAIT,
            || async {
                Ok(self
                    .describe(key_id)
                    .await?
                    .filter(|m| m.key_state() == Some(&KeyState::Enabled)))
            },
        )
        .await
    }
}

#[async_trait]
impl ResourceProvider for KmsKey {
    fn schema(&self) -> &Schema {
        &KMS_KEY_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let config = KeyConfig::from_inputs(inputs)?;
        let call = self
            .once
            .create_key()
            .policy(config.policy)
            .description(config.description)
            .set_tags(Some(sdk_tags(&config.tags)?).filter(|t| !t.is_empty()));
        let created = send("CreateKey", call.send()).await?;
        let key_id = created
            .key_metadata()
            .map(|m| m.key_id().to_string())
            .ok_or_else(|| ProviderError::Other("CreateKey returned no key metadata".into()))?;
        let metadata = self.wait_enabled(ctx, &key_id).await?;
        if config.rotation {
            self.set_rotation(&key_id, true).await?;
        }
        Ok(Created {
            id: key_id,
            outputs: key_outputs(&metadata),
        })
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let Some(metadata) = self.describe(id).await? else {
            return Ok(Observed::Gone);
        };
        if is_deleted(&metadata) {
            return Ok(Observed::Gone);
        }
        let call = self
            .kms
            .get_key_policy()
            .key_id(id)
            .policy_name(POLICY_NAME);
        let policy = send("GetKeyPolicy", call.send()).await?;
        let policy = policy.policy.unwrap_or_default();
        let call = self.kms.get_key_rotation_status().key_id(id);
        let rotation = send("GetKeyRotationStatus", call.send()).await?;
        let rotation = rotation.key_rotation_enabled();
        let tags = KmsTags(&self.kms).list(id).await?;

        let mut inputs = Inputs::new();
        inputs.insert(
            "description".into(),
            Value::str(metadata.description().unwrap_or_default()),
        );
        inputs.insert(
            "policy".into(),
            Value::String(observed_policy(&policy, optional_str(applied, "policy"))),
        );
        inputs.insert("enable_key_rotation".into(), Value::Bool(rotation));
        // Not readable from a live key: what was applied stands.
        if let Some(window) = applied.get("deletion_window_days") {
            inputs.insert("deletion_window_days".into(), window.clone());
        }
        inputs.insert("tags".into(), tags_value(tags));
        Ok(Observed::Present {
            inputs,
            outputs: key_outputs(&metadata),
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update {
            id, new, outputs, ..
        } = change;
        let old = &live_inputs(self.read(ctx, id, new).await?, &format!("KMS key {id}"))?;
        let new = KeyConfig::from_inputs(new)?;
        if optional_str(old, "description").unwrap_or_default() != new.description {
            let call = self.kms.update_key_description().key_id(id);
            let call = call.description(new.description);
            send_only("UpdateKeyDescription", call.send()).await?;
        }
        let old_policy = optional_str(old, "policy").unwrap_or_default();
        if !policies_equal(old_policy, new.policy) {
            let call = self
                .kms
                .put_key_policy()
                .key_id(id)
                .policy_name(POLICY_NAME);
            let call = call.policy(new.policy);
            send_only("PutKeyPolicy", call.send()).await?;
        }
        if rotation_wanted(old) != new.rotation {
            self.set_rotation(id, new.rotation).await?;
        }
        sync_tags(&KmsTags(&self.kms), id, &tags_of(old), &new.tags).await?;
        Ok(outputs.clone())
    }

    async fn delete(&self, ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError> {
        let Recorded { id, inputs, .. } = object;
        match self.describe(id).await? {
            None => return Ok(()),
            Some(m) if is_deleted(&m) => return Ok(()),
            Some(_) => {}
        }
        let days = deletion_window_days(inputs)?;
        let call = self.kms.schedule_key_deletion().key_id(id);
        let call = call.pending_window_in_days(days);
        let scheduled = send_unless_gone("ScheduleKeyDeletion", GONE, call.send()).await?;
        if scheduled.is_some() {
            ctx.note(&format!(
                "KMS key {id} scheduled for deletion in {days} days"
            ));
        }
        Ok(())
    }

    async fn find_existing(
        &self,
        ctx: &OpContext,
        _inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let pages = self.kms.list_keys().into_paginator().send();
        let pages = send("ListKeys", pages.collect::<Result<Vec<_>, _>>()).await?;
        let mut key_ids: Vec<String> = pages
            .iter()
            .flat_map(|p| p.keys())
            .filter_map(|k| k.key_id().map(str::to_string))
            .collect();
        key_ids.sort();
        for key_id in key_ids.into_iter().filter(|k| !ctx.is_known(k)) {
            let Some(metadata) = self.describe(&key_id).await? else {
                continue;
            };
            let customer_managed =
                metadata.key_manager() == Some(&aws_sdk_kms::types::KeyManagerType::Customer);
            if !customer_managed || is_deleted(&metadata) {
                continue;
            }
            if is_owned(&KmsTags(&self.kms), &key_id, ctx).await? {
                return Ok(Some(Created {
                    id: key_id,
                    outputs: key_outputs(&metadata),
                }));
            }
        }
        Ok(None)
    }

    fn delete_note(&self, inputs: &Inputs) -> Option<String> {
        let days = deletion_window_days(inputs).unwrap_or(DEFAULT_DELETION_WINDOW_DAYS as i32);
        Some(format!(
            "scheduled for deletion in {days} days (KMS keys cannot be deleted at once)"
        ))
    }
}

/// `aws_kms_alias`. Its id is the alias name.
pub struct KmsAlias {
    kms: aws_sdk_kms::Client,
    /// The same client without the SDK's retries, for the create call (`AwsClients::once`).
    once: aws_sdk_kms::Client,
}

impl KmsAlias {
    pub fn new(clients: &AwsClients) -> Self {
        KmsAlias {
            kms: clients.kms.clone(),
            once: clients.once.kms.clone(),
        }
    }

    /// The alias with this name, from ListAliases (there is no GetAlias).
    async fn find(
        &self,
        name: &str,
    ) -> Result<Option<aws_sdk_kms::types::AliasListEntry>, ProviderError> {
        let pages = self.kms.list_aliases().into_paginator().send();
        let pages = send("ListAliases", pages.collect::<Result<Vec<_>, _>>()).await?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.aliases.unwrap_or_default())
            .find(|a| a.alias_name() == Some(name)))
    }

    async fn outputs_of(&self, name: &str) -> Result<Outputs, ProviderError> {
        let entry = self.find(name).await?.ok_or_else(|| {
            ProviderError::Other(format!("alias {name} not found right after creating it"))
        })?;
        Ok(alias_outputs(name, &entry))
    }
}

#[async_trait]
impl ResourceProvider for KmsAlias {
    fn schema(&self) -> &Schema {
        &KMS_ALIAS_SCHEMA
    }

    async fn create(&self, _ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let name = required_str(inputs, "name")?;
        let call = self.once.create_alias().alias_name(name);
        let call = call.target_key_id(required_str(inputs, "target_key_id")?);
        send_only("CreateAlias", call.send()).await?;
        Ok(Created {
            id: name.to_string(),
            outputs: self.outputs_of(name).await?,
        })
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let Some(entry) = self.find(id).await? else {
            return Ok(Observed::Gone);
        };
        let live_target = entry.target_key_id().unwrap_or_default();
        let target = match optional_str(applied, "target_key_id") {
            Some(applied) if same_key(applied, live_target) => applied.to_string(),
            _ => live_target.to_string(),
        };
        let mut inputs = Inputs::new();
        inputs.insert("name".into(), Value::str(id));
        inputs.insert("target_key_id".into(), Value::String(target));
        Ok(Observed::Present {
            inputs,
            outputs: alias_outputs(id, &entry),
        })
    }

    async fn update(&self, _ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, new, .. } = change;
        let call = self.kms.update_alias().alias_name(id);
        let call = call.target_key_id(required_str(new, "target_key_id")?);
        send_only("UpdateAlias", call.send()).await?;
        self.outputs_of(id).await
    }

    async fn delete(&self, _ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        let call = self.kms.delete_alias().alias_name(id);
        send_ok_if_gone("DeleteAlias", GONE, call.send()).await
    }

    /// Aliases have no tags: an alias with the desired name that already points at the
    /// desired key is the one an interrupted create made. One pointing elsewhere is not
    /// adopted (creating then fails with `AlreadyExistsException`).
    async fn find_existing(
        &self,
        _ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let name = required_str(inputs, "name")?;
        let target = required_str(inputs, "target_key_id")?;
        Ok(self
            .find(name)
            .await?
            .filter(|entry| same_key(target, entry.target_key_id().unwrap_or_default()))
            .map(|entry| Created {
                id: name.to_string(),
                outputs: alias_outputs(name, &entry),
            }))
    }
}

fn key_outputs(metadata: &KeyMetadata) -> Outputs {
    let mut outputs = Outputs::new();
    outputs.insert("id".into(), Value::str(metadata.key_id()));
    outputs.insert("key_id".into(), Value::str(metadata.key_id()));
    outputs.insert("arn".into(), Value::str(metadata.arn().unwrap_or_default()));
    outputs
}

fn alias_outputs(name: &str, entry: &aws_sdk_kms::types::AliasListEntry) -> Outputs {
    let mut outputs = Outputs::new();
    outputs.insert("id".into(), Value::str(name));
    outputs.insert("name".into(), Value::str(name));
    outputs.insert(
        "arn".into(),
        Value::str(entry.alias_arn().unwrap_or_default()),
    );
    outputs
}

/// A key scheduled for deletion counts as gone: it can never be used again by nova.
fn is_deleted(metadata: &KeyMetadata) -> bool {
    matches!(
        metadata.key_state(),
        Some(KeyState::PendingDeletion) | Some(KeyState::PendingReplicaDeletion)
    )
}

fn rotation_wanted(inputs: &Inputs) -> bool {
    inputs
        .get("enable_key_rotation")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// `deletion_window_days`, 7 when absent; KMS accepts 7 to 30.
fn deletion_window_days(inputs: &Inputs) -> Result<i32, ProviderError> {
    let days = match inputs.get("deletion_window_days") {
        None | Some(Value::Null) => DEFAULT_DELETION_WINDOW_DAYS,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ProviderError::invalid("deletion_window_days", "must be an integer"))?,
    };
    if !(7..=30).contains(&days) {
        return Err(ProviderError::invalid(
            "deletion_window_days",
            format!("must be between 7 and 30, got {days}"),
        ));
    }
    Ok(days as i32)
}

/// True when a `target_key_id` input (a key id or key ARN) names the same key as the live
/// target (ListAliases reports a key id; LocalStack reports the ARN when the alias was
/// retargeted with one).
fn same_key(target: &str, live_target: &str) -> bool {
    !live_target.is_empty() && key_id_part(target) == key_id_part(live_target)
}

/// The key id in a key ARN (`arn:aws:kms:<region>:<account>:key/<id>`), or the text itself.
fn key_id_part(key: &str) -> &str {
    key.rsplit_once(":key/").map_or(key, |(_, id)| id)
}

/// A key's inputs, typed (the deletion window is checked when the key is deleted).
struct KeyConfig<'a> {
    description: &'a str,
    policy: &'a str,
    rotation: bool,
    tags: Tags,
}

impl<'a> KeyConfig<'a> {
    fn from_inputs(inputs: &'a Inputs) -> Result<Self, ProviderError> {
        Ok(KeyConfig {
            description: optional_str(inputs, "description").unwrap_or_default(),
            policy: required_str(inputs, "policy")?,
            rotation: rotation_wanted(inputs),
            tags: tags_of(inputs),
        })
    }
}

/// KMS's tag calls on a key id.
struct KmsTags<'a>(&'a aws_sdk_kms::Client);

#[async_trait]
impl TagApi for KmsTags<'_> {
    async fn list(&self, key_id: &str) -> Result<Tags, ProviderError> {
        let pages = self.0.list_resource_tags().key_id(key_id).into_paginator();
        let pages = pages.send().collect::<Result<Vec<_>, _>>();
        let pages = send("ListResourceTags", pages).await?;
        let tags = pages.iter().flat_map(|page| page.tags());
        Ok(user_tags(tags.map(|t| (t.tag_key(), t.tag_value()))))
    }

    async fn tag(&self, key_id: &str, tags: &Tags) -> Result<(), ProviderError> {
        let call = self.0.tag_resource().key_id(key_id);
        let call = call.set_tags(Some(sdk_tags(tags)?));
        send_only("TagResource", call.send()).await
    }

    async fn untag(&self, key_id: &str, keys: &[String]) -> Result<(), ProviderError> {
        let call = self.0.untag_resource().key_id(key_id);
        let call = call.set_tag_keys(Some(keys.to_vec()));
        send_only("UntagResource", call.send()).await
    }
}

fn sdk_tags(tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .tag_key(k)
                .tag_value(v)
                .build()
                .map_err(|e| ProviderError::Other(format!("building KMS tag {k}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_target_matches_by_id_or_arn() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert!(same_key(id, id));
        assert!(same_key(
            &format!("arn:aws:kms:us-east-1:000000000000:key/{id}"),
            id
        ));
        assert!(same_key(
            id,
            &format!("arn:aws:kms:us-east-1:000000000000:key/{id}")
        ));
        assert!(!same_key("other", id));
        assert!(!same_key("x", ""));
    }

    #[test]
    fn deletion_window_defaults_to_seven_and_is_bounded() {
        assert_eq!(deletion_window_days(&Inputs::new()).ok(), Some(7));
        let mut inputs = Inputs::new();
        inputs.insert("deletion_window_days".into(), Value::Int(30));
        assert_eq!(deletion_window_days(&inputs).ok(), Some(30));
        inputs.insert("deletion_window_days".into(), Value::Int(3));
        assert!(deletion_window_days(&inputs).is_err());
    }

    #[test]
    fn delete_note_names_the_window() {
        let client = aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::Config::builder()
                .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
                .build(),
        );
        let provider = KmsKey {
            kms: client.clone(),
            once: client,
        };
        let mut inputs = Inputs::new();
        inputs.insert("deletion_window_days".into(), Value::Int(10));
        assert_eq!(
            provider.delete_note(&inputs).as_deref(),
            Some("scheduled for deletion in 10 days (KMS keys cannot be deleted at once)")
        );
    }
}
