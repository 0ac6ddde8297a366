//! IAM providers: `aws_iam_role` (trust policy, managed policy attachments, inline
//! policies, tags) and `aws_iam_instance_profile` (one role per profile).
//!
//! IAM returns policy documents percent-encoded and may reformat them; documents are
//! compared as parsed JSON ([`super::policy_doc`]) so that is never reported as drift.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_iam::types::{InstanceProfile, Role};

use super::iam_role::{
    attach_policy, attached_policies, delete_role, detach_policy, get_role, inline_policy_names,
    observed_trust_policy, set_trust_policy, GONE, NO_SUCH_ENTITY,
};
use super::iam_tags::{self, sdk_tags, IamTags};
use super::live::string_map;
use super::policy_doc::{decode_iam_document, observed_policy, policies_equal};
use super::send::{send, send_ok_if_gone, send_only, send_unless_gone};
use super::tags::{adopt_if_owned, sync_tags, tags_of, tags_value};
use super::{
    has_code, live_inputs, optional_str, required_str, retry_while, string_list, AwsClients,
};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::kinds;
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};
use crate::provider::{Recorded, Update};

/// How long to retry while IAM has not yet propagated a new role or a removed attachment.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(60);

/// The schemas of this module's kinds (see [`super::schemas`]).
pub const SCHEMAS: [&Schema; 2] = [&IAM_ROLE_SCHEMA, &IAM_INSTANCE_PROFILE_SCHEMA];

/// The IAM providers.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn ResourceProvider>> {
    vec![
        Arc::new(IamRole::new(clients)),
        Arc::new(IamInstanceProfile::new(clients)),
    ]
}

/// `aws_iam_role`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static IAM_ROLE_SCHEMA: Schema = Schema::declare(
    kinds::IAM_ROLE,
    &[
        f::string("name").required().force_new().unique_within(&[]),
        f::json("assume_role_policy").required(),
        f::string_list("managed_policy_arns"),
        f::string_map("inline_policies"),
        f::string("description"),
        f::TAGS,
    ],
    &["id", "arn", "name", "unique_id"],
    true,
);

/// `aws_iam_instance_profile`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static IAM_INSTANCE_PROFILE_SCHEMA: Schema = Schema::declare(
    kinds::IAM_INSTANCE_PROFILE,
    &[
        f::string("name").required().force_new().unique_within(&[]),
        f::string("role"),
        f::TAGS,
    ],
    &["id", "arn", "name"],
    true,
);

/// `aws_iam_role`. Its id is the role name.
pub struct IamRole {
    iam: aws_sdk_iam::Client,
    /// The same client without the SDK's retries, for the create call (`AwsClients::once`).
    once: aws_sdk_iam::Client,
}

impl IamRole {
    pub fn new(clients: &AwsClients) -> Self {
        IamRole {
            iam: clients.iam.clone(),
            once: clients.once.iam.clone(),
        }
    }

    async fn get(&self, name: &str) -> Result<Option<Role>, ProviderError> {
        get_role(&self.iam, name).await
    }

    /// Inline policies by name, each document decoded (and reported as applied when it
    /// means the same).
    async fn inline_policies(&self, name: &str, applied: &Inputs) -> Result<Value, ProviderError> {
        let applied_docs = inline_policies_of(applied);
        let mut out = BTreeMap::new();
        for policy_name in inline_policy_names(&self.iam, name).await? {
            let call = self.iam.get_role_policy().role_name(name);
            let call = call.policy_name(&policy_name);
            let doc = send("GetRolePolicy", call.send()).await?;
            let live = decode_iam_document(doc.policy_document());
            let shown = observed_policy(&live, applied_docs.get(&policy_name).map(String::as_str));
            out.insert(policy_name, Value::String(shown));
        }
        Ok(Value::Map(out))
    }

