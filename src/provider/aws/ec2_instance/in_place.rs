//! The in-place changes of an `aws_instance` beyond tags, groups and metadata options: the
//! instance type (stop, ModifyInstanceAttribute, start: the id, volumes and private IP stay),
//! the root volume's size (ModifyVolume while it runs; EBS volumes only grow), the instance
//! profile (ReplaceIamInstanceProfileAssociation) and the running state. Each step looks
//! first, so an update repeated after a crash picks up where the first one stopped.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::{
    AttributeValue, Filter, IamInstanceProfileAssociation, IamInstanceProfileAssociationState,
    IamInstanceProfileSpecification, Instance, InstanceStateName, Volume, VolumeModification,
    VolumeModificationState,
};

use super::{is_profile_not_ready, state, PROFILE_PROPAGATION_LIMIT, STATE_WAIT};
use crate::model::{Inputs, Value};
use crate::provider::aws::{
    aws_error, has_code, optional_str, retry_while, unless_gone, wait_until, AwsClients,
};
use crate::provider::{OpContext, ProviderError};

/// The running state nova keeps an instance in (the `instance_state` input).
pub const RUNNING: &str = "running";
/// `instance_state` as read from an instance that is stopping or stopped.
pub const STOPPED: &str = "stopped";
/// How long a root volume modification may take to reach `optimizing` (including waiting
/// for an earlier modification of the volume to finish).
const VOLUME_WAIT: Duration = Duration::from_secs(30 * 60);
/// How long an instance profile association may take to show the new profile.
const ASSOCIATION_WAIT: Duration = Duration::from_secs(120);
const NO_MODIFICATION: &[&str] = &["InvalidVolumeModification.NotFound"];

/// The plan's note on an update of `old` to `new`: an instance type change stops the
/// instance for a while, which the user should know before saying yes.
pub fn update_note(old: &Inputs, new: &Inputs) -> Option<String> {
    let old_type = optional_str(old, "instance_type");
    let new_type = optional_str(new, "instance_type");
    if old_type != new_type {
        return Some(format!(
            "will be stopped and started to change its type from {} to {} (its id, volumes \
             and private IP stay)",
            old_type.unwrap_or("?"),
            new_type.unwrap_or("?")
        ));
    }
    let was_stopped = optional_str(old, "instance_state") == Some(STOPPED);
    (was_stopped && desired_state(new) == RUNNING).then(|| "will be started".to_string())
}

/// `instance_state` of `instance` as the input reads it: running (or about to), or stopped
/// (or about to); `None` for states nova does not keep (terminated, shutting down).
pub fn observed_state(instance: &Instance) -> Option<&'static str> {
    match state(instance)? {
        InstanceStateName::Pending | InstanceStateName::Running => Some(RUNNING),
        InstanceStateName::Stopping | InstanceStateName::Stopped => Some(STOPPED),
        _ => None,
    }
}

/// The desired running state: `running` unless the input says otherwise.
pub fn desired_state(inputs: &Inputs) -> &str {
    optional_str(inputs, "instance_state").unwrap_or(RUNNING)
}

/// Refuses a desired state nova cannot keep (only `running` is supported).
pub fn check_desired_state(inputs: &Inputs) -> Result<(), ProviderError> {
    match desired_state(inputs) {
        RUNNING => Ok(()),
        other => Err(ProviderError::invalid(
            "instance_state",
            format!("`{other}` is not supported: nova keeps web instances `running`"),
        )),
    }
}

/// The instance's current profile association (associating or associated), if any.
pub async fn profile_association(
    clients: &AwsClients,
    id: &str,
) -> Result<Option<IamInstanceProfileAssociation>, ProviderError> {
    Ok(profile_associations(clients, &[id]).await?.remove(id))
}

