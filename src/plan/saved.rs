//! Saved plans (`nova plan --out FILE`, applied with `nova up FILE`): the file format, and
//! the stale-plan rule: a saved plan applies only to the state it was made from (same stack,
//! same `lineage` and `serial`), as Terraform's plan files do.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Plan;
use crate::state::State;

const FORMAT: &str = "nova-plan";
const VERSION: u32 = 1;

/// A saved plan file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlan {
    format: String,
    format_version: u32,
    pub plan: Plan,
}

/// Why a saved plan cannot be read or applied.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot read the plan file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the plan to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a plan saved by `nova plan --out`{}", path.display(), detail(format))]
    NotAPlan {
        path: PathBuf,
        /// The format the file names, when it names one.
        format: Option<String>,
    },
    #[error("{} is a {FORMAT} v{found} file; this nova reads {FORMAT} v{VERSION}: make a new plan with `nova plan --out`", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error("{} is a damaged plan file: {source}", path.display())]
    Damaged {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("the plan was made for stack `{planned}`, not `{stack}`")]
    OtherStack { planned: String, stack: String },
    #[error("the saved plan is stale: it was made from state lineage {planned_lineage} serial {planned_serial}, but the state {state_location} is now lineage {lineage} serial {serial}; make a new plan with `nova plan --out`")]
    Stale {
        planned_lineage: String,
        planned_serial: u64,
        state_location: String,
        lineage: String,
        serial: u64,
    },
}

fn detail(format: &Option<String>) -> String {
    format
        .as_ref()
        .map(|f| format!(": its format is `{f}`"))
        .unwrap_or_default()
}

/// The first fields of a saved plan, read before the plan itself so that a plan file of
/// another format version is named as such rather than failing on its first changed field.
#[derive(Debug, Deserialize)]
struct Header {
    format: String,
    format_version: u32,
}

impl SavedPlan {
    pub fn new(plan: Plan) -> Self {
        SavedPlan {
            format: FORMAT.to_string(),
            format_version: VERSION,
            plan,
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), SavedPlanError> {
        let text = serde_json::to_string_pretty(self).expect("a plan serializes");
        std::fs::write(path, text + "\n").map_err(|source| SavedPlanError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a saved plan, refusing anything that is not one.
    pub fn load(path: &Path) -> Result<SavedPlan, SavedPlanError> {
        let text = std::fs::read_to_string(path).map_err(|source| SavedPlanError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let header: Header = serde_json::from_str(&text).map_err(|_| SavedPlanError::NotAPlan {
            path: path.to_path_buf(),
            format: None,
        })?;
        if header.format != FORMAT {
            return Err(SavedPlanError::NotAPlan {
                path: path.to_path_buf(),
                format: Some(header.format),
            });
        }
        if header.format_version != VERSION {
            return Err(SavedPlanError::Version {
                path: path.to_path_buf(),
                found: header.format_version,
            });
        }
        serde_json::from_str(&text).map_err(|source| SavedPlanError::Damaged {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The stale-plan rule: the plan applies only to `stack`'s state as it was planned
    /// (`state_location` names the state in the message). A stack with no state file yet takes
    /// the plan's lineage: the plan was made against the same empty state.
    pub fn check_applies_to(
        &self,
        stack: &str,
        state: &mut State,
        state_location: &str,
    ) -> Result<(), SavedPlanError> {
        let plan = &self.plan;
        if plan.stack != stack {
            return Err(SavedPlanError::OtherStack {
                planned: plan.stack.clone(),
                stack: stack.to_string(),
            });
        }
        if state.serial == 0 && plan.serial == 0 && state.resources.is_empty() {
            state.lineage = plan.lineage.clone();
            return Ok(());
        }
        if plan.lineage != state.lineage || plan.serial != state.serial {
            return Err(SavedPlanError::Stale {
                planned_lineage: plan.lineage.clone(),
                planned_serial: plan.serial,
                state_location: state_location.to_string(),
                lineage: state.lineage.clone(),
                serial: state.serial,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::{applied_network_state, empty_state};
    use crate::plan::{destroy_plan, NoNotes};

    fn saved(state: &State) -> SavedPlan {
        SavedPlan::new(destroy_plan("demo", state, &NoNotes))
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.plan");
        let plan = saved(&applied_network_state());
        plan.save(&path).unwrap();
        assert_eq!(SavedPlan::load(&path).unwrap(), plan);
    }

    #[test]
    fn applies_only_to_the_state_it_was_made_from() {
        let state = applied_network_state();
        let plan = saved(&state);
        let path = "state/demo.json";
        assert!(plan
            .check_applies_to("demo", &mut state.clone(), path)
            .is_ok());
        let err = plan.check_applies_to("other", &mut state.clone(), path);
        assert!(matches!(err, Err(SavedPlanError::OtherStack { .. })));
        let mut moved_on = state.clone();
        moved_on.serial += 1;
        let err = plan
            .check_applies_to("demo", &mut moved_on, path)
            .unwrap_err();
        assert!(err.to_string().contains("the saved plan is stale"), "{err}");
        let mut fresh = empty_state();
        fresh.serial = 0;
        let mut for_fresh = saved(&fresh);
        for_fresh.plan.lineage = "planned-lineage".into();
        for_fresh
            .check_applies_to("demo", &mut fresh, path)
            .unwrap();
        assert_eq!(fresh.lineage, "planned-lineage");
    }
}
