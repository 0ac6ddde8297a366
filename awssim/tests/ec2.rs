//! awssim's EC2 behaviour against LocalStack, through the real SDK: slow NAT gateways and
//! instances, what they block while they go away, instance profiles and ids not yet
//! visible, client tokens.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{
    Filter, IamInstanceProfileSpecification, InstanceStateName, InstanceType, NatGatewayState,
    ResourceType, Tag, TagSpecification,
};
use aws_sdk_ec2::Client;
use common::{code, eventually, quiet_model, sim, unique};

const WAIT: Duration = Duration::from_secs(30);

async fn ec2(endpoint: &str) -> Client {
    Client::new(&common::sdk(endpoint, 1).await)
}

/// A VPC and a subnet in it, made through `ec2`.
async fn network(ec2: &Client, cidr: &str) -> (String, String) {
    let vpc = ec2
        .create_vpc()
        .cidr_block(format!("{cidr}.0.0/16"))
        .send()
        .await
        .expect("CreateVpc")
        .vpc
        .and_then(|v| v.vpc_id)
        .expect("vpc id");
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block(format!("{cidr}.1.0/24"))
        .send()
        .await
        .expect("CreateSubnet")
        .subnet
        .and_then(|s| s.subnet_id)
        .expect("subnet id");
    (vpc, subnet)
}

