//! Test fixture: the default production stack of docs/stack.md as a `Blueprint` (with
//! references between resources), its live counterpart (concrete ids, as providers read
//! them back), and helpers to break one item and see which rules fire.

use crate::provider::aws::kinds;
use std::collections::{BTreeMap, BTreeSet};

use super::{evaluate, Report, ResourceView, StackView};
use crate::model::{Address, Blueprint, Outputs, Reference, Resource, Value};

pub const STACK_REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "000000000000";
pub const ENVIRONMENT: &str = "Production";
const PROJECT: &str = "nova";
const STACK: &str = "production";
const P: &str = "nova-production";
const AZS: [&str; 2] = ["us-east-1a", "us-east-1b"];
const INSTANCE_COUNT: usize = 2;

pub fn addr(text: &str) -> Address {
    text.parse().expect("fixture address")
}

fn r(address: &Address, output: &str) -> Value {
    Value::reference(address, output)
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn tags(address: &Address, name: &str) -> Value {
    map(&[
        ("Environment", ENVIRONMENT.into()),
        ("ManagedBy", "nova".into()),
        ("Name", name.into()),
        ("Project", PROJECT.into()),
        ("nova:address", address.to_string().into()),
        ("nova:stack", STACK.into()),
    ])
}

/// A taggable resource named `<P>-<role>`.
fn tagged(address: &str, role: &str) -> Resource {
    let a = addr(address);
    let t = tags(&a, &format!("{P}-{role}"));
    Resource::new(a).with("tags", t)
}

fn sg_rule(protocol: &str, port: i64, cidr: &str) -> Value {
    map(&[
        ("protocol", protocol.into()),
        ("from_port", port.into()),
        ("to_port", port.into()),
        ("cidr_blocks", Value::list_of_strings([cidr])),
        ("description", format!("{protocol} {port}").into()),
    ])
}

fn trust(service: &str) -> Value {
    Value::str(format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"{service}"}},"Action":"sts:AssumeRole"}}]}}"#
    ))
}

fn key_policy() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
{{"Sid":"AccountRootAdministers","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
{{"Sid":"CloudWatchLogsUse","Effect":"Allow","Principal":{{"Service":"logs.{STACK_REGION}.amazonaws.com"}},"Action":["kms:Encrypt*","kms:Decrypt*","kms:ReEncrypt*","kms:GenerateDataKey*","kms:Describe*"],"Resource":"*","Condition":{{"ArnLike":{{"kms:EncryptionContext:aws:logs:arn":"arn:aws:logs:{STACK_REGION}:{ACCOUNT}:log-group:*"}}}}}},
{{"Sid":"EbsUseViaEc2","Effect":"Allow","Principal":{{"AWS":"*"}},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:DescribeKey"],"Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"ec2.{STACK_REGION}.amazonaws.com","kms:CallerAccount":"{ACCOUNT}"}}}}}}
]}}"#
    )
}

