//! The independent witness: what of a stack exists in LocalStack, kind by kind, listed with
//! the raw SDK straight from LocalStack (never through nova or awssim), in the shape of the
//! ids nova's state records. A duplicate shows as one id too many, an orphan as an id the
//! state does not know.
//!
//! EC2 kinds are found by the ownership tag `nova:stack`; IAM, Lambda, EventBridge, API
//! Gateway and log groups by the stack's name prefix (`nova-<stack>-`); KMS keys by their
//! tags; the children (permissions, targets, API resources, methods, integrations,
//! deployments, stages) inside their parents. The account-wide API Gateway setting is not
//! listed.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, InstanceStateName, NatGatewayState, Tag};

/// Ids by kind.
pub type Inventory = BTreeMap<String, BTreeSet<String>>;

/// Every kind the witness lists (all of the stack's but `aws_api_gateway_account`).
pub const LISTED: &[&str] = &[
    "aws_api_gateway_deployment",
    "aws_api_gateway_integration",
    "aws_api_gateway_method",
    "aws_api_gateway_resource",
    "aws_api_gateway_rest_api",
    "aws_api_gateway_stage",
    "aws_cloudwatch_event_rule",
    "aws_cloudwatch_event_target",
    "aws_cloudwatch_log_group",
    "aws_eip",
    "aws_iam_instance_profile",
    "aws_iam_role",
    "aws_instance",
    "aws_internet_gateway",
    "aws_kms_alias",
    "aws_kms_key",
    "aws_lambda_function",
    "aws_lambda_permission",
    "aws_nat_gateway",
    "aws_route_table",
    "aws_security_group",
    "aws_subnet",
    "aws_vpc",
];

/// The raw clients, pointed straight at LocalStack.
struct Clients {
    ec2: aws_sdk_ec2::Client,
    iam: aws_sdk_iam::Client,
    kms: aws_sdk_kms::Client,
    lambda: aws_sdk_lambda::Client,
    events: aws_sdk_eventbridge::Client,
    apigw: aws_sdk_apigateway::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

/// Everything of `stack` that exists now, every listed kind present (empty when none).
pub async fn inventory(stack: &str) -> Inventory {
    inventory_after(stack, &Inventory::new()).await
}

/// [`inventory`], also looking for the execution log groups of the REST APIs `earlier` saw
/// (an API's execution log group is named after its id, and outlives the API if left).
pub async fn inventory_after(stack: &str, earlier: &Inventory) -> Inventory {
    let config = super::sdk_config().await;
    let c = Clients {
        ec2: aws_sdk_ec2::Client::new(&config),
        iam: aws_sdk_iam::Client::new(&config),
        kms: aws_sdk_kms::Client::new(&config),
        lambda: aws_sdk_lambda::Client::new(&config),
        events: aws_sdk_eventbridge::Client::new(&config),
        apigw: aws_sdk_apigateway::Client::new(&config),
        logs: aws_sdk_cloudwatchlogs::Client::new(&config),
    };
    let mut found: Inventory = LISTED
        .iter()
        .map(|k| (k.to_string(), BTreeSet::new()))
        .collect();
    ec2(&c, stack, &mut found).await;
    let prefix = format!("nova-{stack}-");
    iam(&c, &prefix, &mut found).await;
    kms(&c, stack, &mut found).await;
    lambda(&c, &prefix, &mut found).await;
    events(&c, &prefix, &mut found).await;
    let mut apis = api_gateway(&c, &prefix, &mut found).await;
    apis.extend(
        earlier
            .get("aws_api_gateway_rest_api")
            .into_iter()
            .flatten()
            .cloned(),
    );
    logs(&c, &prefix, &apis, &mut found).await;
    found
}

/// The ids a state file (parsed) records, by listed kind.
pub fn recorded(state: &serde_json::Value) -> Inventory {
    let mut ids: Inventory = LISTED
        .iter()
        .map(|k| (k.to_string(), BTreeSet::new()))
        .collect();
    let resources = state["resources"].as_array().expect("state resources");
    for r in resources {
        let kind = r["kind"].as_str().expect("kind");
        if let Some(set) = ids.get_mut(kind) {
            set.insert(r["id"].as_str().expect("id").to_string());
        }
    }
    ids
}

/// Asserts that what exists is exactly what the state records (no duplicate, no orphan),
/// and that the witness saw a whole stack.
#[track_caller]
pub fn assert_live_matches(live: &Inventory, state: &serde_json::Value) {
    let recorded = recorded(state);
    let differences: Vec<String> = LISTED
        .iter()
        .filter(|k| live[**k] != recorded[**k])
        .map(|k| {
            let extra: Vec<_> = live[*k].difference(&recorded[*k]).collect();
            let missing: Vec<_> = recorded[*k].difference(&live[*k]).collect();
            format!("{k}: not in the state {extra:?}, in the state but gone {missing:?}")
        })
        .collect();
    assert!(
        differences.is_empty(),
        "live objects vs the state:\n{}",
        differences.join("\n")
    );
    assert!(
        live.values().map(BTreeSet::len).sum::<usize>() >= 30,
        "the witness found too little: {live:?}"
    );
}

/// Asserts that nothing of the stack exists any more.
#[track_caller]
pub fn assert_nothing_left(live: &Inventory) {
    let left: Vec<String> = live
        .iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(kind, ids)| format!("{kind}: {ids:?}"))
        .collect();
    assert!(left.is_empty(), "left behind:\n{}", left.join("\n"));
}

