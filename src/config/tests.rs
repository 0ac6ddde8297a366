//! Config loading and validation: every refusal names the key and the reason.

use std::path::Path;

use super::*;

const BASE: &str = r#"
project = "nova"
region = "us-east-1"

[defaults]
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

fn load_text(text: &str) -> Result<StackConfig, ConfigError> {
    parse(text, Path::new("Nova.toml"), "production", &no_env)
}

fn error_of(text: &str) -> String {
    load_text(text).unwrap_err().to_string()
}

#[test]
fn repo_nova_toml_is_the_seed_stack() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Nova.toml");
    let c = load(&path, "production", &no_env).unwrap();
    assert_eq!(c.region, "us-east-1");
    assert_eq!(c.environment, "Production");
    assert_eq!(c.vpc_cidr.to_string(), "10.0.0.0/16");
    assert_eq!(c.availability_zones, ["us-east-1a", "us-east-1b"]);
    let public: Vec<String> = c.public_subnets.iter().map(ToString::to_string).collect();
    let private: Vec<String> = c.private_subnets.iter().map(ToString::to_string).collect();
    assert_eq!(public, ["10.0.0.0/24", "10.0.1.0/24"]);
    assert_eq!(private, ["10.0.2.0/24", "10.0.3.0/24"]);
    assert_eq!(c.instance_count, 2);
    assert_eq!(c.nat, NatMode::Single);
    assert_eq!(c.health_schedule, "rate(5 minutes)");
}

#[test]
fn stack_table_and_env_override_in_that_order() {
    let text = format!("{BASE}\n[stacks.production]\ninstance_count = 3\nnat = \"per_az\"\n");
    let c = load_text(&text).unwrap();
    assert_eq!(c.instance_count, 3);
    assert_eq!(c.nat, NatMode::PerAz);
    let env = |k: &str| (k == "NOVA_INSTANCE_COUNT").then(|| "4".to_string());
    let c = parse(&text, Path::new("Nova.toml"), "production", &env).unwrap();
    assert_eq!(c.instance_count, 4);
    // Another stack does not see production's overrides.
    let c = parse(&text, Path::new("Nova.toml"), "staging", &no_env).unwrap();
    assert_eq!(c.instance_count, 2);
}

#[test]
fn env_lists_are_comma_separated() {
    let env = |k: &str| {
        (k == "NOVA_WEB_INGRESS_CIDRS").then(|| "10.1.0.0/16, 192.168.0.0/24".to_string())
    };
    let c = parse(BASE, Path::new("Nova.toml"), "production", &env).unwrap();
    assert_eq!(c.web_ingress_cidrs.len(), 2);
}

#[test]
fn refuses_bad_values_naming_key_and_reason() {
    let cases = [
        ("az_count = 1", "`az_count`: must be between 2 and 6"),
        ("az_count = 7", "`az_count`: must be between 2 and 6"),
        (
            "vpc_cidr = \"10.0.0.0/33\"",
            "`vpc_cidr`: `/33` is not a prefix length",
        ),
        (
            "vpc_cidr = \"10.0.0.1/16\"",
            "`vpc_cidr`: `10.0.0.1/16` has host bits set",
        ),
        (
            "public_subnet_cidrs = [\"10.1.0.0/24\", \"10.0.1.0/24\"]",
            "`public_subnet_cidrs`: 10.1.0.0/24 does not fit in the VPC 10.0.0.0/16",
        ),
        (
            "private_subnet_cidrs = [\"10.0.0.0/24\", \"10.0.9.0/24\"]",
            "subnets 10.0.0.0/24 and 10.0.0.0/24 overlap",
        ),
        (
            "public_subnet_cidrs = [\"10.0.0.0/24\"]",
            "lists 1 subnets but az_count is 2",
        ),
        (
            "nat = \"double\"",
            "`nat`: must be \"single\" or \"per_az\"",
        ),
        (
            "instance_count = \"two\"",
            "`instance_count`: must be an integer",
        ),
        ("az_cont = 2", "`az_cont`: unknown key"),
        (
            "region = \"eu-west-1\"",
            "`region`: the production stack must be in us-east-1",
        ),
        (
            "log_retention_days = 10",
            "`log_retention_days`: CloudWatch Logs accepts one of",
        ),
        (
            "health_schedule = \"every 5 minutes\"",
            "`health_schedule`: must be an EventBridge schedule",
        ),
        ("ami = \"centos\"", "`ami`: `centos` is not an AMI id"),
        (
            "availability_zones = [\"us-east-1a\", \"us-west-2a\"]",
            "`us-west-2a` is not a zone of us-east-1",
        ),
    ];
    for (line, expected) in cases {
        let text = format!("{BASE}{line}\n");
        let err = error_of(&text);
        assert!(
            err.contains(expected),
            "for `{line}` expected `{expected}` in: {err}"
        );
        assert!(
            err.starts_with("Nova.toml: "),
            "error names the file: {err}"
        );
    }
}

#[test]
fn refuses_unknown_top_level_keys_and_bad_toml() {
    let err = error_of("project = \"nova\"\nregion = \"us-east-1\"\nregoin = 1\n");
    assert!(err.contains("unknown field `regoin`"), "{err}");
    let err = error_of("project = \"nova\"\nregion = ");
    assert!(err.starts_with("Nova.toml: "), "{err}");
}

#[test]
fn env_override_errors_name_the_variable() {
    let env = |k: &str| (k == "NOVA_AZ_COUNT").then(|| "one".to_string());
    let err = parse(BASE, Path::new("Nova.toml"), "production", &env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "environment variable NOVA_AZ_COUNT: `az_count`: `one` is not an integer"
    );
    let env = |k: &str| (k == "NOVA_REGION").then(|| "eu-west-1".to_string());
    let err = parse(BASE, Path::new("Nova.toml"), "production", &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("environment variable NOVA_REGION: `region`"),
        "{err}"
    );
}

#[test]
fn refuses_bad_stack_and_project_names() {
    let err = parse(BASE, Path::new("Nova.toml"), "Prod_1", &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`stack`"), "{err}");
    let err = error_of("project = \"My Project\"\nregion = \"us-east-1\"\n");
    assert!(err.contains("`project`"), "{err}");
}

#[test]
fn missing_file_says_what_to_do() {
    let err = load(Path::new("/nonexistent/Nova.toml"), "production", &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--config PATH"), "{err}");
}
