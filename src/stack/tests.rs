//! The blueprint of the default stack: resource set, references, tags and outputs.

use crate::provider::aws::kinds;
use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::config;
use crate::graph::Graph;
use crate::model::Value;

fn default_config() -> StackConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Nova.toml");
    config::load(&path, "production", &|_| None).unwrap()
}

fn context() -> StackContext {
    StackContext {
        account_id: "123456789012".into(),
        ami: "ami-0123456789abcdef0".into(),
        health_code_sha256: "ab".repeat(32),
        subnet_layout: crate::config::SubnetLayout::Zones,
    }
}

fn addresses(b: &Blueprint) -> Vec<String> {
    b.resources.iter().map(|r| r.address.to_string()).collect()
}

#[test]
fn default_stack_has_every_piece_of_the_seed() {
    let b = blueprint(&default_config(), &context());
    let expected = [
        "aws_api_gateway_account.main",
        "aws_api_gateway_deployment.main",
        "aws_api_gateway_integration.health_get",
        "aws_api_gateway_method.health_get",
        "aws_api_gateway_resource.health",
        "aws_api_gateway_rest_api.main",
        "aws_api_gateway_stage.prod",
        "aws_cloudwatch_event_rule.health",
        "aws_cloudwatch_event_target.health",
        "aws_cloudwatch_log_group.api_access",
        "aws_cloudwatch_log_group.api_execution",
        "aws_cloudwatch_log_group.health",
        "aws_eip.nat[0]",
        "aws_iam_instance_profile.web[0]",
        "aws_iam_instance_profile.web[1]",
        "aws_iam_role.health",
        "aws_iam_role.web[0]",
        "aws_iam_role.web[1]",
        "aws_instance.web[0]",
        "aws_instance.web[1]",
        "aws_internet_gateway.main",
        "aws_kms_alias.main",
        "aws_kms_key.main",
        "aws_lambda_function.health",
        "aws_lambda_permission.apigw",
        "aws_lambda_permission.events",
        "aws_nat_gateway.main[0]",
        "aws_route_table.private[0]",
        "aws_route_table.private[1]",
        "aws_route_table.public",
        "aws_security_group.lambda",
        "aws_security_group.web",
        "aws_subnet.private[0]",
        "aws_subnet.private[1]",
        "aws_subnet.public[0]",
        "aws_subnet.public[1]",
        "aws_vpc.main",
    ];
    assert_eq!(addresses(&b), expected);
}

#[test]
fn blueprint_is_a_valid_acyclic_graph() {
    let b = blueprint(&default_config(), &context());
    let graph = Graph::from_blueprint(&b).unwrap();
    let order = graph.topological_order().unwrap();
    assert_eq!(order.len(), b.resources.len());
    let pos = |a: &str| order.iter().position(|x| x.to_string() == a).unwrap();
    assert!(pos("aws_vpc.main") < pos("aws_subnet.private[0]"));
    assert!(pos("aws_cloudwatch_log_group.health") < pos("aws_lambda_function.health"));
    assert!(pos("aws_api_gateway_account.main") < pos("aws_api_gateway_stage.prod"));
    assert!(pos("aws_nat_gateway.main[0]") < pos("aws_instance.web[1]"));
}

#[test]
fn instances_are_created_after_the_nat_gateway_but_do_not_hold_up_its_delete() {
    let b = blueprint(&default_config(), &context());
    let nat: crate::model::Address = "aws_nat_gateway.main[0]".parse().unwrap();
    for instance in ["aws_instance.web[0]", "aws_instance.web[1]"] {
        let r = b.get(&instance.parse().unwrap()).unwrap();
        assert!(
            r.dependencies().contains(&nat),
            "{instance} is created after it"
        );
        assert!(
            !r.lasting_dependencies().contains(&nat),
            "{instance}: the state would make a destroy wait for it"
        );
        assert!(r
            .lasting_dependencies()
            .iter()
            .any(|d| d.kind() == "aws_subnet"));
    }
}

#[test]
fn every_taggable_resource_is_tagged_for_production_and_ownership() {
    let b = blueprint(&default_config(), &context());
    let mut tagged = 0;
    for r in &b.resources {
        let taggable =
            crate::provider::aws::schema_of(r.address.kind()).is_some_and(|s| s.taggable());
        let tags = r.inputs.get("tags").and_then(Value::as_map);
        assert_eq!(
            tags.is_some(),
            taggable,
            "{}: tagged exactly when its kind's schema is taggable",
            r.address
        );
        let Some(tags) = tags else {
            continue;
        };
        tagged += 1;
        assert_eq!(
            tags["Environment"],
            Value::str("Production"),
            "{}",
            r.address
        );
        assert_eq!(tags["ManagedBy"], Value::str("nova"));
        assert_eq!(tags["nova:stack"], Value::str("production"));
        assert_eq!(tags["nova:address"], Value::str(r.address.to_string()));
        let name = tags["Name"].as_str().unwrap();
        assert!(
            name.starts_with("nova-production-") || name.contains("/nova-production-"),
            "{name}"
        );
    }
    assert_eq!(tagged, 28);
}

