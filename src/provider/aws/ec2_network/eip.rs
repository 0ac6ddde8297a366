//! `aws_eip`: an Elastic IP address for use in a VPC (e.g. by a NAT gateway).

use async_trait::async_trait;
use aws_sdk_ec2::types::{Address, DomainType, ResourceType};

use super::blockers::Holder;
use super::{fields, s, PROPAGATION_WAIT};
use crate::model::{Inputs, Outputs};
use crate::provider::aws::ec2_kind::{returned_id, Ec2Kind};
use crate::provider::aws::ec2_objects::Ec2Object;
use crate::provider::aws::ec2_tags::{tag_specifications, tags_to_value, update_tags};
use crate::provider::aws::kinds;
use crate::provider::aws::{aws_error, has_code, retry_while, AwsClients};
use crate::provider::schema::fields as f;
use crate::provider::Update;
use crate::provider::{Created, Observed, OpContext, ProviderError, Schema};

const NOT_FOUND: &[&str] = <Address as Ec2Object>::NOT_FOUND;

/// `aws_eip`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static EIP_SCHEMA: Schema = Schema::declare(
    kinds::EIP,
    &[f::TAGS],
    &["id", "allocation_id", "public_ip"],
    true,
);

pub struct EipProvider {
    pub(super) clients: AwsClients,
}

impl EipProvider {
    fn outputs(allocation_id: &str, public_ip: &str) -> Outputs {
        fields([
            ("id", s(allocation_id)),
            ("allocation_id", s(allocation_id)),
            ("public_ip", s(public_ip)),
        ])
    }

    fn created(address: &Address) -> Created {
        let id = address.allocation_id().unwrap_or_default();
        Created {
            id: id.to_string(),
            outputs: Self::outputs(id, address.public_ip().unwrap_or_default()),
        }
    }
}

#[async_trait]
impl Ec2Kind for EipProvider {
    type Object = Address;

    const SCHEMA: &'static Schema = &EIP_SCHEMA;

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let out = self
            .clients
            .once
            .ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .set_tag_specifications(tag_specifications(ResourceType::ElasticIp, inputs))
            .send()
            .await
            .map_err(|e| aws_error("AllocateAddress", e))?;
        let id = returned_id("AllocateAddress", out.allocation_id())?;
        ctx.note(&format!("allocated {id}"));
        Ok(Created {
            outputs: Self::outputs(&id, out.public_ip().unwrap_or_default()),
            id,
        })
    }

    async fn observe(
        &self,
        address: &Address,
        _applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        Ok(Observed::Present {
            inputs: fields([("tags", tags_to_value(address.tags()))]),
            outputs: Self::created(address).outputs,
        })
    }

    async fn adopt(&self, _ctx: &OpContext, address: &Address) -> Result<Created, ProviderError> {
        Ok(Self::created(address))
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        // A just-allocated address can be unknown to CreateTags for a moment.
        retry_while(
            ctx,
            &format!("tagging {}", change.id),
            PROPAGATION_WAIT,
            |e| has_code(e, NOT_FOUND),
            || update_tags(&self.clients.ec2, change.id, change.old, change.new),
        )
        .await?;
        Ok(change.outputs.clone())
    }

    fn holder(id: &str) -> Option<Holder<'_>> {
        Some(Holder::Address(id))
    }
}
