//! The HTTP side: takes the SDK's requests, applies the model (latency, throttling, faults,
//! the world's rules), forwards what AWS would accept to LocalStack, and answers; plus the
//! control endpoints under `/_awssim/`.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, CONTENT_LENGTH, HOST};
use hyper::http::request::Parts;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::answer::{Answer, AwsError};
use crate::call::Call;
use crate::clock::Clock;
use crate::faults::{Decision, FaultPlan};
use crate::latency::Latencies;
use crate::model::{FaultKind, Faults, Model};
use crate::stats::Stats;
use crate::throttle::Throttle;
use crate::world::{Verdict, World};

/// Everything the proxy's connections share.
pub struct Shared {
    upstream: String,
    pub(crate) clock: Clock,
    pub(crate) model: Model,
    world: World,
    throttle: Mutex<Throttle>,
    faults: Mutex<FaultPlan>,
    latencies: Mutex<Latencies>,
    stats: Mutex<Stats>,
    client: Client<HttpConnector, Full<Bytes>>,
    trace: bool,
}

/// The error a handler returns to make hyper drop the connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("answer lost (injected fault)")]
pub struct Lost;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(
        upstream: &str,
        model: Model,
        scale: f64,
        client_tokens: bool,
        trace: bool,
    ) -> Shared {
        Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            clock: Clock::new(scale),
            world: World::new(model.clone(), client_tokens),
            throttle: Mutex::new(Throttle::new(&model.throttle)),
            faults: Mutex::new(FaultPlan::new(model.faults.clone())),
            latencies: Mutex::new(Latencies::new(&model.latency, model.faults.seed)),
            stats: Mutex::new(Stats::default()),
            client: Client::builder(TokioExecutor::new()).build_http(),
            model,
            trace,
        }
    }

    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    pub fn reset_stats(&self) {
        *lock(&self.stats) = Stats::default();
    }

    pub fn faults(&self) -> Faults {
        lock(&self.faults).faults().clone()
    }

    pub fn set_faults(&self, faults: Faults) -> Result<(), String> {
        faults.validate()?;
        *lock(&self.faults) = FaultPlan::new(faults);
        Ok(())
    }

    fn note(&self, call: &Call, what: &str) {
        if self.trace {
            eprintln!("awssim t={:.1}s {} {what}", self.clock.now(), call.name());
        }
    }
}

/// Serves connections from `listener` until `stop` turns true.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    // A lost answer ends the connection with an error: nothing to report.
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = stop.changed() => break,
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Lost> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Lost),
    };
    let path = parts.uri.path();
    if path.starts_with("/_awssim/") {
        return Ok(control(&shared, &parts, &body));
    }
    if path.starts_with("/_localstack") {
        return Ok(match forward(&shared, &parts, body).await {
            Ok(answer) => response(answer, parts.method == Method::HEAD),
            Err(e) => text(502, &format!("awssim: LocalStack did not answer: {e}")),
        });
    }
    let call = Call::classify(&parts, &body);
    {
        let mut stats = lock(&shared.stats);
        stats.calls += 1;
        Stats::count(&mut stats.by_action, &call.name());
    }
    // Half the latency on the way there, half on the way back. The call is answered on a
    // task of its own: once a request has reached AWS it is carried out whether or not the
    // client is still there to hear the answer (a client killed mid-call must not leave
    // awssim's world behind LocalStack's).
    let task = tokio::spawn(async move {
        let latency = lock(&shared.latencies).sample(&call.service, &call.action);
        let half = shared.clock.real(latency / 2.0);
        tokio::time::sleep(half).await;
        let answered = answer(&shared, parts, body, &call).await;
        tokio::time::sleep(half).await;
        answered
    });
    task.await.unwrap_or(Err(Lost))
}

/// What AWS would answer to `call` now: throttled, faulted, refused by a rule of the
/// model, replayed for a client token, or LocalStack's answer rewritten (or lost).
async fn answer(
    shared: &Arc<Shared>,
    parts: Parts,
    body: Bytes,
    call: &Call,
) -> Result<Response<Full<Bytes>>, Lost> {
    let name = call.name();
    let now = shared.clock.now();
    let head = parts.method == Method::HEAD;
    let throttled = lock(&shared.throttle).take(&call.service, &call.action, now);
    if let Err(bucket) = throttled {
        Stats::count(&mut lock(&shared.stats).throttled, &bucket);
        shared.note(call, &format!("throttled ({bucket})"));
        return Ok(response(
            AwsError::throttled(&call.service).answer(call),
            head,
        ));
    }
    let decision = lock(&shared.faults).decide(&name);
    if let Decision::Before(kind) = decision {
        count_fault(shared, &name, "before", kind);
        shared.note(call, &format!("fault before LocalStack: {}", kind.name()));
        return Ok(response(fault_error(call, kind).answer(call), head));
    }
    let answer = match shared.world.before(call, now) {
        Verdict::Refuse { rule, error } => {
            Stats::count(&mut lock(&shared.stats).refusals, rule);
            shared.note(call, &format!("refused ({rule}): {}", error.code));
            return Ok(response(error.answer(call), head));
        }
        Verdict::Replay(mut answer) => {
            lock(&shared.stats).replays += 1;
            shared.note(call, "replayed (same client token)");
            let rules = shared.world.after(call, &mut answer, now, false);
            count_rewrites(shared, &rules);
            return Ok(response(answer, head));
        }
        Verdict::Forward => match carry_out(shared.clone(), parts, body, call.clone()).await {
            Some(answer) => answer,
            None => {
                let unavailable = AwsError::unavailable(&call.service).answer(call);
                return Ok(response(unavailable, head));
            }
        },
    };
    if let Decision::Lost(kind) = decision {
        count_fault(shared, &name, "lost", kind);
        shared.note(
            call,
            &format!("answer lost after LocalStack: {}", kind.name()),
        );
        return match kind {
            FaultKind::Reset => Err(Lost),
            kind => Ok(response(fault_error(call, kind).answer(call), head)),
        };
    }
    shared.note(call, &format!("{}", answer.status));
    Ok(response(answer, head))
}

