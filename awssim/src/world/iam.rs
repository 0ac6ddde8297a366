//! IAM: when roles and instance profiles were created (or got their role), for the
//! eventual-consistency rules of EC2, Lambda and API Gateway.

use super::{Profile, Records};
use crate::call::Call;

pub(super) fn after(records: &mut Records, call: &Call, now: f64) {
    let param = |name: &str| call.params.get(name).map(str::to_string);
    match call.action.as_str() {
        "CreateRole" => {
            if let Some(name) = param("RoleName") {
                records.roles.insert(name, now);
            }
        }
        "DeleteRole" => {
            if let Some(name) = param("RoleName") {
                records.roles.remove(&name);
            }
        }
        "CreateInstanceProfile" => {
            if let Some(name) = param("InstanceProfileName") {
                records.profiles.insert(
                    name,
                    Profile {
                        created: now,
                        role_added: None,
                    },
                );
            }
        }
        "AddRoleToInstanceProfile" => {
            if let Some(profile) =
                param("InstanceProfileName").and_then(|name| records.profiles.get_mut(&name))
            {
                profile.role_added = Some(now);
            }
        }
        "DeleteInstanceProfile" => {
            if let Some(name) = param("InstanceProfileName") {
                records.profiles.remove(&name);
            }
        }
        _ => {}
    }
}
