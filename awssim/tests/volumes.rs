//! awssim's EBS volume modifications against LocalStack, through the real SDK: ModifyVolume
//! goes `modifying`, `optimizing`, `completed` with the model's timing (LocalStack completes
//! it at once), the old size shows until `optimizing`, a second modification is refused
//! while one runs, and only the most recent modification of a volume is listed.

mod common;

use std::time::Duration;

use aws_sdk_ec2::types::VolumeModificationState;
use aws_sdk_ec2::Client;
use common::{code, eventually, quiet_model, sim};

const WAIT: Duration = Duration::from_secs(30);

async fn modification(ec2: &Client, id: &str) -> (Vec<i32>, VolumeModificationState) {
    let out = ec2
        .describe_volumes_modifications()
        .volume_ids(id)
        .send()
        .await
        .expect("DescribeVolumesModifications");
    let list = out.volumes_modifications();
    let targets = list.iter().filter_map(|m| m.target_size()).collect();
    let state = list
        .last()
        .and_then(|m| m.modification_state())
        .cloned()
        .expect("a state");
    (targets, state)
}

async fn size(ec2: &Client, id: &str) -> i32 {
    ec2.describe_volumes()
        .volume_ids(id)
        .send()
        .await
        .expect("DescribeVolumes")
        .volumes()[0]
        .size()
        .expect("a size")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_modification_takes_its_time_and_blocks_the_next() {
    let mut model = quiet_model();
    model.volume.modifying_s = 10.0;
    model.volume.optimizing_s = 40.0;
    // 0.5 s modifying, 2 s optimizing.
    let sim = sim(model, 0.05);
    let ec2 = Client::new(&common::sdk(&sim.endpoint(), 1).await);
    let direct = Client::new(&common::sdk(&common::localstack(), 1).await);
    let volume = ec2
        .create_volume()
        .availability_zone("us-east-1a")
        .size(8)
        .send()
        .await
        .expect("CreateVolume")
        .volume_id
        .expect("volume id");

    let answer = ec2
        .modify_volume()
        .volume_id(&volume)
        .size(16)
        .send()
        .await
        .expect("ModifyVolume");
    let m = answer.volume_modification().expect("a modification");
    assert_eq!(
        m.modification_state(),
        Some(&VolumeModificationState::Modifying)
    );
    assert_eq!(m.target_size(), Some(16));

    // LocalStack is done at once; awssim says what AWS says.
    assert_eq!(
        modification(&direct, &volume).await.1,
        VolumeModificationState::Completed
    );
    assert_eq!(
        modification(&ec2, &volume).await,
        (vec![16], VolumeModificationState::Modifying)
    );
    assert_eq!(size(&ec2, &volume).await, 8, "old size while modifying");
    assert_eq!(size(&direct, &volume).await, 16);
    let refused = ec2
        .modify_volume()
        .volume_id(&volume)
        .size(20)
        .send()
        .await
        .expect_err("a second modification while one runs");
    assert_eq!(code(&refused), "IncorrectModificationState");

    eventually("optimizing", WAIT, || async {
        (modification(&ec2, &volume).await.1 == VolumeModificationState::Optimizing).then_some(())
    })
    .await;
    assert_eq!(size(&ec2, &volume).await, 16, "new size from optimizing on");
    eventually("completed", WAIT, || async {
        (modification(&ec2, &volume).await.1 == VolumeModificationState::Completed).then_some(())
    })
    .await;

    // Completed: the next modification is accepted, and only the latest is listed
    // (LocalStack lists both).
    ec2.modify_volume()
        .volume_id(&volume)
        .size(20)
        .send()
        .await
        .expect("ModifyVolume after completion");
    assert_eq!(
        modification(&ec2, &volume).await,
        (vec![20], VolumeModificationState::Modifying)
    );
    assert_eq!(modification(&direct, &volume).await.0, vec![16, 20]);
    let stats = sim.stats();
    assert_eq!(
        stats.refusals.get("volume-modification-running"),
        Some(&1),
        "{stats:?}"
    );
    assert!(
        stats.rewrites.contains_key("volume-size-not-yet-grown"),
        "{stats:?}"
    );

    ec2.delete_volume()
        .volume_id(&volume)
        .send()
        .await
        .expect("DeleteVolume");
}
