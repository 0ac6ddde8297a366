//! How nova looks up EC2 objects, once for every EC2 kind: one by id ("gone" when EC2 does
//! not know the id), many ids in one call (a refresh's batch), and the one that carries
//! this operation's ownership tags (recovery and import).

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Address, Filter, Instance, InternetGateway, NatGateway, RouteTable, SecurityGroup, Subnet, Tag,
    Volume, Vpc,
};
use aws_sdk_ec2::Client;

use super::ec2_tags::{first_owned, stack_filter};
use super::{aws_error, has_code, unless_gone};
use crate::provider::{OpContext, ProviderError};

/// The most ids nova names in one Describe* call (EC2 takes up to 1000 for most kinds; a
/// smaller batch keeps a request well inside its size limits).
const IDS_PER_CALL: usize = 100;

/// What one Describe* call asks for: these ids (EC2 refuses the whole call when one of
/// them is unknown), the objects matching these filters, or both.
#[derive(Debug, Default)]
pub struct Query {
    pub ids: Option<Vec<String>>,
    pub filters: Option<Vec<Filter>>,
}

impl Query {
    fn ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        Query {
            ids: Some(ids.into_iter().map(str::to_string).collect()),
            filters: None,
        }
    }

    fn filters(filters: Vec<Filter>) -> Self {
        Query {
            ids: None,
            filters: Some(filters),
        }
    }
}

/// An object EC2 describes (a VPC, a subnet, an instance, ...): its Describe* call, the
/// codes that call answers an unknown id with, and where its id and tags are.
#[async_trait]
pub trait Ec2Object: Clone + Send + Sync + 'static {
    /// The codes of "no such id" (e.g. `InvalidVpcID.NotFound`).
    const NOT_FOUND: &'static [&'static str];

    fn object_id(&self) -> Option<&str>;

    fn object_tags(&self) -> &[Tag];

    /// One Describe* call (every page of it).
    async fn describe(ec2: &Client, query: Query) -> Result<Vec<Self>, ProviderError>;

    /// The one call that deletes (or terminates, or releases) the object with this id.
    async fn delete(ec2: &Client, id: &str) -> Result<(), ProviderError>;
}

/// The object with this id, `None` when EC2 does not know it.
pub async fn describe_one<T: Ec2Object>(
    ec2: &Client,
    id: &str,
) -> Result<Option<T>, ProviderError> {
    let found = unless_gone(T::describe(ec2, Query::ids([id])).await, T::NOT_FOUND)?;
    Ok(found
        .into_iter()
        .flatten()
        .find(|object| object.object_id() == Some(id)))
}

/// The objects with these ids that exist, by id: one call per [`IDS_PER_CALL`] ids. EC2
/// refuses a call that names an id it does not know (one deleted out of band), so such a
/// batch is asked again one id at a time.
pub async fn describe_many<T: Ec2Object>(
    ec2: &Client,
    ids: &[&str],
) -> Result<BTreeMap<String, T>, ProviderError> {
    let mut found = BTreeMap::new();
    for batch in ids.chunks(IDS_PER_CALL) {
        let objects = match batch {
            [id] => describe_one::<T>(ec2, id).await?.into_iter().collect(),
            _ => match T::describe(ec2, Query::ids(batch.iter().copied())).await {
                Err(err) if has_code(&err, T::NOT_FOUND) => one_at_a_time::<T>(ec2, batch).await?,
                other => other?,
            },
        };
        for object in objects {
            if let Some(id) = object.object_id() {
                found.insert(id.to_string(), object);
            }
        }
    }
    Ok(found)
}

async fn one_at_a_time<T: Ec2Object>(ec2: &Client, ids: &[&str]) -> Result<Vec<T>, ProviderError> {
    let mut objects = Vec::new();
    for id in ids {
        objects.extend(describe_one::<T>(ec2, id).await?);
    }
    Ok(objects)
}

/// The objects matching `filters` (all of them when there are none).
pub async fn describe_where<T: Ec2Object>(
    ec2: &Client,
    filters: Vec<Filter>,
) -> Result<Vec<T>, ProviderError> {
    T::describe(ec2, Query::filters(filters)).await
}

/// The objects of this stack (`nova:stack` = `ctx.stack`, narrowed server-side) that also
/// match `filters`.
pub async fn describe_stack<T: Ec2Object>(
    ec2: &Client,
    ctx: &OpContext,
    filters: Vec<Filter>,
) -> Result<Vec<T>, ProviderError> {
    let mut all = vec![stack_filter(ctx)];
    all.extend(filters);
    describe_where(ec2, all).await
}

