//! The order of replacements, decided once the planner knows every change: a replacement
//! deletes first when the new object's unique field (a name, a CIDR block) clashes with the
//! old object's; delete-first spreads to what depends on such a replacement and is replaced
//! too (so the operations never wait for each other in a cycle, as Terraform spreads
//! create-before-destroy the other way); a new object that clashes with another address's
//! old object waits for that delete. What cannot be ordered is refused here, at plan time:
//! a clash with an object that stays, a delete-first replacement of something AWS will not
//! delete while a resource that is only updated still uses it, and a grow-only field that
//! would shrink.

use std::collections::{BTreeMap, BTreeSet};

use super::planner::{Clash as Clashed, DeleteBlocked};
use super::{Action, Change, PlanError, Reason};
use crate::config::Cidr;
use crate::model::{Address, Blueprint, Inputs, Value};
use crate::provider::schema::{Clash, Unique};
use crate::provider::Schemas;

const DELETE_FIRST: Action = Action::Replace {
    create_before_destroy: false,
};

/// Orders the replacements of `changes` (`order`: the blueprint's addresses, dependencies
/// first) and refuses what no order makes possible.
pub(super) fn order(
    changes: &mut BTreeMap<Address, Change>,
    order: &[Address],
    blueprint: &Blueprint,
    schemas: &Schemas,
) -> Result<(), PlanError> {
    refuse_shrinks(changes, schemas)?;
    let clashes = clashes(changes, schemas)?;
    for clash in clashes {
        match clash.other {
            None => delete_first(
                changes,
                &clash.address,
                format!(
                    "its new `{}` {} clashes with the old object's",
                    clash.field, clash.value
                ),
            ),
            Some(other) => {
                let change = changes.get_mut(&clash.address).expect("planned change");
                change.waits_for_old.insert(other.clone());
                change.reasons.push(Reason::AfterDeleteOf {
                    other,
                    field: clash.field.to_string(),
                });
            }
        }
    }
    spread_delete_first(changes, order);
    refuse_blocked_deletes(changes, blueprint, schemas)
}

/// A change to `address` that replaces its object delete-first from now on, saying why (a
/// replacement already delete-first keeps its reasons as they are).
fn delete_first(changes: &mut BTreeMap<Address, Change>, address: &Address, cause: String) {
    let change = changes.get_mut(address).expect("planned change");
    if change.action
        == (Action::Replace {
            create_before_destroy: true,
        })
    {
        change.action = DELETE_FIRST;
        change.reasons.push(Reason::DeleteFirst { cause });
    }
}

/// Delete-first spreads from a replaced object to each replaced object that depended on
/// it and will depend on the new one: its old object must be gone before the old
/// dependency can go, and its new object needs the new dependency, which comes only after
/// the old one is gone.
fn spread_delete_first(changes: &mut BTreeMap<Address, Change>, order: &[Address]) {
    for address in order {
        let Some(change) = changes.get(address) else {
            continue;
        };
        if !matches!(change.action, Action::Replace { .. }) || change.action == DELETE_FIRST {
            continue;
        }
        let cause = change
            .dependencies
            .intersection(&change.prior_dependencies)
            .find(|dep| changes.get(*dep).is_some_and(|d| d.action == DELETE_FIRST))
            .map(|dep| format!("it depends on {dep}, which is replaced delete-first"));
        if let Some(cause) = cause {
            delete_first(changes, address, cause);
        }
    }
}

/// A grow-only field (an EBS volume's size) that an in-place update would make smaller.
fn refuse_shrinks(changes: &BTreeMap<Address, Change>, schemas: &Schemas) -> Result<(), PlanError> {
    for change in changes.values().filter(|c| c.action == Action::Update) {
        let Some(schema) = schemas.get(change.address.kind()) else {
            continue;
        };
        for diff in change
            .diffs
            .iter()
            .filter(|d| schema.is_grow_only(&d.field))
        {
            let from = diff.before.as_ref().and_then(Value::as_i64);
            let to = diff.after.as_ref().and_then(Value::as_i64);
            if let (Some(from), Some(to)) = (from, to) {
                if to < from {
                    return Err(PlanError::Shrink {
                        address: change.address.clone(),
                        field: diff.field.clone(),
                        from,
                        to,
                    });
                }
            }
        }
    }
    Ok(())
}

