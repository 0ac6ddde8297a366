//! awssim's Lambda behaviour against LocalStack, through the real SDK: a role too new to
//! assume, a VPC function `Pending` while its interfaces are made, conflicting updates,
//! and the interfaces that linger after delete, visible and blocking their subnet and
//! security group.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Filter;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime, State, VpcConfig};
use common::{code, eventually, quiet_model, sim, unique};

const WAIT: Duration = Duration::from_secs(30);

fn handler_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("handler.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"def handler(event, context):\n    return 'ok'\n")
        .unwrap();
    zip.finish().unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vpc_function_is_pending_then_its_interfaces_linger_after_delete() {
    let mut model = quiet_model();
    model.consistency.ec2_read_after_create_s = 0.0;
    model.consistency.role_assumable_s = 50.0; // 1 s at this scale
    model.lambda.eni_linger_s = 100.0; // 2 s
    let sim = sim(model, 0.02);
    let config = common::sdk(&sim.endpoint(), 1).await;
    let (ec2, iam, lambda) = (
        aws_sdk_ec2::Client::new(&config),
        aws_sdk_iam::Client::new(&config),
        aws_sdk_lambda::Client::new(&config),
    );
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.78.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .and_then(|v| v.vpc_id)
        .unwrap();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.78.1.0/24")
        .send()
        .await
        .unwrap()
        .subnet
        .and_then(|s| s.subnet_id)
        .unwrap();
    let group = ec2
        .create_security_group()
        .vpc_id(&vpc)
        .group_name(unique("awssim-fn-sg"))
        .description("awssim lambda test")
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let name = unique("awssim-fn");
    let role = iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    let role_made = Instant::now();
    let create = || {
        lambda
            .create_function()
            .function_name(&name)
            .runtime(Runtime::Python312)
            .handler("handler.handler")
            .role(&role)
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(handler_zip()))
                    .build(),
            )
            .vpc_config(
                VpcConfig::builder()
                    .subnet_ids(&subnet)
                    .security_group_ids(&group)
                    .build(),
            )
            .send()
    };
    let err = create().await.expect_err("the role is too new");
    assert_eq!(code(&err), "InvalidParameterValueException");
    assert!(
        format!("{err:?}").contains("cannot be assumed by Lambda"),
        "{err:?}"
    );
    let created = eventually("CreateFunction", WAIT, || async { create().await.ok() }).await;
    assert!(role_made.elapsed() >= sim.real(50.0).mul_f64(0.9));
    assert_eq!(created.state(), Some(&State::Pending));
    let pending_since = Instant::now();
    let state = |lambda: aws_sdk_lambda::Client, name: String| async move {
        lambda
            .get_function()
            .function_name(name)
            .send()
            .await
            .unwrap()
            .configuration
            .and_then(|c| c.state)
    };
    assert_eq!(
        state(lambda.clone(), name.clone()).await,
        Some(State::Pending)
    );
    let err = lambda
        .update_function_configuration()
        .function_name(&name)
        .description("changed")
        .send()
        .await
        .expect_err("no update while Pending");
    assert_eq!(code(&err), "ResourceConflictException");
    eventually("function Active", WAIT, || async {
        (state(lambda.clone(), name.clone()).await == Some(State::Active)).then_some(())
    })
    .await;
    assert!(pending_since.elapsed() >= sim.real(75.0).mul_f64(0.8));

    let interfaces = || async {
        ec2.describe_network_interfaces()
            .filters(Filter::builder().name("subnet-id").values(&subnet).build())
            .filters(
                Filter::builder()
                    .name("interface-type")
                    .values("lambda")
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .network_interfaces()
            .to_vec()
    };
    let found = interfaces().await;
    assert_eq!(found.len(), 1, "{found:?}");
    let eni = &found[0];
    assert!(
        eni.description()
            .unwrap()
            .starts_with(&format!("AWS Lambda VPC ENI-{name}")),
        "{eni:?}"
    );
    assert_eq!(eni.requester_managed(), Some(true));
    assert_eq!(eni.groups()[0].group_id(), Some(group.as_str()));

    lambda
        .delete_function()
        .function_name(&name)
        .send()
        .await
        .unwrap();
    let deleted = Instant::now();
    assert_eq!(interfaces().await.len(), 1, "the interface lingers");
    let err = ec2
        .delete_subnet()
        .subnet_id(&subnet)
        .send()
        .await
        .expect_err("the lingering interface holds the subnet");
    assert_eq!(code(&err), "DependencyViolation");
    let err = ec2
        .delete_security_group()
        .group_id(&group)
        .send()
        .await
        .expect_err("and the security group");
    assert_eq!(code(&err), "DependencyViolation");
    eventually("the subnet free", WAIT, || async {
        ec2.delete_subnet().subnet_id(&subnet).send().await.ok()
    })
    .await;
    assert!(deleted.elapsed() >= sim.real(100.0).mul_f64(0.9));
    assert!(interfaces().await.is_empty());
    ec2.delete_security_group()
        .group_id(&group)
        .send()
        .await
        .expect("the security group free too");
    let stats = sim.stats();
    assert!(stats.refusals["lambda-role-propagation"] >= 1, "{stats:?}");
    assert_eq!(stats.refusals["lambda-pending-conflict"], 1, "{stats:?}");
    assert!(stats.rewrites["lambda-pending"] >= 2, "{stats:?}");
    assert!(stats.rewrites["lambda-interfaces"] >= 2, "{stats:?}");
}
