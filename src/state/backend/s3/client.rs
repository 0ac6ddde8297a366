//! The S3 backend's connection: one client built on first use from the standard AWS
//! configuration (path-style addressing when `AWS_ENDPOINT_URL` is set, as LocalStack
//! needs), S3's answers reduced to what the protocols decide on (status and code), S3's
//! own clock (the `Date` of a response), and the request counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::Client;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::DateTime;
use aws_types::request_id::RequestId;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::state::backend::S3Usage;
use crate::state::error::{S3Failure, StateError};
use crate::state::location::Location;

/// The client, made on first use (building it reads the AWS configuration, no request).
#[derive(Debug)]
pub(super) struct Connection {
    region: String,
    client: OnceCell<Client>,
}

impl Connection {
    pub fn new(region: &str) -> Self {
        Connection {
            region: region.to_string(),
            client: OnceCell::new(),
        }
    }

    /// A connection made from a given SDK configuration instead of the environment's.
    pub fn from_sdk_config(config: &SdkConfig) -> Self {
        Connection {
            region: config.region().map(ToString::to_string).unwrap_or_default(),
            client: OnceCell::new_with(Some(client_from(config))),
        }
    }

    pub async fn client(&self) -> &Client {
        self.client.get_or_init(|| build(&self.region)).await
    }
}

async fn build(region: &str) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .load()
        .await;
    client_from(&config)
}

/// The S3 client of `config`, with path-style addressing when the endpoint is not AWS's
/// (LocalStack and other S3-compatible stores serve buckets as paths).
fn client_from(config: &SdkConfig) -> Client {
    let custom_endpoint = config.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some_and(|v| !v.is_empty())
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.is_empty());
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(custom_endpoint)
        .build();
    Client::from_conf(s3)
}

/// A failed S3 request, reduced to what the backend decides on.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub status: Option<u16>,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

impl Failure {
    pub fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_string).unwrap_or_else(|| {
            match status {
                Some(412) => "PreconditionFailed",
                Some(404) => "NotFound",
                Some(409) => "ConditionalRequestConflict",
                Some(501) => "NotImplemented",
                Some(_) => "UnknownError",
                None => "DispatchFailure",
            }
            .to_string()
        });
        let message = err
            .message()
            .map(str::to_string)
            .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
        Failure {
            status,
            code,
            message,
            request_id: err.request_id().map(str::to_string),
        }
    }

    /// 412: the condition (If-Match / If-None-Match) did not hold.
    pub fn is_precondition_failed(&self) -> bool {
        self.status == Some(412) || self.code == "PreconditionFailed"
    }

    /// 409: another conditional request on the key was in progress; try again.
    pub fn is_conflict(&self) -> bool {
        self.status == Some(409) || self.code == "ConditionalRequestConflict"
    }

    /// 404 for the key (not for the bucket: `NoSuchBucket` is an error of its own). A
    /// HEAD's 404 has no body, hence no code: it reads as `NotFound`.
    pub fn is_not_found(&self) -> bool {
        self.code == "NoSuchKey" || self.code == "NotFound"
    }

    /// 501: the request is not implemented (LocalStack's conditional delete).
    pub fn is_not_implemented(&self) -> bool {
        self.status == Some(501) || self.code == "NotImplemented"
    }

    pub fn into_error(self, operation: &'static str, location: Location) -> StateError {
        let hint = match self.code.as_str() {
            "NoSuchBucket" => "; nova never creates the bucket: create it (see docs/remote-state.md) or fix `bucket` in [backend]",
            "AccessDenied" | "Forbidden" => "; the credentials may not use this bucket, prefix or KMS key (see docs/remote-state.md for the permissions nova needs)",
            "DispatchFailure" => "; S3 could not be reached: check the network, [backend] region and AWS_ENDPOINT_URL",
            "KMS.NotFoundException" | "KMS.DisabledException" | "KMSInvalidStateException" => "; check `kms_key_id` in [backend]",
            _ => "",
        };
        StateError::S3(Box::new(S3Failure {
            operation,
            location,
            code: self.code,
            message: self.message,
            request_id: self.request_id,
            hint: hint.to_string(),
        }))
    }
}

/// Captures the `Date` header of the response to one request: S3's clock.
#[derive(Debug, Clone, Default)]
pub(super) struct ServerDate(Arc<Mutex<Option<String>>>);

impl ServerDate {
    /// Seconds since the epoch, by S3's clock, when it answered.
    pub fn epoch_seconds(&self) -> Option<i64> {
        let text = self.0.lock().ok()?.clone()?;
        DateTime::from_str(&text, Format::HttpDate)
            .ok()
            .map(|d| d.secs())
    }
}

impl Intercept for ServerDate {
    fn name(&self) -> &'static str {
        "nova-s3-server-date"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(date) = context.response().headers().get("date") {
            if let Ok(mut slot) = self.0.lock() {
                *slot = Some(date.to_string());
            }
        }
        Ok(())
    }
}

/// Requests made, by purpose.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub state_writes: AtomicU64,
    pub state_puts: AtomicU64,
    pub history_puts: AtomicU64,
    pub lock_writes: AtomicU64,
    pub reads: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn s3(&self) -> S3Usage {
        S3Usage {
            state_puts: self.state_puts.load(Ordering::Relaxed),
            history_puts: self.history_puts.load(Ordering::Relaxed),
            lock_writes: self.lock_writes.load(Ordering::Relaxed),
            reads: self.reads.load(Ordering::Relaxed),
        }
    }
}

