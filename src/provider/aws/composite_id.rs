//! The ids of kinds that are one item of another resource, `<parent>/<item>` (a target of
//! an EventBridge rule, a permission in a Lambda function's policy), and their outputs,
//! which are the id alone.

use crate::model::{Outputs, Value};
use crate::provider::{Created, ProviderError};

/// The id `<parent>/<item>`.
pub fn join(parent: &str, item: &str) -> String {
    format!("{parent}/{item}")
}

/// The two parts of `id` as the kind splits it (`split`: at its first or its last `/`);
/// an error naming the `kind` and the `form` it expects when either part is missing.
pub fn parts<'a>(
    split: Option<(&'a str, &'a str)>,
    id: &str,
    kind: &str,
    form: &str,
) -> Result<(&'a str, &'a str), ProviderError> {
    split
        .filter(|(parent, item)| !parent.is_empty() && !item.is_empty())
        .ok_or_else(|| ProviderError::Other(format!("malformed {kind} id {id:?}: expected {form}")))
}

/// The outputs of such a kind: its id.
pub fn outputs(id: &str) -> Outputs {
    Outputs::from([("id".to_string(), Value::str(id))])
}

/// What create and `find_existing` return for the item `id`.
pub fn created(id: String) -> Created {
    Created {
        outputs: outputs(&id),
        id,
    }
}
