//! What each `Nova.toml` key does when it changes on a deployed stack: the changes the
//! tests make (one per row of the table "When a setting changes" in docs/stack.md), the
//! table itself (rendered from plans, read back from the docs) and a plan's effect in the
//! table's terms. `tests/config_keys.rs` renders the table from plans against the fake
//! cloud and checks it equals the docs; `tests/config_changes.rs` makes each change on a
//! real stack in LocalStack and checks its plan is exactly the docs' row.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One change of one key.
#[derive(Debug, Clone, Copy)]
pub struct KeyChange {
    pub key: &'static str,
    /// The change as the table shows it.
    pub shown: &'static str,
    /// `NOVA_*` settings of the deployed stack, on top of the repository's Nova.toml.
    pub before: &'static [(&'static str, &'static str)],
    /// `NOVA_*` settings after the change.
    pub after: &'static [(&'static str, &'static str)],
    /// The top-level `project` after the change (`None`: Nova.toml's, `nova`).
    pub project: Option<&'static str>,
}

const NONE: &[(&str, &str)] = &[];
const AZ3: &[(&str, &str)] = &[("NOVA_AZ_COUNT", "3")];
const PER_AZ: &[(&str, &str)] = &[("NOVA_NAT", "per_az")];
const THREE: &[(&str, &str)] = &[("NOVA_INSTANCE_COUNT", "3")];
const BIG_DISK: &[(&str, &str)] = &[("NOVA_ROOT_VOLUME_SIZE", "16")];

/// Every change of the table, in its order (by key as `Nova.toml` lists them, then
/// `project`).
pub const CHANGES: &[KeyChange] = &[
    KeyChange {
        key: "environment",
        shown: "`Production` → `Staging`",
        before: NONE,
        after: &[("NOVA_ENVIRONMENT", "Staging")],
        project: None,
    },
    KeyChange {
        key: "region",
        shown: "`us-east-1` → `us-west-2`",
        before: NONE,
        after: &[("NOVA_REGION", "us-west-2")],
        project: None,
    },
    KeyChange {
        key: "vpc_cidr",
        shown: "`10.0.0.0/16` → `10.1.0.0/16`",
        before: NONE,
        after: &[("NOVA_VPC_CIDR", "10.1.0.0/16")],
        project: None,
    },
    KeyChange {
        key: "az_count",
        shown: "2 → 3",
        before: NONE,
        after: AZ3,
        project: None,
    },
    KeyChange {
        key: "az_count",
        shown: "3 → 2",
        before: AZ3,
        after: NONE,
        project: None,
    },
    KeyChange {
        key: "az_count",
        shown: "2 → 3 with `nat = \"per_az\"`",
        before: PER_AZ,
        after: &[("NOVA_NAT", "per_az"), ("NOVA_AZ_COUNT", "3")],
        project: None,
    },
    KeyChange {
        key: "az_count",
        shown: "3 → 2 with `nat = \"per_az\"`",
        before: &[("NOVA_NAT", "per_az"), ("NOVA_AZ_COUNT", "3")],
        after: PER_AZ,
        project: None,
    },
    KeyChange {
        key: "availability_zones",
        shown: "`us-east-1a, us-east-1b` → `us-east-1a, us-east-1c`",
        before: NONE,
        after: &[("NOVA_AVAILABILITY_ZONES", "us-east-1a,us-east-1c")],
        project: None,
    },
    KeyChange {
        key: "availability_zones",
        shown: "the same, with new CIDRs for the moved zone",
        before: NONE,
        after: &[
            ("NOVA_AVAILABILITY_ZONES", "us-east-1a,us-east-1c"),
            ("NOVA_PUBLIC_SUBNET_CIDRS", "10.0.0.0/24,10.0.11.0/24"),
            ("NOVA_PRIVATE_SUBNET_CIDRS", "10.0.128.0/24,10.0.139.0/24"),
        ],
        project: None,
    },
    KeyChange {
        key: "public_subnet_cidrs",
        shown: "zone blocks → `10.0.0.0/24, 10.0.10.0/24`",
        before: NONE,
        after: &[("NOVA_PUBLIC_SUBNET_CIDRS", "10.0.0.0/24,10.0.10.0/24")],
        project: None,
    },
    KeyChange {
        key: "private_subnet_cidrs",
        shown: "zone blocks → `10.0.128.0/24, 10.0.140.0/24`",
        before: NONE,
        after: &[("NOVA_PRIVATE_SUBNET_CIDRS", "10.0.128.0/24,10.0.140.0/24")],
        project: None,
    },
    KeyChange {
        key: "nat",
        shown: "`single` → `per_az`",
        before: NONE,
        after: PER_AZ,
        project: None,
    },
    KeyChange {
        key: "nat",
        shown: "`per_az` → `single`",
        before: PER_AZ,
        after: NONE,
        project: None,
    },
    KeyChange {
        key: "instance_count",
        shown: "2 → 3",
        before: NONE,
        after: THREE,
        project: None,
    },
    KeyChange {
        key: "instance_count",
        shown: "3 → 2",
        before: THREE,
        after: NONE,
        project: None,
    },
    KeyChange {
        key: "instance_type",
        shown: "`t3.micro` → `t3.small`",
        before: NONE,
        after: &[("NOVA_INSTANCE_TYPE", "t3.small")],
        project: None,
    },
    KeyChange {
        key: "ami",
        shown: "the recorded image → another",
        before: NONE,
        after: &[("NOVA_AMI", "@OTHER_AMI@")],
        project: None,
    },
    KeyChange {
        key: "root_volume_size",
        shown: "8 → 16",
        before: NONE,
        after: BIG_DISK,
        project: None,
    },
    KeyChange {
        key: "root_volume_size",
        shown: "16 → 8",
        before: BIG_DISK,
        after: NONE,
        project: None,
    },
    KeyChange {
        key: "web_ingress_cidrs",
        shown: "`0.0.0.0/0` → `203.0.113.0/24`",
        before: NONE,
        after: &[("NOVA_WEB_INGRESS_CIDRS", "203.0.113.0/24")],
        project: None,
    },
    KeyChange {
        key: "log_retention_days",
        shown: "90 → 30",
        before: NONE,
        after: &[("NOVA_LOG_RETENTION_DAYS", "30")],
        project: None,
    },
    KeyChange {
        key: "kms_deletion_window_days",
        shown: "7 → 14",
        before: NONE,
        after: &[("NOVA_KMS_DELETION_WINDOW_DAYS", "14")],
        project: None,
    },
    KeyChange {
        key: "health_schedule",
        shown: "`rate(5 minutes)` → `cron(0/5 * * * ? *)`",
        before: NONE,
        after: &[("NOVA_HEALTH_SCHEDULE", "cron(0/5 * * * ? *)")],
        project: None,
    },
    KeyChange {
        key: "lambda_memory_mb",
        shown: "128 → 256",
        before: NONE,
        after: &[("NOVA_LAMBDA_MEMORY_MB", "256")],
        project: None,
    },
    KeyChange {
        key: "lambda_timeout_seconds",
        shown: "30 → 60",
        before: NONE,
        after: &[("NOVA_LAMBDA_TIMEOUT_SECONDS", "60")],
        project: None,
    },
    KeyChange {
        key: "project",
        shown: "`nova` → `novb`",
        before: NONE,
        after: NONE,
        project: Some("novb"),
    },
];

