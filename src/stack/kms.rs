//! The stack's KMS key (logs and EBS volumes are encrypted with it) and its alias.

use super::{policies, r, Builder};
use crate::model::{Address, Resource, Value};
use crate::provider::aws::kinds;

/// The key's address.
pub(crate) struct Key {
    pub key: Address,
    pub alias_name: String,
}

pub(crate) fn key_and_alias(b: &mut Builder) -> Key {
    let name = b.naming.name("key");
    let policy = policies::key_policy(&b.config.region, &b.context.account_id);
    let key = b
        .tagged(kinds::KMS_KEY, "main", &name)
        .with(
            "description",
            format!(
                "{}: encrypts the stack's log groups and EBS volumes",
                b.naming.prefix()
            ),
        )
        .with("policy", policy)
        .with("enable_key_rotation", true)
        .with(
            "deletion_window_days",
            i64::from(b.config.kms_deletion_window_days),
        );
    let key = b.add(key);
    let alias_name = format!("alias/{}", b.naming.prefix());
    let alias = Resource::new(Address::new(kinds::KMS_ALIAS, "main"))
        .with("name", alias_name.as_str())
        .with("target_key_id", r(&key, "id"));
    b.add(alias);
    Key { key, alias_name }
}

/// The key's ARN, for `kms_key_id` inputs.
pub(crate) fn key_arn(key: &Key) -> Value {
    r(&key.key, "arn")
}
