//! EC2: NAT gateways and instances that take their time, ids not yet visible right after
//! their create, instance profiles not yet usable, and the deletes AWS refuses while
//! something in the subnet, security group or VPC is still going away.

use super::{
    lambda, name_from_arn, volumes, Instance, Model, Nat, Records, SubnetInfo, Transition,
};
use crate::answer::{Answer, AwsError};
use crate::call::Call;
use crate::xml::{Document, Element};

/// The id element each create answers with.
const CREATED_ID: &[(&str, &str)] = &[
    ("CreateVpc", "vpcId"),
    ("CreateSubnet", "subnetId"),
    ("CreateNatGateway", "natGatewayId"),
    ("RunInstances", "instanceId"),
    ("CreateSecurityGroup", "groupId"),
    ("CreateRouteTable", "routeTableId"),
    ("CreateInternetGateway", "internetGatewayId"),
    ("AllocateAddress", "allocationId"),
];

/// Describe calls by id: the id parameter and AWS's not-found error.
const DESCRIBE_BY_ID: &[(&str, &str, &str, &str)] = &[
    ("DescribeVpcs", "VpcId", "InvalidVpcID.NotFound", "vpc ID"),
    (
        "DescribeSubnets",
        "SubnetId",
        "InvalidSubnetID.NotFound",
        "subnet ID",
    ),
    (
        "DescribeInstances",
        "InstanceId",
        "InvalidInstanceID.NotFound",
        "instance ID",
    ),
    (
        "DescribeNatGateways",
        "NatGatewayId",
        "NatGatewayNotFound",
        "NAT gateway",
    ),
    (
        "DescribeSecurityGroups",
        "GroupId",
        "InvalidGroup.NotFound",
        "security group",
    ),
    (
        "DescribeRouteTables",
        "RouteTableId",
        "InvalidRouteTableID.NotFound",
        "routeTable ID",
    ),
    (
        "DescribeInternetGateways",
        "InternetGatewayId",
        "InvalidInternetGatewayID.NotFound",
        "internetGateway ID",
    ),
    (
        "DescribeAddresses",
        "AllocationId",
        "InvalidAllocationID.NotFound",
        "allocation ID",
    ),
];

impl Nat {
    /// Still holding its address and interface: pending, available or deleting.
    fn present(&self, model: &Model, now: f64) -> bool {
        self.deleted
            .is_none_or(|d| now < d + model.nat_gateway.deleting_s)
    }

    /// The state AWS would report, when it differs from LocalStack's.
    fn state(&self, model: &Model, now: f64) -> Option<&'static str> {
        match self.deleted {
            Some(d) if now < d + model.nat_gateway.deleting_s => Some("deleting"),
            Some(_) => None,
            None if now < self.created + model.nat_gateway.pending_s => Some("pending"),
            None => None,
        }
    }
}

impl Instance {
    /// Not yet terminated: its interface still holds the subnet and security groups.
    fn present(&self, model: &Model, now: f64) -> bool {
        self.terminated
            .is_none_or(|t| now < t + model.instance.shutting_down_s)
    }

    /// The state AWS would report (code, name), when it differs from LocalStack's.
    fn state(&self, model: &Model, now: f64) -> Option<(u16, &'static str)> {
        let m = &model.instance;
        if let Some(t) = self.terminated {
            return (now < t + m.shutting_down_s).then_some((32, "shutting-down"));
        }
        match self.transition {
            Some(Transition::Stop(s)) => (now < s + m.stopping_s).then_some((64, "stopping")),
            Some(Transition::Start(s)) => (now < s + m.pending_s).then_some((0, "pending")),
            None => (now < self.launched + m.pending_s).then_some((0, "pending")),
        }
    }

    /// Stopped, as far as awssim knows (a stop was asked and has completed).
    fn stopped(&self, model: &Model, now: f64) -> bool {
        self.terminated.is_none()
            && matches!(self.transition, Some(Transition::Stop(s)) if now >= s + model.instance.stopping_s)
    }
}

