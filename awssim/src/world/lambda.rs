//! Lambda: a function with a VPC configuration stays `Pending` while its network
//! interfaces are made, updates are `InProgress` for a while and conflict with each other,
//! a role too new cannot be assumed, and after delete the function's interfaces linger in
//! its subnets and security groups (shown by DescribeNetworkInterfaces, blocking deletes).

use serde_json::Value;

use super::{name_from_arn, Function, Model, Records};
use crate::answer::{Answer, AwsError};
use crate::call::Call;
use crate::xml::Element;

/// The function name from a path segment that may be a name or an ARN.
fn function_name(segment: &str) -> &str {
    if segment.starts_with("arn:") {
        segment.split(':').nth(6).unwrap_or(segment)
    } else {
        segment
    }
}

impl Function {
    fn in_vpc(&self) -> bool {
        !self.subnets.is_empty()
    }

    fn pending_until(&self, model: &Model) -> f64 {
        self.created
            + if self.in_vpc() {
                model.lambda.vpc_pending_s
            } else {
                model.lambda.pending_s
            }
    }

    fn updating(&self, model: &Model, now: f64) -> bool {
        self.updated
            .is_some_and(|u| now < u + model.lambda.update_s)
    }

    /// Its network interfaces exist: the function is alive, or deleted moments ago.
    fn has_interfaces(&self, model: &Model, now: f64) -> bool {
        self.in_vpc()
            && self
                .deleted
                .is_none_or(|d| now < d + model.lambda.eni_linger_s)
    }
}

fn live<'a>(records: &'a Records, name: &str) -> Option<&'a Function> {
    records
        .functions
        .iter()
        .rev()
        .find(|f| f.name == name && f.deleted.is_none())
}

fn live_mut<'a>(records: &'a mut Records, name: &str) -> Option<&'a mut Function> {
    records
        .functions
        .iter_mut()
        .rev()
        .find(|f| f.name == name && f.deleted.is_none())
}

/// Every (function, subnet) with a network interface at model time `now`.
pub(super) fn interfaces<'a>(
    model: &'a Model,
    records: &'a Records,
    now: f64,
) -> impl Iterator<Item = (&'a Function, &'a str)> + 'a {
    records
        .functions
        .iter()
        .filter(move |f| f.has_interfaces(model, now))
        .flat_map(|f| f.subnets.iter().map(move |s| (f, s.as_str())))
}

/// A stable, AWS-shaped id for the interface of `function` in `subnet`.
pub(super) fn interface_id(function: &str, subnet: &str, created: f64) -> String {
    let key = format!("{function}/{subnet}/{created}");
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("eni-0{hash:016x}")
}

pub(super) fn before(
    model: &Model,
    records: &Records,
    call: &Call,
    now: f64,
) -> Option<(&'static str, AwsError)> {
    match call.action.as_str() {
        "CreateFunction" => {
            let role = call.json_str("Role")?;
            let created = records.roles.get(name_from_arn(role))?;
            (now < created + model.consistency.role_assumable_s).then(|| {
                (
                    "lambda-role-propagation",
                    AwsError::new(
                        400,
                        "InvalidParameterValueException",
                        "The role defined for the function cannot be assumed by Lambda.",
                    ),
                )
            })
        }
        "UpdateFunctionConfiguration" | "UpdateFunctionCode" => {
            let name = function_name(call.path_after("functions")?);
            let function = live(records, name)?;
            if now < function.pending_until(model) {
                return Some((
                    "lambda-pending-conflict",
                    AwsError::new(
                        409,
                        "ResourceConflictException",
                        "The operation cannot be performed at this time. The function is \
                         currently in the following state: Pending",
                    ),
                ));
            }
            function.updating(model, now).then(|| {
                (
                    "lambda-update-conflict",
                    AwsError::new(
                        409,
                        "ResourceConflictException",
                        format!(
                            "The operation cannot be performed at this time. An update is in \
                             progress for resource: {name}"
                        ),
                    ),
                )
            })
        }
        _ => None,
    }
}

