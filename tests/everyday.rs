//! The everyday commands Terraform and Pulumi users reach for, run through the real
//! `nova` binary against LocalStack and witnessed with raw SDK reads: `nova import` of a
//! VPC made with the SDK, `--target` pulling dependencies in, `--replace` of one instance,
//! `--refresh-only` after out-of-band changes, `nova state rm` / `mv`, an installed binary
//! run from a directory that holds only a `Nova.toml`, and two stacks in one account
//! sharing the API Gateway CloudWatch role.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use aws_sdk_ec2::types::{Filter, Tag};
use common::nova::{Run, Stack};
use serde_json::Value as Json;

/// The account's one shared API Gateway CloudWatch role in the tests' region.
const SHARED_ROLE: &str = "nova-apigw-cloudwatch-us-east-1";

struct Aws {
    ec2: aws_sdk_ec2::Client,
    iam: aws_sdk_iam::Client,
    apigw: aws_sdk_apigateway::Client,
    events: aws_sdk_eventbridge::Client,
    lambda: aws_sdk_lambda::Client,
}

impl Aws {
    async fn new() -> Aws {
        let config = common::sdk_config().await;
        Aws {
            ec2: aws_sdk_ec2::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            apigw: aws_sdk_apigateway::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
        }
    }

    /// The VPCs tagged with `stack`, sorted.
    async fn vpcs_of(&self, stack: &str) -> Vec<String> {
        let out = self
            .ec2
            .describe_vpcs()
            .filters(
                Filter::builder()
                    .name("tag:nova:stack")
                    .values(stack)
                    .build(),
            )
            .send()
            .await
            .expect("DescribeVpcs");
        let mut ids: Vec<String> = out
            .vpcs()
            .iter()
            .filter(|v| tag_of(v.tags(), "nova:stack").as_deref() == Some(stack))
            .filter_map(|v| v.vpc_id().map(str::to_string))
            .collect();
        ids.sort();
        ids
    }

    async fn vpc_tags(&self, id: &str) -> BTreeMap<String, String> {
        let out = self
            .ec2
            .describe_vpcs()
            .vpc_ids(id)
            .send()
            .await
            .expect("DescribeVpcs");
        tag_map(out.vpcs()[0].tags())
    }

    /// Running (or pending) instances tagged with `stack`: id -> `nova:address`.
    async fn instances_of(&self, stack: &str) -> BTreeMap<String, String> {
        let out = self
            .ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("tag:nova:stack")
                    .values(stack)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .build(),
            )
            .send()
            .await
            .expect("DescribeInstances");
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| tag_of(i.tags(), "nova:stack").as_deref() == Some(stack))
            .map(|i| {
                (
                    i.instance_id().unwrap_or_default().to_string(),
                    tag_of(i.tags(), "nova:address").unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The API Gateway account's CloudWatch role ARN now.
    async fn account_role(&self) -> String {
        let out = self.apigw.get_account().send().await.expect("GetAccount");
        out.cloudwatch_role_arn().unwrap_or_default().to_string()
    }

    /// The stacks that use the shared role (its `nova:user:<stack>` tags), or `None`
    /// when the role does not exist.
    async fn shared_role_users(&self) -> Option<BTreeSet<String>> {
        match self
            .iam
            .list_role_tags()
            .role_name(SHARED_ROLE)
            .send()
            .await
        {
            Ok(out) => Some(
                out.tags()
                    .iter()
                    .filter_map(|t| t.key().strip_prefix("nova:user:"))
                    .map(str::to_string)
                    .collect(),
            ),
            Err(e) if format!("{e:?}").contains("NoSuchEntity") => None,
            Err(e) => panic!("ListRoleTags {SHARED_ROLE}: {e:?}"),
        }
    }
}

fn tag_of(tags: &[Tag], key: &str) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value().map(str::to_string))
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The plan's changes that do something: address -> action.
fn actions(plan: &Json) -> BTreeMap<String, String> {
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "no_op")
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn state_entry<'s>(state: &'s Json, address: &str) -> Option<&'s Json> {
    state["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["address"] == address)
}

