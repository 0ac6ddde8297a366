//! EC2's side of the tag model ([`super::tags`]): tags applied at create time, live tags
//! read back as the `tags` input, the [`TagApi`] for in-place updates, and the search for a
//! resource an interrupted create made (narrowed server-side by `nova:stack`, decided by
//! [`owned_by`] on nova's side).

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use super::aws_error;
use super::tags::{owned_by, sync_tags, tags_of, tags_value, user_tags, TagApi, Tags, TAG_STACK};
use crate::model::{Inputs, Value};
use crate::provider::{OpContext, ProviderError};

/// The `tags` input as a TagSpecification for a create call (`RunInstances`, `CreateVpc`,
/// ...), or `None` when there are no tags.
pub fn tag_specification(resource_type: ResourceType, inputs: &Inputs) -> Option<TagSpecification> {
    let tags = tags_of(inputs);
    if tags.is_empty() {
        return None;
    }
    Some(
        TagSpecification::builder()
            .resource_type(resource_type)
            .set_tags(Some(to_sdk_tags(&tags)))
            .build(),
    )
}

/// [`tag_specification`] as the list a create call takes.
pub fn tag_specifications(
    resource_type: ResourceType,
    inputs: &Inputs,
) -> Option<Vec<TagSpecification>> {
    tag_specification(resource_type, inputs).map(|spec| vec![spec])
}

/// Live EC2 tags, without AWS-reserved ones.
pub fn live_tags(tags: &[Tag]) -> Tags {
    user_tags(
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
    )
}

/// Live EC2 tags as the `tags` input value (a sorted map), without AWS-reserved tags.
pub fn tags_to_value(tags: &[Tag]) -> Value {
    tags_value(live_tags(tags))
}

/// The Describe* filter that narrows a search to this stack's resources (`nova:stack` =
/// `ctx.stack`). Never filter on `nova:address` server-side: tag filter values are globs.
pub fn stack_filter(ctx: &OpContext) -> Filter {
    tag_filter(TAG_STACK, &ctx.stack)
}

/// True when `tags` carry this operation's ownership tags, compared exactly.
pub fn has_ownership_tags(ctx: &OpContext, tags: &[Tag]) -> bool {
    owned_by(&live_tags(tags), ctx)
}

/// Of the Describe* results, the one this operation's resource is: ownership tags, not one
/// of the ids the state already has for the address (the old object of a
/// create-before-destroy replacement carries the same tags), lowest id first so a repeated
/// search picks the same one.
pub fn first_owned<'a, T>(
    ctx: &OpContext,
    items: &'a [T],
    tags: impl Fn(&T) -> &[Tag],
    id: impl Fn(&T) -> Option<&str>,
) -> Option<&'a T> {
    items
        .iter()
        .filter(|item| id(item).is_some_and(|id| !ctx.is_known(id)))
        .filter(|item| has_ownership_tags(ctx, tags(item)))
        .min_by_key(|item| id(item))
}

/// EC2's tag calls (`DescribeTags`, `CreateTags`, `DeleteTags`) on one resource id.
pub struct Ec2Tags<'a>(pub &'a aws_sdk_ec2::Client);

#[async_trait]
impl TagApi for Ec2Tags<'_> {
    async fn list(&self, id: &str) -> Result<Tags, ProviderError> {
        let out = self
            .0
            .describe_tags()
            .filters(Filter::builder().name("resource-id").values(id).build())
            .send()
            .await
            .map_err(|e| aws_error("DescribeTags", e))?;
        Ok(user_tags(out.tags().iter().filter_map(|t| {
            Some((t.key()?, t.value().unwrap_or_default()))
        })))
    }

    async fn tag(&self, id: &str, tags: &Tags) -> Result<(), ProviderError> {
        self.0
            .create_tags()
            .resources(id)
            .set_tags(Some(to_sdk_tags(tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("CreateTags", e))
    }

    async fn untag(&self, id: &str, keys: &[String]) -> Result<(), ProviderError> {
        let tags = keys.iter().map(|k| Tag::builder().key(k).build()).collect();
        self.0
            .delete_tags()
            .resources(id)
            .set_tags(Some(tags))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("DeleteTags", e))
    }
}

/// Changes the live tags of `id` from the `tags` input of `old` to that of `new` (an
/// update): `DeleteTags` and `CreateTags` of the difference only.
pub async fn update_tags(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
    old: &Inputs,
    new: &Inputs,
) -> Result<(), ProviderError> {
    sync_tags(&Ec2Tags(ec2), id, &tags_of(old), &tags_of(new)).await
}

/// A `tag:<key>` = `value` filter.
pub fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// Tags as SDK tags (for TagSpecifications and CreateTags).
pub fn to_sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs_with_tags(tags: &[(&str, &str)]) -> Inputs {
        let mut inputs = Inputs::new();
        inputs.insert("tags".into(), tags_value(tags.iter().copied()));
        inputs
    }

    #[test]
    fn no_tags_means_no_specification() {
        assert!(tag_specification(ResourceType::Vpc, &Inputs::new()).is_none());
    }

    #[test]
    fn specification_carries_every_tag_sorted() {
        let spec = tag_specification(
            ResourceType::Vpc,
            &inputs_with_tags(&[("b", "2"), ("a", "1")]),
        )
        .expect("tags given");
        assert_eq!(spec.resource_type(), Some(&ResourceType::Vpc));
        let keys: Vec<_> = spec.tags().iter().filter_map(Tag::key).collect();
        assert_eq!(keys, ["a", "b"]);
    }

    #[test]
    fn read_back_drops_reserved_tags() {
        let tags = [
            Tag::builder().key("Name").value("x").build(),
            Tag::builder()
                .key("aws:cloudformation:stack-name")
                .value("y")
                .build(),
        ];
        assert_eq!(tags_to_value(&tags), tags_value([("Name", "x")]));
    }
}
