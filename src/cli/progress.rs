//! Live progress of up, destroy and refresh, the way Terraform shows it: one line per
//! event (`aws_vpc.main: Creating...`, `aws_vpc.main: Creation complete after 2s`), one
//! `Still creating... [40s elapsed]` line per 10 s of a resource that waits (with what it
//! waits for), a provider's note only when it says something new, and on a terminal a
//! live status line (done, in progress, the longest wait) under the lines.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::apply::{ApplyError, ApplyObserver};
use crate::model::Address;

/// How often a resource that is still in progress says so.
pub const STILL_EVERY: Duration = Duration::from_secs(10);

/// How often the ticker looks at what is in progress (and redraws the status line).
const TICK: Duration = Duration::from_millis(500);

/// Prints progress lines: to stdout next to the plan text (stderr would interleave badly
/// with it), or to stderr when stdout carries JSON (`nova plan --json`).
#[derive(Clone)]
pub struct Printer {
    inner: Arc<Inner>,
}

struct Inner {
    sink: Sink,
    /// Draw the live status line (the output is a terminal and `NO_COLOR` is not set).
    live: bool,
    board: Mutex<Board>,
}

/// Where the lines go.
enum Sink {
    Stdout,
    Stderr,
    #[cfg(test)]
    Memory(Mutex<String>),
}

/// What is in progress and what is done.
#[derive(Default)]
struct Board {
    running: BTreeMap<Address, Running>,
    done: usize,
    failed: usize,
    /// The status line is on screen (it must be cleared before the next line).
    status_shown: bool,
}

struct Running {
    /// `creating`, `modifying`, `destroying`, ...
    doing: &'static str,
    started: Instant,
    /// How many `Still ...` lines were printed for it.
    stills: u64,
    /// The provider's last note (what it waits for, why it retries).
    note: Option<String>,
}

impl Printer {
    pub fn stdout() -> Self {
        Printer::new(Sink::Stdout, live(std::io::stdout().is_terminal()))
    }

    pub fn stderr() -> Self {
        Printer::new(Sink::Stderr, live(std::io::stderr().is_terminal()))
    }

    fn new(sink: Sink, live: bool) -> Self {
        let inner = Arc::new(Inner {
            sink,
            live,
            board: Mutex::new(Board::default()),
        });
        start_ticker(Arc::downgrade(&inner));
        Printer { inner }
    }
}

