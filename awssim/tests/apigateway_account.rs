//! awssim's API Gateway account rule against LocalStack: UpdateAccount with a CloudWatch
//! role IAM has not propagated yet is refused until it has. (The account setting is
//! account-wide: this binary runs in the nextest `account-singleton` group and puts the
//! previous value back.)

mod common;

use std::time::{Duration, Instant};

use aws_sdk_apigateway::types::{Op, PatchOperation};
use common::{code, eventually, quiet_model, sim, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_account_waits_for_the_role_to_propagate() {
    let sim = sim(quiet_model(), 0.1);
    let config = common::sdk(&sim.endpoint(), 1).await;
    let (iam, apigw) = (
        aws_sdk_iam::Client::new(&config),
        aws_sdk_apigateway::Client::new(&config),
    );
    let before = apigw
        .get_account()
        .send()
        .await
        .unwrap()
        .cloudwatch_role_arn;
    let role = iam
        .create_role()
        .role_name(unique("awssim-apigw"))
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    let made = Instant::now();
    let set = |arn: String| {
        apigw
            .update_account()
            .patch_operations(
                PatchOperation::builder()
                    .op(Op::Replace)
                    .path("/cloudwatchRoleArn")
                    .value(arn)
                    .build(),
            )
            .send()
    };
    let err = set(role.clone()).await.expect_err("the role is too new");
    assert_eq!(code(&err), "BadRequestException");
    // UpdateAccount is also throttled to 1 per 20 s (2 s here): retry until both allow it.
    eventually("UpdateAccount", Duration::from_secs(30), || async {
        set(role.clone()).await.ok()
    })
    .await;
    assert!(
        made.elapsed()
            >= sim
                .real(sim.model().consistency.apigateway_role_s)
                .mul_f64(0.9)
    );
    assert!(sim.stats().refusals["apigateway-role-propagation"] >= 1);
    let direct = aws_sdk_apigateway::Client::new(&common::sdk(&common::localstack(), 1).await);
    direct
        .update_account()
        .patch_operations(
            PatchOperation::builder()
                .op(Op::Replace)
                .path("/cloudwatchRoleArn")
                .value(before.unwrap_or_default())
                .build(),
        )
        .send()
        .await
        .unwrap();
}