#[test]
fn each_instance_has_its_own_role_and_profile() {
    let mut config = default_config();
    config.instance_count = 3;
    let b = blueprint(&config, &context());
    let profiles: BTreeSet<String> = b
        .resources
        .iter()
        .filter(|r| r.address.kind() == kinds::INSTANCE)
        .map(|r| r.inputs["iam_instance_profile"].to_string())
        .collect();
    assert_eq!(profiles.len(), 3);
    assert!(b.get(&Address::new(kinds::IAM_ROLE, "web[2]")).is_some());
    // Instances spread over the private subnets.
    let subnet = |n: usize| {
        b.get(&Address::new(kinds::INSTANCE, format!("web[{n}]")))
            .unwrap()
            .inputs["subnet_id"]
            .to_string()
    };
    assert_eq!(subnet(0), "aws_subnet.private[0].id");
    assert_eq!(subnet(1), "aws_subnet.private[1].id");
    assert_eq!(subnet(2), "aws_subnet.private[0].id");
}

#[test]
fn per_az_nat_gives_each_private_route_table_its_own_gateway() {
    let mut config = default_config();
    config.nat = crate::config::NatMode::PerAz;
    let b = blueprint(&config, &context());
    let route = |i: usize| {
        b.get(&Address::new(kinds::ROUTE_TABLE, format!("private[{i}]")))
            .unwrap()
            .inputs["routes"]
            .to_string()
    };
    assert!(route(0).contains("aws_nat_gateway.main[0].id"));
    assert!(route(1).contains("aws_nat_gateway.main[1].id"));
}

#[test]
fn key_policy_has_no_open_principal() {
    let b = blueprint(&default_config(), &context());
    let policy = b.get(&Address::new(kinds::KMS_KEY, "main")).unwrap().inputs["policy"]
        .as_str()
        .unwrap()
        .to_string();
    let json: serde_json::Value = serde_json::from_str(&policy).unwrap();
    for statement in json["Statement"].as_array().unwrap() {
        let principal = statement["Principal"].to_string();
        assert!(
            !principal.contains("\"*\""),
            "open principal in {statement}"
        );
    }
    assert!(policy.contains("arn:aws:iam::123456789012:root"));
    assert!(policy.contains("logs.us-east-1.amazonaws.com"));
}

#[test]
fn user_data_is_rendered_for_the_stack() {
    let data = compute::user_data("nova", "production");
    assert!(data.starts_with("#!/bin/bash"));
    assert!(data.contains("readonly STACK=\"production\""));
    assert!(!data.contains("@NOVA_"));
}

#[test]
fn outputs_cover_the_key_resources() {
    let b = blueprint(&default_config(), &context());
    let names: Vec<&str> = b.outputs.keys().map(String::as_str).collect();
    for expected in [
        "api_invoke_url",
        "health_function_arn",
        "instance_ids",
        "instance_role_arns",
        "kms_alias",
        "kms_key_arn",
        "log_group_names",
        "nat_gateway_ids",
        "private_subnet_ids",
        "public_subnet_ids",
        "schedule_rule_arn",
        "vpc_id",
        "web_security_group_id",
        "lambda_security_group_id",
    ] {
        assert!(names.contains(&expected), "missing output {expected}");
    }
}

#[test]
fn blueprint_is_deterministic() {
    let a = serde_json::to_string(&blueprint(&default_config(), &context())).unwrap();
    let b = serde_json::to_string(&blueprint(&default_config(), &context())).unwrap();
    assert_eq!(a, b);
}

/// Every resource of the blueprint, in both NAT layouts, conforms to its kind's schema:
/// only declared fields, every required one, values of the declared types, and references
/// only to outputs the target kind has. A mistyped field fails here, offline, instead of
/// showing up as endless drift against AWS.
#[test]
fn every_resource_conforms_to_its_kind_schema() {
    let mut per_az = default_config();
    per_az.nat = crate::config::NatMode::PerAz;
    for config in [default_config(), per_az] {
        let b = blueprint(&config, &context());
        let mut problems = Vec::new();
        for resource in &b.resources {
            match crate::provider::aws::schema_of(resource.address.kind()) {
                Some(schema) => {
                    problems.extend(schema.violations(resource, crate::provider::aws::schema_of))
                }
                None => problems.push(format!("{}: no provider schema", resource.address)),
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
