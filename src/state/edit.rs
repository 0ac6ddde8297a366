//! State surgery (`nova state rm`, `nova state mv`): pure edits of a [`State`] that never
//! leave it inconsistent. Forgetting refuses to leave a dependency on something no longer
//! in the state; moving carries the dependencies along. Writing the result (under the
//! lock, with a backup) is the caller's.

use std::collections::BTreeSet;

use super::format::{ForgottenObject, ResourceState, State};
use crate::model::Address;

/// Why an edit was refused; the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{address} is not in the state of stack `{stack}` (see `nova state list`)")]
    NotInState { address: Address, stack: String },
    #[error("cannot forget {address}: {} still depend{} on it and would be left with a dependency on nothing; forget {} too (`nova state rm {} {}`)", list(.dependents), if .dependents.len() == 1 { "s" } else { "" }, if .dependents.len() == 1 { "it" } else { "them" }, shell_word(.address), list_plain(.dependents))]
    Dependents {
        address: Address,
        dependents: Vec<Address>,
    },
    #[error("an operation of an interrupted run is pending on {address}; run `nova up` first to resolve it")]
    Pending { address: Address },
    #[error("{address} has a deposed object ({id}) left by an interrupted replacement; run `nova up` first to delete it")]
    Deposed { address: Address, id: String },
    #[error("cannot move {from} to {to}: {to} is already in the state (forget it first with `nova state rm {to}`, or pick another address)")]
    Occupied { from: Address, to: Address },
    #[error("cannot move {from} to {to}: the kinds differ (`{}` and `{}`); an object keeps its kind", .from.kind(), .to.kind())]
    KindMismatch { from: Address, to: Address },
    #[error("cannot move {address} to itself")]
    SameAddress { address: Address },
}

