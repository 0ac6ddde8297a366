//! One tag model for every AWS service: the `tags` input, live tags without AWS's own
//! `aws:` keys, the difference that brings live tags to the desired ones, nova's ownership
//! check, and one [`sync_tags`] over a small per-service [`TagApi`] (list, tag, untag).
//!
//! Ownership is always decided here, by exact comparison of `nova:stack` and
//! `nova:address`. A service may narrow a search server-side by `nova:stack` at most:
//! EC2 tag filters are globs on LocalStack, and an address such as `aws_eip.nat[0]` holds a
//! character class that never matches itself.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::live::string_map;
use crate::model::{Inputs, Value};
use crate::provider::{Created, OpContext, ProviderError};

/// Tags by key, sorted: desired (from the `tags` input) or live (without `aws:` keys).
pub type Tags = BTreeMap<String, String>;

/// The ownership tag keys nova uses to find a resource whose create was interrupted.
pub const TAG_STACK: &str = "nova:stack";
pub const TAG_ADDRESS: &str = "nova:address";

/// The `tags` input. Every taggable kind takes `tags`, a map of strings built by the stack
/// blueprint: `Environment`, `Project`, `ManagedBy`, `nova:stack`, `nova:address`, `Name`.
pub fn tags_of(inputs: &Inputs) -> Tags {
    string_map(inputs, "tags")
}

/// Tags as an input value.
pub fn tags_value<I, K, V>(tags: I) -> Value
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    Value::Map(
        tags.into_iter()
            .map(|(k, v)| (k.into(), Value::String(v.into())))
            .collect(),
    )
}

/// True for tag keys AWS sets itself (`aws:...`): nobody can set or remove them, so they
/// are not part of the `tags` input.
pub fn is_aws_reserved(key: &str) -> bool {
    key.starts_with("aws:")
}

/// Live tags without the AWS-reserved ones: what `read` reports as `tags`.
pub fn user_tags<I, K, V>(tags: I) -> Tags
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    tags.into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .filter(|(k, _)| !is_aws_reserved(k))
        .collect()
}

/// True when the tags carry nova's ownership tags for this operation's stack and address,
/// compared exactly.
pub fn owned_by(tags: &Tags, ctx: &OpContext) -> bool {
    tags.get(TAG_STACK).map(String::as_str) == Some(ctx.stack.as_str())
        && tags.get(TAG_ADDRESS).map(String::as_str) == Some(ctx.address.to_string().as_str())
}

/// What an in-place tag update must do: set (add or change) and remove, both sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagDiff {
    pub set: Tags,
    pub remove: Vec<String>,
}

