//! Checklist 1: the region (us-east-1) of the client and of the ARNs nova reports.

use super::*;

pub async fn check(aws: &Aws, d: &Deployed) {
    let key_arn = d.key_arn.clone();
    let function_arn = d.function_arn.clone();
    let rule_arn = d.rule_arn.clone();
    let outputs = d.outputs.clone();
    assert_eq!(aws.region, "us-east-1");
    for (what, arn) in [
        ("KMS key", &key_arn),
        ("function", &function_arn),
        ("rule", &rule_arn),
    ] {
        assert_region(what, arn, "us-east-1");
    }
    assert!(
        out_str(&outputs, "api_invoke_url").contains(".us-east-1."),
        "invoke URL {}",
        out_str(&outputs, "api_invoke_url")
    );
}
