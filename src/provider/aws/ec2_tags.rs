//! EC2 tag helpers shared by every EC2 resource kind: tags applied at create time, tags
//! read back as the `tags` input, the ownership filters that find an interrupted create,
//! and in-place tag updates by difference.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use super::tag_diff::tag_diff;
use super::{aws_error, tags_of, tags_value, AwsClients, TAG_ADDRESS, TAG_STACK};
use crate::model::{Inputs, Value};
use crate::provider::{OpContext, ProviderError};

/// Tag keys with this prefix are reserved by AWS (e.g. `aws:cloudformation:stack-name`):
/// nobody can set them, so they are not part of the `tags` input.
const AWS_RESERVED_PREFIX: &str = "aws:";

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

/// Live EC2 tags as the `tags` input value (a sorted map), without AWS-reserved tags.
pub fn tags_to_value(tags: &[Tag]) -> Value {
    tags_value(
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())))
            .filter(|(k, _)| !k.starts_with(AWS_RESERVED_PREFIX)),
    )
}

/// Describe* filters that match what this operation's resource was tagged with:
/// `nova:stack` = `ctx.stack` and `nova:address` = `ctx.address`.
pub fn ownership_filters(ctx: &OpContext) -> Vec<Filter> {
    vec![
        tag_filter(TAG_STACK, &ctx.stack),
        tag_filter(TAG_ADDRESS, &ctx.address.to_string()),
    ]
}

/// True when `tags` carry this operation's ownership tags. For checking Describe* results
/// client-side where a filter may be ignored (LocalStack ignores tag filters on
/// DescribeNatGateways).
pub fn has_ownership_tags(ctx: &OpContext, tags: &[Tag]) -> bool {
    let has = |key: &str, value: &str| {
        tags.iter()
            .any(|t| t.key() == Some(key) && t.value() == Some(value))
    };
    has(TAG_STACK, &ctx.stack) && has(TAG_ADDRESS, &ctx.address.to_string())
}

/// Changes the tags of `resource_id` from `old` to `new` (the `tags` inputs): `CreateTags`
/// for added or changed tags, `DeleteTags` for removed ones; no call when nothing changed.
pub async fn sync_tags(
    clients: &AwsClients,
    resource_id: &str,
    old: &Inputs,
    new: &Inputs,
) -> Result<(), ProviderError> {
    let diff = tag_diff(old, new);
    let removed: Vec<Tag> = diff
        .remove
        .iter()
        .map(|k| Tag::builder().key(k).build())
        .collect();
    let changed = diff.set;
    if !removed.is_empty() {
        clients
            .ec2
            .delete_tags()
            .resources(resource_id)
            .set_tags(Some(removed))
            .send()
            .await
            .map_err(|e| aws_error("DeleteTags", e))?;
    }
    if !changed.is_empty() {
        clients
            .ec2
            .create_tags()
            .resources(resource_id)
            .set_tags(Some(to_sdk_tags(&changed)))
            .send()
            .await
            .map_err(|e| aws_error("CreateTags", e))?;
    }
    Ok(())
}

/// A `tag:<key>` = `value` filter.
pub fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

fn to_sdk_tags(tags: &[(String, String)]) -> Vec<Tag> {
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
