//! Live progress of up, destroy and refresh: one line per event, with elapsed times, like
//! `aws_vpc.main: Creating...` / `aws_vpc.main: Creation complete after 2s`.

use std::time::Duration;

use crate::apply::{ApplyError, ApplyObserver};
use crate::model::Address;

/// Prints progress lines: to stdout next to the plan text (stderr would interleave badly
/// with it), or to stderr when stdout carries JSON (`nova plan --json`).
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    to_stderr: bool,
}

impl Printer {
    pub fn stdout() -> Self {
        Printer { to_stderr: false }
    }

    pub fn stderr() -> Self {
        Printer { to_stderr: true }
    }

    fn line(&self, text: std::fmt::Arguments<'_>) {
        if self.to_stderr {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }
}

fn verb(what: &str) -> (&'static str, &'static str) {
    match what.split_whitespace().next().unwrap_or_default() {
        "create" => ("Creating...", "Creation complete"),
        "update" => ("Modifying...", "Modifications complete"),
        "delete" => ("Destroying...", "Destruction complete"),
        _ => ("Working...", "Complete"),
    }
}

fn seconds(elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}s", elapsed.as_secs())
    }
}

impl ApplyObserver for Printer {
    fn started(&self, address: &Address, what: &str) {
        let (start, _) = verb(what);
        let detail = what
            .split_once(' ')
            .map(|(_, d)| format!(" ({d})"))
            .unwrap_or_default();
        self.line(format_args!("{address}: {start}{detail}"));
    }

    fn finished(
        &self,
        address: &Address,
        what: &str,
        elapsed: Duration,
        error: Option<&ApplyError>,
    ) {
        let (_, done) = verb(what);
        match error {
            None => self.line(format_args!("{address}: {done} after {}", seconds(elapsed))),
            Some(err) => self.line(format_args!(
                "{address}: FAILED after {}: {err}",
                seconds(elapsed)
            )),
        }
    }

    fn skipped(&self, address: &Address, upstream: &Address) {
        self.line(format_args!(
            "{address}: skipped (upstream failed: {upstream})"
        ));
    }

    fn note(&self, address: &Address, message: &str) {
        self.line(format_args!("{address}: {message}"));
    }
}