fn id_in_state(stack: &Stack, address: &str) -> String {
    let state = stack.state();
    state_entry(&state, address).unwrap_or_else(|| panic!("{address} not in the state"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[track_caller]
fn says(run: &Run, words: &[&str]) {
    let all = format!("{}\n{}", run.stdout, run.stderr);
    for word in words {
        assert!(
            all.contains(word),
            "`nova {}` does not say {word:?}:\n{all}",
            run.args.join(" ")
        );
    }
}

/// `nova import` of a VPC made with the SDK: refused at the wrong kind or the wrong
/// address, recorded without any change in AWS, shown with what the next plan changes;
/// then the plan updates (never creates) it, `nova up` adds nova's tags, and it is the
/// stack's one VPC.
#[tokio::test(flavor = "multi_thread")]
async fn import_of_a_vpc_made_with_the_sdk_then_the_plan_adopts_it() {
    let aws = Aws::new().await;
    let stack = Stack::new("imp-vpc");
    let made = aws
        .ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .expect("CreateVpc")
        .vpc
        .expect("a VPC");
    let vpc = made.vpc_id().unwrap().to_string();
    let other = aws
        .ec2
        .create_vpc()
        .cidr_block("10.8.0.0/16")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
                .tags(
                    Tag::builder()
                        .key("nova:stack")
                        .value("someone-else")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("CreateVpc of another stack")
        .vpc
        .expect("a VPC");
    let other = other.vpc_id().unwrap().to_string();

    let subnet_like = "subnet-0123456789abcdef0";
    let run = stack.run(&["import", "aws_vpc.main", subnet_like]);
    says(&run.expect_code(1), &["aws_vpc", subnet_like]);
    let run = stack.run(&["import", "aws_vpc.other", &vpc]);
    says(
        &run.expect_code(1),
        &[
            "aws_vpc.other is not a resource of the configuration",
            "aws_vpc.main",
        ],
    );
    let run = stack.run(&["import", "aws_vpc.main", &other]);
    says(
        &run.expect_code(1),
        &["belongs to nova stack `someone-else`"],
    );
    assert!(
        !stack.state_path().exists(),
        "no state written by a refusal"
    );

    let run = stack.run(&["import", "aws_vpc.main", &vpc]).expect_code(0);
    says(
        &run,
        &[
            &format!("Imported aws_vpc.main ({vpc})"),
            "Nothing was changed in AWS",
            "+ \"nova:stack\"",
            "nova:address",
        ],
    );
    assert_eq!(id_in_state(&stack, "aws_vpc.main"), vpc);
    assert!(
        !aws.vpc_tags(&vpc).await.contains_key("nova:stack"),
        "the ownership tags wait for `nova up`"
    );
    let run = stack.run(&["import", "aws_vpc.main", &vpc]);
    says(
        &run.expect_code(1),
        &["aws_vpc.main is already in the state"],
    );

    let plan = stack.plan_json(&[]);
    let planned = actions(&plan);
    assert_eq!(planned["aws_vpc.main"], "update", "{planned:?}");
    assert_eq!(planned["aws_subnet.public[0]"], "create");
    assert!(
        !planned.values().any(|a| a == "import"),
        "nothing else exists: {planned:?}"
    );

    stack.up();
    assert_eq!(
        aws.vpcs_of(&stack.name).await,
        std::slice::from_ref(&vpc),
        "one VPC: the imported one"
    );
    let tags = aws.vpc_tags(&vpc).await;
    assert_eq!(
        tags.get("nova:address").map(String::as_str),
        Some("aws_vpc.main")
    );
    assert_eq!(
        tags.get("Environment").map(String::as_str),
        Some("Production")
    );
    stack.assert_plan_clean();
    aws.ec2
        .delete_vpc()
        .vpc_id(&other)
        .send()
        .await
        .expect("DeleteVpc of the other stack's VPC");
}

/// `--target` plans and applies the target and what it depends on, warning that the
/// state is partial; `--exclude` leaves out what depends on the excluded.
#[tokio::test(flavor = "multi_thread")]
async fn target_pulls_dependencies_in_and_exclude_leaves_dependents_out() {
    let aws = Aws::new().await;
    let stack = Stack::new("target");
    let target = ["--target", "aws_subnet.private[0]"];
    let run = stack.run(&[&["plan", "--json", "--detailed-exitcode"][..], &target].concat());
    let run = run.expect_code(2);
    says(&run, &["Warning: resource targeting is in effect"]);
    let plan = run.json();
    assert_eq!(
        actions(&plan),
        [
            ("aws_subnet.private[0]".to_string(), "create".to_string()),
            ("aws_vpc.main".to_string(), "create".to_string()),
        ]
        .into()
    );
    assert_eq!(
        plan["scope"]["targets"],
        serde_json::json!(["aws_subnet.private[0]"])
    );

    let run = stack
        .run(&[&["up", "--yes"][..], &target].concat())
        .expect_code(0);
    says(
        &run,
        &[
            "Apply complete! Resources: 2 added",
            "Warning: applied changes may be incomplete",
        ],
    );
    let list = stack.run(&["state", "list"]).expect_code(0);
    assert_eq!(list.stdout, "aws_subnet.private[0]\naws_vpc.main\n");
    assert_eq!(aws.vpcs_of(&stack.name).await.len(), 1);
    assert!(
        aws.instances_of(&stack.name).await.is_empty(),
        "nothing else made"
    );

    let run = stack
        .run(&["plan", "--json", "--exclude", "aws_vpc.main"])
        .expect_code(0);
    let planned = actions(&run.json());
    assert_eq!(
        planned.get("aws_kms_key.main").map(String::as_str),
        Some("create")
    );
    for left_out in [
        "aws_vpc.main",
        "aws_subnet.public[0]",
        "aws_instance.web[0]",
        "aws_lambda_function.health",
    ] {
        assert!(!planned.contains_key(left_out), "{left_out} in {planned:?}");
    }
    // Everything else, then a clean plan.
    stack.up();
    stack.assert_plan_clean();
}

/// `--replace` of one instance: a new instance for it, the old one terminated, the other
/// instance untouched.
#[tokio::test(flavor = "multi_thread")]
async fn replace_of_one_instance_leaves_the_other() {
    let aws = Aws::new().await;
    let stack = Stack::new("replace");
    stack.up();
    let before = aws.instances_of(&stack.name).await;
    assert_eq!(before.len(), 2, "{before:?}");
    let (first, second) = (
        id_in_state(&stack, "aws_instance.web[0]"),
        id_in_state(&stack, "aws_instance.web[1]"),
    );
    let run = stack
        .run(&[
            "plan",
            "--replace",
            "aws_instance.web[0]",
            "--detailed-exitcode",
        ])
        .expect_code(2);
    says(
        &run,
        &[
            "# aws_instance.web[0] must be replaced (replacement requested with --replace)",
            "0 to add, 0 to change, 1 to replace, 0 to destroy",
        ],
    );
    let run = stack.run(&["up", "--yes", "--replace", "aws_instance.web[0]"]);
    says(&run.expect_code(0), &["1 replaced"]);
    let after = aws.instances_of(&stack.name).await;
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(!after.contains_key(&first), "the old web[0] is terminated");
    assert_eq!(
        after.get(&second).map(String::as_str),
        Some("aws_instance.web[1]")
    );
    let new_first = id_in_state(&stack, "aws_instance.web[0]");
    assert_ne!(new_first, first);
    assert_eq!(
        after.get(&new_first).map(String::as_str),
        Some("aws_instance.web[0]")
    );
    assert_eq!(id_in_state(&stack, "aws_instance.web[1]"), second);
    stack.assert_plan_clean();
}

/// `--refresh-only` after a tag changed by another team and a deleted resource: the plan
/// lists both, `up` asks like any other (refused on a pipe), then records them without
/// changing AWS; a saved refresh-only plan applies the same way.
#[tokio::test(flavor = "multi_thread")]
async fn refresh_only_records_out_of_band_tag_changes_and_deletes() {
    let aws = Aws::new().await;
    let stack = Stack::new("refresh");
    stack.up();
    let vpc = id_in_state(&stack, "aws_vpc.main");
    let rule = format!("nova-{}-health-schedule", stack.name);
    aws.ec2
        .create_tags()
        .resources(&vpc)
        .tags(Tag::builder().key("Team").value("platform").build())
        .send()
        .await
        .expect("CreateTags");
    aws.events
        .remove_targets()
        .rule(&rule)
        .ids("health-check")
        .send()
        .await
        .expect("RemoveTargets");

    let run = stack
        .run(&["plan", "--refresh-only", "--detailed-exitcode"])
        .expect_code(2);
    says(
        &run,
        &[
            "# aws_vpc.main has changed outside nova",
            "+ \"Team\" = \"platform\"",
            "# aws_cloudwatch_event_target.health has been deleted outside nova",
            "records 1 changed and 1 deleted object(s) in the state and changes nothing in AWS",
        ],
    );
    let before = std::fs::read(stack.state_path()).unwrap();
    let run = stack.run(&["up", "--refresh-only"]);
    says(&run.expect_code(1), &["stdin is not a terminal", "--yes"]);
    assert_eq!(
        std::fs::read(stack.state_path()).unwrap(),
        before,
        "nothing recorded"
    );

    let plan_file = stack.state_dir().join("refresh.plan");
    let plan_file = plan_file.to_str().unwrap();
    stack
        .run(&["plan", "--refresh-only", "--out", plan_file])
        .expect_code(0);
    let run = stack.run(&["up", plan_file, "--yes"]).expect_code(0);
    says(&run, &["Refresh complete!", "nothing was changed in AWS"]);
    let state = stack.state();
    assert!(state_entry(&state, "aws_cloudwatch_event_target.health").is_none());
    assert_eq!(
        state_entry(&state, "aws_vpc.main").unwrap()["inputs"]["tags"]["Team"],
        "platform"
    );
    // AWS as the other team left it.
    assert_eq!(
        aws.vpc_tags(&vpc).await.get("Team").map(String::as_str),
        Some("platform")
    );
    let targets = aws
        .events
        .list_targets_by_rule()
        .rule(&rule)
        .send()
        .await
        .expect("ListTargetsByRule");
    assert!(
        targets.targets().is_empty(),
        "the target was not made again"
    );
    stack
        .run(&["plan", "--refresh-only", "--detailed-exitcode"])
        .expect_code(0);
    // The saved plan was used up.
    says(
        &stack.run(&["up", plan_file, "--yes"]).expect_code(1),
        &["stale"],
    );
    // A full plan now shows what the configuration wants back.
    let planned = actions(&stack.plan_json(&[]));
    assert_eq!(planned["aws_vpc.main"], "update");
    assert_eq!(planned["aws_cloudwatch_event_target.health"], "create");
}

/// `nova state rm` forgets without deleting (so the plan creates it again, and never
/// imports what it forgot); `nova import` takes it back; `nova state mv` moves a resource
/// away (the plan then destroys one address and creates the other) and back (no change).
#[tokio::test(flavor = "multi_thread")]
async fn state_rm_then_plan_shows_a_create_and_mv_then_plan_shows_no_change() {
    let aws = Aws::new().await;
    let stack = Stack::new("surgery");
    stack.up();
    let second = id_in_state(&stack, "aws_instance.web[1]");

    let run = stack.run(&["state", "rm", "aws_vpc.main"]).expect_code(1);
    says(
        &run,
        &["cannot forget aws_vpc.main", "aws_subnet.public[0]"],
    );
    let run = stack
        .run(&["state", "rm", "aws_instance.web[1]"])
        .expect_code(0);
    says(
        &run,
        &[
            &format!("Removed aws_instance.web[1] ({second})"),
            "Nothing was deleted in AWS",
            ".backup",
        ],
    );
    assert!(
        aws.instances_of(&stack.name).await.contains_key(&second),
        "the forgotten instance still runs"
    );
    let planned = actions(&stack.plan_json(&[]));
    assert_eq!(
        planned,
        [("aws_instance.web[1]".to_string(), "create".to_string())].into(),
        "rm then plan shows a create"
    );
    let run = stack
        .run(&["import", "aws_instance.web[1]", &second])
        .expect_code(0);
    says(&run, &["It matches the configuration"]);
    stack.assert_plan_clean();

    let run = stack
        .run(&["state", "mv", "aws_kms_alias.main", "aws_kms_alias.old"])
        .expect_code(0);
    says(&run, &["Moved aws_kms_alias.main", "to aws_kms_alias.old"]);
    let planned = actions(&stack.plan_json(&[]));
    assert_eq!(
        planned,
        [
            ("aws_kms_alias.main".to_string(), "create".to_string()),
            ("aws_kms_alias.old".to_string(), "delete".to_string()),
        ]
        .into()
    );
    let run = stack
        .run(&["state", "mv", "aws_kms_alias.old", "aws_kms_alias.main"])
        .expect_code(0);
    says(&run, &["Nothing was changed in AWS"]);
    stack.assert_plan_clean();
    let run = stack.run(&["state", "mv", "aws_kms_alias.main", "aws_kms_key.main"]);
    says(&run.expect_code(1), &["the kinds differ"]);
    let run = stack.run(&[
        "state",
        "mv",
        "aws_subnet.public[0]",
        "aws_subnet.public[1]",
    ]);
    says(
        &run.expect_code(1),
        &["aws_subnet.public[1] is already in the state"],
    );
}

/// `nova` run from `dir` with only the AWS environment LocalStack needs.
fn nova_in(bin: &Path, dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("NOVA_") || key.starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", common::localstack_endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", common::REGION)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Destroys the stack of an installed-binary run when the test ends.
struct Installed<'a> {
    bin: &'a Path,
    dir: &'a Path,
    stack: &'a str,
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        if self
            .dir
            .join("state")
            .join(format!("{}.json", self.stack))
            .exists()
        {
            let run = nova_in(
                self.bin,
                self.dir,
                &["--stack", self.stack, "destroy", "--yes"],
            );
            if run.code != Some(0) {
                eprintln!("cleanup of {}: {}\n{}", self.stack, run.stdout, run.stderr);
            }
        }
    }
}

/// The built `nova` copied alone to a directory outside the repository (as `cargo
/// install` would put it), then run in an empty directory that holds only a two-line
/// `Nova.toml`: completions and version need nothing, and plan, up and destroy work, the
/// Lambda's code coming from the binary (its hash is the built-in bundle's).
#[tokio::test(flavor = "multi_thread")]
async fn installed_binary_runs_from_an_empty_directory_with_only_a_nova_toml() {
    let aws = Aws::new().await;
    let root = tempfile::tempdir().expect("an install root");
    assert!(
        !root.path().starts_with(env!("CARGO_MANIFEST_DIR")),
        "the install root is outside the repository"
    );
    let bin = root.path().join("nova");
    std::fs::copy(env!("CARGO_BIN_EXE_nova"), &bin).expect("copy the nova binary");

    let work = tempfile::tempdir().expect("an empty directory");
    let nothing = nova_in(&bin, work.path(), &["completions", "zsh"]).expect_code(0);
    assert!(nothing.stdout.contains("#compdef nova"));
    let version = nova_in(&bin, work.path(), &["--version"]).expect_code(0);
    assert!(version.stdout.contains("(commit "), "{}", version.stdout);
    std::fs::write(
        work.path().join("Nova.toml"),
        "project = \"nova\"\nregion = \"us-east-1\"\n",
    )
    .unwrap();
    let stack = common::unique_stack("installed");
    let _cleanup = Installed {
        bin: &bin,
        dir: work.path(),
        stack: &stack,
    };
    let plan = nova_in(&bin, work.path(), &["--stack", &stack, "plan"]).expect_code(0);
    says(&plan, &["37 to add"]);
    nova_in(&bin, work.path(), &["--stack", &stack, "up", "--yes"]).expect_code(0);
    let function = aws
        .lambda
        .get_function()
        .function_name(format!("nova-{stack}-health"))
        .send()
        .await
        .expect("GetFunction");
    let built_in = nova::provider::aws::lambda_package::package_bundle(&nova::assets::HEALTH_CHECK)
        .expect("the built-in bundle");
    assert_eq!(
        function.configuration().and_then(|c| c.code_sha256()),
        Some(built_in.sha256_base64().as_str()),
        "the function runs the handler built into the binary"
    );
    nova_in(
        &bin,
        work.path(),
        &["--stack", &stack, "plan", "--detailed-exitcode"],
    )
    .expect_code(0);
    nova_in(&bin, work.path(), &["--stack", &stack, "destroy", "--yes"]).expect_code(0);
    let mut left: Vec<String> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["Nova.toml", "state"],
        "only the config and the state directory"
    );
}

/// Staging and production in one account: both plans are empty after both `up`s (the
/// API Gateway account setting names the one shared role both use), and destroying one
/// leaves the other's API logging working.
#[tokio::test(flavor = "multi_thread")]
async fn two_stacks_in_one_account_share_the_api_gateway_role() {
    let aws = Aws::new().await;
    let mut staging = Stack::new("staging");
    let production = Stack::new("production");
    staging.up();
    production.up();
    staging.assert_plan_clean();
    production.assert_plan_clean();
    let shared = aws.account_role().await;
    assert!(
        shared.ends_with(&format!(":role/{SHARED_ROLE}")),
        "{shared}"
    );
    let users = aws
        .shared_role_users()
        .await
        .expect("the shared role exists");
    assert!(
        users.contains(&staging.name) && users.contains(&production.name),
        "{users:?}"
    );

    staging.destroy();
    assert_eq!(
        aws.account_role().await,
        shared,
        "the setting still names the shared role"
    );
    let users = aws
        .shared_role_users()
        .await
        .expect("the shared role stays");
    assert!(
        !users.contains(&staging.name) && users.contains(&production.name),
        "{users:?}"
    );
    let role = aws
        .iam
        .get_role()
        .role_name(SHARED_ROLE)
        .send()
        .await
        .expect("GetRole of the shared role")
        .role
        .expect("role");
    assert_eq!(role.arn(), shared);
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(SHARED_ROLE)
        .send()
        .await
        .expect("ListAttachedRolePolicies");
    assert!(attached.attached_policies().iter().any(|p| p.policy_arn()
        == Some("arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")));
    // Production's stage still logs (INFO execution logs, access logs).
    let api = id_in_state(&production, "aws_api_gateway_rest_api.main");
    let stage = aws
        .apigw
        .get_stage()
        .rest_api_id(&api)
        .stage_name("prod")
        .send()
        .await
        .expect("GetStage");
    assert!(stage
        .access_log_settings()
        .and_then(|l| l.destination_arn())
        .is_some());
    assert!(stage
        .method_settings()
        .is_some_and(|m| m.values().any(|s| s.logging_level() == Some("INFO"))));
    production.assert_plan_clean();
}
