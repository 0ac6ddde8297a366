//! `aws_api_gateway_account`: the account-and-region-wide API Gateway setting that names
//! the IAM role API Gateway writes logs to CloudWatch with, and that role.
//!
//! The setting is one per account and region, so every nova stack there must agree on
//! it. The rule: **one shared role per account and region**, named for the region, not
//! for a stack (`nova-apigw-cloudwatch-<region>`, the blueprint's `role_name`), that every
//! stack points the setting at. Each stack that uses it says so with a tag on the role,
//! `nova:user:<stack>`; the role is created by the first and deleted only by the last:
//!
//! - create/update: make the role if it does not exist (trust policy and managed policies
//!   as the inputs say; tagged `nova:shared`), tag it with this stack's user tag, and
//!   point the setting at it. The value the setting held before the first nova stack
//!   took it is kept on the role (`nova:previous-role`).
//! - delete: remove this stack's user tag. While another stack's tag is on the role,
//!   nothing else changes: its API logging keeps working. The last user puts the
//!   previous value back (or clears the setting) and deletes the role.
//! - read: `Gone` when the role or this stack's tag on it is missing; else the role the
//!   setting names now (`role_name`), and the shared role's trust and managed policies.
//!   So two stacks never see each other's `up` as drift.
//!
//! Two runs changing the users at the same moment (the last user's destroy while another
//! stack's first `up` runs) can leave the setting unset; that stack's next plan shows it
//! as gone and `nova up` puts it back.
//!
//! States written before this rule have `cloudwatch_role_arn` as input and the previous
//! role in the id (`account/<previous role ARN>`); they are read as before, and their
//! next `up` moves them to the shared role in place.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_iam::types::Role;

use super::{replace, retry_busy, Gateway};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::iam_role::{
    attach_policy, attached_policies, delete_role, detach_policy, get_role, observed_trust_policy,
    set_trust_policy, unless_gone_iam,
};
use crate::provider::aws::iam_tags::{sdk_tag, IamTags};
use crate::provider::aws::kinds;
use crate::provider::aws::policy_doc::{decode_iam_document, policies_equal};
use crate::provider::aws::send::send;
use crate::provider::aws::tags::{TagApi, Tags};
use crate::provider::aws::{aws_error, optional_str, required_str, retry_while, string_list};
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};
use crate::provider::{Recorded, Update};

/// How long UpdateAccount is retried while a new role is not yet usable by API Gateway
/// ("The role ARN does not have required permissions set to API Gateway"): IAM propagation.
const ROLE_PROPAGATION_LIMIT: Duration = Duration::from_secs(120);

const ID_PREFIX: &str = "account";
const ALREADY_EXISTS: &str = "EntityAlreadyExists";

/// The tag that marks the role as nova's shared one (only such a role is ever deleted).
pub const TAG_SHARED: &str = "nova:shared";
const SHARED_VALUE: &str = "apigateway-cloudwatch";
/// The prefix of the tags that say which stacks use the role: `nova:user:<stack>`.
pub const TAG_USER_PREFIX: &str = "nova:user:";
/// The setting's value before the first nova stack took it, restored by the last.
pub const TAG_PREVIOUS: &str = "nova:previous-role";
/// IAM's limit on a tag value: a longer previous role is not recorded (and not restored).
const MAX_TAG_VALUE: usize = 256;

/// The shared role's name in `region`: the account's, not a stack's.
pub fn shared_role_name(region: &str) -> String {
    format!("nova-apigw-cloudwatch-{region}")
}

/// `aws_api_gateway_account`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static API_ACCOUNT_SCHEMA: Schema = Schema::declare(
    kinds::API_ACCOUNT,
    &[
        f::string("role_name").required(),
        f::string("assume_role_policy").required(),
        f::string_list("managed_policy_arns"),
    ],
    &["id", "cloudwatch_role_arn"],
    false,
);

