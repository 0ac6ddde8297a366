//! Refresh: reads every resource recorded in the state back through its provider (in
//! parallel, bounded), so a plan sees drift and resources deleted out of band; and
//! ([`existing`]) finds objects that already exist for resources the state lacks.

pub mod existing;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::model::Address;
use crate::provider::{
    Observed, OpContext, Progress, ProviderError, Providers, ReadRequest, ResourceProvider,
};
use crate::state::State;

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("{address}: no provider for resource kind `{kind}` (state written by a newer nova?)")]
    MissingProvider { address: Address, kind: String },
    #[error("{address}: refresh failed: {source}")]
    Read {
        address: Address,
        #[source]
        source: ProviderError,
    },
    #[error("{address}: looking for an object that already exists failed: {source}")]
    Lookup {
        address: Address,
        #[source]
        source: ProviderError,
    },
}

/// How many reads a refresh makes at once for a run of `parallelism` changes: four times
/// as many (reads are cheap, and AWS's read buckets are several times its write buckets:
/// EC2 allows 100 describes in a burst against 50 mutating calls). At AWS's latency this
/// took a no-op plan of the default stack (72 reads) from 2.3 s to 1.5-1.8 s.
pub fn read_parallelism(parallelism: usize) -> usize {
    parallelism.max(1) * READS_PER_CHANGE
}

const READS_PER_CHANGE: usize = 4;

/// Reads every resource in `state`; at most `parallelism` reads at once. The resources of
/// a kind whose provider reads in batches ([`ResourceProvider::reads_in_batches`]) are read
/// together, as one of those reads.
pub async fn refresh(
    stack: &str,
    state: &State,
    providers: &Providers,
    parallelism: usize,
    progress: Arc<dyn Progress>,
) -> Result<BTreeMap<Address, Observed>, RefreshError> {
    if let Some(resource) = state
        .resources
        .iter()
        .find(|r| providers.get(&r.kind).is_none())
    {
        return Err(RefreshError::MissingProvider {
            address: resource.address.clone(),
            kind: resource.kind.clone(),
        });
    }
    let permits = Arc::new(Semaphore::new(parallelism.max(1)));
    let mut reads = JoinSet::new();
    for KindReads { provider, requests } in requests_by_kind(stack, state, providers, &progress) {
        let batches: Vec<Vec<ReadRequest>> = if provider.reads_in_batches() {
            vec![requests]
        } else {
            requests.into_iter().map(|r| vec![r]).collect()
        };
        for batch in batches {
            let (provider, permits) = (provider.clone(), permits.clone());
            reads.spawn(async move {
                let _permit = permits.acquire_owned().await;
                read_batch(provider.as_ref(), batch).await
            });
        }
    }
    let mut observed = BTreeMap::new();
    let mut first_error = None;
    while let Some(joined) = reads.join_next().await {
        let results = joined.expect("refresh task panicked");
        for (address, result) in results {
            match result {
                Ok(o) => {
                    observed.insert(address, o);
                }
                Err(source) => {
                    let err = RefreshError::Read { address, source };
                    // Keep the error of the smallest address, so the message is deterministic.
                    if first_error
                        .as_ref()
                        .is_none_or(|e: &RefreshError| address_of(&err) < address_of(e))
                    {
                        first_error = Some(err);
                    }
                }
            }
        }
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(observed),
    }
}

/// The resources of one kind to read, with their provider.
struct KindReads {
    provider: Arc<dyn ResourceProvider>,
    requests: Vec<ReadRequest>,
}

