//! The `aws_instance` provider against LocalStack with the real SDK: launch with an
//! encrypted root volume and instance profile, read, in-place updates (tags, groups, and
//! instance type, root volume size and instance profile, keeping the instance's id,
//! volume and private IP), replacement, out-of-band changes (a tag, a stop), idempotent
//! create, adoption and termination; plus the AL2023 AMI lookup. AWS's timing of stops
//! and volume modifications is tested through awssim (`aws_ec2_instance_awssim.rs`).

mod common;

use common::conformance::Case;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ec2::types::{Filter, Tag};
use nova::model::{Address, Inputs, Outputs, Value};
use nova::provider::aws::{ec2_instance, iam, kms, tags_value, AwsClients};
use nova::provider::Recorded;
use nova::provider::{
    Created, Observed, OpContext, Progress, ReadRequest, ResourceProvider, SilentProgress,
};

async fn clients() -> AwsClients {
    AwsClients::from_config(common::sdk_config().await)
}

fn provider(providers: Vec<Arc<dyn ResourceProvider>>, kind: &str) -> Arc<dyn ResourceProvider> {
    providers
        .into_iter()
        .find(|p| p.schema().kind == kind)
        .unwrap_or_else(|| panic!("no provider for {kind}"))
}

fn ctx(stack: &str, kind: &str, name: &str, token: &str) -> OpContext {
    OpContext {
        stack: stack.to_string(),
        address: Address::new(kind, name),
        client_token: format!("{stack}-{token}"),
        known_ids: Vec::new(),
        progress: Arc::new(SilentProgress),
    }
}

