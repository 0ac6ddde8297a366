//! `aws_internet_gateway`: an internet gateway attached to one VPC. A `vpc_id` change
//! detaches it and attaches it to the new VPC; delete detaches first.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttachmentStatus, InternetGateway, ResourceType};

use super::blockers::{delete_when_free, Holder};
use super::{fields, is_dependency_violation, s, unless_gone, CREATE_WAIT, PROPAGATION_WAIT};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::ec2_kind::{returned_id, Ec2Kind};
use crate::provider::aws::ec2_objects::{describe_one, Ec2Object};
use crate::provider::aws::ec2_tags::{tag_specifications, tags_to_value, update_tags};
use crate::provider::aws::kinds;
use crate::provider::aws::{
    aws_error, has_code, required_str, retry_while, wait_until, AwsClients,
};
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, Schema};
use crate::provider::{Recorded, Update};

const NOT_FOUND: &[&str] = <InternetGateway as Ec2Object>::NOT_FOUND;

/// Detaching retries `DependencyViolation` while the VPC still has public addresses mapped
/// (NAT gateways and instances being deleted release them within minutes).
const DETACH_WAIT: Duration = Duration::from_secs(15 * 60);

/// `aws_internet_gateway`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static INTERNET_GATEWAY_SCHEMA: Schema = Schema::declare(
    kinds::INTERNET_GATEWAY,
    &[f::string("vpc_id").required().blocks_delete(), f::TAGS],
    &["id"],
    true,
);

pub struct InternetGatewayProvider {
    pub(super) clients: AwsClients,
}

impl InternetGatewayProvider {
    /// The VPCs the gateway is attached (or attaching) to, sorted.
    fn attached_vpcs(igw: &InternetGateway) -> Vec<String> {
        let mut vpcs: Vec<String> = igw
            .attachments()
            .iter()
            .filter(|a| {
                !matches!(
                    a.state(),
                    Some(AttachmentStatus::Detached | AttachmentStatus::Detaching)
                )
            })
            .filter_map(|a| a.vpc_id().map(str::to_string))
            .collect();
        vpcs.sort();
        vpcs
    }

    async fn attach(&self, ctx: &OpContext, id: &str, vpc_id: &str) -> Result<(), ProviderError> {
        retry_while(
            ctx,
            &format!("attaching {id} to {vpc_id}"),
            PROPAGATION_WAIT,
            |e| {
                has_code(
                    e,
                    &["InvalidInternetGatewayID.NotFound", "InvalidVpcID.NotFound"],
                )
            },
            || async {
                let result = self
                    .clients
                    .ec2
                    .attach_internet_gateway()
                    .internet_gateway_id(id)
                    .vpc_id(vpc_id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error("AttachInternetGateway", e));
                match result {
                    // The SDK's retry of an attach whose answer was lost: the wait below
                    // checks that it is attached to this VPC.
                    Err(err) if has_code(&err, &["Resource.AlreadyAssociated"]) => Ok(()),
                    other => other,
                }
            },
        )
        .await?;
        wait_until(
            ctx,
            &format!("{id} to attach to {vpc_id}"),
            CREATE_WAIT,
            || async {
                // Right after its create a gateway may not be visible yet: keep waiting.
                let Some(igw) = describe_one::<InternetGateway>(&self.clients.ec2, id).await?
                else {
                    return Ok(None);
                };
                let attached = igw.attachments().iter().any(|a| {
                    a.vpc_id() == Some(vpc_id)
                    // IGW attachments report `available` (not in the SDK's enum) once attached.
                    && matches!(a.state().map(|s| s.as_str()), Some("attached" | "available"))
                });
                Ok(attached.then_some(()))
            },
        )
        .await
    }

    async fn detach(&self, ctx: &OpContext, id: &str, vpc_id: &str) -> Result<(), ProviderError> {
        let ec2 = &self.clients.ec2;
        let already = [NOT_FOUND[0], "Gateway.NotAttached", "InvalidVpcID.NotFound"];
        delete_when_free(ctx, ec2, Holder::VpcAddresses(vpc_id), &already, || async {
            ec2.detach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc_id)
                .send()
                .await
                .map_err(|e| aws_error("DetachInternetGateway", e))
        })
        .await
    }

    fn outputs(id: &str) -> Outputs {
        fields([("id", s(id))])
    }
}

#[async_trait]
impl Ec2Kind for InternetGatewayProvider {
    type Object = InternetGateway;

    const SCHEMA: &'static Schema = &INTERNET_GATEWAY_SCHEMA;

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let vpc_id = required_str(inputs, "vpc_id")?;
        let out = self
            .clients
            .once
            .ec2
            .create_internet_gateway()
            .set_tag_specifications(tag_specifications(ResourceType::InternetGateway, inputs))
            .send()
            .await
            .map_err(|e| aws_error("CreateInternetGateway", e))?;
        let id = returned_id(
            "CreateInternetGateway",
            out.internet_gateway()
                .and_then(InternetGateway::internet_gateway_id),
        )?;
        ctx.note(&format!("created {id}"));
        self.attach(ctx, &id, vpc_id).await?;
        Ok(Created {
            outputs: Self::outputs(&id),
            id,
        })
    }

    async fn observe(
        &self,
        igw: &InternetGateway,
        _applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let vpc_id = Self::attached_vpcs(igw)
            .into_iter()
            .next()
            .map(Value::String)
            .unwrap_or(Value::Null);
        Ok(Observed::Present {
            inputs: fields([("vpc_id", vpc_id), ("tags", tags_to_value(igw.tags()))]),
            outputs: Self::outputs(igw.internet_gateway_id().unwrap_or_default()),
        })
    }

    async fn adopt(
        &self,
        _ctx: &OpContext,
        igw: &InternetGateway,
    ) -> Result<Created, ProviderError> {
        let id = igw.internet_gateway_id().unwrap_or_default();
        Ok(Created {
            id: id.to_string(),
            outputs: Self::outputs(id),
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, old, new, .. } = change;
        let vpc_id = required_str(new, "vpc_id")?;
        let igw = describe_one::<InternetGateway>(&self.clients.ec2, id)
            .await?
            .ok_or_else(|| ProviderError::Other(format!("internet gateway {id} is gone")))?;
        let attached = Self::attached_vpcs(&igw);
        for other in attached.iter().filter(|v| v.as_str() != vpc_id) {
            ctx.note(&format!("detaching {id} from {other}"));
            self.detach(ctx, id, other).await?;
        }
        if !attached.iter().any(|v| v == vpc_id) {
            self.attach(ctx, id, vpc_id).await?;
        }
        update_tags(&self.clients.ec2, id, old, new).await?;
        Ok(Self::outputs(id))
    }

    async fn delete(
        &self,
        _ec2: &aws_sdk_ec2::Client,
        ctx: &OpContext,
        object: Recorded<'_>,
    ) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        let Some(igw) = describe_one::<InternetGateway>(&self.clients.ec2, id).await? else {
            return Ok(());
        };
        for vpc_id in Self::attached_vpcs(&igw) {
            self.detach(ctx, id, &vpc_id).await?;
        }
        let result = retry_while(
            ctx,
            &format!("deleting {id}"),
            DETACH_WAIT,
            is_dependency_violation,
            || InternetGateway::delete(&self.clients.ec2, id),
        )
        .await;
        unless_gone(result, NOT_FOUND).map(|_| ())
    }
}
