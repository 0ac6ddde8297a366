//! `aws_api_gateway_account`: the account-and-region-wide API Gateway setting that names
//! the IAM role API Gateway uses to write logs to CloudWatch. A singleton, not an object:
//! create records the role set before nova (`previous_cloudwatch_role_arn`) and sets the
//! desired one; delete puts the previous role back (or clears the setting when there was
//! none).
//!
//! `read` only gets the physical id, so the previous role is kept in it: the id is
//! `account` when there was no previous role, else `account/<previous role ARN>`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{replace, retry_busy, Gateway};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::kinds;
use crate::provider::aws::{aws_error, required_str, retry_while};
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};

/// How long UpdateAccount is retried while a new role is not yet usable by API Gateway
/// ("The role ARN does not have required permissions set to API Gateway"): IAM propagation.
const ROLE_PROPAGATION_LIMIT: Duration = Duration::from_secs(120);

const ID_PREFIX: &str = "account";

/// `aws_api_gateway_account`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static API_ACCOUNT_SCHEMA: Schema = Schema::declare(
    kinds::API_ACCOUNT,
    &[f::string("cloudwatch_role_arn").required()],
    &["id", "previous_cloudwatch_role_arn"],
    false,
);

pub struct AccountProvider {
    gateway: Arc<Gateway>,
}

impl AccountProvider {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        AccountProvider { gateway }
    }

    /// The role API Gateway currently uses, `""` when none is set.
    async fn current_role(&self) -> Result<String, ProviderError> {
        let out = self
            .gateway
            .client()
            .get_account()
            .send()
            .await
            .map_err(|e| aws_error("GetAccount", e))?;
        Ok(out.cloudwatch_role_arn().unwrap_or("").to_string())
    }

    /// Sets the role (`""` clears the setting), retrying while IAM propagates a new role.
    async fn set_role(&self, ctx: &OpContext, role: &str) -> Result<(), ProviderError> {
        let ops = vec![replace("/cloudwatchRoleArn", role)];
        retry_while(
            ctx,
            "waiting for API Gateway to accept the CloudWatch role",
            ROLE_PROPAGATION_LIMIT,
            is_role_not_ready,
            || {
                retry_busy(ctx, "updating the account", || async {
                    self.gateway
                        .client()
                        .update_account()
                        .set_patch_operations(Some(ops.clone()))
                        .send()
                        .await
                        .map_err(|e| aws_error("UpdateAccount", e))
                })
            },
        )
        .await?;
        Ok(())
    }
}

/// True for "The role ARN does not have required permissions set to API Gateway" (and the
/// "trust relationship" variant): the role exists but IAM has not propagated it yet.
fn is_role_not_ready(err: &ProviderError) -> bool {
    match err {
        ProviderError::Aws { code, message, .. } => {
            let message = message.to_ascii_lowercase();
            code == "BadRequestException"
                && (message.contains("does not have required permissions")
                    || message.contains("trust relationship"))
        }
        _ => false,
    }
}

/// The physical id that records `previous` (see the module documentation).
pub fn account_id_for(previous: &str) -> String {
    if previous.is_empty() {
        ID_PREFIX.to_string()
    } else {
        format!("{ID_PREFIX}/{previous}")
    }
}

/// The previous role recorded in a physical id.
fn previous_of(id: &str) -> Result<&str, ProviderError> {
    if id == ID_PREFIX {
        return Ok("");
    }
    id.strip_prefix(ID_PREFIX)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(|| {
            ProviderError::invalid(
                "id",
                format!("`{id}` is neither `account` nor `account/<previous role ARN>`"),
            )
        })
}

fn outputs_of(id: &str) -> Result<Outputs, ProviderError> {
    let mut outputs = Outputs::new();
    outputs.insert("id".to_string(), Value::str(id));
    outputs.insert(
        "previous_cloudwatch_role_arn".to_string(),
        Value::str(previous_of(id)?),
    );
    Ok(outputs)
}

#[async_trait]
impl ResourceProvider for AccountProvider {
    fn schema(&self) -> &Schema {
        &API_ACCOUNT_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let desired = required_str(inputs, "cloudwatch_role_arn")?;
        let previous = self.current_role().await?;
        self.set_role(ctx, desired).await?;
        let id = account_id_for(&previous);
        Ok(Created {
            outputs: outputs_of(&id)?,
            id,
        })
    }

    /// Never `Gone`: the setting always exists (possibly empty).
    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let mut inputs = applied.clone();
        inputs.insert(
            "cloudwatch_role_arn".to_string(),
            Value::str(self.current_role().await?),
        );
        Ok(Observed::Present {
            inputs,
            outputs: outputs_of(id)?,
        })
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Inputs,
        new: &Inputs,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        self.set_role(ctx, required_str(new, "cloudwatch_role_arn")?)
            .await?;
        outputs_of(id)
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _inputs: &Inputs,
        _outputs: &Outputs,
    ) -> Result<(), ProviderError> {
        let previous = previous_of(id)?;
        if self.current_role().await? == previous {
            return Ok(());
        }
        self.set_role(ctx, previous).await.map_err(|err| {
            ProviderError::Other(format!(
                "could not restore the API Gateway CloudWatch role to {:?}: {err}. Set it by \
                 hand (`aws apigateway update-account --patch-operations \
                 op=replace,path=/cloudwatchRoleArn,value=<role ARN or empty>`), then run \
                 the command again",
                previous
            ))
        })
    }

    /// Adopts the setting only when it already names the desired role. The role set before
    /// that is unknown then: the id records none, so delete clears the setting.
    async fn find_existing(
        &self,
        _ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let desired = required_str(inputs, "cloudwatch_role_arn")?;
        if self.current_role().await? != desired {
            return Ok(None);
        }
        let id = account_id_for("");
        Ok(Some(Created {
            outputs: outputs_of(&id)?,
            id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_records_the_previous_role() {
        let role = "arn:aws:iam::000000000000:role/path/logs";
        assert_eq!(account_id_for(""), "account");
        assert_eq!(previous_of(&account_id_for("")).unwrap(), "");
        assert_eq!(previous_of(&account_id_for(role)).unwrap(), role);
        assert!(previous_of("acc").is_err());
        assert!(previous_of("accountx").is_err());
    }
}
