//! Shows a plan: a Terraform-like human rendering and a stable JSON format.

use super::Plan;

pub fn render_human(_plan: &Plan, _color: bool) -> String {
    String::new()
}

pub fn render_json(_plan: &Plan) -> serde_json::Value {
    serde_json::Value::Null
}
