//! nova's waits on AWS: polling a state the SDK has no waiter for, and retrying a call
//! while AWS's eventual consistency refuses it. A wait that knows how long its state
//! change typically takes ([`Expected`]) polls rarely before then and tightly around it,
//! so it sees the change within [`TIGHT_POLL_INTERVAL`] of it happening.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::provider::{OpContext, ProviderError};

/// The first wait between polls, doubled each time up to [`MAX_POLL_INTERVAL`].
pub(crate) const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The longest wait between two polls of a state change of unknown duration (and late in
/// one of known duration).
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// The wait between polls around a state change's expected completion: what a wait may
/// overshoot the change by (plus one call's latency).
pub const TIGHT_POLL_INTERVAL: Duration = Duration::from_millis(1500);

pub(crate) fn next_interval(current: Duration) -> Duration {
    (current * 2).min(MAX_POLL_INTERVAL)
}

/// How long a state change typically takes on AWS (figures in docs/benchmarks.md and
/// `../shared/notes/aws-timing.md`): the wait polls tightly from half of it to twice it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected(pub Duration);

impl Expected {
    pub const fn secs(secs: u64) -> Expected {
        Expected(Duration::from_secs(secs))
    }
}

/// When to poll next: growing intervals (never past the start of the tight window), every
/// [`TIGHT_POLL_INTERVAL`] from half the expected duration to twice it, then growing again.
#[derive(Debug, Clone)]
pub struct PollSchedule {
    expected: Option<Expected>,
    interval: Duration,
}

impl PollSchedule {
    pub fn new(expected: Option<Expected>) -> PollSchedule {
        PollSchedule {
            expected,
            interval: FIRST_POLL_INTERVAL,
        }
    }

    /// How long to sleep after a poll made `elapsed` into the wait.
    pub fn next(&mut self, elapsed: Duration) -> Duration {
        let growing = self.interval;
        self.interval = next_interval(self.interval);
        let Some(Expected(expected)) = self.expected else {
            return growing;
        };
        let tight_from = expected / 2;
        let tight_until = expected * 2;
        if elapsed + growing <= tight_from {
            growing
        } else if elapsed < tight_from {
            (tight_from - elapsed).max(FIRST_POLL_INTERVAL)
        } else if elapsed < tight_until {
            self.interval = TIGHT_POLL_INTERVAL;
            TIGHT_POLL_INTERVAL
        } else {
            growing.max(TIGHT_POLL_INTERVAL)
        }
    }
}

/// Runs `call` until it succeeds, retrying (with backoff, up to `limit`) only while it fails
/// with an error for which `retryable` is true: AWS's eventual consistency, e.g. an instance
/// profile not yet usable or a `DependencyViolation` while network interfaces are released.
/// Each retry is reported as progress (the printer shows a reason once, until it changes).
pub async fn retry_while<T, F, Fut>(
    ctx: &OpContext,
    what: &str,
    limit: Duration,
    retryable: impl Fn(&ProviderError) -> bool,
    mut call: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let started = Instant::now();
    let mut interval = FIRST_POLL_INTERVAL;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(err) if retryable(&err) && started.elapsed() + interval < limit => {
                ctx.note(&format!("{what}: {err}; retrying"));
                tokio::time::sleep(interval).await;
                interval = next_interval(interval);
            }
            Err(err) => return Err(err),
        }
    }
}

/// Polls `check` until it returns `Some` (done) or `limit` passes; `check` returns `None`
/// while still waiting. This is nova's waiter for states the SDK has no waiter for; it
/// never sleeps a fixed time before the first check.
pub async fn wait_until<T, F, Fut>(
    ctx: &OpContext,
    what: &str,
    limit: Duration,
    check: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
{
    wait_expected(ctx, what, None, limit, check).await
}

/// [`wait_until`] for a state change that typically takes `expected`: polled on a
/// [`PollSchedule`], so it is seen within about [`TIGHT_POLL_INTERVAL`] of happening.
/// The first miss is reported ("waiting for ..."); the progress printer repeats it.
pub async fn wait_expected<T, F, Fut>(
    ctx: &OpContext,
    what: &str,
    expected: Option<Expected>,
    limit: Duration,
    mut check: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
{
    let started = Instant::now();
    let mut schedule = PollSchedule::new(expected);
    let mut noted = false;
    loop {
        if let Some(done) = check().await? {
            return Ok(done);
        }
        let interval = schedule.next(started.elapsed());
        if started.elapsed() + interval >= limit {
            return Err(ProviderError::Timeout {
                what: what.to_string(),
                waited: started.elapsed(),
            });
        }
        if !noted {
            ctx.note(&format!("waiting for {what}"));
            noted = true;
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The times at which a wait on `schedule` polls (free calls), up to `until`.
    fn polls(mut schedule: PollSchedule, until: Duration) -> Vec<Duration> {
        let mut at = Duration::ZERO;
        let mut polls = vec![at];
        while at < until {
            at += schedule.next(at);
            polls.push(at);
        }
        polls
    }

    /// How late a change at `done` is seen.
    fn overshoot(polls: &[Duration], done: Duration) -> Duration {
        let seen = polls.iter().find(|p| **p >= done).expect("seen");
        *seen - done
    }

    #[test]
    fn a_nat_gateway_is_seen_within_the_tight_interval_anywhere_in_its_usual_range() {
        let expected = Expected::secs(100);
        let polls = polls(PollSchedule::new(Some(expected)), Duration::from_secs(300));
        // 85-124 s measured on AWS; half to twice the expected figure is polled tightly.
        for done in (50..=200).map(Duration::from_secs) {
            assert!(
                overshoot(&polls, done) <= TIGHT_POLL_INTERVAL,
                "done at {done:?}: seen {:?} late",
                overshoot(&polls, done)
            );
        }
        let early = polls.iter().filter(|p| p.as_secs() < 50).count();
        assert!(
            early <= 10,
            "{early} polls before the tight window: {polls:?}"
        );
    }

    #[test]
    fn without_an_expected_duration_polls_back_off_to_ten_seconds() {
        let polls = polls(PollSchedule::new(None), Duration::from_secs(120));
        let gaps: Vec<Duration> = polls.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps[0], FIRST_POLL_INTERVAL);
        assert_eq!(*gaps.last().unwrap(), MAX_POLL_INTERVAL);
        assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
    }

    #[test]
    fn late_in_a_slow_change_polls_back_off_again() {
        let polls = polls(
            PollSchedule::new(Some(Expected::secs(10))),
            Duration::from_secs(200),
        );
        let gaps: Vec<Duration> = polls.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(*gaps.last().unwrap(), MAX_POLL_INTERVAL, "{polls:?}");
    }

    #[test]
    fn a_short_change_is_polled_from_the_start() {
        let polls = polls(
            PollSchedule::new(Some(Expected::secs(2))),
            Duration::from_secs(4),
        );
        assert_eq!(polls[1], FIRST_POLL_INTERVAL);
        assert!(
            polls.windows(2).all(|w| w[1] - w[0] <= TIGHT_POLL_INTERVAL),
            "{polls:?}"
        );
    }
}
