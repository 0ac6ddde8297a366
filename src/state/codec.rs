//! The state's bytes, for every backend: decoding (each problem its own error, naming
//! where the bytes came from) and encoding the next version (validated first).

use super::error::StateError;
use super::format::{State, STATE_VERSION};
use super::location::{Location, Restore};
use super::validate::validate;

/// Parses and validates the bytes of a state read from `location`; `restore` says how
/// to get a good one back if they are damaged. Resources come back sorted by address.
pub fn decode(bytes: &[u8], location: &Location, restore: &Restore) -> Result<State, StateError> {
    let location = || location.clone();
    let restore = || restore.clone();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(StateError::Empty {
            location: location(),
            restore: restore(),
        });
    }
    let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            StateError::Truncated {
                location: location(),
                line: e.line(),
                column: e.column(),
                restore: restore(),
            }
        } else {
            StateError::NotJson {
                location: location(),
                line: e.line(),
                column: e.column(),
                message: strip_position(&e),
                restore: restore(),
            }
        }
    })?;
    let Some(version) = json.get("version").and_then(serde_json::Value::as_u64) else {
        return Err(StateError::NoVersion {
            location: location(),
            restore: restore(),
        });
    };
    if version != u64::from(STATE_VERSION) {
        return Err(StateError::UnsupportedVersion {
            location: location(),
            found: version,
            supported: STATE_VERSION,
        });
    }
    let mut state: State = serde_json::from_slice(bytes).map_err(|e| StateError::Malformed {
        location: location(),
        line: e.line(),
        column: e.column(),
        message: strip_position(&e),
        restore: restore(),
    })?;
    validate(&state).map_err(|problem| StateError::Invalid {
        location: location(),
        problem: Box::new(problem),
        restore: restore(),
    })?;
    state.resources.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(state)
}

/// Validates `state` and serializes it as the next version (serial + 1; pretty JSON with
/// sorted maps and a final newline). `state` itself is not changed.
pub fn encode_next(state: &State, location: &Location) -> Result<Vec<u8>, StateError> {
    validate(state).map_err(|problem| StateError::InvalidToWrite {
        location: location.clone(),
        problem: Box::new(problem),
    })?;
    let mut next = state.clone();
    next.serial += 1;
    let mut bytes = serde_json::to_vec_pretty(&next).map_err(|e| StateError::Serialize {
        location: location.clone(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// serde_json's message without its trailing " at line L column C" (we print those).
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
