//! The `aws_instance` provider: an EC2 instance with a KMS-encrypted gp3 root volume,
//! IMDSv2, an instance profile and user data, tagged (instance and volume) with the
//! `tags` input.
//!
//! Idempotency: RunInstances gets `ctx.client_token`, and the instance also carries the tag
//! [`TAG_CLIENT_TOKEN`] with it, so a repeated create finds the instance even where the
//! token is not honoured (LocalStack ignores it). That tag is not part of the `tags` input.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState, IamInstanceProfileAssociation,
    IamInstanceProfileSpecification, Instance, InstanceAttributeName,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceStateName, InstanceType,
    ResourceType, Tag, TagSpecification, Volume, VolumeType,
};
use base64::Engine as _;

use super::ec2_kind::{all_of, Ec2, Ec2Kind};
use super::ec2_objects::{describe_many, describe_one, describe_stack, Ec2Object};
use super::ec2_tags::{has_ownership_tags, live_tags, tag_specification, to_sdk_tags, Ec2Tags};
use super::tags::{sync_tags, tags_of, tags_value, Tags};
use super::{
    aws_error, ok_if_gone, optional_str, required_str, retry_while, string_list, wait_expected,
    AwsClients, Expected,
};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::kinds;
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};
use crate::provider::{Recorded, Update};

pub use super::ami::latest_amazon_linux_2023;

mod in_place;

pub use in_place::update_note;

/// Tag recording the client token of the RunInstances call that made the instance.
pub const TAG_CLIENT_TOKEN: &str = "nova:client-token";
/// Root device name when the AMI does not say.
const DEFAULT_ROOT_DEVICE: &str = "/dev/xvda";
/// How long a new instance profile may stay unusable for RunInstances.
const PROFILE_PROPAGATION_LIMIT: Duration = Duration::from_secs(120);
/// How long an instance may take to reach `running` or `terminated`.
const STATE_WAIT: Duration = Duration::from_secs(600);
/// How long an instance typically stays `pending` (16 s measured recently) and
/// `shutting-down` (20-60 s) on AWS: its waits poll tightly around these.
const RUNNING_IN: Expected = Expected::secs(16);
const TERMINATED_IN: Expected = Expected::secs(40);
const GONE: &[&str] = <Instance as Ec2Object>::NOT_FOUND;

/// The schemas of this module's kinds (see [`super::schemas`]).
pub const SCHEMAS: [&Schema; 1] = [&INSTANCE_SCHEMA];

/// The EC2 instance provider.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn ResourceProvider>> {
    vec![Ec2::provider(clients, Ec2Instance::new(clients))]
}

/// `aws_instance`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static INSTANCE_SCHEMA: Schema = Schema::declare(
    kinds::INSTANCE,
    &[
        f::string("ami").required().force_new(),
        // Stop, ModifyInstanceAttribute, start.
        f::string("instance_type").required(),
        f::string("subnet_id")
            .required()
            .force_new()
            .blocks_delete(),
        f::string_list("security_group_ids").blocks_delete(),
        // ReplaceIamInstanceProfileAssociation.
        f::string("iam_instance_profile"),
        // cloud-init runs user data at first boot only: a new script needs a new instance.
        f::string("user_data").force_new(),
        // ModifyVolume, online; EBS volumes cannot shrink.
        f::int("root_volume_size").grow_only(),
        // A volume's encryption key is fixed when it is made.
        f::string("kms_key_id").required().force_new(),
        f::string("metadata_http_tokens"),
        f::string("instance_state"),
        f::TAGS,
    ],
    &[
        "id",
        "arn",
        "private_ip",
        "root_volume_id",
        "availability_zone",
    ],
    true,
);

/// What is attached to an instance that its read reports: the root volume (size, key)
/// and the instance profile association.
struct Attached {
    root_volume: Option<Volume>,
    profile_association: Option<IamInstanceProfileAssociation>,
}

/// `aws_instance`. Its id is the instance id.
pub struct Ec2Instance {
    clients: AwsClients,
    region: String,
}

