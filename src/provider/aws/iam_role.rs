//! The IAM calls on one role that `aws_iam_role` ([`super::iam`]) and the API Gateway
//! account's shared CloudWatch role ([`super::apigateway::account`]) both make: the role,
//! its trust policy, its managed policy attachments, its tags, and deleting it.

use async_trait::async_trait;
use aws_sdk_iam::types::{Role, Tag};
use aws_sdk_iam::Client;

use super::policy_doc::{decode_iam_document, observed_policy};
use super::send::{send, send_ok_if_gone, send_only, send_unless_gone};
use super::tags::{user_tags, TagApi, Tags};
use super::{optional_str, unless_gone};
use crate::model::{Inputs, Value};
use crate::provider::ProviderError;

/// IAM's error code for a role, profile or policy that does not exist.
pub const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// The codes of an IAM entity that does not exist.
pub const GONE: &[&str] = &[NO_SUCH_ENTITY];

/// [`unless_gone`] with IAM's "does not exist" code.
pub fn unless_gone_iam<T>(result: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    unless_gone(result, GONE)
}

/// The role (GetRole), `None` when it does not exist.
pub async fn get_role(iam: &Client, name: &str) -> Result<Option<Role>, ProviderError> {
    let out = send_unless_gone("GetRole", GONE, iam.get_role().role_name(name).send()).await?;
    Ok(out.and_then(|o| o.role))
}

/// The ARNs of the managed policies attached to the role, sorted.
pub async fn attached_policies(iam: &Client, name: &str) -> Result<Vec<String>, ProviderError> {
    let pages = iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator();
    let pages = pages.send().collect::<Result<Vec<_>, _>>();
    let pages = send("ListAttachedRolePolicies", pages).await?;
    let mut arns: Vec<String> = pages
        .iter()
        .flat_map(|p| p.attached_policies())
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect();
    arns.sort();
    Ok(arns)
}

/// AttachRolePolicy.
pub async fn attach_policy(iam: &Client, name: &str, arn: &str) -> Result<(), ProviderError> {
    let call = iam.attach_role_policy().role_name(name).policy_arn(arn);
    send_only("AttachRolePolicy", call.send()).await
}

/// DetachRolePolicy; already detached (or the role gone) is fine.
pub async fn detach_policy(iam: &Client, name: &str, arn: &str) -> Result<(), ProviderError> {
    let call = iam.detach_role_policy().role_name(name).policy_arn(arn);
    send_ok_if_gone("DetachRolePolicy", GONE, call.send()).await
}

/// UpdateAssumeRolePolicy: the role's trust policy becomes `document`.
pub async fn set_trust_policy(
    iam: &Client,
    name: &str,
    document: &str,
) -> Result<(), ProviderError> {
    let call = iam.update_assume_role_policy().role_name(name);
    let call = call.policy_document(document);
    send_only("UpdateAssumeRolePolicy", call.send()).await
}

/// DeleteRole; a role already gone is fine.
pub async fn delete_role(iam: &Client, name: &str) -> Result<(), ProviderError> {
    send_ok_if_gone("DeleteRole", GONE, iam.delete_role().role_name(name).send()).await
}

/// The live trust policy as `read` reports it: the applied document when it means the same.
pub fn observed_trust_policy(role: &Role, applied: &Inputs) -> Value {
    let trust = decode_iam_document(role.assume_role_policy_document().unwrap_or_default());
    Value::String(observed_policy(
        &trust,
        optional_str(applied, "assume_role_policy"),
    ))
}

/// IAM's tag calls on a role name.
pub struct RoleTags<'a>(pub &'a Client);

#[async_trait]
impl TagApi for RoleTags<'_> {
    async fn list(&self, name: &str) -> Result<Tags, ProviderError> {
        let pages = self.0.list_role_tags().role_name(name).into_paginator();
        let pages = pages.send().collect::<Result<Vec<_>, _>>();
        let pages = send("ListRoleTags", pages).await?;
        let tags = pages.iter().flat_map(|p| p.tags());
        Ok(user_tags(tags.map(|t| (t.key(), t.value()))))
    }

    async fn tag(&self, name: &str, tags: &Tags) -> Result<(), ProviderError> {
        let call = self.0.tag_role().role_name(name);
        let call = call.set_tags(Some(sdk_tags(tags)?));
        send_only("TagRole", call.send()).await
    }

    async fn untag(&self, name: &str, keys: &[String]) -> Result<(), ProviderError> {
        let call = self.0.untag_role().role_name(name);
        let call = call.set_tag_keys(Some(keys.to_vec()));
        send_only("UntagRole", call.send()).await
    }
}

/// One IAM tag (roles and instance profiles take the same type).
pub fn sdk_tag(key: &str, value: &str) -> Result<Tag, ProviderError> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| ProviderError::Other(format!("building IAM tag {key}: {e}")))
}

/// The tags as IAM tags.
pub fn sdk_tags(tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter().map(|(k, v)| sdk_tag(k, v)).collect()
}
