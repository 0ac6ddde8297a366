//! Checklist 5: the KMS key (rotation, a policy without open principals) and its alias.

use super::*;

pub async fn check(aws: &Aws, d: &Deployed) -> String {
    let key_arn = d.key_arn.clone();
    let name = d.name.clone();
    let prefix = d.prefix.clone();
    let key = aws
        .kms
        .describe_key()
        .key_id(&key_arn)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("key metadata");
    let key_id = key.key_id().to_string();
    assert_eq!(
        key.key_state().map(|s| s.as_str()),
        Some("Enabled"),
        "key state"
    );
    let rotation = aws
        .kms
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .expect("GetKeyRotationStatus");
    assert!(rotation.key_rotation_enabled(), "key rotation enabled");
    let policy = aws
        .kms
        .get_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .send()
        .await
        .expect("GetKeyPolicy");
    let policy: Json = serde_json::from_str(policy.policy().expect("policy")).expect("JSON");
    let statements = policy["Statement"].as_array().expect("statements").clone();
    assert!(!statements.is_empty());
    for s in &statements {
        assert!(
            !open_principal(&s["Principal"]),
            "key policy statement with an open principal: {s}"
        );
    }
    let aliases = aws
        .kms
        .list_aliases()
        .key_id(&key_id)
        .send()
        .await
        .expect("ListAliases");
    assert!(
        aliases.aliases().iter().any(|a| a.alias_name()
            == Some(format!("alias/{prefix}").as_str())
            && a.target_key_id() == Some(key_id.as_str())),
        "alias/{prefix} targets the key: {:?}",
        aliases.aliases()
    );
    let key_tags = aws
        .kms
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .expect("ListResourceTags");
    assert_tagged(
        "KMS key",
        &name,
        key_tags.tags().iter().map(|t| (t.tag_key(), t.tag_value())),
    );

    key_id
}
