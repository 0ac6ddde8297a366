//! The VPC: public and private subnets in each zone, the internet gateway, NAT
//! gateway(s) with their Elastic IPs, and the route tables.

use crate::provider::aws::kinds;
use std::collections::BTreeMap;

use super::{indexed, r, Builder};
use crate::config::NatMode;
use crate::model::{Address, Value};

pub(crate) struct Network {
    pub vpc: Address,
    pub igw: Address,
    pub public_subnets: Vec<Address>,
    pub private_subnets: Vec<Address>,
    pub nat_gateways: Vec<Address>,
}

pub(crate) fn network(b: &mut Builder) -> Network {
    let vpc = b
        .tagged(kinds::VPC, "main", &b.naming.name("vpc"))
        .with("cidr_block", b.config.vpc_cidr.to_string())
        .with("enable_dns_support", true)
        .with("enable_dns_hostnames", true);
    let vpc = b.add(vpc);
    let igw = b
        .tagged(kinds::INTERNET_GATEWAY, "main", &b.naming.name("igw"))
        .with("vpc_id", r(&vpc, "id"));
    let igw = b.add(igw);

    let public_subnets = subnets(b, &vpc, "public", true);
    let private_subnets = subnets(b, &vpc, "private", false);
    let nat_gateways = nat_gateways(b, &public_subnets, &igw);

    let public_rt = b
        .tagged(kinds::ROUTE_TABLE, "public", &b.naming.name("public"))
        .with("vpc_id", r(&vpc, "id"))
        .with(
            "routes",
            Value::List(vec![default_route("gateway_id", r(&igw, "id"))]),
        )
        .with(
            "subnet_ids",
            Value::List(public_subnets.iter().map(|s| r(s, "id")).collect()),
        );
    b.add(public_rt);
    for (i, subnet) in private_subnets.iter().enumerate() {
        let nat = &nat_gateways[i.min(nat_gateways.len() - 1)];
        let rt = b
            .tagged(
                kinds::ROUTE_TABLE,
                &indexed("private", i),
                &b.naming.numbered("private", i),
            )
            .with("vpc_id", r(&vpc, "id"))
            .with(
                "routes",
                Value::List(vec![default_route("nat_gateway_id", r(nat, "id"))]),
            )
            .with("subnet_ids", Value::List(vec![r(subnet, "id")]));
        b.add(rt);
    }
    Network {
        vpc,
        igw,
        public_subnets,
        private_subnets,
        nat_gateways,
    }
}

/// One subnet per zone; its CIDR depends on the zone's position alone (configured, or
/// placed by the context's layout), so a change of `az_count` only adds or removes the last
/// zones' subnets.
fn subnets(b: &mut Builder, vpc: &Address, tier: &str, public: bool) -> Vec<Address> {
    let zones = b.config.availability_zones.clone();
    zones
        .into_iter()
        .enumerate()
        .map(|(i, zone)| {
            let cidr = b.config.subnet_cidr(b.context.subnet_layout, i, public);
            let subnet = b
                .tagged(
                    kinds::SUBNET,
                    &indexed(tier, i),
                    &b.naming.numbered(tier, i),
                )
                .with("vpc_id", r(vpc, "id"))
                .with("cidr_block", cidr.to_string())
                .with("availability_zone", zone)
                .with("map_public_ip_on_launch", public);
            b.add(subnet)
        })
        .collect()
}

fn nat_gateways(b: &mut Builder, public_subnets: &[Address], igw: &Address) -> Vec<Address> {
    let count = match b.config.nat {
        NatMode::Single => 1,
        NatMode::PerAz => public_subnets.len(),
    };
    (0..count)
        .map(|k| {
            let eip = b.tagged(kinds::EIP, &indexed("nat", k), &b.naming.numbered("nat", k));
            let eip = b.add(eip);
            let nat = b
                .tagged(
                    kinds::NAT_GATEWAY,
                    &indexed("main", k),
                    &b.naming.numbered("nat", k),
                )
                .with("subnet_id", r(&public_subnets[k], "id"))
                .with("allocation_id", r(&eip, "allocation_id"))
                // A NAT gateway needs the VPC's internet gateway attached to be useful.
                .after(igw);
            b.add(nat)
        })
        .collect()
}

fn default_route(target_field: &str, target: Value) -> Value {
    let mut route = BTreeMap::new();
    route.insert(
        "destination_cidr_block".to_string(),
        Value::str("0.0.0.0/0"),
    );
    route.insert(target_field.to_string(), target);
    Value::Map(route)
}
