//! IAM's tag calls: one [`TagApi`] for the two kinds of IAM entity nova tags, roles and
//! instance profiles (both by name, both with IAM's [`Tag`] type).

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use aws_sdk_iam::Client;

use super::send::{send, send_only};
use super::tags::{user_tags, TagApi, Tags};
use crate::provider::ProviderError;

/// IAM tags as nova's tag map, without AWS-reserved ones: what `GetRole` and
/// `GetInstanceProfile` carry (so a read needs no tag call of its own) and what
/// `ListRoleTags` / `ListInstanceProfileTags` list.
pub fn live_tags(tags: &[Tag]) -> Tags {
    user_tags(tags.iter().map(|t| (t.key(), t.value())))
}

/// The IAM entities nova tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tagged {
    Role,
    InstanceProfile,
}

/// IAM's tag calls on a role or an instance profile, by name.
pub struct IamTags<'a> {
    iam: &'a Client,
    entity: Tagged,
}

impl<'a> IamTags<'a> {
    /// The tag calls on roles.
    pub fn role(iam: &'a Client) -> Self {
        IamTags {
            iam,
            entity: Tagged::Role,
        }
    }

    /// The tag calls on instance profiles.
    pub fn instance_profile(iam: &'a Client) -> Self {
        IamTags {
            iam,
            entity: Tagged::InstanceProfile,
        }
    }
}

#[async_trait]
impl TagApi for IamTags<'_> {
    async fn list(&self, name: &str) -> Result<Tags, ProviderError> {
        let tags: Vec<Tag> = match self.entity {
            Tagged::Role => {
                let pages = self.iam.list_role_tags().role_name(name).into_paginator();
                let pages = pages.send().collect::<Result<Vec<_>, _>>();
                let pages = send("ListRoleTags", pages).await?;
                pages.iter().flat_map(|p| p.tags()).cloned().collect()
            }
            Tagged::InstanceProfile => {
                let call = self.iam.list_instance_profile_tags();
                let pages = call.instance_profile_name(name).into_paginator().send();
                let pages = pages.collect::<Result<Vec<_>, _>>();
                let pages = send("ListInstanceProfileTags", pages).await?;
                pages.iter().flat_map(|p| p.tags()).cloned().collect()
            }
        };
        Ok(live_tags(&tags))
    }

    async fn tag(&self, name: &str, tags: &Tags) -> Result<(), ProviderError> {
        let tags = Some(sdk_tags(tags)?);
        match self.entity {
            Tagged::Role => {
                let call = self.iam.tag_role().role_name(name).set_tags(tags);
                send_only("TagRole", call.send()).await
            }
            Tagged::InstanceProfile => {
                let call = self.iam.tag_instance_profile().instance_profile_name(name);
                send_only("TagInstanceProfile", call.set_tags(tags).send()).await
            }
        }
    }

    async fn untag(&self, name: &str, keys: &[String]) -> Result<(), ProviderError> {
        let keys = Some(keys.to_vec());
        match self.entity {
            Tagged::Role => {
                let call = self.iam.untag_role().role_name(name).set_tag_keys(keys);
                send_only("UntagRole", call.send()).await
            }
            Tagged::InstanceProfile => {
                let call = self
                    .iam
                    .untag_instance_profile()
                    .instance_profile_name(name);
                send_only("UntagInstanceProfile", call.set_tag_keys(keys).send()).await
            }
        }
    }
}

/// One IAM tag.
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
