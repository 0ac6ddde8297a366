//! End-to-end: what nova does when AWS or its state file is not what it last left —
//! a resource deleted behind its back, tags changed out of band, a create whose result
//! was never recorded (a crash), and a broken config or state file (refused before any
//! AWS call, which a counting stand-in endpoint shows). Runs the real `nova` binary against LocalStack and checks AWS with the
//! raw SDK.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, Tag};
use common::nova::Stack;
use serde_json::{json, Value as Json};

/// The non-no-op changes of a plan document, by address.
fn changes(plan: &Json) -> BTreeMap<String, Json> {
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "no_op")
        .map(|c| (c["address"].as_str().unwrap().to_string(), c.clone()))
        .collect()
}

fn action(change: &Json) -> &str {
    change["action"].as_str().expect("action")
}

/// The state's resource entry at `address`.
fn state_resource(state: &Json, address: &str) -> Json {
    state["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("{address} not in the state"))
        .clone()
}

async fn ec2() -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&common::sdk_config().await)
}

fn ec2_tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_out_of_band_is_recreated() {
    let config = common::sdk_config().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let apigw = aws_sdk_apigateway::Client::new(&config);
    let mut stack = Stack::new("e2e-gone");
    stack.up();
    let group = format!("/aws/apigateway/nova-{}-access", stack.name);
    let address = "aws_cloudwatch_log_group.api_access";

    logs.delete_log_group()
        .log_group_name(&group)
        .send()
        .await
        .expect("DeleteLogGroup behind nova's back");

    let plan = stack.plan_json(&[]);
    let changed = changes(&plan);
    let gone = changed
        .get(address)
        .unwrap_or_else(|| panic!("{address} not in the plan: {changed:?}"));
    assert_eq!(action(gone), "create", "{gone}");
    let reasons = gone["reasons"].to_string();
    assert!(
        reasons.contains("deleted outside nova"),
        "reason for {address}: {reasons}"
    );
    // The group is made again under the same name, so its ARN is the same; but the ARN
    // is only known after the create, so the stage that logs to it is planned as an
    // update of that one field (the apply then finds the resolved value unchanged and
    // makes no call). Nothing else changes.
    let actions: BTreeMap<&str, &str> = changed
        .iter()
        .map(|(a, c)| (a.as_str(), action(c)))
        .collect();
    assert_eq!(
        actions,
        BTreeMap::from([
            (address, "create"),
            ("aws_api_gateway_stage.prod", "update")
        ]),
        "plan after the out-of-band delete"
    );
    let stage = &changed["aws_api_gateway_stage.prod"];
    let fields: Vec<&str> = stage["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["access_log_destination_arn"], "{stage}");

    stack.up();
    let found = logs
        .describe_log_groups()
        .log_group_name_prefix(&group)
        .send()
        .await
        .expect("DescribeLogGroups");
    let recreated = found
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(group.as_str()))
        .unwrap_or_else(|| panic!("log group {group} was not recreated"));
    let key_arn = stack.outputs()["kms_key_arn"]
        .as_str()
        .expect("kms_key_arn")
        .to_string();
    assert_eq!(
        recreated.kms_key_id(),
        Some(key_arn.as_str()),
        "the recreated group is encrypted with the stack key"
    );
    let api_id = state_resource(&stack.state(), "aws_api_gateway_rest_api.main")["id"]
        .as_str()
        .expect("api id")
        .to_string();
    let stage = apigw
        .get_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .expect("GetStage");
    assert_eq!(
        stage
            .access_log_settings()
            .and_then(|s| s.destination_arn())
            .map(|a| a.trim_end_matches(":*")),
        recreated.arn().map(|a| a.trim_end_matches(":*")),
        "the stage still logs to the (recreated) group"
    );
    stack.assert_plan_clean();
    stack.destroy();
}