impl Ec2Instance {
    pub fn new(clients: &AwsClients) -> Self {
        Ec2Instance {
            clients: clients.clone(),
            region: clients
                .config
                .region()
                .map(|r| r.to_string())
                .unwrap_or_default(),
        }
    }

    /// The instance, or `None` when it does not exist (or no longer: terminated or
    /// shutting down).
    async fn describe(&self, id: &str) -> Result<Option<Instance>, ProviderError> {
        Ok(describe_one::<Instance>(&self.clients.ec2, id)
            .await?
            .filter(|i| !is_ending(i)))
    }

    /// Live instances (not terminated or shutting down) with this resource's ownership tags.
    async fn owned_instances(&self, ctx: &OpContext) -> Result<Vec<Instance>, ProviderError> {
        let live = Filter::builder()
            .name("instance-state-name")
            .values("pending")
            .values("running")
            .values("stopping")
            .values("stopped")
            .build();
        let mut instances: Vec<Instance> =
            describe_stack::<Instance>(&self.clients.ec2, ctx, vec![live])
                .await?
                .into_iter()
                .filter(|i| !is_ending(i) && has_ownership_tags(ctx, i.tags()))
                .collect();
        instances.sort_by(|a, b| a.instance_id().cmp(&b.instance_id()));
        Ok(instances)
    }

    /// The instance an earlier attempt of this very create made (same client token).
    async fn made_with_token(&self, ctx: &OpContext) -> Result<Option<Instance>, ProviderError> {
        Ok(self
            .owned_instances(ctx)
            .await?
            .into_iter()
            .find(|i| tag(i.tags(), TAG_CLIENT_TOKEN) == Some(ctx.client_token.as_str())))
    }

    /// The AMI's root device name, so the block device mapping replaces its root volume.
    async fn root_device_name(&self, ami: &str) -> Result<String, ProviderError> {
        let images = self
            .clients
            .ec2
            .describe_images()
            .image_ids(ami)
            .send()
            .await
            .map_err(|e| aws_error("DescribeImages", e))?
            .images
            .unwrap_or_default();
        let image = images
            .first()
            .ok_or_else(|| ProviderError::invalid("ami", format!("image {ami} not found")))?;
        Ok(image
            .root_device_name()
            .unwrap_or(DEFAULT_ROOT_DEVICE)
            .to_string())
    }

