//! KMS key/alias and IAM role/instance-profile providers against LocalStack, through
//! nova's `ResourceProvider` trait with the real SDK: create, read, update in place,
//! replacement, out-of-band changes, crash-recovery adoption and delete.

mod common;

use common::conformance::Case;

use std::collections::BTreeMap;
use std::sync::Arc;

use nova::model::{Address, Inputs, Outputs, Value};
use nova::provider::aws::{iam, kms, tags_value, AwsClients};
use nova::provider::Recorded;
use nova::provider::{Observed, OpContext, ResourceProvider, SilentProgress};

async fn clients() -> AwsClients {
    AwsClients::from_config(common::sdk_config().await)
}

fn provider(providers: Vec<Arc<dyn ResourceProvider>>, kind: &str) -> Arc<dyn ResourceProvider> {
    providers
        .into_iter()
        .find(|p| p.schema().kind == kind)
        .unwrap_or_else(|| panic!("no provider for {kind}"))
}

fn ctx(stack: &str, kind: &str, name: &str) -> OpContext {
    OpContext {
        stack: stack.to_string(),
        address: Address::new(kind, name),
        client_token: format!("{stack}-{name}"),
        known_ids: Vec::new(),
        progress: Arc::new(SilentProgress),
    }
}

/// The tags the stack blueprint puts on every resource, plus `extra`.
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

fn inputs(fields: &[(&str, Value)]) -> Inputs {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// A key policy like the one nova builds: the account root administers the key. Spread
/// over lines on purpose: KMS may store it differently, which must not be drift.
fn key_policy(sid: &str) -> String {
    format!(
        r#"{{
  "Version": "2012-10-17",
  "Statement": [
    {{
      "Sid": "{sid}",
      "Effect": "Allow",
      "Principal": {{"AWS": "arn:aws:iam::{}:root"}},
      "Action": "kms:*",
      "Resource": "*"
    }}
  ]
}}"#,
        common::ACCOUNT_ID
    )
}

fn key_inputs(
    ctx: &OpContext,
    description: &str,
    rotation: bool,
    extra_tags: &[(&str, &str)],
) -> Inputs {
    inputs(&[
        ("description", Value::str(description)),
        ("policy", Value::String(key_policy("RootAdministers"))),
        ("enable_key_rotation", Value::Bool(rotation)),
        ("deletion_window_days", Value::Int(7)),
        ("tags", tags(ctx, extra_tags)),
    ])
}