pub(super) fn before(
    model: &Model,
    records: &Records,
    call: &Call,
    now: f64,
) -> Option<(&'static str, AwsError)> {
    let p = &call.params;
    match call.action.as_str() {
        "RunInstances" => profile_not_ready(model, records, call, now),
        "ModifyVolume" => volumes::refuse_modify(model, records, call, now),
        "ReleaseAddress" => {
            let allocation = p.get("AllocationId")?;
            let nat = records
                .nats
                .iter()
                .find(|(_, n)| n.allocation == allocation && n.present(model, now))?;
            Some((
                "eip-in-use-by-nat-gateway",
                AwsError::new(
                    400,
                    "InvalidIPAddress.InUse",
                    format!("Address {allocation} is in use by {}.", nat.0),
                ),
            ))
        }
        "DetachInternetGateway" => {
            let vpc = p.get("VpcId")?;
            records
                .nats
                .values()
                .any(|n| n.vpc == vpc && n.present(model, now))
                .then(|| {
                    (
                        "igw-detach-mapped-addresses",
                        AwsError::dependency_violation(format!(
                            "Network {vpc} has some mapped public address(es). Please unmap \
                             those public address(es) before detaching the gateway."
                        )),
                    )
                })
        }
        "DeleteSubnet" => {
            let subnet = p.get("SubnetId")?;
            let busy = records
                .instances
                .values()
                .any(|i| i.subnet == subnet && i.present(model, now))
                || records
                    .nats
                    .values()
                    .any(|n| n.subnet == subnet && n.present(model, now))
                || lambda::interfaces(model, records, now).any(|(_, s)| s == subnet);
            busy.then(|| {
                (
                    "subnet-dependencies",
                    AwsError::dependency_violation(format!(
                        "The subnet '{subnet}' has dependencies and cannot be deleted."
                    )),
                )
            })
        }
        "DeleteSecurityGroup" => {
            let group = p.get("GroupId")?;
            let busy = records
                .instances
                .values()
                .any(|i| i.groups.iter().any(|g| g == group) && i.present(model, now))
                || lambda::interfaces(model, records, now)
                    .any(|(f, _)| f.groups.iter().any(|g| g == group));
            busy.then(|| {
                (
                    "security-group-dependencies",
                    AwsError::dependency_violation(format!(
                        "resource {group} has a dependent object"
                    )),
                )
            })
        }
        "DeleteNetworkInterface" => {
            let id = p.get("NetworkInterfaceId")?;
            lambda::interfaces(model, records, now)
                .any(|(f, s)| lambda::interface_id(&f.name, s, f.created) == id)
                .then(|| {
                    (
                        "lambda-interface-managed",
                        AwsError::new(
                            400,
                            "OperationNotPermitted",
                            format!(
                                "You are not allowed to manage 'lambda' attachments: {id} \
                                 belongs to AWS Lambda."
                            ),
                        ),
                    )
                })
        }
        "ModifyInstanceAttribute" => {
            let changes_type =
                p.get("InstanceType.Value").is_some() || p.get("Attribute") == Some("instanceType");
            let id = p.get("InstanceId")?;
            let instance = records.instances.get(id)?;
            (changes_type && !instance.stopped(model, now)).then(|| {
                (
                    "instance-not-stopped",
                    AwsError::new(
                        400,
                        "IncorrectInstanceState",
                        format!("The instance '{id}' is not in the 'stopped' state."),
                    ),
                )
            })
        }
        "StartInstances" => {
            let stopping = p.list("InstanceId").into_iter().find(|id| {
                records.instances.get(*id).is_some_and(|i| {
                    matches!(i.transition, Some(Transition::Stop(_))) && !i.stopped(model, now)
                })
            })?;
            Some((
                "instance-still-stopping",
                AwsError::new(
                    400,
                    "IncorrectInstanceState",
                    format!(
                        "The instance '{stopping}' is not in a state from which it can be started."
                    ),
                ),
            ))
        }
        action => not_yet_visible(model, records, call, action, now),
    }
}

/// RunInstances with an instance profile IAM has not propagated yet.
fn profile_not_ready(
    model: &Model,
    records: &Records,
    call: &Call,
    now: f64,
) -> Option<(&'static str, AwsError)> {
    let p = &call.params;
    let (name, shown) = match (
        p.get("IamInstanceProfile.Name"),
        p.get("IamInstanceProfile.Arn"),
    ) {
        (Some(name), _) => (name, name),
        (None, Some(arn)) => (name_from_arn(arn), arn),
        (None, None) => return None,
    };
    let profile = records.profiles.get(name)?;
    let ready = profile
        .role_added
        .unwrap_or(profile.created)
        .max(profile.created)
        + model.consistency.instance_profile_s;
    (now < ready).then(|| {
        (
            "instance-profile-propagation",
            AwsError::new(
                400,
                "InvalidParameterValue",
                format!(
                    "Value ({shown}) for parameter iamInstanceProfile.name is invalid. Invalid \
                     IAM Instance Profile name"
                ),
            ),
        )
    })
}