fn list(addresses: &[Address]) -> String {
    addresses
        .iter()
        .map(Address::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The addresses as shell words (quoted when they hold `[`).
fn list_plain(addresses: &[Address]) -> String {
    addresses
        .iter()
        .map(shell_word)
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_word(address: &Address) -> String {
    let text = address.to_string();
    if text.contains('[') {
        format!("'{text}'")
    } else {
        text
    }
}

/// Removes `addresses` from `state` (every one or none) and remembers their objects as
/// forgotten; returns the removed entries, sorted. Refused when a resource that stays
/// depends on one removed, or one has a pending operation or a deposed object.
pub fn forget(
    state: &mut State,
    stack: &str,
    addresses: &BTreeSet<Address>,
) -> Result<Vec<ResourceState>, EditError> {
    for address in addresses {
        check_settled(state, stack, address)?;
    }
    for address in addresses {
        let dependents = dependents_of(state, address, addresses);
        if !dependents.is_empty() {
            return Err(EditError::Dependents {
                address: address.clone(),
                dependents,
            });
        }
    }
    let mut removed = Vec::new();
    for address in addresses {
        if let Some(resource) = state.remove(address) {
            state.forgotten.retain(|f| f.id != resource.id);
            state.forgotten.push(ForgottenObject {
                address: resource.address.clone(),
                kind: resource.kind.clone(),
                id: resource.id.clone(),
            });
            removed.push(resource);
        }
    }
    state
        .forgotten
        .sort_by(|a, b| (&a.address, &a.id).cmp(&(&b.address, &b.id)));
    Ok(removed)
}

/// What depends on `address` in `state`, directly or through others, and is not in
/// `removing`: sorted.
fn dependents_of(state: &State, address: &Address, removing: &BTreeSet<Address>) -> Vec<Address> {
    let mut found = BTreeSet::new();
    let mut todo = vec![address.clone()];
    while let Some(next) = todo.pop() {
        for r in &state.resources {
            if r.dependencies.contains(&next)
                && !removing.contains(&r.address)
                && found.insert(r.address.clone())
            {
                todo.push(r.address.clone());
            }
        }
    }
    found.into_iter().collect()
}

/// Moves the resource at `from` to `to` (same kind, `to` not in the state); every
/// dependency on `from` becomes one on `to`. Returns the moved entry.
pub fn rename(
    state: &mut State,
    stack: &str,
    from: &Address,
    to: &Address,
) -> Result<ResourceState, EditError> {
    if from == to {
        return Err(EditError::SameAddress {
            address: from.clone(),
        });
    }
    if from.kind() != to.kind() {
        return Err(EditError::KindMismatch {
            from: from.clone(),
            to: to.clone(),
        });
    }
    check_settled(state, stack, from)?;
    if state.get(to).is_some() {
        return Err(EditError::Occupied {
            from: from.clone(),
            to: to.clone(),
        });
    }
    let mut moved = state.remove(from).expect("checked to be in the state");
    moved.address = to.clone();
    for r in &mut state.resources {
        if r.dependencies.remove(from) {
            r.dependencies.insert(to.clone());
        }
    }
    state.upsert(moved.clone());
    Ok(moved)
}

/// `address` is in the state with no pending operation and no deposed object.
fn check_settled(state: &State, stack: &str, address: &Address) -> Result<(), EditError> {
    if state.get(address).is_none() {
        return Err(EditError::NotInState {
            address: address.clone(),
            stack: stack.to_string(),
        });
    }
    if state.pending.iter().any(|p| &p.address == address) {
        return Err(EditError::Pending {
            address: address.clone(),
        });
    }
    if let Some(old) = state.deposed.iter().find(|d| &d.address == address) {
        return Err(EditError::Deposed {
            address: address.clone(),
            id: old.id.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use crate::state::validate;

    fn addr(s: &str) -> Address {
        s.parse().unwrap()
    }

    fn resource(address: &str, id: &str, deps: &[&str]) -> ResourceState {
        let address = addr(address);
        ResourceState {
            kind: address.kind().to_string(),
            address,
            id: id.to_string(),
            inputs: [("name".to_string(), Value::str(id))].into(),
            outputs: [("id".to_string(), Value::str(id))].into(),
            dependencies: deps.iter().map(|d| addr(d)).collect(),
        }
    }

    /// A VPC, a subnet in it, an instance in the subnet.
    fn state() -> State {
        let mut s = State::new();
        s.upsert(resource("aws_vpc.main", "vpc-1", &[]));
        s.upsert(resource("aws_subnet.a", "subnet-1", &["aws_vpc.main"]));
        s.upsert(resource("aws_instance.web[0]", "i-1", &["aws_subnet.a"]));
        s
    }

    fn set(addresses: &[&str]) -> BTreeSet<Address> {
        addresses.iter().map(|a| addr(a)).collect()
    }

    #[test]
    fn forgetting_a_leaf_removes_it_and_remembers_its_object() {
        let mut s = state();
        let removed = forget(&mut s, "demo", &set(&["aws_instance.web[0]"])).unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].id, "i-1");
        assert!(s.get(&addr("aws_instance.web[0]")).is_none());
        assert!(s.is_forgotten("i-1"));
        validate(&s).unwrap();
    }

    #[test]
    fn forgetting_what_others_depend_on_is_refused_unless_they_go_too() {
        let mut s = state();
        let before = s.clone();
        let err = forget(&mut s, "demo", &set(&["aws_vpc.main"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot forget aws_vpc.main: aws_instance.web[0], aws_subnet.a still depend on it \
             and would be left with a dependency on nothing; forget them too (`nova state rm \
             aws_vpc.main 'aws_instance.web[0]' aws_subnet.a`)"
        );
        let err = forget(&mut s, "demo", &set(&["aws_subnet.a"])).unwrap_err();
        assert!(
            err.to_string()
                .contains("aws_instance.web[0] still depends on it"),
            "{err}"
        );
        assert_eq!(s, before, "a refused edit changes nothing");
        let removed = forget(
            &mut s,
            "demo",
            &set(&["aws_vpc.main", "aws_subnet.a", "aws_instance.web[0]"]),
        )
        .unwrap();
        assert_eq!(removed.len(), 3);
        assert!(s.resources.is_empty());
        assert_eq!(s.forgotten.len(), 3);
        validate(&s).unwrap();
    }

    #[test]
    fn unknown_pending_and_deposed_addresses_are_refused() {
        let mut s = state();
        let err = forget(&mut s, "demo", &set(&["aws_vpc.other"])).unwrap_err();
        assert!(matches!(err, EditError::NotInState { .. }), "{err}");
        assert!(err.to_string().contains("nova state list"), "{err}");
        let mut pending = state();
        pending.pending.push(crate::state::PendingOperation {
            address: addr("aws_instance.web[0]"),
            kind: "aws_instance".into(),
            operation: crate::state::Operation::Update,
            id: Some("i-1".into()),
            inputs: Default::default(),
            dependencies: Default::default(),
            client_token: "t".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
        });
        let err = forget(&mut pending, "demo", &set(&["aws_instance.web[0]"])).unwrap_err();
        assert!(err.to_string().contains("nova up"), "{err}");
        let err = rename(
            &mut pending,
            "demo",
            &addr("aws_instance.web[0]"),
            &addr("aws_instance.web[1]"),
        )
        .unwrap_err();
        assert!(matches!(err, EditError::Pending { .. }), "{err}");
        let mut deposed = state();
        deposed
            .deposed
            .push(resource("aws_instance.web[0]", "i-0", &[]));
        let err = forget(&mut deposed, "demo", &set(&["aws_instance.web[0]"])).unwrap_err();
        assert!(matches!(err, EditError::Deposed { .. }), "{err}");
    }

    #[test]
    fn moving_carries_the_dependencies_along() {
        let mut s = state();
        let moved = rename(&mut s, "demo", &addr("aws_subnet.a"), &addr("aws_subnet.b")).unwrap();
        assert_eq!(moved.id, "subnet-1");
        assert!(s.get(&addr("aws_subnet.a")).is_none());
        assert_eq!(s.get(&addr("aws_subnet.b")).unwrap().id, "subnet-1");
        let instance = s.get(&addr("aws_instance.web[0]")).unwrap();
        assert_eq!(instance.dependencies, set(&["aws_subnet.b"]));
        validate(&s).unwrap();
        let addresses: Vec<String> = s.resources.iter().map(|r| r.address.to_string()).collect();
        assert_eq!(
            addresses,
            ["aws_instance.web[0]", "aws_subnet.b", "aws_vpc.main"],
            "still sorted"
        );
    }

    #[test]
    fn moving_onto_an_address_in_use_across_kinds_or_to_itself_is_refused() {
        let mut s = state();
        let before = s.clone();
        let err = rename(&mut s, "demo", &addr("aws_subnet.a"), &addr("aws_vpc.main")).unwrap_err();
        assert!(matches!(err, EditError::KindMismatch { .. }), "{err}");
        s.upsert(resource("aws_subnet.b", "subnet-2", &["aws_vpc.main"]));
        let err = rename(&mut s, "demo", &addr("aws_subnet.a"), &addr("aws_subnet.b")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot move aws_subnet.a to aws_subnet.b: aws_subnet.b is already in the state \
             (forget it first with `nova state rm aws_subnet.b`, or pick another address)"
        );
        let err = rename(&mut s, "demo", &addr("aws_subnet.a"), &addr("aws_subnet.a")).unwrap_err();
        assert!(matches!(err, EditError::SameAddress { .. }), "{err}");
        s.remove(&addr("aws_subnet.b"));
        assert_eq!(s, before);
    }
}
