//! awssim's latency, throttling and faults against LocalStack, through the real SDK: each
//! service's own throttling error, faults that never reach LocalStack and answers lost
//! after it made the change (counted straight from LocalStack), seeded reproducibility,
//! and the stats and faults endpoints.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_sdk_ec2::Client;
use awssim::{FaultKind, Faults, Model};
use common::{code, quiet_model, sdk, sim, unique};

fn faults(
    rate: f64,
    lost_share: f64,
    kinds: &[FaultKind],
    lost: &[FaultKind],
    seed: u64,
) -> Faults {
    Faults {
        rate,
        lost_share,
        kinds: kinds.to_vec(),
        lost_kinds: lost.to_vec(),
        seed,
        source: String::new(),
    }
}

fn vpc_tagged(value: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(ResourceType::Vpc)
        .tags(Tag::builder().key("awssim-test").value(value).build())
        .build()
}

/// VPCs carrying `awssim-test = value`, counted straight from LocalStack.
async fn vpcs_tagged(value: &str) -> usize {
    let direct = Client::new(&sdk(&common::localstack(), 1).await);
    direct
        .describe_vpcs()
        .filters(
            Filter::builder()
                .name("tag:awssim-test")
                .values(value)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .vpcs()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_take_the_model_latency_scaled() {
    let mut model = Model::builtin();
    model.latency.median_ms = 400.0;
    model.latency.p95_ms = 410.0;
    let slow = sim(model.clone(), 1.0);
    let fast = sim(model, 0.01);
    // STS GetCallerIdentity: LocalStack answers it at once, whatever else it holds.
    let time = |endpoint: String| async move {
        let sts = aws_sdk_sts::Client::new(&sdk(&endpoint, 1).await);
        let start = Instant::now();
        for _ in 0..5 {
            sts.get_caller_identity().send().await.unwrap();
        }
        start.elapsed()
    };
    let at_aws = time(slow.endpoint()).await;
    let scaled = time(fast.endpoint()).await;
    // The model adds at least 5 x ~0.4 s at scale 1 and 5 x ~4 ms at scale 0.01.
    assert!(at_aws >= Duration::from_millis(5 * 360), "{at_aws:?}");
    assert!(
        at_aws.saturating_sub(scaled) >= Duration::from_millis(1500),
        "scale 0.01: {scaled:?}, scale 1: {at_aws:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_throttles_with_its_own_error() {
    let mut model = quiet_model();
    let describe = model
        .throttle
        .iter_mut()
        .find(|b| b.name == "ec2-non-mutating")
        .unwrap();
    // Refilled so slowly that however long the calls take, the fourth finds it empty.
    describe.burst = 3.0;
    describe.per_second = 0.001;
    let sim = sim(model, 1.0);
    let config = sdk(&sim.endpoint(), 1).await;

    let ec2 = Client::new(&config);
    for _ in 0..3 {
        ec2.describe_vpcs().send().await.expect("within the burst");
    }
    let err = ec2.describe_vpcs().send().await.expect_err("bucket empty");
    assert_eq!(code(&err), "RequestLimitExceeded");

    let kms = aws_sdk_kms::Client::new(&config);
    let mut keys = Vec::new();
    let mut throttled = None;
    for _ in 0..6 {
        match kms.create_key().send().await {
            Ok(out) => keys.extend(out.key_metadata.map(|k| k.key_id)),
            Err(e) => throttled = Some(code(&e)),
        }
    }
    assert_eq!(keys.len(), 5, "CreateKey: 5 per second");
    assert_eq!(throttled.as_deref(), Some("ThrottlingException"));
    let direct_kms = aws_sdk_kms::Client::new(&sdk(&common::localstack(), 1).await);
    for key in keys {
        direct_kms
            .schedule_key_deletion()
            .key_id(key)
            .pending_window_in_days(7)
            .send()
            .await
            .unwrap();
    }

    let apigw = aws_sdk_apigateway::Client::new(&config);
    let first = apigw
        .create_rest_api()
        .name(unique("awssim-api"))
        .send()
        .await
        .expect("first CreateRestApi");
    let err = apigw
        .create_rest_api()
        .name(unique("awssim-api"))
        .send()
        .await
        .expect_err("CreateRestApi: 1 per 3 s");
    assert_eq!(code(&err), "TooManyRequestsException");
    aws_sdk_apigateway::Client::new(&sdk(&common::localstack(), 1).await)
        .delete_rest_api()
        .rest_api_id(first.id.unwrap())
        .send()
        .await
        .unwrap();

    let stats = sim.stats();
    assert_eq!(stats.throttled["ec2-non-mutating"], 1, "{stats:?}");
    assert_eq!(stats.throttled["kms-create-key"], 1, "{stats:?}");
    assert_eq!(
        stats.throttled["apigateway-create-rest-api"], 1,
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_before_localstack_changes_nothing() {
    let sim = sim(quiet_model(), 1.0);
    sim.set_faults(faults(1.0, 0.0, &[FaultKind::InternalError], &[], 1))
        .unwrap();
    let ec2 = Client::new(&sdk(&sim.endpoint(), 1).await);
    let value = unique("before");
    let err = ec2
        .create_vpc()
        .cidr_block("10.75.0.0/16")
        .tag_specifications(vpc_tagged(&value))
        .send()
        .await
        .expect_err("faulted");
    assert_eq!(code(&err), "InternalError");
    assert_eq!(vpcs_tagged(&value).await, 0, "never reached LocalStack");
    assert_eq!(sim.stats().faults["before:500"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_leaves_the_change_made() {
    let sim = sim(quiet_model(), 1.0);
    let ec2 = Client::new(&sdk(&sim.endpoint(), 1).await);
    for (kind, name) in [
        (FaultKind::InternalError, "500"),
        (FaultKind::Reset, "reset"),
    ] {
        sim.set_faults(faults(1.0, 1.0, &[FaultKind::InternalError], &[kind], 1))
            .unwrap();
        let value = unique("lost");
        let err = ec2
            .create_vpc()
            .cidr_block("10.76.0.0/16")
            .tag_specifications(vpc_tagged(&value))
            .send()
            .await
            .expect_err("answer lost");
        match kind {
            FaultKind::InternalError => assert_eq!(code(&err), "InternalError"),
            _ => assert!(
                matches!(
                    err,
                    aws_sdk_ec2::error::SdkError::DispatchFailure(_)
                        | aws_sdk_ec2::error::SdkError::ResponseError(_)
                ),
                "a reset connection, not an answer: {err:?}"
            ),
        }
        assert_eq!(
            vpcs_tagged(&value).await,
            1,
            "LocalStack made the VPC ({name})"
        );
        assert_eq!(sim.stats().faults[&format!("lost:{name}")], 1);
    }
    // The SDK's retry of a lost CreateVpc makes a second VPC, as on AWS.
    sim.set_faults(faults(0.0, 0.0, &[], &[], 1)).unwrap();
    let value = unique("retried");
    let sim_once = common::sim(quiet_model(), 1.0);
    sim_once
        .set_faults(faults(1.0, 1.0, &[], &[FaultKind::InternalError], 1))
        .unwrap();
    let retrying = Client::new(&sdk(&sim_once.endpoint(), 2).await);
    let _ = retrying
        .create_vpc()
        .cidr_block("10.77.0.0/16")
        .tag_specifications(vpc_tagged(&value))
        .send()
        .await;
    assert_eq!(vpcs_tagged(&value).await, 2, "two attempts, two VPCs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_reproducible_from_the_seed_and_the_sdk_retries_them() {
    let outcomes = |seed: u64| async move {
        let sim = sim(quiet_model(), 1.0);
        sim.set_faults(faults(
            0.3,
            0.5,
            &[
                FaultKind::InternalError,
                FaultKind::Unavailable,
                FaultKind::Throttle,
            ],
            &[FaultKind::InternalError, FaultKind::Reset],
            seed,
        ))
        .unwrap();
        let ec2 = Client::new(&sdk(&sim.endpoint(), 1).await);
        let mut seen = Vec::new();
        for _ in 0..40 {
            seen.push(ec2.describe_vpcs().send().await.is_ok());
        }
        (seen, sim.stats())
    };
    let (a, stats) = outcomes(5).await;
    let (b, _) = outcomes(5).await;
    let (c, _) = outcomes(6).await;
    assert_eq!(a, b, "same seed, same faults");
    assert_ne!(a, c, "another seed, other faults");
    let failed = a.iter().filter(|ok| !**ok).count();
    assert!(
        (4..=22).contains(&failed),
        "{failed} of 40 faulted at rate 0.3"
    );
    assert_eq!(stats::total(&stats.faults), failed as u64);

    let sim = sim(quiet_model(), 1.0);
    sim.set_faults(faults(
        0.3,
        0.5,
        &[FaultKind::InternalError, FaultKind::Throttle],
        &[FaultKind::Reset],
        7,
    ))
    .unwrap();
    let ec2 = Client::new(&sdk(&sim.endpoint(), 8).await);
    for _ in 0..20 {
        ec2.describe_vpcs()
            .send()
            .await
            .expect("the SDK retries transient faults");
    }
    assert!(stats::total(&sim.stats().faults) > 0);
}

mod stats {
    pub fn total(map: &std::collections::BTreeMap<String, u64>) -> u64 {
        awssim::Stats::total(map)
    }
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .arg("-fsS")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_faults_over_http() {
    let sim = sim(quiet_model(), 1.0);
    let ec2 = Client::new(&sdk(&sim.endpoint(), 1).await);
    ec2.describe_vpcs().send().await.unwrap();
    ec2.describe_subnets().send().await.unwrap();
    let stats: awssim::Stats =
        serde_json::from_str(&curl(&[&format!("{}/_awssim/stats", sim.endpoint())])).unwrap();
    assert_eq!(stats.calls, 2);
    assert_eq!(stats.calls_of("ec2:DescribeVpcs"), 1);
    assert_eq!(stats.calls_of("ec2:DescribeSubnets"), 1);
    let body = r#"{"rate":1.0,"lost_share":0.0,"kinds":["503"],"lost_kinds":["reset"],"seed":9}"#;
    curl(&[
        "-X",
        "PUT",
        "-d",
        body,
        &format!("{}/_awssim/faults", sim.endpoint()),
    ]);
    let err = ec2.describe_vpcs().send().await.expect_err("faults on");
    assert_eq!(code(&err), "Unavailable");
    let refused = Command::new("curl")
        .args(["-fsS", "-X", "PUT", "-d", r#"{"rate":2}"#])
        .arg(format!("{}/_awssim/faults", sim.endpoint()))
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "an invalid faults object is refused"
    );
    curl(&[
        "-X",
        "POST",
        &format!("{}/_awssim/stats/reset", sim.endpoint()),
    ]);
    assert_eq!(sim.stats().calls, 0);
}
