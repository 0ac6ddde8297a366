//! Tag updates by difference, for services whose tag APIs take "set these" and "remove
//! these keys" (KMS, IAM, Logs, Lambda, EventBridge; EC2 has `ec2_tags`). Keys starting
//! with `aws:` belong to AWS and are neither read back nor removed.

use std::collections::BTreeMap;

use super::tags_of;
use crate::model::Inputs;

/// What an in-place tag update must do: set (add or change) and remove, both sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagDiff {
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

impl TagDiff {
    /// The changes that bring the `live` tags to the `desired` ones.
    pub fn between(live: &BTreeMap<String, String>, desired: &[(String, String)]) -> Self {
        let desired: BTreeMap<&str, &str> = desired
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        TagDiff {
            set: desired
                .iter()
                .filter(|(k, v)| live.get(**k).map(String::as_str) != Some(**v))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            remove: live
                .keys()
                .filter(|k| !is_aws_reserved(k) && !desired.contains_key(k.as_str()))
                .cloned()
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// The changes that turn the tags of `old` inputs into those of `new` inputs.
pub fn tag_diff(old: &Inputs, new: &Inputs) -> TagDiff {
    let old: BTreeMap<String, String> = tags_of(old).into_iter().collect();
    TagDiff::between(&old, &tags_of(new))
}

/// True for tag keys AWS sets itself (`aws:...`), which cannot be changed.
pub fn is_aws_reserved(key: &str) -> bool {
    key.starts_with("aws:")
}

/// Live tags without the AWS-reserved ones, sorted: what `read` reports as `tags`.
pub fn user_tags<I, K, V>(tags: I) -> BTreeMap<String, String>
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

/// True when `tags` carry the ownership tags of this operation's resource.
pub fn owned_by(tags: &[(String, String)], stack: &str, address: &str) -> bool {
    let get = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    get(super::TAG_STACK) == Some(stack) && get(super::TAG_ADDRESS) == Some(address)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::aws::tags_value;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn with_tags(tags: &[(&str, &str)]) -> Inputs {
        let mut inputs = Inputs::new();
        inputs.insert("tags".into(), tags_value(tags.iter().copied()));
        inputs
    }

    #[test]
    fn diff_sets_added_and_changed_and_removes_missing() {
        let old = with_tags(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let new = with_tags(&[("a", "1"), ("b", "9"), ("d", "4")]);
        let diff = tag_diff(&old, &new);
        assert_eq!(diff.set, pairs(&[("b", "9"), ("d", "4")]));
        assert_eq!(diff.remove, vec!["c".to_string()]);
        assert!(tag_diff(&new, &new).is_empty());
    }

    #[test]
    fn live_diff_keeps_aws_reserved_keys() {
        let mut live = user_tags(pairs(&[("a", "1"), ("b", "2"), ("c", "3")]));
        live.insert("aws:x".into(), "y".into());
        let diff = TagDiff::between(&live, &pairs(&[("a", "1"), ("b", "20"), ("d", "4")]));
        assert_eq!(diff.set, pairs(&[("b", "20"), ("d", "4")]));
        assert_eq!(diff.remove, vec!["c".to_string()]);
        assert_eq!(
            user_tags(pairs(&[("aws:cloudformation:stack", "x"), ("k", "v")])).len(),
            1
        );
    }

    #[test]
    fn ownership_needs_both_tags() {
        let tags = pairs(&[("nova:stack", "s"), ("nova:address", "aws_kms_key.main")]);
        assert!(owned_by(&tags, "s", "aws_kms_key.main"));
        assert!(!owned_by(&tags, "other", "aws_kms_key.main"));
        assert!(!owned_by(&tags[..1], "s", "aws_kms_key.main"));
    }
}