    async fn run(&self, ctx: &OpContext, inputs: &Inputs) -> Result<String, ProviderError> {
        let ami = required_str(inputs, "ami")?;
        let root_device = self.root_device_name(ami).await?;
        let mut instance_tags = tags_of(inputs);
        instance_tags.insert(TAG_CLIENT_TOKEN.to_string(), ctx.client_token.clone());
        let mut request = self
            .clients
            .ec2
            .run_instances()
            .client_token(&ctx.client_token)
            .image_id(ami)
            .instance_type(InstanceType::from(required_str(inputs, "instance_type")?))
            .min_count(1)
            .max_count(1)
            .subnet_id(required_str(inputs, "subnet_id")?)
            .set_security_group_ids(Some(string_list(inputs, "security_group_ids")))
            .block_device_mappings(root_volume(&root_device, inputs)?)
            .metadata_options(metadata_options(inputs))
            .tag_specifications(tag_spec(ResourceType::Instance, &instance_tags));
        if let Some(spec) = tag_specification(ResourceType::Volume, inputs) {
            request = request.tag_specifications(spec);
        }
        if let Some(profile) =
            optional_str(inputs, "iam_instance_profile").filter(|p| !p.is_empty())
        {
            request = request.iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .name(profile)
                    .build(),
            );
        }
        if let Some(user_data) = optional_str(inputs, "user_data").filter(|u| !u.is_empty()) {
            request =
                request.user_data(base64::engine::general_purpose::STANDARD.encode(user_data));
        }
        let out = retry_while(
            ctx,
            "launching the instance (its instance profile may not be usable yet)",
            PROFILE_PROPAGATION_LIMIT,
            is_profile_not_ready,
            || {
                let request = request.clone();
                async move {
                    request
                        .send()
                        .await
                        .map_err(|e| aws_error("RunInstances", e))
                }
            },
        )
        .await?;
        out.instances()
            .first()
            .and_then(|i| i.instance_id())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::Other("RunInstances returned no instance".into()))
    }

    async fn wait_running(&self, ctx: &OpContext, id: &str) -> Result<Instance, ProviderError> {
        wait_expected(
            ctx,
            &format!("instance {id} to be running"),
            Some(RUNNING_IN),
            STATE_WAIT,
            || async {
                // A new instance may not be visible to Describe* yet.
                let Some(instance) = describe_one::<Instance>(&self.clients.ec2, id).await? else {
                    return Ok(None);
                };
                match state(&instance) {
                    Some(InstanceStateName::Running) => Ok(Some(instance)),
                    Some(InstanceStateName::Pending) | None => Ok(None),
                    Some(other) => Err(ProviderError::Other(format!(
                        "instance {id} is {other} instead of running: {}",
                        instance
                            .state_reason()
                            .and_then(|r| r.message())
                            .unwrap_or("no reason given")
                    ))),
                }
            },
        )
        .await
    }

    /// The root EBS volume of the instance.
    async fn root_volume(&self, instance: &Instance) -> Result<Option<Volume>, ProviderError> {
        let Some(volume_id) = root_volume_id(instance) else {
            return Ok(None);
        };
        describe_one(&self.clients.ec2, &volume_id).await
    }

    async fn user_data(&self, id: &str) -> Result<String, ProviderError> {
        let out = self
            .clients
            .ec2
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(InstanceAttributeName::UserData)
            .send()
            .await
            .map_err(|e| aws_error("DescribeInstanceAttribute", e))?;
        let encoded = out.user_data().and_then(|v| v.value()).unwrap_or_default();
        Ok(decode_user_data(encoded))
    }

    /// The instance's inputs and outputs, from the instance, what is attached to it and
    /// its user data (asked here).
    async fn observe_with(
        &self,
        instance: &Instance,
        applied: &Inputs,
        attached: Attached,
    ) -> Result<Observed, ProviderError> {
        let id = instance.instance_id().unwrap_or_default();
        let volume = attached.root_volume;
        let mut inputs = Inputs::new();
        inputs.insert(
            "ami".into(),
            Value::str(instance.image_id().unwrap_or_default()),
        );
        inputs.insert(
            "instance_type".into(),
            Value::str(
                instance
                    .instance_type()
                    .map(|t| t.as_str())
                    .unwrap_or_default(),
            ),
        );
        inputs.insert(
            "subnet_id".into(),
            Value::str(instance.subnet_id().unwrap_or_default()),
        );
        inputs.insert(
            "security_group_ids".into(),
            Value::list_of_strings(security_group_ids(instance)),
        );
        // The association is what AWS changes in place (LocalStack's DescribeInstances
        // keeps showing the profile the instance was launched with).
        let profile = match attached.profile_association {
            Some(association) => in_place::association_profile(&association),
            None => profile_name(instance),
        };
        inputs.insert("iam_instance_profile".into(), Value::String(profile));
        inputs.insert("user_data".into(), Value::String(self.user_data(id).await?));
        inputs.insert(
            "root_volume_size".into(),
            volume
                .as_ref()
                .and_then(Volume::size)
                .map(|s| Value::Int(i64::from(s)))
                .unwrap_or(Value::Null),
        );
        inputs.insert(
            "kms_key_id".into(),
            Value::String(observed_kms_key(
                volume.as_ref(),
                optional_str(applied, "kms_key_id"),
            )),
        );
        inputs.insert(
            "metadata_http_tokens".into(),
            Value::str(
                instance
                    .metadata_options()
                    .and_then(|m| m.http_tokens())
                    .map(|t| t.as_str())
                    .unwrap_or_default(),
            ),
        );
        if let Some(running) = in_place::observed_state(instance) {
            inputs.insert("instance_state".into(), Value::str(running));
        }
        inputs.insert("tags".into(), tags_value(visible_tags(instance.tags())));
        Ok(Observed::Present {
            inputs,
            outputs: self.outputs(instance).await?,
        })
    }

    async fn outputs(&self, instance: &Instance) -> Result<Outputs, ProviderError> {
        let id = instance.instance_id().unwrap_or_default();
        let arn = format!(
            "arn:aws:ec2:{}:{}:instance/{id}",
            self.region,
            self.clients.account_id().await?
        );
        let mut outputs = Outputs::new();
        outputs.insert("id".into(), Value::str(id));
        outputs.insert("arn".into(), Value::String(arn));
        outputs.insert(
            "private_ip".into(),
            Value::str(instance.private_ip_address().unwrap_or_default()),
        );
        outputs.insert(
            "root_volume_id".into(),
            Value::String(root_volume_id(instance).unwrap_or_default()),
        );
        outputs.insert(
            "availability_zone".into(),
            Value::str(
                instance
                    .placement()
                    .and_then(|p| p.availability_zone())
                    .unwrap_or_default(),
            ),
        );
        Ok(outputs)
    }
}

