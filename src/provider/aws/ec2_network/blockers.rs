//! What keeps an EC2 network resource from being deleted: AWS answers `DependencyViolation`
//! (or "in use") and says no more, so nova looks for what is still in the subnet, security
//! group or VPC, or still holds the address. Whatever nova made there is deleted before it
//! (dependents go first), so what is left either goes away by itself (a deleted Lambda's
//! network interfaces, an instance shutting down, a NAT gateway deleting), and the delete
//! waits for it, or will not (a subnet or instance made behind nova's back), and the delete
//! fails within [`PERMANENT_GRACE`], naming it.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{
    Filter, Instance, InstanceStateName, InternetGateway, NatGateway, NatGatewayState,
    NetworkInterface, RouteTable, SecurityGroup, Subnet,
};

use super::DEPENDENCY_WAIT;
use crate::provider::aws::ec2_objects::describe_where;
use crate::provider::aws::wait::PollSchedule;
use crate::provider::aws::{aws_error, has_code, unless_gone, Expected};
use crate::provider::{OpContext, ProviderError};

/// How long something that will not go away by itself may block a delete before the delete
/// fails: long enough for a listing to stop showing what was just deleted (AWS's reads are
/// eventually consistent), short enough to fail within two minutes.
const PERMANENT_GRACE: Duration = Duration::from_secs(60);

/// How long AWS may refuse a delete as "in use" while nothing that uses the resource can
/// be seen before the delete fails (saying so) rather than waiting [`DEPENDENCY_WAIT`].
const UNSEEN_GRACE: Duration = Duration::from_secs(300);

/// How long a delete is typically refused for something that goes by itself (an instance
/// terminating, a NAT gateway deleting; a deleted Lambda's interfaces take 18-19 minutes
/// most of the time, but sometimes under half a minute): the delete is retried tightly
/// from half of it to twice it, then every 10 s.
const BLOCKED_FOR: Expected = Expected::secs(30);

/// The codes with which AWS refuses a delete because something still uses the resource.
const IN_USE: &[&str] = &["DependencyViolation", "InvalidIPAddress.InUse"];

/// What a delete is blocked on.
#[derive(Debug, Clone, Copy)]
pub enum Holder<'a> {
    Subnet(&'a str),
    SecurityGroup(&'a str),
    Vpc(&'a str),
    /// The public addresses mapped in a VPC (detaching its internet gateway).
    VpcAddresses(&'a str),
    /// An Elastic IP (by allocation id).
    Address(&'a str),
}

impl fmt::Display for Holder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Subnet(id) => write!(f, "subnet {id}"),
            Holder::SecurityGroup(id) => write!(f, "security group {id}"),
            Holder::Vpc(id) => write!(f, "VPC {id}"),
            Holder::VpcAddresses(id) => write!(f, "the public addresses of VPC {id}"),
            Holder::Address(id) => write!(f, "Elastic IP {id}"),
        }
    }
}

/// One thing that blocks a delete.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Blocker {
    /// `network interface`, `instance`, `NAT gateway`, `subnet`, ...
    pub kind: &'static str,
    pub id: String,
    /// What it is (description, state, CIDR, who made it).
    pub detail: String,
    /// It goes away by itself (AWS releases it, or it is already being deleted).
    pub transient: bool,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.kind, self.id, self.detail)
    }
}