impl TagDiff {
    /// The changes that bring the `live` tags to the `desired` ones. `aws:` keys are
    /// never removed.
    pub fn between(live: &Tags, desired: &Tags) -> Self {
        TagDiff {
            set: desired
                .iter()
                .filter(|(k, v)| live.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            remove: live
                .keys()
                .filter(|k| !is_aws_reserved(k) && !desired.contains_key(*k))
                .cloned()
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// A service's tag calls on one kind of resource, identified by the id or ARN its tagging
/// APIs take.
#[async_trait]
pub trait TagApi: Sync {
    /// The live tags, without `aws:` keys.
    async fn list(&self, id: &str) -> Result<Tags, ProviderError>;
    /// Adds or overwrites these tags.
    async fn tag(&self, id: &str, tags: &Tags) -> Result<(), ProviderError>;
    /// Removes the tags with these keys.
    async fn untag(&self, id: &str, keys: &[String]) -> Result<(), ProviderError>;
}

/// Brings the tags of `id` from `live` to `desired`: removes what is no longer wanted, then
/// sets what is missing or different; no call when nothing differs.
pub async fn sync_tags(
    api: &impl TagApi,
    id: &str,
    live: &Tags,
    desired: &Tags,
) -> Result<(), ProviderError> {
    let diff = TagDiff::between(live, desired);
    if !diff.remove.is_empty() {
        api.untag(id, &diff.remove).await?;
    }
    if !diff.set.is_empty() {
        api.tag(id, &diff.set).await?;
    }
    Ok(())
}

/// [`sync_tags`] from the tags live now (read first, so out-of-band changes are undone).
pub async fn sync_live_tags(
    api: &impl TagApi,
    id: &str,
    desired: &Tags,
) -> Result<(), ProviderError> {
    let live = api.list(id).await?;
    sync_tags(api, id, &live, desired).await
}

/// True when the live tags of `id` carry this operation's ownership tags.
pub async fn is_owned(api: &impl TagApi, id: &str, ctx: &OpContext) -> Result<bool, ProviderError> {
    Ok(owned_by(&api.list(id).await?, ctx))
}

/// `find_existing`'s answer for a resource found by name: `found` when the live tags of
/// `id` (as its tagging calls name it) carry this operation's ownership tags, else `None`
/// (a foreign resource of that name is left alone).
pub async fn adopt_if_owned(
    api: &impl TagApi,
    id: &str,
    ctx: &OpContext,
    found: Created,
) -> Result<Option<Created>, ProviderError> {
    Ok(is_owned(api, id, ctx).await?.then_some(found))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::model::Address;
    use crate::provider::SilentProgress;

    fn tags(items: &[(&str, &str)]) -> Tags {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ctx(address: &str) -> OpContext {
        OpContext {
            stack: "s".into(),
            address: address.parse::<Address>().expect("address"),
            client_token: "t".into(),
            known_ids: Vec::new(),
            progress: Arc::new(SilentProgress),
        }
    }

    #[test]
    fn diff_sets_added_and_changed_and_removes_missing_but_not_reserved() {
        let mut live = tags(&[("a", "1"), ("b", "2"), ("c", "3")]);
        live.insert("aws:x".into(), "y".into());
        let diff = TagDiff::between(&live, &tags(&[("a", "1"), ("b", "9"), ("d", "4")]));
        assert_eq!(diff.set, tags(&[("b", "9"), ("d", "4")]));
        assert_eq!(diff.remove, vec!["c".to_string()]);
        assert!(TagDiff::between(&live, &live).is_empty());
    }

    #[test]
    fn user_tags_drop_reserved_keys() {
        assert_eq!(
            user_tags([("aws:cloudformation:stack", "x"), ("k", "v")]),
            tags(&[("k", "v")])
        );
    }

    #[test]
    fn tags_input_round_trips() {
        let mut inputs = Inputs::new();
        inputs.insert("tags".into(), tags_value([("b", "2"), ("a", "1")]));
        assert_eq!(tags_of(&inputs), tags(&[("a", "1"), ("b", "2")]));
        assert!(tags_of(&Inputs::new()).is_empty());
    }

    #[test]
    fn ownership_needs_both_tags_compared_exactly() {
        let owned = tags(&[("nova:stack", "s"), ("nova:address", "aws_eip.nat[0]")]);
        assert!(owned_by(&owned, &ctx("aws_eip.nat[0]")));
        assert!(!owned_by(&owned, &ctx("aws_eip.nat[1]")));
        let glob_like = tags(&[("nova:stack", "s"), ("nova:address", "aws_eip.nat0")]);
        assert!(!owned_by(&glob_like, &ctx("aws_eip.nat[0]")));
        assert!(!owned_by(
            &tags(&[("nova:stack", "s")]),
            &ctx("aws_eip.nat[0]")
        ));
    }

    /// A [`TagApi`] over a map, recording its calls.
    #[derive(Default)]
    struct Recorder {
        live: Mutex<Tags>,
        calls: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl TagApi for Recorder {
        async fn list(&self, _id: &str) -> Result<Tags, ProviderError> {
            Ok(user_tags(self.live.lock().unwrap().clone()))
        }
        async fn tag(&self, _id: &str, tags: &Tags) -> Result<(), ProviderError> {
            self.calls.lock().unwrap().push(format!("tag {tags:?}"));
            self.live.lock().unwrap().extend(tags.clone());
            Ok(())
        }
        async fn untag(&self, _id: &str, keys: &[String]) -> Result<(), ProviderError> {
            self.calls.lock().unwrap().push(format!("untag {keys:?}"));
            self.live.lock().unwrap().retain(|k, _| !keys.contains(k));
            Ok(())
        }
    }

    #[tokio::test]
    async fn sync_untags_then_tags_only_the_difference() {
        let api = Recorder::default();
        *api.live.lock().unwrap() = tags(&[("a", "1"), ("old", "x"), ("aws:keep", "y")]);
        let desired = tags(&[("a", "1"), ("b", "2")]);
        sync_live_tags(&api, "id", &desired).await.unwrap();
        assert_eq!(
            *api.calls.lock().unwrap(),
            vec![
                r#"untag ["old"]"#.to_string(),
                r#"tag {"b": "2"}"#.to_string()
            ]
        );
        assert_eq!(
            *api.live.lock().unwrap(),
            tags(&[("a", "1"), ("aws:keep", "y"), ("b", "2")])
        );
        api.calls.lock().unwrap().clear();
        sync_live_tags(&api, "id", &desired).await.unwrap();
        assert!(api.calls.lock().unwrap().is_empty(), "nothing to do");
        assert!(is_owned(&api, "id", &ctx("x.y"))
            .await
            .is_ok_and(|owned| !owned));
    }
}
