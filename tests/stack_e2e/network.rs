//! Checklist 1: the VPC, subnets over two AZs, the internet gateway, NAT and route tables.

use super::*;

pub async fn check(aws: &Aws, d: &Deployed) {
    let vpc_id = d.vpc_id.clone();
    let public_ids = d.public_ids.clone();
    let private_ids = d.private_ids.clone();
    let nat_ids = d.nat_ids.clone();
    let name = d.name.clone();
    let vpc = aws
        .ec2
        .describe_vpcs()
        .vpc_ids(&vpc_id)
        .send()
        .await
        .expect("DescribeVpcs")
        .vpcs()[0]
        .clone();
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    assert_tagged("VPC", &name, ec2_tags(vpc.tags()));

    let subnets = aws
        .ec2
        .describe_subnets()
        .filters(filter("vpc-id", &[&vpc_id]))
        .send()
        .await
        .expect("DescribeSubnets")
        .subnets()
        .to_vec();
    assert_eq!(subnets.len(), 4, "2 public + 2 private subnets");
    let az_of: BTreeMap<String, String> = subnets
        .iter()
        .map(|s| {
            assert_tagged(
                &format!("subnet {:?}", s.subnet_id()),
                &name,
                ec2_tags(s.tags()),
            );
            (
                s.subnet_id().unwrap().to_string(),
                s.availability_zone().unwrap().to_string(),
            )
        })
        .collect();
    for (tier, ids) in [("public", &public_ids), ("private", &private_ids)] {
        let zones: BTreeSet<&String> = ids.iter().map(|id| &az_of[id]).collect();
        assert_eq!(
            zones.len(),
            2,
            "{tier} subnets in 2 distinct AZs: {zones:?}"
        );
        assert!(zones.iter().all(|z| z.starts_with("us-east-1")));
    }

    let igws = aws
        .ec2
        .describe_internet_gateways()
        .filters(filter("attachment.vpc-id", &[&vpc_id]))
        .send()
        .await
        .expect("DescribeInternetGateways")
        .internet_gateways()
        .to_vec();
    assert_eq!(igws.len(), 1, "one IGW attached to the VPC");
    let igw = &igws[0];
    let igw_id = igw.internet_gateway_id().unwrap().to_string();
    assert!(
        igw.attachments()
            .iter()
            .any(|a| a.vpc_id() == Some(vpc_id.as_str())),
        "IGW attached to the VPC: {:?}",
        igw.attachments()
    );
    assert_tagged("IGW", &name, ec2_tags(igw.tags()));

    let nats = aws
        .ec2
        .describe_nat_gateways()
        .set_nat_gateway_ids(Some(nat_ids.clone()))
        .send()
        .await
        .expect("DescribeNatGateways")
        .nat_gateways()
        .to_vec();
    assert_eq!(nats.len(), 1, "nat = single");
    for nat in &nats {
        let subnet = nat.subnet_id().unwrap_or_default();
        assert!(
            public_ids.iter().any(|p| p == subnet),
            "NAT gateway in a public subnet, got {subnet}"
        );
        assert_tagged("NAT gateway", &name, ec2_tags(nat.tags()));
        let allocations: Vec<String> = nat
            .nat_gateway_addresses()
            .iter()
            .filter_map(|a| a.allocation_id().map(str::to_string))
            .collect();
        assert_eq!(allocations.len(), 1, "NAT gateway has its EIP");
        let eips = aws
            .ec2
            .describe_addresses()
            .set_allocation_ids(Some(allocations))
            .send()
            .await
            .expect("DescribeAddresses")
            .addresses()
            .to_vec();
        assert_eq!(eips.len(), 1);
        assert_tagged("EIP", &name, ec2_tags(eips[0].tags()));
    }

    let route_tables = aws
        .ec2
        .describe_route_tables()
        .filters(filter("vpc-id", &[&vpc_id]))
        .send()
        .await
        .expect("DescribeRouteTables")
        .route_tables()
        .to_vec();
    let default_target = |subnet: &str| {
        let table = route_tables
            .iter()
            .find(|t| {
                t.associations()
                    .iter()
                    .any(|a| a.subnet_id() == Some(subnet))
            })
            .unwrap_or_else(|| panic!("subnet {subnet} is associated with no route table"));
        assert_tagged(
            &format!("route table {:?}", table.route_table_id()),
            &name,
            ec2_tags(table.tags()),
        );
        let route = table
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .unwrap_or_else(|| panic!("route table of {subnet} has no 0.0.0.0/0 route"));
        (
            route.gateway_id().map(str::to_string),
            route.nat_gateway_id().map(str::to_string),
        )
    };
    for subnet in &public_ids {
        assert_eq!(
            default_target(subnet),
            (Some(igw_id.clone()), None),
            "public subnet {subnet}: 0.0.0.0/0 -> IGW"
        );
    }
    for subnet in &private_ids {
        let (_, nat) = default_target(subnet);
        assert!(
            nat.as_ref().is_some_and(|n| nat_ids.contains(n)),
            "private subnet {subnet}: 0.0.0.0/0 -> a NAT gateway, got {nat:?}"
        );
    }
}
