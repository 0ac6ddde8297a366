//! The `awssim` command: runs the proxy in front of LocalStack until stopped.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use awssim::bound::{bound, Costs, Graph, Phase};
use awssim::{Config, FaultKind, Model, Sim};
use clap::{Parser, Subcommand};

/// An AWS-like proxy in front of LocalStack: per-call latency, slow NAT gateways,
/// instances and VPC Lambdas, eventual consistency, refusals during slow deletes,
/// throttling with AWS's token buckets, client tokens and seeded faults, from a timing
/// model with sources (fixtures/awssim/aws-us-east-1.toml). Point AWS_ENDPOINT_URL at it.
/// Control: GET /_awssim/stats, POST /_awssim/stats/reset, GET|PUT /_awssim/faults.
#[derive(Debug, Parser)]
#[command(name = "awssim", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Args,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints the critical-path bound of a nova run under the timing model: the longest
    /// chain of dependent work in the graph `nova graph` prints, each resource costing its
    /// kind's calls at their median latency plus the model's waits
    /// (fixtures/awssim/nova-kinds.toml).
    Bound(BoundArgs),
}

#[derive(Debug, clap::Args)]
struct BoundArgs {
    /// The graph (`nova graph` output); `-` reads standard input.
    #[arg(long, default_value = "-")]
    graph: PathBuf,
    /// `create` (nova up) or `delete` (nova destroy).
    #[arg(long, value_parser = ["create", "delete"])]
    phase: String,
    /// The timing model (default: the checked-in one).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Change one figure of the model (as for the proxy).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Print `seconds<TAB>chain` only.
    #[arg(long)]
    plain: bool,
}

/// Runs the proxy (the default).
#[derive(Debug, clap::Args)]
struct Args {
    /// Address to listen on (port 0: any free port, printed on start).
    #[arg(long, env = "AWSSIM_LISTEN", default_value = "127.0.0.1:4567")]
    listen: SocketAddr,
    /// LocalStack's endpoint.
    #[arg(long, env = "AWSSIM_UPSTREAM", default_value = "http://127.0.0.1:4566")]
    upstream: String,
    /// The timing model (default: the checked-in fixtures/awssim/aws-us-east-1.toml).
    #[arg(long, env = "AWSSIM_MODEL")]
    model: Option<PathBuf>,
    /// Change one figure of the model, e.g. `--set lambda.eni_linger_s=60` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Time scale: 1.0 is AWS's timing, 0.05 runs every duration 20 times as fast.
    #[arg(long, env = "AWSSIM_SCALE", default_value_t = 1.0)]
    scale: f64,
    /// Fraction of calls faulted (0..1).
    #[arg(long, env = "AWSSIM_FAULTS")]
    faults: Option<f64>,
    /// Of the faulted calls, the fraction that reach LocalStack and lose their answer.
    #[arg(long, env = "AWSSIM_LOST_SHARE")]
    lost_share: Option<f64>,
    /// Answers of faults that never reach LocalStack: 500, 503, throttle (comma separated).
    #[arg(long, value_delimiter = ',', value_parser = fault_kind)]
    fault_kinds: Option<Vec<FaultKind>>,
    /// Answers of lost ones: 500, reset (comma separated).
    #[arg(long, value_delimiter = ',', value_parser = fault_kind)]
    lost_kinds: Option<Vec<FaultKind>>,
    /// Seed of the faults and latencies.
    #[arg(long, env = "AWSSIM_SEED")]
    seed: Option<u64>,
    /// Ignore EC2 client tokens, as bare LocalStack does.
    #[arg(long)]
    no_client_tokens: bool,
    /// Print one line per call to stderr.
    #[arg(long, env = "AWSSIM_TRACE")]
    trace: bool,
    /// Write the port listened on to this file once listening.
    #[arg(long)]
    port_file: Option<PathBuf>,
}

fn fault_kind(s: &str) -> Result<FaultKind, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("unknown fault kind `{s}` (500, 503, throttle, reset)"))
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Bound(args)) => print_bound(args),
        None => run(cli.serve),
    };
    if let Err(e) = result {
        eprintln!("awssim: {e}");
        std::process::exit(1);
    }
}

/// The model file (or the checked-in one) with `sets` applied, and its name.
fn load_model(path: Option<&PathBuf>, sets: &[String]) -> Result<(Model, String), String> {
    let text = match path {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        None => model::BUILTIN_TEXT.to_string(),
    };
    let shown = path.map_or("fixtures/awssim/aws-us-east-1.toml".to_string(), |p| {
        p.display().to_string()
    });
    let model = Model::parse_with(&text, &shown, sets).map_err(|e| e.to_string())?;
    Ok((model, shown))
}

fn print_bound(args: BoundArgs) -> Result<(), String> {
    let dot = if args.graph.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| e.to_string())?
    } else {
        std::fs::read_to_string(&args.graph)
            .map_err(|e| format!("cannot read {}: {e}", args.graph.display()))?
    };
    let (model, _) = load_model(args.model.as_ref(), &args.sets)?;
    let phase = if args.phase == "create" {
        Phase::Create
    } else {
        Phase::Delete
    };
    let graph = Graph::from_dot(&dot);
    if graph.nodes.is_empty() {
        return Err("the graph has no resources".into());
    }
    let found = bound(&graph, &model, &Costs::builtin(), phase)?;
    if args.plain {
        println!("{:.1}\t{}", found.seconds, found.chain_text());
    } else {
        println!(
            "critical-path bound ({}): {:.1} s\nchain: {}",
            args.phase,
            found.seconds,
            found.chain_text()
        );
    }
    Ok(())
}

fn run(args: Args) -> Result<(), String> {
    let (mut model, shown) = load_model(args.model.as_ref(), &args.sets)?;
    let f = &mut model.faults;
    if let Some(rate) = args.faults {
        f.rate = rate;
    }
    if let Some(share) = args.lost_share {
        f.lost_share = share;
    }
    if let Some(kinds) = args.fault_kinds {
        f.kinds = kinds;
    }
    if let Some(kinds) = args.lost_kinds {
        f.lost_kinds = kinds;
    }
    if let Some(seed) = args.seed {
        f.seed = seed;
    }
    f.validate()?;
    let config = Config {
        upstream: args.upstream.clone(),
        listen: args.listen,
        model,
        scale: args.scale,
        client_tokens: !args.no_client_tokens,
        trace: args.trace,
    };
    let sim = Sim::start(config).map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    if let Some(path) = &args.port_file {
        std::fs::write(path, format!("{}\n", sim.addr().port()))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!(
        "awssim: listening on {} in front of {} (model {shown}, scale {}, faults {})",
        sim.endpoint(),
        args.upstream,
        args.scale,
        sim.faults().rate
    );
    let _ = std::io::stdout().flush();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    });
    drop(sim);
    Ok(())
}

mod model {
    pub const BUILTIN_TEXT: &str = include_str!("../../fixtures/awssim/aws-us-east-1.toml");
}
