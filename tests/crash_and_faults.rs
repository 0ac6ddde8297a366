//! Never a duplicate, never an orphan: the whole stack through awssim at CI's scale (AWS's
//! latency, slow NAT gateways, instances and VPC Lambdas, eventual consistency, throttling),
//! with `nova` killed with SIGKILL at many moments of `up` and `destroy`, with a tenth of
//! all calls faulted (half of them after LocalStack made the change), and with a subnet
//! made behind nova's back in the stack's VPC. What exists is counted kind by kind with raw
//! SDK reads straight from LocalStack (`common::inventory`), never through nova or awssim.
//!
//! These tests deploy whole stacks: they run in the nextest `account-singleton` group (one
//! stack test at a time on the shared LocalStack). The API Gateway CloudWatch role they use
//! is the account's one shared role, which no stack's plan sees as drift.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use awssim::Stats;
use common::awssim::{ci_scale, faults, scenario_model, Realistic};
use common::inventory::{assert_live_matches, assert_nothing_left, inventory, inventory_after};
use common::nova::Stack;

/// Calls that change something (all but Describe*, Get*, List*), as awssim counted them.
fn mutating_calls(stats: &Stats) -> u64 {
    stats
        .by_action
        .iter()
        .filter(|(name, _)| {
            let action = name.split(':').nth(1).unwrap_or_default();
            !["Describe", "Get", "List"]
                .iter()
                .any(|p| action.starts_with(p))
        })
        .map(|(_, n)| n)
        .sum()
}

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Killed with SIGKILL after it had made this many changing calls.
    Killed(u64),
    /// It exited by itself with this code before it made enough calls (and this stderr).
    Exited(Option<i32>, String),
}