#[async_trait]
impl Ec2Kind for Ec2Instance {
    type Object = Instance;

    const SCHEMA: &'static Schema = &INSTANCE_SCHEMA;

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let id = match self.made_with_token(ctx).await? {
            Some(existing) => existing.instance_id().unwrap_or_default().to_string(),
            None => self.run(ctx, inputs).await?,
        };
        let instance = self.wait_running(ctx, &id).await?;
        Ok(Created {
            outputs: self.outputs(&instance).await?,
            id,
        })
    }

    /// A terminated or shutting-down instance is gone.
    async fn observe(
        &self,
        instance: &Instance,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        if is_ending(instance) {
            return Ok(Observed::Gone);
        }
        let id = instance.instance_id().unwrap_or_default();
        let attached = Attached {
            root_volume: self.root_volume(instance).await?,
            profile_association: in_place::profile_association(&self.clients, id).await?,
        };
        self.observe_with(instance, applied, attached).await
    }

    /// The root volumes and profile associations of the whole batch in one call each.
    async fn observe_batch(
        &self,
        objects: &[(&Instance, &Inputs)],
    ) -> Result<Vec<Observed>, ProviderError> {
        let live: Vec<&Instance> = objects
            .iter()
            .map(|(instance, _)| *instance)
            .filter(|instance| !is_ending(instance))
            .collect();
        let volume_ids: Vec<String> = live.iter().filter_map(|i| root_volume_id(i)).collect();
        let volume_ids: Vec<&str> = volume_ids.iter().map(String::as_str).collect();
        let mut volumes = describe_many::<Volume>(&self.clients.ec2, &volume_ids).await?;
        let ids: Vec<&str> = live.iter().filter_map(|i| i.instance_id()).collect();
        let mut associations = if ids.is_empty() {
            BTreeMap::new()
        } else {
            in_place::profile_associations(&self.clients, &ids).await?
        };
        all_of(objects.iter().map(|(instance, applied)| {
            let attached = Attached {
                root_volume: root_volume_id(instance).and_then(|v| volumes.remove(&v)),
                profile_association: instance
                    .instance_id()
                    .and_then(|id| associations.remove(id)),
            };
            async move {
                if is_ending(instance) {
                    return Ok(Observed::Gone);
                }
                self.observe_with(instance, applied, attached).await
            }
        }))
        .await
    }

    async fn adopt(&self, _ctx: &OpContext, instance: &Instance) -> Result<Created, ProviderError> {
        Ok(Created {
            id: instance.instance_id().unwrap_or_default().to_string(),
            outputs: self.outputs(instance).await?,
        })
    }

    /// Diffs against the live instance (not `old`), so out-of-band changes are undone: the
    /// online changes first (groups, metadata options, tags, instance profile, root volume
    /// size), then a type change (stop, modify, start) or a start of a stopped instance.
    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, new, .. } = change;
        in_place::check_desired_state(new)?;
        let instance = self.describe(id).await?.ok_or_else(|| {
            ProviderError::Other(format!(
                "instance {id} no longer exists; refresh and plan again"
            ))
        })?;
        let mut new_groups = string_list(new, "security_group_ids");
        new_groups.sort();
        if security_group_ids(&instance) != new_groups {
            self.clients
                .ec2
                .modify_instance_attribute()
                .instance_id(id)
                .set_groups(Some(new_groups))
                .send()
                .await
                .map_err(|e| aws_error("ModifyInstanceAttribute", e))?;
        }
        let live_tokens = instance
            .metadata_options()
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str());
        let new_tokens = optional_str(new, "metadata_http_tokens").unwrap_or("required");
        if live_tokens != Some(new_tokens) {
            self.clients
                .ec2
                .modify_instance_metadata_options()
                .instance_id(id)
                .http_tokens(HttpTokensState::from(new_tokens))
                .http_endpoint(InstanceMetadataEndpointState::Enabled)
                .send()
                .await
                .map_err(|e| aws_error("ModifyInstanceMetadataOptions", e))?;
        }
        let desired = tags_of(new);
        let api = Ec2Tags(&self.clients.ec2);
        sync_tags(&api, id, &visible_tags(instance.tags()), &desired).await?;
        if let Some(volume) = self.root_volume(&instance).await? {
            let volume_id = volume.volume_id().unwrap_or_default();
            sync_tags(&api, volume_id, &visible_tags(volume.tags()), &desired).await?;
            if let Some(size) = new.get("root_volume_size").and_then(Value::as_i64) {
                in_place::grow_root_volume(&self.clients, ctx, &volume, size).await?;
            }
        }
        in_place::sync_profile(
            &self.clients,
            ctx,
            id,
            optional_str(new, "iam_instance_profile"),
        )
        .await?;
        in_place::sync_type_and_state(&self.clients, ctx, &instance, new).await?;
        let instance = self.describe(id).await?.ok_or_else(|| {
            ProviderError::Other(format!("instance {id} disappeared during update"))
        })?;
        self.outputs(&instance).await
    }

    fn update_note(&self, old: &Inputs, new: &Inputs) -> Option<String> {
        in_place::update_note(old, new)
    }

    async fn delete(
        &self,
        _ec2: &aws_sdk_ec2::Client,
        ctx: &OpContext,
        object: Recorded<'_>,
    ) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        if self.describe(id).await?.is_none() {
            return Ok(());
        }
        ok_if_gone(Instance::delete(&self.clients.ec2, id).await, GONE)?;
        wait_expected(
            ctx,
            &format!("instance {id} to terminate"),
            Some(TERMINATED_IN),
            STATE_WAIT,
            || async {
                let terminated = describe_one::<Instance>(&self.clients.ec2, id)
                    .await?
                    .is_none_or(|i| state(&i) == Some(InstanceStateName::Terminated));
                Ok(terminated.then_some(()))
            },
        )
        .await
    }

    /// An instance with this resource's ownership tags: the one tagged with this create's
    /// client token if any; else one without a client-token tag (made by other means).
    /// Instances tagged with another token (e.g. the old half of a create-before-destroy
    /// replacement) are never adopted by a recovery. A lookup before planning (no client
    /// token: no create to match) adopts the one instance with the ownership tags, and
    /// refuses to guess between several.
    async fn find_existing(
        &self,
        _ec2: &aws_sdk_ec2::Client,
        ctx: &OpContext,
        _inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let instances = self.owned_instances(ctx).await?;
        if ctx.client_token.is_empty() && instances.len() > 1 {
            let ids: Vec<&str> = instances.iter().filter_map(|i| i.instance_id()).collect();
            return Err(ProviderError::Other(format!(
                "{} instances carry the ownership tags of {} ({}): adopt the right one with \
                 `nova import {} <id>`",
                ids.len(),
                ctx.address,
                ids.join(", "),
                ctx.address
            )));
        }
        let lookup = ctx.client_token.is_empty();
        let chosen = instances
            .iter()
            .find(|i| tag(i.tags(), TAG_CLIENT_TOKEN) == Some(ctx.client_token.as_str()))
            .or_else(|| {
                instances
                    .iter()
                    .find(|i| lookup || tag(i.tags(), TAG_CLIENT_TOKEN).is_none())
            });
        match chosen {
            Some(instance) => self.adopt(ctx, instance).await.map(Some),
            None => Ok(None),
        }
    }
}