/// Whether to draw the live status line: on a terminal, unless `NO_COLOR` is set.
fn live(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Every [`TICK`], prints the `Still ...` lines that are due, until the printer is gone.
fn start_ticker(inner: Weak<Inner>) {
    std::thread::spawn(move || loop {
        std::thread::sleep(TICK);
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.tick(Instant::now());
    });
}

impl Inner {
    fn board(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints `text` as a line of its own (clearing the status line first, drawing it
    /// again after).
    fn line(&self, board: &mut Board, text: &str) {
        let mut out = String::new();
        if board.status_shown {
            out.push_str("\r\x1b[K");
            board.status_shown = false;
        }
        out.push_str(text);
        out.push('\n');
        if self.live {
            self.draw_status(board, &mut out, Instant::now());
        }
        self.emit(&out);
    }

    fn emit(&self, text: &str) {
        let _ = match &self.sink {
            Sink::Stdout => write_all(&mut std::io::stdout().lock(), text),
            Sink::Stderr => write_all(&mut std::io::stderr().lock(), text),
            #[cfg(test)]
            Sink::Memory(buffer) => {
                buffer.lock().unwrap().push_str(text);
                Ok(())
            }
        };
    }

    fn draw_status(&self, board: &mut Board, out: &mut String, now: Instant) {
        if board.running.is_empty() {
            return;
        }
        out.push_str("\r\x1b[K");
        out.push_str(&status_line(board, now));
        board.status_shown = true;
    }

    fn tick(&self, now: Instant) {
        let mut board = self.board();
        for line in still_lines(&mut board, now) {
            self.line(&mut board, &line);
        }
        if self.live && !board.running.is_empty() {
            let mut out = String::new();
            self.draw_status(&mut board, &mut out, now);
            self.emit(&out);
        }
    }
}

fn write_all(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// The `Still ...` lines due at `now`, one per resource whose elapsed time crossed the next
/// multiple of [`STILL_EVERY`] (sorted by address); marks them printed.
fn still_lines(board: &mut Board, now: Instant) -> Vec<String> {
    let mut lines = Vec::new();
    for (address, running) in &mut board.running {
        let elapsed = now.saturating_duration_since(running.started);
        let due = elapsed.as_secs() / STILL_EVERY.as_secs();
        if due > running.stills {
            running.stills = due;
            lines.push(still_line(address, running, due * STILL_EVERY.as_secs()));
        }
    }
    lines
}

fn still_line(address: &Address, running: &Running, elapsed_secs: u64) -> String {
    let waiting = running
        .note
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    format!(
        "{address}: Still {}... [{elapsed_secs}s elapsed]{waiting}",
        running.doing
    )
}

/// `[12 done, 3 in progress: aws_nat_gateway.nat[0] 45s (waiting for ...), ...]`
fn status_line(board: &Board, now: Instant) -> String {
    let longest = board
        .running
        .iter()
        .max_by_key(|(address, r)| (now.saturating_duration_since(r.started), *address));
    let mut line = format!("[{} done, {} in progress", board.done, board.running.len());
    if board.failed > 0 {
        line.push_str(&format!(", {} failed", board.failed));
    }
    if let Some((address, running)) = longest {
        let secs = now.saturating_duration_since(running.started).as_secs();
        line.push_str(&format!("; longest: {address} {secs}s"));
    }
    line.push(']');
    line
}

/// (`Creating...`, `Creation complete`, `creating`) for an operation.
fn verb(what: &str) -> (&'static str, &'static str, &'static str) {
    match what.split_whitespace().next().unwrap_or_default() {
        "create" => ("Creating...", "Creation complete", "creating"),
        "update" => ("Modifying...", "Modifications complete", "modifying"),
        "delete" => ("Destroying...", "Destruction complete", "destroying"),
        _ => ("Working...", "Complete", "working"),
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
        let (start, _, doing) = verb(what);
        let detail = what
            .split_once(' ')
            .map(|(_, d)| format!(" ({d})"))
            .unwrap_or_default();
        let mut board = self.inner.board();
        board.running.insert(
            address.clone(),
            Running {
                doing,
                started: Instant::now(),
                stills: 0,
                note: None,
            },
        );
        self.inner
            .line(&mut board, &format!("{address}: {start}{detail}"));
    }

    fn finished(
        &self,
        address: &Address,
        what: &str,
        elapsed: Duration,
        error: Option<&ApplyError>,
    ) {
        let (_, done, _) = verb(what);
        let mut board = self.inner.board();
        board.running.remove(address);
        let text = match error {
            None => {
                board.done += 1;
                format!("{address}: {done} after {}", seconds(elapsed))
            }
            Some(err) => {
                board.failed += 1;
                format!("{address}: FAILED after {}: {err}", seconds(elapsed))
            }
        };
        self.inner.line(&mut board, &text);
    }

    fn skipped(&self, address: &Address, upstream: &Address) {
        let mut board = self.inner.board();
        self.inner.line(
            &mut board,
            &format!("{address}: skipped (upstream failed: {upstream})"),
        );
    }

    /// A note is printed when it differs from the resource's last one (a wait or a retry
    /// with the same reason says so once; the `Still ...` lines carry it after that).
    fn note(&self, address: &Address, message: &str) {
        let mut board = self.inner.board();
        if let Some(running) = board.running.get_mut(address) {
            if running.note.as_deref() == Some(message) {
                return;
            }
            running.note = Some(message.to_string());
        }
        self.inner
            .line(&mut board, &format!("{address}: {message}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(board: &mut Board, address: &str, started: Instant, note: Option<&str>) {
        board.running.insert(
            address.parse().unwrap(),
            Running {
                doing: "creating",
                started,
                stills: 0,
                note: note.map(str::to_string),
            },
        );
    }

    #[test]
    fn a_waiting_resource_says_so_once_per_ten_seconds_with_what_it_waits_for() {
        let t0 = Instant::now();
        let mut board = Board::default();
        running(
            &mut board,
            "aws_nat_gateway.nat[0]",
            t0,
            Some("waiting for NAT gateway nat-1 to be available"),
        );
        running(
            &mut board,
            "aws_vpc.main",
            t0 + Duration::from_secs(5),
            None,
        );
        assert!(still_lines(&mut board, t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(
            still_lines(&mut board, t0 + Duration::from_millis(10_400)),
            ["aws_nat_gateway.nat[0]: Still creating... [10s elapsed] (waiting for NAT gateway nat-1 to be available)"]
        );
        assert!(still_lines(&mut board, t0 + Duration::from_secs(14)).is_empty());
        assert_eq!(
            still_lines(&mut board, t0 + Duration::from_secs(20)),
            [
                "aws_nat_gateway.nat[0]: Still creating... [20s elapsed] (waiting for NAT gateway nat-1 to be available)",
                "aws_vpc.main: Still creating... [10s elapsed]",
            ]
        );
    }

    #[test]
    fn a_late_tick_prints_one_line_not_every_missed_one() {
        let t0 = Instant::now();
        let mut board = Board::default();
        running(&mut board, "aws_instance.web[0]", t0, None);
        assert_eq!(
            still_lines(&mut board, t0 + Duration::from_secs(35)),
            ["aws_instance.web[0]: Still creating... [30s elapsed]"]
        );
    }

    #[test]
    fn the_status_line_names_the_longest_wait() {
        let t0 = Instant::now();
        let mut board = Board {
            done: 12,
            ..Board::default()
        };
        running(&mut board, "aws_nat_gateway.nat[0]", t0, None);
        running(
            &mut board,
            "aws_instance.web[0]",
            t0 + Duration::from_secs(30),
            None,
        );
        assert_eq!(
            status_line(&board, t0 + Duration::from_secs(45)),
            "[12 done, 2 in progress; longest: aws_nat_gateway.nat[0] 45s]"
        );
    }

    fn printed(printer: &Printer) -> String {
        match &printer.inner.sink {
            Sink::Memory(buffer) => buffer.lock().unwrap().clone(),
            _ => unreachable!("a test printer writes to memory"),
        }
    }

    #[test]
    fn a_note_is_printed_when_it_says_something_new() {
        let printer = Printer::new(Sink::Memory(Mutex::default()), false);
        let address: Address = "aws_vpc.main".parse().unwrap();
        printer.started(&address, "create");
        for note in [
            "throttled; retrying",
            "throttled; retrying",
            "waiting for vpc-1",
        ] {
            printer.note(&address, note);
        }
        printer.finished(&address, "create", Duration::from_millis(1500), None);
        assert_eq!(
            printed(&printer),
            "aws_vpc.main: Creating...\n\
             aws_vpc.main: throttled; retrying\n\
             aws_vpc.main: waiting for vpc-1\n\
             aws_vpc.main: Creation complete after 1.5s\n"
        );
    }

    /// What `nova up` prints when piped (or with `NO_COLOR`) for a NAT gateway that takes
    /// about a minute and a half, next to quicker resources: one line per event, one
    /// `Still creating...` line per 10 s carrying what it waits for, a note once when it
    /// is new, no status line.
    #[test]
    fn an_apply_prints_like_terraform_when_piped() {
        let printer = Printer::new(Sink::Memory(Mutex::default()), false);
        let at = |text: &str| -> Address { text.parse().unwrap() };
        let (vpc, subnet, nat, web) = (
            at("aws_vpc.main"),
            at("aws_subnet.public[0]"),
            at("aws_nat_gateway.nat[0]"),
            at("aws_instance.web[0]"),
        );
        let t0 = Instant::now();
        let after = |secs: f64| t0 + Duration::from_secs_f64(secs);
        printer.started(&vpc, "create");
        printer.note(&vpc, "created vpc-0a1");
        printer.finished(&vpc, "create", Duration::from_millis(2300), None);
        printer.started(&subnet, "create");
        printer.finished(&subnet, "create", Duration::from_millis(1100), None);
        printer.started(&nat, "create");
        let waiting = "waiting for NAT gateway nat-0b2 to be available";
        printer.note(&nat, waiting);
        printer.inner.tick(after(10.4));
        printer.note(&nat, waiting);
        printer.inner.tick(after(14.0));
        printer.inner.tick(after(20.5));
        printer.note(&nat, "throttled (RequestLimitExceeded); retrying");
        printer.inner.tick(after(30.5));
        printer.note(&nat, waiting);
        printer.inner.tick(after(95.2));
        printer.finished(&nat, "create", Duration::from_millis(98_400), None);
        printer.skipped(&web, &at("aws_iam_instance_profile.web[0]"));
        insta::assert_snapshot!(printed(&printer));
    }

    #[test]
    fn on_a_terminal_the_status_line_is_cleared_before_each_line() {
        let printer = Printer::new(Sink::Memory(Mutex::default()), true);
        let vpc: Address = "aws_vpc.main".parse().unwrap();
        printer.started(&vpc, "create");
        printer.finished(&vpc, "create", Duration::from_secs(2), None);
        let out = printed(&printer);
        assert!(
            out.starts_with("aws_vpc.main: Creating...\n\r\x1b[K[0 done, 1 in progress; longest: aws_vpc.main 0s]\r\x1b[Kaws_vpc.main: Creation complete after 2.0s\n"),
            "{out:?}"
        );
    }
}