    async fn put_inline(
        &self,
        name: &str,
        policy_name: &str,
        doc: &str,
    ) -> Result<(), ProviderError> {
        let call = self.iam.put_role_policy().role_name(name);
        let call = call.policy_name(policy_name).policy_document(doc);
        send_only("PutRolePolicy", call.send()).await
    }

    async fn delete_inline(&self, name: &str, policy_name: &str) -> Result<(), ProviderError> {
        let call = self.iam.delete_role_policy().role_name(name);
        let call = call.policy_name(policy_name);
        send_ok_if_gone("DeleteRolePolicy", GONE, call.send()).await
    }

    /// Removes the role from every instance profile that holds it (DeleteRole refuses
    /// otherwise).
    async fn leave_instance_profiles(&self, name: &str) -> Result<(), ProviderError> {
        let call = self.iam.list_instance_profiles_for_role().role_name(name);
        let pages = call.into_paginator().send().collect::<Result<Vec<_>, _>>();
        let Some(pages) = send_unless_gone("ListInstanceProfilesForRole", GONE, pages).await?
        else {
            return Ok(());
        };
        for profile in pages.iter().flat_map(|p| p.instance_profiles()) {
            remove_role(&self.iam, &self.once, profile.instance_profile_name(), name).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceProvider for IamRole {
    fn schema(&self) -> &Schema {
        &IAM_ROLE_SCHEMA
    }

    async fn create(&self, _ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let name = required_str(inputs, "name")?;
        let tags = tags_of(inputs);
        let call = self
            .once
            .create_role()
            .role_name(name)
            .assume_role_policy_document(required_str(inputs, "assume_role_policy")?)
            .set_description(optional_str(inputs, "description").map(str::to_string))
            .set_tags(Some(sdk_tags(&tags)?).filter(|t| !t.is_empty()));
        let role = send("CreateRole", call.send())
            .await?
            .role
            .ok_or_else(|| ProviderError::Other("CreateRole returned no role".into()))?;
        for arn in string_list(inputs, "managed_policy_arns") {
            attach_policy(&self.iam, name, &arn).await?;
        }
        for (policy_name, doc) in inline_policies_of(inputs) {
            self.put_inline(name, &policy_name, &doc).await?;
        }
        Ok(Created {
            id: name.to_string(),
            outputs: role_outputs(&role),
        })
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let Some(role) = self.get(id).await? else {
            return Ok(Observed::Gone);
        };
        let mut inputs = Inputs::new();
        inputs.insert("name".into(), Value::str(role.role_name()));
        inputs.insert(
            "assume_role_policy".into(),
            observed_trust_policy(&role, applied),
        );
        inputs.insert(
            "managed_policy_arns".into(),
            observed_set(
                attached_policies(&self.iam, id).await?,
                &string_list(applied, "managed_policy_arns"),
            ),
        );
        inputs.insert(
            "inline_policies".into(),
            self.inline_policies(id, applied).await?,
        );
        inputs.insert(
            "description".into(),
            Value::str(role.description().unwrap_or_default()),
        );
        inputs.insert("tags".into(), tags_value(iam_tags::live_tags(role.tags())));
        Ok(Observed::Present {
            inputs,
            outputs: role_outputs(&role),
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, new, .. } = change;
        let old = &live_inputs(self.read(ctx, id, new).await?, &format!("role {id}"))?;
        let new_trust = required_str(new, "assume_role_policy")?;
        if !policies_equal(
            optional_str(old, "assume_role_policy").unwrap_or_default(),
            new_trust,
        ) {
            set_trust_policy(&self.iam, id, new_trust).await?;
        }
        let new_description = optional_str(new, "description").unwrap_or_default();
        if optional_str(old, "description").unwrap_or_default() != new_description {
            let call = self.iam.update_role().role_name(id);
            let call = call.description(new_description);
            send_only("UpdateRole", call.send()).await?;
        }
        let old_arns: BTreeSet<String> = string_list(old, "managed_policy_arns")
            .into_iter()
            .collect();
        let new_arns: BTreeSet<String> = string_list(new, "managed_policy_arns")
            .into_iter()
            .collect();
        for arn in old_arns.difference(&new_arns) {
            detach_policy(&self.iam, id, arn).await?;
        }
        for arn in new_arns.difference(&old_arns) {
            attach_policy(&self.iam, id, arn).await?;
        }
        let old_inline = inline_policies_of(old);
        let new_inline = inline_policies_of(new);
        for policy_name in old_inline.keys().filter(|k| !new_inline.contains_key(*k)) {
            self.delete_inline(id, policy_name).await?;
        }
        for (policy_name, doc) in &new_inline {
            let unchanged = old_inline
                .get(policy_name)
                .is_some_and(|old_doc| policies_equal(old_doc, doc));
            if !unchanged {
                self.put_inline(id, policy_name, doc).await?;
            }
        }
        sync_tags(&IamTags::role(&self.iam), id, &tags_of(old), &tags_of(new)).await?;
        let role = self
            .get(id)
            .await?
            .ok_or_else(|| ProviderError::Other(format!("role {id} disappeared during update")))?;
        Ok(role_outputs(&role))
    }

    async fn delete(&self, ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        if self.get(id).await?.is_none() {
            return Ok(());
        }
        self.leave_instance_profiles(id).await?;
        for arn in attached_policies(&self.iam, id).await? {
            detach_policy(&self.iam, id, &arn).await?;
        }
        for policy_name in inline_policy_names(&self.iam, id).await? {
            self.delete_inline(id, &policy_name).await?;
        }
        retry_while(
            ctx,
            &format!("deleting role {id}"),
            PROPAGATION_LIMIT,
            |e| has_code(e, &["DeleteConflict"]),
            || delete_role(&self.iam, id),
        )
        .await
    }

    /// A role with the desired name is adopted only when it carries this resource's
    /// ownership tags; a foreign role of that name is left alone.
    async fn find_existing(
        &self,
        ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let name = required_str(inputs, "name")?;
        let Some(role) = self.get(name).await? else {
            return Ok(None);
        };
        let found = Created {
            id: name.to_string(),
            outputs: role_outputs(&role),
        };
        adopt_if_owned(&IamTags::role(&self.iam), name, ctx, found).await
    }
}

/// `aws_iam_instance_profile`. Its id is the profile name.
pub struct IamInstanceProfile {
    iam: aws_sdk_iam::Client,
    /// The same client without the SDK's retries, for the create call (`AwsClients::once`).
    once: aws_sdk_iam::Client,
}

impl IamInstanceProfile {
    pub fn new(clients: &AwsClients) -> Self {
        IamInstanceProfile {
            iam: clients.iam.clone(),
            once: clients.once.iam.clone(),
        }
    }

    async fn get(&self, name: &str) -> Result<Option<InstanceProfile>, ProviderError> {
        get_profile(&self.iam, name).await
    }

    /// Adds the role, retrying while a role created moments ago is not yet visible.
    async fn add_role(&self, ctx: &OpContext, name: &str, role: &str) -> Result<(), ProviderError> {
        retry_while(
            ctx,
            &format!("adding role {role} to instance profile {name}"),
            PROPAGATION_LIMIT,
            |e| has_code(e, &[NO_SUCH_ENTITY]),
            || async {
                let call = self.iam.add_role_to_instance_profile();
                let call = call.instance_profile_name(name).role_name(role);
                let result = send_only("AddRoleToInstanceProfile", call.send()).await;
                match result {
                    // A profile holds one role: the SDK's retry of an add whose answer was
                    // lost is refused with this. Done if the role there is this one.
                    Err(err) if has_code(&err, &["LimitExceeded"]) => {
                        let profile = self.get(name).await?;
                        let has_it = profile
                            .is_some_and(|p| p.roles().iter().any(|r| r.role_name() == role));
                        if has_it {
                            Ok(())
                        } else {
                            Err(err)
                        }
                    }
                    other => other,
                }
            },
        )
        .await
    }
}

#[async_trait]
impl ResourceProvider for IamInstanceProfile {
    fn schema(&self) -> &Schema {
        &IAM_INSTANCE_PROFILE_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let name = required_str(inputs, "name")?;
        let call = self
            .once
            .create_instance_profile()
            .instance_profile_name(name)
            .set_tags(Some(sdk_tags(&tags_of(inputs))?).filter(|t| !t.is_empty()));
        let profile = send("CreateInstanceProfile", call.send())
            .await?
            .instance_profile
            .ok_or_else(|| {
                ProviderError::Other("CreateInstanceProfile returned no profile".into())
            })?;
        if let Some(role) = optional_str(inputs, "role").filter(|r| !r.is_empty()) {
            self.add_role(ctx, name, role).await?;
        }
        Ok(Created {
            id: name.to_string(),
            outputs: profile_outputs(&profile),
        })
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        _applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let Some(profile) = self.get(id).await? else {
            return Ok(Observed::Gone);
        };
        let role = profile
            .roles()
            .first()
            .map(|r| r.role_name().to_string())
            .unwrap_or_default();
        let mut inputs = Inputs::new();
        inputs.insert("name".into(), Value::str(profile.instance_profile_name()));
        inputs.insert("role".into(), Value::String(role));
        inputs.insert(
            "tags".into(),
            tags_value(iam_tags::live_tags(profile.tags())),
        );
        Ok(Observed::Present {
            inputs,
            outputs: profile_outputs(&profile),
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update {
            id, new, outputs, ..
        } = change;
        let old = &live_inputs(
            self.read(ctx, id, new).await?,
            &format!("instance profile {id}"),
        )?;
        let new_role = optional_str(new, "role").unwrap_or_default();
        if optional_str(old, "role").unwrap_or_default() != new_role {
            let profile = self
                .get(id)
                .await?
                .ok_or_else(|| ProviderError::Other(format!("instance profile {id} not found")))?;
            let live: Vec<String> = profile
                .roles()
                .iter()
                .map(|r| r.role_name().to_string())
                .collect();
            for role in live.iter().filter(|r| r.as_str() != new_role) {
                remove_role(&self.iam, &self.once, id, role).await?;
            }
            if !new_role.is_empty() && !live.iter().any(|r| r == new_role) {
                self.add_role(ctx, id, new_role).await?;
            }
        }
        sync_tags(
            &IamTags::instance_profile(&self.iam),
            id,
            &tags_of(old),
            &tags_of(new),
        )
        .await?;
        Ok(outputs.clone())
    }

    async fn delete(&self, _ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        let Some(profile) = self.get(id).await? else {
            return Ok(());
        };
        for role in profile.roles() {
            remove_role(&self.iam, &self.once, id, role.role_name()).await?;
        }
        let call = self.iam.delete_instance_profile().instance_profile_name(id);
        send_ok_if_gone("DeleteInstanceProfile", GONE, call.send()).await
    }

    /// A profile with the desired name is adopted only when it carries this resource's
    /// ownership tags.
    async fn find_existing(
        &self,
        ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let name = required_str(inputs, "name")?;
        let Some(profile) = self.get(name).await? else {
            return Ok(None);
        };
        let found = Created {
            id: name.to_string(),
            outputs: profile_outputs(&profile),
        };
        adopt_if_owned(&IamTags::instance_profile(&self.iam), name, ctx, found).await
    }
}

/// RemoveRoleFromInstanceProfile; already removed (or either gone) is fine. Sent once,
/// without the SDK's retries: after an uncertain answer nova looks whether the role is
/// still there (a retry of a removal that went through is answered with an error, by
/// LocalStack a 500) and sends it again, with retries, only if it is.
async fn remove_role(
    iam: &aws_sdk_iam::Client,
    once: &aws_sdk_iam::Client,
    profile: &str,
    role: &str,
) -> Result<(), ProviderError> {
    let remove = |client: &aws_sdk_iam::Client| {
        client
            .remove_role_from_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
    };
    const OPERATION: &str = "RemoveRoleFromInstanceProfile";
    match send_ok_if_gone(OPERATION, GONE, remove(once)).await {
        Err(err) if err.is_uncertain() || err.is_throttled() => {
            if !profile_has_role(iam, profile, role).await? {
                return Ok(());
            }
            send_ok_if_gone(OPERATION, GONE, remove(iam)).await
        }
        other => other,
    }
}

/// The instance profile (GetInstanceProfile), `None` when it does not exist.
async fn get_profile(
    iam: &aws_sdk_iam::Client,
    name: &str,
) -> Result<Option<InstanceProfile>, ProviderError> {
    let call = iam.get_instance_profile().instance_profile_name(name);
    let out = send_unless_gone("GetInstanceProfile", GONE, call.send()).await?;
    Ok(out.and_then(|o| o.instance_profile))
}

/// True when the instance profile exists and holds the role.
async fn profile_has_role(
    iam: &aws_sdk_iam::Client,
    profile: &str,
    role: &str,
) -> Result<bool, ProviderError> {
    Ok(get_profile(iam, profile)
        .await?
        .is_some_and(|p| p.roles().iter().any(|r| r.role_name() == role)))
}

fn role_outputs(role: &Role) -> Outputs {
    let mut outputs = Outputs::new();
    outputs.insert("id".into(), Value::str(role.role_name()));
    outputs.insert("name".into(), Value::str(role.role_name()));
    outputs.insert("arn".into(), Value::str(role.arn()));
    outputs.insert("unique_id".into(), Value::str(role.role_id()));
    outputs
}

fn profile_outputs(profile: &InstanceProfile) -> Outputs {
    let mut outputs = Outputs::new();
    outputs.insert("id".into(), Value::str(profile.instance_profile_name()));
    outputs.insert("name".into(), Value::str(profile.instance_profile_name()));
    outputs.insert("arn".into(), Value::str(profile.arn()));
    outputs
}

/// The `inline_policies` input: policy name to JSON document.
fn inline_policies_of(inputs: &Inputs) -> BTreeMap<String, String> {
    string_map(inputs, "inline_policies")
}

/// A live set of strings as a list: in the applied order when it holds the same members
/// (no false drift), else sorted.
fn observed_set(live_sorted: Vec<String>, applied: &[String]) -> Value {
    let live: BTreeSet<&String> = live_sorted.iter().collect();
    let wanted: BTreeSet<&String> = applied.iter().collect();
    if live == wanted && live.len() == applied.len() {
        Value::list_of_strings(applied.iter().cloned())
    } else {
        Value::list_of_strings(live_sorted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_set_keeps_the_applied_order_when_equal() {
        let applied = vec!["b".to_string(), "a".to_string()];
        assert_eq!(
            observed_set(vec!["a".into(), "b".into()], &applied),
            Value::list_of_strings(["b", "a"])
        );
        assert_eq!(
            observed_set(vec!["a".into(), "c".into()], &applied),
            Value::list_of_strings(["a", "c"])
        );
    }

    #[test]
    fn inline_policies_are_read_from_the_map_input() {
        let mut inputs = Inputs::new();
        let mut map = BTreeMap::new();
        map.insert("p".to_string(), Value::str("{}"));
        inputs.insert("inline_policies".into(), Value::Map(map));
        assert_eq!(
            inline_policies_of(&inputs),
            BTreeMap::from([("p".to_string(), "{}".to_string())])
        );
        assert!(inline_policies_of(&Inputs::new()).is_empty());
    }
}