/// The encrypted gp3 root volume mapping.
fn root_volume(device: &str, inputs: &Inputs) -> Result<BlockDeviceMapping, ProviderError> {
    let size = inputs
        .get("root_volume_size")
        .and_then(Value::as_i64)
        .ok_or_else(|| ProviderError::invalid("root_volume_size", "required integer is missing"))?;
    let size = i32::try_from(size).map_err(|_| {
        ProviderError::invalid("root_volume_size", format!("{size} GiB is out of range"))
    })?;
    Ok(BlockDeviceMapping::builder()
        .device_name(device)
        .ebs(
            EbsBlockDevice::builder()
                .encrypted(true)
                .kms_key_id(required_str(inputs, "kms_key_id")?)
                .volume_size(size)
                .volume_type(VolumeType::Gp3)
                .delete_on_termination(true)
                .build(),
        )
        .build())
}

fn metadata_options(inputs: &Inputs) -> InstanceMetadataOptionsRequest {
    InstanceMetadataOptionsRequest::builder()
        .http_tokens(HttpTokensState::from(
            optional_str(inputs, "metadata_http_tokens").unwrap_or("required"),
        ))
        .http_endpoint(InstanceMetadataEndpointState::Enabled)
        .build()
}

/// True for RunInstances errors that mean "this instance profile is not usable yet": AWS
/// says `InvalidParameterValue ... Invalid IAM Instance Profile name`, LocalStack
/// `NoSuchEntity: Instance profile ... not found`.
fn is_profile_not_ready(err: &ProviderError) -> bool {
    let ProviderError::Aws { code, message, .. } = err else {
        return false;
    };
    let message = message.to_ascii_lowercase();
    let about_profile =
        message.contains("instance profile") || message.contains("iaminstanceprofile");
    about_profile && (code == "InvalidParameterValue" || code == "NoSuchEntity")
}

