//! AWS implementations of the provider trait, one module per service, and what they share:
//! the SDK clients, error conversion, "gone", bounded retries and waits, tags and
//! ownership ([`tags`]), and the shape of live values ([`live`]).

pub mod ami;
pub mod apigateway;
pub mod calls;
pub mod composite_id;
pub mod ec2_instance;
pub mod ec2_kind;
pub mod ec2_network;
pub mod ec2_objects;
pub mod ec2_tags;
pub mod eventbridge;
pub mod iam;
pub mod iam_role;
pub mod iam_tags;
pub mod kinds;
pub mod kms;
pub mod lambda;
pub mod lambda_package;
pub mod live;
pub mod logs;
pub mod policy_doc;
#[cfg(test)]
mod schema_docs;
pub mod send;
pub mod tags;
pub mod wait;

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::request_id::RequestId;
use tokio::sync::OnceCell;

use super::{CallOutcome, Observed, ProviderError, Providers, Schema};
use crate::model::{Inputs, Value};

/// Every AWS resource kind nova manages, registered by kind.
pub fn providers(clients: &AwsClients) -> Providers {
    let mut providers = Providers::new();
    let all = [
        apigateway::providers(clients),
        ec2_network::providers(clients),
        ec2_instance::providers(clients),
        eventbridge::providers(clients),
        iam::providers(clients),
        kms::providers(clients),
        lambda::providers(clients),
        logs::providers(clients),
    ];
    for provider in all.into_iter().flatten() {
        providers.register(provider);
    }
    providers
}

/// The schema of every kind nova manages (pure data: no clients needed), in the order of
/// docs/resources.md; each service module lists its own next to its providers.
pub fn schemas() -> Vec<&'static Schema> {
    [
        &kms::SCHEMAS[..],
        &ec2_network::SCHEMAS,
        &iam::SCHEMAS,
        &ec2_instance::SCHEMAS,
        &logs::SCHEMAS,
        &lambda::SCHEMAS,
        &eventbridge::SCHEMAS,
        &apigateway::SCHEMAS,
    ]
    .concat()
}

/// The schema of `kind`, if nova manages it.
pub fn schema_of(kind: &str) -> Option<&'static Schema> {
    schemas().into_iter().find(|s| s.kind == kind)
}

/// One client per service nova calls.
#[derive(Clone, Debug)]
pub struct ServiceClients {
    pub apigateway: aws_sdk_apigateway::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub iam: aws_sdk_iam::Client,
    pub kms: aws_sdk_kms::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub sts: aws_sdk_sts::Client,
}

impl ServiceClients {
    /// Every client from `config`, each counting its calls in `calls`.
    fn new(config: &SdkConfig, calls: &calls::CallCounter) -> Self {
        ServiceClients {
            apigateway: aws_sdk_apigateway::Client::from_conf(
                aws_sdk_apigateway::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            eventbridge: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            kms: aws_sdk_kms::Client::from_conf(
                aws_sdk_kms::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(config)
                    .interceptor(calls.clone())
                    .build(),
            ),
        }
    }
}

/// The SDK configuration and the clients, built once per run. Derefs to the clients with
/// the SDK's retries (throttling, 5xx, dropped connections), which every call uses but the
/// one call of a create that is not idempotent: that goes through [`AwsClients::once`].
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub config: SdkConfig,
    clients: ServiceClients,
    /// The same clients without the SDK's retries, for the call of a create that AWS
    /// would carry out twice if sent twice (CreateVpc, CreateKey, CreateRestApi, ...). A
    /// lost answer then comes back to nova, which looks for what the call made before
    /// it makes anything again (`apply::job`); the SDK would resend it blind.
    pub once: Arc<ServiceClients>,
    /// API calls made through these clients.
    pub calls: calls::CallCounter,
    /// The caller's account id, asked of STS once per run (shared by every clone).
    account_id: Arc<OnceCell<String>>,
}

impl std::ops::Deref for AwsClients {
    type Target = ServiceClients;

    fn deref(&self) -> &ServiceClients {
        &self.clients
    }
}

impl AwsClients {
    /// Loads the standard AWS configuration (env, profile, `AWS_ENDPOINT_URL`, ...) for
    /// `region`, with adaptive retries for throttling and 5xx set once for every client.
    pub async fn load(region: &str) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(8)
                    .with_initial_backoff(RETRY_INITIAL_BACKOFF),
            )
            .load()
            .await;
        Self::from_config(config)
    }

    pub fn from_config(config: SdkConfig) -> Self {
        let calls = calls::CallCounter::default();
        let single = config
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .build();
        AwsClients {
            clients: ServiceClients::new(&config, &calls),
            once: Arc::new(ServiceClients::new(&single, &calls)),
            calls,
            account_id: Arc::default(),
            config,
        }
    }
}

