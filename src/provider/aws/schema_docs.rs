//! docs/resources.md checked against the providers' schemas: one table row per kind, with
//! exactly the schema's input fields, outputs, force-new fields and create-before-destroy,
//! and each input's note saying whether it is unique, blocks a delete or only grows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::schemas;

/// One `| kind | inputs | outputs | force new | CBD | waits for |` row.
struct Row {
    kind: String,
    inputs: BTreeSet<String>,
    /// The parenthesised note after each input (empty when none).
    notes: BTreeMap<String, String>,
    outputs: BTreeSet<String>,
    force_new: String,
    cbd: String,
}

/// The backticked names at the top level of a cell (not inside parentheses, where the
/// docs describe the shape of a value).
fn top_level_names(cell: &str) -> BTreeSet<String> {
    names_with_notes(cell).into_keys().collect()
}

/// Each top-level backticked name with the text of the parentheses that follow it.
fn names_with_notes(cell: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    let mut depth = 0usize;
    let mut last: Option<String> = None;
    let mut rest = cell;
    while let Some(c) = rest.chars().next() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '`' => {
                let end = rest[1..].find('`').expect("closing backtick") + 1;
                if depth == 0 {
                    let name = rest[1..end].to_string();
                    names.insert(name.clone(), String::new());
                    last = Some(name);
                }
                rest = &rest[end..];
            }
            ',' if depth == 0 => last = None,
            _ => {}
        }
        if depth > 0 || c == ')' {
            if let Some(note) = last.as_ref().and_then(|n| names.get_mut(n)) {
                note.push(c);
            }
        }
        rest = &rest[c.len_utf8()..];
    }
    names
}

fn rows() -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/resources.md");
    let text = std::fs::read_to_string(&path).expect("docs/resources.md");
    text.lines()
        .filter(|l| l.starts_with("| `aws_"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            Row {
                kind: cells[0].trim_matches('`').to_string(),
                inputs: top_level_names(cells[1]),
                notes: names_with_notes(cells[1]),
                outputs: top_level_names(cells[2]),
                force_new: cells[3].to_string(),
                cbd: cells[4].to_string(),
            }
        })
        .collect()
}

#[test]
fn every_kind_has_one_row_that_matches_its_schema() {
    let rows = rows();
    let documented: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    let declared: Vec<&str> = schemas().iter().map(|s| s.kind.as_ref()).collect();
    assert_eq!(
        documented, declared,
        "docs/resources.md lists the kinds in schema order"
    );
    let mut problems = Vec::new();
    for (row, schema) in rows.iter().zip(schemas()) {
        let kind = &row.kind;
        let fields: BTreeSet<String> = schema.fields.iter().map(|f| f.name.to_string()).collect();
        if row.inputs != fields {
            problems.push(format!(
                "{kind}: inputs {:?} != schema {fields:?}",
                row.inputs
            ));
        }
        let outputs: BTreeSet<String> = schema.outputs.iter().map(|o| o.to_string()).collect();
        if row.outputs != outputs {
            problems.push(format!(
                "{kind}: outputs {:?} != schema {outputs:?}",
                row.outputs
            ));
        }
        let force_new: BTreeSet<String> = schema.force_new().map(str::to_string).collect();
        let documented_force_new = match row.force_new.as_str() {
            "all" => fields.clone(),
            cell if cell.starts_with('—') => BTreeSet::new(),
            cell => top_level_names(cell),
        };
        if documented_force_new != force_new {
            problems.push(format!(
                "{kind}: force new `{}` != schema {force_new:?}",
                row.force_new
            ));
        }
        let cbd = if schema.create_before_destroy {
            "yes"
        } else {
            "no"
        };
        if row.cbd != cbd {
            problems.push(format!("{kind}: CBD `{}` != schema {cbd}", row.cbd));
        }
        for field in schema.fields.iter() {
            let note = row.notes.get(field.name).map(String::as_str).unwrap_or("");
            for (declared, word) in [
                (field.unique.is_some(), "unique"),
                (field.blocks_delete, "blocks delete"),
                (field.grow_only, "grows"),
            ] {
                if declared != note.contains(word) {
                    problems.push(format!(
                        "{kind}: `{}` is {}{word} in the schema, its note says `{note}`",
                        field.name,
                        if declared { "" } else { "not " }
                    ));
                }
            }
        }
        if schema.taggable() != fields.contains("tags") {
            problems.push(format!("{kind}: taggable only with a `tags` field"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn notes_follow_their_name() {
    let notes = names_with_notes("`a` (unique), `b`, `c` (list (of x); blocks delete)");
    assert_eq!(notes["a"], "(unique)");
    assert_eq!(notes["b"], "");
    assert_eq!(notes["c"], "(list (of x); blocks delete)");
}

#[test]
fn top_level_names_skip_value_shapes() {
    let names = top_level_names("`routes` (list of maps: `gateway_id` (x)), `tags`");
    assert_eq!(names, BTreeSet::from(["routes".into(), "tags".into()]));
}