fn add(found: &mut Inventory, kind: &str, ids: impl IntoIterator<Item = String>) {
    found.get_mut(kind).expect("a listed kind").extend(ids);
}

fn owned(tags: &[Tag], stack: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some("nova:stack") && t.value() == Some(stack))
}

async fn ec2(c: &Clients, stack: &str, found: &mut Inventory) {
    let tag = || {
        Filter::builder()
            .name("tag:nova:stack")
            .values(stack)
            .build()
    };
    let out = c.ec2.describe_vpcs().filters(tag()).send().await.unwrap();
    add(
        found,
        "aws_vpc",
        out.vpcs()
            .iter()
            .filter_map(|v| v.vpc_id().map(String::from)),
    );
    let out = c
        .ec2
        .describe_subnets()
        .filters(tag())
        .send()
        .await
        .unwrap();
    add(
        found,
        "aws_subnet",
        out.subnets()
            .iter()
            .filter_map(|v| v.subnet_id().map(String::from)),
    );
    let out = c
        .ec2
        .describe_internet_gateways()
        .filters(tag())
        .send()
        .await
        .unwrap();
    add(
        found,
        "aws_internet_gateway",
        out.internet_gateways()
            .iter()
            .filter_map(|v| v.internet_gateway_id().map(String::from)),
    );
    let out = c
        .ec2
        .describe_route_tables()
        .filters(tag())
        .send()
        .await
        .unwrap();
    add(
        found,
        "aws_route_table",
        out.route_tables()
            .iter()
            .filter_map(|v| v.route_table_id().map(String::from)),
    );
    // LocalStack ignores tag filters on NAT gateways: every one is checked here.
    let out = c.ec2.describe_nat_gateways().send().await.unwrap();
    add(
        found,
        "aws_nat_gateway",
        out.nat_gateways()
            .iter()
            .filter(|n| owned(n.tags(), stack))
            .filter(|n| {
                !matches!(
                    n.state(),
                    Some(NatGatewayState::Deleted | NatGatewayState::Deleting)
                )
            })
            .filter_map(|v| v.nat_gateway_id().map(String::from)),
    );
    let out = c
        .ec2
        .describe_addresses()
        .filters(tag())
        .send()
        .await
        .unwrap();
    add(
        found,
        "aws_eip",
        out.addresses()
            .iter()
            .filter_map(|v| v.allocation_id().map(String::from)),
    );
    let out = c
        .ec2
        .describe_security_groups()
        .filters(tag())
        .send()
        .await
        .unwrap();
    add(
        found,
        "aws_security_group",
        out.security_groups()
            .iter()
            .filter_map(|v| v.group_id().map(String::from)),
    );
    let out = c
        .ec2
        .describe_instances()
        .filters(tag())
        .send()
        .await
        .unwrap();
    add(
        found,
        "aws_instance",
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| {
                !matches!(
                    i.state().and_then(|s| s.name()),
                    Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
                )
            })
            .filter_map(|i| i.instance_id().map(String::from)),
    );
}

async fn iam(c: &Clients, prefix: &str, found: &mut Inventory) {
    let roles = c
        .iam
        .list_roles()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    add(
        found,
        "aws_iam_role",
        roles
            .iter()
            .map(|r| r.role_name().to_string())
            .filter(|n| n.starts_with(prefix)),
    );
    let profiles = c
        .iam
        .list_instance_profiles()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    add(
        found,
        "aws_iam_instance_profile",
        profiles
            .iter()
            .map(|p| p.instance_profile_name().to_string())
            .filter(|n| n.starts_with(prefix)),
    );
}

/// Customer keys not pending deletion that carry `nova:stack = stack`, and the alias.
async fn kms(c: &Clients, stack: &str, found: &mut Inventory) {
    let keys = c
        .kms
        .list_keys()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    for key in keys.iter().filter_map(|k| k.key_id()) {
        let Ok(described) = c.kms.describe_key().key_id(key).send().await else {
            continue;
        };
        let live = described
            .key_metadata()
            .is_some_and(|m| m.key_state() != Some(&aws_sdk_kms::types::KeyState::PendingDeletion));
        if !live {
            continue;
        }
        let Ok(tags) = c.kms.list_resource_tags().key_id(key).send().await else {
            continue;
        };
        if tags
            .tags()
            .iter()
            .any(|t| t.tag_key() == "nova:stack" && t.tag_value() == stack)
        {
            add(found, "aws_kms_key", [key.to_string()]);
        }
    }
    let alias = format!("alias/nova-{stack}");
    let aliases = c.kms.list_aliases().limit(1000).send().await.unwrap();
    add(
        found,
        "aws_kms_alias",
        aliases
            .aliases()
            .iter()
            .filter_map(|a| a.alias_name().map(String::from))
            .filter(|n| *n == alias),
    );
}