/// A Describe by id of something created moments ago: not found yet.
fn not_yet_visible(
    model: &Model,
    records: &Records,
    call: &Call,
    action: &str,
    now: f64,
) -> Option<(&'static str, AwsError)> {
    let (_, param, code, noun) = DESCRIBE_BY_ID.iter().find(|(a, ..)| *a == action)?;
    let window = model.consistency.ec2_read_after_create_s;
    let id = call
        .params
        .list(param)
        .into_iter()
        .find(|id| records.created.get(*id).is_some_and(|t| now < t + window))?;
    let message = if *code == "NatGatewayNotFound" {
        format!("NAT gateway {id} was not found")
    } else {
        format!("The {noun} '{id}' does not exist")
    };
    Some(("ec2-read-after-create", AwsError::new(400, code, message)))
}

pub(super) fn after(
    model: &Model,
    records: &mut Records,
    call: &Call,
    answer: &mut Answer,
    now: f64,
) -> Vec<&'static str> {
    let Ok(mut doc) = Document::parse(&answer.body) else {
        return Vec::new();
    };
    record_created_ids(records, call, &doc.root, now);
    let mut rules = Vec::new();
    match call.action.as_str() {
        "CreateSubnet" | "DescribeSubnets" => learn_subnets(records, &doc.root),
        "CreateSecurityGroup" => {
            if let (Some(id), Some(name)) =
                (doc.root.child_text("groupId"), call.params.get("GroupName"))
            {
                records.group_names.insert(id, name.to_string());
            }
        }
        "CreateNatGateway" => {
            record_nat(records, call, &doc.root, now);
            rules.extend(rewrite_nat_states(model, records, &mut doc.root, now));
        }
        "DescribeNatGateways" => {
            rules.extend(rewrite_nat_states(model, records, &mut doc.root, now));
            filter_by_state(&mut doc.root, call, "state", "natGatewaySet", |e| {
                e.child_text("state")
            });
        }
        "DeleteNatGateway" => {
            if let Some(nat) = call
                .params
                .get("NatGatewayId")
                .and_then(|id| records.nats.get_mut(id))
            {
                nat.deleted.get_or_insert(now);
            }
        }
        "RunInstances" => {
            record_instances(records, &doc.root, now);
            rules.extend(rewrite_instance_states(model, records, &mut doc.root, now));
        }
        "DescribeInstances" => {
            rules.extend(rewrite_instance_states(model, records, &mut doc.root, now));
            filter_instances_by_state(&mut doc.root, call);
        }
        "TerminateInstances" | "StopInstances" | "StartInstances" => {
            for id in call.params.list("InstanceId") {
                if let Some(instance) = records.instances.get_mut(id) {
                    match call.action.as_str() {
                        "TerminateInstances" => {
                            instance.terminated.get_or_insert(now);
                        }
                        "StopInstances" => instance.transition = Some(Transition::Stop(now)),
                        _ => instance.transition = Some(Transition::Start(now)),
                    }
                }
            }
            rules.extend(rewrite_instance_states(model, records, &mut doc.root, now));
        }
        "ModifyVolume" => volumes::record(records, &doc.root, now),
        "DescribeVolumesModifications" => {
            rules.extend(volumes::rewrite_modifications(
                model,
                records,
                &mut doc.root,
                now,
            ));
        }
        "DescribeVolumes" => {
            rules.extend(volumes::rewrite_sizes(model, records, &mut doc.root, now));
        }
        "DescribeNetworkInterfaces"
            if lambda::add_interfaces(model, records, call, &mut doc.root, now) =>
        {
            rules.push("lambda-interfaces");
        }
        _ => {}
    }
    if !rules.is_empty() {
        answer.body = doc.to_bytes().into();
    }
    rules
}

fn record_created_ids(records: &mut Records, call: &Call, root: &Element, now: f64) {
    let Some((_, element)) = CREATED_ID.iter().find(|(a, _)| *a == call.action) else {
        return;
    };
    root.walk(&mut |e| {
        if e.name == *element {
            records.created.entry(e.text()).or_insert(now);
        }
    });
}