/// The state's resources as read requests, by kind (those of kinds without a provider
/// left out: [`refresh`] refuses such a state first).
fn requests_by_kind(
    stack: &str,
    state: &State,
    providers: &Providers,
    progress: &Arc<dyn Progress>,
) -> Vec<KindReads> {
    let mut by_kind: BTreeMap<&str, KindReads> = BTreeMap::new();
    for resource in &state.resources {
        let Some(provider) = providers.get(&resource.kind) else {
            continue;
        };
        let ctx = OpContext {
            stack: stack.to_string(),
            address: resource.address.clone(),
            client_token: String::new(),
            known_ids: vec![resource.id.clone()],
            progress: progress.clone(),
        };
        let request = ReadRequest {
            ctx,
            id: resource.id.clone(),
            applied: resource.inputs.clone(),
        };
        by_kind
            .entry(resource.kind.as_str())
            .or_insert_with(|| KindReads {
                provider: provider.clone(),
                requests: Vec::new(),
            })
            .requests
            .push(request);
    }
    by_kind.into_values().collect()
}

/// Reads one batch; a batch that fails is reported at its first resource.
async fn read_batch(
    provider: &dyn ResourceProvider,
    batch: Vec<ReadRequest>,
) -> Vec<(Address, Result<Observed, ProviderError>)> {
    let result = match batch.as_slice() {
        [one] => provider
            .read(&one.ctx, &one.id, &one.applied)
            .await
            .map(|o| vec![o]),
        _ => provider.read_batch(&batch).await,
    };
    let mut addresses: Vec<Address> = batch.into_iter().map(|r| r.ctx.address).collect();
    match result {
        Ok(observed) if observed.len() == addresses.len() => addresses
            .into_iter()
            .zip(observed.into_iter().map(Ok))
            .collect(),
        Ok(observed) => {
            let message = format!(
                "a batch read of {} resources returned {} results",
                addresses.len(),
                observed.len()
            );
            vec![(addresses.swap_remove(0), Err(ProviderError::Other(message)))]
        }
        Err(err) => vec![(addresses.swap_remove(0), Err(err))],
    }
}