impl KeyChange {
    /// The row's first two cells, which name it.
    pub fn id(&self) -> (String, String) {
        (format!("`{}`", self.key), self.shown.to_string())
    }

    /// `after` with `@OTHER_AMI@` replaced by `other_ami`.
    pub fn after_with(&self, other_ami: &str) -> Vec<(String, String)> {
        self.after
            .iter()
            .map(|(k, v)| (k.to_string(), v.replace("@OTHER_AMI@", other_ami)))
            .collect()
    }

    /// The repository's Nova.toml with this change's project.
    pub fn config_text(&self) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Nova.toml");
        let text = std::fs::read_to_string(path).expect("Nova.toml");
        match self.project {
            Some(project) => {
                text.replacen("project = \"nova\"", &format!("project = \"{project}\""), 1)
            }
            None => text,
        }
    }
}

/// What a change does, in the table's terms: the addresses of each action (a kind whose
/// every address in the plan has the action is `kind.*`; replacements that delete the old
/// object first after "delete first:"), or why it is refused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Effect {
    pub in_place: String,
    pub replaced: String,
    pub added: String,
    pub removed: String,
    pub refused: String,
}

/// A plan document (`nova plan --json`, or `render_json` of a plan) summarised as an
/// [`Effect`].
pub fn effect_of(plan: &serde_json::Value) -> Effect {
    let changes: Vec<&serde_json::Value> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .collect();
    let all: Vec<String> = changes
        .iter()
        .map(|c| c["address"].as_str().expect("address").to_string())
        .collect();
    let with = |action: &str| -> Vec<String> {
        changes
            .iter()
            .filter(|c| c["action"] == action)
            .map(|c| c["address"].as_str().unwrap().to_string())
            .collect()
    };
    let replaced = |create_first: bool| -> Vec<String> {
        changes
            .iter()
            .filter(|c| c["action"] == "replace" && c["create_before_destroy"] == create_first)
            .map(|c| c["address"].as_str().unwrap().to_string())
            .collect()
    };
    let (new_first, old_first) = (replaced(true), replaced(false));
    let replaced = match (new_first.is_empty(), old_first.is_empty()) {
        (_, true) => compress(&new_first, &all),
        (true, false) => format!("delete first: {}", compress(&old_first, &all)),
        (false, false) => format!(
            "{}; delete first: {}",
            compress(&new_first, &all),
            compress(&old_first, &all)
        ),
    };
    Effect {
        in_place: compress(&with("update"), &all),
        replaced,
        added: compress(&with("create"), &all),
        removed: compress(&with("delete"), &all),
        refused: String::new(),
    }
}