/// A new object whose unique field clashes with an existing object: its own old one
/// (`other` is `None`) or another address's, whose delete (or update away from the value)
/// it must wait for.
struct Clashing {
    address: Address,
    field: &'static str,
    value: String,
    other: Option<Address>,
}

/// The unique value of `field` in `inputs` with its scope's values, when all are known.
fn keyed<'a>(
    inputs: &'a Inputs,
    field: &str,
    unique: &Unique,
) -> Option<(&'a str, Vec<&'a Value>)> {
    let value = inputs.get(field)?.as_str()?;
    let scope: Option<Vec<&Value>> = unique
        .scope
        .iter()
        .map(|s| inputs.get(*s).filter(|v| v.is_known()))
        .collect();
    Some((value, scope?))
}

fn clash(how: Clash, a: &str, b: &str) -> bool {
    match how {
        Clash::Equal => a == b,
        Clash::CidrOverlap => match (a.parse::<Cidr>(), b.parse::<Cidr>()) {
            (Ok(a), Ok(b)) => a.overlaps(&b),
            _ => a == b,
        },
    }
}

fn same_scope(a: &[&Value], b: &[&Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
}

/// Every clash of a planned new object's unique fields, with an old object (kept objects
/// refuse the plan) or with another new object (refused too).
fn clashes(
    changes: &BTreeMap<Address, Change>,
    schemas: &Schemas,
) -> Result<Vec<Clashing>, PlanError> {
    let mut found = Vec::new();
    let mut seen_new: BTreeSet<(&Address, &Address)> = BTreeSet::new();
    for change in changes.values() {
        if !matches!(change.action, Action::Create | Action::Replace { .. }) {
            continue;
        }
        let (Some(schema), Some(after)) = (schemas.get(change.address.kind()), &change.after)
        else {
            continue;
        };
        for (field, unique) in schema.unique_fields() {
            let Some((value, scope)) = keyed(after, field, &unique) else {
                continue;
            };
            for other in changes.values() {
                if other.address.kind() != change.address.kind() {
                    continue;
                }
                if let Some((old, old_scope)) =
                    other.before.as_ref().and_then(|b| keyed(b, field, &unique))
                {
                    if same_scope(&scope, &old_scope) && clash(unique.clash, value, old) {
                        found.push(old_clash(change, other, field, unique.clash, value, old)?);
                    }
                }
                let other_new = matches!(other.action, Action::Create | Action::Replace { .. });
                if other.address == change.address || !other_new {
                    continue;
                }
                if let Some((new, new_scope)) =
                    other.after.as_ref().and_then(|a| keyed(a, field, &unique))
                {
                    let pair = (&change.address, &other.address);
                    if same_scope(&scope, &new_scope)
                        && clash(unique.clash, value, new)
                        && seen_new.insert(pair)
                    {
                        return Err(PlanError::Clash(Box::new(Clashed {
                            address: change.address.clone(),
                            field: field.to_string(),
                            value: value.to_string(),
                            other: other.address.clone(),
                            other_value: new.to_string(),
                            other_stays: false,
                        })));
                    }
                }
            }
        }
    }
    Ok(found)
}

/// What a clash of `change`'s new object with `other`'s old object asks for.
fn old_clash(
    change: &Change,
    other: &Change,
    field: &'static str,
    how: Clash,
    value: &str,
    old: &str,
) -> Result<Clashing, PlanError> {
    let moves_away = other.action == Action::Update
        && other
            .after
            .as_ref()
            .and_then(|a| a.get(field))
            .and_then(Value::as_str)
            .is_some_and(|new| !clash(how, value, new));
    let value = value.to_string();
    if other.address == change.address {
        return Ok(Clashing {
            address: change.address.clone(),
            field,
            value,
            other: None,
        });
    }
    match other.action {
        Action::Delete | Action::Replace { .. } => Ok(Clashing {
            address: change.address.clone(),
            field,
            value,
            other: Some(other.address.clone()),
        }),
        Action::Update if moves_away => Ok(Clashing {
            address: change.address.clone(),
            field,
            value,
            other: Some(other.address.clone()),
        }),
        _ => Err(PlanError::Clash(Box::new(Clashed {
            address: change.address.clone(),
            field: field.to_string(),
            value,
            other: other.address.clone(),
            other_value: old.to_string(),
            other_stays: true,
        }))),
    }
}

/// A delete-first replacement of an object that a resource which is only updated keeps
/// using, through a field that keeps its target from being deleted, until the new object
/// exists: AWS would refuse the delete, and the update waits for the new object.
fn refuse_blocked_deletes(
    changes: &BTreeMap<Address, Change>,
    blueprint: &Blueprint,
    schemas: &Schemas,
) -> Result<(), PlanError> {
    for x in changes.values().filter(|c| c.action == DELETE_FIRST) {
        for user in changes.values() {
            let uses_old_and_new = user.action == Action::Update
                && user.prior_dependencies.contains(&x.address)
                && user.dependencies.contains(&x.address);
            if !uses_old_and_new {
                continue;
            }
            let (Some(schema), Some(resource)) = (
                schemas.get(user.address.kind()),
                blueprint.get(&user.address),
            ) else {
                continue;
            };
            let blocking = resource.inputs.iter().find(|(field, value)| {
                let mut refs = BTreeSet::new();
                value.references(&mut refs);
                schema.blocks_delete(field) && refs.iter().any(|r| r.address == x.address)
            });
            if let Some((field, _)) = blocking {
                return Err(PlanError::DeleteBlocked(Box::new(DeleteBlocked {
                    address: x.address.clone(),
                    cause: delete_first_cause(x),
                    user: user.address.clone(),
                    field: field.clone(),
                })));
            }
        }
    }
    Ok(())
}

/// Why `change` replaces delete-first, in words.
fn delete_first_cause(change: &Change) -> String {
    change
        .reasons
        .iter()
        .find_map(|r| match r {
            Reason::DeleteFirst { cause } => Some(cause.clone()),
            _ => None,
        })
        .unwrap_or_else(|| {
            format!(
                "{} replacements delete the old object first",
                change.address.kind()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Resource;
    use crate::plan::fixtures::{addr, empty_state, schemas};
    use crate::plan::{plan, DeleteNotes, NoNotes, Plan, PlanInput};
    use crate::state::{ResourceState, State};

    fn r(address: &str, output: &str) -> Value {
        Value::reference(&addr(address), output)
    }

    /// A VPC, two private subnets, an instance in the first and a Lambda function in both.
    fn blueprint(cidrs: [&str; 2]) -> Blueprint {
        let mut resources =
            vec![Resource::new(addr("aws_vpc.main")).with("cidr_block", "10.0.0.0/16")];
        for (i, cidr) in cidrs.iter().enumerate() {
            resources.push(
                Resource::new(addr(&format!("aws_subnet.private[{i}]")))
                    .with("vpc_id", r("aws_vpc.main", "id"))
                    .with("cidr_block", *cidr)
                    .with("availability_zone", "us-east-1a"),
            );
        }
        resources.push(
            Resource::new(addr("aws_instance.web[0]"))
                .with("ami", "ami-1")
                .with("instance_type", "t3.micro")
                .with("subnet_id", r("aws_subnet.private[0]", "id"))
                .with("root_volume_size", 8),
        );
        resources.push(
            Resource::new(addr("aws_lambda_function.health"))
                .with("function_name", "health")
                .with(
                    "subnet_ids",
                    Value::List(vec![
                        r("aws_subnet.private[0]", "id"),
                        r("aws_subnet.private[1]", "id"),
                    ]),
                ),
        );
        Blueprint {
            resources,
            outputs: BTreeMap::new(),
        }
    }

    /// The state an apply of `b` records: every reference resolved to `<address>-id`.
    fn applied(b: &Blueprint) -> State {
        let mut state = empty_state();
        let id = |a: &Address| format!("{a}-id");
        for res in &b.resources {
            let lookup = |r: &crate::model::Reference| Some(Value::String(id(&r.address)));
            state.upsert(ResourceState {
                address: res.address.clone(),
                kind: res.address.kind().to_string(),
                id: id(&res.address),
                inputs: res
                    .inputs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.resolve(&lookup)))
                    .collect(),
                outputs: [("id".to_string(), Value::String(id(&res.address)))].into(),
                dependencies: res.dependencies(),
            });
        }
        state
    }

    fn plan_with(b: &Blueprint, state: &State, notes: &dyn DeleteNotes) -> Result<Plan, PlanError> {
        plan(&PlanInput {
            stack: "test",
            blueprint: b,
            state,
            observed: None,
            schemas: &schemas(),
            notes,
        })
    }

    fn plan_of(b: &Blueprint, state: &State) -> Result<Plan, PlanError> {
        plan_with(b, state, &NoNotes)
    }

    fn action(p: &Plan, address: &str) -> Action {
        p.change(&addr(address)).expect("change").action
    }

    const CBD: Action = Action::Replace {
        create_before_destroy: true,
    };

    #[test]
    fn a_new_block_is_made_first_and_an_overlapping_one_after_the_old_goes() {
        let state = applied(&blueprint(["10.0.128.0/24", "10.0.129.0/24"]));
        let mut b = blueprint(["10.0.140.0/24", "10.0.129.0/24"]);
        // Lambda only updated, instance replaced: every old object goes after the new ones.
        let p = plan_of(&b, &state).unwrap();
        assert_eq!(action(&p, "aws_subnet.private[0]"), CBD);
        assert_eq!(action(&p, "aws_instance.web[0]"), CBD);
        assert_eq!(action(&p, "aws_lambda_function.health"), Action::Update);

        // Part of the old block: delete-first, spread to the instance in it, and refused
        // because the Lambda function keeps its interfaces in the old subnet until the new
        // one exists.
        b = blueprint(["10.0.128.0/25", "10.0.129.0/24"]);
        let err = plan_of(&b, &state).unwrap_err();
        assert!(matches!(err, PlanError::DeleteBlocked(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("aws_subnet.private[0] must be deleted before"),
            "{text}"
        );
        assert!(
            text.contains("aws_lambda_function.health keeps using it through `subnet_ids`"),
            "{text}"
        );
        assert!(
            text.contains("10.0.128.0/25 clashes with the old object's"),
            "{text}"
        );

        // Without the function, the plan orders it: both delete-first, with their reasons.
        b.resources
            .retain(|r| r.address.kind() != "aws_lambda_function");
        let mut state = state;
        state.remove(&addr("aws_lambda_function.health"));
        let p = plan_of(&b, &state).unwrap();
        let subnet = p.change(&addr("aws_subnet.private[0]")).unwrap();
        assert_eq!(subnet.action, DELETE_FIRST);
        assert!(subnet.reasons.contains(&Reason::DeleteFirst {
            cause: "its new `cidr_block` 10.0.128.0/25 clashes with the old object's".into()
        }));
        let instance = p.change(&addr("aws_instance.web[0]")).unwrap();
        assert_eq!(instance.action, DELETE_FIRST);
        assert_eq!(
            instance.reasons.last().unwrap().to_string(),
            "the old object is deleted first: it depends on aws_subnet.private[0], which is replaced delete-first"
        );
    }

    #[test]
    fn a_new_object_waits_for_the_old_one_whose_value_it_takes() {
        let mut state = applied(&blueprint(["10.0.128.0/24", "10.0.129.0/24"]));
        // private[1] moves away, private[0] takes its old block.
        let mut b = blueprint(["10.0.129.0/24", "10.0.140.0/24"]);
        // With the Lambda function in both, its update needs the new private[0], which
        // needs the old private[1] gone, which needs the function moved off it: a cycle,
        // which `nova plan` refuses (engine::check_order) before anything changes.
        let p = plan_of(&b, &state).unwrap();
        let err = crate::apply::operation_graph(&p, &[]).unwrap_err();
        assert!(
            matches!(err, crate::apply::ApplyError::Cycle { .. }),
            "{err}"
        );
        b.resources
            .retain(|r| r.address.kind() != "aws_lambda_function");
        state.remove(&addr("aws_lambda_function.health"));
        let p = plan_of(&b, &state).unwrap();
        let first = p.change(&addr("aws_subnet.private[0]")).unwrap();
        assert_eq!(first.action, CBD);
        assert_eq!(first.waits_for_old, [addr("aws_subnet.private[1]")].into());
        let waits = Reason::AfterDeleteOf {
            other: addr("aws_subnet.private[1]"),
            field: "cidr_block".into(),
        };
        assert!(first.reasons.contains(&waits));
        assert_eq!(
            waits.to_string(),
            "created once the old value of aws_subnet.private[1] is gone: their `cidr_block` clash"
        );
        assert_eq!(Reason::from(waits.to_string()), waits);
        let graph = crate::apply::operation_graph(&p, &[]).expect("no cycle");
        let create = crate::apply::OpKey {
            address: addr("aws_subnet.private[0]"),
            step: crate::apply::Step::Create,
        };
        let delete = crate::apply::OpKey {
            address: addr("aws_subnet.private[1]"),
            step: crate::apply::Step::Delete,
        };
        assert!(graph.dependencies(&create).contains(&delete));
    }

    #[test]
    fn a_clash_with_an_object_that_stays_is_refused() {
        let state = applied(&blueprint(["10.0.128.0/24", "10.0.129.0/24"]));
        let b = blueprint(["10.0.129.0/25", "10.0.129.0/24"]);
        let err = plan_of(&b, &state).unwrap_err();
        assert_eq!(
            err.to_string(),
            "aws_subnet.private[0]: `cidr_block` 10.0.129.0/25 clashes with aws_subnet.private[1]'s 10.0.129.0/24, which stays: choose a value that does not clash"
        );
        let b = blueprint(["10.0.140.0/24", "10.0.140.0/25"]);
        let err = plan_of(&b, &state).unwrap_err();
        assert!(
            err.to_string().contains("two new objects cannot have it"),
            "{err}"
        );
    }

    #[test]
    fn a_volume_grows_in_place_and_never_shrinks() {
        let b = blueprint(["10.0.128.0/24", "10.0.129.0/24"]);
        let state = applied(&b);
        let mut bigger = b.clone();
        let web = bigger
            .resources
            .iter_mut()
            .find(|r| r.address == addr("aws_instance.web[0]"))
            .unwrap();
        web.inputs.insert("root_volume_size".into(), Value::Int(16));
        web.inputs
            .insert("instance_type".into(), Value::str("t3.small"));
        struct Instances;
        impl DeleteNotes for Instances {
            fn delete_note(&self, _: &Address, _: &Inputs) -> Option<String> {
                None
            }
            fn update_note(&self, _: &Address, old: &Inputs, new: &Inputs) -> Option<String> {
                crate::provider::aws::ec2_instance::update_note(old, new)
            }
        }
        let p = plan_with(&bigger, &state, &Instances).unwrap();
        let change = p.change(&addr("aws_instance.web[0]")).unwrap();
        assert_eq!(change.action, Action::Update);
        assert_eq!(
            change.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["will be stopped and started to change its type from t3.micro to t3.small (its id, volumes and private IP stay)"]
        );
        let err = plan_of(&b, &applied(&bigger)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "aws_instance.web[0]: `root_volume_size` cannot shrink in place from 16 to 8 (AWS only grows it): keep it at 16 or more"
        );
    }
}
