//! What a resource kind is, declared once by its provider: its input fields (name, type,
//! required, force-new, compared as a set, grow-only, unique, blocking the delete of what
//! they refer to), its outputs, whether a replacement may create before it destroys;
//! taggability follows from a `tags` field. The planner, the policy rules, the blueprint
//! conformance test and docs/resources.md all read these facts here.

use std::borrow::Cow;
use std::fmt;

use crate::model::{Resource, Value};

/// The shape of one input field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string (or a reference / interpolation that resolves to one).
    String,
    /// A JSON document held as a string (IAM and KMS policies): compared as parsed JSON.
    Json,
    Bool,
    Int,
    /// A list of strings.
    StringList,
    /// A map of strings (tags, environment variables, inline policies by name).
    StringMap,
    /// A list of maps (route and security group rules).
    MapList,
    /// Anything: for schemas declared ad hoc (tests, fakes) without field types.
    Any,
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            FieldType::String => "string",
            FieldType::Json => "JSON string",
            FieldType::Bool => "bool",
            FieldType::Int => "int",
            FieldType::StringList => "list of strings",
            FieldType::StringMap => "map of strings",
            FieldType::MapList => "list of maps",
            FieldType::Any => "any",
        };
        f.write_str(name)
    }
}

/// One input field of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
    /// The provider refuses a resource without it.
    pub required: bool,
    /// A change cannot be applied in place: the resource is replaced.
    pub force_new: bool,
    /// A list whose order does not matter (compared as a set; providers return it sorted).
    pub set: bool,
    /// An integer that changes in place only upwards (an EBS volume's size): the planner
    /// refuses a smaller value.
    pub grow_only: bool,
    /// Two objects of the kind cannot have the same (or, for CIDRs, overlapping) values at
    /// once within the same scope: the planner orders a conflicting new object after the
    /// old one's delete, or refuses the plan.
    pub unique: Option<Unique>,
    /// While this field refers to another object, AWS refuses to delete that object (an
    /// instance in a subnet, a Lambda function's network interfaces in a subnet).
    pub blocks_delete: bool,
}

/// How values of a [`Field::unique`] field clash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clash {
    /// Equal strings (names).
    Equal,
    /// Overlapping IPv4 CIDR blocks.
    CidrOverlap,
}

/// A field unique among the kind's objects that share the values of the `scope` fields
/// (empty scope: unique in the account and region).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unique {
    pub scope: &'static [&'static str],
    pub clash: Clash,
}

impl Field {
    /// An optional field that updates in place.
    pub const fn new(name: &'static str, ty: FieldType) -> Field {
        Field {
            name,
            ty,
            required: false,
            force_new: false,
            set: matches!(ty, FieldType::StringList | FieldType::MapList),
            grow_only: false,
            unique: None,
            blocks_delete: false,
        }
    }

    pub const fn required(self) -> Field {
        Field {
            required: true,
            ..self
        }
    }

    pub const fn force_new(self) -> Field {
        Field {
            force_new: true,
            ..self
        }
    }

    /// A list whose order matters (compared element by element).
    pub const fn ordered(self) -> Field {
        Field { set: false, ..self }
    }

    /// An integer that may only grow in place.
    pub const fn grow_only(self) -> Field {
        Field {
            grow_only: true,
            ..self
        }
    }

    /// A name unique among the objects of the kind that share the `scope` fields' values.
    pub const fn unique_within(self, scope: &'static [&'static str]) -> Field {
        Field {
            unique: Some(Unique {
                scope,
                clash: Clash::Equal,
            }),
            ..self
        }
    }

    /// A CIDR block that must not overlap another object's within the `scope` fields.
    pub const fn disjoint_within(self, scope: &'static [&'static str]) -> Field {
        Field {
            unique: Some(Unique {
                scope,
                clash: Clash::CidrOverlap,
            }),
            ..self
        }
    }

    /// A reference that keeps its target in use: AWS refuses to delete the target while
    /// this object still refers to it.
    pub const fn blocks_delete(self) -> Field {
        Field {
            blocks_delete: true,
            ..self
        }
    }
}

/// Shorthands for declaring fields: `req(str_("name")).force_new()`.
pub mod fields {
    use super::{Field, FieldType};

