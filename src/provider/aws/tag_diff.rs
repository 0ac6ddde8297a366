//! Tag updates by difference: which tags to set and which keys to remove to bring a
//! resource's live tags to the desired ones. Keys starting with `aws:` belong to AWS and
//! are neither read back nor removed.

use std::collections::BTreeMap;

/// What to change to go from the live tags to the desired ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagDiff {
    /// Tags that are missing or have another value (sorted by key).
    pub set: BTreeMap<String, String>,
    /// Keys present but no longer desired (sorted).
    pub remove: Vec<String>,
}

impl TagDiff {
    pub fn between(live: &BTreeMap<String, String>, desired: &[(String, String)]) -> Self {
        let desired: BTreeMap<&str, &str> = desired
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let set = desired
            .iter()
            .filter(|(k, v)| live.get(**k).map(String::as_str) != Some(**v))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let remove = live
            .keys()
            .filter(|k| !is_aws_reserved(k) && !desired.contains_key(k.as_str()))
            .cloned()
            .collect();
        TagDiff { set, remove }
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sets_changed_and_new_removes_stale_keeps_aws() {
        let live = user_tags(pairs(&[("a", "1"), ("b", "2"), ("c", "3")]));
        let mut live = live;
        live.insert("aws:x".into(), "y".into());
        let diff = TagDiff::between(&live, &pairs(&[("a", "1"), ("b", "20"), ("d", "4")]));
        assert_eq!(
            diff.set.into_iter().collect::<Vec<_>>(),
            pairs(&[("b", "20"), ("d", "4")])
        );
        assert_eq!(diff.remove, vec!["c".to_string()]);
    }

    #[test]
    fn no_change_is_empty() {
        let live = user_tags(pairs(&[("a", "1")]));
        assert!(TagDiff::between(&live, &pairs(&[("a", "1")])).is_empty());
    }

    #[test]
    fn user_tags_drops_aws_keys() {
        let tags = user_tags(pairs(&[("aws:cloudformation:stack", "x"), ("k", "v")]));
        assert_eq!(tags.len(), 1);
    }
}
