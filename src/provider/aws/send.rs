//! Finishing an AWS SDK call the one way every service here does: await its `send()`, turn
//! an SDK error into a [`ProviderError`] that names the operation ([`aws_error`]), and,
//! for reads and deletes, treat the service's "does not exist" codes as gone.

use std::future::Future;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{aws_error, unless_gone};
use crate::provider::ProviderError;

/// The answer of `call` (an SDK `send()`, or a paginator's collected pages), its error
/// converted for `operation`.
pub async fn send<T, E>(
    operation: &str,
    call: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> Result<T, ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    call.await.map_err(|e| aws_error(operation, e))
}

/// [`send`] for a call whose answer nova does not read.
pub async fn send_only<T, E>(
    operation: &str,
    call: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> Result<(), ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    send(operation, call).await.map(|_| ())
}

/// [`send`], `None` when the call failed with one of the `gone` codes.
pub async fn send_unless_gone<T, E>(
    operation: &str,
    gone: &[&str],
    call: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> Result<Option<T>, ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    unless_gone(send(operation, call).await, gone)
}

/// [`send`] for a delete: deleting something already gone (one of the `gone` codes)
/// succeeds.
pub async fn send_ok_if_gone<T, E>(
    operation: &str,
    gone: &[&str],
    call: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> Result<(), ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    send_unless_gone(operation, gone, call).await.map(|_| ())
}
