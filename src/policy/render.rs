//! Printing a [`Report`]: a human table, JSON, and SARIF 2.1.0 for code-scanning tools.

use serde_json::{json, Value as Json};

use super::{rule, rules, Finding, Report, Severity};

/// Where SARIF consumers send users for rule documentation.
pub const INFORMATION_URI: &str = "https://nova.invalid/docs/checks.md";
const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// The report for a terminal: errors then warnings, each finding with its rule id,
/// address, message and remediation, and a closing count line.
pub fn render_table(report: &Report, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    };
    let mut out = String::new();
    for (severity, heading, code) in [
        (Severity::Error, "Errors", RED),
        (Severity::Warning, "Warnings", YELLOW),
    ] {
        let group: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .collect();
        if group.is_empty() {
            continue;
        }
        out.push_str(&paint(BOLD, &format!("{heading} ({})", group.len())));
        out.push('\n');
        for f in group {
            out.push_str(&format!("  {}  {}\n", paint(code, f.rule_id), location(f)));
            out.push_str(&format!("      {}\n", f.message));
            if let Some(r) = rule(f.rule_id) {
                out.push_str(&format!("      fix: {}\n", r.remediation));
            }
        }
        out.push('\n');
    }
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

fn location(f: &Finding) -> String {
    f.address
        .as_ref()
        .map_or_else(|| "(stack)".to_string(), ToString::to_string)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `2 errors, 1 warning` or `No findings: 29 rules passed.`
pub fn summary_line(report: &Report) -> String {
    if report.findings.is_empty() {
        return format!("No findings: {} rules passed.", report.rules_evaluated);
    }
    format!(
        "{}, {}",
        plural(report.errors(), "error"),
        plural(report.warnings(), "warning")
    )
}

/// The report as JSON: a summary and every finding with its rule's metadata.
pub fn render_json(report: &Report) -> Json {
    let findings: Vec<Json> = report
        .findings
        .iter()
        .map(|f| {
            let r = rule(f.rule_id);
            json!({
                "rule_id": f.rule_id,
                "severity": f.severity.as_str(),
                "address": f.address.as_ref().map(ToString::to_string),
                "message": f.message,
                "title": r.map(|r| r.title),
                "checklist_item": r.map(|r| r.checklist_item),
                "remediation": r.map(|r| r.remediation),
            })
        })
        .collect();
    json!({
        "summary": {
            "errors": report.errors(),
            "warnings": report.warnings(),
            "rules_evaluated": report.rules_evaluated,
            "exit_code": report.exit_code(),
        },
        "findings": findings,
    })
}

/// The report as a SARIF 2.1.0 log with one run: every rule in `tool.driver.rules`, every
/// finding a result located at its resource address (a logical location).
pub fn render_sarif(report: &Report) -> Json {
    let driver_rules: Vec<Json> = rules()
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": { "text": r.title },
                "fullDescription": { "text": format!("Checklist: {}", r.checklist_item) },
                "help": { "text": r.remediation },
                "defaultConfiguration": { "level": r.severity.as_str() },
            })
        })
        .collect();
    let results: Vec<Json> = report.findings.iter().map(sarif_result).collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "nova",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": INFORMATION_URI,
                    "rules": driver_rules,
                }
            },
            "results": results,
        }],
    })
}

fn sarif_result(f: &Finding) -> Json {
    let locations: Vec<Json> = f
        .address
        .iter()
        .map(|a| {
            json!({
                "logicalLocations": [{
                    "fullyQualifiedName": a.to_string(),
                    "name": a.name(),
                    "kind": "resource",
                }]
            })
        })
        .collect();
    let index = rules().iter().position(|r| r.id == f.rule_id);
    json!({
        "ruleId": f.rule_id,
        "ruleIndex": index,
        "level": f.severity.as_str(),
        "message": { "text": f.message },
        "locations": locations,
    })
}
