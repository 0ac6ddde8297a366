//! `aws_nat_gateway`: a public NAT gateway in a subnet, using an Elastic IP. Create is
//! idempotent through the client token and waits for `available`; delete waits for
//! `deleted` so the address can be released and the internet gateway detached.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Address, Filter, NatGateway, NatGatewayState, ResourceType};

use super::{fields, s, unless_gone, PROPAGATION_WAIT};
use crate::model::{Inputs, Outputs};
use crate::provider::aws::ec2_kind::{returned_id, Ec2Kind};
use crate::provider::aws::ec2_objects::{describe_one, describe_stack, Ec2Object};
use crate::provider::aws::ec2_tags::{
    has_ownership_tags, tag_specifications, tags_to_value, update_tags,
};
use crate::provider::aws::kinds;
use crate::provider::aws::{
    aws_error, has_code, required_str, retry_while, wait_expected, AwsClients, Expected,
};
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, Schema};
use crate::provider::{Recorded, Update};

const NOT_FOUND: &[&str] = <NatGateway as Ec2Object>::NOT_FOUND;

/// NAT gateways usually take 1-5 minutes to become available and as long to be deleted.
const NAT_WAIT: Duration = Duration::from_secs(15 * 60);
/// How long a NAT gateway typically stays `pending` on AWS (85-124 s measured, sources in
/// `fixtures/awssim/aws-us-east-1.toml`) and `deleting` (37-79 s): its waits poll tightly
/// around these.
const AVAILABLE_IN: Expected = Expected::secs(100);
const DELETED_IN: Expected = Expected::secs(55);

/// `aws_nat_gateway`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static NAT_GATEWAY_SCHEMA: Schema = Schema::declare(
    kinds::NAT_GATEWAY,
    &[
        f::string("subnet_id")
            .required()
            .force_new()
            .blocks_delete(),
        // An Elastic IP serves one NAT gateway at a time.
        f::string("allocation_id")
            .required()
            .force_new()
            .unique_within(&[])
            .blocks_delete(),
        f::TAGS,
    ],
    &["id", "public_ip"],
    true,
);

pub struct NatGatewayProvider {
    pub(super) clients: AwsClients,
}

/// A NAT gateway in one of these states is (or will soon be) gone.
fn is_finished(state: Option<&NatGatewayState>) -> bool {
    matches!(
        state,
        Some(NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed)
    )
}

impl NatGatewayProvider {
    fn outputs(nat: &NatGateway) -> Outputs {
        let public_ip = nat
            .nat_gateway_addresses()
            .iter()
            .find_map(|a| a.public_ip())
            .unwrap_or_default();
        fields([
            ("id", s(nat.nat_gateway_id().unwrap_or_default())),
            ("public_ip", s(public_ip)),
        ])
    }

    /// The id of a pending or available NAT gateway carrying this resource's ownership
    /// tags (and, when given, in this subnet with this allocation id).
    async fn live_owned(
        &self,
        ctx: &OpContext,
        placement: Option<(&str, &str)>,
    ) -> Result<Option<String>, ProviderError> {
        let live = Filter::builder()
            .name("state")
            .values("pending")
            .values("available")
            .build();
        let nats = describe_stack::<NatGateway>(&self.clients.ec2, ctx, vec![live]).await?;
        let placed = |nat: &NatGateway| {
            placement.is_none_or(|(subnet, allocation)| {
                nat.subnet_id() == Some(subnet)
                    && nat
                        .nat_gateway_addresses()
                        .iter()
                        .any(|a| a.allocation_id() == Some(allocation))
            })
        };
        Ok(nats
            .iter()
            .filter(|n| !is_finished(n.state()) && placed(n) && has_ownership_tags(ctx, n.tags()))
            .filter_map(NatGateway::nat_gateway_id)
            .min()
            .map(str::to_string))
    }

    async fn wait_available(&self, ctx: &OpContext, id: &str) -> Result<NatGateway, ProviderError> {
        wait_expected(
            ctx,
            &format!("NAT gateway {id} to be available"),
            Some(AVAILABLE_IN),
            NAT_WAIT,
            || async {
                // Right after create the id may not be visible yet: keep waiting.
                let Some(nat) = describe_one::<NatGateway>(&self.clients.ec2, id).await? else {
                    return Ok(None);
                };
                match nat.state() {
                    Some(NatGatewayState::Available) => Ok(Some(nat)),
                    Some(NatGatewayState::Pending) | None => Ok(None),
                    Some(state) => Err(ProviderError::Other(format!(
                        "NAT gateway {id} is {state} instead of available: {}: {}",
                        nat.failure_code().unwrap_or("no failure code"),
                        nat.failure_message().unwrap_or("no failure message")
                    ))),
                }
            },
        )
        .await
    }
}

impl NatGatewayProvider {
    /// The gateway `id` as a create's result, once it is available.
    async fn created_when_available(
        &self,
        ctx: &OpContext,
        id: String,
    ) -> Result<Created, ProviderError> {
        let nat = self.wait_available(ctx, &id).await?;
        Ok(Created {
            id,
            outputs: Self::outputs(&nat),
        })
    }

