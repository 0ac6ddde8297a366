//! Network rules: region, subnets over several Availability Zones, the internet gateway,
//! route table associations and NAT for the private tier.

use crate::provider::aws::kinds;
use std::collections::BTreeSet;

use super::view::{default_routes, show};
use super::{Finding, Rule, Severity, StackView};
use crate::model::Value;

// The only region the checklist allows (the config refuses any other for this stack).
use crate::config::REGION as REQUIRED_REGION;

pub const REGION: Rule = Rule {
    id: "NOVA-NET-001",
    title: "The VPC is created in us-east-1",
    severity: Severity::Error,
    checklist_item: "VPC not created in `us-east-1` region",
    remediation: "Set `region = \"us-east-1\"` in Nova.toml and keep a VPC in the stack; \
                  subnets must use us-east-1 Availability Zones.",
    check: check_region,
};

pub const MULTI_AZ: Rule = Rule {
    id: "NOVA-NET-002",
    title: "Public and private subnets each span at least two Availability Zones",
    severity: Severity::Error,
    checklist_item: "Subnets not distributed across multiple Availability Zones",
    remediation: "Set `az_count` to 2 or more so every tier has one subnet per AZ.",
    check: check_multi_az,
};

pub const INTERNET_GATEWAY: Rule = Rule {
    id: "NOVA-NET-003",
    title: "An internet gateway is attached to the VPC and is the public default route",
    severity: Severity::Error,
    checklist_item: "Missing or misconfigured Internet Gateway",
    remediation: "Add an aws_internet_gateway with `vpc_id` = the VPC and a public route \
                  table routing 0.0.0.0/0 to it.",
    check: check_internet_gateway,
};

pub const ROUTE_TABLE_ASSOCIATIONS: Rule = Rule {
    id: "NOVA-NET-004",
    title: "Every subnet is associated with a route table, and every route table with a subnet",
    severity: Severity::Error,
    checklist_item: "Route tables not associated with subnets",
    remediation: "List every subnet in the `subnet_ids` of its tier's route table.",
    check: check_route_table_associations,
};

pub const NAT_GATEWAY: Rule = Rule {
    id: "NOVA-NET-005",
    title: "A NAT gateway in a public subnet is the default route of every private subnet",
    severity: Severity::Error,
    checklist_item: "No NAT Gateway for private subnet outbound access",
    remediation: "Add an aws_nat_gateway (with an aws_eip) in a public subnet and route \
                  0.0.0.0/0 of every private route table to it.",
    check: check_nat_gateway,
};

fn check_region(view: &StackView) -> Vec<Finding> {
    let mut out = Vec::new();
    if view.region != REQUIRED_REGION {
        out.push(REGION.finding(
            None,
            format!(
                "the stack's region is `{}`, not `{REQUIRED_REGION}`",
                view.region
            ),
        ));
    }
    if view.of_kind(kinds::VPC).next().is_none() {
        out.push(REGION.finding(None, "the stack has no VPC (aws_vpc)"));
    }
    for subnet in view.of_kind(kinds::SUBNET) {
        if let Some(az) = subnet.input_str("availability_zone") {
            if !az.starts_with(REQUIRED_REGION) {
                out.push(REGION.at(
                    &subnet.address,
                    format!("Availability Zone `{az}` is outside {REQUIRED_REGION}"),
                ));
            }
        }
    }
    for r in view.resources.values() {
        for (name, value) in &r.outputs {
            if let Some(region) = value.as_str().and_then(arn_region) {
                if region != REQUIRED_REGION {
                    out.push(REGION.at(
                        &r.address,
                        format!("output `{name}` is an ARN in region `{region}`"),
                    ));
                }
            }
        }
    }
    out
}

/// The region part of an ARN, when it has one (IAM ARNs do not).
fn arn_region(text: &str) -> Option<&str> {
    let mut parts = text.strip_prefix("arn:")?.splitn(5, ':');
    let region = parts.nth(2)?;
    (!region.is_empty()).then_some(region)
}

