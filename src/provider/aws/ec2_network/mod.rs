//! The EC2 networking resource kinds (VPC, internet gateway, subnet, Elastic IP, NAT
//! gateway, route table, security group), one module each, and what they share.

pub(crate) mod blockers;
mod eip;
mod internet_gateway;
mod nat_gateway;
mod route_table;
mod security_group;
mod sg_rules;
mod subnet;
mod vpc;

use std::sync::Arc;
use std::time::Duration;

use crate::model::{Inputs, Value};
use crate::provider::{ProviderError, ResourceProvider, Schema};

use super::ec2_kind::Ec2;
use super::live::put_if_applied;
use super::{has_code, unless_gone, AwsClients};

pub use eip::{EipProvider, EIP_SCHEMA};
pub use internet_gateway::{InternetGatewayProvider, INTERNET_GATEWAY_SCHEMA};
pub use nat_gateway::{NatGatewayProvider, NAT_GATEWAY_SCHEMA};
pub use route_table::{RouteTableProvider, ROUTE_TABLE_SCHEMA};
pub use security_group::{SecurityGroupProvider, SECURITY_GROUP_SCHEMA};
pub use subnet::{SubnetProvider, SUBNET_SCHEMA};
pub use vpc::{VpcProvider, VPC_SCHEMA};

/// The schemas of this module's kinds (see [`crate::provider::aws::schemas`]).
pub const SCHEMAS: [&Schema; 7] = [
    &VPC_SCHEMA,
    &INTERNET_GATEWAY_SCHEMA,
    &SUBNET_SCHEMA,
    &EIP_SCHEMA,
    &NAT_GATEWAY_SCHEMA,
    &ROUTE_TABLE_SCHEMA,
    &SECURITY_GROUP_SCHEMA,
];

/// Every EC2 networking provider, ready to register.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn ResourceProvider>> {
    vec![
        Ec2::provider(
            clients,
            VpcProvider {
                clients: clients.clone(),
            },
        ),
        Ec2::provider(
            clients,
            InternetGatewayProvider {
                clients: clients.clone(),
            },
        ),
        Ec2::provider(
            clients,
            SubnetProvider {
                clients: clients.clone(),
            },
        ),
        Ec2::provider(
            clients,
            EipProvider {
                clients: clients.clone(),
            },
        ),
        Ec2::provider(
            clients,
            NatGatewayProvider {
                clients: clients.clone(),
            },
        ),
        Ec2::provider(
            clients,
            RouteTableProvider {
                clients: clients.clone(),
            },
        ),
        Ec2::provider(
            clients,
            SecurityGroupProvider {
                clients: clients.clone(),
            },
        ),
    ]
}

/// How long a freshly created resource may take to become usable (`available`).
const CREATE_WAIT: Duration = Duration::from_secs(5 * 60);

/// How long a just-created id may be unknown to other EC2 calls (eventual consistency).
const PROPAGATION_WAIT: Duration = Duration::from_secs(2 * 60);

/// How long deletes retry `DependencyViolation` while AWS releases dependent network
/// interfaces. Lambda's VPC interfaces can take up to 45 minutes to go away.
const DEPENDENCY_WAIT: Duration = Duration::from_secs(45 * 60);

fn is_dependency_violation(err: &ProviderError) -> bool {
    has_code(err, &["DependencyViolation"])
}

/// An optional boolean input (absent or null gives `None`).
fn optional_bool(inputs: &Inputs, field: &str) -> Option<bool> {
    inputs.get(field).and_then(Value::as_bool)
}

/// An EC2 ARN: `arn:<partition>:ec2:<region>:<account>:<resource>/<id>`.
fn ec2_arn(clients: &AwsClients, account: &str, resource: &str, id: &str) -> String {
    let region = clients
        .config
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default();
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    format!("arn:{partition}:ec2:{region}:{account}:{resource}/{id}")
}

/// A string output or observed field.
fn s(value: impl Into<String>) -> Value {
    Value::String(value.into())
}

/// One string/bool/list field of an `Inputs`/`Outputs` map, built in order.
fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Inputs {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
