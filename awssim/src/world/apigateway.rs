//! API Gateway: UpdateAccount with a CloudWatch role too new for API Gateway to assume is
//! refused, as AWS does until IAM has propagated the role.

use super::{name_from_arn, Records};
use crate::answer::AwsError;
use crate::call::Call;
use crate::model::Model;

pub(super) fn before(
    model: &Model,
    records: &Records,
    call: &Call,
    now: f64,
) -> Option<(&'static str, AwsError)> {
    if call.action != "UpdateAccount" {
        return None;
    }
    let operations = call.json.as_ref()?.get("patchOperations")?.as_array()?;
    let arn = operations.iter().find_map(|op| {
        (op.get("path")?.as_str()? == "/cloudwatchRoleArn")
            .then(|| op.get("value")?.as_str())
            .flatten()
    })?;
    let created = records.roles.get(name_from_arn(arn))?;
    (now < created + model.consistency.apigateway_role_s).then(|| {
        (
            "apigateway-role-propagation",
            AwsError::new(
                400,
                "BadRequestException",
                "The role ARN does not have required permissions set to API Gateway",
            ),
        )
    })
}
