//! `nova check --live` against LocalStack, through the real binary: a clean deploy has no
//! findings; drift made behind nova's back (port 22 opened on the web security group,
//! `CloudWatchAgentServerPolicy` detached from an instance role, the `Environment` tag
//! removed from the VPC) is reported as exactly those findings in every format; `nova up`
//! reverts it and the stack checks clean again.
//!
//! `aws_api_gateway_account` is an account-and-region singleton that every stack on this
//! LocalStack points at one shared role, so other stacks deployed at the same time do not
//! change what this stack's check sees: the findings are demanded exactly, and the setting
//! is read with the SDK around each check as a witness that it named the shared role.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value as Json;

const CW_AGENT_POLICY: &str = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy";
const API_ACCOUNT: &str = "aws_api_gateway_account.main";
const EXIT_CLEAN: i32 = 0;
const EXIT_FINDINGS: i32 = 3;

/// (rule id, resource address) of one finding.
type Key = (String, String);

fn key(rule: &str, address: &str) -> Key {
    (rule.to_string(), address.to_string())
}

/// The three findings the drift must produce, and nothing else.
fn drift_findings() -> BTreeSet<Key> {
    BTreeSet::from([
        key("NOVA-SG-001", "aws_security_group.web"),
        key("NOVA-EC2-002", "aws_iam_role.web[0]"),
        key("NOVA-TAG-001", "aws_vpc.main"),
    ])
}

/// `nova` from the repository root, with no NOVA_* variable of the caller leaking in
/// (they override the configuration, e.g. NOVA_INSTANCE_COUNT).
fn bare_nova(state_dir: &Path) -> Command {
    let mut cmd = common::nova_command(state_dir);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in std::env::vars() {
        if name.starts_with("NOVA_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "`nova {}` exited {:?}\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// A stack deployed by `nova up` for this test; destroyed when dropped (also when the test
/// fails half way) unless [`Deployed::destroy`] already did it.
struct Deployed {
    stack: String,
    state_dir: tempfile::TempDir,
    destroyed: bool,
}

impl Deployed {
    fn up(prefix: &str) -> Deployed {
        let deployed = Deployed {
            stack: common::unique_stack(prefix),
            state_dir: common::temp_state_dir(),
            destroyed: false,
        };
        let out = deployed.nova_ok(&["up", "--yes"]);
        assert!(
            text(&out.stdout).contains("Apply complete!"),
            "{}",
            describe(&["up", "--yes"], &out)
        );
        deployed
    }

    fn nova(&self, args: &[&str]) -> Output {
        bare_nova(self.state_dir.path())
            .arg("--stack")
            .arg(&self.stack)
            .args(args)
            .output()
            .expect("run the nova binary")
    }

    /// Runs nova and asserts exit 0.
    fn nova_ok(&self, args: &[&str]) -> Output {
        let out = self.nova(args);
        assert_eq!(out.status.code(), Some(0), "{}", describe(args, &out));
        out
    }

    /// `nova state show <address>` as JSON.
    fn state_show(&self, address: &str) -> Json {
        let out = self.nova_ok(&["state", "show", address]);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("state show {address} is not JSON ({e})"))
    }

    fn id_of(&self, address: &str) -> String {
        let shown = self.state_show(address);
        shown["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{address} has no string id: {shown}"))
            .to_string()
    }

    fn destroy(&mut self) {
        self.nova_ok(&["destroy", "--yes"]);
        self.destroyed = true;
    }
}

impl Drop for Deployed {
    fn drop(&mut self) {
        if self.destroyed {
            return;
        }
        let args = ["destroy", "--yes"];
        match bare_nova(self.state_dir.path())
            .arg("--stack")
            .arg(&self.stack)
            .args(args)
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "cleanup of stack {} failed: {}",
                self.stack,
                describe(&args, &out)
            ),
            Err(e) => eprintln!("cleanup of stack {}: cannot run nova: {e}", self.stack),
        }
    }
}

/// Raw SDK clients, for changing things behind nova's back and reading them directly.
struct Aws {
    ec2: aws_sdk_ec2::Client,
    iam: aws_sdk_iam::Client,
    apigateway: aws_sdk_apigateway::Client,
}

impl Aws {
    async fn new() -> Aws {
        let config = common::sdk_config().await;
        Aws {
            ec2: aws_sdk_ec2::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            apigateway: aws_sdk_apigateway::Client::new(&config),
        }
    }

    /// The role the account-wide API Gateway setting names now.
    async fn api_account_role(&self) -> String {
        let account = self
            .apigateway
            .get_account()
            .send()
            .await
            .expect("API Gateway GetAccount");
        account.cloudwatch_role_arn().unwrap_or("").to_string()
    }