fn check_multi_az(view: &StackView) -> Vec<Finding> {
    let subnets: Vec<_> = view.of_kind(kinds::SUBNET).collect();
    if subnets.is_empty() {
        return vec![MULTI_AZ.finding(None, "the stack has no subnets")];
    }
    let mut out = Vec::new();
    for (tier, public) in [("public", true), ("private", false)] {
        let zones: BTreeSet<String> = subnets
            .iter()
            .filter(|s| view.is_public_subnet(s) == public)
            .filter_map(|s| s.input("availability_zone"))
            .filter(|az| !matches!(az, Value::Null))
            .map(show)
            .collect();
        if zones.len() < 2 {
            let list: Vec<_> = zones.into_iter().collect();
            out.push(MULTI_AZ.finding(
                None,
                format!(
                    "{tier} subnets span {} Availability Zone(s) [{}]; at least 2 are required",
                    list.len(),
                    list.join(", ")
                ),
            ));
        }
    }
    out
}

fn check_internet_gateway(view: &StackView) -> Vec<Finding> {
    let igws: Vec<_> = view.of_kind(kinds::INTERNET_GATEWAY).collect();
    if igws.is_empty() {
        return vec![INTERNET_GATEWAY.finding(None, "the stack has no internet gateway")];
    }
    let mut out = Vec::new();
    for igw in igws {
        let attached = igw
            .input("vpc_id")
            .is_some_and(|v| view.target(v, kinds::VPC).is_some());
        if !attached {
            out.push(INTERNET_GATEWAY.at(&igw.address, "not attached to a VPC of this stack"));
        }
        let routed = view.of_kind(kinds::ROUTE_TABLE).any(|rt| {
            default_routes(rt).any(|route| {
                route
                    .get("gateway_id")
                    .is_some_and(|g| view.points_to(g, &igw.address))
            })
        });
        if !routed {
            out.push(INTERNET_GATEWAY.at(
                &igw.address,
                "no route table sends 0.0.0.0/0 to this internet gateway",
            ));
        }
    }
    out
}

fn check_route_table_associations(view: &StackView) -> Vec<Finding> {
    let mut out = Vec::new();
    for subnet in view.of_kind(kinds::SUBNET) {
        if view.route_tables_of(&subnet.address).is_empty() {
            out.push(
                ROUTE_TABLE_ASSOCIATIONS.at(&subnet.address, "not associated with any route table"),
            );
        }
    }
    for rt in view.of_kind(kinds::ROUTE_TABLE) {
        if rt.input_list("subnet_ids").is_empty() {
            out.push(ROUTE_TABLE_ASSOCIATIONS.at(&rt.address, "associated with no subnet"));
        }
    }
    out
}

