//! IAM providers: `aws_iam_role` (trust policy, managed policy attachments, inline
//! policies, tags) and `aws_iam_instance_profile` (one role per profile).
//!
//! IAM returns policy documents percent-encoded and may reformat them; documents are
//! compared as parsed JSON ([`super::policy_doc`]) so that is never reported as drift.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_iam::types::{InstanceProfile, Role, Tag};

use super::policy_doc::{decode_iam_document, observed_policy, policies_equal};
use super::tags::{is_owned, sync_tags, tags_of, tags_value, user_tags, TagApi, Tags};
use super::{
    aws_error, has_code, live_inputs, optional_str, required_str, retry_while, string_list,
    unless_gone, AwsClients,
};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::kinds;
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};

/// IAM's error code for a role, profile or policy that does not exist.
const NO_SUCH_ENTITY: &str = "NoSuchEntity";
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
        f::string("name").required().force_new(),
        f::json("assume_role_policy").required(),
        f::string_list("managed_policy_arns"),
        f::string_map("inline_policies"),
        f::string("description"),
        f::TAGS,
    ],
    &["id", "arn", "name", "unique_id"],
    false,
);

/// `aws_iam_instance_profile`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static IAM_INSTANCE_PROFILE_SCHEMA: Schema = Schema::declare(
    kinds::IAM_INSTANCE_PROFILE,
    &[
        f::string("name").required().force_new(),
        f::string("role"),
        f::TAGS,
    ],
    &["id", "arn", "name"],
    false,
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
        let result = self.iam.get_role().role_name(name).send().await;
        unless_gone_iam(result.map_err(|e| aws_error("GetRole", e)))
            .map(|out| out.and_then(|o| o.role))
    }

    async fn attached(&self, name: &str) -> Result<Vec<String>, ProviderError> {
        let pages = self
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListAttachedRolePolicies", e))?;
        let mut arns: Vec<String> = pages
            .iter()
            .flat_map(|p| p.attached_policies())
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect();
        arns.sort();
        Ok(arns)
    }

    async fn inline_names(&self, name: &str) -> Result<Vec<String>, ProviderError> {
        let pages = self
            .iam
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListRolePolicies", e))?;
        let mut names: Vec<String> = pages
            .iter()
            .flat_map(|p| p.policy_names())
            .cloned()
            .collect();
        names.sort();
        Ok(names)
    }

    /// Inline policies by name, each document decoded (and reported as applied when it
    /// means the same).
    async fn inline_policies(&self, name: &str, applied: &Inputs) -> Result<Value, ProviderError> {
        let applied_docs = inline_policies_of(applied);
        let mut out = BTreeMap::new();
        for policy_name in self.inline_names(name).await? {
            let doc = self
                .iam
                .get_role_policy()
                .role_name(name)
                .policy_name(&policy_name)
                .send()
                .await
                .map_err(|e| aws_error("GetRolePolicy", e))?;
            let live = decode_iam_document(doc.policy_document());
            let shown = observed_policy(&live, applied_docs.get(&policy_name).map(String::as_str));
            out.insert(policy_name, Value::String(shown));
        }
        Ok(Value::Map(out))
    }

    async fn attach(&self, name: &str, arn: &str) -> Result<(), ProviderError> {
        self.iam
            .attach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error("AttachRolePolicy", e))?;
        Ok(())
    }

    async fn detach(&self, name: &str, arn: &str) -> Result<(), ProviderError> {
        let result = self
            .iam
            .detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await;
        unless_gone_iam(result.map_err(|e| aws_error("DetachRolePolicy", e))).map(|_| ())
    }

    async fn put_inline(
        &self,
        name: &str,
        policy_name: &str,
        doc: &str,
    ) -> Result<(), ProviderError> {
        self.iam
            .put_role_policy()
            .role_name(name)
            .policy_name(policy_name)
            .policy_document(doc)
            .send()
            .await
            .map_err(|e| aws_error("PutRolePolicy", e))?;
        Ok(())
    }

    async fn delete_inline(&self, name: &str, policy_name: &str) -> Result<(), ProviderError> {
        let result = self
            .iam
            .delete_role_policy()
            .role_name(name)
            .policy_name(policy_name)
            .send()
            .await;
        unless_gone_iam(result.map_err(|e| aws_error("DeleteRolePolicy", e))).map(|_| ())
    }

    /// Removes the role from every instance profile that holds it (DeleteRole refuses
    /// otherwise).
    async fn leave_instance_profiles(&self, name: &str) -> Result<(), ProviderError> {
        let pages = self
            .iam
            .list_instance_profiles_for_role()
            .role_name(name)
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        let pages = match unless_gone_iam(
            pages.map_err(|e| aws_error("ListInstanceProfilesForRole", e)),
        )? {
            Some(pages) => pages,
            None => return Ok(()),
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
        let role = self
            .once
            .create_role()
            .role_name(name)
            .assume_role_policy_document(required_str(inputs, "assume_role_policy")?)
            .set_description(optional_str(inputs, "description").map(str::to_string))
            .set_tags(Some(sdk_tags(&tags)?).filter(|t| !t.is_empty()))
            .send()
            .await
            .map_err(|e| aws_error("CreateRole", e))?
            .role
            .ok_or_else(|| ProviderError::Other("CreateRole returned no role".into()))?;
        for arn in string_list(inputs, "managed_policy_arns") {
            self.attach(name, &arn).await?;
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
        let trust = decode_iam_document(role.assume_role_policy_document().unwrap_or_default());
        let mut inputs = Inputs::new();
        inputs.insert("name".into(), Value::str(role.role_name()));
        inputs.insert(
            "assume_role_policy".into(),
            Value::String(observed_policy(
                &trust,
                optional_str(applied, "assume_role_policy"),
            )),
        );
        inputs.insert(
            "managed_policy_arns".into(),
            observed_set(
                self.attached(id).await?,
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
        inputs.insert(
            "tags".into(),
            tags_value(RoleTags(&self.iam).list(id).await?),
        );
        Ok(Observed::Present {
            inputs,
            outputs: role_outputs(&role),
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
        let old = &live_inputs(self.read(ctx, id, new).await?, &format!("role {id}"))?;
        let new_trust = required_str(new, "assume_role_policy")?;
        if !policies_equal(
            optional_str(old, "assume_role_policy").unwrap_or_default(),
            new_trust,
        ) {
            self.iam
                .update_assume_role_policy()
                .role_name(id)
                .policy_document(new_trust)
                .send()
                .await
                .map_err(|e| aws_error("UpdateAssumeRolePolicy", e))?;
        }
        let new_description = optional_str(new, "description").unwrap_or_default();
        if optional_str(old, "description").unwrap_or_default() != new_description {
            self.iam
                .update_role()
                .role_name(id)
                .description(new_description)
                .send()
                .await
                .map_err(|e| aws_error("UpdateRole", e))?;
        }
        let old_arns: BTreeSet<String> = string_list(old, "managed_policy_arns")
            .into_iter()
            .collect();
        let new_arns: BTreeSet<String> = string_list(new, "managed_policy_arns")
            .into_iter()
            .collect();
        for arn in old_arns.difference(&new_arns) {
            self.detach(id, arn).await?;
        }
        for arn in new_arns.difference(&old_arns) {
            self.attach(id, arn).await?;
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
        sync_tags(&RoleTags(&self.iam), id, &tags_of(old), &tags_of(new)).await?;
        let role = self
            .get(id)
            .await?
            .ok_or_else(|| ProviderError::Other(format!("role {id} disappeared during update")))?;
        Ok(role_outputs(&role))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _inputs: &Inputs,
        _outputs: &Outputs,
    ) -> Result<(), ProviderError> {
        if self.get(id).await?.is_none() {
            return Ok(());
        }
        self.leave_instance_profiles(id).await?;
        for arn in self.attached(id).await? {
            self.detach(id, &arn).await?;
        }
        for policy_name in self.inline_names(id).await? {
            self.delete_inline(id, &policy_name).await?;
        }
        retry_while(
            ctx,
            &format!("deleting role {id}"),
            PROPAGATION_LIMIT,
            |e| has_code(e, &["DeleteConflict"]),
            || async {
                let result = self.iam.delete_role().role_name(id).send().await;
                unless_gone_iam(result.map_err(|e| aws_error("DeleteRole", e))).map(|_| ())
            },
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
        if !is_owned(&RoleTags(&self.iam), name, ctx).await? {
            return Ok(None);
        }
        Ok(Some(Created {
            id: name.to_string(),
            outputs: role_outputs(&role),
        }))
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
        let result = self
            .iam
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await;
        unless_gone_iam(result.map_err(|e| aws_error("GetInstanceProfile", e)))
            .map(|out| out.and_then(|o| o.instance_profile))
    }

    /// Adds the role, retrying while a role created moments ago is not yet visible.
    async fn add_role(&self, ctx: &OpContext, name: &str, role: &str) -> Result<(), ProviderError> {
        retry_while(
            ctx,
            &format!("adding role {role} to instance profile {name}"),
            PROPAGATION_LIMIT,
            |e| has_code(e, &[NO_SUCH_ENTITY]),
            || async {
                let result = self
                    .iam
                    .add_role_to_instance_profile()
                    .instance_profile_name(name)
                    .role_name(role)
                    .send()
                    .await
                    .map_err(|e| aws_error("AddRoleToInstanceProfile", e))
                    .map(|_| ());
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
        let profile = self
            .once
            .create_instance_profile()
            .instance_profile_name(name)
            .set_tags(Some(sdk_tags(&tags_of(inputs))?).filter(|t| !t.is_empty()))
            .send()
            .await
            .map_err(|e| aws_error("CreateInstanceProfile", e))?
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
            tags_value(ProfileTags(&self.iam).list(id).await?),
        );
        Ok(Observed::Present {
            inputs,
            outputs: profile_outputs(&profile),
        })
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Inputs,
        new: &Inputs,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
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
        sync_tags(&ProfileTags(&self.iam), id, &tags_of(old), &tags_of(new)).await?;
        Ok(outputs.clone())
    }

    async fn delete(
        &self,
        _ctx: &OpContext,
        id: &str,
        _inputs: &Inputs,
        _outputs: &Outputs,
    ) -> Result<(), ProviderError> {
        let Some(profile) = self.get(id).await? else {
            return Ok(());
        };
        for role in profile.roles() {
            remove_role(&self.iam, &self.once, id, role.role_name()).await?;
        }
        let result = self
            .iam
            .delete_instance_profile()
            .instance_profile_name(id)
            .send()
            .await;
        unless_gone_iam(result.map_err(|e| aws_error("DeleteInstanceProfile", e))).map(|_| ())
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
        if !is_owned(&ProfileTags(&self.iam), name, ctx).await? {
            return Ok(None);
        }
        Ok(Some(Created {
            id: name.to_string(),
            outputs: profile_outputs(&profile),
        }))
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
    let send = |client: &aws_sdk_iam::Client| {
        client
            .remove_role_from_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
    };
    let first = send(once)
        .await
        .map_err(|e| aws_error("RemoveRoleFromInstanceProfile", e));
    match unless_gone_iam(first) {
        Err(err) if err.is_uncertain() || err.is_throttled() => {
            if !profile_has_role(iam, profile, role).await? {
                return Ok(());
            }
            let again = send(iam)
                .await
                .map_err(|e| aws_error("RemoveRoleFromInstanceProfile", e));
            unless_gone_iam(again).map(|_| ())
        }
        other => other.map(|_| ()),
    }
}

/// True when the instance profile exists and holds the role.
async fn profile_has_role(
    iam: &aws_sdk_iam::Client,
    profile: &str,
    role: &str,
) -> Result<bool, ProviderError> {
    let result = iam
        .get_instance_profile()
        .instance_profile_name(profile)
        .send()
        .await
        .map_err(|e| aws_error("GetInstanceProfile", e));
    Ok(unless_gone_iam(result)?
        .and_then(|out| out.instance_profile)
        .is_some_and(|p| p.roles().iter().any(|r| r.role_name() == role)))
}

/// [`unless_gone`] with IAM's "does not exist" code.
fn unless_gone_iam<T>(result: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    unless_gone(result, &[NO_SUCH_ENTITY])
}

/// IAM's tag calls on a role name.
struct RoleTags<'a>(&'a aws_sdk_iam::Client);

#[async_trait]
impl TagApi for RoleTags<'_> {
    async fn list(&self, name: &str) -> Result<Tags, ProviderError> {
        let pages = self.0.list_role_tags().role_name(name).into_paginator();
        let pages = pages.send().collect::<Result<Vec<_>, _>>().await;
        let pages = pages.map_err(|e| aws_error("ListRoleTags", e))?;
        let tags = pages.iter().flat_map(|p| p.tags());
        Ok(user_tags(tags.map(|t| (t.key(), t.value()))))
    }

    async fn tag(&self, name: &str, tags: &Tags) -> Result<(), ProviderError> {
        let call = self.0.tag_role().role_name(name);
        call.set_tags(Some(sdk_tags(tags)?))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("TagRole", e))
    }

    async fn untag(&self, name: &str, keys: &[String]) -> Result<(), ProviderError> {
        let call = self.0.untag_role().role_name(name);
        call.set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("UntagRole", e))
    }
}

/// IAM's tag calls on an instance profile name.
struct ProfileTags<'a>(&'a aws_sdk_iam::Client);

#[async_trait]
impl TagApi for ProfileTags<'_> {
    async fn list(&self, name: &str) -> Result<Tags, ProviderError> {
        let pages = self
            .0
            .list_instance_profile_tags()
            .instance_profile_name(name);
        let pages = pages
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await;
        let pages = pages.map_err(|e| aws_error("ListInstanceProfileTags", e))?;
        let tags = pages.iter().flat_map(|p| p.tags());
        Ok(user_tags(tags.map(|t| (t.key(), t.value()))))
    }

    async fn tag(&self, name: &str, tags: &Tags) -> Result<(), ProviderError> {
        let call = self.0.tag_instance_profile().instance_profile_name(name);
        call.set_tags(Some(sdk_tags(tags)?))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("TagInstanceProfile", e))
    }

    async fn untag(&self, name: &str, keys: &[String]) -> Result<(), ProviderError> {
        let call = self.0.untag_instance_profile().instance_profile_name(name);
        call.set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("UntagInstanceProfile", e))
    }
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
    inputs
        .get("inline_policies")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|doc| (k.clone(), doc.to_string())))
                .collect()
        })
        .unwrap_or_default()
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

fn sdk_tags(tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::Other(format!("building IAM tag {k}: {e}")))
        })
        .collect()
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
