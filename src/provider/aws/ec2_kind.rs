//! The provider of an EC2 kind, written once: each kind says how to create, observe,
//! update and delete its object ([`Ec2Kind`]), and [`Ec2`] makes that a
//! [`ResourceProvider`] whose reads (one id, or a refresh's every id in one Describe*
//! call) and search by ownership tags are the same for every kind.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use async_trait::async_trait;
use aws_sdk_ec2::Client;

use super::ec2_network::blockers::{delete_when_free, Holder};
use super::ec2_objects::{describe_many, describe_one, find_owned, Ec2Object};
use super::{ok_if_gone, AwsClients};
use crate::model::{Inputs, Outputs};
use crate::provider::{
    Created, Observed, OpContext, ProviderError, ReadRequest, ResourceProvider, Schema,
};
use crate::provider::{Recorded, Update};

/// What is particular to one EC2 kind. The methods mean what [`ResourceProvider`]'s do.
#[async_trait]
pub trait Ec2Kind: Send + Sync + 'static {
    /// The object EC2 describes for this kind.
    type Object: Ec2Object;

    const SCHEMA: &'static Schema;

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError>;

    /// The resource as `object` shows it, in the shape of its inputs (`applied`: what was
    /// last applied); may ask EC2 for what the object does not carry.
    async fn observe(
        &self,
        object: &Self::Object,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError>;

    /// Observes several objects of this kind (a refresh's batch): by default each one on
    /// its own, all at once. A kind whose objects need calls of their own to observe can
    /// make them once for the whole batch.
    async fn observe_batch(
        &self,
        objects: &[(&Self::Object, &Inputs)],
    ) -> Result<Vec<Observed>, ProviderError> {
        all_of(
            objects
                .iter()
                .map(|(object, applied)| self.observe(object, applied)),
        )
        .await
    }

    /// An object found by its ownership tags, as a create's result.
    async fn adopt(&self, ctx: &OpContext, object: &Self::Object)
        -> Result<Created, ProviderError>;

    /// The object an interrupted create made: by default the one with this operation's
    /// ownership tags ([`find_owned`], through `ec2`).
    async fn find_existing(
        &self,
        ec2: &Client,
        ctx: &OpContext,
        _inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        match find_owned::<Self::Object>(ec2, ctx).await? {
            Some(object) => self.adopt(ctx, &object).await.map(Some),
            None => Ok(None),
        }
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError>;

    /// What the object is while other objects use it (a VPC, a subnet, ...), for kinds
    /// whose delete EC2 refuses while it is in use; `None` for the others.
    fn holder(_id: &str) -> Option<Holder<'_>> {
        None
    }

    /// Deletes the object: by default its delete call ([`Ec2Object::delete`]), retried
    /// while something uses it ([`delete_when_free`], for kinds with a
    /// [`Ec2Kind::holder`]); an object already gone counts as deleted.
    async fn delete(
        &self,
        ec2: &Client,
        ctx: &OpContext,
        object: Recorded<'_>,
    ) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        let not_found = <Self::Object as Ec2Object>::NOT_FOUND;
        let delete = || <Self::Object as Ec2Object>::delete(ec2, id);
        match Self::holder(id) {
            Some(holder) => delete_when_free(ctx, ec2, holder, not_found, delete).await,
            None => ok_if_gone(delete().await, not_found),
        }
    }

    fn delete_note(&self, _inputs: &Inputs) -> Option<String> {
        None
    }

    fn update_note(&self, _old: &Inputs, _new: &Inputs) -> Option<String> {
        None
    }
}

/// The id a create call returned (`None`: the answer had none, which AWS never does).
pub fn returned_id(operation: &str, id: Option<&str>) -> Result<String, ProviderError> {
    id.map(str::to_string)
        .ok_or_else(|| ProviderError::Other(format!("{operation} returned no id")))
}

/// The [`ResourceProvider`] of an EC2 kind: the kind, and the client its reads go through.
pub struct Ec2<K> {
    kind: K,
    ec2: Client,
}

impl<K: Ec2Kind> Ec2<K> {
    /// The provider of `kind`, reading through the clients' EC2 client.
    pub fn provider(clients: &AwsClients, kind: K) -> Arc<dyn ResourceProvider> {
        Arc::new(Ec2 {
            kind,
            ec2: clients.ec2.clone(),
        })
    }
}