pub(super) fn after(
    model: &Model,
    records: &mut Records,
    call: &Call,
    answer: &mut Answer,
    now: f64,
) -> Vec<&'static str> {
    let path_name = call
        .path_after("functions")
        .map(function_name)
        .map(str::to_string);
    match call.action.as_str() {
        "CreateFunction" => {
            let Some(name) = call.json_str("FunctionName").map(function_name) else {
                return Vec::new();
            };
            let vpc = call.json.as_ref().and_then(|j| j.get("VpcConfig"));
            let list = |field: &str| -> Vec<String> {
                vpc.and_then(|v| v.get(field))
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            records.functions.push(Function {
                name: name.to_string(),
                subnets: list("SubnetIds"),
                groups: list("SecurityGroupIds"),
                created: now,
                updated: None,
                deleted: None,
            });
            rewrite(model, records, name, answer, now, false)
        }
        "GetFunction" | "GetFunctionConfiguration" => match path_name {
            Some(name) => rewrite(
                model,
                records,
                &name,
                answer,
                now,
                call.action == "GetFunction",
            ),
            None => Vec::new(),
        },
        "UpdateFunctionConfiguration" | "UpdateFunctionCode" => {
            let Some(name) = path_name else {
                return Vec::new();
            };
            let new_subnets = call
                .json
                .as_ref()
                .and_then(|j| j.get("VpcConfig"))
                .and_then(|v| v.get("SubnetIds"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect::<Vec<_>>()
                });
            if let Some(function) = live_mut(records, &name) {
                function.updated = Some(now);
                if let Some(subnets) = new_subnets.filter(|s| *s != function.subnets) {
                    // The old interfaces linger as those of a deleted function would.
                    let mut old = function.clone();
                    old.deleted = Some(now);
                    function.subnets = subnets;
                    records.functions.push(old);
                }
            }
            rewrite(model, records, &name, answer, now, false)
        }
        "DeleteFunction" => {
            if let Some(function) = path_name.and_then(|n| live_mut(records, &n)) {
                function.deleted = Some(now);
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// Rewrites the function configuration in `answer` (nested under `Configuration` for
/// GetFunction) to the state AWS would report.
fn rewrite(
    model: &Model,
    records: &Records,
    name: &str,
    answer: &mut Answer,
    now: f64,
    nested: bool,
) -> Vec<&'static str> {
    let Some(function) = live(records, name) else {
        return Vec::new();
    };
    let Ok(mut body) = serde_json::from_slice::<Value>(&answer.body) else {
        return Vec::new();
    };
    let config = if nested {
        body.get_mut("Configuration")
    } else {
        Some(&mut body)
    };
    let Some(Value::Object(config)) = config else {
        return Vec::new();
    };
    let rule = if now < function.pending_until(model) {
        config.insert("State".into(), "Pending".into());
        config.insert(
            "StateReason".into(),
            "The function is being created.".into(),
        );
        config.insert("StateReasonCode".into(), "Creating".into());
        "lambda-pending"
    } else if function.updating(model, now) {
        config.insert("LastUpdateStatus".into(), "InProgress".into());
        config.insert(
            "LastUpdateStatusReason".into(),
            "The function is being updated.".into(),
        );
        "lambda-update-in-progress"
    } else {
        return Vec::new();
    };
    answer.body = serde_json::to_vec(&body).unwrap_or_default().into();
    vec![rule]
}

/// Adds the functions' interfaces that match the call's ids and filters to a
/// DescribeNetworkInterfaces answer. True when it added any.
pub(super) fn add_interfaces(
    model: &Model,
    records: &Records,
    call: &Call,
    root: &mut Element,
    now: f64,
) -> bool {
    let ids = call.params.list("NetworkInterfaceId");
    let filters = call.params.filters();
    let items: Vec<Element> = interfaces(model, records, now)
        .filter_map(|(function, subnet)| {
            let id = interface_id(&function.name, subnet, function.created);
            let info = records.subnets.get(subnet).cloned().unwrap_or_default();
            let description = format!("AWS Lambda VPC ENI-{}-{}", function.name, &id[4..12]);
            let fields = Interface {
                id: &id,
                subnet,
                vpc: &info.vpc,
                zone: &info.zone,
                description: &description,
                groups: &function.groups,
            };
            let wanted = (ids.is_empty() || ids.contains(&id.as_str()))
                && filters
                    .iter()
                    .all(|(name, values)| fields.matches(name, values));
            wanted.then(|| fields.element(records))
        })
        .collect();
    if items.is_empty() {
        return false;
    }
    if root.child("networkInterfaceSet").is_none() {
        root.push(Element::new("networkInterfaceSet"));
    }
    let Some(set) = root.child_mut("networkInterfaceSet") else {
        return false;
    };
    for item in items {
        set.push(item);
    }
    true
}

struct Interface<'a> {
    id: &'a str,
    subnet: &'a str,
    vpc: &'a str,
    zone: &'a str,
    description: &'a str,
    groups: &'a [String],
}

impl Interface<'_> {
    /// Whether the interface passes one `Filter` (unknown filters exclude it).
    fn matches(&self, name: &str, values: &[String]) -> bool {
        let any = |v: &str| values.iter().any(|w| glob(w, v));
        match name {
            "subnet-id" => any(self.subnet),
            "vpc-id" => any(self.vpc),
            "group-id" => self.groups.iter().any(|g| any(g)),
            "network-interface-id" => any(self.id),
            "description" => any(self.description),
            "interface-type" => any("lambda"),
            "status" => any("in-use"),
            "requester-managed" => any("true"),
            "availability-zone" => any(self.zone),
            _ => false,
        }
    }

    fn element(&self, records: &Records) -> Element {
        let mut e = Element::new("item");
        for (k, v) in [
            ("networkInterfaceId", self.id),
            ("subnetId", self.subnet),
            ("vpcId", self.vpc),
            ("availabilityZone", self.zone),
            ("description", self.description),
            ("ownerId", "000000000000"),
            ("requesterId", "AROAAWSLAMBDAHYPERPLANE"),
            ("requesterManaged", "true"),
            ("status", "in-use"),
            ("interfaceType", "lambda"),
            ("sourceDestCheck", "true"),
        ] {
            e.push(Element::with_text(k, v));
        }
        let mut groups = Element::new("groupSet");
        for g in self.groups {
            let mut item = Element::new("item");
            item.push(Element::with_text("groupId", g));
            let name = records.group_names.get(g).cloned().unwrap_or_default();
            item.push(Element::with_text("groupName", &name));
            groups.push(item);
        }
        e.push(groups);
        e.push(Element::new("tagSet"));
        e
    }
}

/// EC2 filter values: `*` matches any run of characters, `?` one character.
fn glob(pattern: &str, value: &str) -> bool {
    fn go(p: &[u8], v: &[u8]) -> bool {
        match (p.first(), v.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], v) || (!v.is_empty() && go(p, &v[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &v[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &v[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_ec2_does() {
        assert!(glob("AWS Lambda VPC ENI-*", "AWS Lambda VPC ENI-fn-1234"));
        assert!(glob("subnet-?", "subnet-a"));
        assert!(!glob("subnet-a", "subnet-ab"));
        assert!(glob("a[0]", "a[0]"), "brackets are literal on AWS");
    }

    #[test]
    fn names_from_arns() {
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:000000000000:function:fn:1"),
            "fn"
        );
        assert_eq!(function_name("fn"), "fn");
    }
}