fn state(instance: &Instance) -> Option<InstanceStateName> {
    instance.state().and_then(|s| s.name()).cloned()
}

/// Terminated or on its way there: gone for nova's purposes.
fn is_ending(instance: &Instance) -> bool {
    matches!(
        state(instance),
        Some(InstanceStateName::Terminated) | Some(InstanceStateName::ShuttingDown)
    )
}

/// The root volume: the mapping for the instance's root device name, else (LocalStack
/// reports `/dev/sda1` as root device whatever the AMI says) the only EBS mapping.
fn root_volume_id(instance: &Instance) -> Option<String> {
    let mappings = instance.block_device_mappings();
    let by_name = mappings
        .iter()
        .find(|m| m.device_name().is_some() && m.device_name() == instance.root_device_name());
    let chosen = by_name.or(if mappings.len() == 1 {
        mappings.first()
    } else {
        None
    })?;
    chosen.ebs().and_then(|e| e.volume_id()).map(str::to_string)
}

/// Security group ids, sorted: the instance's groups, else its primary interface's.
fn security_group_ids(instance: &Instance) -> Vec<String> {
    let mut ids: Vec<String> = instance
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id().map(str::to_string))
        .collect();
    if ids.is_empty() {
        ids = instance
            .network_interfaces()
            .iter()
            .filter(|n| n.attachment().and_then(|a| a.device_index()) == Some(0))
            .flat_map(|n| n.groups())
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect();
    }
    ids.sort();
    ids.dedup();
    ids
}

