//! Creates whose outcome nova cannot know: the call timed out, failed with a 5xx or lost its
//! connection after the request went out, or answered "already exists" (its earlier
//! attempt may have gone through). Such a create is resolved the way crash recovery
//! resolves a pending one: by looking for what it made (ownership tags, natural keys) and
//! adopting it, never by making a second one. Only when nothing was made is it tried again;
//! a throttled create (nothing was done) is simply tried again after a pause. A delete
//! whose outcome is uncertain is done when the resource is gone.

use std::time::Duration;

use crate::model::Inputs;
use crate::plan::planner::diff_fields;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider};
use crate::provider::{Recorded, Update};

/// How many times a create is made at most (throttled, or an unknown outcome after which
/// nothing was found).
const ATTEMPTS: u32 = 5;
/// The pause before the second attempt, doubled for each further one.
const FIRST_PAUSE: Duration = Duration::from_millis(500);
/// How many times nova looks for what an uncertain create made before it concludes that
/// nothing was made (AWS's listings are eventually consistent), and the pause between.
const LOOKS: u32 = 3;
const LOOK_PAUSE: Duration = Duration::from_secs(1);

/// Why a create did not produce a resource.
#[derive(Debug)]
pub(crate) enum CreateError {
    /// AWS refused it (or it kept being throttled): nothing was made.
    Failed(ProviderError),
    /// AWS says it exists, and nothing of this stack carries that name or key: it belongs
    /// to someone else.
    Taken(ProviderError),
    /// The outcome is unknown and the lookup failed too: whether something was made is for
    /// the next run's recovery to find out (the pending operation stays).
    Unknown {
        call: ProviderError,
        lookup: ProviderError,
    },
}

/// Creates the resource, resolving uncertain outcomes by looking (see the module doc).
pub(crate) async fn create(
    provider: &dyn ResourceProvider,
    ctx: &OpContext,
    inputs: &Inputs,
) -> Result<Created, CreateError> {
    let mut pause = FIRST_PAUSE;
    for attempt in 1..=ATTEMPTS {
        let err = match provider.create(ctx, inputs).await {
            Ok(created) => return Ok(created),
            Err(err) => err,
        };
        let last = attempt == ATTEMPTS;
        if err.is_throttled() && !last {
            ctx.note(&format!("throttled ({err}); trying again in {pause:?}"));
        } else if err.is_uncertain() || err.is_already_exists() {
            ctx.note(&format!(
                "the outcome of the create is not known ({err}); looking for what it made"
            ));
            match look(provider, ctx, inputs).await {
                Ok(Some(adopted)) => return Ok(adopted),
                Ok(None) if err.is_already_exists() => return Err(CreateError::Taken(err)),
                Ok(None) if last => return Err(CreateError::Failed(err)),
                Ok(None) => ctx.note(&format!(
                    "nothing was made; trying the create again in {pause:?}"
                )),
                Err(lookup) => return Err(CreateError::Unknown { call: err, lookup }),
            }
        } else {
            return Err(CreateError::Failed(err));
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
    unreachable!("the last attempt returns")
}

/// Looks up to [`LOOKS`] times for what an uncertain create made, adopting it when found.
async fn look(
    provider: &dyn ResourceProvider,
    ctx: &OpContext,
    inputs: &Inputs,
) -> Result<Option<Created>, ProviderError> {
    for look in 1..=LOOKS {
        if let Some(adopted) = adopt(provider, ctx, inputs).await? {
            return Ok(Some(adopted));
        }
        if look < LOOKS {
            tokio::time::sleep(LOOK_PAUSE).await;
        }
    }
    Ok(None)
}

/// What an interrupted or uncertain create made for this address (its ownership tags or
/// natural key, never one of `ctx.known_ids`), brought to `inputs`: a create that stopped
/// half-way (a security group without its rules, a role without its policies) is finished
/// by an in-place update. `None` when nothing was made.
pub(crate) async fn adopt(
    provider: &dyn ResourceProvider,
    ctx: &OpContext,
    inputs: &Inputs,
) -> Result<Option<Created>, ProviderError> {
    let Some(found) = provider.find_existing(ctx, inputs).await? else {
        return Ok(None);
    };
    if ctx.is_known(&found.id) {
        return Ok(None);
    }
    ctx.note(&format!(
        "found {} made by this create: adopting it",
        found.id
    ));
    let (live, outputs) = match provider.read(ctx, &found.id, inputs).await? {
        Observed::Present { inputs, outputs } => (inputs, outputs),
        Observed::Gone => return Ok(None),
    };
    let schema = provider.schema();
    let diffs = diff_fields(&live, inputs, schema);
    if diffs.is_empty() || diffs.iter().any(|d| d.forces_replacement) {
        // Either nothing is left to do, or only a replacement could do it: the next plan
        // shows that (the state records what was asked for, the refresh what is there).
        return Ok(Some(Created {
            id: found.id,
            outputs,
        }));
    }
    let fields: Vec<&str> = diffs.iter().map(|d| d.field.as_str()).collect();
    ctx.note(&format!("finishing {}: {}", found.id, fields.join(", ")));
    let outputs = provider
        .update(
            ctx,
            Update {
                id: &found.id,
                old: &live,
                new: inputs,
                outputs: &outputs,
            },
        )
        .await?;
    Ok(Some(Created {
        id: found.id,
        outputs,
    }))
}

/// Deletes the resource; a delete whose outcome is uncertain (its answer lost after the
/// SDK's retries) is done when the resource is gone now.
pub(crate) async fn delete(
    provider: &dyn ResourceProvider,
    ctx: &OpContext,
    id: &str,
    inputs: &Inputs,
    outputs: &crate::model::Outputs,
) -> Result<(), ProviderError> {
    match provider
        .delete(
            ctx,
            Recorded {
                id,
                inputs,
                outputs,
            },
        )
        .await
    {
        Err(err) if err.is_uncertain() => {
            ctx.note(&format!(
                "the outcome of the delete is not known ({err}); looking whether {id} is gone"
            ));
            match provider.read(ctx, id, inputs).await {
                Ok(Observed::Gone) => Ok(()),
                _ => Err(err),
            }
        }
        other => other,
    }
}