/// The refusal's first line, as the table shows it.
pub fn refusal(message: &str) -> Effect {
    let none = || "—".to_string();
    Effect {
        in_place: none(),
        replaced: none(),
        added: none(),
        removed: none(),
        refused: message
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

fn kind_of(address: &str) -> &str {
    address.split_once('.').map_or(address, |(k, _)| k)
}

/// `addresses` as a cell: `kind.*` for a kind whose every address (in `all`) is there,
/// else `kind.name[0, 1]` with the indices of one name together; `—` for none.
pub fn compress(addresses: &[String], all: &[String]) -> String {
    if addresses.is_empty() {
        return "—".to_string();
    }
    let chosen: BTreeSet<&str> = addresses.iter().map(String::as_str).collect();
    let mut kinds: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for a in all {
        kinds.entry(kind_of(a)).or_default().push(a);
    }
    let mut parts = Vec::new();
    for (kind, members) in &kinds {
        let picked: Vec<&str> = members
            .iter()
            .copied()
            .filter(|a| chosen.contains(a))
            .collect();
        if picked.is_empty() {
            continue;
        }
        if picked.len() == members.len() && members.len() > 1 {
            parts.push(format!("`{kind}.*`"));
            continue;
        }
        let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for a in picked {
            match a.split_once('[') {
                Some((name, index)) => by_name
                    .entry(name)
                    .or_default()
                    .push(index.trim_end_matches(']')),
                None => {
                    by_name.entry(a).or_default();
                }
            }
        }
        for (name, indices) in by_name {
            if indices.is_empty() {
                parts.push(format!("`{name}`"));
            } else {
                parts.push(format!("`{name}[{}]`", indices.join(", ")));
            }
        }
    }
    parts.join(", ")
}

/// The table's header.
pub const HEADER: &str = "| key | change | in place | replaced | added | removed | refused |\n|---|---|---|---|---|---|---|";

/// One table row.
pub fn row(change: &KeyChange, effect: &Effect) -> String {
    let refused = if effect.refused.is_empty() {
        "—".to_string()
    } else {
        effect.refused.replace('|', "\\|")
    };
    let (key, shown) = change.id();
    format!(
        "| {key} | {shown} | {} | {} | {} | {} | {refused} |",
        effect.in_place, effect.replaced, effect.added, effect.removed
    )
}

/// The markers around the table in docs/stack.md.
pub const BEGIN: &str = "<!-- key changes: begin (tests/config_keys.rs renders this table) -->";
pub const END: &str = "<!-- key changes: end -->";

/// The table as docs/stack.md has it, between the markers.
pub fn documented_table() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/stack.md");
    let text = std::fs::read_to_string(path).expect("docs/stack.md");
    let start = text
        .find(BEGIN)
        .expect("the table's begin marker in docs/stack.md")
        + BEGIN.len();
    let end = text
        .find(END)
        .expect("the table's end marker in docs/stack.md");
    text[start..end].trim().to_string()
}

/// The documented effect of `change`, read from docs/stack.md.
pub fn documented(change: &KeyChange) -> Effect {
    let (key, shown) = change.id();
    let table = documented_table();
    let line = table
        .lines()
        .find(|l| {
            let cells = cells(l);
            cells.len() == 7 && cells[0] == key && cells[1] == shown
        })
        .unwrap_or_else(|| panic!("docs/stack.md has no row for {key} {shown}"));
    let c = cells(line);
    let refused = if c[6] == "—" {
        String::new()
    } else {
        c[6].replace("\\|", "|")
    };
    Effect {
        in_place: c[2].clone(),
        replaced: c[3].clone(),
        added: c[4].clone(),
        removed: c[5].clone(),
        refused,
    }
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split(" | ")
        .map(|c| c.trim().to_string())
        .collect()
}
