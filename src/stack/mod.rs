//! The production stack's blueprint: turns a validated [`StackConfig`] into the desired
//! resources (see `docs/stack.md`). Pure: everything learnt from AWS (account id, AMI) and
//! from disk (the health-check code's hash) comes in through [`StackContext`].

mod api;
mod compute;
mod health;
mod kms;
mod naming;
mod network;
mod outputs;
mod policies;
mod security_groups;

use crate::config::{StackConfig, SubnetLayout};
use crate::model::{Address, Blueprint, Resource, Value};

pub use naming::Naming;

/// The web instances' bootstrap script (`shellcheck`-clean, kept in the repo).
pub const USER_DATA_TEMPLATE: &str = include_str!("user_data.sh");

/// Facts the blueprint needs from outside: resolved by the CLI before planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackContext {
    pub account_id: String,
    /// The AMI for the web instances (configured, recorded in state, or the newest
    /// Amazon Linux 2023 image).
    pub ami: String,
    /// Hex SHA-256 of the health-check Lambda's zip.
    pub health_code_sha256: String,
    /// Where the subnets go when their CIDRs are not configured: the zone blocks, or the
    /// packed layout a deployed stack was made with (see `config::SubnetLayout`).
    pub subnet_layout: SubnetLayout,
}

/// Collects resources while the blueprint is built.
pub(crate) struct Builder<'a> {
    pub config: &'a StackConfig,
    pub context: &'a StackContext,
    pub naming: Naming,
    resources: Vec<Resource>,
}

impl<'a> Builder<'a> {
    fn new(config: &'a StackConfig, context: &'a StackContext) -> Self {
        Builder {
            config,
            context,
            naming: Naming {
                project: config.project.clone(),
                stack: config.stack.clone(),
                environment: config.environment.clone(),
            },
            resources: Vec::new(),
        }
    }

    /// Adds a resource and returns its address.
    pub fn add(&mut self, resource: Resource) -> Address {
        let address = resource.address.clone();
        self.resources.push(resource);
        address
    }

    /// A new taggable resource with its `Name` and ownership tags already set.
    pub fn tagged(&self, kind: &str, name_in_address: &str, name: &str) -> Resource {
        let address = Address::new(kind, name_in_address);
        let tags = self.naming.tags(&address, name);
        Resource::new(address).with("tags", tags)
    }

    /// `arn:aws:<service>:<region>:<account>:<rest>`.
    pub fn arn(&self, service: &str, rest: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{rest}",
            self.config.region, self.context.account_id
        )
    }
}

/// Builds the whole stack.
pub fn blueprint(config: &StackConfig, context: &StackContext) -> Blueprint {
    let mut b = Builder::new(config, context);
    let key = kms::key_and_alias(&mut b);
    let net = network::network(&mut b);
    let sgs = security_groups::security_groups(&mut b, &net);
    let web = compute::web_instances(&mut b, &net, &sgs, &key);
    let health = health::health_check(&mut b, &net, &sgs, &key);
    let api = api::api(&mut b, &health, &key);
    let outputs = outputs::outputs(&net, &sgs, &web, &key, &health, &api);
    let mut resources = b.resources;
    resources.sort_by(|a, b| a.address.cmp(&b.address));
    Blueprint { resources, outputs }
}

/// Shorthand for a reference to `address`'s `output`.
pub(crate) fn r(address: &Address, output: &str) -> Value {
    Value::reference(address, output)
}

/// Indexed address name: `role[n]`.
pub(crate) fn indexed(role: &str, n: usize) -> String {
    format!("{role}[{n}]")
}

#[cfg(test)]
mod tests;
