//! How API Gateway calls are sent and their errors read: a read, where gone gives `None`,
//! and a change, sent again while the API is busy. Every call's error names its operation
//! ([`aws_error`]).

use std::future::Future;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{retry_busy, NOT_FOUND};
use crate::provider::aws::{aws_error, unless_gone};
use crate::provider::{OpContext, ProviderError};

/// The result of a call (or a page of a listing) as `operation`'s: `None` when what it
/// reads, or the API it belongs to, does not exist.
pub(super) fn unless_missing<T, E>(
    operation: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> Result<Option<T>, ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    unless_gone(result.map_err(|e| aws_error(operation, e)), NOT_FOUND)
}

/// Sends a change, again (bounded) while API Gateway is busy ([`retry_busy`]); `what` says
/// what is being done in the notes of retries.
pub(super) async fn change<T, E, F, Fut>(
    ctx: &OpContext,
    what: &str,
    operation: &str,
    call: F,
) -> Result<T, ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let call = &call;
    retry_busy(ctx, what, || async move {
        call().await.map_err(|e| aws_error(operation, e))
    })
    .await
}