    pub const fn string(name: &'static str) -> Field {
        Field::new(name, FieldType::String)
    }
    pub const fn json(name: &'static str) -> Field {
        Field::new(name, FieldType::Json)
    }
    pub const fn boolean(name: &'static str) -> Field {
        Field::new(name, FieldType::Bool)
    }
    pub const fn int(name: &'static str) -> Field {
        Field::new(name, FieldType::Int)
    }
    pub const fn string_list(name: &'static str) -> Field {
        Field::new(name, FieldType::StringList)
    }
    pub const fn string_map(name: &'static str) -> Field {
        Field::new(name, FieldType::StringMap)
    }
    pub const fn map_list(name: &'static str) -> Field {
        Field::new(name, FieldType::MapList)
    }
    /// The `tags` field every taggable kind has.
    pub const TAGS: Field = string_map("tags");
}

/// Static facts about a resource kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub kind: Cow<'static, str>,
    pub fields: Cow<'static, [Field]>,
    /// Output names (`id` always among them).
    pub outputs: Cow<'static, [&'static str]>,
    /// Whether a replacement may create the new object before deleting the old one
    /// (false when names must be unique, e.g. IAM roles).
    pub create_before_destroy: bool,
}

impl Schema {
    /// A kind's declaration, as its provider makes it.
    pub const fn declare(
        kind: &'static str,
        fields: &'static [Field],
        outputs: &'static [&'static str],
        create_before_destroy: bool,
    ) -> Schema {
        Schema {
            kind: Cow::Borrowed(kind),
            fields: Cow::Borrowed(fields),
            outputs: Cow::Borrowed(outputs),
            create_before_destroy,
        }
    }

    /// An ad-hoc schema (test fakes): only the force-new fields are declared, untyped.
    pub fn new(kind: &str, force_new: &[&'static str], create_before_destroy: bool) -> Self {
        Schema {
            kind: Cow::Owned(kind.to_string()),
            fields: force_new
                .iter()
                .map(|name| Field::new(name, FieldType::Any).force_new())
                .collect(),
            outputs: Cow::Borrowed(&["id"]),
            create_before_destroy,
        }
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// True when a change of `field` forces replacement.
    pub fn is_force_new(&self, field: &str) -> bool {
        self.field(field).is_some_and(|f| f.force_new)
    }

    /// True when `field` is a list whose order matters (undeclared fields: sets).
    pub fn is_ordered(&self, field: &str) -> bool {
        self.field(field)
            .is_some_and(|f| matches!(f.ty, FieldType::StringList | FieldType::MapList) && !f.set)
    }

    /// True when `field` may only grow in place.
    pub fn is_grow_only(&self, field: &str) -> bool {
        self.field(field).is_some_and(|f| f.grow_only)
    }

    /// The unique fields and how they clash, in declaration order.
    pub fn unique_fields(&self) -> impl Iterator<Item = (&'static str, Unique)> + '_ {
        self.fields
            .iter()
            .filter_map(|f| f.unique.map(|u| (f.name, u)))
    }

    /// True when a reference in `field` keeps its target from being deleted.
    pub fn blocks_delete(&self, field: &str) -> bool {
        self.field(field).is_some_and(|f| f.blocks_delete)
    }

    /// The force-new field names, in declaration order.
    pub fn force_new(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().filter(|f| f.force_new).map(|f| f.name)
    }

    /// Kinds with a `tags` field are taggable (and must carry nova's tags).
    pub fn taggable(&self) -> bool {
        self.field("tags").is_some()
    }

    /// Everything wrong with `resource` by this schema: unknown fields, missing required
    /// ones, values of the wrong type, and references to outputs the target kind does not
    /// have (`schema_of` gives the other kinds' schemas). Empty when it conforms.
    pub fn violations<'a>(
        &self,
        resource: &Resource,
        schema_of: impl Fn(&str) -> Option<&'a Schema>,
    ) -> Vec<String> {
        let address = &resource.address;
        let mut out = Vec::new();
        for (name, value) in &resource.inputs {
            match self.field(name) {
                None => out.push(format!("{address}: unknown field `{name}`")),
                Some(field) if !conforms(field.ty, value) => out.push(format!(
                    "{address}: `{name}` should be a {}, is {value:?}",
                    field.ty
                )),
                Some(_) => {}
            }
        }
        for field in self.fields.iter().filter(|f| f.required) {
            if resource
                .inputs
                .get(field.name)
                .is_none_or(|v| *v == Value::Null)
            {
                out.push(format!(
                    "{address}: required field `{}` is missing",
                    field.name
                ));
            }
        }
        let mut references = std::collections::BTreeSet::new();
        resource
            .inputs
            .values()
            .for_each(|v| v.references(&mut references));
        for r in references {
            match schema_of(r.address.kind()) {
                None => out.push(format!("{address}: refers to unknown kind `{}`", r.address)),
                Some(target) if !target.outputs.contains(&r.output.as_str()) => out.push(format!(
                    "{address}: refers to `{}.{}`, but {} has no output `{}`",
                    r.address, r.output, target.kind, r.output
                )),
                Some(_) => {}
            }
        }
        out
    }
}

/// True when `value` has the shape of `ty` (null is an absent optional value; references,
/// interpolations and unknowns stand for strings).
fn conforms(ty: FieldType, value: &Value) -> bool {
    let stringy = |v: &Value| {
        matches!(
            v,
            Value::String(_) | Value::Ref(_) | Value::Concat(_) | Value::Unknown
        )
    };
    match (ty, value) {
        (_, Value::Null) | (FieldType::Any, _) => true,
        (FieldType::Json, Value::String(s)) => serde_json::from_str::<serde_json::Value>(s).is_ok(),
        (FieldType::String | FieldType::Json, v) => stringy(v),
        (FieldType::Bool, v) => matches!(v, Value::Bool(_)),
        (FieldType::Int, v) => matches!(v, Value::Int(_)),
        (FieldType::StringList, Value::List(items)) => items.iter().all(stringy),
        (FieldType::StringMap, Value::Map(map)) => map.values().all(stringy),
        (FieldType::MapList, Value::List(items)) => {
            items.iter().all(|v| matches!(v, Value::Map(_)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::fields::*;
    use super::*;
    use crate::model::Address;

    static PARENT: Schema = Schema::declare("k_parent", &[TAGS], &["id", "arn"], false);
    static CHILD: Schema = Schema::declare(
        "k_child",
        &[
            string("name").required().force_new(),
            json("policy"),
            string_list("ids"),
            int("size"),
        ],
        &["id"],
        true,
    );

    fn lookup(kind: &str) -> Option<&'static Schema> {
        [&PARENT, &CHILD].into_iter().find(|s| s.kind == kind)
    }

    #[test]
    fn facts_follow_from_the_fields() {
        assert!(PARENT.taggable() && !CHILD.taggable());
        assert!(CHILD.is_force_new("name") && !CHILD.is_force_new("size"));
        assert_eq!(CHILD.force_new().collect::<Vec<_>>(), ["name"]);
        assert!(
            !CHILD.is_ordered("ids"),
            "lists are sets unless declared ordered"
        );
        let adhoc = Schema::new("fake", &["name"], true);
        assert!(adhoc.is_force_new("name") && !adhoc.is_force_new("other"));
    }

    #[test]
    fn violations_name_each_problem() {
        let parent: Address = "k_parent.p".parse().unwrap();
        let good = Resource::new("k_child.c".parse().unwrap())
            .with("name", "x")
            .with("policy", r#"{"Version":"2012-10-17"}"#)
            .with("ids", Value::List(vec![Value::reference(&parent, "id")]));
        assert_eq!(CHILD.violations(&good, lookup), Vec::<String>::new());
        let bad = Resource::new("k_child.c".parse().unwrap())
            .with("nmae", "x")
            .with("policy", "{not json")
            .with("size", "ten")
            .with("ids", Value::List(vec![Value::reference(&parent, "ard")]));
        let problems = CHILD.violations(&bad, lookup);
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems.iter().any(|p| p.contains("unknown field `nmae`")));
        assert!(problems.iter().any(|p| p.contains("`name` is missing")));
        assert!(problems
            .iter()
            .any(|p| p.contains("`policy` should be a JSON string")));
        assert!(problems
            .iter()
            .any(|p| p.contains("`size` should be a int")));
        assert!(problems.iter().any(|p| p.contains("no output `ard`")));
    }
}