/// Functions by name, and each function's permissions (`<function>/<statement id>`).
async fn lambda(c: &Clients, prefix: &str, found: &mut Inventory) {
    let functions: Vec<String> = c
        .lambda
        .list_functions()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|f| f.function_name().map(String::from))
        .filter(|n| n.starts_with(prefix))
        .collect();
    for function in &functions {
        let Ok(policy) = c.lambda.get_policy().function_name(function).send().await else {
            continue;
        };
        let document: serde_json::Value =
            serde_json::from_str(policy.policy().unwrap_or("{}")).unwrap_or_default();
        let sids = document["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["Sid"].as_str())
            .map(|sid| format!("{function}/{sid}"));
        add(found, "aws_lambda_permission", sids);
    }
    add(found, "aws_lambda_function", functions);
}

/// Rules by name prefix and their targets (`<rule>/<target id>`).
async fn events(c: &Clients, prefix: &str, found: &mut Inventory) {
    let rules: Vec<String> = c
        .events
        .list_rules()
        .name_prefix(prefix)
        .send()
        .await
        .unwrap()
        .rules()
        .iter()
        .filter_map(|r| r.name().map(String::from))
        .collect();
    for rule in &rules {
        let targets = c
            .events
            .list_targets_by_rule()
            .rule(rule)
            .send()
            .await
            .unwrap();
        add(
            found,
            "aws_cloudwatch_event_target",
            targets
                .targets()
                .iter()
                .map(|t| format!("{rule}/{}", t.id())),
        );
    }
    add(found, "aws_cloudwatch_event_rule", rules);
}

/// REST APIs by name prefix and everything in them; returns the APIs' ids.
async fn api_gateway(c: &Clients, prefix: &str, found: &mut Inventory) -> Vec<String> {
    let apis: Vec<String> = c
        .apigw
        .get_rest_apis()
        .limit(500)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .filter(|a| a.name().is_some_and(|n| n.starts_with(prefix)))
        .filter_map(|a| a.id().map(String::from))
        .collect();
    for api in &apis {
        let resources = c
            .apigw
            .get_resources()
            .rest_api_id(api)
            .limit(500)
            .send()
            .await
            .unwrap();
        for resource in resources.items() {
            let id = resource.id().unwrap_or_default();
            if resource.path() != Some("/") {
                add(found, "aws_api_gateway_resource", [id.to_string()]);
            }
            for method in resource
                .resource_methods()
                .into_iter()
                .flat_map(|m| m.keys())
            {
                add(
                    found,
                    "aws_api_gateway_method",
                    [format!("{api}/{id}/{method}")],
                );
                let integration = c
                    .apigw
                    .get_integration()
                    .rest_api_id(api)
                    .resource_id(id)
                    .http_method(method)
                    .send()
                    .await;
                if integration.is_ok() {
                    add(
                        found,
                        "aws_api_gateway_integration",
                        [format!("{api}/{id}/{method}")],
                    );
                }
            }
        }
        let deployments = c
            .apigw
            .get_deployments()
            .rest_api_id(api)
            .limit(500)
            .send()
            .await
            .unwrap();
        add(
            found,
            "aws_api_gateway_deployment",
            deployments
                .items()
                .iter()
                .filter_map(|d| d.id().map(String::from)),
        );
        let stages = c.apigw.get_stages().rest_api_id(api).send().await.unwrap();
        add(
            found,
            "aws_api_gateway_stage",
            stages
                .item()
                .iter()
                .filter_map(|s| s.stage_name().map(|n| format!("{api}/{n}"))),
        );
    }
    add(found, "aws_api_gateway_rest_api", apis.clone());
    apis
}

/// Log groups named for the stack, and the execution log groups of its APIs.
async fn logs(c: &Clients, prefix: &str, apis: &[String], found: &mut Inventory) {
    let groups = c
        .logs
        .describe_log_groups()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let execution: Vec<String> = apis
        .iter()
        .map(|api| format!("API-Gateway-Execution-Logs_{api}/"))
        .collect();
    add(
        found,
        "aws_cloudwatch_log_group",
        groups
            .iter()
            .filter_map(|g| g.log_group_name())
            .filter(|n| {
                n.contains(&format!("/{prefix}")) || execution.iter().any(|e| n.starts_with(e))
            })
            .map(String::from),
    );
}
