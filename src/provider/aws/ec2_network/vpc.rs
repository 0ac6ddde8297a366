//! `aws_vpc`: a VPC with its DNS attributes.

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Vpc, VpcAttributeName, VpcState};

use super::blockers::Holder;
use super::{
    ec2_arn, fields, optional_bool, put_if_applied, s, unless_gone, CREATE_WAIT, PROPAGATION_WAIT,
};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::ec2_kind::{returned_id, Ec2Kind};
use crate::provider::aws::ec2_objects::{describe_one, Ec2Object};
use crate::provider::aws::ec2_tags::{tag_specifications, tags_to_value, update_tags};
use crate::provider::aws::kinds;
use crate::provider::aws::{
    aws_error, has_code, required_str, retry_while, wait_until, AwsClients,
};
use crate::provider::schema::fields as f;
use crate::provider::Update;
use crate::provider::{Created, Observed, OpContext, ProviderError, Schema};

const NOT_FOUND: &[&str] = <Vpc as Ec2Object>::NOT_FOUND;

/// `aws_vpc`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static VPC_SCHEMA: Schema = Schema::declare(
    kinds::VPC,
    &[
        f::string("cidr_block").required().force_new(),
        f::boolean("enable_dns_support"),
        f::boolean("enable_dns_hostnames"),
        f::TAGS,
    ],
    &["id", "arn", "cidr_block"],
    true,
);

pub struct VpcProvider {
    pub(super) clients: AwsClients,
}

impl VpcProvider {
    /// One DNS attribute of the VPC, or `None` when the VPC does not exist.
    async fn attribute(
        &self,
        id: &str,
        name: VpcAttributeName,
    ) -> Result<Option<bool>, ProviderError> {
        let result = self
            .clients
            .ec2
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(name.clone())
            .send()
            .await
            .map_err(|e| aws_error("DescribeVpcAttribute", e));
        Ok(unless_gone(result, NOT_FOUND)?.map(|out| {
            let value = match name {
                VpcAttributeName::EnableDnsHostnames => out.enable_dns_hostnames(),
                _ => out.enable_dns_support(),
            };
            value
                .and_then(AttributeBooleanValue::value)
                .unwrap_or(false)
        }))
    }

    async fn set_attribute(
        &self,
        ctx: &OpContext,
        id: &str,
        name: VpcAttributeName,
        value: bool,
    ) -> Result<(), ProviderError> {
        let flag = AttributeBooleanValue::builder().value(value).build();
        retry_while(
            ctx,
            "setting a VPC DNS attribute",
            PROPAGATION_WAIT,
            |e| has_code(e, NOT_FOUND),
            || {
                let call = self.clients.ec2.modify_vpc_attribute().vpc_id(id);
                let call = match name {
                    VpcAttributeName::EnableDnsHostnames => call.enable_dns_hostnames(flag.clone()),
                    _ => call.enable_dns_support(flag.clone()),
                };
                async move {
                    call.send()
                        .await
                        .map(|_| ())
                        .map_err(|e| aws_error("ModifyVpcAttribute", e))
                }
            },
        )
        .await
    }

    /// Sets the DNS attributes that `new` gives and `old` does not already have. Hostnames
    /// need DNS support, so support is enabled first and disabled last.
    async fn apply_dns(
        &self,
        ctx: &OpContext,
        id: &str,
        old: &Inputs,
        new: &Inputs,
    ) -> Result<(), ProviderError> {
        let changed = |field: &str| {
            let wanted = optional_bool(new, field);
            wanted.filter(|w| optional_bool(old, field) != Some(*w))
        };
        let support = changed("enable_dns_support");
        let hostnames = changed("enable_dns_hostnames");
        if support == Some(true) {
            self.set_attribute(ctx, id, VpcAttributeName::EnableDnsSupport, true)
                .await?;
        }
        if let Some(value) = hostnames {
            self.set_attribute(ctx, id, VpcAttributeName::EnableDnsHostnames, value)
                .await?;
        }
        if support == Some(false) {
            self.set_attribute(ctx, id, VpcAttributeName::EnableDnsSupport, false)
                .await?;
        }
        Ok(())
    }

