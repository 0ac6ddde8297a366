//! Whole-engine tests: the default stack is clean as a plan and live, rule metadata is
//! complete and covers the checklist, rendering (table snapshot, JSON, SARIF) and exit
//! codes.

use std::collections::BTreeSet;

use super::fixture::*;
use super::*;
use crate::model::Value;

/// The checklist lines of docs/checklist.md that describe the stack (markdown emphasis
/// removed). The Python code-quality and Pulumi-config lines are not stack properties.
const CHECKLIST: [&str; 24] = [
    "VPC not created in `us-east-1` region",
    "Subnets not distributed across multiple Availability Zones",
    "Missing or misconfigured Internet Gateway",
    "Route tables not associated with subnets",
    "No NAT Gateway for private subnet outbound access",
    "Security group allows inbound traffic on ports other than 80/443",
    "Missing egress rules for outbound traffic",
    "Security group not attached to EC2 or Lambda resources",
    "EC2 instances lack unique IAM roles",
    "IAM roles missing required policies (e.g., CloudWatchAgentServerPolicy)",
    "EBS volumes not encrypted with KMS",
    "User data script missing or not PEP8 compliant",
    "API Gateway logging to CloudWatch is correctly implemented with proper resource dependencies.",
    "CloudWatch log group for API Gateway is encrypted with KMS.",
    "IAM role for API Gateway CloudWatch logging is correctly attached.",
    "KMS key not created or not used for log/volume encryption",
    "KMS key policy too permissive or missing required principals",
    "No KMS alias for key management",
    "Lambda function is scheduled using EventBridge rule (every 5 minutes).",
    "Lambda is configured with VPC and security group.",
    "Lambda IAM role includes all required permissions for EC2, CloudWatch, and VPC actions.",
    "CloudWatch log group for Lambda is encrypted with KMS.",
    "All resources are tagged with `Environment: Production`.",
    "Resource names follow clear naming conventions.",
];
const CHECKLIST_EXPORTS: &str = "Pulumi exports not set for key resources";

#[test]
fn checklist_lines_are_those_of_docs_checklist() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/checklist.md");
    let text = std::fs::read_to_string(path).expect("docs/checklist.md");
    let lines: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(|l| l.replace("**", ""))
        .collect();
    for item in CHECKLIST.iter().chain([&CHECKLIST_EXPORTS]) {
        assert!(
            lines.contains(*item),
            "`{item}` is not a line of docs/checklist.md"
        );
    }
}

#[test]
fn every_rule_passes_the_default_stack() {
    for rule in rules() {
        assert!(
            passes_default(rule),
            "{} fires on the default stack",
            rule.id
        );
    }
}

#[test]
fn the_default_stack_has_no_findings_as_a_plan() {
    let report = evaluate(&plan_view(&blueprint()));
    assert_eq!(report.findings, vec![], "{:#?}", report.findings);
    assert_eq!(report.rules_evaluated, rules().len());
    assert_eq!(report.exit_code(), EXIT_CLEAN);
}

#[test]
fn the_default_stack_has_no_findings_live() {
    let view = live_view(&blueprint());
    assert!(view.resources.values().all(|r| r.id.is_some()));
    // Live inputs hold concrete ids: no reference is left.
    assert!(view
        .resources
        .values()
        .all(|r| r.inputs.values().all(Value::is_known)));
    let report = evaluate(&view);
    assert_eq!(report.findings, vec![], "{:#?}", report.findings);
}

#[test]
fn a_live_stack_with_port_22_open_fails() {
    let bp = blueprint();
    let mut resources = live_resources(&bp);
    let web = resources
        .iter_mut()
        .find(|r| r.address == addr("aws_security_group.web"))
        .expect("web security group");
    let Some(Value::List(ingress)) = web.inputs.get_mut("ingress") else {
        panic!("ingress list");
    };
    let mut ssh = ingress[0].as_map().expect("rule map").clone();
    ssh.insert("from_port".into(), Value::Int(22));
    ssh.insert("to_port".into(), Value::Int(22));
    ingress.push(Value::Map(ssh));
    let report = evaluate(&live_view_of(&bp, resources));
    assert_eq!(report.rule_ids(), ["NOVA-SG-001"]);
    assert_eq!(report.exit_code(), EXIT_FINDINGS);
}

