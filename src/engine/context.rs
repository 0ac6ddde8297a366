//! The facts the blueprint needs beyond the configuration (`StackContext`): the account id
//! and the newest Amazon Linux 2023 AMI from AWS, and the hash of the health-check Lambda's
//! zip (built into nova, `crate::assets`); or stand-ins for commands that plan without AWS.

use super::EngineError;
use crate::config::{Cidr, StackConfig, SubnetLayout};
use crate::model::Value;
use crate::provider::aws::{self, kinds, AwsClients};
use crate::stack::StackContext;
use crate::state::State;

/// The account id used when nova plans without AWS (`nova graph`, `nova check`): only
/// the KMS key policy text depends on it, and no rule looks at the number.
pub const OFFLINE_ACCOUNT_ID: &str = "000000000000";
/// The AMI shown when nova plans without AWS and none is configured or recorded.
pub const OFFLINE_AMI: &str = "ami-00000000000000000";

/// Account id, AMI and code hash, learnt from AWS and the repository.
pub async fn learn(
    clients: &AwsClients,
    config: &StackConfig,
    state: &State,
) -> Result<StackContext, EngineError> {
    let account_id = clients
        .account_id()
        .await
        .map_err(|source| EngineError::AccountId {
            source: Box::new(source),
        })?;
    let ami = match configured_or_recorded_ami(config, state) {
        Some(ami) => ami,
        None => aws::ec2_instance::latest_amazon_linux_2023(clients)
            .await
            .map_err(|source| EngineError::Ami {
                source: Box::new(source),
            })?,
    };
    Ok(StackContext {
        account_id,
        ami,
        health_code_sha256: health_code_sha256()?,
        subnet_layout: deployed_subnet_layout(config, state),
    })
}

/// The context for commands that plan without AWS.
pub fn offline(config: &StackConfig, state: &State) -> Result<StackContext, EngineError> {
    Ok(StackContext {
        account_id: OFFLINE_ACCOUNT_ID.to_string(),
        ami: configured_or_recorded_ami(config, state).unwrap_or_else(|| OFFLINE_AMI.to_string()),
        health_code_sha256: health_code_sha256()?,
        subnet_layout: deployed_subnet_layout(config, state),
    })
}

/// The layout the stack's private subnets were deployed with (so a stack made by an
/// earlier nova keeps its CIDRs), or the zone blocks for a new stack.
pub fn deployed_subnet_layout(config: &StackConfig, state: &State) -> SubnetLayout {
    let private: Vec<(u32, Cidr)> = state
        .resources
        .iter()
        .filter(|r| r.kind == kinds::SUBNET)
        .filter_map(|r| {
            let zone = r
                .address
                .name()
                .strip_prefix("private[")?
                .strip_suffix(']')?
                .parse()
                .ok()?;
            let cidr = r.inputs.get("cidr_block")?.as_str()?.parse().ok()?;
            Some((zone, cidr))
        })
        .collect();
    SubnetLayout::recognise(config.vpc_cidr, &private)
}

/// The AMI from the config, or the one the instances were created with (so a newer
/// Amazon Linux release does not replace running instances).
fn configured_or_recorded_ami(config: &StackConfig, state: &State) -> Option<String> {
    config.ami.clone().or_else(|| {
        state
            .resources
            .iter()
            .filter(|r| r.kind == kinds::INSTANCE)
            .find_map(|r| {
                r.inputs
                    .get("ami")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
    })
}

fn health_code_sha256() -> Result<String, EngineError> {
    let bundle = crate::assets::HEALTH_CHECK;
    aws::lambda_package::package_bundle(&bundle)
        .map(|package| package.sha256_hex)
        .map_err(|source| EngineError::Package {
            bundle: bundle.name,
            source: Box::new(source),
        })
}