    /// Frees the Elastic IPs of a deleted NAT gateway. AWS does it as the gateway is
    /// deleted (so this finds nothing to do there); LocalStack leaves the address
    /// associated with the deleted gateway's interface, so a replacement that takes the
    /// same address would fail with `Resource.AlreadyAssociated`.
    async fn release_addresses(&self, nat: &NatGateway) -> Result<(), ProviderError> {
        for address in nat.nat_gateway_addresses() {
            let (Some(allocation), Some(interface)) =
                (address.allocation_id(), address.network_interface_id())
            else {
                continue;
            };
            let Some(eip) = describe_one::<Address>(&self.clients.ec2, allocation).await? else {
                continue;
            };
            let (Some(association), Some(on)) = (eip.association_id(), eip.network_interface_id())
            else {
                continue;
            };
            if on != interface {
                continue;
            }
            let result = self
                .clients
                .ec2
                .disassociate_address()
                .association_id(association)
                .send()
                .await
                .map_err(|e| aws_error("DisassociateAddress", e));
            unless_gone(result, &["InvalidAssociationID.NotFound"])?;
        }
        Ok(())
    }
}

#[async_trait]
impl Ec2Kind for NatGatewayProvider {
    type Object = NatGateway;

    const SCHEMA: &'static Schema = &NAT_GATEWAY_SCHEMA;

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let subnet_id = required_str(inputs, "subnet_id")?;
        let allocation_id = required_str(inputs, "allocation_id")?;
        let tags = tag_specifications(ResourceType::Natgateway, inputs);
        // The client token makes a repeated create return the same gateway on AWS; the
        // ownership tags make it so on emulators that ignore the token (LocalStack).
        if tags.is_some() {
            if let Some(id) = self
                .live_owned(ctx, Some((subnet_id, allocation_id)))
                .await?
            {
                ctx.note(&format!(
                    "{id} already exists for this resource, waiting for it"
                ));
                return self.created_when_available(ctx, id).await;
            }
        }
        // The same client token makes a retried create return the same NAT gateway, so
        // retrying while the new subnet or address is not yet visible is safe.
        let out = retry_while(
            ctx,
            "creating the NAT gateway",
            PROPAGATION_WAIT,
            |e| {
                has_code(
                    e,
                    &["InvalidAllocationID.NotFound", "InvalidSubnetID.NotFound"],
                )
            },
            || async {
                self.clients
                    .ec2
                    .create_nat_gateway()
                    .subnet_id(subnet_id)
                    .allocation_id(allocation_id)
                    .client_token(&ctx.client_token)
                    .set_tag_specifications(tags.clone())
                    .send()
                    .await
                    .map_err(|e| aws_error("CreateNatGateway", e))
            },
        )
        .await?;
        let id = returned_id(
            "CreateNatGateway",
            out.nat_gateway().and_then(NatGateway::nat_gateway_id),
        )?;
        ctx.note(&format!("created {id}, waiting for it to be available"));
        self.created_when_available(ctx, id).await
    }

    async fn observe(
        &self,
        nat: &NatGateway,
        _applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        if is_finished(nat.state()) {
            return Ok(Observed::Gone);
        }
        let allocation_id = nat
            .nat_gateway_addresses()
            .iter()
            .find_map(|a| a.allocation_id())
            .unwrap_or_default();
        Ok(Observed::Present {
            inputs: fields([
                ("subnet_id", s(nat.subnet_id().unwrap_or_default())),
                ("allocation_id", s(allocation_id)),
                ("tags", tags_to_value(nat.tags())),
            ]),
            outputs: Self::outputs(nat),
        })
    }

    /// Waits for the gateway an interrupted create made to be available.
    async fn adopt(&self, ctx: &OpContext, nat: &NatGateway) -> Result<Created, ProviderError> {
        let id = nat.nat_gateway_id().unwrap_or_default().to_string();
        self.created_when_available(ctx, id).await
    }

    async fn update(&self, _ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        update_tags(&self.clients.ec2, change.id, change.old, change.new).await?;
        Ok(change.outputs.clone())
    }

    async fn delete(
        &self,
        _ec2: &aws_sdk_ec2::Client,
        ctx: &OpContext,
        object: Recorded<'_>,
    ) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        let result = NatGateway::delete(&self.clients.ec2, id).await;
        if unless_gone(result, NOT_FOUND)?.is_none() {
            return Ok(());
        }
        let gone = wait_expected(
            ctx,
            &format!("NAT gateway {id} to be deleted"),
            Some(DELETED_IN),
            NAT_WAIT,
            || async {
                let nat = describe_one::<NatGateway>(&self.clients.ec2, id).await?;
                let deleted = nat
                    .as_ref()
                    .is_none_or(|n| n.state() == Some(&NatGatewayState::Deleted));
                Ok(deleted.then_some(nat))
            },
        )
        .await?;
        match gone {
            Some(nat) => self.release_addresses(&nat).await,
            None => Ok(()),
        }
    }

    async fn find_existing(
        &self,
        _ec2: &aws_sdk_ec2::Client,
        ctx: &OpContext,
        _inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        match self.live_owned(ctx, None).await? {
            Some(id) => self.created_when_available(ctx, id).await.map(Some),
            None => Ok(None),
        }
    }
}