#[tokio::test]
async fn kms_key_lifecycle() {
    let clients = clients().await;
    let keys = provider(kms::providers(&clients), "aws_kms_key");
    let stack = common::unique_stack("kmskey");
    let ctx = ctx(&stack, "aws_kms_key", "main");

    let v1 = key_inputs(&ctx, "nova test key", true, &[]);
    // In place: description, rotation off, tags changed; then a policy change.
    let v2 = key_inputs(&ctx, "nova test key v2", false, &[("Owner", "ops")]);
    let mut v3 = v2.clone();
    v3.insert(
        "policy".into(),
        Value::String(key_policy("RootAdministersV3")),
    );
    let case = Case {
        provider: keys.clone(),
        ctx: ctx.clone(),
        other: Some(ctx_for_other_address(&ctx, "aws_kms_key")),
        desired: v1.clone(),
        changes: vec![v2.clone(), v3.clone()],
    };

    // Create, then read back exactly what was applied; crash recovery finds it by its
    // ownership tags, and only for this address.
    let created = case.create().await;
    assert_eq!(created.outputs["id"], Value::str(&created.id));
    assert_eq!(created.outputs["key_id"], Value::str(&created.id));
    let arn = created.outputs["arn"].as_str().expect("arn").to_string();
    assert!(
        arn.starts_with("arn:aws:kms:") && arn.ends_with(&created.id),
        "{arn}"
    );
    let raw = clients
        .kms
        .get_key_rotation_status()
        .key_id(&created.id)
        .send()
        .await
        .expect("GetKeyRotationStatus");
    assert!(raw.key_rotation_enabled(), "rotation enabled on create");

    // The policy change is applied too (and read back as the new policy).
    case.update_each(&created).await;
    let (live_against_old, _) = present(keys.read(&ctx, &created.id, &v2).await.expect("read"));
    assert_ne!(
        live_against_old["policy"], v2["policy"],
        "a different live policy is drift"
    );

    // Out-of-band tag change shows as drift; updating to the same desired inputs undoes
    // it (updates diff against live).
    case.drift_and_restore(&created, &v3, async |created| {
        clients
            .kms
            .tag_resource()
            .key_id(&created.id)
            .tags(
                aws_sdk_kms::types::Tag::builder()
                    .tag_key("Owner")
                    .tag_value("someone-else")
                    .build()
                    .expect("tag"),
            )
            .send()
            .await
            .expect("TagResource");
        let (live, _) = present(keys.read(&ctx, &created.id, &v3).await.expect("read"));
        assert_ne!(live["tags"], v3["tags"]);
        assert_eq!(
            live["tags"].as_map().expect("map")["Owner"],
            Value::str("someone-else")
        );
    })
    .await;
    let found = keys
        .find_existing(&ctx, &v3)
        .await
        .expect("find")
        .expect("adopted");
    assert_eq!(found.outputs, created.outputs);

    // Delete schedules deletion: read says Gone, and a second delete is fine.
    assert_eq!(
        keys.delete_note(&v3).as_deref(),
        Some("scheduled for deletion in 7 days (KMS keys cannot be deleted at once)")
    );
    case.delete(&created, &v3).await;
    let state = clients
        .kms
        .describe_key()
        .key_id(&created.id)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("metadata");
    assert_eq!(
        state.key_state(),
        Some(&aws_sdk_kms::types::KeyState::PendingDeletion)
    );
    assert!(
        keys.find_existing(&ctx, &v3).await.expect("find").is_none(),
        "a key pending deletion is not adopted"
    );
}

fn ctx_for_other_address(ctx: &OpContext, kind: &str) -> OpContext {
    let mut other = ctx.clone();
    other.address = Address::new(kind, "other");
    other
}

#[tokio::test]
async fn kms_alias_lifecycle() {
    let clients = clients().await;
    let kms_providers = kms::providers(&clients);
    let keys = provider(kms_providers.clone(), "aws_kms_key");
    let aliases = provider(kms_providers, "aws_kms_alias");
    let stack = common::unique_stack("kmsalias");
    let key_a_ctx = ctx(&stack, "aws_kms_key", "a");
    let key_b_ctx = ctx(&stack, "aws_kms_key", "b");
    let key_a_inputs = key_inputs(&key_a_ctx, "alias test a", false, &[]);
    let key_b_inputs = key_inputs(&key_b_ctx, "alias test b", false, &[]);
    let key_a = keys.create(&key_a_ctx, &key_a_inputs).await.expect("key a");
    let key_b = keys.create(&key_b_ctx, &key_b_inputs).await.expect("key b");
    let ctx = ctx(&stack, "aws_kms_alias", "main");

    let name = format!("alias/{stack}");
    let v1 = inputs(&[
        ("name", Value::str(&name)),
        ("target_key_id", Value::str(&key_a.id)),
    ]);
    // Retarget in place, naming the key by ARN this time: the ARN input matches the live
    // key id, no drift.
    let v2 = inputs(&[
        ("name", Value::str(&name)),
        ("target_key_id", key_b.outputs["arn"].clone()),
    ]);
    let case = Case {
        provider: aliases.clone(),
        ctx: ctx.clone(),
        // No tags: an alias is found by its name (and target), whatever the address.
        other: None,
        desired: v1.clone(),
        changes: vec![v2.clone()],
    };
    let created = case.create().await;
    assert_eq!(created.id, name);
    assert_eq!(created.outputs["name"], Value::str(&name));
    assert_eq!(
        created.outputs["arn"],
        Value::String(format!(
            "arn:aws:kms:{}:{}:{name}",
            common::REGION,
            common::ACCOUNT_ID
        ))
    );
    case.update_each(&created).await;
    let (live, _) = present(aliases.read(&ctx, &name, &v1).await.expect("read"));
    let live_target = live["target_key_id"].as_str().expect("target");
    assert!(
        live_target.ends_with(&key_b.id),
        "drift against v1 shows key b: {live_target}"
    );

    // find_existing: the alias pointing at the desired key is adopted, not otherwise.
    let found = aliases.find_existing(&ctx, &v2).await.expect("find");
    assert_eq!(found.map(|c| c.id), Some(name.clone()));
    assert!(aliases
        .find_existing(&ctx, &v1)
        .await
        .expect("find")
        .is_none());

    // Replacement (name is force-new): create the new one, delete the old.
    assert!(aliases.schema().is_force_new("name"));
    let new_name = format!("alias/{stack}-2");
    let v3 = inputs(&[
        ("name", Value::str(&new_name)),
        ("target_key_id", Value::str(&key_b.id)),
    ]);
    aliases
        .delete(
            &ctx,
            Recorded {
                id: &name,
                inputs: &v2,
                outputs: &created.outputs,
            },
        )
        .await
        .expect("delete old");
    let replaced = aliases.create(&ctx, &v3).await.expect("create new");
    assert_ne!(replaced.id, created.id);
    assert_eq!(
        aliases.read(&ctx, &name, &v2).await.expect("read"),
        Observed::Gone
    );
    present(aliases.read(&ctx, &new_name, &v3).await.expect("read"));

    // Out-of-band delete is Gone; delete of something gone succeeds.
    clients
        .kms
        .delete_alias()
        .alias_name(&new_name)
        .send()
        .await
        .expect("DeleteAlias");
    assert_eq!(
        aliases.read(&ctx, &new_name, &v3).await.expect("read"),
        Observed::Gone
    );
    aliases
        .delete(
            &ctx,
            Recorded {
                id: &new_name,
                inputs: &v3,
                outputs: &replaced.outputs,
            },
        )
        .await
        .expect("delete of a gone alias");

    keys.delete(&key_a_ctx, key_a.recorded(&key_a_inputs))
        .await
        .expect("cleanup key a");
    keys.delete(&key_b_ctx, key_b.recorded(&key_b_inputs))
        .await
        .expect("cleanup key b");
}