/// Runs `delete` until it succeeds (or finds the resource gone: `not_found`), waiting while
/// AWS refuses it because something still uses `holder`. Each time the set of blockers
/// changes it is reported once; the delete fails when something that will not go away by
/// itself has blocked it for [`PERMANENT_GRACE`], or after [`DEPENDENCY_WAIT`] in all.
pub async fn delete_when_free<T, F, Fut>(
    ctx: &OpContext,
    ec2: &aws_sdk_ec2::Client,
    holder: Holder<'_>,
    not_found: &[&str],
    mut delete: F,
) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let started = Instant::now();
    let mut schedule = PollSchedule::new(Some(BLOCKED_FOR));
    let mut reported: Option<Vec<Blocker>> = None;
    let mut permanent_since: Option<Instant> = None;
    let mut unseen_since: Option<Instant> = None;
    loop {
        let err = match unless_gone(delete().await, not_found) {
            Ok(_) => return Ok(()),
            Err(err) if has_code(&err, IN_USE) => err,
            Err(err) => return Err(err),
        };
        let blockers = find(ec2, holder).await?;
        if reported.as_ref() != Some(&blockers) {
            ctx.note(&describe(holder, &blockers, started.elapsed()));
            reported = Some(blockers.clone());
        }
        if !blockers.is_empty() {
            unseen_since = None;
        } else if unseen_since.get_or_insert_with(Instant::now).elapsed() >= UNSEEN_GRACE {
            return Err(ProviderError::Blocked {
                what: holder.to_string(),
                blockers: vec![format!(
                    "something AWS does not show (refused with {err} for {}s while no \
                     instance, NAT gateway, network interface or part of it could be \
                     seen): look in the console, then run the command again",
                    UNSEEN_GRACE.as_secs()
                )],
            });
        }
        let permanent: Vec<Blocker> = blockers.iter().filter(|b| !b.transient).cloned().collect();
        if permanent.is_empty() {
            permanent_since = None;
        } else if permanent_since.get_or_insert_with(Instant::now).elapsed() >= PERMANENT_GRACE {
            return Err(ProviderError::Blocked {
                what: holder.to_string(),
                blockers: permanent.iter().map(Blocker::to_string).collect(),
            });
        }
        let interval = schedule.next(started.elapsed());
        if started.elapsed() + interval >= DEPENDENCY_WAIT {
            return Err(ProviderError::Timeout {
                what: format!("{holder} to be free ({err})"),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(interval).await;
    }
}

/// The progress line for a set of blockers.
fn describe(holder: Holder<'_>, blockers: &[Blocker], elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    if blockers.is_empty() {
        return format!("{holder} is still in use, by nothing nova can see yet ({secs}s elapsed)");
    }
    let list: Vec<String> = blockers
        .iter()
        .map(|b| {
            let how = if b.transient {
                "goes away by itself"
            } else {
                "will not go away by itself"
            };
            format!("{b}: {how}")
        })
        .collect();
    format!(
        "{holder} is still in use by {} ({secs}s elapsed)",
        list.join("; ")
    )
}

/// Everything that uses `holder` now, sorted.
pub async fn find(
    ec2: &aws_sdk_ec2::Client,
    holder: Holder<'_>,
) -> Result<Vec<Blocker>, ProviderError> {
    let mut found = Vec::new();
    match holder {
        Holder::Subnet(id) => {
            let instances = instances(ec2, "subnet-id", id).await?;
            let nats = nat_gateways(ec2, |n| n.subnet_id() == Some(id)).await?;
            found.extend(interfaces(ec2, "subnet-id", id, &instances, &nats).await?);
            found.extend(instances.iter().map(instance_blocker));
            found.extend(nats.iter().map(nat_blocker));
        }
        Holder::SecurityGroup(id) => {
            let instances = instances(ec2, "instance.group-id", id).await?;
            found.extend(interfaces(ec2, "group-id", id, &instances, &[]).await?);
            found.extend(instances.iter().map(instance_blocker));
        }
        Holder::Vpc(id) => {
            let instances = instances(ec2, "vpc-id", id).await?;
            let nats = nat_gateways(ec2, |n| n.vpc_id() == Some(id)).await?;
            found.extend(interfaces(ec2, "vpc-id", id, &instances, &nats).await?);
            found.extend(instances.iter().map(instance_blocker));
            found.extend(nats.iter().map(nat_blocker));
            found.extend(vpc_parts(ec2, id).await?);
        }
        Holder::VpcAddresses(id) => {
            let nats = nat_gateways(ec2, |n| n.vpc_id() == Some(id)).await?;
            found.extend(nats.iter().map(nat_blocker));
            found.extend(associated_addresses(ec2, id).await?);
        }
        Holder::Address(allocation) => {
            let nats = nat_gateways(ec2, |n| {
                n.nat_gateway_addresses()
                    .iter()
                    .any(|a| a.allocation_id() == Some(allocation))
            })
            .await?;
            found.extend(nats.iter().map(nat_blocker));
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Instances that are not yet terminated, by an EC2 filter.
async fn instances(
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    value: &str,
) -> Result<Vec<Instance>, ProviderError> {
    let found = describe_where::<Instance>(ec2, vec![filter(name, value)]).await?;
    Ok(found
        .into_iter()
        .filter(|i| i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated))
        .collect())
}

fn instance_blocker(instance: &Instance) -> Blocker {
    let state = instance.state().and_then(|s| s.name());
    Blocker {
        kind: "instance",
        id: instance.instance_id().unwrap_or_default().to_string(),
        detail: format!(
            "{}, {}",
            state.map_or("unknown state", |s| s.as_str()),
            name_tag(instance.tags())
        ),
        transient: state == Some(&InstanceStateName::ShuttingDown),
    }
}

/// NAT gateways not yet deleted that `keep` selects (checked here: LocalStack ignores some
/// DescribeNatGateways filters).
async fn nat_gateways(
    ec2: &aws_sdk_ec2::Client,
    keep: impl Fn(&NatGateway) -> bool,
) -> Result<Vec<NatGateway>, ProviderError> {
    let found = describe_where::<NatGateway>(ec2, Vec::new()).await?;
    Ok(found
        .into_iter()
        .filter(|n| !matches!(n.state(), Some(NatGatewayState::Deleted) | None))
        .filter(|n| keep(n))
        .collect())
}

fn nat_blocker(nat: &NatGateway) -> Blocker {
    let state = nat.state();
    Blocker {
        kind: "NAT gateway",
        id: nat.nat_gateway_id().unwrap_or_default().to_string(),
        detail: format!(
            "{}, {}",
            state.map_or("unknown state", |s| s.as_str()),
            name_tag(nat.tags())
        ),
        transient: matches!(state, Some(NatGatewayState::Deleting)),
    }
}

/// Network interfaces by an EC2 filter, but those of the instances and NAT gateways
/// already listed (they go when their owner goes).
async fn interfaces(
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    value: &str,
    instances: &[Instance],
    nats: &[NatGateway],
) -> Result<Vec<Blocker>, ProviderError> {
    let out = ec2
        .describe_network_interfaces()
        .filters(filter(name, value))
        .send()
        .await
        .map_err(|e| aws_error("DescribeNetworkInterfaces", e))?;
    let owned_by_listed = |eni: &NetworkInterface| {
        let instance = eni.attachment().and_then(|a| a.instance_id());
        instance.is_some_and(|i| instances.iter().any(|x| x.instance_id() == Some(i)))
            || nats.iter().any(|n| {
                n.nat_gateway_addresses()
                    .iter()
                    .any(|a| a.network_interface_id() == eni.network_interface_id())
            })
    };
    Ok(out
        .network_interfaces()
        .iter()
        .filter(|eni| !owned_by_listed(eni))
        .map(interface_blocker)
        .collect())
}

/// The instance an interface is attached to, when it is still attached.
fn attached_instance(eni: &NetworkInterface) -> Option<&str> {
    let attachment = eni.attachment()?;
    let detached = matches!(
        attachment.status(),
        Some(aws_sdk_ec2::types::AttachmentStatus::Detached)
    );
    attachment.instance_id().filter(|_| !detached)
}

/// A network interface; one that AWS Lambda manages goes away by itself once its
/// function is deleted (in up to 45 minutes, typically 18-19), and one still attached to
/// an instance that is no longer listed (terminated) is detached as the instance goes.
fn interface_blocker(eni: &NetworkInterface) -> Blocker {
    let description = eni.description().unwrap_or_default();
    let kind = eni
        .interface_type()
        .map(|t| t.as_str())
        .unwrap_or("interface");
    let lambda = kind == "lambda" || description.starts_with("AWS Lambda VPC ENI");
    let mut detail = vec![
        format!("\"{description}\""),
        format!("type {kind}"),
        format!(
            "status {}",
            eni.status().map(|s| s.as_str()).unwrap_or("unknown")
        ),
    ];
    if let Some(requester) = eni.requester_id() {
        detail.push(format!("requested by {requester}"));
    }
    if eni.requester_managed() == Some(true) {
        detail.push("managed by AWS".to_string());
    }
    let of_terminated = attached_instance(eni);
    if let Some(instance) = of_terminated {
        detail.push(format!("attached to terminated instance {instance}"));
    }
    Blocker {
        kind: "network interface",
        id: eni.network_interface_id().unwrap_or_default().to_string(),
        detail: detail.join(", "),
        transient: lambda || of_terminated.is_some(),
    }
}

/// A VPC's own parts that nova did not delete: subnets, attached internet gateways, route
/// tables but the main one, security groups but the default one.
async fn vpc_parts(ec2: &aws_sdk_ec2::Client, vpc: &str) -> Result<Vec<Blocker>, ProviderError> {
    let mut found = Vec::new();
    let in_vpc = || vec![filter("vpc-id", vpc)];
    let subnets = describe_where::<Subnet>(ec2, in_vpc()).await?;
    found.extend(subnets.iter().map(|s| Blocker {
        kind: "subnet",
        id: s.subnet_id().unwrap_or_default().to_string(),
        detail: format!(
            "{}, {}, {}",
            s.cidr_block().unwrap_or_default(),
            s.availability_zone().unwrap_or_default(),
            name_tag(s.tags())
        ),
        transient: false,
    }));
    let attached = vec![filter("attachment.vpc-id", vpc)];
    let gateways = describe_where::<InternetGateway>(ec2, attached).await?;
    found.extend(gateways.iter().map(|g| Blocker {
        kind: "internet gateway",
        id: g.internet_gateway_id().unwrap_or_default().to_string(),
        detail: format!("attached, {}", name_tag(g.tags())),
        transient: false,
    }));
    let tables = describe_where::<RouteTable>(ec2, in_vpc()).await?;
    found.extend(
        tables
            .iter()
            .filter(|t| !t.associations().iter().any(|a| a.main() == Some(true)))
            .map(|t| Blocker {
                kind: "route table",
                id: t.route_table_id().unwrap_or_default().to_string(),
                detail: name_tag(t.tags()),
                transient: false,
            }),
    );
    let groups = describe_where::<SecurityGroup>(ec2, in_vpc()).await?;
    found.extend(
        groups
            .iter()
            .filter(|g| g.group_name() != Some("default"))
            .map(|g| Blocker {
                kind: "security group",
                id: g.group_id().unwrap_or_default().to_string(),
                detail: format!("\"{}\"", g.group_name().unwrap_or_default()),
                transient: false,
            }),
    );
    Ok(found)
}

/// Elastic IPs associated with something in the VPC (an instance or an interface).
async fn associated_addresses(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
) -> Result<Vec<Blocker>, ProviderError> {
    let interfaces = ec2
        .describe_network_interfaces()
        .filters(filter("vpc-id", vpc))
        .send()
        .await
        .map_err(|e| aws_error("DescribeNetworkInterfaces", e))?;
    Ok(interfaces
        .network_interfaces()
        .iter()
        .filter(|eni| eni.interface_type().map(|t| t.as_str()) != Some("nat_gateway"))
        .filter_map(|eni| {
            let association = eni.association()?;
            let ip = association.public_ip()?;
            association.allocation_id()?;
            Some(Blocker {
                kind: "Elastic IP",
                id: ip.to_string(),
                detail: format!(
                    "associated with network interface {}",
                    eni.network_interface_id().unwrap_or_default()
                ),
                transient: false,
            })
        })
        .collect())
}

/// `Name=...` of EC2 tags, or that it has none; says whose it is when nova made it.
fn name_tag(tags: &[aws_sdk_ec2::types::Tag]) -> String {
    let get = |key: &str| {
        tags.iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
    };
    let name = get("Name").map_or("no Name tag".to_string(), |n| format!("Name={n}"));
    match get(crate::provider::aws::tags::TAG_STACK) {
        Some(stack) => format!("{name}, of nova stack {stack}"),
        None => format!("{name}, not made by nova"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{
        AttachmentStatus, NetworkInterfaceAttachment, NetworkInterfaceStatus,
    };

    fn eni(description: &str, attached_to: Option<(&str, AttachmentStatus)>) -> NetworkInterface {
        let mut eni = NetworkInterface::builder()
            .network_interface_id("eni-1")
            .description(description)
            .status(NetworkInterfaceStatus::InUse);
        if let Some((instance, status)) = attached_to {
            eni = eni.attachment(
                NetworkInterfaceAttachment::builder()
                    .instance_id(instance)
                    .status(status)
                    .build(),
            );
        }
        eni.build()
    }

    #[test]
    fn a_lambda_interface_goes_away_by_itself() {
        assert!(interface_blocker(&eni("AWS Lambda VPC ENI-health", None)).transient);
    }

    #[test]
    fn an_interface_still_attached_to_a_terminated_instance_goes_with_it() {
        let blocker = interface_blocker(&eni("", Some(("i-1", AttachmentStatus::Attached))));
        assert!(blocker.transient, "{blocker}");
        assert!(blocker
            .detail
            .contains("attached to terminated instance i-1"));
    }

    #[test]
    fn a_detached_interface_made_by_someone_stays() {
        let detached = interface_blocker(&eni("mine", Some(("i-1", AttachmentStatus::Detached))));
        assert!(!detached.transient, "{detached}");
        assert!(!interface_blocker(&eni("mine", None)).transient);
    }
}
