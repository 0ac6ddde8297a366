//! Smoke test of the test bed: LocalStack is reachable and the SDK, pointed
//! at it by `common::sdk_config`, gets LocalStack's account id back.

mod common;

#[tokio::test]
async fn sts_get_caller_identity_returns_localstack_account() {
    let config = common::sdk_config().await;
    let sts = aws_sdk_sts::Client::new(&config);
    let identity = sts
        .get_caller_identity()
        .send()
        .await
        .expect("STS GetCallerIdentity against LocalStack");
    assert_eq!(identity.account(), Some(common::ACCOUNT_ID));
}

#[test]
fn unique_stack_names_are_short_valid_and_distinct() {
    let mut seen = std::collections::HashSet::new();
    for prefix in ["t", "smoke", "A Very_Long  Prefix Name", "vpc-", "x--y"] {
        for _ in 0..50 {
            let name = common::unique_stack(prefix);
            assert!(name.len() <= 20, "{name} is longer than 20");
            assert!(
                name.starts_with(|c: char| c.is_ascii_lowercase()),
                "{name} does not start with a letter"
            );
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name} has a character outside [a-z0-9-]"
            );
            assert!(!name.contains("--"), "{name} has a double hyphen");
            assert!(!name.ends_with('-'), "{name} ends with a hyphen");
            assert!(seen.insert(name.clone()), "duplicate name {name}");
        }
    }
}