/// Starts `nova <args>` through `sim` and kills it with SIGKILL as soon as it has made
/// `budget` changing calls (whatever it is doing then: a call in flight, a state write).
fn run_and_kill(stack: &Stack, sim: &Realistic, args: &[&str], budget: u64) -> Ended {
    let base = mutating_calls(&sim.sim.stats());
    let stderr = tempfile::tempfile().expect("a file for nova's stderr");
    let mut child: Child = stack
        .command(args)
        .stdout(Stdio::null())
        .stderr(stderr.try_clone().expect("stderr file"))
        .spawn()
        .expect("start nova");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("poll nova") {
            return Ended::Exited(status.code(), read_all(stderr));
        }
        let made = mutating_calls(&sim.sim.stats()) - base;
        if made >= budget {
            child.kill().expect("SIGKILL nova");
            child.wait().expect("reap nova");
            return Ended::Killed(made);
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "nova {args:?} neither finished nor made {budget} calls in 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn read_all(mut file: std::fs::File) -> String {
    use std::io::{Read, Seek};
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    text
}

/// Kills `nova <args>` at `kills` moments, each run resuming what the last left (its
/// stale lock removed with `nova state unlock`, which refuses a live holder), with budgets
/// of changing calls cycling through `budgets`. Returns the kills made.
fn storm(stack: &Stack, sim: &Realistic, args: &[&str], kills: usize, budgets: &[u64]) -> usize {
    let mut killed = 0;
    for (run, budget) in budgets.iter().cycle().enumerate() {
        if killed == kills {
            break;
        }
        assert!(
            run < kills * 4,
            "nova {args:?}: too many runs without a kill"
        );
        match run_and_kill(stack, sim, args, *budget) {
            Ended::Killed(_) => {
                killed += 1;
                stack.run(&["state", "unlock"]).expect_code(0);
            }
            Ended::Exited(Some(0), _) => {
                panic!("nova {args:?} finished after {killed} kills: the budgets are too large to spread {kills} kills over it")
            }
            Ended::Exited(code, stderr) => {
                panic!("nova {args:?} failed (exit {code:?}) after {killed} kills:\n{stderr}")
            }
        }
    }
    killed
}

/// How long one converging run may take at CI's scale (they take 10-40 s): a run that
/// hangs fails the test.
const CONVERGE_LIMIT: Duration = Duration::from_secs(300);

/// Runs `nova <args>` to the end, at most `attempts` times, until it exits 0.
fn until_success(stack: &Stack, args: &[&str], attempts: usize) -> usize {
    for attempt in 1..=attempts {
        let run = stack.run_within(args, CONVERGE_LIMIT);
        if run.code == Some(0) {
            return attempt;
        }
        eprintln!(
            "note: nova {args:?} attempt {attempt} exited {:?}:\n{}\n{}",
            run.code, run.stdout, run.stderr
        );
    }
    panic!("nova {args:?} did not succeed in {attempts} attempts");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_storms_over_up_and_destroy_leave_no_duplicate_and_no_orphan() {
    let sim = Realistic::start(scenario_model(), ci_scale());
    let mut stack = Stack::through("storm", &sim.endpoint());

    // An up makes about 70 changing calls: budgets of 1-3 spread 30 kills over it.
    let up_kills = storm(&stack, &sim, &["up", "--yes"], 30, &[1, 2, 1, 3, 1, 2]);
    assert_eq!(up_kills, 30);
    let runs = until_success(&stack, &["up", "--yes"], 3);
    assert_eq!(runs, 1, "the first run after the storm converges");
    stack.run(&["plan", "--detailed-exitcode"]).expect_code(0);
    let before = inventory(&stack.name).await;
    assert_live_matches(&before, &stack.state());

    // A destroy makes about 60: budgets of 1-5 spread 15 kills over it.
    let destroy_kills = storm(&stack, &sim, &["destroy", "--yes"], 15, &[2, 3, 1, 4, 2, 5]);
    assert_eq!(destroy_kills, 15);
    until_success(&stack, &["destroy", "--yes"], 2);
    stack.destroy_done();
    assert_nothing_left(&inventory_after(&stack.name, &before).await);
    let state = stack.state();
    assert_eq!(state["resources"], serde_json::json!([]), "{state}");
    assert_eq!(state["pending"], serde_json::json!([]), "{state}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenth_of_calls_faulted_half_after_the_change_still_makes_one_of_each() {
    // NOVA_FAULT_SEEDS=1,2,... tries other seeds (CI runs these three).
    let seeds: Vec<u64> = std::env::var("NOVA_FAULT_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 3]);
    assert!(seeds.len() >= 3, "at least three seeds: {seeds:?}");
    for seed in seeds {
        let sim = Realistic::start(scenario_model(), ci_scale());
        sim.sim
            .set_faults(faults(0.10, 0.5, seed))
            .expect("valid faults");
        let mut stack = Stack::through(&format!("faults{seed}"), &sim.endpoint());
        stack.up();
        let live = inventory(&stack.name).await;
        assert_live_matches(&live, &stack.state());
        stack.run(&["plan", "--detailed-exitcode"]).expect_code(0);
        stack.destroy();
        assert_nothing_left(&inventory_after(&stack.name, &live).await);
        let stats = sim.sim.stats();
        let lost: u64 = stats
            .faults
            .iter()
            .filter(|(k, _)| k.starts_with("lost:"))
            .map(|(_, n)| n)
            .sum();
        eprintln!(
            "seed {seed}: {} calls, faults {:?}",
            stats.calls, stats.faults
        );
        assert!(
            lost >= 5,
            "seed {seed}: too few lost answers to mean anything: {stats:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subnet_made_behind_novas_back_fails_the_destroy_naming_it() {
    let sim = Realistic::start(scenario_model(), ci_scale());
    let mut stack = Stack::through("foreign", &sim.endpoint());
    stack.up();
    let before = inventory(&stack.name).await;
    let vpc = before["aws_vpc"].iter().next().expect("the VPC").clone();

    let direct = aws_sdk_ec2::Client::new(&common::sdk_config().await);
    let foreign = direct
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.0.200.0/24")
        .send()
        .await
        .expect("a subnet behind nova's back")
        .subnet
        .and_then(|s| s.subnet_id)
        .expect("subnet id");

    let started = Instant::now();
    let run = stack.run(&["destroy", "--yes"]);
    let took = started.elapsed();
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(took < Duration::from_secs(120), "destroy took {took:?}");
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains(&foreign) && said.contains(&vpc),
        "the error names the VPC and the subnet:\n{said}"
    );
    // Everything nova owns but the VPC is gone.
    let left = inventory_after(&stack.name, &before).await;
    let remaining: Vec<(&String, usize)> = left
        .iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(k, ids)| (k, ids.len()))
        .collect();
    assert_eq!(remaining, [(&"aws_vpc".to_string(), 1)], "{left:?}");

    direct
        .delete_subnet()
        .subnet_id(&foreign)
        .send()
        .await
        .expect("delete the foreign subnet");
    stack.destroy();
    assert_nothing_left(&inventory_after(&stack.name, &left).await);
}