/// The current profile associations of these instances, by instance id (one call).
pub async fn profile_associations(
    clients: &AwsClients,
    ids: &[&str],
) -> Result<BTreeMap<String, IamInstanceProfileAssociation>, ProviderError> {
    let instances = Filter::builder()
        .name("instance-id")
        .set_values(Some(ids.iter().map(|id| id.to_string()).collect()))
        .build();
    let out = clients
        .ec2
        .describe_iam_instance_profile_associations()
        .filters(instances)
        .filters(
            Filter::builder()
                .name("state")
                .values("associating")
                .values("associated")
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws_error("DescribeIamInstanceProfileAssociations", e))?;
    let mut by_instance = BTreeMap::new();
    for association in out.iam_instance_profile_associations() {
        if let Some(instance) = association.instance_id() {
            by_instance
                .entry(instance.to_string())
                .or_insert_with(|| association.clone());
        }
    }
    Ok(by_instance)
}

/// The profile name of an association (`arn:...:instance-profile/<path/>name`).
pub fn association_profile(association: &IamInstanceProfileAssociation) -> String {
    association
        .iam_instance_profile()
        .and_then(|p| p.arn())
        .and_then(|arn| arn.rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

/// Gives the instance the `desired` profile (none for `None` or ""): replaces the current
/// association, associates one, or disassociates it; then waits until the association
/// shows the new profile. A new profile that IAM has not propagated yet is retried.
pub async fn sync_profile(
    clients: &AwsClients,
    ctx: &OpContext,
    id: &str,
    desired: Option<&str>,
) -> Result<(), ProviderError> {
    let desired = desired.filter(|p| !p.is_empty());
    let current = profile_association(clients, id).await?;
    let live = current.as_ref().map(association_profile);
    if live.as_deref() == desired {
        return Ok(());
    }
    match (&current, desired) {
        (Some(association), None) => {
            let association_id = association.association_id().unwrap_or_default();
            ctx.note(&format!(
                "removing instance profile {}",
                live.unwrap_or_default()
            ));
            clients
                .ec2
                .disassociate_iam_instance_profile()
                .association_id(association_id)
                .send()
                .await
                .map_err(|e| aws_error("DisassociateIamInstanceProfile", e))?;
            return Ok(());
        }
        (None, None) => return Ok(()),
        (Some(association), Some(profile)) => {
            let association_id = association.association_id().unwrap_or_default();
            ctx.note(&format!("replacing instance profile with {profile}"));
            retry_while(
                ctx,
                "replacing the instance profile (the new one may not be usable yet)",
                PROFILE_PROPAGATION_LIMIT,
                is_profile_not_ready,
                || async {
                    clients
                        .ec2
                        .replace_iam_instance_profile_association()
                        .association_id(association_id)
                        .iam_instance_profile(profile_spec(profile))
                        .send()
                        .await
                        .map_err(|e| aws_error("ReplaceIamInstanceProfileAssociation", e))
                },
            )
            .await?;
        }
        (None, Some(profile)) => {
            ctx.note(&format!("associating instance profile {profile}"));
            retry_while(
                ctx,
                "associating the instance profile (it may not be usable yet)",
                PROFILE_PROPAGATION_LIMIT,
                is_profile_not_ready,
                || async {
                    clients
                        .ec2
                        .associate_iam_instance_profile()
                        .instance_id(id)
                        .iam_instance_profile(profile_spec(profile))
                        .send()
                        .await
                        .map_err(|e| aws_error("AssociateIamInstanceProfile", e))
                },
            )
            .await?;
        }
    }
    let profile = desired.unwrap_or_default();
    wait_until(
        ctx,
        &format!("instance {id} to be associated with instance profile {profile}"),
        ASSOCIATION_WAIT,
        || async {
            let association = profile_association(clients, id).await?;
            Ok(association.filter(|a| {
                association_profile(a) == profile
                    && a.state() == Some(&IamInstanceProfileAssociationState::Associated)
            }))
        },
    )
    .await
    .map(|_| ())
}

fn profile_spec(name: &str) -> IamInstanceProfileSpecification {
    IamInstanceProfileSpecification::builder()
        .name(name)
        .build()
}

/// The volume's most recent modification, if it was ever modified.
async fn latest_modification(
    clients: &AwsClients,
    volume_id: &str,
) -> Result<Option<VolumeModification>, ProviderError> {
    let result = clients
        .ec2
        .describe_volumes_modifications()
        .volume_ids(volume_id)
        .send()
        .await
        .map_err(|e| aws_error("DescribeVolumesModifications", e));
    Ok(unless_gone(result, NO_MODIFICATION)?.and_then(|out| {
        out.volumes_modifications()
            .iter()
            .max_by_key(|m| m.start_time().map(|t| (t.secs(), t.subsec_nanos())))
            .cloned()
    }))
}

/// True while a modification is under way (a new one is refused until it completes).
fn in_progress(modification: &VolumeModification) -> bool {
    matches!(
        modification.modification_state(),
        Some(VolumeModificationState::Modifying | VolumeModificationState::Optimizing)
    )
}

/// Grows the root volume to `desired` GiB, online, and waits until the modification is
/// `optimizing` or `completed` (the new size is usable from `optimizing` on). A modification
/// to that size already under way (an update repeated after a crash) is waited for, not
/// asked again. A smaller size is refused: EBS volumes cannot shrink (the planner refuses it
/// first).
pub async fn grow_root_volume(
    clients: &AwsClients,
    ctx: &OpContext,
    volume: &Volume,
    desired: i64,
) -> Result<(), ProviderError> {
    let volume_id = volume.volume_id().unwrap_or_default();
    let live = i64::from(volume.size().unwrap_or_default());
    let latest = latest_modification(clients, volume_id).await?;
    let asked_already = latest
        .as_ref()
        .is_some_and(|m| m.target_size().map(i64::from) == Some(desired) && in_progress(m));
    if live == desired && !asked_already {
        return Ok(());
    }
    if desired < live && !asked_already {
        return Err(ProviderError::invalid(
            "root_volume_size",
            format!(
                "volume {volume_id} has {live} GiB; EBS volumes cannot shrink to {desired} GiB"
            ),
        ));
    }
    if !asked_already {
        let size = i32::try_from(desired).map_err(|_| {
            ProviderError::invalid("root_volume_size", format!("{desired} GiB is out of range"))
        })?;
        ctx.note(&format!(
            "growing root volume {volume_id} from {live} to {desired} GiB"
        ));
        retry_while(
            ctx,
            &format!("modifying volume {volume_id} (an earlier modification is still running)"),
            VOLUME_WAIT,
            |e| has_code(e, &["IncorrectModificationState"]),
            || async {
                clients
                    .ec2
                    .modify_volume()
                    .volume_id(volume_id)
                    .size(size)
                    .send()
                    .await
                    .map_err(|e| aws_error("ModifyVolume", e))
            },
        )
        .await?;
    }
    wait_until(
        ctx,
        &format!("volume {volume_id} modification to {desired} GiB to reach optimizing"),
        VOLUME_WAIT,
        || async {
            let Some(m) = latest_modification(clients, volume_id).await? else {
                return Ok(None);
            };
            if m.target_size().map(i64::from) != Some(desired) {
                return Ok(None);
            }
            match m.modification_state() {
                Some(VolumeModificationState::Optimizing | VolumeModificationState::Completed) => {
                    Ok(Some(()))
                }
                Some(VolumeModificationState::Failed) => Err(ProviderError::Other(format!(
                    "the modification of volume {volume_id} to {desired} GiB failed: {}",
                    m.status_message().unwrap_or("no reason given")
                ))),
                _ => Ok(None),
            }
        },
    )
    .await
}

/// Brings the instance to the desired type and running state: a type change stops the
/// instance (waiting until it is `stopped`), modifies the type and starts it again
/// (waiting until it is `running`); an instance found stopped is started.
pub async fn sync_type_and_state(
    clients: &AwsClients,
    ctx: &OpContext,
    instance: &Instance,
    new: &Inputs,
) -> Result<(), ProviderError> {
    let id = instance.instance_id().unwrap_or_default();
    let desired_type = new
        .get("instance_type")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::invalid("instance_type", "required string is missing"))?;
    let live_type = instance
        .instance_type()
        .map(|t| t.as_str())
        .unwrap_or_default();
    let mut live_state = state(instance);
    if live_type != desired_type && live_state == Some(InstanceStateName::Pending) {
        // A launching instance cannot be stopped yet.
        wait_for(clients, ctx, id, InstanceStateName::Running).await?;
        live_state = Some(InstanceStateName::Running);
    }
    if live_type != desired_type {
        if live_state != Some(InstanceStateName::Stopped) {
            ctx.note(&format!(
                "stopping instance {id} to change its type from {live_type} to {desired_type}"
            ));
            if live_state != Some(InstanceStateName::Stopping) {
                clients
                    .ec2
                    .stop_instances()
                    .instance_ids(id)
                    .send()
                    .await
                    .map_err(|e| aws_error("StopInstances", e))?;
            }
            wait_for(clients, ctx, id, InstanceStateName::Stopped).await?;
        }
        clients
            .ec2
            .modify_instance_attribute()
            .instance_id(id)
            .instance_type(AttributeValue::builder().value(desired_type).build())
            .send()
            .await
            .map_err(|e| aws_error("ModifyInstanceAttribute", e))?;
        live_state = Some(InstanceStateName::Stopped);
    }
    match live_state {
        Some(InstanceStateName::Stopped | InstanceStateName::Stopping) => {
            if live_state == Some(InstanceStateName::Stopping) {
                wait_for(clients, ctx, id, InstanceStateName::Stopped).await?;
            }
            ctx.note(&format!("starting instance {id}"));
            clients
                .ec2
                .start_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(|e| aws_error("StartInstances", e))?;
            wait_for(clients, ctx, id, InstanceStateName::Running).await
        }
        Some(InstanceStateName::Pending) => {
            wait_for(clients, ctx, id, InstanceStateName::Running).await
        }
        _ => Ok(()),
    }
}

/// Waits (bounded, with progress) until the instance is in `target`.
async fn wait_for(
    clients: &AwsClients,
    ctx: &OpContext,
    id: &str,
    target: InstanceStateName,
) -> Result<(), ProviderError> {
    wait_until(
        ctx,
        &format!("instance {id} to be {target}"),
        STATE_WAIT,
        || async {
            let out = clients
                .ec2
                .describe_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(|e| aws_error("DescribeInstances", e))?;
            let live = out
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .find(|i| i.instance_id() == Some(id))
                .and_then(state);
            match live {
                Some(s) if s == target => Ok(Some(())),
                Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown) => {
                    Err(ProviderError::Other(format!(
                        "instance {id} is terminating; refresh and plan again"
                    )))
                }
                _ => Ok(None),
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(pairs: &[(&str, &str)]) -> Inputs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::str(*v)))
            .collect()
    }

    #[test]
    fn a_type_change_says_the_instance_stops() {
        let old = inputs(&[("instance_type", "t3.micro")]);
        let new = inputs(&[("instance_type", "t3.small")]);
        let note = update_note(&old, &new).expect("a note");
        assert!(note.contains("will be stopped and started"), "{note}");
        assert!(
            note.contains("t3.micro") && note.contains("t3.small"),
            "{note}"
        );
        assert_eq!(update_note(&old, &old), None);
        let stopped = inputs(&[("instance_type", "t3.micro"), ("instance_state", STOPPED)]);
        assert_eq!(
            update_note(&stopped, &old).as_deref(),
            Some("will be started")
        );
    }

    #[test]
    fn only_running_is_a_desired_state() {
        assert!(check_desired_state(&inputs(&[])).is_ok());
        assert!(check_desired_state(&inputs(&[("instance_state", "running")])).is_ok());
        let err = check_desired_state(&inputs(&[("instance_state", "stopped")])).unwrap_err();
        assert!(err.to_string().contains("instance_state"), "{err}");
    }
}
