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
    assert_eq!(c.public_subnet_cidrs, None);
    assert_eq!(c.private_subnet_cidrs, None);
    let (public, private) = c.subnet_cidrs(SubnetLayout::Zones);
    let text = |l: Vec<Cidr>| l.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(text(public), ["10.0.0.0/24", "10.0.1.0/24"]);
    assert_eq!(text(private), ["10.0.128.0/24", "10.0.129.0/24"]);
    // A stack deployed with the packed layout keeps it.
    let (public, private) = c.subnet_cidrs(SubnetLayout::Packed { zones: 2 });
    assert_eq!(text(public), ["10.0.0.0/24", "10.0.1.0/24"]);
    assert_eq!(text(private), ["10.0.2.0/24", "10.0.3.0/24"]);
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

// --- [backend] ----------------------------------------------------------------------

fn backend_of(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<BackendConfig, String> {
    parse(text, Path::new("Nova.toml"), "production", env)
        .map(|c| c.backend)
        .map_err(|e| e.to_string())
}

#[test]
fn backend_is_local_by_default() {
    assert_eq!(backend_of(BASE, &no_env), Ok(BackendConfig::Local));
    let text = format!("{BASE}\n[backend]\ntype = \"local\"\n");
    assert_eq!(backend_of(&text, &no_env), Ok(BackendConfig::Local));
}

#[test]
fn s3_backend_takes_exactly_the_documented_keys_with_defaults() {
    let text = format!("{BASE}\n[backend]\ntype = \"s3\"\nbucket = \"acme-nova-state\"\n");
    let BackendConfig::S3(s3) = backend_of(&text, &no_env).unwrap() else {
        panic!("not s3");
    };
    assert_eq!(s3.bucket, "acme-nova-state");
    assert_eq!(s3.prefix, DEFAULT_PREFIX);
    assert_eq!(s3.region, "us-east-1", "the stack's region by default");
    assert_eq!(s3.kms_key_id, None);
    assert_eq!(s3.lock_lease.as_secs(), DEFAULT_LOCK_LEASE_SECONDS);

    let text = format!(
        "{BASE}\n[backend]\ntype = \"s3\"\nbucket = \"acme.state-1\"\nprefix = \"team/nova/\"\n\
         region = \"eu-west-1\"\nkms_key_id = \"alias/nova-state\"\nlock_lease_seconds = 30\n"
    );
    let BackendConfig::S3(s3) = backend_of(&text, &no_env).unwrap() else {
        panic!("not s3");
    };
    assert_eq!(s3.prefix, "team/nova/");
    assert_eq!(
        s3.region, "eu-west-1",
        "the bucket may live in another region"
    );
    assert_eq!(s3.kms_key_id.as_deref(), Some("alias/nova-state"));
    assert_eq!(s3.lock_lease.as_secs(), 30);
    // An empty prefix puts the layout at the bucket's root.
    let text = format!("{BASE}\n[backend]\ntype = \"s3\"\nbucket = \"b-1\"\nprefix = \"\"\n");
    let BackendConfig::S3(s3) = backend_of(&text, &no_env).unwrap() else {
        panic!("not s3");
    };
    assert_eq!(s3.prefix, "");
}

#[test]
fn backend_env_variables_override_the_file() {
    let text = format!("{BASE}\n[backend]\ntype = \"s3\"\nbucket = \"from-file\"\n");
    let env = |k: &str| match k {
        "NOVA_BACKEND_BUCKET" => Some("from-env".to_string()),
        "NOVA_BACKEND_PREFIX" => Some("ci/".to_string()),
        "NOVA_BACKEND_KMS_KEY_ID" => Some("1234abcd-12ab-34cd-56ef-1234567890ab".to_string()),
        "NOVA_BACKEND_LOCK_LEASE_SECONDS" => Some("5".to_string()),
        _ => None,
    };
    let BackendConfig::S3(s3) = backend_of(&text, &env).unwrap() else {
        panic!("not s3");
    };
    assert_eq!(s3.bucket, "from-env");
    assert_eq!(s3.prefix, "ci/");
    assert_eq!(s3.lock_lease.as_secs(), 5);
    assert!(s3.kms_key_id.is_some());

    // The whole backend from the environment, no [backend] in the file.
    let env = |k: &str| match k {
        "NOVA_BACKEND_TYPE" => Some("s3".to_string()),
        "NOVA_BACKEND_BUCKET" => Some("only-env".to_string()),
        _ => None,
    };
    assert!(matches!(backend_of(BASE, &env), Ok(BackendConfig::S3(s)) if s.bucket == "only-env"));

    // NOVA_BACKEND_TYPE=local over an S3 file: the file's S3 keys are ignored (moving a
    // state back to a local file), but S3 keys set in the environment are still refused.
    let env = |k: &str| (k == "NOVA_BACKEND_TYPE").then(|| "local".to_string());
    assert_eq!(backend_of(&text, &env), Ok(BackendConfig::Local));
    let env = |k: &str| match k {
        "NOVA_BACKEND_TYPE" => Some("local".to_string()),
        "NOVA_BACKEND_BUCKET" => Some("b-1".to_string()),
        _ => None,
    };
    let err = backend_of(&text, &env).unwrap_err();
    assert!(
        err.starts_with("environment variable NOVA_BACKEND_BUCKET: `backend.bucket`: only applies to `type = \"s3\"`"),
        "{err}"
    );
}

#[test]
fn bad_backend_values_are_refused_naming_key_and_reason() {
    let cases = [
        (
            "type = \"gcs\"",
            "`backend.type`: must be \"local\" or \"s3\"",
        ),
        ("type = 3", "`backend.type`: must be a string"),
        ("type = \"s3\"", "`backend.bucket`: missing"),
        (
            "type = \"s3\"\nbucket = \"Acme_State\"",
            "`backend.bucket`: `Acme_State` is not a valid S3 bucket name",
        ),
        (
            "type = \"s3\"\nbucket = \"ab\"",
            "is not a valid S3 bucket name",
        ),
        (
            "type = \"s3\"\nbucket = \"-acme\"",
            "is not a valid S3 bucket name",
        ),
        (
            "type = \"s3\"\nbucket = \"a..b\"",
            "is not a valid S3 bucket name",
        ),
        (
            "type = \"s3\"\nbucket = \"192.168.1.1\"",
            "is not a valid S3 bucket name",
        ),
        (
            "type = \"s3\"\nbucket = \"b-1\"\nprefix = \"nova\"",
            "`backend.prefix`: `nova` must be empty or a relative key prefix ending with `/`",
        ),
        (
            "type = \"s3\"\nbucket = \"b-1\"\nprefix = \"/nova/\"",
            "`backend.prefix`",
        ),
        (
            "type = \"s3\"\nbucket = \"b-1\"\nprefix = \"a//b/\"",
            "`backend.prefix`",
        ),
        (
            "type = \"s3\"\nbucket = \"b-1\"\nprefix = \"a/../b/\"",
            "`backend.prefix`",
        ),
        (
            "type = \"s3\"\nbucket = \"b-1\"\nprefix = \"my prefix/\"",
            "`backend.prefix`",
        ),
        (
            "type = \"s3\"\nbucket = \"b-1\"\nregion = \"mars-1\"",
            "`backend.region`: `mars-1` is not an AWS region",
        ),
        (
            "type = \"s3\"\nbucket = \"b-1\"\nkms_key_id = \"my key\"",
            "`backend.kms_key_id`: `my key` is not a KMS key id",
        ),
        (
            "type = \"s3\"\nbucket = \"b-1\"\nlock_lease_seconds = 1",
            "`backend.lock_lease_seconds`: must be between 2 and 3600",
        ),
        (
            "type = \"s3\"\nbucket = \"b-1\"\nlock_lease_seconds = \"60\"",
            "`backend.lock_lease_seconds`: must be an integer",
        ),
        (
            "type = \"s3\"\nbucket = \"b-1\"\nbukcet = \"b\"",
            "`backend.bukcet`: unknown key; known keys: type, bucket, prefix, region, kms_key_id",
        ),
        (
            "bucket = \"b-1\"",
            "`backend.bucket`: only applies to `type = \"s3\"`",
        ),
    ];
    for (lines, expected) in cases {
        let text = format!("{BASE}\n[backend]\n{lines}\n");
        let err = backend_of(&text, &no_env).unwrap_err();
        assert!(
            err.contains(expected),
            "for `{lines}` expected `{expected}` in: {err}"
        );
        assert!(
            err.starts_with("Nova.toml: "),
            "error names the file: {err}"
        );
    }
    let env = |k: &str| (k == "NOVA_BACKEND_LOCK_LEASE_SECONDS").then(|| "soon".to_string());
    let text = format!("{BASE}\n[backend]\ntype = \"s3\"\nbucket = \"b-1\"\n");
    assert_eq!(
        backend_of(&text, &env).unwrap_err(),
        "environment variable NOVA_BACKEND_LOCK_LEASE_SECONDS: `backend.lock_lease_seconds`: `soon` is not an integer"
    );
}
