//! Shows a plan: a Terraform-like human rendering (optionally colored with ANSI codes) and
//! a stable JSON format for machines.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::json;

use super::{Action, Change, FieldDiff, Plan};
use crate::model::{Inputs, Value};

/// Version of the JSON format produced by [`render_json`].
pub const JSON_FORMAT_VERSION: u64 = 1;

/// The line shown when a plan changes nothing.
pub const NO_CHANGES: &str = "No changes. Your infrastructure matches the configuration.";

/// The line shown when a refresh-only plan finds nothing changed outside nova.
pub const NO_REFRESH_CHANGES: &str =
    "No changes. The state matches what exists in AWS: there is nothing to record.";

/// The plan as a person reads it: a legend, one block per change that does something
/// (sorted by address), and the closing `Plan: ...` line. A refresh-only plan lists what
/// changed outside nova instead.
pub fn render_human(plan: &Plan, color: bool) -> String {
    let paint = Paint { color };
    if plan.scope.refresh_only {
        return render_refresh_only(plan, &paint);
    }
    if !plan.has_changes() {
        return format!("{}\n", paint.bold(&paint.green(NO_CHANGES)));
    }
    let changes = acting(plan);
    let mut out = legend(&changes, !plan.deposed.is_empty(), &paint);
    let _ = writeln!(
        out,
        "\nnova will perform the following actions on stack {:?}:",
        plan.stack
    );
    for change in changes {
        out.push('\n');
        let id = plan.records.get(&change.address).map(|r| r.id.as_str());
        out.push_str(&render_change(change, id, &paint));
    }
    for deposed in &plan.deposed {
        let _ = writeln!(
            out,
            "\n  # {} (deposed object {}) will be destroyed (left by an interrupted replacement)\n{} {} (deposed {})",
            deposed.address,
            deposed.id,
            paint.symbol(Action::Delete),
            deposed.address,
            deposed.id
        );
    }
    let s = plan.summary();
    let imports = if s.import > 0 {
        format!("{} to import, ", s.import)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\n{}",
        paint.bold(&format!(
            "Plan: {imports}{} to add, {} to change, {} to replace, {} to destroy.",
            s.add, s.change, s.replace, s.destroy
        ))
    );
    out
}

/// The changes that do something, sorted by address.
fn acting(plan: &Plan) -> Vec<&Change> {
    let mut changes: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    changes.sort_by(|a, b| a.address.cmp(&b.address));
    changes
}