/// Forwards the call to LocalStack and records what it did; `None` when LocalStack did
/// not answer.
async fn carry_out(shared: Arc<Shared>, parts: Parts, body: Bytes, call: Call) -> Option<Answer> {
    match forward(&shared, &parts, body).await {
        Ok(mut answer) => {
            let rules = shared
                .world
                .after(&call, &mut answer, shared.clock.now(), true);
            count_rewrites(&shared, &rules);
            Some(answer)
        }
        Err(e) => {
            lock(&shared.stats).upstream_errors += 1;
            shared.note(&call, &format!("LocalStack did not answer: {e}"));
            None
        }
    }
}

fn fault_error(call: &Call, kind: FaultKind) -> AwsError {
    match kind {
        FaultKind::InternalError | FaultKind::Reset => AwsError::internal(&call.service),
        FaultKind::Unavailable => AwsError::unavailable(&call.service),
        FaultKind::Throttle => AwsError::throttled(&call.service),
    }
}

fn count_fault(shared: &Shared, name: &str, when: &str, kind: FaultKind) {
    let mut stats = lock(&shared.stats);
    Stats::count(&mut stats.faults, &format!("{when}:{}", kind.name()));
    Stats::count(&mut stats.faulted, name);
}

fn count_rewrites(shared: &Shared, rules: &[&str]) {
    let mut stats = lock(&shared.stats);
    for rule in rules {
        Stats::count(&mut stats.rewrites, rule);
    }
}

/// Request headers not passed on: the connection's own, and those that would make
/// LocalStack answer in a form awssim cannot rewrite.
const DROPPED: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "accept-encoding",
    "expect",
    "content-length",
];

async fn forward(shared: &Shared, parts: &Parts, body: Bytes) -> Result<Answer, String> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{}{path}", shared.upstream));
    for (k, v) in &parts.headers {
        if !DROPPED.contains(&k.as_str()) {
            request = request.header(k, v);
        }
    }
    let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
    let upstream = shared
        .client
        .request(request)
        .await
        .map_err(|e| e.to_string())?;
    let (rparts, rbody) = upstream.into_parts();
    let bytes = rbody.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let keep_length = parts.method == Method::HEAD;
    let headers = rparts
        .headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            !["transfer-encoding", "connection", "keep-alive"].contains(&k)
                && (keep_length || k != CONTENT_LENGTH.as_str())
                && k != HOST.as_str()
        })
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
        .collect();
    Ok(Answer {
        status: rparts.status.as_u16(),
        headers,
        body: bytes,
    })
}

fn response(answer: Answer, head: bool) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(answer.status);
    let mut has_length = false;
    for (k, v) in &answer.headers {
        if let Ok(name) = HeaderName::try_from(k.as_str()) {
            has_length |= name == CONTENT_LENGTH;
            builder = builder.header(name, v.as_str());
        }
    }
    if !has_length && !head {
        builder = builder.header(CONTENT_LENGTH, answer.body.len());
    }
    builder
        .body(Full::new(answer.body))
        .unwrap_or_else(|e| text(500, &format!("awssim: bad answer: {e}")))
}

fn text(status: u16, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a plain answer is valid")
}

fn json(value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            serde_json::to_string_pretty(value).unwrap_or_default(),
        )))
        .expect("a JSON answer is valid")
}

/// `GET /_awssim/health`, `GET /_awssim/stats`, `POST /_awssim/stats/reset`,
/// `GET|PUT /_awssim/faults`.
fn control(shared: &Shared, parts: &Parts, body: &Bytes) -> Response<Full<Bytes>> {
    match (parts.method.as_str(), parts.uri.path()) {
        ("GET", "/_awssim/health") => text(200, "ok\n"),
        ("GET", "/_awssim/stats") => json(&shared.stats()),
        ("POST", "/_awssim/stats/reset") => {
            shared.reset_stats();
            text(200, "ok\n")
        }
        ("GET", "/_awssim/faults") => json(&shared.faults()),
        ("PUT", "/_awssim/faults") => match serde_json::from_slice::<Faults>(body) {
            Ok(faults) => match shared.set_faults(faults) {
                Ok(()) => text(200, "ok\n"),
                Err(e) => text(400, &format!("awssim: {e}\n")),
            },
            Err(e) => text(400, &format!("awssim: not a faults object: {e}\n")),
        },
        _ => text(404, "awssim: unknown control endpoint\n"),
    }
}
