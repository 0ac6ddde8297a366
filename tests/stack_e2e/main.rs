//! End-to-end: the real `nova` binary brings the production stack up on LocalStack, and
//! the stack is checked item by item against the seed checklist
//! (`docs/checklist.md`) with the raw AWS SDK — never through nova's own state. Then the
//! instance count is scaled up and back down, and everything is destroyed and checked
//! gone by listing.
//!
//! Needs LocalStack (see docs/testbed.md). Stacks of other tests deployed meanwhile on the
//! same LocalStack share the API Gateway account's one CloudWatch role with this one.

#[path = "../common/mod.rs"]
mod common;

mod api;
mod instances;
mod kms;
mod lambda;
mod logs;
mod network;
mod nothing_left;
mod region;
mod security_groups;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::Filter;
use base64::Engine;
use common::awssim::{ci_scale, scenario_model, Realistic};
use common::nova::Stack;
use serde_json::Value as Json;

const CLOUDWATCH_AGENT_POLICY: &str = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy";
const APIGW_PUSH_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs";

/// Every output docs/stack.md names.
const DOCUMENTED_OUTPUTS: &[&str] = &[
    "vpc_id",
    "public_subnet_ids",
    "private_subnet_ids",
    "nat_gateway_ids",
    "web_security_group_id",
    "lambda_security_group_id",
    "instance_ids",
    "instance_role_arns",
    "kms_key_arn",
    "kms_alias",
    "api_invoke_url",
    "health_function_arn",
    "log_group_names",
    "schedule_rule_arn",
];

/// The raw SDK clients the checks use.
struct Aws {
    region: String,
    ec2: aws_sdk_ec2::Client,
    iam: aws_sdk_iam::Client,
    kms: aws_sdk_kms::Client,
    lambda: aws_sdk_lambda::Client,
    apigw: aws_sdk_apigateway::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    events: aws_sdk_eventbridge::Client,
}

impl Aws {
    async fn new() -> Aws {
        let config = common::sdk_config().await;
        Aws {
            region: config.region().expect("region").to_string(),
            ec2: aws_sdk_ec2::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            kms: aws_sdk_kms::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            apigw: aws_sdk_apigateway::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
        }
    }
}

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

fn stack_filter(stack: &str) -> Filter {
    filter("tag:nova:stack", &[stack])
}

fn out_str<'a>(outputs: &'a Json, name: &str) -> &'a str {
    outputs[name]
        .as_str()
        .unwrap_or_else(|| panic!("output {name} is not a string: {}", outputs[name]))
}

fn out_list(outputs: &Json, name: &str) -> Vec<String> {
    outputs[name]
        .as_array()
        .unwrap_or_else(|| panic!("output {name} is not a list: {}", outputs[name]))
        .iter()
        .map(|v| v.as_str().expect("string item").to_string())
        .collect()
}

/// Asserts the tags carry `Environment=Production` and this stack's ownership tag.
fn assert_tagged<K: AsRef<str>, V: AsRef<str>>(
    what: &str,
    stack: &str,
    tags: impl IntoIterator<Item = (K, V)>,
) {
    let tags: BTreeMap<String, String> = tags
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    assert_eq!(
        tags.get("Environment").map(String::as_str),
        Some("Production"),
        "{what}: Environment tag, tags {tags:?}"
    );
    assert_eq!(
        tags.get("nova:stack").map(String::as_str),
        Some(stack),
        "{what}: nova:stack tag, tags {tags:?}"
    );
}

