//! Every `Nova.toml` key changed on a deployed stack in LocalStack, with the real `nova`
//! binary: each step changes one key (the settings are `NOVA_*` variables on top of the
//! repository's Nova.toml), asserts that `nova plan --json` does exactly what docs/stack.md's
//! row for that change says (which addresses, which action; `tests/config_keys.rs` renders
//! those rows from plans), applies it, checks the result with raw SDK reads straight from
//! LocalStack, and asserts the next plan is empty. A refused change exits 1 with the
//! documented reason and changes nothing.
//!
//! One deployment serves a sequence of steps (compute, network, settings, and a stack
//! made with the packed subnet layout of earlier nova versions): each step starts where
//! the one before ended, so a row whose starting point is "the default stack" is checked
//! from a stack that differs from it only in keys the row does not touch. LocalStack
//! makes instances stop, start and grow their volumes at once; the timing AWS takes is
//! tested through awssim in `aws_ec2_instance.rs`.
//!
//! The four sequences run at once, in one test (the API Gateway account setting is one
//! role shared by every stack, so no stack's plan sees another's as drift).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use aws_sdk_ec2::types::Filter;
use common::keys::{self, KeyChange, CHANGES};
use common::nova::Stack;
use serde_json::Value as Json;

/// The raw SDK clients the checks read with (straight from LocalStack).
struct Aws {
    ec2: aws_sdk_ec2::Client,
    lambda: aws_sdk_lambda::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    events: aws_sdk_eventbridge::Client,
    kms: aws_sdk_kms::Client,
}

impl Aws {
    async fn new() -> Aws {
        let config = common::sdk_config().await;
        Aws {
            ec2: aws_sdk_ec2::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
            kms: aws_sdk_kms::Client::new(&config),
        }
    }

    fn stack_filter(stack: &str) -> Filter {
        Filter::builder()
            .name("tag:nova:stack")
            .values(stack)
            .build()
    }

