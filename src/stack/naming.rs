//! The naming convention `<project>-<stack>-<role>[-<n>]` and the tags every resource carries.

use crate::model::{Address, Value};
use crate::provider::aws::{tags_value, TAG_ADDRESS, TAG_STACK};

/// Names and tags for one stack.
#[derive(Debug, Clone)]
pub struct Naming {
    pub project: String,
    pub stack: String,
    pub environment: String,
}

impl Naming {
    /// `<project>-<stack>`, the prefix of every name.
    pub fn prefix(&self) -> String {
        format!("{}-{}", self.project, self.stack)
    }

    /// `<project>-<stack>-<role>`.
    pub fn name(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix())
    }

    /// `<project>-<stack>-<role>-<n+1>` for the `n`-th (0-based) of several.
    pub fn numbered(&self, role: &str, n: usize) -> String {
        format!("{}-{role}-{}", self.prefix(), n + 1)
    }

    /// The tags of a resource: environment, project, ownership and its name.
    pub fn tags(&self, address: &Address, name: &str) -> Value {
        tags_value([
            ("Environment", self.environment.as_str()),
            ("ManagedBy", "nova"),
            ("Name", name),
            ("Project", self.project.as_str()),
            (TAG_ADDRESS, address.to_string().as_str()),
            (TAG_STACK, self.stack.as_str()),
        ])
    }
}