fn tags(ctx: &OpContext, extra: &[(&str, &str)]) -> Value {
    let mut map: BTreeMap<String, String> = [
        ("Environment", "Test"),
        ("Project", "nova"),
        ("ManagedBy", "nova"),
        ("Name", ctx.address.name()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    map.insert("nova:stack".into(), ctx.stack.clone());
    map.insert("nova:address".into(), ctx.address.to_string());
    for (k, v) in extra {
        map.insert(k.to_string(), v.to_string());
    }
    tags_value(map)
}

fn present(observed: Observed) -> (Inputs, Outputs) {
    match observed {
        Observed::Present { inputs, outputs } => (inputs, outputs),
        Observed::Gone => panic!("expected the resource to exist, read says Gone"),
    }
}

/// What the instance needs around it, made with the raw SDK and nova's KMS/IAM providers.
struct Fixture {
    clients: AwsClients,
    stack: String,
    vpc_id: String,
    subnet_id: String,
    sg_a: String,
    sg_b: String,
    key: Created,
    key_inputs: Inputs,
    role: Created,
    role_inputs: Inputs,
    profile: Created,
    profile_inputs: Inputs,
    /// A second profile (same role) to move the instance to in place.
    profile_b: Created,
    profile_b_inputs: Inputs,
    ami: String,
}

impl Fixture {
    async fn new(prefix: &str) -> Fixture {
        let clients = clients().await;
        let stack = common::unique_stack(prefix);
        let ec2 = &clients.ec2;
        let vpc_id = ec2
            .create_vpc()
            .cidr_block("10.42.0.0/16")
            .send()
            .await
            .expect("CreateVpc")
            .vpc
            .and_then(|v| v.vpc_id)
            .expect("vpc id");
        let subnet_id = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block("10.42.1.0/24")
            .send()
            .await
            .expect("CreateSubnet")
            .subnet
            .and_then(|s| s.subnet_id)
            .expect("subnet id");
        let mut sgs = Vec::new();
        for name in ["a", "b"] {
            let id = ec2
                .create_security_group()
                .group_name(format!("{stack}-{name}"))
                .description("nova instance test")
                .vpc_id(&vpc_id)
                .send()
                .await
                .expect("CreateSecurityGroup")
                .group_id
                .expect("group id");
            sgs.push(id);
        }
        sgs.sort();

        let kms_providers = kms::providers(&clients);
        let keys = provider(kms_providers, "aws_kms_key");
        let key_ctx = ctx(&stack, "aws_kms_key", "main", "key");
        let key_inputs: Inputs = [
            ("description".to_string(), Value::str("instance test key")),
            (
                "policy".to_string(),
                Value::String(format!(
                    r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#,
                    common::ACCOUNT_ID
                )),
            ),
            ("enable_key_rotation".to_string(), Value::Bool(true)),
            ("deletion_window_days".to_string(), Value::Int(7)),
            ("tags".to_string(), tags(&key_ctx, &[])),
        ]
        .into_iter()
        .collect();
        let key = keys.create(&key_ctx, &key_inputs).await.expect("key");

        let iam_providers = iam::providers(&clients);
        let roles = provider(iam_providers.clone(), "aws_iam_role");
        let profiles = provider(iam_providers, "aws_iam_instance_profile");
        let role_ctx = ctx(&stack, "aws_iam_role", "web", "role");
        let role_inputs: Inputs = [
            ("name".to_string(), Value::String(format!("{stack}-web"))),
            (
                "assume_role_policy".to_string(),
                Value::str(
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
                ),
            ),
            (
                "managed_policy_arns".to_string(),
                Value::list_of_strings(["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]),
            ),
            ("inline_policies".to_string(), Value::Map(BTreeMap::new())),
            ("description".to_string(), Value::str("web")),
            ("tags".to_string(), tags(&role_ctx, &[])),
        ]
        .into_iter()
        .collect();
        let role = roles.create(&role_ctx, &role_inputs).await.expect("role");
        let profile_ctx = ctx(&stack, "aws_iam_instance_profile", "web", "profile");
        let profile_inputs: Inputs = [
            ("name".to_string(), Value::String(format!("{stack}-web"))),
            ("role".to_string(), Value::str(&role.id)),
            ("tags".to_string(), tags(&profile_ctx, &[])),
        ]
        .into_iter()
        .collect();
        let profile = profiles
            .create(&profile_ctx, &profile_inputs)
            .await
            .expect("profile");
        let profile_b_ctx = ctx(&stack, "aws_iam_instance_profile", "web-b", "profile-b");
        let profile_b_inputs: Inputs = [
            ("name".to_string(), Value::String(format!("{stack}-web-b"))),
            ("role".to_string(), Value::str(&role.id)),
            ("tags".to_string(), tags(&profile_b_ctx, &[])),
        ]
        .into_iter()
        .collect();
        let profile_b = profiles
            .create(&profile_b_ctx, &profile_b_inputs)
            .await
            .expect("second profile");
        let ami = ec2_instance::latest_amazon_linux_2023(&clients)
            .await
            .expect("AL2023 AMI");

        Fixture {
            clients,
            stack,
            vpc_id,
            subnet_id,
            sg_a: sgs[0].clone(),
            sg_b: sgs[1].clone(),
            key,
            key_inputs,
            role,
            role_inputs,
            profile,
            profile_inputs,
            profile_b,
            profile_b_inputs,
            ami,
        }
    }

    fn instance_inputs(
        &self,
        ctx: &OpContext,
        groups: &[&str],
        user_data: &str,
        extra_tags: &[(&str, &str)],
    ) -> Inputs {
        let mut groups: Vec<&str> = groups.to_vec();
        groups.sort();
        [
            ("ami", Value::str(&self.ami)),
            ("instance_type", Value::str("t3.micro")),
            ("subnet_id", Value::str(&self.subnet_id)),
            ("security_group_ids", Value::list_of_strings(groups)),
            ("iam_instance_profile", Value::str(&self.profile.id)),
            ("user_data", Value::str(user_data)),
            ("root_volume_size", Value::Int(12)),
            ("kms_key_id", self.key.outputs["arn"].clone()),
            ("metadata_http_tokens", Value::str("required")),
            ("instance_state", Value::str("running")),
            ("tags", tags(ctx, extra_tags)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The instance, read with the raw SDK.
    async fn describe(&self, id: &str) -> aws_sdk_ec2::types::Instance {
        self.clients
            .ec2
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .expect("DescribeInstances")
            .reservations()[0]
            .instances()[0]
            .clone()
    }

    async fn volume_size(&self, volume_id: &str) -> Option<i32> {
        self.clients
            .ec2
            .describe_volumes()
            .volume_ids(volume_id)
            .send()
            .await
            .expect("DescribeVolumes")
            .volumes()[0]
            .size()
    }

    /// The profile of the instance's live association, by name.
    async fn association_profile(&self, id: &str) -> String {
        let out = self
            .clients
            .ec2
            .describe_iam_instance_profile_associations()
            .filters(Filter::builder().name("instance-id").values(id).build())
            .send()
            .await
            .expect("DescribeIamInstanceProfileAssociations");
        out.iam_instance_profile_associations()[0]
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .and_then(|arn| arn.rsplit('/').next())
            .unwrap_or_default()
            .to_string()
    }

    /// Live (not terminated) instances carrying this address's ownership tags.
    async fn owned_instance_ids(&self, ctx: &OpContext) -> Vec<String> {
        let out = self
            .clients
            .ec2
            .describe_instances()
            .filters(tag_filter("nova:stack", &ctx.stack))
            .filters(tag_filter("nova:address", &ctx.address.to_string()))
            .send()
            .await
            .expect("DescribeInstances");
        let mut ids: Vec<String> = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| {
                !matches!(
                    i.state().and_then(|s| s.name()).map(|n| n.as_str()),
                    Some("terminated") | Some("shutting-down")
                )
            })
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect();
        ids.sort();
        ids
    }

    async fn cleanup(self) {
        let ec2 = &self.clients.ec2;
        for sg in [&self.sg_a, &self.sg_b] {
            ec2.delete_security_group()
                .group_id(sg)
                .send()
                .await
                .expect("DeleteSecurityGroup");
        }
        ec2.delete_subnet()
            .subnet_id(&self.subnet_id)
            .send()
            .await
            .expect("DeleteSubnet");
        ec2.delete_vpc()
            .vpc_id(&self.vpc_id)
            .send()
            .await
            .expect("DeleteVpc");
        let iam_providers = iam::providers(&self.clients);
        let profile_b_ctx = ctx(
            &self.stack,
            "aws_iam_instance_profile",
            "web-b",
            "profile-b",
        );
        provider(iam_providers.clone(), "aws_iam_instance_profile")
            .delete(
                &profile_b_ctx,
                self.profile_b.recorded(&self.profile_b_inputs),
            )
            .await
            .expect("delete second profile");
        let profile_ctx = ctx(&self.stack, "aws_iam_instance_profile", "web", "profile");
        provider(iam_providers.clone(), "aws_iam_instance_profile")
            .delete(&profile_ctx, self.profile.recorded(&self.profile_inputs))
            .await
            .expect("delete profile");
        let role_ctx = ctx(&self.stack, "aws_iam_role", "web", "role");
        provider(iam_providers, "aws_iam_role")
            .delete(&role_ctx, self.role.recorded(&self.role_inputs))
            .await
            .expect("delete role");
        let key_ctx = ctx(&self.stack, "aws_kms_key", "main", "key");
        provider(kms::providers(&self.clients), "aws_kms_key")
            .delete(&key_ctx, self.key.recorded(&self.key_inputs))
            .await
            .expect("delete key");
    }
}

fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

#[tokio::test]
async fn instance_lifecycle() {
    let fx = Fixture::new("ec2inst").await;
    let instances = provider(ec2_instance::providers(&fx.clients), "aws_instance");
    let ctx = ctx(&fx.stack, "aws_instance", "web", "create-1");

    let v1 = fx.instance_inputs(&ctx, &[&fx.sg_a], "#!/bin/sh\necho hello\n", &[]);
    // In place: tags and security groups.
    let v2 = fx.instance_inputs(
        &ctx,
        &[&fx.sg_a, &fx.sg_b],
        "#!/bin/sh\necho hello\n",
        &[("Owner", "ops")],
    );
    // In place too: a bigger type (stop, modify, start), a bigger root volume
    // (ModifyVolume) and another instance profile (ReplaceIamInstanceProfileAssociation).
    let mut v3 = v2.clone();
    v3.insert("instance_type".into(), Value::str("t3.small"));
    v3.insert("root_volume_size".into(), Value::Int(16));
    v3.insert("iam_instance_profile".into(), Value::str(&fx.profile_b.id));
    let schema = instances.schema();
    for field in ["instance_type", "root_volume_size", "iam_instance_profile"] {
        assert!(!schema.is_force_new(field), "{field} changes in place");
    }
    assert!(schema.is_grow_only("root_volume_size"));
    let case = Case {
        provider: instances.clone(),
        ctx: ctx.clone(),
        other: Some(ctx_for(&fx.stack, "aws_instance", "other")),
        desired: v1.clone(),
        changes: vec![v2.clone(), v3.clone()],
    };

    // Create, and read back exactly what was applied (no drift); adoption by ownership
    // tags (and this create's client token), for this address only.
    let created = case.create().await;
    assert!(created.id.starts_with("i-"), "{}", created.id);
    assert_eq!(
        created.outputs["arn"],
        Value::String(format!(
            "arn:aws:ec2:{}:{}:instance/{}",
            common::REGION,
            common::ACCOUNT_ID,
            created.id
        ))
    );
    for output in ["private_ip", "root_volume_id", "availability_zone"] {
        assert!(
            created.outputs[output]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "output {output} is empty"
        );
    }

    // The root volume is encrypted with the given key, gp3, and tagged.
    let volume_id = created.outputs["root_volume_id"]
        .as_str()
        .expect("volume id");
    let volume = fx
        .clients
        .ec2
        .describe_volumes()
        .volume_ids(volume_id)
        .send()
        .await
        .expect("DescribeVolumes")
        .volumes
        .and_then(|v| v.into_iter().next())
        .expect("root volume");
    assert_eq!(volume.encrypted(), Some(true));
    assert_eq!(volume.kms_key_id(), fx.key.outputs["arn"].as_str());
    assert_eq!(volume.size(), Some(12));
    assert_eq!(volume.volume_type().map(|t| t.as_str()), Some("gp3"));
    assert!(volume
        .tags()
        .iter()
        .any(|t| t.key() == Some("nova:address") && t.value() == Some("aws_instance.web")));

    // Creating again with the same client token yields the same single instance.
    let again = instances.create(&ctx, &v1).await.expect("repeated create");
    assert_eq!(again.id, created.id);
    assert_eq!(fx.owned_instance_ids(&ctx).await, vec![created.id.clone()]);

    let before = fx.describe(&created.id).await;
    case.update_each(&created).await;
    // The same instance, volume and private IP, now with the new type, size and profile
    // (raw SDK reads).
    let after = fx.describe(&created.id).await;
    assert_eq!(after.instance_type().map(|t| t.as_str()), Some("t3.small"));
    assert_eq!(
        after.state().and_then(|s| s.name()).map(|n| n.as_str()),
        Some("running")
    );
    assert_eq!(after.private_ip_address(), before.private_ip_address());
    assert_eq!(
        after.block_device_mappings()[0]
            .ebs()
            .and_then(|e| e.volume_id()),
        Some(volume_id)
    );
    assert_eq!(fx.volume_size(volume_id).await, Some(16));
    assert_eq!(fx.association_profile(&created.id).await, fx.profile_b.id);
    let modifications = fx
        .clients
        .ec2
        .describe_volumes_modifications()
        .volume_ids(volume_id)
        .send()
        .await
        .expect("DescribeVolumesModifications");
    assert_eq!(
        modifications.volumes_modifications()[0].target_size(),
        Some(16)
    );
    let v2 = v3.clone();
    let volume_tags = fx
        .clients
        .ec2
        .describe_volumes()
        .volume_ids(volume_id)
        .send()
        .await
        .expect("DescribeVolumes")
        .volumes()[0]
        .tags()
        .to_vec();
    assert!(
        volume_tags
            .iter()
            .any(|t| t.key() == Some("Owner") && t.value() == Some("ops")),
        "root volume tags follow the instance's: {volume_tags:?}"
    );

    // An instance stopped behind nova's back reads as `stopped`; the update starts it.
    case.drift_and_restore(&created, &v2, async |created| {
        fx.clients
            .ec2
            .stop_instances()
            .instance_ids(&created.id)
            .send()
            .await
            .expect("StopInstances");
        let (live, _) = present(instances.read(&ctx, &created.id, &v2).await.expect("read"));
        assert_eq!(live["instance_state"], Value::str("stopped"));
    })
    .await;
    assert_eq!(
        fx.describe(&created.id)
            .await
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str()),
        Some("running")
    );

    // Out-of-band tag change is drift; an update undoes it.
    case.drift_and_restore(&created, &v2, async |created| {
        fx.clients
            .ec2
            .create_tags()
            .resources(&created.id)
            .tags(Tag::builder().key("Owner").value("intruder").build())
            .send()
            .await
            .expect("CreateTags");
        let (live, _) = present(instances.read(&ctx, &created.id, &v2).await.expect("read"));
        assert_eq!(
            live["tags"].as_map().expect("map")["Owner"],
            Value::str("intruder")
        );
    })
    .await;
    case.assert_found(&created).await;

    // Replacement (create before destroy): new user data, new client token.
    assert!(instances.schema().is_force_new("user_data"));
    assert!(instances.schema().create_before_destroy);
    let ctx2 = ctx_with_token(&ctx, "create-2");
    let v3 = fx.instance_inputs(&ctx2, &[&fx.sg_a, &fx.sg_b], "#!/bin/sh\necho v3\n", &[]);
    let replacement = instances
        .create(&ctx2, &v3)
        .await
        .expect("create replacement");
    assert_ne!(replacement.id, created.id);
    // The new create's find_existing picks the new instance, never the old one.
    let found = instances
        .find_existing(&ctx2, &v3)
        .await
        .expect("find")
        .expect("adopted");
    assert_eq!(found.id, replacement.id);
    instances
        .delete(&ctx, created.recorded(&v2))
        .await
        .expect("delete old instance");
    assert_eq!(
        instances.read(&ctx, &created.id, &v2).await.expect("read"),
        Observed::Gone
    );
    let (live, _) = present(
        instances
            .read(&ctx2, &replacement.id, &v3)
            .await
            .expect("read"),
    );
    assert_eq!(live["user_data"], Value::str("#!/bin/sh\necho v3\n"));

    // Delete, read Gone, delete again is fine.
    let replaced = Case {
        ctx: ctx2.clone(),
        desired: v3.clone(),
        ..case
    };
    replaced.delete(&replacement, &v3).await;
    assert!(fx.owned_instance_ids(&ctx).await.is_empty());
    assert!(instances
        .find_existing(&ctx2, &v3)
        .await
        .expect("find")
        .is_none());

    fx.cleanup().await;
}

fn ctx_with_token(ctx: &OpContext, token: &str) -> OpContext {
    let mut other = ctx.clone();
    other.client_token = format!("{}-{token}", ctx.stack);
    other
}

#[tokio::test]
async fn instance_terminated_out_of_band_is_gone() {
    let fx = Fixture::new("ec2gone").await;
    let instances = provider(ec2_instance::providers(&fx.clients), "aws_instance");
    let ctx = ctx(&fx.stack, "aws_instance", "web", "create-1");
    let v1 = fx.instance_inputs(&ctx, &[&fx.sg_a], "", &[]);
    let created = instances.create(&ctx, &v1).await.expect("create");
    fx.clients
        .ec2
        .terminate_instances()
        .instance_ids(&created.id)
        .send()
        .await
        .expect("TerminateInstances");
    assert_eq!(
        instances.read(&ctx, &created.id, &v1).await.expect("read"),
        Observed::Gone
    );
    assert!(instances
        .find_existing(&ctx, &v1)
        .await
        .expect("find")
        .is_none());
    instances
        .delete(&ctx, created.recorded(&v1))
        .await
        .expect("delete of a terminated instance");
    fx.cleanup().await;
}

/// A refresh reads every instance of a stack in one batch: the same as reading each on
/// its own, and one terminated behind nova's back is gone while the other is not.
#[tokio::test]
async fn instances_read_in_one_batch_as_each_alone() {
    let fx = Fixture::new("ec2batch").await;
    let instances = provider(ec2_instance::providers(&fx.clients), "aws_instance");
    let web = ctx(&fx.stack, "aws_instance", "web", "create-web");
    let api = ctx(&fx.stack, "aws_instance", "api", "create-api");
    let web_inputs = fx.instance_inputs(&web, &[&fx.sg_a], "", &[]);
    let api_inputs = fx.instance_inputs(&api, &[&fx.sg_b], "#!/bin/sh\necho api\n", &[]);
    let web_made = instances
        .create(&web, &web_inputs)
        .await
        .expect("create web");
    let api_made = instances
        .create(&api, &api_inputs)
        .await
        .expect("create api");
    let batch = [
        ReadRequest {
            ctx: web.clone(),
            id: web_made.id.clone(),
            applied: web_inputs.clone(),
        },
        ReadRequest {
            ctx: api.clone(),
            id: api_made.id.clone(),
            applied: api_inputs.clone(),
        },
    ];
    assert!(instances.reads_in_batches());
    let alone = [
        instances
            .read(&web, &web_made.id, &web_inputs)
            .await
            .expect("read web"),
        instances
            .read(&api, &api_made.id, &api_inputs)
            .await
            .expect("read api"),
    ];
    assert!(alone.iter().all(|o| matches!(o, Observed::Present { .. })));
    let calls = fx.clients.calls.count();
    let together = instances.read_batch(&batch).await.expect("batch read");
    assert_eq!(together, alone);
    // One DescribeInstances, one DescribeVolumes, one DescribeIamInstanceProfileAssociations
    // for both, and the user data of each.
    assert_eq!(fx.clients.calls.count() - calls, 5);

    fx.clients
        .ec2
        .terminate_instances()
        .instance_ids(&web_made.id)
        .send()
        .await
        .expect("TerminateInstances");
    let together = instances.read_batch(&batch).await.expect("batch read");
    assert_eq!(together[0], Observed::Gone);
    assert_eq!(together[1], alone[1]);
    for (c, made, inputs) in [
        (&web, &web_made, &web_inputs),
        (&api, &api_made, &api_inputs),
    ] {
        instances
            .delete(
                c,
                Recorded {
                    id: &made.id,
                    inputs,
                    outputs: &made.outputs,
                },
            )
            .await
            .expect("delete");
    }
    fx.cleanup().await;
}

/// RunInstances is retried while the instance profile is not usable yet (IAM eventual
/// consistency): here the profile appears only after the first launch attempt failed.
#[tokio::test]
async fn launch_waits_for_a_new_instance_profile() {
    let fx = Fixture::new("ec2prof").await;
    let instances = provider(ec2_instance::providers(&fx.clients), "aws_instance");
    let profiles = provider(iam::providers(&fx.clients), "aws_iam_instance_profile");
    let notes = Arc::new(Notes::default());
    let mut ctx = ctx(&fx.stack, "aws_instance", "web", "create-1");
    ctx.progress = notes.clone();
    let late_name = format!("{}-late", fx.stack);
    let mut v1 = fx.instance_inputs(&ctx, &[&fx.sg_a], "", &[]);
    v1.insert("iam_instance_profile".into(), Value::str(&late_name));

    let profile_ctx = ctx_for(&fx.stack, "aws_iam_instance_profile", "late");
    let profile_inputs: Inputs = [
        ("name".to_string(), Value::str(&late_name)),
        ("role".to_string(), Value::str(&fx.role.id)),
        ("tags".to_string(), tags(&profile_ctx, &[])),
    ]
    .into_iter()
    .collect();
    let make_profile_later = async {
        // Simulates IAM propagation delay: the profile appears only once a launch attempt
        // has failed for want of it and the provider has said it is retrying (waiting for
        // that note, rather than a fixed time, keeps the test true on a loaded machine).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !notes.retried() {
            assert!(
                std::time::Instant::now() < deadline,
                "no retry within 60 s: {:?}",
                notes.all()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        profiles.create(&profile_ctx, &profile_inputs).await
    };
    let (launched, profile) = tokio::join!(instances.create(&ctx, &v1), make_profile_later);
    let profile = profile.expect("create late profile");
    let launched = launched.expect("launch retried until the profile existed");
    assert!(notes.retried(), "RunInstances was retried at least once");
    let (live, _) = present(instances.read(&ctx, &launched.id, &v1).await.expect("read"));
    assert_eq!(live["iam_instance_profile"], Value::str(&late_name));

    instances
        .delete(&ctx, launched.recorded(&v1))
        .await
        .expect("delete instance");
    profiles
        .delete(&profile_ctx, profile.recorded(&profile_inputs))
        .await
        .expect("delete profile");
    fx.cleanup().await;
}

/// Keeps every progress note, to check that a retry really happened.
#[derive(Default)]
struct Notes(Mutex<Vec<String>>);

impl Notes {
    fn all(&self) -> Vec<String> {
        self.0.lock().expect("notes lock").clone()
    }

    /// True once the provider reported a retry of the launch.
    fn retried(&self) -> bool {
        self.all()
            .iter()
            .any(|n| n.contains("launching the instance") && n.contains("retrying"))
    }
}

impl Progress for Notes {
    fn note(&self, _address: &Address, message: &str) {
        self.0.lock().expect("notes lock").push(message.to_string());
    }
}

fn ctx_for(stack: &str, kind: &str, name: &str) -> OpContext {
    ctx(stack, kind, name, name)
}

#[tokio::test]
async fn latest_al2023_ami_is_an_amazon_al2023_image() {
    let clients = clients().await;
    let ami = ec2_instance::latest_amazon_linux_2023(&clients)
        .await
        .expect("LocalStack ships AL2023 images");
    let image = clients
        .ec2
        .describe_images()
        .image_ids(&ami)
        .send()
        .await
        .expect("DescribeImages")
        .images
        .and_then(|i| i.into_iter().next())
        .expect("the image exists");
    let name = image.name().unwrap_or_default();
    assert!(
        name.starts_with("al2023-ami-2023.") && name.ends_with("-x86_64"),
        "{name}"
    );
    assert_eq!(image.image_owner_alias(), Some("amazon"));
}

/// A type and volume change with AWS's timing (through awssim): the instance takes its time
/// to stop (ModifyInstanceAttribute of the type is refused until it is stopped) and to
/// start, the volume modification is `modifying` before `optimizing`. The provider waits
/// for each (never trying the type change early), keeps the instance, and an update
/// repeated right after (as after a crash) asks for nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_and_volume_changes_wait_for_aws() {
    use common::awssim::{scenario_model, Realistic};
    let fx = Fixture::new("ec2timed").await;
    let mut model = scenario_model();
    model.latency.median_ms = 5.0;
    model.latency.p95_ms = 5.0;
    model.latency.action.clear();
    model.throttle.clear();
    // 1.5 s stopping, 0.8 s pending, 0.5 s modifying, 1 s optimizing.
    model.volume.modifying_s = 10.0;
    model.volume.optimizing_s = 20.0;
    let sim = Realistic::start(model, 0.05);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(sim.endpoint())
        .region(aws_config::Region::new(common::REGION))
        .credentials_provider(common::test_credentials())
        .load()
        .await;
    let through_sim = AwsClients::from_config(config);
    let instances = provider(ec2_instance::providers(&through_sim), "aws_instance");
    let notes = Arc::new(Notes::default());
    let mut ctx = ctx(&fx.stack, "aws_instance", "web", "create-1");
    ctx.progress = notes.clone();

    let v1 = fx.instance_inputs(&ctx, &[&fx.sg_a], "", &[]);
    let created = instances.create(&ctx, &v1).await.expect("create");
    let before = fx.describe(&created.id).await;
    let mut v2 = v1.clone();
    v2.insert("instance_type".into(), Value::str("t3.small"));
    v2.insert("root_volume_size".into(), Value::Int(16));
    instances
        .update(&ctx, created.change(&v1, &v2))
        .await
        .expect("update through awssim");

    let stats = sim.sim.stats();
    assert_eq!(stats.calls_of("ec2:StopInstances"), 1, "{stats:?}");
    assert_eq!(stats.calls_of("ec2:StartInstances"), 1, "{stats:?}");
    assert_eq!(stats.calls_of("ec2:ModifyVolume"), 1, "{stats:?}");
    assert!(
        stats.rewrites.contains_key("instance-stopping"),
        "the provider saw the instance stopping: {stats:?}"
    );
    assert!(
        stats.rewrites.contains_key("volume-modification-running"),
        "the provider saw the modification running: {stats:?}"
    );
    assert_eq!(
        stats.refusals.get("instance-not-stopped"),
        None,
        "never asked for the type before the instance was stopped: {stats:?}"
    );
    let said = notes.all();
    for step in [
        "growing root volume",
        "stopping instance",
        "starting instance",
    ] {
        assert!(
            said.iter().any(|n| n.starts_with(step)),
            "progress says `{step}`: {said:?}"
        );
    }

    // Straight from LocalStack: the same instance and volume, bigger.
    let after = fx.describe(&created.id).await;
    assert_eq!(after.instance_type().map(|t| t.as_str()), Some("t3.small"));
    assert_eq!(
        after.state().and_then(|s| s.name()).map(|n| n.as_str()),
        Some("running")
    );
    assert_eq!(after.private_ip_address(), before.private_ip_address());
    let volume_id = created.outputs["root_volume_id"].as_str().expect("volume");
    assert_eq!(fx.volume_size(volume_id).await, Some(16));

    // Repeated (the pending update of a crashed run): nothing asked again.
    instances
        .update(&ctx, created.change(&v1, &v2))
        .await
        .expect("repeated update");
    let again = sim.sim.stats();
    for action in [
        "StopInstances",
        "StartInstances",
        "ModifyVolume",
        "ModifyInstanceAttribute",
    ] {
        let name = format!("ec2:{action}");
        assert_eq!(again.calls_of(&name), stats.calls_of(&name), "{name}");
    }

    instances
        .delete(&ctx, created.recorded(&v2))
        .await
        .expect("delete");
    fx.cleanup().await;
}