#[tokio::test(flavor = "multi_thread")]
async fn tag_changed_out_of_band_is_updated_in_place() {
    let ec2 = ec2().await;
    let mut stack = Stack::new("e2e-tags");
    stack.up();
    let state = stack.state();
    let vpc_id = state_resource(&state, "aws_vpc.main")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sg_id = state_resource(&state, "aws_security_group.web")["id"]
        .as_str()
        .unwrap()
        .to_string();

    ec2.create_tags()
        .resources(&vpc_id)
        .tags(Tag::builder().key("Environment").value("Staging").build())
        .send()
        .await
        .expect("CreateTags on the VPC");
    ec2.delete_tags()
        .resources(&sg_id)
        .tags(Tag::builder().key("Name").build())
        .send()
        .await
        .expect("DeleteTags on the web SG");

    let plan = stack.plan_json(&[]);
    let changed = changes(&plan);
    assert_eq!(
        changed.keys().map(String::as_str).collect::<Vec<_>>(),
        ["aws_security_group.web", "aws_vpc.main"],
        "exactly the two drifted resources change"
    );
    for (address, change) in &changed {
        assert_eq!(
            action(change),
            "update",
            "{address} updated in place: {change}"
        );
        let diffs = change["diffs"].as_array().unwrap();
        assert_eq!(diffs.len(), 1, "{address}: only tags differ: {diffs:?}");
        assert_eq!(diffs[0]["field"], "tags");
        assert_eq!(diffs[0]["forces_replacement"], false);
    }
    let vpc_diff = &changed["aws_vpc.main"]["diffs"][0];
    assert_eq!(vpc_diff["before"]["Environment"], "Staging");
    assert_eq!(vpc_diff["after"]["Environment"], "Production");
    let sg_diff = &changed["aws_security_group.web"]["diffs"][0];
    assert_eq!(sg_diff["before"]["Name"], Json::Null);
    assert_eq!(
        sg_diff["after"]["Name"],
        format!("nova-{}-web", stack.name).as_str()
    );

    stack.up();
    let vpc = ec2
        .describe_vpcs()
        .vpc_ids(&vpc_id)
        .send()
        .await
        .expect("DescribeVpcs");
    let vpc_tags = ec2_tag_map(vpc.vpcs()[0].tags());
    assert_eq!(
        vpc_tags.get("Environment").map(String::as_str),
        Some("Production"),
        "VPC Environment tag restored: {vpc_tags:?}"
    );
    let groups = ec2
        .describe_security_groups()
        .group_ids(&sg_id)
        .send()
        .await
        .expect("DescribeSecurityGroups");
    let sg_tags = ec2_tag_map(groups.security_groups()[0].tags());
    assert_eq!(
        sg_tags.get("Name"),
        Some(&format!("nova-{}-web", stack.name)),
        "web SG Name tag restored: {sg_tags:?}"
    );
    // Same objects (updated in place, not replaced).
    let state = stack.state();
    assert_eq!(
        state_resource(&state, "aws_vpc.main")["id"],
        vpc_id.as_str()
    );
    assert_eq!(
        state_resource(&state, "aws_security_group.web")["id"],
        sg_id.as_str()
    );
    stack.assert_plan_clean();
    stack.destroy();
}

/// The stack's instances that are not terminated (or terminating).
async fn live_instances(ec2: &aws_sdk_ec2::Client, stack: &str) -> BTreeSet<String> {
    let out = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:nova:stack")
                .values(stack)
                .build(),
        )
        .send()
        .await
        .expect("DescribeInstances");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| {
            !matches!(
                i.state().and_then(|s| s.name()).map(|n| n.as_str()),
                Some("terminated" | "shutting-down")
            )
        })
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_create_is_adopted_not_duplicated() {
    let ec2 = ec2().await;
    let mut stack = Stack::new("e2e-crash");
    stack.up();
    let address = "aws_instance.web[1]";

    // Make the state file look as it does when nova dies after RunInstances returned but
    // before the result was recorded: the instance exists in AWS, and the state holds
    // only the pending create (docs/state-format.md), with the idempotency token that
    // RunInstances was given. nova tags each instance with that token; a pending create
    // with another token is another attempt, and its object is not adopted. Nothing
    // depends on web[1].
    let mut state = stack.state();
    let entry = state_resource(&state, address);
    let instance_id = entry["id"].as_str().unwrap().to_string();
    let described = ec2
        .describe_instances()
        .instance_ids(&instance_id)
        .send()
        .await
        .expect("DescribeInstances");
    let client_token = ec2_tag_map(described.reservations()[0].instances()[0].tags())
        .remove("nova:client-token")
        .expect("the instance carries nova's client token tag");
    let resources = state["resources"].as_array_mut().unwrap();
    resources.retain(|r| r["address"] != address);
    assert!(
        resources.iter().all(|r| !r["dependencies"]
            .as_array()
            .unwrap()
            .contains(&json!(address))),
        "nothing may depend on {address}"
    );
    state["pending"] = json!([{
        "address": address,
        "kind": "aws_instance",
        "operation": "create",
        "inputs": entry["inputs"],
        "dependencies": entry["dependencies"],
        "client_token": client_token,
        "started_at": "2026-11-24T00:00:00Z",
    }]);
    std::fs::write(
        stack.state_path(),
        serde_json::to_string_pretty(&state).unwrap(),
    )
    .expect("write the crashed state");

    let before = live_instances(&ec2, &stack.name).await;
    assert_eq!(before.len(), 2, "instances before recovery: {before:?}");
    assert!(before.contains(&instance_id));

    let up = stack.up();
    let line = up
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{address}: pending create")))
        .unwrap_or_else(|| panic!("no recovery line for {address}:\n{}", up.stdout));
    assert!(
        line.contains("adopted") && line.contains(&instance_id),
        "recovery adopted {instance_id}: {line}"
    );
    assert!(
        up.stdout.contains("0 added"),
        "nothing was created after adoption:\n{}",
        up.stdout
    );

    let after = live_instances(&ec2, &stack.name).await;
    assert_eq!(after, before, "no duplicate instance");
    let state = stack.state();
    assert_eq!(state["pending"], json!([]), "pending cleared");
    assert_eq!(
        state_resource(&state, address)["id"],
        instance_id.as_str(),
        "{address} back in the state with its instance"
    );
    stack.assert_plan_clean();
    stack.destroy();
    assert!(live_instances(&ec2, &stack.name).await.is_empty());
}

