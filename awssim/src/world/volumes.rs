//! EBS volume modifications (ModifyVolume) that take their time: `modifying`, then
//! `optimizing` (the new size usable), then `completed`, where LocalStack completes them at
//! once. While one runs, another ModifyVolume of the volume is refused
//! (`IncorrectModificationState`), DescribeVolumes still shows the old size until
//! `optimizing`, and DescribeVolumesModifications shows only the most recent modification
//! of each volume, as AWS does.

use super::{Model, Records, VolumeModification};
use crate::answer::AwsError;
use crate::call::Call;
use crate::xml::Element;

impl VolumeModification {
    /// The state AWS would report at model time `now`, and its progress in percent.
    fn state(&self, model: &Model, now: f64) -> (&'static str, u32) {
        let m = &model.volume;
        let elapsed = now - self.started;
        if elapsed < m.modifying_s {
            ("modifying", 0)
        } else if elapsed < m.modifying_s + m.optimizing_s {
            let share = (elapsed - m.modifying_s) / m.optimizing_s.max(f64::EPSILON);
            ("optimizing", (share * 100.0).clamp(1.0, 99.0) as u32)
        } else {
            ("completed", 100)
        }
    }

    fn running(&self, model: &Model, now: f64) -> bool {
        self.state(model, now).0 != "completed"
    }
}

/// ModifyVolume of a volume whose last modification has not completed.
pub(super) fn refuse_modify(
    model: &Model,
    records: &Records,
    call: &Call,
    now: f64,
) -> Option<(&'static str, AwsError)> {
    let id = call.params.get("VolumeId")?;
    let modification = records.volume_modifications.get(id)?;
    modification.running(model, now).then(|| {
        let state = modification.state(model, now).0.to_ascii_uppercase();
        (
            "volume-modification-running",
            AwsError::new(
                400,
                "IncorrectModificationState",
                format!("Volume {id} cannot be modified in modification state {state}"),
            ),
        )
    })
}

/// Records a ModifyVolume that LocalStack accepted (its answer says `modifying` already).
pub(super) fn record(records: &mut Records, root: &Element, now: f64) {
    let Some(m) = root.child("volumeModification") else {
        return;
    };
    let original = m
        .child_text("originalSize")
        .and_then(|s| s.trim().parse().ok());
    if let (Some(id), Some(original)) = (m.child_text("volumeId"), original) {
        records.volume_modifications.insert(
            id,
            VolumeModification {
                original,
                started: now,
            },
        );
    }
}

/// DescribeVolumesModifications: the most recent modification of each volume, in the state
/// AWS would report now.
pub(super) fn rewrite_modifications(
    model: &Model,
    records: &Records,
    root: &mut Element,
    now: f64,
) -> Option<&'static str> {
    let set = root.child_mut("volumeModificationSet")?;
    let mut seen = std::collections::BTreeSet::new();
    // LocalStack lists them oldest first: keep the last of each volume.
    let mut items: Vec<Element> = set.elements().cloned().collect();
    let listed = items.len();
    items.reverse();
    items.retain(|item| seen.insert(item.child_text("volumeId").unwrap_or_default()));
    items.reverse();
    let mut rule = (items.len() < listed).then_some("volume-modifications-latest");
    for item in &mut items {
        let Some(m) = item
            .child_text("volumeId")
            .and_then(|id| records.volume_modifications.get(&id))
        else {
            continue;
        };
        let (state, progress) = m.state(model, now);
        if state != "completed" {
            item.set_child_text("modificationState", state);
            item.set_child_text("progress", &progress.to_string());
            rule = Some("volume-modification-running");
        }
    }
    set.retain_elements(|_| false);
    for item in items {
        set.push(item);
    }
    rule
}

/// DescribeVolumes: a volume whose modification is still `modifying` has its old size.
pub(super) fn rewrite_sizes(
    model: &Model,
    records: &Records,
    root: &mut Element,
    now: f64,
) -> Option<&'static str> {
    let mut rule = None;
    root.walk_mut(&mut |e| {
        let Some(m) = e
            .child_text("volumeId")
            .and_then(|id| records.volume_modifications.get(&id))
        else {
            return;
        };
        if e.child("size").is_some() && m.state(model, now).0 == "modifying" {
            e.set_child_text("size", &m.original.to_string());
            rule = Some("volume-size-not-yet-grown");
        }
    });
    rule
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_modification_goes_modifying_optimizing_completed() {
        let model = Model::builtin();
        let m = VolumeModification {
            original: 8,
            started: 100.0,
        };
        let v = &model.volume;
        assert_eq!(m.state(&model, 100.0).0, "modifying");
        assert_eq!(m.state(&model, 100.0 + v.modifying_s).0, "optimizing");
        let done = 100.0 + v.modifying_s + v.optimizing_s;
        assert_eq!(m.state(&model, done), ("completed", 100));
        assert!(m.running(&model, done - 0.1) && !m.running(&model, done));
    }
}