    /// The stack's live instances: id -> (type, image, subnet, private IP).
    async fn instances(&self, stack: &str) -> BTreeMap<String, [String; 4]> {
        let out = self
            .ec2
            .describe_instances()
            .filters(Aws::stack_filter(stack))
            .send()
            .await
            .expect("DescribeInstances");
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| {
                !matches!(
                    i.state().and_then(|s| s.name()).map(|n| n.as_str()),
                    Some("terminated" | "shutting-down")
                )
            })
            .map(|i| {
                let s = |v: Option<&str>| v.unwrap_or_default().to_string();
                (
                    s(i.instance_id()),
                    [
                        s(i.instance_type().map(|t| t.as_str())),
                        s(i.image_id()),
                        s(i.subnet_id()),
                        s(i.private_ip_address()),
                    ],
                )
            })
            .collect()
    }

    /// The stack's root volumes' sizes, by volume id.
    async fn volume_sizes(&self, stack: &str) -> BTreeMap<String, i32> {
        let out = self
            .ec2
            .describe_volumes()
            .filters(Aws::stack_filter(stack))
            .send()
            .await
            .expect("DescribeVolumes");
        out.volumes()
            .iter()
            .filter(|v| v.state().map(|s| s.as_str()) != Some("deleting"))
            .map(|v| {
                (
                    v.volume_id().unwrap_or_default().to_string(),
                    v.size().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The stack's subnets: CIDR -> (id, zone).
    async fn subnets(&self, stack: &str) -> BTreeMap<String, (String, String)> {
        let out = self
            .ec2
            .describe_subnets()
            .filters(Aws::stack_filter(stack))
            .send()
            .await
            .expect("DescribeSubnets");
        out.subnets()
            .iter()
            .map(|s| {
                (
                    s.cidr_block().unwrap_or_default().to_string(),
                    (
                        s.subnet_id().unwrap_or_default().to_string(),
                        s.availability_zone().unwrap_or_default().to_string(),
                    ),
                )
            })
            .collect()
    }

    /// The stack's NAT gateways that are not deleted, by id.
    async fn nat_gateways(&self, stack: &str) -> BTreeSet<String> {
        let out = self
            .ec2
            .describe_nat_gateways()
            .send()
            .await
            .expect("DescribeNatGateways");
        // LocalStack ignores tag filters on NAT gateways: filter here.
        out.nat_gateways()
            .iter()
            .filter(|n| {
                n.tags()
                    .iter()
                    .any(|t| t.key() == Some("nova:stack") && t.value() == Some(stack))
            })
            .filter(|n| !matches!(n.state().map(|s| s.as_str()), Some("deleted" | "deleting")))
            .filter_map(|n| n.nat_gateway_id().map(str::to_string))
            .collect()
    }

    /// The function's memory, timeout, subnets and environment.
    async fn function(&self, name: &str) -> (i32, i32, BTreeSet<String>, BTreeMap<String, String>) {
        let f = self
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .expect("GetFunctionConfiguration");
        let subnets = f
            .vpc_config()
            .map(|v| v.subnet_ids().iter().cloned().collect())
            .unwrap_or_default();
        let env = f
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        (
            f.memory_size().unwrap_or_default(),
            f.timeout().unwrap_or_default(),
            subnets,
            env,
        )
    }

    async fn function_exists(&self, name: &str) -> bool {
        self.lambda
            .get_function()
            .function_name(name)
            .send()
            .await
            .is_ok()
    }

    /// A tag of the stack's VPC.
    async fn vpc_tag(&self, stack: &str, key: &str) -> Option<String> {
        let out = self
            .ec2
            .describe_vpcs()
            .filters(Aws::stack_filter(stack))
            .send()
            .await
            .expect("DescribeVpcs");
        out.vpcs()
            .first()?
            .tags()
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
            .map(str::to_string)
    }

    /// The CIDR blocks of the stack's live VPCs.
    async fn vpc_cidrs(&self, stack: &str) -> Vec<String> {
        let out = self
            .ec2
            .describe_vpcs()
            .filters(Aws::stack_filter(stack))
            .send()
            .await
            .expect("DescribeVpcs");
        out.vpcs()
            .iter()
            .filter_map(|v| v.cidr_block().map(str::to_string))
            .collect()
    }
}

/// The rows the sequences have checked (every row of the table must be).
static CHECKED: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());

/// The table row for `key` and `shown`.
fn change(key: &str, shown: &str) -> &'static KeyChange {
    CHANGES
        .iter()
        .find(|c| c.key == key && c.shown == shown)
        .unwrap_or_else(|| panic!("no change {key} {shown} in common::keys"))
}

/// Marks `change`'s row checked.
fn checked(change: &KeyChange) {
    CHECKED.lock().unwrap().insert(change.id());
}

/// One deployed stack and the settings it was last applied with.
struct Session {
    stack: Stack,
    env: Vec<(String, String)>,
}

impl Session {
    fn new(prefix: &str) -> Session {
        Session {
            stack: Stack::new(prefix),
            env: Vec::new(),
        }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn up(&self) {
        self.stack.up_env(&self.env());
        self.stack.assert_plan_clean_with(&self.env());
    }

    /// `settings` become the stack's; the plan must be exactly `change`'s documented row;
    /// it is applied and the next plan is empty. Returns the plan.
    fn step(&mut self, change: &KeyChange, settings: &[(&str, &str)]) -> Json {
        self.step_as(change, settings, None)
    }

    /// [`Session::step`] of a change that renames the project to `project` (known to the
    /// stack once planned, so its own API Gateway role is told from another stack's).
    fn step_as(
        &mut self,
        change: &KeyChange,
        settings: &[(&str, &str)],
        project: Option<&str>,
    ) -> Json {
        self.env = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let what = format!("{} {}", change.key, change.shown);
        let saved = tempfile::NamedTempFile::new().expect("a plan file");
        let saved = saved.path().display().to_string();
        let plan = self
            .stack
            .run_env(&self.env(), &["plan", "--json", "--out", &saved])
            .expect_code(0)
            .json();
        let planned = keys::effect_of(&plan);
        assert_eq!(planned, keys::documented(change), "plan of {what}");
        checked(change);
        if let Some(project) = project {
            self.stack.project = project.to_string();
        }
        // Exactly the plan checked above is applied.
        let started = std::time::Instant::now();
        self.stack
            .run_env(&self.env(), &["up", &saved, "--yes"])
            .expect_code(0);
        self.stack.assert_plan_clean_with(&self.env());
        eprintln!(
            "step {what}: plan as documented, applied in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        plan
    }

    /// `settings` are refused at plan time with `change`'s documented reason.
    fn refused(&self, change: &KeyChange, settings: &[(&str, &str)]) {
        let run = self.stack.run_env(settings, &["plan"]).expect_code(1);
        let reason = keys::documented(change).refused;
        assert!(
            !reason.is_empty(),
            "{} {} is documented as refused",
            change.key,
            change.shown
        );
        assert!(
            run.stderr.contains(&reason),
            "{} {}: stderr says {:?}, the docs {reason:?}",
            change.key,
            change.shown,
            run.stderr
        );
        checked(change);
    }
}

fn out_list(outputs: &Json, name: &str) -> Vec<String> {
    outputs[name]
        .as_array()
        .unwrap_or_else(|| panic!("output {name}: {}", outputs[name]))
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

/// Instance type and root volume size in place, the volume never smaller, instances
/// added and removed, a new AMI, and a new project name.
async fn compute_keys(aws: &Aws) {
    let mut s = Session::new("keys-cpu");
    let name = s.stack.name.clone();
    s.up();
    let first = aws.instances(&name).await;
    let volumes = aws.volume_sizes(&name).await;
    assert_eq!((first.len(), volumes.len()), (2, 2));

    let small = ("NOVA_INSTANCE_TYPE", "t3.small");
    let plan = s.step(change("instance_type", "`t3.micro` → `t3.small`"), &[small]);
    for c in plan["changes"].as_array().unwrap() {
        if c["kind"] == "aws_instance" {
            assert!(
                c["reasons"]
                    .to_string()
                    .contains("will be stopped and started"),
                "the plan says the instance is stopped and started: {c}"
            );
        }
    }
    let now = aws.instances(&name).await;
    assert_eq!(
        now.keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>(),
        "same instances"
    );
    for (id, [kind, image, subnet, ip]) in &now {
        let [_, image0, subnet0, ip0] = &first[id];
        assert_eq!(kind, "t3.small", "{id}");
        assert_eq!(
            (image, subnet, ip),
            (image0, subnet0, ip0),
            "{id} kept the rest"
        );
    }
    assert_eq!(aws.volume_sizes(&name).await, volumes, "same volumes");

    let big = ("NOVA_ROOT_VOLUME_SIZE", "16");
    s.step(change("root_volume_size", "8 → 16"), &[small, big]);
    let grown = aws.volume_sizes(&name).await;
    assert_eq!(
        grown.keys().collect::<Vec<_>>(),
        volumes.keys().collect::<Vec<_>>()
    );
    assert!(grown.values().all(|size| *size == 16), "{grown:?}");
    assert_eq!(aws.instances(&name).await.len(), 2);

    s.refused(change("root_volume_size", "16 → 8"), &[small]);
    assert_eq!(aws.volume_sizes(&name).await, grown, "nothing changed");

    let three = ("NOVA_INSTANCE_COUNT", "3");
    s.step(change("instance_count", "2 → 3"), &[small, big, three]);
    let more = aws.instances(&name).await;
    assert_eq!(more.len(), 3);
    assert!(
        first.keys().all(|id| more.contains_key(id)),
        "the first two stay"
    );
    s.step(change("instance_count", "3 → 2"), &[small, big]);
    assert_eq!(
        aws.instances(&name).await.keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>()
    );

    // Another Amazon Linux image (LocalStack has two): new instances from it.
    let recorded = first.values().next().unwrap()[1].clone();
    let images = aws
        .ec2
        .describe_images()
        .owners("amazon")
        .filters(
            Filter::builder()
                .name("name")
                .values("al2023-ami-2023.*-x86_64")
                .build(),
        )
        .send()
        .await
        .expect("DescribeImages");
    let other = images
        .images()
        .iter()
        .filter_map(|i| i.image_id())
        .find(|id| *id != recorded)
        .expect("a second AL2023 image")
        .to_string();
    s.step(
        change("ami", "the recorded image → another"),
        &[small, big, ("NOVA_AMI", &other)],
    );
    let rebuilt = aws.instances(&name).await;
    assert_eq!(rebuilt.len(), 2);
    assert!(
        rebuilt.keys().all(|id| !first.contains_key(id)),
        "new instances"
    );
    assert!(rebuilt
        .values()
        .all(|i| i[1] == other && i[0] == "t3.small"));

    // A new project: everything named after it is made again under the new name.
    let project = change("project", "`nova` → `novb`");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("Nova.toml");
    std::fs::write(&config, project.config_text()).unwrap();
    let config = config.display().to_string();
    s.step_as(
        project,
        &[small, big, ("NOVA_AMI", &other), ("NOVA_CONFIG", &config)],
        Some("novb"),
    );
    assert!(aws.function_exists(&format!("novb-{name}-health")).await);
    assert!(!aws.function_exists(&format!("nova-{name}-health")).await);
    assert_eq!(aws.vpc_tag(&name, "Project").await.as_deref(), Some("novb"));
    assert_eq!(aws.instances(&name).await.len(), 2);
    s.stack.destroy();
}

/// Zones added and removed (only the last zone's subnets, routes, NAT gateway in
/// `per_az`), the NAT mode, a moved zone (refused, then with new CIDRs), explicit CIDRs.
async fn network_keys(aws: &Aws) {
    let mut s = Session::new("keys-net");
    let name = s.stack.name.clone();
    s.up();
    let two = aws.subnets(&name).await;
    let zone_blocks: Vec<&str> = vec![
        "10.0.0.0/24",
        "10.0.1.0/24",
        "10.0.128.0/24",
        "10.0.129.0/24",
    ];
    assert_eq!(
        two.keys().map(String::as_str).collect::<Vec<_>>(),
        zone_blocks
    );
    let instances = aws.instances(&name).await;
    let function = format!("nova-{name}-health");

    let az3 = ("NOVA_AZ_COUNT", "3");
    s.step(change("az_count", "2 → 3"), &[az3]);
    let three = aws.subnets(&name).await;
    for (cidr, subnet) in &two {
        assert_eq!(three.get(cidr), Some(subnet), "{cidr} kept");
    }
    assert_eq!(three["10.0.2.0/24"].1, "us-east-1c");
    assert_eq!(three["10.0.130.0/24"].1, "us-east-1c");
    assert_eq!(three.len(), 6);
    assert_eq!(aws.instances(&name).await, instances, "instances untouched");
    let private: BTreeSet<String> = ["10.0.128.0/24", "10.0.129.0/24", "10.0.130.0/24"]
        .iter()
        .map(|c| three[*c].0.clone())
        .collect();
    assert_eq!(
        aws.function(&function).await.2,
        private,
        "Lambda in 3 zones"
    );

    s.step(change("az_count", "3 → 2"), &[]);
    assert_eq!(aws.subnets(&name).await, two, "back to the first two zones");
    assert_eq!(aws.instances(&name).await, instances);
    assert_eq!(aws.nat_gateways(&name).await.len(), 1);

    let per_az = ("NOVA_NAT", "per_az");
    s.step(change("nat", "`single` → `per_az`"), &[per_az]);
    assert_eq!(aws.nat_gateways(&name).await.len(), 2);
    s.step(
        change("az_count", "2 → 3 with `nat = \"per_az\"`"),
        &[per_az, az3],
    );
    assert_eq!(aws.nat_gateways(&name).await.len(), 3);
    assert_eq!(aws.subnets(&name).await.len(), 6);
    s.step(
        change("az_count", "3 → 2 with `nat = \"per_az\"`"),
        &[per_az],
    );
    assert_eq!(aws.nat_gateways(&name).await.len(), 2);
    assert_eq!(aws.subnets(&name).await, two);
    s.step(change("nat", "`per_az` → `single`"), &[]);
    let nat = aws.nat_gateways(&name).await;
    assert_eq!(nat.len(), 1);
    assert_eq!(
        out_list(&s.stack.outputs(), "nat_gateway_ids"),
        nat.into_iter().collect::<Vec<_>>()
    );
    assert_eq!(
        aws.instances(&name).await,
        instances,
        "instances untouched throughout"
    );

    let moved = ("NOVA_AVAILABILITY_ZONES", "us-east-1a,us-east-1c");
    s.refused(
        change(
            "availability_zones",
            "`us-east-1a, us-east-1b` → `us-east-1a, us-east-1c`",
        ),
        &[moved],
    );
    assert_eq!(aws.subnets(&name).await, two, "nothing changed");
    let public = ("NOVA_PUBLIC_SUBNET_CIDRS", "10.0.0.0/24,10.0.11.0/24");
    let private = ("NOVA_PRIVATE_SUBNET_CIDRS", "10.0.128.0/24,10.0.139.0/24");
    s.step(
        change(
            "availability_zones",
            "the same, with new CIDRs for the moved zone",
        ),
        &[moved, public, private],
    );
    let now = aws.subnets(&name).await;
    assert_eq!(now["10.0.0.0/24"], two["10.0.0.0/24"], "zone 0 kept");
    assert_eq!(now["10.0.128.0/24"], two["10.0.128.0/24"], "zone 0 kept");
    assert_eq!(now["10.0.11.0/24"].1, "us-east-1c");
    assert_eq!(now["10.0.139.0/24"].1, "us-east-1c");
    assert_eq!(now.len(), 4, "the old zone's subnets are gone: {now:?}");
    let after = aws.instances(&name).await;
    let kept: Vec<&String> = after
        .keys()
        .filter(|id| instances.contains_key(*id))
        .collect();
    assert_eq!(kept.len(), 1, "web[0] stays, web[1] moved: {after:?}");
    assert!(after.values().any(|i| i[2] == now["10.0.139.0/24"].0));

    let public = ("NOVA_PUBLIC_SUBNET_CIDRS", "10.0.0.0/24,10.0.10.0/24");
    s.step(
        change(
            "public_subnet_cidrs",
            "zone blocks → `10.0.0.0/24, 10.0.10.0/24`",
        ),
        &[moved, public, private],
    );
    assert!(aws.subnets(&name).await.contains_key("10.0.10.0/24"));
    let private = ("NOVA_PRIVATE_SUBNET_CIDRS", "10.0.128.0/24,10.0.140.0/24");
    s.step(
        change(
            "private_subnet_cidrs",
            "zone blocks → `10.0.128.0/24, 10.0.140.0/24`",
        ),
        &[moved, public, private],
    );
    let last = aws.subnets(&name).await;
    assert_eq!(
        last.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "10.0.0.0/24",
            "10.0.10.0/24",
            "10.0.128.0/24",
            "10.0.140.0/24"
        ]
    );
    let in_zones: BTreeSet<String> = ["10.0.128.0/24", "10.0.140.0/24"]
        .iter()
        .map(|c| last[*c].0.clone())
        .collect();
    assert_eq!(aws.function(&function).await.2, in_zones);
    s.stack.destroy();
}

/// Tags, ingress, retention, the key's deletion window, the schedule, the function's
/// memory and timeout in place; another region refused; a new VPC range rebuilds the
/// network.
async fn settings_keys(aws: &Aws) {
    let mut s = Session::new("keys-set");
    let name = s.stack.name.clone();
    let prefix = format!("nova-{name}");
    s.up();
    let mut env: Vec<(&str, &str)> = Vec::new();

    env.push(("NOVA_ENVIRONMENT", "Staging"));
    s.step(change("environment", "`Production` → `Staging`"), &env);
    assert_eq!(
        aws.vpc_tag(&name, "Environment").await.as_deref(),
        Some("Staging")
    );
    let function = format!("{prefix}-health");
    assert_eq!(
        aws.function(&function).await.3["NOVA_ENVIRONMENT"],
        "Staging"
    );

    env.push(("NOVA_WEB_INGRESS_CIDRS", "203.0.113.0/24"));
    s.step(
        change("web_ingress_cidrs", "`0.0.0.0/0` → `203.0.113.0/24`"),
        &env,
    );
    let sg = aws
        .ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("group-name")
                .values(format!("{prefix}-web"))
                .build(),
        )
        .send()
        .await
        .expect("DescribeSecurityGroups");
    let sources: BTreeSet<&str> = sg.security_groups()[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| p.ip_ranges())
        .filter_map(|r| r.cidr_ip())
        .collect();
    assert_eq!(sources, ["203.0.113.0/24"].into());

    env.push(("NOVA_LOG_RETENTION_DAYS", "30"));
    s.step(change("log_retention_days", "90 → 30"), &env);
    let groups = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/lambda/{prefix}"))
        .send()
        .await
        .expect("DescribeLogGroups");
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(30));

    env.push(("NOVA_KMS_DELETION_WINDOW_DAYS", "14"));
    s.step(change("kms_deletion_window_days", "7 → 14"), &env);
    let key_arn = s.stack.outputs()["kms_key_arn"]
        .as_str()
        .unwrap()
        .to_string();

    env.push(("NOVA_HEALTH_SCHEDULE", "cron(0/5 * * * ? *)"));
    s.step(
        change(
            "health_schedule",
            "`rate(5 minutes)` → `cron(0/5 * * * ? *)`",
        ),
        &env,
    );
    let rule = aws
        .events
        .describe_rule()
        .name(format!("{prefix}-health-schedule"))
        .send()
        .await
        .expect("DescribeRule");
    assert_eq!(rule.schedule_expression(), Some("cron(0/5 * * * ? *)"));

    env.push(("NOVA_LAMBDA_MEMORY_MB", "256"));
    s.step(change("lambda_memory_mb", "128 → 256"), &env);
    assert_eq!(aws.function(&function).await.0, 256);
    env.push(("NOVA_LAMBDA_TIMEOUT_SECONDS", "60"));
    s.step(change("lambda_timeout_seconds", "30 → 60"), &env);
    assert_eq!(aws.function(&function).await.1, 60);

    let mut west = env.clone();
    west.push(("NOVA_REGION", "us-west-2"));
    s.refused(change("region", "`us-east-1` → `us-west-2`"), &west);

    let instances = aws.instances(&name).await;
    env.push(("NOVA_VPC_CIDR", "10.1.0.0/16"));
    s.step(change("vpc_cidr", "`10.0.0.0/16` → `10.1.0.0/16`"), &env);
    assert_eq!(
        aws.vpc_cidrs(&name).await,
        ["10.1.0.0/16"],
        "the old VPC is gone"
    );
    let subnets = aws.subnets(&name).await;
    assert_eq!(
        subnets.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "10.1.0.0/24",
            "10.1.1.0/24",
            "10.1.128.0/24",
            "10.1.129.0/24"
        ]
    );
    let now = aws.instances(&name).await;
    assert!(
        now.keys().all(|id| !instances.contains_key(id)),
        "new instances"
    );
    let in_vpc: BTreeSet<String> = subnets.values().map(|(id, _)| id.clone()).collect();
    assert!(now.values().all(|i| in_vpc.contains(&i[2])));
    assert!(aws.function(&function).await.2.is_subset(&in_vpc));

    // The window applies when the key is deleted.
    s.stack.destroy();
    let key = aws
        .kms
        .describe_key()
        .key_id(&key_arn)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("metadata");
    let deletion = key.deletion_date().expect("scheduled for deletion").secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let days = (deletion - now) as f64 / 86_400.0;
    assert!(
        (13.9..=14.1).contains(&days),
        "deleted in {days} days: {key:?}"
    );
}