/// A stand-in AWS endpoint that counts the connections made to it and answers each
/// request with `400 Bad Request` (not retried, so a run that calls AWS fails fast).
struct FakeAws {
    endpoint: String,
    connections: Arc<AtomicUsize>,
}

impl FakeAws {
    fn start() -> FakeAws {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        FakeAws {
            endpoint,
            connections,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Asserts a failed run's message is nova's own, not a failed AWS call.
fn assert_not_an_aws_error(stderr: &str) {
    for sign in [
        "dispatch failure",
        "cannot reach AWS",
        "AWS GetCallerIdentity",
    ] {
        assert!(
            !stderr.contains(sign),
            "an AWS call was attempted ({sign:?}):\n{stderr}"
        );
    }
}

#[test]
fn broken_config_or_state_is_refused_before_any_aws_call() {
    let aws = FakeAws::start();

    // The control: with a valid config and no state, nova does call AWS (the fake one
    // sees it), so the zero counts below mean something.
    let control = Stack::with_endpoint("e2e-ctl", &aws.endpoint);
    let run = control.run(&["plan"]).expect_code(1);
    assert!(
        aws.connections() >= 1,
        "control: nova made no AWS call:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("cannot reach AWS"),
        "control: expected nova's AWS error:\n{}",
        run.stderr
    );
    let calls_before = aws.connections();

    // A broken config value: refused naming the key and where it came from.
    let bad_config = Stack::with_endpoint("e2e-cfg", &aws.endpoint);
    let valid_state = json!({
        "version": 1,
        "lineage": "6f1c2b7e-4d0a-4c55-9a57-2f3e1d9b8a10",
        "serial": 3,
        "resources": [],
        "outputs": {},
        "pending": [],
    })
    .to_string();
    std::fs::write(bad_config.state_path(), &valid_state).unwrap();
    let run = bad_config
        .run_env(&[("NOVA_AZ_COUNT", "1")], &["plan"])
        .expect_code(1);
    assert!(
        run.stderr.contains("az_count") && run.stderr.contains("NOVA_AZ_COUNT"),
        "the error names the key and the variable:\n{}",
        run.stderr
    );
    assert_not_an_aws_error(&run.stderr);
    assert_eq!(
        aws.connections(),
        calls_before,
        "no AWS call on a bad config"
    );
    assert_eq!(
        std::fs::read_to_string(bad_config.state_path()).unwrap(),
        valid_state,
        "state file unchanged"
    );

    // A corrupt state file (a write cut short): refused naming the file.
    let bad_state = Stack::with_endpoint("e2e-st", &aws.endpoint);
    let corrupt = r#"{"version": 1, "lineage": "6f1c2b7e", "serial": 4, "resources": ["#;
    std::fs::write(bad_state.state_path(), corrupt).unwrap();
    let run = bad_state.run(&["plan"]).expect_code(1);
    let path = bad_state.state_path().display().to_string();
    assert!(
        run.stderr.contains(&path),
        "the error names the state file {path}:\n{}",
        run.stderr
    );
    assert_not_an_aws_error(&run.stderr);
    assert_eq!(
        aws.connections(),
        calls_before,
        "no AWS call on a bad state"
    );
    assert_eq!(
        std::fs::read_to_string(bad_state.state_path()).unwrap(),
        corrupt,
        "state file unchanged"
    );
    let lock = bad_state
        .state_dir()
        .join(format!("{}.lock", bad_state.name));
    assert!(!lock.exists(), "no lock left behind");
}