fn trust_policy(service: &str) -> String {
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": {{"Service": "{service}"}}, "Action": "sts:AssumeRole"}}]}}"#
    )
}

fn inline_doc(action: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["{action}"],"Resource":"*"}}]}}"#
    )
}

const CW_AGENT: &str = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy";
const SSM_CORE: &str = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";

fn role_inputs(
    ctx: &OpContext,
    name: &str,
    managed: &[&str],
    inline: &[(&str, String)],
    description: &str,
    extra_tags: &[(&str, &str)],
) -> Inputs {
    inputs(&[
        ("name", Value::str(name)),
        (
            "assume_role_policy",
            Value::String(trust_policy("ec2.amazonaws.com")),
        ),
        (
            "managed_policy_arns",
            Value::list_of_strings(managed.iter().copied()),
        ),
        (
            "inline_policies",
            Value::Map(
                inline
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::str(v)))
                    .collect(),
            ),
        ),
        ("description", Value::str(description)),
        ("tags", tags(ctx, extra_tags)),
    ])
}

#[tokio::test]
async fn iam_role_lifecycle() {
    let clients = clients().await;
    let roles = provider(iam::providers(&clients), "aws_iam_role");
    let stack = common::unique_stack("iamrole");
    let ctx = ctx(&stack, "aws_iam_role", "web");
    let name = format!("{stack}-web");

    let v1 = role_inputs(
        &ctx,
        &name,
        &[CW_AGENT],
        &[("describe", inline_doc("ec2:DescribeInstances"))],
        "web role",
        &[],
    );
    // In place: swap the managed policy, change the inline one and add another, tags,
    // description.
    let v2 = role_inputs(
        &ctx,
        &name,
        &[SSM_CORE],
        &[
            ("describe", inline_doc("ec2:DescribeInstanceStatus")),
            ("metrics", inline_doc("cloudwatch:PutMetricData")),
        ],
        "web role v2",
        &[("Owner", "ops")],
    );
    let case = Case {
        provider: roles.clone(),
        ctx: ctx.clone(),
        other: Some(ctx_for_other_address(&ctx, "aws_iam_role")),
        desired: v1.clone(),
        changes: vec![v2.clone()],
    };
    // A fresh role reads back as applied (no drift); adopted for its address only.
    let created = case.create().await;
    assert_eq!(created.id, name);
    assert_eq!(
        created.outputs["arn"],
        Value::String(format!("arn:aws:iam::{}:role/{name}", common::ACCOUNT_ID))
    );
    assert!(created.outputs["unique_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    case.update_each(&created).await;
    let attached = clients
        .iam
        .list_attached_role_policies()
        .role_name(&name)
        .send()
        .await
        .expect("ListAttachedRolePolicies");
    let arns: Vec<_> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .collect();
    assert_eq!(arns, [SSM_CORE]);

    // Out-of-band: a tag changed and an inline policy removed show as drift; an update
    // undoes it.
    case.drift_and_restore(&created, &v2, async |_| {
        clients
            .iam
            .tag_role()
            .role_name(&name)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("Owner")
                    .value("intruder")
                    .build()
                    .expect("tag"),
            )
            .send()
            .await
            .expect("TagRole");
        clients
            .iam
            .delete_role_policy()
            .role_name(&name)
            .policy_name("metrics")
            .send()
            .await
            .expect("DeleteRolePolicy");
        let (live, _) = present(roles.read(&ctx, &name, &v2).await.expect("read"));
        assert_eq!(
            live["tags"].as_map().expect("map")["Owner"],
            Value::str("intruder")
        );
        assert!(!live["inline_policies"]
            .as_map()
            .expect("map")
            .contains_key("metrics"));
    })
    .await;

    // Adoption: only with this stack's and address's ownership tags.
    case.assert_found(&created).await;
    let mut foreign = ctx.clone();
    foreign.stack = format!("{stack}-other");
    assert!(roles
        .find_existing(&foreign, &v2)
        .await
        .expect("find")
        .is_none());

    // Replacement (name is force-new; create-before-destroy, which the planner turns into
    // delete-first only when the new name is the old one's): here delete old, create new.
    assert!(roles.schema().is_force_new("name"));
    assert!(roles.schema().create_before_destroy);
    let new_name = format!("{stack}-web2");
    let v3 = role_inputs(&ctx, &new_name, &[CW_AGENT], &[], "web role v3", &[]);
    roles
        .delete(
            &ctx,
            Recorded {
                id: &name,
                inputs: &v2,
                outputs: &created.outputs,
            },
        )
        .await
        .expect("delete old role");
    let replaced = roles.create(&ctx, &v3).await.expect("create new role");
    assert_ne!(replaced.id, created.id);
    assert_eq!(
        roles.read(&ctx, &name, &v2).await.expect("read"),
        Observed::Gone
    );
    let (live, _) = present(roles.read(&ctx, &new_name, &v3).await.expect("read"));
    assert_eq!(live, v3);

    // Delete (with an attached policy) and read Gone; delete again is fine.
    case.delete(&replaced, &v3).await;
}

#[tokio::test]
async fn iam_role_deleted_out_of_band_is_gone() {
    let clients = clients().await;
    let roles = provider(iam::providers(&clients), "aws_iam_role");
    let stack = common::unique_stack("iamgone");
    let ctx = ctx(&stack, "aws_iam_role", "web");
    let name = format!("{stack}-web");
    let v1 = role_inputs(&ctx, &name, &[], &[], "", &[]);
    roles.create(&ctx, &v1).await.expect("create");
    clients
        .iam
        .delete_role()
        .role_name(&name)
        .send()
        .await
        .expect("DeleteRole");
    assert_eq!(
        roles.read(&ctx, &name, &v1).await.expect("read"),
        Observed::Gone
    );
    assert!(roles
        .find_existing(&ctx, &v1)
        .await
        .expect("find")
        .is_none());
}

#[tokio::test]
async fn iam_instance_profile_lifecycle() {
    let clients = clients().await;
    let iam_providers = iam::providers(&clients);
    let roles = provider(iam_providers.clone(), "aws_iam_role");
    let profiles = provider(iam_providers, "aws_iam_instance_profile");
    let stack = common::unique_stack("iamprof");
    let role_a_ctx = ctx(&stack, "aws_iam_role", "a");
    let role_b_ctx = ctx(&stack, "aws_iam_role", "b");
    let role_a_inputs = role_inputs(&role_a_ctx, &format!("{stack}-a"), &[], &[], "a", &[]);
    let role_b_inputs = role_inputs(&role_b_ctx, &format!("{stack}-b"), &[], &[], "b", &[]);
    let role_a = roles
        .create(&role_a_ctx, &role_a_inputs)
        .await
        .expect("role a");
    let role_b = roles
        .create(&role_b_ctx, &role_b_inputs)
        .await
        .expect("role b");
    let ctx = ctx(&stack, "aws_iam_instance_profile", "web");

    let name = format!("{stack}-web");
    let v1 = inputs(&[
        ("name", Value::str(&name)),
        ("role", Value::str(&role_a.id)),
        ("tags", tags(&ctx, &[])),
    ]);
    // In place: change role and tags.
    let v2 = inputs(&[
        ("name", Value::str(&name)),
        ("role", Value::str(&role_b.id)),
        ("tags", tags(&ctx, &[("Owner", "ops")])),
    ]);
    let case = Case {
        provider: profiles.clone(),
        ctx: ctx.clone(),
        other: Some(ctx_for_other_address(&ctx, "aws_iam_instance_profile")),
        desired: v1.clone(),
        changes: vec![v2.clone()],
    };
    let created = case.create().await;
    assert_eq!(created.id, name);
    assert_eq!(
        created.outputs["arn"],
        Value::String(format!(
            "arn:aws:iam::{}:instance-profile/{name}",
            common::ACCOUNT_ID
        ))
    );
    case.update_each(&created).await;

    // A tag removed by hand is drift; an update restores it.
    case.drift_and_restore(&created, &v2, async |_| {
        clients
            .iam
            .untag_instance_profile()
            .instance_profile_name(&name)
            .tag_keys("Owner")
            .send()
            .await
            .expect("UntagInstanceProfile");
    })
    .await;

    // Adoption by ownership tags.
    case.assert_found(&created).await;
    let mut foreign = ctx.clone();
    foreign.stack = format!("{stack}-other");
    assert!(profiles
        .find_existing(&foreign, &v2)
        .await
        .expect("find")
        .is_none());

    // Replacement: new name.
    let new_name = format!("{stack}-web2");
    let v3 = inputs(&[
        ("name", Value::str(&new_name)),
        ("role", Value::str(&role_b.id)),
        ("tags", tags(&ctx, &[])),
    ]);
    profiles
        .delete(
            &ctx,
            Recorded {
                id: &name,
                inputs: &v2,
                outputs: &created.outputs,
            },
        )
        .await
        .expect("delete old profile");
    let replaced = profiles
        .create(&ctx, &v3)
        .await
        .expect("create new profile");
    assert_ne!(replaced.id, created.id);
    assert_eq!(
        profiles.read(&ctx, &name, &v2).await.expect("read"),
        Observed::Gone
    );
    present(profiles.read(&ctx, &new_name, &v3).await.expect("read"));

    // Deleting a role that is in a profile removes it from the profile first.
    roles
        .delete(&role_b_ctx, role_b.recorded(&role_b_inputs))
        .await
        .expect("delete role b while in a profile");
    let (live, _) = present(profiles.read(&ctx, &new_name, &v3).await.expect("read"));
    assert_eq!(
        live["role"],
        Value::str(""),
        "the profile lost its role: drift"
    );

    // Out-of-band delete is Gone; delete of a gone profile succeeds.
    clients
        .iam
        .delete_instance_profile()
        .instance_profile_name(&new_name)
        .send()
        .await
        .expect("DeleteInstanceProfile");
    assert_eq!(
        profiles.read(&ctx, &new_name, &v3).await.expect("read"),
        Observed::Gone
    );
    profiles
        .delete(
            &ctx,
            Recorded {
                id: &new_name,
                inputs: &v3,
                outputs: &replaced.outputs,
            },
        )
        .await
        .expect("delete of a gone profile");

    roles
        .delete(&role_a_ctx, role_a.recorded(&role_a_inputs))
        .await
        .expect("cleanup role a");
}