/// A stack deployed with the packed layout of earlier nova versions (public subnets at
/// 10.0.0-1, private at 10.0.2-3) keeps its CIDRs after the upgrade (nothing to do), and a
/// third zone only adds, past the old blocks.
async fn a_packed_stack_keeps_its_subnets(aws: &Aws) {
    let mut s = Session::new("keys-old");
    let name = s.stack.name.clone();
    // What nova made before the zone blocks, down to the CIDRs.
    s.env = vec![
        (
            "NOVA_PUBLIC_SUBNET_CIDRS".into(),
            "10.0.0.0/24,10.0.1.0/24".into(),
        ),
        (
            "NOVA_PRIVATE_SUBNET_CIDRS".into(),
            "10.0.2.0/24,10.0.3.0/24".into(),
        ),
    ];
    s.up();
    let before = aws.subnets(&name).await;
    // Without explicit CIDRs, nova recognises the layout: nothing to do.
    s.env.clear();
    s.stack.assert_plan_clean();
    let plan = s.stack.plan_json(&[("NOVA_AZ_COUNT", "3")]);
    let effect = keys::effect_of(&plan);
    assert_eq!(
        effect,
        keys::documented(change("az_count", "2 → 3")),
        "only adds"
    );
    let subnet_cidrs: BTreeSet<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "create" && c["kind"] == "aws_subnet")
        .filter_map(|c| c["after"]["cidr_block"].as_str())
        .collect();
    assert_eq!(subnet_cidrs, ["10.0.4.0/24", "10.0.5.0/24"].into());
    s.env = vec![("NOVA_AZ_COUNT".into(), "3".into())];
    s.up();
    let after = aws.subnets(&name).await;
    for (cidr, subnet) in &before {
        assert_eq!(after.get(cidr), Some(subnet), "{cidr} kept");
    }
    assert_eq!(after.len(), 6);
    s.stack.destroy();
}

#[test]
fn every_key_changes_as_documented() {
    let sequences = ["compute", "network", "settings", "packed"];
    let failed: Vec<&str> = std::thread::scope(|scope| {
        let running: Vec<_> = sequences
            .iter()
            .map(|name| {
                let thread = scope.spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime");
                    runtime.block_on(async {
                        let aws = Aws::new().await;
                        match *name {
                            "compute" => compute_keys(&aws).await,
                            "network" => network_keys(&aws).await,
                            "settings" => settings_keys(&aws).await,
                            _ => a_packed_stack_keeps_its_subnets(&aws).await,
                        }
                    })
                });
                (*name, thread)
            })
            .collect();
        running
            .into_iter()
            .filter_map(|(name, thread)| thread.join().is_err().then_some(name))
            .collect()
    });
    assert!(
        failed.is_empty(),
        "sequences {failed:?} failed (their panics are above)"
    );
    let every: BTreeSet<(String, String)> = CHANGES.iter().map(KeyChange::id).collect();
    let checked = CHECKED.lock().unwrap().clone();
    let missed: Vec<_> = every.difference(&checked).collect();
    assert!(missed.is_empty(), "rows no sequence checked: {missed:?}");
}
