//! The web instances: each with its own IAM role and instance profile (CloudWatch agent
//! policy), in a private subnet, behind the web security group, with a KMS-encrypted root
//! volume, IMDSv2 and the bootstrap user data.

use super::kms::{key_arn, Key};
use super::network::Network;
use super::security_groups::SecurityGroups;
use super::{indexed, policies, r, Builder, USER_DATA_TEMPLATE};
use crate::model::{Address, Value};
use crate::provider::aws::kinds;

pub const CLOUDWATCH_AGENT_POLICY: &str = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy";

pub(crate) struct WebInstances {
    pub instances: Vec<Address>,
    pub roles: Vec<Address>,
}

/// The user data sent to every web instance.
pub fn user_data(project: &str, stack: &str) -> String {
    USER_DATA_TEMPLATE
        .replace("@NOVA_STACK@", stack)
        .replace("@NOVA_PROJECT@", project)
}

pub(crate) fn web_instances(
    b: &mut Builder,
    net: &Network,
    sgs: &SecurityGroups,
    key: &Key,
) -> WebInstances {
    let mut instances = Vec::new();
    let mut roles = Vec::new();
    let user_data = user_data(&b.config.project, &b.config.stack);
    for n in 0..b.config.instance_count as usize {
        let name = b.naming.numbered("web", n);
        let role = b
            .tagged(kinds::IAM_ROLE, &indexed("web", n), &name)
            .with("name", name.as_str())
            .with("description", format!("Role of web instance {name} only"))
            .with(
                "assume_role_policy",
                policies::trust_policy("ec2.amazonaws.com"),
            )
            .with(
                "managed_policy_arns",
                Value::list_of_strings([CLOUDWATCH_AGENT_POLICY]),
            )
            .with("inline_policies", Value::Map(Default::default()));
        let role = b.add(role);
        let profile = b
            .tagged(kinds::IAM_INSTANCE_PROFILE, &indexed("web", n), &name)
            .with("name", name.as_str())
            .with("role", r(&role, "name"));
        let profile = b.add(profile);
        let subnet = &net.private_subnets[n % net.private_subnets.len()];
        let instance = b
            .tagged(kinds::INSTANCE, &indexed("web", n), &name)
            .with("ami", b.context.ami.as_str())
            .with("instance_type", b.config.instance_type.as_str())
            .with("subnet_id", r(subnet, "id"))
            .with("security_group_ids", Value::List(vec![r(&sgs.web, "id")]))
            .with("iam_instance_profile", r(&profile, "name"))
            .with("user_data", user_data.as_str())
            .with("root_volume_size", i64::from(b.config.root_volume_size))
            .with("kms_key_id", key_arn(key))
            .with("metadata_http_tokens", "required")
            // Instances in private subnets reach the internet through the NAT gateways
            // (their user data installs packages at boot). Only the create waits for it: a
            // destroy deletes the NAT gateway while the instances terminate.
            .created_after(&net.nat_gateways[n % net.nat_gateways.len()]);
        instances.push(b.add(instance));
        roles.push(role);
    }
    WebInstances { instances, roles }
}