    /// (protocol, from, to) of every ingress rule of a security group.
    async fn ingress(&self, group_id: &str) -> BTreeSet<(String, i32, i32)> {
        let out = self
            .ec2
            .describe_security_groups()
            .group_ids(group_id)
            .send()
            .await
            .expect("DescribeSecurityGroups");
        out.security_groups()
            .iter()
            .flat_map(|g| g.ip_permissions())
            .map(|p| {
                (
                    p.ip_protocol().unwrap_or("").to_string(),
                    p.from_port().unwrap_or(-1),
                    p.to_port().unwrap_or(-1),
                )
            })
            .collect()
    }

    async fn attached_policies(&self, role: &str) -> BTreeSet<String> {
        let out = self
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .expect("ListAttachedRolePolicies");
        out.attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect()
    }

    async fn tag_value(&self, resource_id: &str, tag: &str) -> Option<String> {
        let out = self
            .ec2
            .describe_tags()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("resource-id")
                    .values(resource_id)
                    .build(),
            )
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("key")
                    .values(tag)
                    .build(),
            )
            .send()
            .await
            .expect("DescribeTags");
        out.tags()
            .iter()
            .find(|t| t.key() == Some(tag))
            .map(|t| t.value().unwrap_or("").to_string())
    }
}

/// One `nova check --live` run.
struct LiveCheck {
    out: Output,
}

/// Runs the check, witnessing with the SDK that the account setting named the shared role
/// before and after it (no other stack's `nova up` changes it).
async fn check_live(stack: &Deployed, aws: &Aws, shared_role: &str, format: &str) -> LiveCheck {
    assert_eq!(
        aws.api_account_role().await,
        shared_role,
        "before the check"
    );
    let out = stack.nova(&["check", "--live", "--format", format]);
    assert_eq!(aws.api_account_role().await, shared_role, "after the check");
    LiveCheck { out }
}

/// (rule_id, address) of every finding in `--format json` output; also checks that the
/// summary agrees with the findings and the exit code.
fn json_findings(check: &LiveCheck) -> BTreeSet<Key> {
    let args = ["check", "--live", "--format", "json"];
    let report: Json = serde_json::from_slice(&check.out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&args, &check.out)));
    let findings = report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings array: {report}"));
    let keys: BTreeSet<Key> = findings
        .iter()
        .map(|f| {
            assert_eq!(f["severity"], "error", "unexpected severity: {f}");
            key(
                f["rule_id"].as_str().expect("rule_id is a string"),
                f["address"].as_str().expect("address is a string"),
            )
        })
        .collect();
    assert_eq!(keys.len(), findings.len(), "duplicate findings: {report}");
    let summary = &report["summary"];
    assert_eq!(summary["errors"], findings.len(), "summary: {report}");
    assert_eq!(summary["warnings"], 0, "summary: {report}");
    let exit = if findings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    };
    assert_eq!(summary["exit_code"], exit, "summary: {report}");
    assert_eq!(
        check.out.status.code(),
        Some(exit),
        "{}",
        describe(&args, &check.out)
    );
    keys
}

/// (ruleId, fullyQualifiedName) of every result in `--format sarif` output.
fn sarif_findings(check: &LiveCheck) -> BTreeSet<Key> {
    let args = ["check", "--live", "--format", "sarif"];
    let log: Json = serde_json::from_slice(&check.out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&args, &check.out)));
    assert_eq!(log["version"], "2.1.0", "{log}");
    let runs = log["runs"].as_array().expect("runs is an array");
    assert_eq!(runs.len(), 1, "{log}");
    let results = runs[0]["results"].as_array().expect("results is an array");
    results
        .iter()
        .map(|r| {
            assert_eq!(r["level"], "error", "{r}");
            let location = &r["locations"][0]["logicalLocations"][0];
            assert_eq!(location["kind"], "resource", "{r}");
            key(
                r["ruleId"].as_str().expect("ruleId is a string"),
                location["fullyQualifiedName"]
                    .as_str()
                    .expect("fullyQualifiedName is a string"),
            )
        })
        .collect()
}

/// Asserts a clean live check (JSON).
async fn assert_live_clean(stack: &Deployed, aws: &Aws, shared_role: &str, when: &str) {
    let check = check_live(stack, aws, shared_role, "json").await;
    let found = json_findings(&check);
    assert_eq!(found, BTreeSet::new(), "{when}: findings");
}