/// A refresh-only plan: what changed outside nova (changed, or deleted), and what applying
/// it does (records that in the state; nothing in AWS).
fn render_refresh_only(plan: &Plan, paint: &Paint) -> String {
    if !plan.has_changes() {
        return format!("{}\n", paint.bold(&paint.green(NO_REFRESH_CHANGES)));
    }
    let mut out = format!(
        "Objects have changed outside of nova: stack {:?} records them differently.\n",
        plan.stack
    );
    for change in acting(plan) {
        out.push('\n');
        let (what, symbol) = match change.action {
            Action::Delete => (
                "has been deleted outside nova",
                paint.symbol(Action::Delete),
            ),
            _ => ("has changed outside nova", paint.symbol(Action::Update)),
        };
        let _ = writeln!(
            out,
            "  {}\n{symbol} {}",
            paint.bold(&format!("# {} {what}", change.address)),
            change.address
        );
        if change.action == Action::Update {
            let lines: Vec<Line> = change
                .diffs
                .iter()
                .map(|d| diff_line(d, false, paint))
                .collect();
            write_lines(&mut out, &lines, paint);
            if lines.is_empty() {
                let _ = writeln!(out, "        # (only its outputs changed)");
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{}",
        paint.bold(&format!(
            "This is a refresh-only plan: applying it records {} changed and {} deleted object(s) in the state and changes nothing in AWS.",
            plan.records.set.len(),
            plan.records.forget.len()
        ))
    );
    out
}

/// The plan as stable JSON: `format_version`, `stack`, `lineage`, `serial`, every change
/// (no-ops included), the scope (`refresh_only`, `targets`, `excludes`), the state-only
/// records (objects imported or refreshed: `set`; forgotten: `forget`) and the summary. Values use [`Value::to_json`], so unknowns are
/// `{"$unknown": true}`.
pub fn render_json(plan: &Plan) -> serde_json::Value {
    let s = plan.summary();
    json!({
        "format_version": JSON_FORMAT_VERSION,
        "stack": plan.stack,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "changes": plan.changes.iter().map(change_json).collect::<Vec<_>>(),
        "deposed": plan.deposed.iter().map(|d| json!({ "address": d.address.to_string(), "id": d.id })).collect::<Vec<_>>(),
        "scope": {
            "refresh_only": plan.scope.refresh_only,
            "targets": plan.scope.targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "excludes": plan.scope.excludes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "records": {
            "set": plan.records.set.iter().map(|r| json!({ "address": r.address.to_string(), "id": r.id })).collect::<Vec<_>>(),
            "forget": plan.records.forget.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "summary": {
            "import": s.import,
            "add": s.add,
            "change": s.change,
            "replace": s.replace,
            "destroy": s.destroy,
        },
    })
}

/// The JSON name of an action.
pub fn action_name(action: Action) -> &'static str {
    match action {
        Action::NoOp => "no_op",
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace { .. } => "replace",
        Action::Delete => "delete",
        Action::Import => "import",
    }
}

fn change_json(c: &Change) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    obj.insert("address".into(), json!(c.address.to_string()));
    obj.insert("kind".into(), json!(c.address.kind()));
    obj.insert("action".into(), json!(action_name(c.action)));
    if let Action::Replace {
        create_before_destroy,
    } = c.action
    {
        obj.insert("create_before_destroy".into(), json!(create_before_destroy));
    }
    obj.insert("before".into(), inputs_json(c.before.as_ref()));
    obj.insert("after".into(), inputs_json(c.after.as_ref()));
    let diffs: Vec<serde_json::Value> = c
        .diffs
        .iter()
        .map(|d| {
            json!({
                "field": d.field,
                "before": d.before.as_ref().map_or(serde_json::Value::Null, Value::to_json),
                "after": d.after.as_ref().map_or(serde_json::Value::Null, Value::to_json),
                "forces_replacement": d.forces_replacement,
            })
        })
        .collect();
    obj.insert("diffs".into(), json!(diffs));
    obj.insert("reasons".into(), json!(c.reasons));
    serde_json::Value::Object(obj)
}

fn inputs_json(inputs: Option<&Inputs>) -> serde_json::Value {
    match inputs {
        Some(map) => {
            serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
        }
        None => serde_json::Value::Null,
    }
}

/// ANSI styling, or none.
struct Paint {
    color: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }
    fn green(&self, text: &str) -> String {
        self.wrap("32", text)
    }
    fn yellow(&self, text: &str) -> String {
        self.wrap("33", text)
    }
    fn red(&self, text: &str) -> String {
        self.wrap("31", text)
    }

    /// A field's or map key's one-character marker.
    fn mark(&self, mark: Mark) -> String {
        match mark {
            Mark::Add => self.green("+"),
            Mark::Change => self.yellow("~"),
            Mark::Remove => self.red("-"),
        }
    }

    /// A resource's three-character action symbol, right-aligned.
    fn symbol(&self, action: Action) -> String {
        match action {
            Action::NoOp => "   ".to_string(),
            Action::Create => format!("  {}", self.green("+")),
            Action::Update => format!("  {}", self.yellow("~")),
            Action::Replace {
                create_before_destroy: false,
            } => format!("{}/{}", self.red("-"), self.green("+")),
            Action::Replace {
                create_before_destroy: true,
            } => format!("{}/{}", self.green("+"), self.red("-")),
            Action::Delete => format!("  {}", self.red("-")),
            Action::Import => format!("  {}", self.green("<")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Add,
    Change,
    Remove,
}

/// One field line: `<mark> <field> = <text>`.
struct Line {
    mark: Mark,
    field: String,
    text: String,
}

fn legend(changes: &[&Change], deposed: bool, paint: &Paint) -> String {
    let mut used: BTreeSet<Action> = changes.iter().map(|c| c.action).collect();
    if deposed {
        used.insert(Action::Delete);
    }
    let mut out = String::from("Resource actions are indicated with the following symbols:\n");
    let entries = [
        (Action::Import, "import an existing object"),
        (Action::Create, "create"),
        (Action::Update, "update in-place"),
        (
            Action::Replace {
                create_before_destroy: false,
            },
            "destroy and then create replacement",
        ),
        (
            Action::Replace {
                create_before_destroy: true,
            },
            "create replacement and then destroy",
        ),
        (Action::Delete, "destroy"),
    ];
    for (action, words) in entries {
        if used.contains(&action) {
            let _ = writeln!(out, "{} {words}", paint.symbol(action));
        }
    }
    out
}

/// One change's block; `imported` is the id of the object an import adopts.
fn render_change(c: &Change, imported: Option<&str>, paint: &Paint) -> String {
    let what = match c.action {
        Action::NoOp => "is unchanged".to_string(),
        Action::Create => "will be created".to_string(),
        Action::Update => "will be updated in-place".to_string(),
        Action::Replace { .. } => "must be replaced".to_string(),
        Action::Delete => "will be destroyed".to_string(),
        Action::Import => {
            let id = imported.map(|id| format!(" ({id})")).unwrap_or_default();
            if c.import_updates_in_place() {
                format!("will be imported{id} and updated in-place")
            } else {
                format!("will be imported{id}")
            }
        }
    };
    let mut header = format!("# {} {what}", c.address);
    if !c.reasons.is_empty() {
        let reasons: Vec<String> = c.reasons.iter().map(ToString::to_string).collect();
        let _ = write!(header, " ({})", reasons.join("; "));
    }
    let mut out = format!("  {}\n", paint.bold(&header));
    let _ = writeln!(out, "{} {}", paint.symbol(c.action), c.address);
    let (lines, hidden) = field_lines(c, paint);
    write_lines(&mut out, &lines, paint);
    if hidden > 0 {
        let noun = if hidden == 1 { "field" } else { "fields" };
        let _ = writeln!(out, "        # ({hidden} unchanged {noun} hidden)");
    }
    out
}

/// `<mark> <field> = <text>` per line, the fields padded to one width.
fn write_lines(out: &mut String, lines: &[Line], paint: &Paint) {
    let width = lines.iter().map(|l| l.field.len()).max().unwrap_or(0);
    for line in lines {
        let _ = writeln!(
            out,
            "      {} {:<width$} = {}",
            paint.mark(line.mark),
            line.field,
            line.text
        );
    }
}

/// The field lines of a change and how many unchanged fields are not shown.
fn field_lines(c: &Change, paint: &Paint) -> (Vec<Line>, usize) {
    let empty = Inputs::new();
    match c.action {
        Action::NoOp => (Vec::new(), 0),
        Action::Create => {
            let after = c.after.as_ref().unwrap_or(&empty);
            let lines = after
                .iter()
                .map(|(field, v)| Line {
                    mark: Mark::Add,
                    field: field.clone(),
                    text: show_field(v, Mark::Add, paint),
                })
                .collect();
            (lines, 0)
        }
        Action::Delete => {
            let before = c.before.as_ref().unwrap_or(&empty);
            let lines = before
                .iter()
                .map(|(field, v)| Line {
                    mark: Mark::Remove,
                    field: field.clone(),
                    text: format!("{} -> null", show_field(v, Mark::Remove, paint)),
                })
                .collect();
            (lines, 0)
        }
        Action::Update | Action::Replace { .. } | Action::Import => {
            let replace = matches!(c.action, Action::Replace { .. });
            let lines: Vec<Line> = c
                .diffs
                .iter()
                .map(|d| diff_line(d, replace, paint))
                .collect();
            let fields: BTreeSet<&String> = c
                .before
                .iter()
                .chain(c.after.iter())
                .flat_map(|m| m.keys())
                .collect();
            let hidden = fields.len().saturating_sub(lines.len());
            (lines, hidden)
        }
    }
}

/// `~ field = before -> after`, `+ field = after` or `- field = before -> null`; maps on
/// both sides show only their changed keys.
fn diff_line(d: &FieldDiff, replace: bool, paint: &Paint) -> Line {
    let forces = (replace && d.forces_replacement).then(|| paint.red("# forces replacement"));
    let text = match (&d.before, &d.after) {
        (Some(Value::Map(before)), Some(Value::Map(after)))
            if !before.is_empty() || !after.is_empty() =>
        {
            map_diff(before, after, forces.as_deref(), paint)
        }
        (before, after) => {
            let mut text = match (before, after) {
                (None, Some(after)) => show_field(after, Mark::Add, paint),
                (Some(before), None) => {
                    format!("{} -> null", show_field(before, Mark::Remove, paint))
                }
                (Some(before), Some(after)) => format!("{} -> {}", show(before), show(after)),
                (None, None) => "null".to_string(),
            };
            if let Some(forces) = forces {
                text.push(' ');
                text.push_str(&forces);
            }
            text
        }
    };
    let mark = match (&d.before, &d.after) {
        (None, Some(_)) => Mark::Add,
        (Some(_), None) => Mark::Remove,
        _ => Mark::Change,
    };
    Line {
        mark,
        field: d.field.clone(),
        text,
    }
}

/// Where the keys of a map shown one per line start (under the field line's `=`).
const MAP_KEY_INDENT: &str = "          ";
/// Where a multi-line map's closing brace goes.
const MAP_CLOSE_INDENT: &str = "        ";

/// A map's changed keys, one per line, aligned and sorted, as Terraform shows them:
///
/// ```text
/// {
///           + "Environment" = "prod"
///           ~ "Name"        = "main" -> "main-vpc"
///             # (1 unchanged element hidden)
///         }
/// ```
fn map_diff(
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
    forces: Option<&str>,
    paint: &Paint,
) -> String {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut unchanged = 0;
    let entries: Vec<(Mark, String, String)> = keys
        .into_iter()
        .filter_map(|k| match (before.get(k), after.get(k)) {
            (None, Some(a)) => Some((Mark::Add, format!("{k:?}"), show(a))),
            (Some(b), None) => Some((
                Mark::Remove,
                format!("{k:?}"),
                format!("{} -> null", show(b)),
            )),
            (Some(b), Some(a)) if b != a || !a.is_known() => Some((
                Mark::Change,
                format!("{k:?}"),
                format!("{} -> {}", show(b), show(a)),
            )),
            _ => {
                unchanged += 1;
                None
            }
        })
        .collect();
    let mut out = String::from("{");
    if let Some(forces) = forces {
        out.push(' ');
        out.push_str(forces);
    }
    out.push_str(&map_lines(&entries, paint));
    if unchanged > 0 {
        let noun = if unchanged == 1 {
            "element"
        } else {
            "elements"
        };
        let _ = write!(
            out,
            "\n{MAP_KEY_INDENT}  # ({unchanged} unchanged {noun} hidden)"
        );
    }
    let _ = write!(out, "\n{MAP_CLOSE_INDENT}}}");
    out
}

/// `\n<indent><mark> <key> = <text>` for each entry, keys padded to one width.
fn map_lines(entries: &[(Mark, String, String)], paint: &Paint) -> String {
    let width = entries.iter().map(|(_, k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (mark, key, text) in entries {
        let _ = write!(
            out,
            "\n{MAP_KEY_INDENT}{} {key:<width$} = {text}",
            paint.mark(*mark)
        );
    }
    out
}

/// A whole field value being added or removed: a non-empty map one key per line (every key
/// marked `mark`), anything else on one line.
fn show_field(v: &Value, mark: Mark, paint: &Paint) -> String {
    match v {
        Value::Map(map) if !map.is_empty() => {
            let entries: Vec<(Mark, String, String)> = map
                .iter()
                .map(|(k, v)| (mark, format!("{k:?}"), show(v)))
                .collect();
            format!("{{{}\n{MAP_CLOSE_INDENT}}}", map_lines(&entries, paint))
        }
        other => show(other),
    }
}

/// A value on one line: strings quoted, map keys quoted, unknowns `(known after apply)`.
fn show(v: &Value) -> String {
    match v {
        Value::List(items) => {
            let parts: Vec<String> = items.iter().map(show).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Map(map) if map.is_empty() => "{}".to_string(),
        Value::Map(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k:?} = {}", show(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{Blueprint, Resource};
    use crate::plan::fixtures::*;
    use crate::plan::{destroy_plan, NoNotes, Reason};
    use crate::state::{ResourceState, State};

    fn plan_of(blueprint: &Blueprint, state: &State) -> Plan {
        plan_of_stack("demo", blueprint, state, None)
    }

    fn resource_state(address: &str, id: &str, inputs: Inputs, deps: &[&str]) -> ResourceState {
        let address = addr(address);
        ResourceState {
            kind: address.kind().to_string(),
            address,
            id: id.to_string(),
            inputs,
            outputs: [("id".to_string(), Value::str(id))].into(),
            dependencies: deps.iter().map(|d| addr(d)).collect(),
        }
    }

    /// One change of every action: the VPC's tags change (update), the subnet's CIDR
    /// forces a replacement, the deployment's triggers a create-before-destroy one, a new
    /// security group is created, an old KMS key is deleted, and the IAM role is unchanged.
    fn mixed_plan() -> Plan {
        let mut state = applied_network_state();
        let vpc_state = state.get(&addr("aws_vpc.main")).unwrap().clone();
        let mut vpc_inputs = vpc_state.inputs.clone();
        vpc_inputs.insert("tags".into(), tags(&[("Name", "main"), ("Owner", "alice")]));
        state.upsert(ResourceState {
            inputs: vpc_inputs,
            ..vpc_state
        });
        let role_inputs: Inputs = [
            ("assume_role_policy".to_string(), Value::str("{}")),
            ("name".to_string(), Value::str("app")),
        ]
        .into();
        state.upsert(resource_state(
            "aws_iam_role.app",
            "app",
            role_inputs.clone(),
            &[],
        ));
        let deployment_inputs: Inputs = [
            ("rest_api_id".to_string(), Value::str("abc123")),
            ("triggers".to_string(), tags(&[("code", "v1")])),
        ]
        .into();
        state.upsert(resource_state(
            "aws_api_gateway_deployment.main",
            "dep-1",
            deployment_inputs,
            &[],
        ));
        state.upsert(resource_state(
            "aws_kms_key.old",
            "key-1",
            [
                ("deletion_window_days".to_string(), Value::Int(7)),
                ("description".to_string(), Value::str("old key")),
            ]
            .into(),
            &[],
        ));

        let mut b = network_blueprint_with(&[(
            "aws_vpc.main",
            "tags",
            tags(&[("Environment", "prod"), ("Name", "main-vpc")]),
        )]);
        // Part of the old block: the old subnet must go first.
        set_input(
            &mut b,
            "aws_subnet.public",
            "cidr_block",
            Value::str("10.0.1.0/25"),
        );
        let vpc = addr("aws_vpc.main");
        b.resources.push(
            Resource::new(addr("aws_security_group.web"))
                .with("name", "web")
                .with("description", "web servers")
                .with("vpc_id", Value::reference(&vpc, "id"))
                .with(
                    "ingress",
                    Value::List(vec![Value::Map(
                        [
                            (
                                "cidr_blocks".to_string(),
                                Value::list_of_strings(["0.0.0.0/0"]),
                            ),
                            ("from_port".to_string(), Value::Int(443)),
                            ("protocol".to_string(), Value::str("tcp")),
                            ("to_port".to_string(), Value::Int(443)),
                        ]
                        .into(),
                    )]),
                )
                .with("tags", tags(&[("Name", "web")])),
        );
        b.resources.push(
            Resource::new(addr("aws_iam_role.app"))
                .with("assume_role_policy", "{}")
                .with("name", "app"),
        );
        b.resources.push(
            Resource::new(addr("aws_api_gateway_deployment.main"))
                .with("rest_api_id", "abc123")
                .with("triggers", tags(&[("code", "v2")])),
        );
        let mut p = plan_of(&b, &state);
        // What the caller adds for a KMS key (the provider's delete note).
        let key = p
            .changes
            .iter_mut()
            .find(|c| c.address == addr("aws_kms_key.old"))
            .unwrap();
        key.reasons.push(Reason::ProviderNote {
            note: "the key is scheduled for deletion in 7 days".to_string(),
        });
        p
    }

    #[test]
    fn fresh_create_of_a_small_stack() {
        let p = plan_of(&network_blueprint(), &empty_state());
        insta::assert_snapshot!(render_human(&p, false));
    }

    #[test]
    fn mixed_plan_shows_every_action() {
        let p = mixed_plan();
        let actions: BTreeMap<String, &str> = p
            .changes
            .iter()
            .map(|c| (c.address.to_string(), action_name(c.action)))
            .collect();
        assert_eq!(
            actions,
            [
                ("aws_api_gateway_deployment.main".to_string(), "replace"),
                ("aws_iam_role.app".to_string(), "no_op"),
                ("aws_kms_key.old".to_string(), "delete"),
                ("aws_security_group.web".to_string(), "create"),
                ("aws_subnet.public".to_string(), "replace"),
                ("aws_vpc.main".to_string(), "update"),
            ]
            .into()
        );
        insta::assert_snapshot!(render_human(&p, false));
    }

    #[test]
    fn no_change_plan() {
        let p = plan_of(&network_blueprint(), &applied_network_state());
        let text = render_human(&p, false);
        assert_eq!(
            text,
            "No changes. Your infrastructure matches the configuration.\n"
        );
        insta::assert_snapshot!(text);
    }

    #[test]
    fn destroy_plan_lists_what_goes() {
        let p = destroy_plan("demo", &applied_network_state(), &NoNotes);
        insta::assert_snapshot!(render_human(&p, false));
    }

    #[test]
    fn color_only_when_asked() {
        let p = mixed_plan();
        let plain = render_human(&p, false);
        let colored = render_human(&p, true);
        assert!(!plain.contains('\x1b'));
        assert!(colored.contains("\x1b[32m+\x1b[0m"), "green +");
        assert!(colored.contains("\x1b[33m~\x1b[0m"), "yellow ~");
        assert!(colored.contains("\x1b[31m-\x1b[0m/\x1b[32m+\x1b[0m aws_subnet.public"));
        assert!(
            colored.contains("\x1b[32m+\x1b[0m/\x1b[31m-\x1b[0m aws_api_gateway_deployment.main")
        );
        // Stripping the codes gives back the plain text.
        assert_eq!(strip_ansi(&colored), plain);
        let none = plan_of(&network_blueprint(), &applied_network_state());
        assert!(!render_human(&none, false).contains('\x1b'));
        assert!(render_human(&none, true).contains('\x1b'));
    }

    fn strip_ansi(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn json_format() {
        let b =
            network_blueprint_with(&[("aws_vpc.main", "cidr_block", Value::str("10.1.0.0/16"))]);
        let p = plan_of(&b, &applied_network_state());
        let json = render_json(&p);
        assert_eq!(json["format_version"], 1);
        assert_eq!(json["summary"]["replace"], 2);
        insta::assert_snapshot!(serde_json::to_string_pretty(&json).unwrap());
    }

    #[test]
    fn json_actions_and_unknowns() {
        let p = mixed_plan();
        let json = render_json(&p);
        let changes = json["changes"].as_array().unwrap();
        assert_eq!(changes.len(), p.changes.len());
        let by_address = |a: &str| {
            changes
                .iter()
                .find(|c| c["address"] == a)
                .unwrap_or_else(|| panic!("{a} missing"))
        };
        assert_eq!(by_address("aws_iam_role.app")["action"], "no_op");
        assert_eq!(
            by_address("aws_kms_key.old")["after"],
            serde_json::Value::Null
        );
        let dep = by_address("aws_api_gateway_deployment.main");
        assert_eq!(dep["create_before_destroy"], true);
        assert!(by_address("aws_vpc.main")
            .get("create_before_destroy")
            .is_none());
        assert_eq!(
            by_address("aws_security_group.web")["kind"],
            "aws_security_group"
        );
        assert_eq!(
            json["summary"],
            json!({"import": 0, "add": 1, "change": 1, "replace": 2, "destroy": 1})
        );
        // A create whose reference is unknown shows the marker.
        let fresh = plan_of(&network_blueprint(), &empty_state());
        let json = render_json(&fresh);
        let subnet = &json["changes"][0];
        assert_eq!(subnet["address"], "aws_subnet.public");
        assert_eq!(subnet["after"]["vpc_id"], json!({"$unknown": true}));
    }
}