/// This operation's object: ownership tags, not an id the state already has for the
/// address, lowest id first ([`first_owned`]).
pub async fn find_owned<T: Ec2Object>(
    ec2: &Client,
    ctx: &OpContext,
) -> Result<Option<T>, ProviderError> {
    let objects = describe_stack::<T>(ec2, ctx, Vec::new()).await?;
    Ok(first_owned(ctx, &objects, T::object_tags, T::object_id).cloned())
}

#[async_trait]
impl Ec2Object for Vpc {
    const NOT_FOUND: &'static [&'static str] = &["InvalidVpcID.NotFound"];

    fn object_id(&self) -> Option<&str> {
        self.vpc_id()
    }

    fn object_tags(&self) -> &[Tag] {
        self.tags()
    }

    async fn describe(ec2: &Client, query: Query) -> Result<Vec<Self>, ProviderError> {
        let out = ec2
            .describe_vpcs()
            .set_vpc_ids(query.ids)
            .set_filters(query.filters)
            .send()
            .await
            .map_err(|e| aws_error("DescribeVpcs", e))?;
        Ok(out.vpcs().to_vec())
    }

    async fn delete(ec2: &Client, id: &str) -> Result<(), ProviderError> {
        ec2.delete_vpc()
            .vpc_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("DeleteVpc", e))
    }
}

#[async_trait]
impl Ec2Object for Subnet {
    const NOT_FOUND: &'static [&'static str] = &["InvalidSubnetID.NotFound"];

    fn object_id(&self) -> Option<&str> {
        self.subnet_id()
    }

    fn object_tags(&self) -> &[Tag] {
        self.tags()
    }

    async fn describe(ec2: &Client, query: Query) -> Result<Vec<Self>, ProviderError> {
        let out = ec2
            .describe_subnets()
            .set_subnet_ids(query.ids)
            .set_filters(query.filters)
            .send()
            .await
            .map_err(|e| aws_error("DescribeSubnets", e))?;
        Ok(out.subnets().to_vec())
    }

    async fn delete(ec2: &Client, id: &str) -> Result<(), ProviderError> {
        ec2.delete_subnet()
            .subnet_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("DeleteSubnet", e))
    }
}

#[async_trait]
impl Ec2Object for InternetGateway {
    const NOT_FOUND: &'static [&'static str] = &["InvalidInternetGatewayID.NotFound"];

    fn object_id(&self) -> Option<&str> {
        self.internet_gateway_id()
    }

    fn object_tags(&self) -> &[Tag] {
        self.tags()
    }

    async fn describe(ec2: &Client, query: Query) -> Result<Vec<Self>, ProviderError> {
        let out = ec2
            .describe_internet_gateways()
            .set_internet_gateway_ids(query.ids)
            .set_filters(query.filters)
            .send()
            .await
            .map_err(|e| aws_error("DescribeInternetGateways", e))?;
        Ok(out.internet_gateways().to_vec())
    }

    async fn delete(ec2: &Client, id: &str) -> Result<(), ProviderError> {
        ec2.delete_internet_gateway()
            .internet_gateway_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("DeleteInternetGateway", e))
    }
}

#[async_trait]
impl Ec2Object for Address {
    const NOT_FOUND: &'static [&'static str] = &["InvalidAllocationID.NotFound"];

    fn object_id(&self) -> Option<&str> {
        self.allocation_id()
    }

    fn object_tags(&self) -> &[Tag] {
        self.tags()
    }

    async fn describe(ec2: &Client, query: Query) -> Result<Vec<Self>, ProviderError> {
        let out = ec2
            .describe_addresses()
            .set_allocation_ids(query.ids)
            .set_filters(query.filters)
            .send()
            .await
            .map_err(|e| aws_error("DescribeAddresses", e))?;
        Ok(out.addresses().to_vec())
    }

    async fn delete(ec2: &Client, id: &str) -> Result<(), ProviderError> {
        ec2.release_address()
            .allocation_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("ReleaseAddress", e))
    }
}

