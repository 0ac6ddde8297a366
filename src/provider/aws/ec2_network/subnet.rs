//! `aws_subnet`: a subnet of a VPC in one availability zone.

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Subnet, SubnetState};

use super::blockers::Holder;
use super::{fields, optional_bool, put_if_applied, s, CREATE_WAIT, PROPAGATION_WAIT};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::ec2_kind::{returned_id, Ec2Kind};
use crate::provider::aws::ec2_objects::{describe_one, Ec2Object};
use crate::provider::aws::ec2_tags::{tag_specifications, tags_to_value, update_tags};
use crate::provider::aws::kinds;
use crate::provider::aws::{
    aws_error, has_code, optional_str, required_str, retry_while, wait_until, AwsClients,
};
use crate::provider::schema::fields as f;
use crate::provider::Update;
use crate::provider::{Created, Observed, OpContext, ProviderError, Schema};

const NOT_FOUND: &[&str] = <Subnet as Ec2Object>::NOT_FOUND;

/// `aws_subnet`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static SUBNET_SCHEMA: Schema = Schema::declare(
    kinds::SUBNET,
    &[
        f::string("vpc_id").required().force_new().blocks_delete(),
        // Subnets of a VPC cannot overlap: a replacement that keeps part of its block
        // deletes the old subnet first.
        f::string("cidr_block")
            .required()
            .force_new()
            .disjoint_within(&["vpc_id"]),
        f::string("availability_zone").force_new(),
        f::boolean("map_public_ip_on_launch"),
        f::TAGS,
    ],
    &["id", "arn", "availability_zone"],
    true,
);

pub struct SubnetProvider {
    pub(super) clients: AwsClients,
}

impl SubnetProvider {
    async fn set_map_public_ip(
        &self,
        ctx: &OpContext,
        id: &str,
        value: bool,
    ) -> Result<(), ProviderError> {
        retry_while(
            ctx,
            "setting map_public_ip_on_launch",
            PROPAGATION_WAIT,
            |e| has_code(e, NOT_FOUND),
            || async {
                self.clients
                    .ec2
                    .modify_subnet_attribute()
                    .subnet_id(id)
                    .map_public_ip_on_launch(AttributeBooleanValue::builder().value(value).build())
                    .send()
                    .await
                    .map_err(|e| aws_error("ModifySubnetAttribute", e))
            },
        )
        .await
        .map(|_| ())
    }

    fn outputs(subnet: &Subnet) -> Outputs {
        fields([
            ("id", s(subnet.subnet_id().unwrap_or_default())),
            ("arn", s(subnet.subnet_arn().unwrap_or_default())),
            (
                "availability_zone",
                s(subnet.availability_zone().unwrap_or_default()),
            ),
        ])
    }

    fn created(subnet: &Subnet) -> Created {
        Created {
            id: subnet.subnet_id().unwrap_or_default().to_string(),
            outputs: Self::outputs(subnet),
        }
    }
}

#[async_trait]
impl Ec2Kind for SubnetProvider {
    type Object = Subnet;

    const SCHEMA: &'static Schema = &SUBNET_SCHEMA;

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let out = self
            .clients
            .once
            .ec2
            .create_subnet()
            .vpc_id(required_str(inputs, "vpc_id")?)
            .cidr_block(required_str(inputs, "cidr_block")?)
            .set_availability_zone(optional_str(inputs, "availability_zone").map(str::to_string))
            .set_tag_specifications(tag_specifications(ResourceType::Subnet, inputs))
            .send()
            .await
            .map_err(|e| aws_error("CreateSubnet", e))?;
        let id = returned_id("CreateSubnet", out.subnet().and_then(Subnet::subnet_id))?;
        ctx.note(&format!("created {id}"));
        if optional_bool(inputs, "map_public_ip_on_launch") == Some(true) {
            self.set_map_public_ip(ctx, &id, true).await?;
        }
        let subnet = wait_until(
            ctx,
            &format!("subnet {id} to be available"),
            CREATE_WAIT,
            || async {
                Ok(describe_one::<Subnet>(&self.clients.ec2, &id)
                    .await?
                    .filter(|s| s.state() == Some(&SubnetState::Available)))
            },
        )
        .await?;
        Ok(Self::created(&subnet))
    }

    async fn observe(&self, subnet: &Subnet, applied: &Inputs) -> Result<Observed, ProviderError> {
        let mut inputs = fields([
            ("vpc_id", s(subnet.vpc_id().unwrap_or_default())),
            ("cidr_block", s(subnet.cidr_block().unwrap_or_default())),
            ("tags", tags_to_value(subnet.tags())),
        ]);
        put_if_applied(
            &mut inputs,
            applied,
            "availability_zone",
            s(subnet.availability_zone().unwrap_or_default()),
        );
        put_if_applied(
            &mut inputs,
            applied,
            "map_public_ip_on_launch",
            Value::Bool(subnet.map_public_ip_on_launch().unwrap_or(false)),
        );
        Ok(Observed::Present {
            inputs,
            outputs: Self::outputs(subnet),
        })
    }

    async fn adopt(&self, _ctx: &OpContext, subnet: &Subnet) -> Result<Created, ProviderError> {
        Ok(Self::created(subnet))
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, old, new, .. } = change;
        let wanted = optional_bool(new, "map_public_ip_on_launch").unwrap_or(false);
        if optional_bool(old, "map_public_ip_on_launch").unwrap_or(false) != wanted {
            self.set_map_public_ip(ctx, id, wanted).await?;
        }
        update_tags(&self.clients.ec2, id, old, new).await?;
        let subnet = describe_one::<Subnet>(&self.clients.ec2, id)
            .await?
            .ok_or_else(|| {
                ProviderError::Other(format!("subnet {id} disappeared during update"))
            })?;
        Ok(Self::outputs(&subnet))
    }

    fn holder(id: &str) -> Option<Holder<'_>> {
        Some(Holder::Subnet(id))
    }
}