/// The instance profile name from its ARN (`arn:...:instance-profile/<path/>name`).
fn profile_name(instance: &Instance) -> String {
    instance
        .iam_instance_profile()
        .and_then(|p| p.arn())
        .and_then(|arn| arn.rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

/// The root volume's KMS key as the `kms_key_id` input: the applied value when it names
/// the same key (an ARN, or a key id the live ARN ends with), "" when unencrypted.
fn observed_kms_key(volume: Option<&Volume>, applied: Option<&str>) -> String {
    let Some(volume) = volume.filter(|v| v.encrypted() == Some(true)) else {
        return String::new();
    };
    let live = volume.kms_key_id().unwrap_or_default();
    match applied {
        Some(a) if a == live || (!a.is_empty() && live.ends_with(&format!("/{a}"))) => {
            a.to_string()
        }
        _ => live.to_string(),
    }
}

/// Base64-decoded user data; text that is not base64 is returned as it is.
fn decode_user_data(encoded: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| encoded.to_string())
}

/// Tags as the `tags` input: without the client-token tag and AWS-reserved `aws:` tags.
fn visible_tags(tags: &[Tag]) -> Tags {
    let mut visible = live_tags(tags);
    visible.remove(TAG_CLIENT_TOKEN);
    visible
}

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn tag_spec(resource_type: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(to_sdk_tags(tags)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{EbsInstanceBlockDevice, InstanceBlockDeviceMapping};

    fn mapping(device: &str, volume: &str) -> InstanceBlockDeviceMapping {
        InstanceBlockDeviceMapping::builder()
            .device_name(device)
            .ebs(EbsInstanceBlockDevice::builder().volume_id(volume).build())
            .build()
    }

    #[test]
    fn root_volume_by_device_name_or_the_only_mapping() {
        let named = Instance::builder()
            .root_device_name("/dev/xvda")
            .block_device_mappings(mapping("/dev/sdb", "vol-data"))
            .block_device_mappings(mapping("/dev/xvda", "vol-root"))
            .build();
        assert_eq!(root_volume_id(&named).as_deref(), Some("vol-root"));
        let mismatched = Instance::builder()
            .root_device_name("/dev/sda1")
            .block_device_mappings(mapping("/dev/xvda", "vol-root"))
            .build();
        assert_eq!(root_volume_id(&mismatched).as_deref(), Some("vol-root"));
    }

    #[test]
    fn profile_propagation_errors_are_recognised() {
        let aws = |code: &str, message: &str| ProviderError::Aws {
            operation: "RunInstances".into(),
            code: code.into(),
            message: message.into(),
            request_id: None,
            outcome: crate::provider::CallOutcome::Refused,
        };
        assert!(is_profile_not_ready(&aws(
            "InvalidParameterValue",
            "Value (web) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
        )));
        assert!(is_profile_not_ready(&aws(
            "NoSuchEntity",
            "Instance profile web not found"
        )));
        assert!(!is_profile_not_ready(&aws(
            "InvalidParameterValue",
            "bad subnet"
        )));
    }

    #[test]
    fn kms_key_reported_as_applied_when_same_key() {
        let arn = "arn:aws:kms:us-east-1:000000000000:key/abc";
        let volume = Volume::builder().encrypted(true).kms_key_id(arn).build();
        assert_eq!(observed_kms_key(Some(&volume), Some(arn)), arn);
        assert_eq!(observed_kms_key(Some(&volume), Some("abc")), "abc");
        assert_eq!(observed_kms_key(Some(&volume), Some("other")), arn);
        let plain = Volume::builder().encrypted(false).build();
        assert_eq!(observed_kms_key(Some(&plain), Some(arn)), "");
    }

    #[test]
    fn user_data_round_trip_and_hidden_tags() {
        assert_eq!(decode_user_data("aGVsbG8="), "hello");
        let tags = [
            Tag::builder().key("Name").value("web").build(),
            Tag::builder().key(TAG_CLIENT_TOKEN).value("t").build(),
            Tag::builder().key("aws:x").value("y").build(),
        ];
        assert_eq!(
            visible_tags(&tags),
            Tags::from([("Name".to_string(), "web".to_string())])
        );
    }
}