fn learn_subnets(records: &mut Records, root: &Element) {
    root.walk(&mut |e| {
        if let (Some(id), Some(vpc)) = (e.child_text("subnetId"), e.child_text("vpcId")) {
            records.subnets.insert(
                id,
                SubnetInfo {
                    vpc,
                    zone: e.child_text("availabilityZone").unwrap_or_default(),
                },
            );
        }
    });
}

fn record_nat(records: &mut Records, call: &Call, root: &Element, now: f64) {
    let Some(nat) = root.child("natGateway") else {
        return;
    };
    let Some(id) = nat.child_text("natGatewayId") else {
        return;
    };
    let subnet = nat
        .child_text("subnetId")
        .or_else(|| call.params.get("SubnetId").map(str::to_string))
        .unwrap_or_default();
    let vpc = nat
        .child_text("vpcId")
        .or_else(|| records.subnets.get(&subnet).map(|s| s.vpc.clone()))
        .unwrap_or_default();
    let allocation = call
        .params
        .get("AllocationId")
        .unwrap_or_default()
        .to_string();
    records.nats.entry(id).or_insert(Nat {
        vpc,
        subnet,
        allocation,
        created: now,
        deleted: None,
    });
}

fn rewrite_nat_states(
    model: &Model,
    records: &Records,
    root: &mut Element,
    now: f64,
) -> Option<&'static str> {
    let mut rule = None;
    root.walk_mut(&mut |e| {
        let Some(nat) = e
            .child_text("natGatewayId")
            .and_then(|id| records.nats.get(&id))
        else {
            return;
        };
        if e.child("state").is_none() {
            return;
        }
        if let Some(state) = nat.state(model, now) {
            e.set_child_text("state", state);
            rule = Some(if state == "pending" {
                "nat-gateway-pending"
            } else {
                "nat-gateway-deleting"
            });
        }
    });
    rule
}

fn record_instances(records: &mut Records, root: &Element, now: f64) {
    root.walk(&mut |e| {
        let (Some(id), Some(_)) = (e.child_text("instanceId"), e.child("instanceState")) else {
            return;
        };
        let groups = e
            .child("groupSet")
            .map(|set| {
                set.elements()
                    .filter_map(|g| g.child_text("groupId"))
                    .collect()
            })
            .unwrap_or_default();
        records.instances.entry(id).or_insert(Instance {
            subnet: e.child_text("subnetId").unwrap_or_default(),
            groups,
            launched: now,
            transition: None,
            terminated: None,
        });
    });
}

fn rewrite_instance_states(
    model: &Model,
    records: &Records,
    root: &mut Element,
    now: f64,
) -> Option<&'static str> {
    let mut rule = None;
    root.walk_mut(&mut |e| {
        let Some(instance) = e
            .child_text("instanceId")
            .and_then(|id| records.instances.get(&id))
        else {
            return;
        };
        let Some((code, name)) = instance.state(model, now) else {
            return;
        };
        for field in ["instanceState", "currentState"] {
            if let Some(state) = e.child_mut(field) {
                state.set_child_text("code", &code.to_string());
                state.set_child_text("name", name);
                rule = Some(match name {
                    "pending" => "instance-pending",
                    "stopping" => "instance-stopping",
                    _ => "instance-shutting-down",
                });
            }
        }
    });
    rule
}

/// Drops the items of `set` whose (rewritten) state no longer matches the call's filter.
fn filter_by_state(
    root: &mut Element,
    call: &Call,
    filter: &str,
    set: &str,
    state: impl Fn(&Element) -> Option<String>,
) {
    let Some((_, wanted)) = call.params.filters().into_iter().find(|(n, _)| n == filter) else {
        return;
    };
    if let Some(items) = root.child_mut(set) {
        items.retain_elements(|item| state(item).is_some_and(|s| wanted.contains(&s)));
    }
}

fn filter_instances_by_state(root: &mut Element, call: &Call) {
    let Some((_, wanted)) = call
        .params
        .filters()
        .into_iter()
        .find(|(n, _)| n == "instance-state-name")
    else {
        return;
    };
    let Some(reservations) = root.child_mut("reservationSet") else {
        return;
    };
    for reservation in reservations.elements_mut() {
        if let Some(instances) = reservation.child_mut("instancesSet") {
            instances.retain_elements(|i| {
                i.child("instanceState")
                    .and_then(|s| s.child_text("name"))
                    .is_some_and(|s| wanted.contains(&s))
            });
        }
    }
    reservations.retain_elements(|r| {
        r.child("instancesSet")
            .is_some_and(|set| set.elements().next().is_some())
    });
}