/// Lowercase hex SHA-256.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A value fit for an S3 metadata header (printable ASCII; anything else becomes `?`).
pub(super) fn header_value(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// One metadata value of an object (S3 returns the keys lowercased).
pub(super) fn meta<'a>(
    metadata: Option<&'a HashMap<String, String>>,
    key: &str,
) -> Option<&'a str> {
    metadata.and_then(|m| m.get(key)).map(String::as_str)
}

/// RFC 3339 of an S3 timestamp.
pub(super) fn rfc3339(time: &DateTime) -> Option<String> {
    time.fmt(Format::DateTime).ok()
}

/// The code of a GET whose body could not be read to its end.
const BODY_FAILED: &str = "ReadBody";
/// How many times a GET is made when its body is cut short.
const GET_ATTEMPTS: u32 = 3;

/// The condition a PUT is made on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Condition {
    /// `If-None-Match: *`: only if no object exists at the key.
    Absent,
    /// `If-Match: <etag>`: only if the object is still the one with this ETag.
    Matches(String),
}

/// An object as read.
#[derive(Debug, Clone)]
pub(super) struct Object {
    pub bytes: Vec<u8>,
    /// With its quotes, as S3 sends it (and wants it back).
    pub etag: String,
    pub metadata: HashMap<String, String>,
    pub last_modified: Option<DateTime>,
    /// S3's clock when it answered, seconds since the epoch.
    pub server_time: Option<i64>,
}

/// The bucket, with what every request to it shares: the client, the SSE-KMS key every
/// write carries, and the request counters.
#[derive(Debug, Clone)]
pub(super) struct Bucket {
    pub client: Client,
    pub name: String,
    pub kms_key_id: Option<String>,
    pub counters: Arc<Counters>,
}

impl Bucket {
    /// GET: `None` when there is no object at `key`. A body cut short (a stalled or
    /// dropped stream, which the SDK does not retry once the headers arrived) is read
    /// again: a GET is safe to repeat.
    pub async fn get(&self, key: &str) -> Result<Option<Object>, Failure> {
        let mut attempt = 1;
        loop {
            match self.get_once(key).await {
                Err(f) if f.code == BODY_FAILED && attempt < GET_ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    async fn get_once(&self, key: &str) -> Result<Option<Object>, Failure> {
        Counters::add(&self.counters.reads);
        let date = ServerDate::default();
        let sent = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .customize()
            .interceptor(date.clone())
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(err) => {
                let failure = Failure::from_sdk(err);
                return if failure.is_not_found() {
                    Ok(None)
                } else {
                    Err(failure)
                };
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let metadata = out.metadata().cloned().unwrap_or_default();
        let last_modified = out.last_modified().copied();
        let bytes = out.body.collect().await.map_err(|e| Failure {
            status: None,
            code: BODY_FAILED.to_string(),
            message: format!("reading the object's body failed: {e}"),
            request_id: None,
        })?;
        Ok(Some(Object {
            bytes: bytes.into_bytes().to_vec(),
            etag,
            metadata,
            last_modified,
            server_time: date.epoch_seconds(),
        }))
    }

    /// HEAD: the metadata and ETag, `None` when there is no object at `key`.
    pub async fn head(&self, key: &str) -> Result<Option<Object>, Failure> {
        Counters::add(&self.counters.reads);
        match self
            .client
            .head_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(Object {
                bytes: Vec::new(),
                etag: out.e_tag().unwrap_or_default().to_string(),
                metadata: out.metadata().cloned().unwrap_or_default(),
                last_modified: out.last_modified().copied(),
                server_time: None,
            })),
            Err(err) => {
                let failure = Failure::from_sdk(err);
                if failure.is_not_found() {
                    Ok(None)
                } else {
                    Err(failure)
                }
            }
        }
    }

    /// A conditional PUT, with SSE-KMS when configured; the new object's ETag.
    pub async fn put(
        &self,
        key: &str,
        bytes: &[u8],
        condition: &Condition,
        metadata: &[(&str, String)],
        counter: &AtomicU64,
    ) -> Result<String, Failure> {
        Counters::add(counter);
        let mut request = self
            .client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type("application/json")
            .body(bytes.to_vec().into());
        request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Matches(etag) => request.if_match(etag),
        };
        for (name, value) in metadata {
            request = request.metadata(*name, value);
        }
        if let Some(key_id) = &self.kms_key_id {
            request = request
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .ssekms_key_id(key_id);
        }
        let out = request.send().await.map_err(Failure::from_sdk)?;
        Ok(out.e_tag().unwrap_or_default().to_string())
    }

    /// DELETE with `If-Match: <etag>`.
    pub async fn delete_matching(&self, key: &str, etag: &str) -> Result<(), Failure> {
        Counters::add(&self.counters.lock_writes);
        self.client
            .delete_object()
            .bucket(&self.name)
            .key(key)
            .if_match(etag)
            .send()
            .await
            .map(|_| ())
            .map_err(Failure::from_sdk)
    }

    /// Every key under `prefix`, with its last-modified time.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, Option<DateTime>)>, Failure> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            Counters::add(&self.counters.reads);
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.name)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(Failure::from_sdk)?;
            for object in out.contents() {
                if let Some(key) = object.key() {
                    keys.push((key.to_string(), object.last_modified().copied()));
                }
            }
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => return Ok(keys),
            }
        }
    }
}