async fn nat_state(ec2: &Client, id: &str) -> NatGatewayState {
    ec2.describe_nat_gateways()
        .nat_gateway_ids(id)
        .send()
        .await
        .expect("DescribeNatGateways")
        .nat_gateways()[0]
        .state()
        .cloned()
        .expect("a state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nat_gateway_takes_its_time_and_holds_its_address_and_the_gateway() {
    let mut model = quiet_model();
    model.consistency.ec2_read_after_create_s = 0.0;
    let sim = sim(model, 0.02);
    let ec2 = ec2(&sim.endpoint()).await;
    let (vpc, subnet) = network(&ec2, "10.71").await;
    let igw = ec2
        .create_internet_gateway()
        .send()
        .await
        .unwrap()
        .internet_gateway
        .and_then(|g| g.internet_gateway_id)
        .unwrap();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    let eip = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .unwrap()
        .allocation_id
        .unwrap();

    let created = Instant::now();
    let nat = ec2
        .create_nat_gateway()
        .subnet_id(&subnet)
        .allocation_id(&eip)
        .send()
        .await
        .expect("CreateNatGateway")
        .nat_gateway
        .unwrap();
    assert_eq!(
        nat.state(),
        Some(&NatGatewayState::Pending),
        "answered pending"
    );
    let id = nat.nat_gateway_id().unwrap().to_string();
    assert_eq!(nat_state(&ec2, &id).await, NatGatewayState::Pending);
    let err = ec2
        .release_address()
        .allocation_id(&eip)
        .send()
        .await
        .expect_err("the NAT gateway holds the address");
    assert_eq!(code(&err), "InvalidIPAddress.InUse");

    eventually("NAT gateway available", WAIT, || async {
        (nat_state(&ec2, &id).await == NatGatewayState::Available).then_some(())
    })
    .await;
    assert!(
        created.elapsed() >= sim.real(sim.model().nat_gateway.pending_s).mul_f64(0.9),
        "available after {:?}, the model says {:?}",
        created.elapsed(),
        sim.real(sim.model().nat_gateway.pending_s)
    );

    ec2.delete_nat_gateway()
        .nat_gateway_id(&id)
        .send()
        .await
        .expect("DeleteNatGateway");
    assert_eq!(nat_state(&ec2, &id).await, NatGatewayState::Deleting);
    let err = ec2
        .detach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .expect_err("mapped public addresses while the NAT gateway is deleting");
    assert_eq!(code(&err), "DependencyViolation");
    assert!(
        format!("{err:?}").contains("mapped public address"),
        "{err:?}"
    );
    let err = ec2
        .release_address()
        .allocation_id(&eip)
        .send()
        .await
        .expect_err("still held while deleting");
    assert_eq!(code(&err), "InvalidIPAddress.InUse");

    eventually("NAT gateway deleted", WAIT, || async {
        (nat_state(&ec2, &id).await == NatGatewayState::Deleted).then_some(())
    })
    .await;
    ec2.detach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .expect("detach once the NAT gateway is gone");
    ec2.release_address()
        .allocation_id(&eip)
        .send()
        .await
        .expect("release once the NAT gateway is gone");

    let stats = sim.stats();
    assert!(stats.rewrites["nat-gateway-pending"] >= 2, "{stats:?}");
    assert!(stats.rewrites["nat-gateway-deleting"] >= 1, "{stats:?}");
    assert_eq!(stats.refusals["eip-in-use-by-nat-gateway"], 2, "{stats:?}");
    assert_eq!(
        stats.refusals["igw-detach-mapped-addresses"], 1,
        "{stats:?}"
    );
}

async fn instance_state(ec2: &Client, id: &str) -> InstanceStateName {
    ec2.describe_instances()
        .instance_ids(id)
        .send()
        .await
        .expect("DescribeInstances")
        .reservations()[0]
        .instances()[0]
        .state()
        .and_then(|s| s.name())
        .cloned()
        .expect("a state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_start_pending_and_hold_their_subnet_and_group_while_shutting_down() {
    let mut model = quiet_model();
    model.consistency.ec2_read_after_create_s = 0.0;
    let sim = sim(model, 0.05);
    let ec2 = ec2(&sim.endpoint()).await;
    let (vpc, subnet) = network(&ec2, "10.72").await;
    let group = ec2
        .create_security_group()
        .vpc_id(&vpc)
        .group_name(unique("awssim-sg"))
        .description("awssim test")
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let launched = Instant::now();
    let run = ec2
        .run_instances()
        .image_id("ami-12345678")
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .subnet_id(&subnet)
        .security_group_ids(&group)
        .send()
        .await
        .expect("RunInstances");
    let instance = &run.instances()[0];
    assert_eq!(
        instance.state().and_then(|s| s.name()),
        Some(&InstanceStateName::Pending)
    );
    let id = instance.instance_id().unwrap().to_string();
    assert_eq!(instance_state(&ec2, &id).await, InstanceStateName::Pending);
    let running_only = ec2
        .describe_instances()
        .instance_ids(&id)
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        running_only.reservations().is_empty(),
        "a pending instance does not match a filter on running"
    );
    eventually("instance running", WAIT, || async {
        (instance_state(&ec2, &id).await == InstanceStateName::Running).then_some(())
    })
    .await;
    assert!(launched.elapsed() >= sim.real(sim.model().instance.pending_s).mul_f64(0.9));

    let err = ec2
        .delete_subnet()
        .subnet_id(&subnet)
        .send()
        .await
        .expect_err("a running instance holds its subnet");
    assert_eq!(code(&err), "DependencyViolation");

    let terminated = ec2
        .terminate_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        terminated.terminating_instances()[0]
            .current_state()
            .and_then(|s| s.name()),
        Some(&InstanceStateName::ShuttingDown)
    );
    assert_eq!(
        instance_state(&ec2, &id).await,
        InstanceStateName::ShuttingDown
    );
    let err = ec2
        .delete_security_group()
        .group_id(&group)
        .send()
        .await
        .expect_err("a shutting-down instance holds its security group");
    assert_eq!(code(&err), "DependencyViolation");
    assert!(
        format!("{err:?}").contains("has a dependent object"),
        "{err:?}"
    );
    let err = ec2
        .delete_subnet()
        .subnet_id(&subnet)
        .send()
        .await
        .expect_err("a shutting-down instance holds its subnet");
    assert_eq!(code(&err), "DependencyViolation");

    eventually("instance terminated", WAIT, || async {
        (instance_state(&ec2, &id).await == InstanceStateName::Terminated).then_some(())
    })
    .await;
    ec2.delete_security_group()
        .group_id(&group)
        .send()
        .await
        .expect("security group free once the instance is terminated");
    ec2.delete_subnet()
        .subnet_id(&subnet)
        .send()
        .await
        .expect("subnet free once the instance is terminated");
    let stats = sim.stats();
    assert!(stats.rewrites["instance-pending"] >= 2, "{stats:?}");
    assert!(stats.rewrites["instance-shutting-down"] >= 1, "{stats:?}");
    assert_eq!(stats.refusals["subnet-dependencies"], 2, "{stats:?}");
    assert_eq!(
        stats.refusals["security-group-dependencies"], 1,
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_instance_profile_is_not_usable_at_once() {
    let mut model = quiet_model();
    model.consistency.ec2_read_after_create_s = 0.0;
    let sim = sim(model, 0.1);
    let config = common::sdk(&sim.endpoint(), 1).await;
    let (ec2, iam) = (Client::new(&config), aws_sdk_iam::Client::new(&config));
    let (_, subnet) = network(&ec2, "10.73").await;
    let name = unique("awssim-profile");
    iam.create_role()
        .role_name(&name)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
    iam.create_instance_profile()
        .instance_profile_name(&name)
        .send()
        .await
        .unwrap();
    iam.add_role_to_instance_profile()
        .instance_profile_name(&name)
        .role_name(&name)
        .send()
        .await
        .unwrap();
    let added = Instant::now();
    let run = || {
        ec2.run_instances()
            .image_id("ami-12345678")
            .min_count(1)
            .max_count(1)
            .subnet_id(&subnet)
            .iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .name(&name)
                    .build(),
            )
            .send()
    };
    let err = run()
        .await
        .expect_err("IAM has not propagated the profile yet");
    assert_eq!(code(&err), "InvalidParameterValue");
    assert!(
        format!("{err:?}").contains("Invalid IAM Instance Profile name"),
        "{err:?}"
    );
    let id = eventually("RunInstances with the profile", WAIT, || async {
        run()
            .await
            .ok()
            .map(|out| out.instances()[0].instance_id().unwrap().to_string())
    })
    .await;
    assert!(
        added.elapsed()
            >= sim
                .real(sim.model().consistency.instance_profile_s)
                .mul_f64(0.9)
    );
    ec2.terminate_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    assert!(sim.stats().refusals["instance-profile-propagation"] >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_id_is_not_found_for_a_moment() {
    let mut model = quiet_model();
    model.consistency.ec2_read_after_create_s = 20.0;
    let sim = sim(model, 0.05);
    let ec2 = ec2(&sim.endpoint()).await;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.74.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .and_then(|v| v.vpc_id)
        .unwrap();
    let err = ec2
        .describe_vpcs()
        .vpc_ids(&vpc)
        .send()
        .await
        .expect_err("not visible yet");
    assert_eq!(code(&err), "InvalidVpcID.NotFound");
    eventually("the VPC visible", WAIT, || async {
        ec2.describe_vpcs().vpc_ids(&vpc).send().await.ok()
    })
    .await;
    assert!(sim.stats().refusals["ec2-read-after-create"] >= 1);
}

fn tagged(key: &str, value: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .tags(Tag::builder().key(key).value(value).build())
        .build()
}

async fn instances_tagged(ec2: &Client, value: &str) -> usize {
    ec2.describe_instances()
        .filters(
            Filter::builder()
                .name("tag:awssim-test")
                .values(value)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .map(|r| r.instances().len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_client_token_returns_the_first_answer() {
    let mut model = quiet_model();
    model.consistency.ec2_read_after_create_s = 0.0;
    let direct = ec2(&common::localstack()).await;
    let run = |ec2: Client, token: String, value: String, kind: InstanceType| async move {
        ec2.run_instances()
            .image_id("ami-12345678")
            .instance_type(kind)
            .min_count(1)
            .max_count(1)
            .client_token(token)
            .tag_specifications(tagged("awssim-test", &value))
            .send()
            .await
    };

    let sim_on = sim(model.clone(), 1.0);
    let through = ec2(&sim_on.endpoint()).await;
    let (token, value) = (unique("tok"), unique("tokens-on"));
    let first = run(
        through.clone(),
        token.clone(),
        value.clone(),
        InstanceType::T3Micro,
    )
    .await
    .expect("first RunInstances");
    let again = run(
        through.clone(),
        token.clone(),
        value.clone(),
        InstanceType::T3Micro,
    )
    .await
    .expect("repeated RunInstances");
    assert_eq!(
        first.instances()[0].instance_id(),
        again.instances()[0].instance_id()
    );
    assert_eq!(sim_on.stats().replays, 1);
    assert_eq!(
        instances_tagged(&direct, &value).await,
        1,
        "LocalStack holds one instance"
    );
    let err = run(through, token, value, InstanceType::T3Small)
        .await
        .expect_err("same token, other parameters");
    assert_eq!(code(&err), "IdempotentParameterMismatch");

    // Bare LocalStack's behaviour, for contrast: the same token twice makes two.
    let mut config = awssim::Config::new(&common::localstack());
    config.model = model;
    config.client_tokens = false;
    let sim_off = awssim::Sim::start(config).unwrap();
    let through = ec2(&sim_off.endpoint()).await;
    let (token, value) = (unique("tok"), unique("tokens-off"));
    for _ in 0..2 {
        run(
            through.clone(),
            token.clone(),
            value.clone(),
            InstanceType::T3Micro,
        )
        .await
        .expect("RunInstances");
    }
    assert_eq!(instances_tagged(&direct, &value).await, 2);
}

/// Sends one EC2 query call over a raw connection and, once awssim has had 50 ms to read
/// it, resets the connection (SO_LINGER 0) without reading the answer: a client killed
/// while its call is under way. (A reset at once would discard the unread request.)
fn send_and_reset(endpoint: &str, body: &str) {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket this function owns, with a correctly sized value.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_client_died_is_still_carried_out_and_remembered() {
    let mut model = quiet_model();
    model.consistency.ec2_read_after_create_s = 0.0;
    model.nat_gateway.pending_s = 0.0;
    model.nat_gateway.deleting_s = 20.0; // 2 s at this scale
    model.latency.action.push(awssim::model::ActionLatency {
        service: "ec2".into(),
        actions: vec!["DeleteNatGateway".into()],
        median_ms: 4000.0, // 0.2 s on the way there at this scale
        p95_ms: 4000.0,
        source: "test".into(),
    });
    let sim = sim(model, 0.1);
    let through = ec2(&sim.endpoint()).await;
    let (_, subnet) = network(&through, "10.79").await;
    let eip = through
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .unwrap()
        .allocation_id
        .unwrap();
    let nat = through
        .create_nat_gateway()
        .subnet_id(&subnet)
        .allocation_id(&eip)
        .send()
        .await
        .unwrap()
        .nat_gateway
        .and_then(|n| n.nat_gateway_id)
        .unwrap();

    send_and_reset(
        &sim.endpoint(),
        &format!("Action=DeleteNatGateway&Version=2016-11-15&NatGatewayId={nat}"),
    );
    let direct = ec2(&common::localstack()).await;
    eventually("LocalStack deleted the NAT gateway", WAIT, || async {
        (nat_state(&direct, &nat).await == NatGatewayState::Deleted).then_some(())
    })
    .await;
    // awssim knows it was deleted: the address is released once it is done deleting.
    eventually(
        "the address free once the NAT gateway is deleted",
        WAIT,
        || async {
            through
                .release_address()
                .allocation_id(&eip)
                .send()
                .await
                .ok()
        },
    )
    .await;
}
