//! Checklist 3: the instances (web security group, own profile and role with the required
//! policies, KMS-encrypted root volume, user data, IMDSv2).

use super::*;

pub async fn check(aws: &Aws, d: &Deployed) {
    let private_ids = d.private_ids.clone();
    let web_sg = d.web_sg.clone();
    let instance_ids = d.instance_ids.clone();
    let key_arn = d.key_arn.clone();
    let name = d.name.clone();
    let outputs = d.outputs.clone();
    // IMDSv2. ---
    let instances: Vec<_> = aws
        .ec2
        .describe_instances()
        .set_instance_ids(Some(instance_ids.clone()))
        .send()
        .await
        .expect("DescribeInstances")
        .reservations()
        .iter()
        .flat_map(|r| r.instances().to_vec())
        .collect();
    assert_eq!(instances.len(), 2);
    let mut profiles = BTreeSet::new();
    let mut roles = BTreeSet::new();
    for instance in &instances {
        let id = instance.instance_id().unwrap().to_string();
        assert_tagged(&format!("instance {id}"), &name, ec2_tags(instance.tags()));
        assert!(
            instance
                .security_groups()
                .iter()
                .any(|g| g.group_id() == Some(web_sg.as_str())),
            "instance {id} has the web SG"
        );
        assert!(
            private_ids
                .iter()
                .any(|s| Some(s.as_str()) == instance.subnet_id()),
            "instance {id} in a private subnet"
        );
        assert_eq!(
            instance
                .metadata_options()
                .and_then(|m| m.http_tokens())
                .map(|t| t.as_str()),
            Some("required"),
            "instance {id}: IMDSv2 required"
        );
        let profile_arn = instance
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .unwrap_or_else(|| panic!("instance {id} has no instance profile"))
            .to_string();
        let profile_name = role_name_of(&profile_arn).to_string();
        let profile = aws
            .iam
            .get_instance_profile()
            .instance_profile_name(&profile_name)
            .send()
            .await
            .expect("GetInstanceProfile")
            .instance_profile
            .expect("profile");
        assert_eq!(
            profile.roles().len(),
            1,
            "profile {profile_name} has one role"
        );
        let role = profile.roles()[0].clone();
        let tags = aws
            .iam
            .list_instance_profile_tags()
            .instance_profile_name(&profile_name)
            .send()
            .await
            .expect("ListInstanceProfileTags");
        assert_tagged(
            &format!("instance profile {profile_name}"),
            &name,
            tags.tags().iter().map(|t| (t.key(), t.value())),
        );
        assert!(
            role_managed_policies(aws, role.role_name())
                .await
                .contains(CLOUDWATCH_AGENT_POLICY),
            "role {} has CloudWatchAgentServerPolicy",
            role.role_name()
        );
        assert_tagged(
            &format!("role {}", role.role_name()),
            &name,
            role_tags(aws, role.role_name()).await,
        );
        profiles.insert(profile_name);
        roles.insert(role.arn().to_string());

        let volumes = aws
            .ec2
            .describe_volumes()
            .filters(filter("attachment.instance-id", &[&id]))
            .send()
            .await
            .expect("DescribeVolumes")
            .volumes()
            .to_vec();
        assert!(!volumes.is_empty(), "instance {id} has a root volume");
        for volume in &volumes {
            assert_eq!(volume.encrypted(), Some(true), "volume of {id} encrypted");
            assert_eq!(
                volume.kms_key_id(),
                Some(key_arn.as_str()),
                "volume of {id} encrypted with the stack key"
            );
            assert_tagged(
                &format!("volume {:?}", volume.volume_id()),
                &name,
                ec2_tags(volume.tags()),
            );
        }

        let attribute = aws
            .ec2
            .describe_instance_attribute()
            .instance_id(&id)
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
            .send()
            .await
            .expect("DescribeInstanceAttribute userData");
        let encoded = attribute
            .user_data()
            .and_then(|u| u.value())
            .unwrap_or_default();
        let user_data = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        assert!(
            user_data.contains("amazon-cloudwatch-agent"),
            "instance {id} user data installs the CloudWatch agent: {user_data:?}"
        );
    }
    assert_eq!(profiles.len(), 2, "each instance has its own profile");
    assert_eq!(roles.len(), 2, "each instance has its own role");
    assert_eq!(
        roles,
        out_list(&outputs, "instance_role_arns")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        "instance_role_arns output"
    );
}