fn check_nat_gateway(view: &StackView) -> Vec<Finding> {
    let nats: Vec<_> = view.of_kind(kinds::NAT_GATEWAY).collect();
    let mut out = Vec::new();
    if nats.is_empty() {
        out.push(NAT_GATEWAY.finding(None, "the stack has no NAT gateway"));
    }
    for nat in &nats {
        let subnet = nat
            .input("subnet_id")
            .and_then(|v| view.target(v, kinds::SUBNET));
        match subnet {
            None => out.push(NAT_GATEWAY.at(&nat.address, "not in a subnet of this stack")),
            Some(s) if !view.is_public_subnet(s) => out.push(NAT_GATEWAY.at(
                &nat.address,
                format!(
                    "in private subnet {}; it must be in a public subnet",
                    s.address
                ),
            )),
            Some(_) => {}
        }
        let has_eip = nat
            .input("allocation_id")
            .is_some_and(|v| view.target(v, kinds::EIP).is_some());
        if !has_eip {
            out.push(NAT_GATEWAY.at(&nat.address, "has no Elastic IP (aws_eip) of this stack"));
        }
    }
    for subnet in view
        .of_kind(kinds::SUBNET)
        .filter(|s| !view.is_public_subnet(s))
    {
        let tables = view.route_tables_of(&subnet.address);
        // A subnet without a route table is NOVA-NET-004's finding.
        if tables.is_empty() {
            continue;
        }
        let via_nat = tables.iter().any(|rt| {
            default_routes(rt).any(|route| {
                route
                    .get("nat_gateway_id")
                    .is_some_and(|n| view.target(n, kinds::NAT_GATEWAY).is_some())
            })
        });
        if !via_nat {
            out.push(NAT_GATEWAY.at(
                &subnet.address,
                "private subnet whose route table has no 0.0.0.0/0 route to a NAT gateway",
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::fixture::*;
    use crate::policy::{evaluate, StackView};

    #[test]
    fn another_region_fires_net_001() {
        let bp = blueprint();
        let view = StackView::from_blueprint(&bp, "eu-west-1", ACCOUNT, ENVIRONMENT);
        let report = evaluate(&view);
        // The key policy names logs.us-east-1, which is wrong in eu-west-1 too.
        assert_eq!(report.rule_ids(), ["NOVA-KMS-002", "NOVA-NET-001"]);
        assert!(report.findings[1].message.contains("eu-west-1"));
    }

    #[test]
    fn a_live_arn_in_another_region_fires_net_001() {
        let bp = blueprint();
        let mut resources = live_resources(&bp);
        resources[0].outputs.insert(
            "arn".into(),
            Value::str("arn:aws:kms:eu-west-1:000000000000:key/x"),
        );
        let report = evaluate(&live_view_of(&bp, resources));
        assert!(report.rule_ids().contains(&"NOVA-NET-001"), "{report:#?}");
    }

    #[test]
    fn no_vpc_fires_net_001() {
        let mut bp = blueprint();
        remove(&mut bp, "aws_vpc.main");
        let report = evaluate(&plan_view(&bp));
        assert!(report.rule_ids().contains(&"NOVA-NET-001"));
    }

    #[test]
    fn all_subnets_in_one_az_fire_net_002() {
        let mut bp = blueprint();
        for a in ["public[0]", "public[1]", "private[0]", "private[1]"] {
            set(
                &mut bp,
                &format!("aws_subnet.{a}"),
                "availability_zone",
                "us-east-1a",
            );
        }
        let report = assert_fires_only(&bp, &["NOVA-NET-002"]);
        assert_eq!(report.findings.len(), 2, "one finding per tier");
    }

    #[test]
    fn an_unassociated_subnet_fires_net_004() {
        let mut bp = blueprint();
        clear(&mut bp, "aws_route_table.private[1]", "subnet_ids");
        let report = assert_fires_only(&bp, &["NOVA-NET-004"]);
        let at: Vec<String> = report
            .findings
            .iter()
            .filter_map(|f| f.address.as_ref().map(ToString::to_string))
            .collect();
        assert_eq!(at, ["aws_route_table.private[1]", "aws_subnet.private[1]"]);
    }

    /// Each way of breaking a network rule whose findings need no closer look, and the rule
    /// that must then fire.
    const CASES: &[Case] = &[
        Case {
            breaks: "a subnet outside us-east-1",
            change: |bp| {
                set(
                    bp,
                    "aws_subnet.public[0]",
                    "availability_zone",
                    "us-west-2a",
                )
            },
            fires: &["NOVA-NET-001"],
        },
        Case {
            breaks: "a detached internet gateway",
            change: |bp| set(bp, "aws_internet_gateway.main", "vpc_id", "vpc-elsewhere"),
            fires: &["NOVA-NET-003"],
        },
        Case {
            breaks: "a missing internet gateway",
            change: |bp| remove(bp, "aws_internet_gateway.main"),
            fires: &["NOVA-NET-003"],
        },
        Case {
            breaks: "a private route table without NAT",
            change: |bp| clear(bp, "aws_route_table.private[0]", "routes"),
            fires: &["NOVA-NET-005"],
        },
        Case {
            breaks: "a NAT gateway in a private subnet",
            change: |bp| {
                let private = Value::reference(&addr("aws_subnet.private[0]"), "id");
                set(bp, "aws_nat_gateway.main[0]", "subnet_id", private);
            },
            fires: &["NOVA-NET-005"],
        },
        Case {
            breaks: "no NAT gateway",
            change: |bp| remove(bp, "aws_nat_gateway.main[0]"),
            fires: &["NOVA-NET-005"],
        },
    ];

    #[test]
    fn each_broken_network_item_fires_its_rule() {
        assert_cases(CASES);
    }
}