#[test]
fn points_to_works_for_references_and_live_ids() {
    let bp = blueprint();
    let key = addr("aws_kms_key.main");
    let plan = plan_view(&bp);
    assert!(plan.points_to(&Value::reference(&key, "arn"), &key));
    assert!(!plan.points_to(&Value::reference(&key, "arn"), &addr("aws_vpc.main")));
    let live = live_view(&bp);
    let instance = live.get(&addr("aws_instance.web[0]")).expect("instance");
    let kms_key_id = instance.input("kms_key_id").expect("kms_key_id");
    assert!(kms_key_id
        .as_str()
        .is_some_and(|s| s.starts_with("arn:aws:kms:")));
    assert!(live.points_to(kms_key_id, &key));
    assert!(!live.points_to(kms_key_id, &addr("aws_vpc.main")));
    assert!(!live.points_to(&Value::str("arn:aws:kms:us-east-1:0:key/other"), &key));
}

#[test]
fn rules_have_unique_ids_and_complete_metadata() {
    let mut ids = BTreeSet::new();
    for r in rules() {
        assert!(ids.insert(r.id), "duplicate rule id {}", r.id);
        let parts: Vec<&str> = r.id.split('-').collect();
        let well_formed = parts.len() == 3
            && parts[0] == "NOVA"
            && parts[2].len() == 3
            && parts[2].chars().all(|c| c.is_ascii_digit());
        assert!(well_formed, "{}", r.id);
        assert!(!r.title.is_empty() && !r.remediation.is_empty(), "{}", r.id);
        let known = r.checklist_item == "security review"
            || r.checklist_item == CHECKLIST_EXPORTS
            || CHECKLIST.contains(&r.checklist_item);
        assert!(
            known,
            "{}: unknown checklist item {:?}",
            r.id, r.checklist_item
        );
        assert_eq!(rule(r.id).map(|x| x.id), Some(r.id));
    }
}

#[test]
fn every_checklist_item_has_a_rule() {
    for item in CHECKLIST.iter().chain([&CHECKLIST_EXPORTS]) {
        assert!(
            rules().iter().any(|r| r.checklist_item == *item),
            "no rule enforces {item:?}"
        );
    }
}

/// A stack broken in three places: port 22 open (error), a missing output (error) and
/// a free-form Name (warning).
fn broken_report() -> Report {
    let mut bp = blueprint();
    let mut ssh = std::collections::BTreeMap::new();
    ssh.insert("protocol".to_string(), Value::str("tcp"));
    ssh.insert("from_port".to_string(), Value::Int(22));
    ssh.insert("to_port".to_string(), Value::Int(22));
    ssh.insert(
        "cidr_blocks".to_string(),
        Value::list_of_strings(["0.0.0.0/0"]),
    );
    push(
        &mut bp,
        "aws_security_group.web",
        "ingress",
        Value::Map(ssh),
    );
    bp.outputs.remove("kms_key_arn");
    set_tag(&mut bp, "aws_vpc.main", "Name", Some("my-vpc"));
    evaluate(&plan_view(&bp))
}

#[test]
fn findings_are_sorted_errors_first() {
    let report = broken_report();
    let order: Vec<(Severity, &str)> = report
        .findings
        .iter()
        .map(|f| (f.severity, f.rule_id))
        .collect();
    assert_eq!(
        order,
        [
            (Severity::Error, "NOVA-OUT-001"),
            (Severity::Error, "NOVA-SG-001"),
            (Severity::Warning, "NOVA-TAG-002"),
        ]
    );
    assert_eq!((report.errors(), report.warnings()), (2, 1));
    assert!(report.has_errors());
    assert_eq!(report.exit_code(), EXIT_FINDINGS);
}

#[test]
fn table_rendering_of_a_broken_stack() {
    let table = render_table(&broken_report(), false);
    assert!(table.ends_with("2 errors, 1 warning\n"));
    insta::assert_snapshot!(table);
}