#[tokio::test]
async fn check_live_reports_exactly_the_drift_made_behind_novas_back() {
    let aws = Aws::new().await;
    let mut stack = Deployed::up("chklive");
    let our_role = stack.state_show(API_ACCOUNT)["outputs"]["cloudwatch_role_arn"]
        .as_str()
        .expect("the account's shared role")
        .to_string();
    assert!(
        our_role.ends_with(":role/nova-apigw-cloudwatch-us-east-1"),
        "{our_role}"
    );

    // A clean deploy reads back as clean.
    assert_live_clean(&stack, &aws, &our_role, "right after `nova up`").await;

    // Drift, made with the raw SDK.
    let web_sg = stack.id_of("aws_security_group.web");
    let vpc = stack.id_of("aws_vpc.main");
    let web_role = format!("nova-{}-web-1", stack.stack);
    assert_eq!(
        stack.state_show("aws_iam_role.web[0]")["inputs"]["name"],
        web_role.as_str()
    );
    assert!(aws
        .attached_policies(&web_role)
        .await
        .contains(CW_AGENT_POLICY));
    assert_eq!(
        aws.tag_value(&vpc, "Environment").await.as_deref(),
        Some("Production")
    );
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(&web_sg)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("AuthorizeSecurityGroupIngress tcp 22");
    aws.iam
        .detach_role_policy()
        .role_name(&web_role)
        .policy_arn(CW_AGENT_POLICY)
        .send()
        .await
        .expect("DetachRolePolicy");
    aws.ec2
        .delete_tags()
        .resources(&vpc)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Environment")
                .build(),
        )
        .send()
        .await
        .expect("DeleteTags Environment");

    // JSON: exactly the three findings, exit 3.
    let check = check_live(&stack, &aws, &our_role, "json").await;
    let found = json_findings(&check);
    assert_eq!(check.out.status.code(), Some(EXIT_FINDINGS));
    assert_eq!(found, drift_findings(), "json after drift");

    // SARIF: the same results, exit 3.
    let check = check_live(&stack, &aws, &our_role, "sarif").await;
    assert_eq!(
        check.out.status.code(),
        Some(EXIT_FINDINGS),
        "{}",
        describe(&["check", "--live", "--format", "sarif"], &check.out)
    );
    let found = sarif_findings(&check);
    assert_eq!(found, drift_findings(), "sarif after drift");

    // Table: names the three rules and their resources, exit 3.
    let out = stack.nova(&["check", "--live"]);
    let table = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(EXIT_FINDINGS),
        "{}",
        describe(&["check", "--live"], &out)
    );
    for (rule, address) in drift_findings() {
        assert!(
            table
                .lines()
                .any(|l| l.contains(&rule) && l.contains(&address)),
            "table lacks {rule} on {address}:\n{table}"
        );
    }
    assert!(table.contains("errors, 0 warnings"), "{table}");

    // `nova up` sees the drift as in-place updates and reverts it.
    let out = stack.nova_ok(&["up", "--yes"]);
    let applied = text(&out.stdout);
    assert!(
        applied.contains("0 added") && applied.contains("0 replaced, 0 destroyed"),
        "{}",
        describe(&["up", "--yes"], &out)
    );
    assert!(
        !aws.ingress(&web_sg)
            .await
            .iter()
            .any(|(_, from, _)| *from == 22),
        "port 22 still open after `nova up`"
    );
    assert!(aws
        .attached_policies(&web_role)
        .await
        .contains(CW_AGENT_POLICY));
    assert_eq!(
        aws.tag_value(&vpc, "Environment").await.as_deref(),
        Some("Production")
    );
    assert_live_clean(
        &stack,
        &aws,
        &our_role,
        "after `nova up` reverted the drift",
    )
    .await;

    stack.destroy();
    let out = stack.nova(&["check", "--live"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        describe(&["check", "--live"], &out)
    );
    assert!(
        text(&out.stderr).contains("nothing is deployed"),
        "{}",
        describe(&["check", "--live"], &out)
    );
}

/// `nova check` without `--live` reads only the configuration: the default one is clean.
#[test]
fn check_of_the_default_configuration_has_no_findings() {
    let state_dir = common::temp_state_dir();
    let stack = common::unique_stack("chkplan");
    let args = ["--stack", stack.as_str(), "check"];
    let out = bare_nova(state_dir.path())
        .args(args)
        .output()
        .expect("run the nova binary");
    assert_eq!(
        out.status.code(),
        Some(EXIT_CLEAN),
        "{}",
        describe(&args, &out)
    );
    let table = text(&out.stdout);
    assert!(table.contains("No findings"), "{table}");
}