/// The health role's inline policy: its log group ARN is a reference inside the JSON.
fn health_policy(log_group: &Address) -> Value {
    Value::Concat(vec![
        Value::str(
            r#"{"Version":"2012-10-17","Statement":[
{"Sid":"Describe","Effect":"Allow","Action":["ec2:DescribeInstances","ec2:DescribeInstanceStatus"],"Resource":"*"},
{"Sid":"Metrics","Effect":"Allow","Action":"cloudwatch:PutMetricData","Resource":"*","Condition":{"StringEquals":{"cloudwatch:namespace":"Nova/Health"}}},
{"Sid":"Eni","Effect":"Allow","Action":["ec2:CreateNetworkInterface","ec2:DescribeNetworkInterfaces","ec2:DeleteNetworkInterface"],"Resource":"*"},
{"Sid":"Logs","Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents"],"Resource":""#,
        ),
        r(log_group, "arn"),
        Value::str(r#":*"}]}"#),
    ])
}

/// The default production stack (`az_count = 2`, `instance_count = 2`, single NAT).
pub fn blueprint() -> Blueprint {
    let mut res: Vec<Resource> = Vec::new();
    let key = addr("aws_kms_key.main");
    let vpc = addr("aws_vpc.main");
    let igw = addr("aws_internet_gateway.main");
    res.push(
        tagged("aws_kms_key.main", "key")
            .with("description", "nova production stack key")
            .with("policy", key_policy())
            .with("enable_key_rotation", true)
            .with("deletion_window_days", 30),
    );
    res.push(
        Resource::new(addr("aws_kms_alias.main"))
            .with("name", format!("alias/{P}"))
            .with("target_key_id", r(&key, "key_id")),
    );
    res.push(
        tagged("aws_vpc.main", "vpc")
            .with("cidr_block", "10.0.0.0/16")
            .with("enable_dns_support", true)
            .with("enable_dns_hostnames", true),
    );
    res.push(tagged("aws_internet_gateway.main", "igw").with("vpc_id", r(&vpc, "id")));
    for (i, az) in AZS.iter().enumerate() {
        for (tier, base, public) in [("public", 0, true), ("private", 10, false)] {
            res.push(
                tagged(
                    &format!("aws_subnet.{tier}[{i}]"),
                    &format!("{tier}-{}", i + 1),
                )
                .with("vpc_id", r(&vpc, "id"))
                .with("cidr_block", format!("10.0.{}.0/24", base + i))
                .with("availability_zone", *az)
                .with("map_public_ip_on_launch", public),
            );
        }
    }
    let subnet = |tier: &str, i: usize| addr(&format!("aws_subnet.{tier}[{i}]"));
    let nat = addr("aws_nat_gateway.main[0]");
    res.push(tagged("aws_eip.nat[0]", "nat-eip-1"));
    res.push(
        tagged("aws_nat_gateway.main[0]", "nat-1")
            .with("subnet_id", r(&subnet("public", 0), "id"))
            .with("allocation_id", r(&addr("aws_eip.nat[0]"), "allocation_id")),
    );
    res.push(
        tagged("aws_route_table.public", "public-rt")
            .with("vpc_id", r(&vpc, "id"))
            .with(
                "routes",
                Value::List(vec![map(&[
                    ("destination_cidr_block", "0.0.0.0/0".into()),
                    ("gateway_id", r(&igw, "id")),
                ])]),
            )
            .with(
                "subnet_ids",
                Value::List(
                    (0..AZS.len())
                        .map(|i| r(&subnet("public", i), "id"))
                        .collect(),
                ),
            ),
    );
    for i in 0..AZS.len() {
        res.push(
            tagged(
                &format!("aws_route_table.private[{i}]"),
                &format!("private-rt-{}", i + 1),
            )
            .with("vpc_id", r(&vpc, "id"))
            .with(
                "routes",
                Value::List(vec![map(&[
                    ("destination_cidr_block", "0.0.0.0/0".into()),
                    ("nat_gateway_id", r(&nat, "id")),
                ])]),
            )
            .with(
                "subnet_ids",
                Value::List(vec![r(&subnet("private", i), "id")]),
            ),
        );
    }
    let web_sg = addr("aws_security_group.web");
    let lambda_sg = addr("aws_security_group.lambda");
    res.push(
        tagged("aws_security_group.web", "web")
            .with("name", format!("{P}-web"))
            .with("description", "web instances: HTTP and HTTPS only")
            .with("vpc_id", r(&vpc, "id"))
            .with(
                "ingress",
                Value::List(vec![
                    sg_rule("tcp", 80, "0.0.0.0/0"),
                    sg_rule("tcp", 443, "0.0.0.0/0"),
                ]),
            )
            .with(
                "egress",
                Value::List(vec![
                    sg_rule("tcp", 80, "0.0.0.0/0"),
                    sg_rule("tcp", 443, "0.0.0.0/0"),
                ]),
            ),
    );
    res.push(
        tagged("aws_security_group.lambda", "lambda")
            .with("name", format!("{P}-lambda"))
            .with("description", "health-check Lambda: HTTPS out only")
            .with("vpc_id", r(&vpc, "id"))
            .with("ingress", Value::List(vec![]))
            .with(
                "egress",
                Value::List(vec![sg_rule("tcp", 443, "0.0.0.0/0")]),
            ),
    );
    for n in 0..INSTANCE_COUNT {
        let role = addr(&format!("aws_iam_role.web[{n}]"));
        let profile = addr(&format!("aws_iam_instance_profile.web[{n}]"));
        let name = format!("web-{}", n + 1);
        res.push(
            tagged(&role.to_string(), &name)
                .with("name", format!("{P}-{name}"))
                .with("assume_role_policy", trust("ec2.amazonaws.com"))
                .with(
                    "managed_policy_arns",
                    Value::list_of_strings(["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]),
                )
                .with("inline_policies", Value::Map(BTreeMap::new()))
                .with("description", "web instance role"),
        );
        res.push(
            tagged(&profile.to_string(), &name)
                .with("name", format!("{P}-{name}"))
                .with("role", r(&role, "name")),
        );
        res.push(
            tagged(&format!("aws_instance.web[{n}]"), &name)
                .with("ami", "ami-0123456789abcdef0")
                .with("instance_type", "t3.micro")
                .with("subnet_id", r(&subnet("private", n % AZS.len()), "id"))
                .with("security_group_ids", Value::List(vec![r(&web_sg, "id")]))
                .with("iam_instance_profile", r(&profile, "name"))
                .with(
                    "user_data",
                    "#!/bin/bash\nset -euo pipefail\ndnf install -y nginx\n",
                )
                .with("root_volume_size", 8)
                .with("kms_key_id", r(&key, "arn"))
                .with("metadata_http_tokens", "required"),
        );
    }
    let health_lg = addr("aws_cloudwatch_log_group.health");
    res.push(
        tagged("aws_cloudwatch_log_group.health", "health-logs")
            .with("name", format!("/aws/lambda/{P}-health"))
            .with("kms_key_id", r(&key, "arn"))
            .with("retention_in_days", 30),
    );
    let health_role = addr("aws_iam_role.health");
    res.push(
        tagged("aws_iam_role.health", "health")
            .with("name", format!("{P}-health"))
            .with("assume_role_policy", trust("lambda.amazonaws.com"))
            .with("managed_policy_arns", Value::List(vec![]))
            .with(
                "inline_policies",
                map(&[("health-check", health_policy(&health_lg))]),
            )
            .with("description", "health-check Lambda role"),
    );
    let function = addr("aws_lambda_function.health");
    res.push(
        tagged("aws_lambda_function.health", "health")
            .with("function_name", format!("{P}-health"))
            .with("runtime", "python3.12")
            .with("handler", "handler.handler")
            .with("role", r(&health_role, "arn"))
            .with("source_dir", "src/stack/health_check")
            .with("code_sha256", "0".repeat(64))
            .with(
                "environment",
                map(&[
                    ("METRIC_NAMESPACE", "Nova/Health".into()),
                    ("NOVA_ENVIRONMENT", ENVIRONMENT.into()),
                    ("NOVA_PROJECT", PROJECT.into()),
                    ("NOVA_STACK", STACK.into()),
                ]),
            )
            .with(
                "subnet_ids",
                Value::List(
                    (0..AZS.len())
                        .map(|i| r(&subnet("private", i), "id"))
                        .collect(),
                ),
            )
            .with("security_group_ids", Value::List(vec![r(&lambda_sg, "id")]))
            .with("memory_size", 128)
            .with("timeout", 30)
            .after(&health_lg),
    );
    let schedule = addr("aws_cloudwatch_event_rule.health");
    res.push(
        tagged("aws_cloudwatch_event_rule.health", "health-schedule")
            .with("name", format!("{P}-health-schedule"))
            .with("schedule_expression", "rate(5 minutes)")
            .with("description", "runs the health check")
            .with("state", "ENABLED"),
    );
    res.push(
        Resource::new(addr("aws_cloudwatch_event_target.health"))
            .with("rule", r(&schedule, "name"))
            .with("target_id", "health")
            .with("arn", r(&function, "arn")),
    );
    res.push(
        Resource::new(addr("aws_lambda_permission.events"))
            .with("function_name", r(&function, "function_name"))
            .with("statement_id", "AllowEventBridge")
            .with("action", "lambda:InvokeFunction")
            .with("principal", "events.amazonaws.com")
            .with("source_arn", r(&schedule, "arn")),
    );
    let apigw_role = addr("aws_iam_role.apigw_logs");
    res.push(
        tagged("aws_iam_role.apigw_logs", "apigw-logs")
            .with("name", format!("{P}-apigw-logs"))
            .with("assume_role_policy", trust("apigateway.amazonaws.com"))
            .with(
                "managed_policy_arns",
                Value::list_of_strings([
                    "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
                ]),
            )
            .with("inline_policies", Value::Map(BTreeMap::new()))
            .with("description", "API Gateway CloudWatch logging role"),
    );
    let account = addr("aws_api_gateway_account.main");
    res.push(Resource::new(account.clone()).with("cloudwatch_role_arn", r(&apigw_role, "arn")));
    let access_lg = addr("aws_cloudwatch_log_group.api_access");
    res.push(
        tagged("aws_cloudwatch_log_group.api_access", "api-access-logs")
            .with("name", format!("/aws/apigateway/{P}-access"))
            .with("kms_key_id", r(&key, "arn"))
            .with("retention_in_days", 30),
    );
    let api = addr("aws_api_gateway_rest_api.main");
    res.push(
        tagged("aws_api_gateway_rest_api.main", "api")
            .with("name", format!("{P}-api"))
            .with("description", "health endpoint"),
    );
    let resource = addr("aws_api_gateway_resource.health");
    res.push(
        Resource::new(resource.clone())
            .with("rest_api_id", r(&api, "id"))
            .with("parent_id", r(&api, "root_resource_id"))
            .with("path_part", "health"),
    );
    let method = addr("aws_api_gateway_method.health_get");
    res.push(
        Resource::new(method.clone())
            .with("rest_api_id", r(&api, "id"))
            .with("resource_id", r(&resource, "id"))
            .with("http_method", "GET")
            .with("authorization", "NONE"),
    );
    let integration = addr("aws_api_gateway_integration.health_get");
    res.push(
        Resource::new(integration.clone())
            .with("rest_api_id", r(&api, "id"))
            .with("resource_id", r(&resource, "id"))
            .with("http_method", "GET")
            .with("type", "AWS_PROXY")
            .with("integration_http_method", "POST")
            .with("uri", r(&function, "invoke_arn"))
            .after(&method),
    );
    res.push(
        Resource::new(addr("aws_lambda_permission.apigw"))
            .with("function_name", r(&function, "function_name"))
            .with("statement_id", "AllowApiGateway")
            .with("action", "lambda:InvokeFunction")
            .with("principal", "apigateway.amazonaws.com")
            .with(
                "source_arn",
                Value::Concat(vec![r(&api, "execution_arn"), Value::str("/*/GET/health")]),
            ),
    );
    let deployment = addr("aws_api_gateway_deployment.main");
    res.push(
        Resource::new(deployment.clone())
            .with("rest_api_id", r(&api, "id"))
            .with("description", "nova")
            .with("triggers", map(&[("redeployment", "1".repeat(64).into())]))
            .after(&method)
            .after(&integration),
    );
    res.push(
        tagged("aws_api_gateway_stage.prod", "api-prod")
            .with("rest_api_id", r(&api, "id"))
            .with("stage_name", "prod")
            .with("deployment_id", r(&deployment, "id"))
            .with("access_log_destination_arn", r(&access_lg, "arn"))
            .with("access_log_format", r#"{"requestId":"$context.requestId"}"#)
            .with("logging_level", "INFO")
            .with("metrics_enabled", true)
            .after(&account),
    );

    let list = |prefix: &str, n: usize, out: &str| {
        Value::List(
            (0..n)
                .map(|i| r(&addr(&format!("{prefix}[{i}]")), out))
                .collect(),
        )
    };
    let outputs: BTreeMap<String, Value> = [
        ("vpc_id", r(&vpc, "id")),
        (
            "public_subnet_ids",
            list("aws_subnet.public", AZS.len(), "id"),
        ),
        (
            "private_subnet_ids",
            list("aws_subnet.private", AZS.len(), "id"),
        ),
        ("nat_gateway_ids", list("aws_nat_gateway.main", 1, "id")),
        ("web_security_group_id", r(&web_sg, "id")),
        ("lambda_security_group_id", r(&lambda_sg, "id")),
        (
            "instance_ids",
            list("aws_instance.web", INSTANCE_COUNT, "id"),
        ),
        (
            "instance_role_arns",
            list("aws_iam_role.web", INSTANCE_COUNT, "arn"),
        ),
        ("kms_key_arn", r(&key, "arn")),
        ("kms_alias", r(&addr("aws_kms_alias.main"), "name")),
        (
            "api_invoke_url",
            r(&addr("aws_api_gateway_stage.prod"), "invoke_url"),
        ),
        ("health_function_arn", r(&function, "arn")),
        (
            "log_group_names",
            Value::List(vec![r(&health_lg, "name"), r(&access_lg, "name")]),
        ),
        ("schedule_rule_arn", r(&schedule, "arn")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Blueprint {
        resources: res,
        outputs,
    }
}

/// The plan view of a blueprint.
pub fn plan_view(bp: &Blueprint) -> StackView {
    StackView::from_blueprint(bp, STACK_REGION, ACCOUNT, ENVIRONMENT)
}

/// The physical id a provider would report for a resource (names for named kinds).
fn fake_id(resource: &Resource, n: usize) -> String {
    let input = |f: &str| {
        resource
            .inputs
            .get(f)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let kind = resource.address.kind();
    let named = match kind {
        kinds::IAM_ROLE
        | kinds::IAM_INSTANCE_PROFILE
        | kinds::LOG_GROUP
        | kinds::EVENT_RULE
        | kinds::KMS_ALIAS => input("name"),
        kinds::LAMBDA_FUNCTION => input("function_name"),
        kinds::API_ACCOUNT => Some("account".to_string()),
        _ => None,
    };
    named.unwrap_or_else(|| {
        let prefix = kind.trim_start_matches("aws_").replace('_', "-");
        format!("{prefix}-{n:08x}")
    })
}

fn fake_arn(kind: &str, id: &str) -> String {
    match kind {
        kinds::IAM_ROLE => format!("arn:aws:iam::{ACCOUNT}:role/{id}"),
        kinds::IAM_INSTANCE_PROFILE => format!("arn:aws:iam::{ACCOUNT}:instance-profile/{id}"),
        kinds::LOG_GROUP => {
            format!("arn:aws:logs:{STACK_REGION}:{ACCOUNT}:log-group:{id}")
        }
        kinds::LAMBDA_FUNCTION => format!("arn:aws:lambda:{STACK_REGION}:{ACCOUNT}:function:{id}"),
        kinds::KMS_KEY => format!("arn:aws:kms:{STACK_REGION}:{ACCOUNT}:key/{id}"),
        _ => {
            let service = kind.trim_start_matches("aws_").replace('_', "-");
            format!("arn:aws:{service}:{STACK_REGION}:{ACCOUNT}:{id}")
        }
    }
}

/// What providers would read back: every resource with a concrete id, outputs (each
/// output the blueprint references, at least), and inputs with references resolved.
pub fn live_resources(bp: &Blueprint) -> Vec<ResourceView> {
    let mut referenced: BTreeSet<Reference> = BTreeSet::new();
    for r in &bp.resources {
        referenced.extend(r.references());
    }
    let mut outputs: BTreeMap<Address, Outputs> = BTreeMap::new();
    for (n, resource) in bp.resources.iter().enumerate() {
        let id = fake_id(resource, n);
        let arn = fake_arn(resource.address.kind(), &id);
        let mut out = Outputs::new();
        out.insert("id".into(), Value::str(&id));
        out.insert("arn".into(), Value::str(&arn));
        for field in ["name", "function_name", "availability_zone"] {
            if let Some(v) = resource.inputs.get(field).filter(|v| v.as_str().is_some()) {
                out.insert(field.into(), v.clone());
            }
        }
        for r in referenced.iter().filter(|r| r.address == resource.address) {
            out.entry(r.output.clone())
                .or_insert_with(|| Value::str(format!("{id}/{}", r.output)));
        }
        if resource.address.kind() == kinds::KMS_KEY {
            out.insert("key_id".into(), Value::str(&id));
        }
        outputs.insert(resource.address.clone(), out);
    }
    let lookup = |r: &Reference| {
        outputs
            .get(&r.address)
            .and_then(|o| o.get(&r.output))
            .cloned()
    };
    bp.resources
        .iter()
        .map(|resource| {
            let out = outputs[&resource.address].clone();
            ResourceView {
                address: resource.address.clone(),
                inputs: resource
                    .inputs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.resolve(&lookup)))
                    .collect(),
                id: out.get("id").and_then(Value::as_str).map(str::to_string),
                outputs: out,
            }
        })
        .collect()
}

/// The live view of a blueprint as if `nova up` had created it.
pub fn live_view(bp: &Blueprint) -> StackView {
    StackView::from_live(
        live_resources(bp),
        bp.outputs.keys().cloned().collect(),
        STACK_REGION,
        ACCOUNT,
        ENVIRONMENT,
    )
}

/// The resource at `address` (panics when absent: a fixture bug).
pub fn resource<'a>(bp: &'a mut Blueprint, address: &str) -> &'a mut Resource {
    let a = addr(address);
    bp.resources
        .iter_mut()
        .find(|r| r.address == a)
        .unwrap_or_else(|| panic!("fixture has no {address}"))
}

pub fn set(bp: &mut Blueprint, address: &str, field: &str, value: impl Into<Value>) {
    resource(bp, address)
        .inputs
        .insert(field.to_string(), value.into());
}

pub fn unset(bp: &mut Blueprint, address: &str, field: &str) {
    resource(bp, address).inputs.remove(field);
}

pub fn remove(bp: &mut Blueprint, address: &str) {
    let a = addr(address);
    let before = bp.resources.len();
    bp.resources.retain(|r| r.address != a);
    assert_eq!(bp.resources.len(), before - 1, "fixture has no {address}");
}

/// Pushes a value onto a list input.
pub fn push(bp: &mut Blueprint, address: &str, field: &str, value: Value) {
    match resource(bp, address).inputs.get_mut(field) {
        Some(Value::List(items)) => items.push(value),
        other => panic!("{address}.{field} is not a list: {other:?}"),
    }
}

/// Sets one tag.
pub fn set_tag(bp: &mut Blueprint, address: &str, key: &str, value: Option<&str>) {
    match resource(bp, address).inputs.get_mut("tags") {
        Some(Value::Map(tags)) => match value {
            Some(v) => {
                tags.insert(key.to_string(), Value::str(v));
            }
            None => {
                tags.remove(key);
            }
        },
        other => panic!("{address} has no tags: {other:?}"),
    }
}

/// Evaluates the blueprint as a plan and as a live stack; both must fire exactly the
/// rules `ids` (sorted) and agree. Returns the plan report.
pub fn assert_fires_only(bp: &Blueprint, ids: &[&str]) -> Report {
    let plan = evaluate(&plan_view(bp));
    let live = evaluate(&live_view(bp));
    let mut want: Vec<&str> = ids.to_vec();
    want.sort_unstable();
    assert_eq!(plan.rule_ids(), want, "plan findings: {:#?}", plan.findings);
    assert_eq!(live.rule_ids(), want, "live findings: {:#?}", live.findings);
    plan
}

/// True when `rule` has no finding on the default stack (plan and live).
pub fn passes_default(rule: &super::Rule) -> bool {
    let bp = blueprint();
    (rule.check)(&plan_view(&bp)).is_empty() && (rule.check)(&live_view(&bp)).is_empty()
}