#[async_trait]
impl Ec2Object for NatGateway {
    const NOT_FOUND: &'static [&'static str] =
        &["NatGatewayNotFound", "InvalidNatGatewayID.NotFound"];

    fn object_id(&self) -> Option<&str> {
        self.nat_gateway_id()
    }

    fn object_tags(&self) -> &[Tag] {
        self.tags()
    }

    async fn describe(ec2: &Client, query: Query) -> Result<Vec<Self>, ProviderError> {
        let out = ec2
            .describe_nat_gateways()
            .set_nat_gateway_ids(query.ids)
            .set_filter(query.filters)
            .send()
            .await
            .map_err(|e| aws_error("DescribeNatGateways", e))?;
        Ok(out.nat_gateways().to_vec())
    }

    async fn delete(ec2: &Client, id: &str) -> Result<(), ProviderError> {
        ec2.delete_nat_gateway()
            .nat_gateway_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("DeleteNatGateway", e))
    }
}

#[async_trait]
impl Ec2Object for RouteTable {
    const NOT_FOUND: &'static [&'static str] = &["InvalidRouteTableID.NotFound"];

    fn object_id(&self) -> Option<&str> {
        self.route_table_id()
    }

    fn object_tags(&self) -> &[Tag] {
        self.tags()
    }

    async fn describe(ec2: &Client, query: Query) -> Result<Vec<Self>, ProviderError> {
        let out = ec2
            .describe_route_tables()
            .set_route_table_ids(query.ids)
            .set_filters(query.filters)
            .send()
            .await
            .map_err(|e| aws_error("DescribeRouteTables", e))?;
        Ok(out.route_tables().to_vec())
    }

    async fn delete(ec2: &Client, id: &str) -> Result<(), ProviderError> {
        ec2.delete_route_table()
            .route_table_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("DeleteRouteTable", e))
    }
}

#[async_trait]
impl Ec2Object for SecurityGroup {
    const NOT_FOUND: &'static [&'static str] =
        &["InvalidGroup.NotFound", "InvalidGroupId.NotFound"];

    fn object_id(&self) -> Option<&str> {
        self.group_id()
    }

    fn object_tags(&self) -> &[Tag] {
        self.tags()
    }

    async fn describe(ec2: &Client, query: Query) -> Result<Vec<Self>, ProviderError> {
        let out = ec2
            .describe_security_groups()
            .set_group_ids(query.ids)
            .set_filters(query.filters)
            .send()
            .await
            .map_err(|e| aws_error("DescribeSecurityGroups", e))?;
        Ok(out.security_groups().to_vec())
    }

    async fn delete(ec2: &Client, id: &str) -> Result<(), ProviderError> {
        ec2.delete_security_group()
            .group_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("DeleteSecurityGroup", e))
    }
}

#[async_trait]
impl Ec2Object for Instance {
    const NOT_FOUND: &'static [&'static str] = &["InvalidInstanceID.NotFound"];

    fn object_id(&self) -> Option<&str> {
        self.instance_id()
    }

    fn object_tags(&self) -> &[Tag] {
        self.tags()
    }

    async fn describe(ec2: &Client, query: Query) -> Result<Vec<Self>, ProviderError> {
        let pages = ec2
            .describe_instances()
            .set_instance_ids(query.ids)
            .set_filters(query.filters)
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("DescribeInstances", e))?;
        Ok(pages
            .iter()
            .flat_map(|page| page.reservations())
            .flat_map(|reservation| reservation.instances())
            .cloned()
            .collect())
    }

    async fn delete(ec2: &Client, id: &str) -> Result<(), ProviderError> {
        ec2.terminate_instances()
            .instance_ids(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("TerminateInstances", e))
    }
}

#[async_trait]
impl Ec2Object for Volume {
    const NOT_FOUND: &'static [&'static str] = &["InvalidVolume.NotFound"];

    fn object_id(&self) -> Option<&str> {
        self.volume_id()
    }

    fn object_tags(&self) -> &[Tag] {
        self.tags()
    }

    async fn describe(ec2: &Client, query: Query) -> Result<Vec<Self>, ProviderError> {
        let out = ec2
            .describe_volumes()
            .set_volume_ids(query.ids)
            .set_filters(query.filters)
            .send()
            .await
            .map_err(|e| aws_error("DescribeVolumes", e))?;
        Ok(out.volumes().to_vec())
    }

    async fn delete(ec2: &Client, id: &str) -> Result<(), ProviderError> {
        ec2.delete_volume()
            .volume_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("DeleteVolume", e))
    }
}