fn address_of(err: &RefreshError) -> &Address {
    match err {
        RefreshError::MissingProvider { address, .. }
        | RefreshError::Read { address, .. }
        | RefreshError::Lookup { address, .. } => address,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::model::{Inputs, Outputs, Value};
    use crate::provider::aws::ec2_network::{SUBNET_SCHEMA, VPC_SCHEMA};
    use crate::provider::{Created, Recorded, Schema, SilentProgress, Update};
    use crate::state::ResourceState;

    /// Reads every id as present (its id as its only output), counting single and batch
    /// reads; a batch that holds the id `broken` fails.
    struct Counting {
        schema: &'static Schema,
        batches: bool,
        singles: AtomicUsize,
        batch_calls: AtomicUsize,
    }

    impl Counting {
        fn new(schema: &'static Schema, batches: bool) -> Arc<Self> {
            Arc::new(Counting {
                schema,
                batches,
                singles: AtomicUsize::new(0),
                batch_calls: AtomicUsize::new(0),
            })
        }

        fn observed(id: &str) -> Observed {
            Observed::Present {
                inputs: Inputs::new(),
                outputs: [("id".to_string(), Value::str(id))].into(),
            }
        }
    }

    #[async_trait]
    impl ResourceProvider for Counting {
        fn schema(&self) -> &Schema {
            self.schema
        }

        async fn create(&self, _: &OpContext, _: &Inputs) -> Result<Created, ProviderError> {
            unreachable!("a refresh creates nothing")
        }

        async fn read(
            &self,
            _: &OpContext,
            id: &str,
            _: &Inputs,
        ) -> Result<Observed, ProviderError> {
            self.singles.fetch_add(1, Ordering::SeqCst);
            Ok(Self::observed(id))
        }

        fn reads_in_batches(&self) -> bool {
            self.batches
        }

        async fn read_batch(&self, reads: &[ReadRequest]) -> Result<Vec<Observed>, ProviderError> {
            self.batch_calls.fetch_add(1, Ordering::SeqCst);
            if reads.iter().any(|r| r.id == "broken") {
                return Err(ProviderError::Other("the batch failed".into()));
            }
            Ok(reads.iter().map(|r| Self::observed(&r.id)).collect())
        }

        async fn update(&self, _: &OpContext, _: Update<'_>) -> Result<Outputs, ProviderError> {
            unreachable!("a refresh updates nothing")
        }

        async fn delete(&self, _: &OpContext, _: Recorded<'_>) -> Result<(), ProviderError> {
            unreachable!("a refresh deletes nothing")
        }

        async fn find_existing(
            &self,
            _: &OpContext,
            _: &Inputs,
        ) -> Result<Option<Created>, ProviderError> {
            unreachable!("a refresh of the state looks for nothing")
        }
    }

    fn state_of(resources: &[(&str, &str)]) -> State {
        let mut state = State::new();
        for (address, id) in resources {
            let address: Address = address.parse().expect("address");
            state.resources.push(ResourceState {
                kind: address.kind().to_string(),
                address,
                id: id.to_string(),
                inputs: Inputs::new(),
                outputs: Outputs::new(),
                dependencies: Default::default(),
            });
        }
        state
    }

    async fn refresh_with(
        state: &State,
        subnets: &Arc<Counting>,
        vpcs: &Arc<Counting>,
    ) -> Result<BTreeMap<Address, Observed>, RefreshError> {
        let mut providers = Providers::new();
        providers.register(subnets.clone());
        providers.register(vpcs.clone());
        refresh("test", state, &providers, 2, Arc::new(SilentProgress)).await
    }

    #[tokio::test]
    async fn a_kind_that_reads_in_batches_is_read_in_one_batch() {
        let state = state_of(&[
            ("aws_subnet.a", "subnet-a"),
            ("aws_subnet.b", "subnet-b"),
            ("aws_subnet.c", "subnet-c"),
            ("aws_vpc.main", "vpc-1"),
            ("aws_vpc.other", "vpc-2"),
        ]);
        let (subnets, vpcs) = (
            Counting::new(&SUBNET_SCHEMA, true),
            Counting::new(&VPC_SCHEMA, false),
        );
        let observed = refresh_with(&state, &subnets, &vpcs)
            .await
            .expect("refresh");
        assert_eq!(subnets.batch_calls.load(Ordering::SeqCst), 1);
        assert_eq!(subnets.singles.load(Ordering::SeqCst), 0);
        assert_eq!(vpcs.batch_calls.load(Ordering::SeqCst), 0);
        assert_eq!(vpcs.singles.load(Ordering::SeqCst), 2);
        // Each result under its own address.
        for resource in &state.resources {
            assert_eq!(
                observed[&resource.address],
                Counting::observed(&resource.id)
            );
        }
        assert_eq!(observed.len(), 5);
    }

    #[tokio::test]
    async fn a_failed_batch_is_reported_at_its_first_resource() {
        let state = state_of(&[("aws_subnet.a", "subnet-a"), ("aws_subnet.b", "broken")]);
        let (subnets, vpcs) = (
            Counting::new(&SUBNET_SCHEMA, true),
            Counting::new(&VPC_SCHEMA, false),
        );
        let err = refresh_with(&state, &subnets, &vpcs).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "aws_subnet.a: refresh failed: the batch failed"
        );
    }

    #[tokio::test]
    async fn a_kind_without_a_provider_is_refused_before_any_read() {
        let state = state_of(&[("aws_subnet.a", "subnet-a"), ("aws_instance.web", "i-1")]);
        let (subnets, vpcs) = (
            Counting::new(&SUBNET_SCHEMA, true),
            Counting::new(&VPC_SCHEMA, false),
        );
        let err = refresh_with(&state, &subnets, &vpcs).await.unwrap_err();
        assert!(matches!(err, RefreshError::MissingProvider { .. }), "{err}");
        assert_eq!(subnets.singles.load(Ordering::SeqCst), 0);
        assert_eq!(subnets.batch_calls.load(Ordering::SeqCst), 0);
    }
}