pub struct AccountProvider {
    gateway: Arc<Gateway>,
}

/// The user tag of `stack`.
fn user_tag(stack: &str) -> String {
    format!("{TAG_USER_PREFIX}{stack}")
}

/// The stacks whose user tags `tags` holds, sorted.
fn users(tags: &Tags) -> BTreeSet<String> {
    tags.keys()
        .filter_map(|key| key.strip_prefix(TAG_USER_PREFIX))
        .map(str::to_string)
        .collect()
}

fn tag_value<'t>(tags: &'t Tags, key: &str) -> Option<&'t str> {
    tags.get(key).map(String::as_str)
}

/// One tag, as the tag calls take it.
fn one_tag(key: &str, value: &str) -> Tags {
    Tags::from([(key.to_string(), value.to_string())])
}

/// The role name an ARN names (`arn:aws:iam::1:role/path/name` -> `name`), `""` for none.
fn role_name_of(arn: &str) -> &str {
    arn.split_once(":role/")
        .map(|(_, path)| path.rsplit('/').next().unwrap_or(path))
        .unwrap_or("")
}

impl AccountProvider {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        AccountProvider { gateway }
    }

    fn iam(&self) -> &aws_sdk_iam::Client {
        &self.gateway.clients.iam
    }

    /// The role API Gateway currently uses, `""` when none is set.
    async fn current_role(&self) -> Result<String, ProviderError> {
        let out = self
            .gateway
            .client()
            .get_account()
            .send()
            .await
            .map_err(|e| aws_error("GetAccount", e))?;
        Ok(out.cloudwatch_role_arn().unwrap_or("").to_string())
    }

    /// Sets the role (`""` clears the setting), retrying while IAM propagates a new role.
    async fn set_role(&self, ctx: &OpContext, role: &str) -> Result<(), ProviderError> {
        let ops = vec![replace("/cloudwatchRoleArn", role)];
        retry_while(
            ctx,
            "waiting for API Gateway to accept the CloudWatch role",
            ROLE_PROPAGATION_LIMIT,
            is_role_not_ready,
            || {
                retry_busy(ctx, "updating the account", || {
                    let call = self.gateway.client().update_account();
                    let call = call.set_patch_operations(Some(ops.clone()));
                    send("UpdateAccount", call.send())
                })
            },
        )
        .await?;
        Ok(())
    }

    async fn role(&self, name: &str) -> Result<Option<Role>, ProviderError> {
        get_role(self.iam(), name).await
    }

    /// The role's tags (without `aws:` keys), `None` when the role is gone.
    async fn role_tags(&self, name: &str) -> Result<Option<Tags>, ProviderError> {
        unless_gone_iam(IamTags::role(self.iam()).list(name).await)
    }

    /// The shared role `name`, when it exists and carries this stack's user tag (what a
    /// finished create or update leaves).
    async fn joined_role(
        &self,
        ctx: &OpContext,
        name: &str,
    ) -> Result<Option<Role>, ProviderError> {
        let Some(role) = self.role(name).await? else {
            return Ok(None);
        };
        let tags = self.role_tags(name).await?.unwrap_or_default();
        Ok(users(&tags).contains(&ctx.stack).then_some(role))
    }

    /// The shared role as `inputs` describe it: made if missing (another stack's create
    /// racing this one is fine), its trust policy and managed policies brought to what
    /// the inputs say.
    async fn ensure_role(&self, inputs: &Inputs) -> Result<Role, ProviderError> {
        let name = required_str(inputs, "role_name")?;
        let trust = required_str(inputs, "assume_role_policy")?;
        let role = match self.role(name).await? {
            Some(role) => role,
            None => {
                let created = self
                    .iam()
                    .create_role()
                    .role_name(name)
                    .assume_role_policy_document(trust)
                    .description(
                        "Lets API Gateway write logs to CloudWatch; shared by every nova stack \
                         of this account and region (see the nova:user:* tags)",
                    )
                    .tags(sdk_tag(TAG_SHARED, SHARED_VALUE)?)
                    .tags(sdk_tag("ManagedBy", "nova")?)
                    .send()
                    .await
                    .map_err(|e| aws_error("CreateRole", e));
                match created {
                    Ok(out) => out.role.ok_or_else(|| {
                        ProviderError::Other("CreateRole returned no role".into())
                    })?,
                    Err(e) if e.code() == Some(ALREADY_EXISTS) => {
                        self.role(name).await?.ok_or_else(|| {
                            ProviderError::Other(format!(
                                "role {name} exists and then does not: run the command again"
                            ))
                        })?
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let live_trust = decode_iam_document(role.assume_role_policy_document().unwrap_or(""));
        if !policies_equal(&live_trust, trust) {
            set_trust_policy(self.iam(), name, trust).await?;
        }
        let attached = attached_policies(self.iam(), name).await?;
        for arn in string_list(inputs, "managed_policy_arns") {
            if !attached.contains(&arn) {
                attach_policy(self.iam(), name, &arn).await?;
            }
        }
        Ok(role)
    }

    /// Tags the role as used by `ctx.stack` (TagRole overwrites: safe to repeat).
    async fn join(&self, ctx: &OpContext, name: &str) -> Result<(), ProviderError> {
        let tags = one_tag(&user_tag(&ctx.stack), "true");
        IamTags::role(self.iam()).tag(name, &tags).await
    }

    /// Points the setting at `role`. The value it held before, when it is not nova's
    /// shared role, is kept on the role for the last user to restore: `before` when given
    /// (a state of the earlier rule knows it better), else the current value.
    async fn point_at(
        &self,
        ctx: &OpContext,
        role: &Role,
        before: Option<&str>,
    ) -> Result<(), ProviderError> {
        let current = self.current_role().await?;
        if current == role.arn() {
            return Ok(());
        }
        let previous = before.unwrap_or(&current);
        let tags = self.role_tags(role.role_name()).await?.unwrap_or_default();
        let recorded = tag_value(&tags, TAG_PREVIOUS).is_some();
        if !recorded && !previous.is_empty() && previous != role.arn() {
            if previous.len() <= MAX_TAG_VALUE {
                let tags = one_tag(TAG_PREVIOUS, previous);
                IamTags::role(self.iam())
                    .tag(role.role_name(), &tags)
                    .await?;
            } else {
                ctx.note(&format!(
                    "the previous CloudWatch role is longer than an IAM tag value: it is not \
                     recorded, and the last stack to leave clears the setting ({previous})"
                ));
            }
        }
        self.set_role(ctx, role.arn()).await
    }

    /// Create and update: the role, this stack's tag on it, the setting pointing at it.
    async fn take(
        &self,
        ctx: &OpContext,
        inputs: &Inputs,
        before: Option<&str>,
    ) -> Result<Outputs, ProviderError> {
        let role = self.ensure_role(inputs).await?;
        self.join(ctx, role.role_name()).await?;
        self.point_at(ctx, &role, before).await?;
        Ok(outputs_of(ID_PREFIX, role.arn()))
    }

    /// Delete: this stack leaves the role; the last user restores the setting and
    /// deletes the role (only a role nova made, tagged `nova:shared`).
    async fn leave(&self, ctx: &OpContext, name: &str) -> Result<(), ProviderError> {
        let untagged = IamTags::role(self.iam())
            .untag(name, &[user_tag(&ctx.stack)])
            .await;
        unless_gone_iam(untagged)?;
        let Some(tags) = self.role_tags(name).await? else {
            // The role is gone already: the setting must not name it.
            return self.clear_if_naming(ctx, name, "").await;
        };
        let others = users(&tags);
        if !others.is_empty() {
            ctx.note(&format!(
                "the shared API Gateway CloudWatch role {name} stays: stack(s) {} still use it",
                others.into_iter().collect::<Vec<_>>().join(", ")
            ));
            return Ok(());
        }
        let previous = tag_value(&tags, TAG_PREVIOUS).unwrap_or("").to_string();
        self.clear_if_naming(ctx, name, &previous).await?;
        if tag_value(&tags, TAG_SHARED) != Some(SHARED_VALUE) {
            ctx.note(&format!(
                "role {name} was not made by nova (no {TAG_SHARED} tag): it is kept"
            ));
            return Ok(());
        }
        self.delete_role(name).await
    }

    /// Sets the setting to `previous` if it names the role `name` now. A previous role that
    /// no longer exists cannot be set: the setting is cleared then.
    async fn clear_if_naming(
        &self,
        ctx: &OpContext,
        name: &str,
        previous: &str,
    ) -> Result<(), ProviderError> {
        let current = self.current_role().await?;
        if role_name_of(&current) != name {
            return Ok(());
        }
        let restored = match self.set_role(ctx, previous).await {
            Err(e) if !previous.is_empty() && e.code() == Some("BadRequestException") => {
                ctx.note(&format!(
                    "the CloudWatch role set before nova ({previous}) cannot be set back ({e}): clearing the setting"
                ));
                self.set_role(ctx, "").await
            }
            other => other,
        };
        restored.map_err(|err| {
            ProviderError::Other(format!(
                "could not restore the API Gateway CloudWatch role to {previous:?}: {err}. Set it \
                 by hand (`aws apigateway update-account --patch-operations \
                 op=replace,path=/cloudwatchRoleArn,value=<role ARN or empty>`), then run the \
                 command again"
            ))
        })
    }

    async fn delete_role(&self, name: &str) -> Result<(), ProviderError> {
        let Some(attached) = unless_gone_iam(attached_policies(self.iam(), name).await)? else {
            return Ok(());
        };
        for arn in attached {
            detach_policy(self.iam(), name, &arn).await?;
        }
        delete_role(self.iam(), name).await
    }

    /// The earlier rule's read (a state written before the shared role): the setting as
    /// `cloudwatch_role_arn`.
    async fn read_legacy(&self, id: &str, applied: &Inputs) -> Result<Observed, ProviderError> {
        let mut inputs = applied.clone();
        inputs.insert(
            "cloudwatch_role_arn".to_string(),
            Value::str(self.current_role().await?),
        );
        let arn = optional_str(applied, "cloudwatch_role_arn").unwrap_or("");
        Ok(Observed::Present {
            inputs,
            outputs: outputs_of(id, arn),
        })
    }

    /// The earlier rule's delete: put back the role recorded in the id.
    async fn delete_legacy(&self, ctx: &OpContext, id: &str) -> Result<(), ProviderError> {
        let previous = previous_of(id)?;
        if self.current_role().await? == previous {
            return Ok(());
        }
        self.set_role(ctx, previous).await
    }
}

/// True for "The role ARN does not have required permissions set to API Gateway" (and the
/// "trust relationship" variant): the role exists but IAM has not propagated it yet.
fn is_role_not_ready(err: &ProviderError) -> bool {
    match err {
        ProviderError::Aws { code, message, .. } => {
            let message = message.to_ascii_lowercase();
            code == "BadRequestException"
                && (message.contains("does not have required permissions")
                    || message.contains("trust relationship"))
        }
        _ => false,
    }
}

/// The previous role a physical id of the earlier rule records (`account/<ARN>`).
fn previous_of(id: &str) -> Result<&str, ProviderError> {
    if id == ID_PREFIX {
        return Ok("");
    }
    id.strip_prefix(ID_PREFIX)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(|| {
            ProviderError::invalid(
                "id",
                format!("`{id}` is neither `account` nor `account/<previous role ARN>`"),
            )
        })
}

fn outputs_of(id: &str, role_arn: &str) -> Outputs {
    let mut outputs = Outputs::new();
    outputs.insert("id".to_string(), Value::str(id));
    outputs.insert("cloudwatch_role_arn".to_string(), Value::str(role_arn));
    outputs
}

/// A state of the earlier rule: no `role_name` input.
fn is_legacy(inputs: &Inputs) -> bool {
    optional_str(inputs, "role_name").is_none()
}

#[async_trait]
impl ResourceProvider for AccountProvider {
    fn schema(&self) -> &Schema {
        &API_ACCOUNT_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let outputs = self.take(ctx, inputs, None).await?;
        Ok(Created {
            id: ID_PREFIX.to_string(),
            outputs,
        })
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        if is_legacy(applied) {
            return self.read_legacy(id, applied).await;
        }
        let name = required_str(applied, "role_name")?;
        let Some(role) = self.joined_role(ctx, name).await? else {
            return Ok(Observed::Gone);
        };
        let current = self.current_role().await?;
        let mut inputs = Inputs::new();
        inputs.insert("role_name".into(), Value::str(role_name_of(&current)));
        inputs.insert(
            "assume_role_policy".into(),
            observed_trust_policy(&role, applied),
        );
        inputs.insert(
            "managed_policy_arns".into(),
            Value::list_of_strings(attached_policies(self.iam(), name).await?),
        );
        Ok(Observed::Present {
            inputs,
            outputs: outputs_of(id, role.arn()),
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, old, new, .. } = change;
        // A state of the earlier rule knows the value set before nova: its id.
        let before = if is_legacy(old) {
            Some(previous_of(id)?)
        } else {
            None
        };
        let mut outputs = self.take(ctx, new, before).await?;
        outputs.insert("id".to_string(), Value::str(id));
        if let Some(old_name) = optional_str(old, "role_name") {
            if old_name != required_str(new, "role_name")? {
                self.leave(ctx, old_name).await?;
            }
        }
        Ok(outputs)
    }

    async fn delete(&self, ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError> {
        let Recorded { id, inputs, .. } = object;
        if is_legacy(inputs) {
            return self.delete_legacy(ctx, id).await;
        }
        self.leave(ctx, required_str(inputs, "role_name")?).await
    }

    /// Found when the shared role carries this stack's user tag and the setting names it:
    /// exactly what a finished create leaves.
    async fn find_existing(
        &self,
        ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let name = required_str(inputs, "role_name")?;
        let Some(role) = self.joined_role(ctx, name).await? else {
            return Ok(None);
        };
        if self.current_role().await? != role.arn() {
            return Ok(None);
        }
        Ok(Some(Created {
            id: ID_PREFIX.to_string(),
            outputs: outputs_of(ID_PREFIX, role.arn()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earlier_id_records_the_previous_role() {
        let role = "arn:aws:iam::000000000000:role/path/logs";
        assert_eq!(previous_of("account").unwrap(), "");
        assert_eq!(previous_of(&format!("account/{role}")).unwrap(), role);
        assert!(previous_of("acc").is_err());
        assert!(previous_of("accountx").is_err());
    }

    #[test]
    fn role_names_of_arns_and_user_tags() {
        assert_eq!(role_name_of("arn:aws:iam::1:role/path/logs"), "logs");
        assert_eq!(role_name_of("arn:aws:iam::1:role/logs"), "logs");
        assert_eq!(role_name_of(""), "");
        assert_eq!(
            shared_role_name("us-east-1"),
            "nova-apigw-cloudwatch-us-east-1"
        );
        let tags = Tags::from([
            ("nova:user:staging".to_string(), "true".to_string()),
            (TAG_SHARED.to_string(), SHARED_VALUE.to_string()),
            ("nova:user:production".to_string(), "true".to_string()),
        ]);
        let found: Vec<String> = users(&tags).into_iter().collect();
        assert_eq!(found, ["production", "staging"]);
    }
}