#[test]
fn table_colors_only_when_asked() {
    assert!(!render_table(&broken_report(), false).contains('\x1b'));
    assert!(render_table(&broken_report(), true).contains("\x1b[31mNOVA-SG-001"));
}

#[test]
fn table_of_a_clean_stack_says_how_many_rules_passed() {
    let table = render_table(&evaluate(&plan_view(&blueprint())), true);
    assert_eq!(
        table,
        format!("No findings: {} rules passed.\n", rules().len())
    );
}

#[test]
fn json_rendering_has_summary_and_findings() {
    let json = render_json(&broken_report());
    assert_eq!(json["summary"]["errors"], 2);
    assert_eq!(json["summary"]["warnings"], 1);
    assert_eq!(json["summary"]["exit_code"], EXIT_FINDINGS);
    let first = &json["findings"][0];
    assert_eq!(first["rule_id"], "NOVA-OUT-001");
    assert_eq!(first["severity"], "error");
    assert!(first["address"].is_null());
    assert_eq!(json["findings"][1]["address"], "aws_security_group.web");
    assert_eq!(
        json["findings"][1]["checklist_item"],
        "Security group allows inbound traffic on ports other than 80/443"
    );
}

#[test]
fn sarif_has_the_required_structure() {
    let sarif = render_sarif(&broken_report());
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"]
        .as_str()
        .is_some_and(|s| s.contains("sarif-2.1.0")));
    let runs = sarif["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "nova");
    assert!(driver["informationUri"]
        .as_str()
        .is_some_and(|u| u.starts_with("https://")));
    let driver_rules = driver["rules"].as_array().expect("rules");
    assert_eq!(driver_rules.len(), rules().len());
    for (json, rule) in driver_rules.iter().zip(rules()) {
        assert_eq!(json["id"], rule.id);
        assert_eq!(json["shortDescription"]["text"], rule.title);
        assert!(json["fullDescription"]["text"]
            .as_str()
            .is_some_and(|t| t.contains(rule.checklist_item)));
        assert_eq!(json["help"]["text"], rule.remediation);
        let level = json["defaultConfiguration"]["level"]
            .as_str()
            .expect("level");
        assert!(level == "error" || level == "warning");
    }
    let results = runs[0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    for result in results {
        let id = result["ruleId"].as_str().expect("ruleId");
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(driver_rules[index]["id"], id);
        assert!(matches!(
            result["level"].as_str(),
            Some("error" | "warning")
        ));
        assert!(result["message"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
        assert!(result["locations"].is_array());
    }
    let sg = &results[1];
    assert_eq!(sg["ruleId"], "NOVA-SG-001");
    let logical = &sg["locations"][0]["logicalLocations"][0];
    assert_eq!(logical["fullyQualifiedName"], "aws_security_group.web");
    assert_eq!(logical["kind"], "resource");
    assert_eq!(results[2]["level"], "warning");
}

/// The real blueprint (`nova::stack`) for Nova.toml's production stack.
fn real_blueprint() -> (crate::model::Blueprint, crate::config::StackConfig) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Nova.toml");
    let config = crate::config::load(&path, "production", &|_| None).expect("Nova.toml");
    let context = crate::stack::StackContext {
        account_id: "123456789012".into(),
        ami: "ami-0123456789abcdef0".into(),
        health_code_sha256: "ab".repeat(32),
        subnet_layout: crate::config::SubnetLayout::Zones,
    };
    (crate::stack::blueprint(&config, &context), config)
}

#[test]
fn the_real_production_blueprint_has_no_findings() {
    let (bp, config) = real_blueprint();
    let view = StackView::from_blueprint(&bp, &config.region, "123456789012", &config.environment);
    let report = evaluate(&view);
    assert_eq!(report.findings, vec![], "{}", render_table(&report, false));
}

#[test]
fn the_real_production_blueprint_has_no_findings_live() {
    let (bp, config) = real_blueprint();
    let view = StackView::from_live(
        live_resources(&bp),
        bp.outputs.keys().cloned().collect(),
        &config.region,
        "123456789012",
        &config.environment,
    );
    let report = evaluate(&view);
    assert_eq!(report.findings, vec![], "{}", render_table(&report, false));
}