    fn outputs(&self, vpc: &Vpc) -> Outputs {
        let id = vpc.vpc_id().unwrap_or_default();
        let owner = vpc.owner_id().unwrap_or_default();
        fields([
            ("id", s(id)),
            ("arn", s(ec2_arn(&self.clients, owner, "vpc", id))),
            ("cidr_block", s(vpc.cidr_block().unwrap_or_default())),
        ])
    }

    async fn wait_available(&self, ctx: &OpContext, id: &str) -> Result<Vpc, ProviderError> {
        wait_until(
            ctx,
            &format!("VPC {id} to be available"),
            CREATE_WAIT,
            || async {
                Ok(describe_one::<Vpc>(&self.clients.ec2, id)
                    .await?
                    .filter(|vpc| vpc.state() == Some(&VpcState::Available)))
            },
        )
        .await
    }
}

#[async_trait]
impl Ec2Kind for VpcProvider {
    type Object = Vpc;

    const SCHEMA: &'static Schema = &VPC_SCHEMA;

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let cidr = required_str(inputs, "cidr_block")?;
        let out = self
            .clients
            .once
            .ec2
            .create_vpc()
            .cidr_block(cidr)
            .set_tag_specifications(tag_specifications(ResourceType::Vpc, inputs))
            .send()
            .await
            .map_err(|e| aws_error("CreateVpc", e))?;
        let id = returned_id("CreateVpc", out.vpc().and_then(Vpc::vpc_id))?;
        ctx.note(&format!("created {id}"));
        self.wait_available(ctx, &id).await?;
        // AWS defaults: DNS support on, DNS hostnames off.
        let defaults = fields([
            ("enable_dns_support", Value::Bool(true)),
            ("enable_dns_hostnames", Value::Bool(false)),
        ]);
        self.apply_dns(ctx, &id, &defaults, inputs).await?;
        let vpc = self.wait_available(ctx, &id).await?;
        Ok(Created {
            id,
            outputs: self.outputs(&vpc),
        })
    }

    async fn observe(&self, vpc: &Vpc, applied: &Inputs) -> Result<Observed, ProviderError> {
        let id = vpc.vpc_id().unwrap_or_default();
        let mut inputs = fields([
            ("cidr_block", s(vpc.cidr_block().unwrap_or_default())),
            ("tags", tags_to_value(vpc.tags())),
        ]);
        for (field, name) in [
            ("enable_dns_support", VpcAttributeName::EnableDnsSupport),
            ("enable_dns_hostnames", VpcAttributeName::EnableDnsHostnames),
        ] {
            let Some(value) = self.attribute(id, name).await? else {
                return Ok(Observed::Gone);
            };
            put_if_applied(&mut inputs, applied, field, Value::Bool(value));
        }
        Ok(Observed::Present {
            inputs,
            outputs: self.outputs(vpc),
        })
    }

    async fn adopt(&self, _ctx: &OpContext, vpc: &Vpc) -> Result<Created, ProviderError> {
        Ok(Created {
            id: vpc.vpc_id().unwrap_or_default().to_string(),
            outputs: self.outputs(vpc),
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, old, new, .. } = change;
        self.apply_dns(ctx, id, old, new).await?;
        update_tags(&self.clients.ec2, id, old, new).await?;
        let vpc = describe_one::<Vpc>(&self.clients.ec2, id)
            .await?
            .ok_or_else(|| ProviderError::Other(format!("VPC {id} disappeared during update")))?;
        Ok(self.outputs(&vpc))
    }

    fn holder(id: &str) -> Option<Holder<'_>> {
        Some(Holder::Vpc(id))
    }
}