/// True when EC2 tags carry `nova:stack = stack`.
fn owned_by(tags: &[aws_sdk_ec2::types::Tag], stack: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some("nova:stack") && t.value() == Some(stack))
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// IAM returns policy documents URL-encoded (LocalStack sometimes does not).
fn policy_json(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|_| {
        let decoded = percent_decode(text);
        serde_json::from_str(&decoded)
            .unwrap_or_else(|e| panic!("policy is not JSON ({e}): {decoded}"))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 policy")
}

/// Every action a policy statement allows, flattened.
fn allowed_actions(policy: &Json) -> BTreeSet<String> {
    let statements = match &policy["Statement"] {
        Json::Array(list) => list.clone(),
        other => vec![other.clone()],
    };
    let mut actions = BTreeSet::new();
    for s in statements.iter().filter(|s| s["Effect"] == "Allow") {
        match &s["Action"] {
            Json::String(a) => {
                actions.insert(a.clone());
            }
            Json::Array(list) => {
                actions.extend(list.iter().filter_map(|a| a.as_str()).map(str::to_string))
            }
            _ => {}
        }
    }
    actions
}

/// True when a statement's principal is open to anyone (`"*"` or `{"AWS": "*"}`).
fn open_principal(principal: &Json) -> bool {
    match principal {
        Json::String(s) => s == "*",
        Json::Object(map) => map.values().any(|v| match v {
            Json::String(s) => s == "*",
            Json::Array(list) => list.iter().any(|x| x == "*"),
            _ => false,
        }),
        _ => false,
    }
}

async fn role_managed_policies(aws: &Aws, role: &str) -> BTreeSet<String> {
    aws.iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("ListAttachedRolePolicies")
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect()
}

async fn role_tags(aws: &Aws, role: &str) -> Vec<(String, String)> {
    aws.iam
        .list_role_tags()
        .role_name(role)
        .send()
        .await
        .expect("ListRoleTags")
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

fn role_name_of(arn: &str) -> &str {
    arn.rsplit('/').next().expect("role ARN has a name")
}

fn assert_region(what: &str, arn: &str, region: &str) {
    assert!(
        arn.split(':').nth(3) == Some(region),
        "{what} {arn} is not in {region}"
    );
}

/// The account's one shared API Gateway CloudWatch role (`nova-apigw-cloudwatch-<region>`).
const SHARED_APIGW_ROLE: &str = "nova-apigw-cloudwatch-us-east-1";

/// Checks, right after `nova up`, that the API Gateway account's CloudWatch role is the
/// shared one and that this stack is among its users (a `nova:user:<stack>` tag).
async fn assert_account_role_is_ours(aws: &Aws, stack: &Stack) {
    let account = aws.apigw.get_account().send().await.expect("GetAccount");
    let live = account.cloudwatch_role_arn().unwrap_or_default();
    assert!(
        live.ends_with(&format!(":role/{SHARED_APIGW_ROLE}")),
        "API Gateway account CloudWatch role is {live:?}, not the shared {SHARED_APIGW_ROLE}"
    );
    assert!(
        shared_role_users(aws).await.contains(&stack.name),
        "{SHARED_APIGW_ROLE} is not tagged as used by {}",
        stack.name
    );
}

/// The stacks that use the shared role (its `nova:user:<stack>` tags); empty when the
/// role does not exist.
async fn shared_role_users(aws: &Aws) -> BTreeSet<String> {
    match aws
        .iam
        .list_role_tags()
        .role_name(SHARED_APIGW_ROLE)
        .send()
        .await
    {
        Ok(out) => out
            .tags()
            .iter()
            .filter_map(|t| t.key().strip_prefix("nova:user:"))
            .map(str::to_string)
            .collect(),
        Err(e) if format!("{e:?}").contains("NoSuchEntity") => BTreeSet::new(),
        Err(e) => panic!("ListRoleTags {SHARED_APIGW_ROLE}: {e:?}"),
    }
}

/// The deployed stack as the area checks see it: its name and what `nova output` reports.
struct Deployed {
    name: String,
    prefix: String,
    outputs: Json,
    vpc_id: String,
    public_ids: Vec<String>,
    private_ids: Vec<String>,
    nat_ids: Vec<String>,
    web_sg: String,
    lambda_sg: String,
    instance_ids: Vec<String>,
    key_arn: String,
    function_arn: String,
    rule_arn: String,
}

impl Deployed {
    fn new(stack: &Stack) -> Deployed {
        let name = stack.name.clone();
        let prefix = format!("nova-{name}");
        let outputs = stack.outputs();
        let vpc_id = out_str(&outputs, "vpc_id").to_string();
        let public_ids = out_list(&outputs, "public_subnet_ids");
        let private_ids = out_list(&outputs, "private_subnet_ids");
        let nat_ids = out_list(&outputs, "nat_gateway_ids");
        let web_sg = out_str(&outputs, "web_security_group_id").to_string();
        let lambda_sg = out_str(&outputs, "lambda_security_group_id").to_string();
        let instance_ids = out_list(&outputs, "instance_ids");
        let key_arn = out_str(&outputs, "kms_key_arn").to_string();
        let function_arn = out_str(&outputs, "health_function_arn").to_string();
        let rule_arn = out_str(&outputs, "schedule_rule_arn").to_string();
        Deployed {
            name,
            prefix,
            outputs,
            vpc_id,
            public_ids,
            private_ids,
            nat_ids,
            web_sg,
            lambda_sg,
            instance_ids,
            key_arn,
            function_arn,
            rule_arn,
        }
    }
}

/// Every documented output is there and non-empty; the alias and instance count are the
/// configured ones.
fn check_outputs(d: &Deployed) {
    let (outputs, prefix, instance_ids) = (&d.outputs, &d.prefix, &d.instance_ids);
    for output in DOCUMENTED_OUTPUTS {
        match &outputs[*output] {
            Json::String(s) => assert!(!s.is_empty(), "output {output} is empty"),
            Json::Array(list) => {
                assert!(!list.is_empty(), "output {output} is an empty list");
                for item in list {
                    assert!(
                        item.as_str().is_some_and(|s| !s.is_empty()),
                        "output {output} has an empty item: {list:?}"
                    );
                }
            }
            other => panic!("output {output} is missing or not a string/list: {other}"),
        }
    }
    assert_eq!(out_str(outputs, "kms_alias"), format!("alias/{prefix}"));
    assert_eq!(instance_ids.len(), 2, "default instance_count is 2");
}

/// One deployment, then one check per checklist area (each area in its own module under
/// tests/stack_e2e/), then a clean plan, the destroy and the proof that nothing is left.
#[tokio::test(flavor = "multi_thread")]
async fn full_stack_meets_every_checklist_item() {
    full_stack(Stack::new("e2e-full")).await;
}

/// The same, with every call of nova going through awssim at CI's scale: AWS's latency,
/// slow NAT gateways, instances and VPC Lambdas, eventual consistency, throttling and
/// refusals during slow deletes. The checks still read straight from LocalStack.
#[tokio::test(flavor = "multi_thread")]
async fn full_stack_through_awssim_meets_every_checklist_item() {
    let mut model = scenario_model();
    // A NAT gateway pending long enough at CI's scale (15 s at 0.05) to show the progress
    // of a wait.
    model.nat_gateway.pending_s = model.nat_gateway.pending_s.max(15.0 / ci_scale());
    let sim = Realistic::start(model, ci_scale());
    let up = full_stack(Stack::through("e2e-sim", &sim.endpoint())).await;
    assert_progress_of_a_wait(&up);
    let stats = sim.sim.stats();
    eprintln!(
        "awssim: {} calls, throttled {:?}, refusals {:?}, rewrites {:?}",
        stats.calls, stats.throttled, stats.refusals, stats.rewrites
    );
    // The realistic parts were exercised, not bypassed.
    for rule in ["nat-gateway-pending", "instance-pending", "lambda-pending"] {
        assert!(stats.rewrites.contains_key(rule), "no {rule}: {stats:?}");
    }
    assert!(
        stats.refusals.contains_key("subnet-dependencies")
            || stats.refusals.contains_key("security-group-dependencies"),
        "destroy met no lingering Lambda interface: {stats:?}"
    );
}

/// Brings the stack up, checks every item, destroys it; `nova up`'s output.
async fn full_stack(mut stack: Stack) -> String {
    let aws = Aws::new().await;
    let up = stack.up();
    assert_account_role_is_ours(&aws, &stack).await;

    let d = Deployed::new(&stack);
    let name = d.name.clone();
    check_outputs(&d);
    region::check(&aws, &d).await;
    network::check(&aws, &d).await;
    security_groups::check(&aws, &d).await;
    instances::check(&aws, &d).await;
    let key_id = kms::check(&aws, &d).await;
    let (execution_log_group, access_log_arn) = logs::check(&aws, &d).await;
    api::check(&aws, &d, &execution_log_group, &access_log_arn).await;
    lambda::check(&aws, &d).await;

    // --- Nothing left to do. ---
    stack.assert_plan_clean();

    // --- Destroy, then list: nothing of the stack is left. ---
    stack.destroy();
    nothing_left::check(&aws, &name, &key_id, &execution_log_group).await;
    // The stack no longer uses the shared role; the role stays while other stacks on
    // this LocalStack use it, and the last one to leave deletes it.
    assert!(
        !shared_role_users(&aws).await.contains(&name),
        "{SHARED_APIGW_ROLE} still lists {name} as a user after destroy"
    );
    let list = stack.run(&["state", "list"]).expect_code(0);
    assert_eq!(list.stdout, "", "state list after destroy");
    let state = stack.state();
    assert_eq!(state["resources"], serde_json::json!([]), "{state}");
    assert_eq!(state["pending"], serde_json::json!([]), "{state}");
    up.stdout
}

/// The NAT gateway's wait (15 s or more) says what it waits for once, then one
/// `Still creating...` line per 10 s, not a line per poll.
fn assert_progress_of_a_wait(up: &str) {
    let nat = "aws_nat_gateway.main[0]: ";
    let lines: Vec<&str> = up.lines().filter(|l| l.starts_with(nat)).collect();
    let waiting: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains(": waiting for NAT gateway nat-"))
        .collect();
    assert_eq!(
        waiting.len(),
        1,
        "one note of the wait:\n{}",
        lines.join("\n")
    );
    let stills: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains(": Still creating... ["))
        .collect();
    assert!(!stills.is_empty(), "no Still line:\n{}", lines.join("\n"));
    for (n, line) in stills.iter().enumerate() {
        let elapsed = format!(
            "Still creating... [{}s elapsed] (waiting for NAT gateway nat-",
            (n + 1) * 10
        );
        assert!(
            line.contains(&elapsed),
            "{line:?} is not {elapsed:?}:\n{}",
            lines.join("\n")
        );
    }
    let done = lines
        .iter()
        .find(|l| l.contains("Creation complete after "))
        .expect("done");
    let secs: f64 = done
        .rsplit("after ")
        .next()
        .and_then(|s| s.trim_end_matches('s').parse().ok())
        .expect("seconds");
    // One per 10 s of the wait (the last may be missed by the half-second ticker when
    // the wait ends right after a multiple of 10 s).
    let due = (secs / 10.0) as usize;
    assert!(
        (due.saturating_sub(1)..=due).contains(&stills.len()),
        "{} Still lines for {secs}s:\n{}",
        stills.len(),
        lines.join("\n")
    );
}

