//! The difference between two `tags` inputs, for services whose tag APIs take "set these"
//! and "remove these keys" (KMS, IAM). EC2 has its own helpers.

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
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// The changes that turn the tags of `old` into those of `new`.
pub fn tag_diff(old: &Inputs, new: &Inputs) -> TagDiff {
    let old: BTreeMap<String, String> = tags_of(old).into_iter().collect();
    let new: BTreeMap<String, String> = tags_of(new).into_iter().collect();
    TagDiff {
        set: new
            .iter()
            .filter(|(k, v)| old.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        remove: old
            .keys()
            .filter(|k| !new.contains_key(*k))
            .cloned()
            .collect(),
    }
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
        assert_eq!(
            diff.set,
            vec![("b".into(), "9".into()), ("d".into(), "4".into())]
        );
        assert_eq!(diff.remove, vec!["c".to_string()]);
        assert!(tag_diff(&new, &new).is_empty());
    }

    #[test]
    fn ownership_needs_both_tags() {
        let tags = vec![
            ("nova:stack".to_string(), "s".to_string()),
            ("nova:address".to_string(), "aws_kms_key.main".to_string()),
        ];
        assert!(owned_by(&tags, "s", "aws_kms_key.main"));
        assert!(!owned_by(&tags, "other", "aws_kms_key.main"));
        assert!(!owned_by(&tags[..1], "s", "aws_kms_key.main"));
    }
}