#[async_trait]
impl<K: Ec2Kind> ResourceProvider for Ec2<K> {
    fn schema(&self) -> &Schema {
        K::SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        self.kind.create(ctx, inputs).await
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        match describe_one::<K::Object>(&self.ec2, id).await? {
            Some(object) => self.kind.observe(&object, applied).await,
            None => Ok(Observed::Gone),
        }
    }

    fn reads_in_batches(&self) -> bool {
        true
    }

    /// One Describe* call for every id (per hundred), then the objects found observed
    /// together; the others are gone.
    async fn read_batch(&self, reads: &[ReadRequest]) -> Result<Vec<Observed>, ProviderError> {
        let ids: Vec<&str> = reads.iter().map(|r| r.id.as_str()).collect();
        let found = describe_many::<K::Object>(&self.ec2, &ids).await?;
        let present: Vec<(&K::Object, &Inputs)> = reads
            .iter()
            .filter_map(|read| Some((found.get(&read.id)?, &read.applied)))
            .collect();
        let mut observed = self.kind.observe_batch(&present).await?.into_iter();
        reads
            .iter()
            .map(|read| match found.get(&read.id) {
                Some(_) => observed.next().ok_or_else(|| {
                    ProviderError::Other(format!("no observation of {} in its batch", read.id))
                }),
                None => Ok(Observed::Gone),
            })
            .collect()
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        self.kind.update(ctx, change).await
    }

    async fn delete(&self, ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError> {
        self.kind.delete(&self.ec2, ctx, object).await
    }

    async fn find_existing(
        &self,
        ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        self.kind.find_existing(&self.ec2, ctx, inputs).await
    }

    fn delete_note(&self, inputs: &Inputs) -> Option<String> {
        self.kind.delete_note(inputs)
    }

    fn update_note(&self, old: &Inputs, new: &Inputs) -> Option<String> {
        self.kind.update_note(old, new)
    }
}

/// How many of a batch's observations run at once: a batch of a hundred instances must
/// not become two hundred calls in flight (AWS's buckets), yet two VPCs' attribute reads
/// need not wait for each other.
const OBSERVES_AT_ONCE: usize = 8;

/// Runs `futures`, [`OBSERVES_AT_ONCE`] at a time (in order, the next one starting as one
/// finishes), and returns their results in order, or the first error.
pub async fn all_of<T, F>(futures: impl IntoIterator<Item = F>) -> Result<Vec<T>, ProviderError>
where
    F: Future<Output = Result<T, ProviderError>>,
{
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut in_flight = 0;
        for (future, result) in pending.iter_mut().zip(results.iter_mut()) {
            if result.is_some() {
                continue;
            }
            if in_flight == OBSERVES_AT_ONCE {
                break;
            }
            match future.as_mut().poll(cx) {
                Poll::Ready(Ok(value)) => *result = Some(value),
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => in_flight += 1,
            }
        }
        if results.iter().all(Option::is_some) {
            Poll::Ready(Ok(results.iter_mut().filter_map(Option::take).collect()))
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn all_of_keeps_order_and_runs_at_once() {
        // Each future waits at the barrier until all three are there: run one after the
        // other, the first would wait forever.
        let barrier = tokio::sync::Barrier::new(3);
        let runs = all_of([3, 1, 2].map(|n| {
            let barrier = &barrier;
            async move {
                barrier.wait().await;
                Ok::<_, ProviderError>(n)
            }
        }));
        let results = tokio::time::timeout(std::time::Duration::from_secs(10), runs)
            .await
            .expect("the futures ran at once")
            .expect("no errors");
        assert_eq!(results, [3, 1, 2]);
    }

    #[tokio::test]
    async fn all_of_runs_at_most_a_few_at_once() {
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let results = all_of((0..20).map(|n| {
            let (now, most) = (&now, &most);
            async move {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(running, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ProviderError>(n)
            }
        }))
        .await
        .expect("no errors");
        assert_eq!(results, (0..20).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), OBSERVES_AT_ONCE);
    }

    #[tokio::test]
    async fn all_of_returns_the_first_error() {
        let results = all_of([1, 2, 3].map(|n| async move {
            if n == 2 {
                Err(ProviderError::Other("two".into()))
            } else {
                Ok(n)
            }
        }))
        .await;
        assert!(matches!(results, Err(ProviderError::Other(m)) if m == "two"));
    }
}