/// The instances of `stack` that are not terminated (or terminating), by id.
async fn live_instances(aws: &Aws, stack: &str) -> BTreeSet<String> {
    let out = aws
        .ec2
        .describe_instances()
        .filters(stack_filter(stack))
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

/// The non-no-op changes of a plan document, as (address, action).
fn actions(plan: &Json) -> BTreeMap<String, String> {
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "no_op")
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_count_change() {
    let aws = Aws::new().await;
    let mut stack = Stack::new("e2e-scale");
    let name = stack.name.clone();
    stack.up();
    let two = live_instances(&aws, &name).await;
    assert_eq!(two.len(), 2, "instances after the first up: {two:?}");

    let three = [("NOVA_INSTANCE_COUNT", "3")];
    let plan = stack.plan_json(&three);
    // Exactly the third instance with its own role and profile. Nothing else changes: the
    // outputs (instance_ids, instance_role_arns) are not resources, and no existing
    // resource references the instances, roles or profiles by count.
    let expected: BTreeMap<String, String> = [
        "aws_iam_instance_profile.web[2]",
        "aws_iam_role.web[2]",
        "aws_instance.web[2]",
    ]
    .into_iter()
    .map(|a| (a.to_string(), "create".to_string()))
    .collect();
    assert_eq!(actions(&plan), expected, "plan for instance_count = 3");
    // (`change` may count a foreign reset of the account role, left out above.)
    for (field, count) in [("add", 3), ("destroy", 0), ("replace", 0)] {
        assert_eq!(plan["summary"][field], count, "summary {}", plan["summary"]);
    }

    stack.up_env(&three);
    let after_up = live_instances(&aws, &name).await;
    assert_eq!(
        after_up.len(),
        3,
        "instances after scaling to 3: {after_up:?}"
    );
    assert!(after_up.is_superset(&two), "the first two instances stay");
    let third: Vec<&String> = after_up.difference(&two).collect();
    let outputs = stack.outputs();
    assert_eq!(out_list(&outputs, "instance_ids").len(), 3);
    assert_eq!(out_list(&outputs, "instance_role_arns").len(), 3);
    let third_role = format!("nova-{name}-web-3");
    aws.iam
        .get_role()
        .role_name(&third_role)
        .send()
        .await
        .expect("the third instance's role exists");

    // Back to the configured 2: exactly web[2] and its role and profile go.
    let plan = stack.plan_json(&[]);
    let expected: BTreeMap<String, String> = [
        "aws_iam_instance_profile.web[2]",
        "aws_iam_role.web[2]",
        "aws_instance.web[2]",
    ]
    .into_iter()
    .map(|a| (a.to_string(), "delete".to_string()))
    .collect();
    assert_eq!(actions(&plan), expected, "plan back to instance_count = 2");
    stack.up();
    let back = live_instances(&aws, &name).await;
    assert_eq!(
        back, two,
        "back to the first two instances (removed {third:?})"
    );
    let role = aws.iam.get_role().role_name(&third_role).send().await;
    assert!(role.is_err(), "role {third_role} deleted");
    let profile = aws
        .iam
        .get_instance_profile()
        .instance_profile_name(&third_role)
        .send()
        .await;
    assert!(profile.is_err(), "profile {third_role} deleted");
    stack.assert_plan_clean();
    stack.destroy();
    assert!(live_instances(&aws, &name).await.is_empty());
}
