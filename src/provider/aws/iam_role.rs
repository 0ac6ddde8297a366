//! The IAM calls on one role that `aws_iam_role` ([`super::iam`]) and the API Gateway
//! account's shared CloudWatch role ([`super::apigateway::account`]) both make: the role,
//! its trust policy, its managed policy attachments, and deleting it (its tags:
//! [`super::iam_tags`]).

use aws_sdk_iam::types::Role;
use aws_sdk_iam::Client;

use super::policy_doc::{decode_iam_document, observed_policy};
use super::send::{send, send_ok_if_gone, send_only, send_unless_gone};
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
    let attached = pages.iter().flat_map(|p| p.attached_policies());
    Ok(sorted(
        attached.filter_map(|p| p.policy_arn().map(str::to_string)),
    ))
}

/// The names of the role's inline policies, sorted.
pub async fn inline_policy_names(iam: &Client, name: &str) -> Result<Vec<String>, ProviderError> {
    let pages = iam.list_role_policies().role_name(name).into_paginator();
    let pages = pages.send().collect::<Result<Vec<_>, _>>();
    let pages = send("ListRolePolicies", pages).await?;
    Ok(sorted(pages.iter().flat_map(|p| p.policy_names()).cloned()))
}

/// A listing in a stable order (the inputs it is compared with are sets).
fn sorted(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut items: Vec<String> = items.collect();
    items.sort();
    items
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