impl AwsClients {
    /// The caller's account id (STS GetCallerIdentity, asked once and shared).
    pub async fn account_id(&self) -> Result<String, ProviderError> {
        let id = self
            .account_id
            .get_or_try_init(|| async {
                let identity = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| aws_error("GetCallerIdentity", e))?;
                identity.account().map(str::to_string).ok_or_else(|| {
                    ProviderError::Other("STS GetCallerIdentity returned no account".to_string())
                })
            })
            .await?;
        Ok(id.clone())
    }
}

/// Converts an SDK error into a [`ProviderError::Aws`] with the AWS error code, message,
/// request id and what it says about the call's outcome ([`CallOutcome`]). Errors that
/// never got an AWS answer get the code `DispatchFailure` (no connection, a dropped one),
/// `TimeoutError` or `ResponseError` (an answer that could not be read), and the full error
/// chain as message.
pub fn aws_error<E>(operation: &str, err: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (fallback, outcome) = match &err {
        SdkError::ConstructionFailure(_) => ("ConstructionFailure", CallOutcome::Refused),
        SdkError::TimeoutError(_) => ("TimeoutError", CallOutcome::Uncertain),
        SdkError::DispatchFailure(_) => ("DispatchFailure", CallOutcome::Uncertain),
        SdkError::ResponseError(_) => ("ResponseError", CallOutcome::Uncertain),
        SdkError::ServiceError(service) => {
            let throttled = err.code().is_some_and(|c| THROTTLING.contains(&c));
            let outcome = if throttled {
                CallOutcome::Throttled
            } else if service.raw().status().is_server_error() {
                CallOutcome::Uncertain
            } else {
                CallOutcome::Refused
            };
            ("ServiceError", outcome)
        }
        _ => ("DispatchFailure", CallOutcome::Uncertain),
    };
    let code = err.code().unwrap_or(fallback).to_string();
    let message = err
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
    ProviderError::Aws {
        operation: operation.to_string(),
        code,
        message,
        request_id: err.request_id().map(str::to_string),
        outcome,
    }
}

/// The error codes AWS throttles with (the SDK's own list, `aws-runtime`'s retry
/// classifier): the request was not carried out.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// True when the error is an AWS error with one of these codes.
pub fn has_code(err: &ProviderError, codes: &[&str]) -> bool {
    err.code().is_some_and(|c| codes.contains(&c))
}

/// The SDK's first backoff after a throttled or failed call (doubled, with jitter, up to
/// its 20 s maximum). AWS's buckets refill several tokens a second, so a quarter second
/// usually finds one; the SDK's default of 1 s made throttled runs markedly slower.
const RETRY_INITIAL_BACKOFF: std::time::Duration = std::time::Duration::from_millis(250);

pub use wait::{retry_while, wait_expected, wait_until, Expected};

pub use tags::{tags_of, tags_value, TAG_ADDRESS, TAG_STACK};

/// `Ok(None)` when the call failed because the resource does not exist (one of the
/// `not_found` codes), the call's result otherwise: the one "gone" rule for every service.
pub fn unless_gone<T>(
    result: Result<T, ProviderError>,
    not_found: &[&str],
) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if has_code(&err, not_found) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The outcome of a delete call: deleting something already gone succeeds.
pub fn ok_if_gone<T>(
    result: Result<T, ProviderError>,
    not_found: &[&str],
) -> Result<(), ProviderError> {
    unless_gone(result, not_found).map(|_| ())
}

/// The live inputs from a `read` done at the start of an update (updates diff against
/// what is live, so out-of-band changes are undone too).
pub fn live_inputs(observed: Observed, what: &str) -> Result<Inputs, ProviderError> {
    match observed {
        Observed::Present { inputs, .. } => Ok(inputs),
        Observed::Gone => Err(ProviderError::Other(format!(
            "{what} no longer exists; refresh and plan again"
        ))),
    }
}

/// A required string input.
pub fn required_str<'a>(inputs: &'a Inputs, field: &str) -> Result<&'a str, ProviderError> {
    inputs
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::invalid(field, "required string is missing"))
}

/// An optional string input (absent or null gives `None`).
pub fn optional_str<'a>(inputs: &'a Inputs, field: &str) -> Option<&'a str> {
    inputs.get(field).and_then(Value::as_str)
}

/// A list-of-strings input (absent gives an empty list).
pub fn string_list(inputs: &Inputs, field: &str) -> Vec<String> {
    inputs
        .get(field)
        .and_then(Value::as_list)
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
