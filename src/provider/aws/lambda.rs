//! Lambda: the `aws_lambda_function` provider (code from a source directory zipped by
//! [`super::lambda_package`], configuration, VPC attachment, tags) and the
//! `aws_lambda_permission` provider (one statement of a function's resource policy).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Environment, FunctionCode, FunctionConfiguration, LastUpdateStatus, Runtime, State, VpcConfig,
};
use aws_sdk_lambda::Client;

use super::composite_id;
use super::lambda_package::{hex_to_base64, package_bundle, package_source, Package};
use super::live::{optional_i32, put_optional, put_string_map, put_string_set, string_map};
use super::send::{send, send_only, send_unless_gone};
use super::tags::{adopt_if_owned, sync_live_tags, tags_of, user_tags, TagApi, Tags};
use super::{
    has_code, ok_if_gone, optional_str, required_str, retry_while, string_list, unless_gone,
    wait_expected, wait_until, AwsClients, Expected,
};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::kinds;
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, ResourceProvider, Schema};
use crate::provider::{ReadRequest, Recorded, Update};

const NOT_FOUND: &str = "ResourceNotFoundException";
const CONFLICT: &str = "ResourceConflictException";
const INVALID_PARAMETER: &str = "InvalidParameterValueException";

/// How long to retry while a new IAM role (or its policies) propagates to Lambda.
const IAM_PROPAGATION_LIMIT: Duration = Duration::from_secs(120);
/// How long to retry while another update of the same function is in progress.
const CONFLICT_LIMIT: Duration = Duration::from_secs(120);
/// How long a function may stay `Pending` after create (VPC functions take minutes on AWS).
const ACTIVE_LIMIT: Duration = Duration::from_secs(600);
/// How long a VPC function typically stays `Pending` on AWS (60-90 s documented, up to
/// ~220 s measured): the wait polls tightly around it.
const ACTIVE_IN: Expected = Expected::secs(75);
/// How long an update may stay `InProgress`.
const UPDATED_LIMIT: Duration = Duration::from_secs(600);
/// How long a deleted function may still be visible.
const DELETED_LIMIT: Duration = Duration::from_secs(300);

/// The schemas of this module's kinds (see [`super::schemas`]).
pub const SCHEMAS: [&Schema; 2] = [&LAMBDA_FUNCTION_SCHEMA, &LAMBDA_PERMISSION_SCHEMA];

/// The providers of this module.
pub fn providers(clients: &AwsClients) -> Vec<Arc<dyn ResourceProvider>> {
    vec![
        Arc::new(FunctionProvider::new(clients)),
        Arc::new(PermissionProvider::new(clients)),
    ]
}

/// True for the errors Lambda gives while a just-created role or its policies are not yet
/// visible to it.
fn iam_not_yet_propagated(err: &ProviderError) -> bool {
    match err {
        ProviderError::Aws { code, message, .. } if code == INVALID_PARAMETER => {
            message.contains("cannot be assumed by Lambda")
                || message.contains("does not have permissions to call")
        }
        _ => false,
    }
}

fn update_in_progress(err: &ProviderError) -> bool {
    has_code(err, &[CONFLICT])
}

/// The codes of a function or statement that does not exist.
const GONE: &[&str] = &[NOT_FOUND];

/// Lambda's tag calls on a function ARN.
struct LambdaTags<'a>(&'a Client);

#[async_trait]
impl TagApi for LambdaTags<'_> {
    async fn list(&self, arn: &str) -> Result<Tags, ProviderError> {
        let out = send("ListTags", self.0.list_tags().resource(arn).send()).await?;
        Ok(user_tags(out.tags().cloned().unwrap_or_default()))
    }

    async fn tag(&self, arn: &str, tags: &Tags) -> Result<(), ProviderError> {
        let call = self.0.tag_resource().resource(arn);
        let call = call.set_tags(Some(tags.clone().into_iter().collect()));
        send_only("TagResource", call.send()).await
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), ProviderError> {
        let call = self.0.untag_resource().resource(arn);
        let call = call.set_tag_keys(Some(keys.to_vec()));
        send_only("UntagResource", call.send()).await
    }
}

// ---------------------------------------------------------------------------------------
// aws_lambda_function
// ---------------------------------------------------------------------------------------

/// `aws_lambda_function`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static LAMBDA_FUNCTION_SCHEMA: Schema = Schema::declare(
    kinds::LAMBDA_FUNCTION,
    &[
        f::string("function_name")
            .required()
            .force_new()
            .unique_within(&[]),
        f::string("runtime").required(),
        f::string("handler").required(),
        f::string("role").required(),
        f::string("source_dir"),
        f::string("source_bundle"),
        f::string("code_sha256"),
        f::string_map("environment"),
        // The function's network interfaces keep its subnets and groups in use.
        f::string_list("subnet_ids").blocks_delete(),
        f::string_list("security_group_ids").blocks_delete(),
        f::int("memory_size"),
        f::int("timeout"),
        f::TAGS,
    ],
    &["id", "arn", "function_name", "invoke_arn"],
    true,
);

/// `aws_lambda_permission`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static LAMBDA_PERMISSION_SCHEMA: Schema = Schema::declare(
    kinds::LAMBDA_PERMISSION,
    &[
        f::string("function_name").required().force_new(),
        f::string("statement_id")
            .required()
            .force_new()
            .unique_within(&["function_name"]),
        f::string("action").required().force_new(),
        f::string("principal").required().force_new(),
        f::string("source_arn").force_new(),
    ],
    &["id"],
    true,
);

/// `aws_lambda_function`: id = the function name.
pub struct FunctionProvider {
    lambda: Client,
    /// The same client without the SDK's retries, for the create call (`AwsClients::once`).
    once: Client,
}

/// The configuration part of a function's inputs (everything but code, name and tags).
struct FunctionConfig {
    runtime: String,
    handler: String,
    role: String,
    environment: BTreeMap<String, String>,
    subnet_ids: Vec<String>,
    security_group_ids: Vec<String>,
    memory_size: Option<i32>,
    timeout: Option<i32>,
}

impl FunctionConfig {
    fn from_inputs(inputs: &Inputs) -> Result<Self, ProviderError> {
        Ok(FunctionConfig {
            runtime: required_str(inputs, "runtime")?.to_string(),
            handler: required_str(inputs, "handler")?.to_string(),
            role: required_str(inputs, "role")?.to_string(),
            environment: string_map(inputs, "environment"),
            subnet_ids: string_list(inputs, "subnet_ids"),
            security_group_ids: string_list(inputs, "security_group_ids"),
            memory_size: optional_i32(inputs, "memory_size")?,
            timeout: optional_i32(inputs, "timeout")?,
        })
    }

    fn environment(&self) -> Environment {
        Environment::builder()
            .set_variables(Some(self.environment.clone().into_iter().collect()))
            .build()
    }

    fn vpc_config(&self) -> VpcConfig {
        VpcConfig::builder()
            .set_subnet_ids(Some(self.subnet_ids.clone()))
            .set_security_group_ids(Some(self.security_group_ids.clone()))
            .build()
    }

    fn has_vpc(&self) -> bool {
        !self.subnet_ids.is_empty() || !self.security_group_ids.is_empty()
    }
}

/// Rebuilds the zip of the code (`source_bundle`: a bundle built into nova, or
/// `source_dir`: a directory; exactly one) and checks it against the planned
/// `code_sha256`.
fn verified_package(inputs: &Inputs) -> Result<Package, ProviderError> {
    let planned = required_str(inputs, "code_sha256")?;
    let bundle = optional_str(inputs, "source_bundle");
    let dir = optional_str(inputs, "source_dir");
    let (package, source) = match (bundle, dir) {
        (Some(name), None) => {
            let bundle = crate::assets::bundle(name).ok_or_else(|| {
                ProviderError::invalid(
                    "source_bundle",
                    format!("no bundle `{name}` is built into this nova"),
                )
            })?;
            (
                package_bundle(bundle)?,
                format!("the built-in bundle `{name}`"),
            )
        }
        (None, Some(dir)) => (package_source(Path::new(dir))?, dir.to_string()),
        _ => {
            return Err(ProviderError::invalid(
                "source_bundle",
                "set exactly one of `source_bundle` and `source_dir`",
            ))
        }
    };
    if package.sha256_hex != planned {
        return Err(ProviderError::invalid(
            "code_sha256",
            format!(
                "the zip of {source} now hashes to {}, but the plan was made for {planned}: \
                 the source changed after planning; run plan again",
                package.sha256_hex
            ),
        ));
    }
    Ok(package)
}

/// The ARN API Gateway uses to invoke a function (AWS_PROXY integrations).
fn invoke_arn(function_arn: &str) -> String {
    let parts: Vec<&str> = function_arn.split(':').collect();
    let partition = parts.get(1).copied().unwrap_or("aws");
    let region = parts.get(3).copied().unwrap_or_default();
    format!(
        "arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    )
}

fn function_outputs(name: &str, function_arn: &str) -> Outputs {
    Outputs::from([
        ("id".to_string(), Value::str(name)),
        ("arn".to_string(), Value::str(function_arn)),
        ("function_name".to_string(), Value::str(name)),
        (
            "invoke_arn".to_string(),
            Value::str(invoke_arn(function_arn)),
        ),
    ])
}

/// The live `code_sha256`: the applied hex value when the live code is that zip, the live
/// base64 hash otherwise (so the difference shows as drift).
fn live_code_sha256(live_base64: Option<&str>, applied: &Inputs) -> Option<Value> {
    let live = live_base64?;
    let applied_hex = applied.get("code_sha256").and_then(Value::as_str);
    match applied_hex {
        Some(hex) if hex_to_base64(hex).as_deref() == Some(live) => Some(Value::str(hex)),
        _ => Some(Value::str(live)),
    }
}

impl FunctionProvider {
    pub fn new(clients: &AwsClients) -> Self {
        FunctionProvider {
            lambda: clients.lambda.clone(),
            once: clients.once.lambda.clone(),
        }
    }

    /// The function's configuration, `None` when it does not exist.
    async fn configuration(
        &self,
        name: &str,
    ) -> Result<Option<FunctionConfiguration>, ProviderError> {
        let call = self.lambda.get_function().function_name(name);
        let out = send_unless_gone("GetFunction", GONE, call.send()).await?;
        Ok(out.and_then(|out| out.configuration().cloned()))
    }

    async fn wait_active(&self, ctx: &OpContext, name: &str) -> Result<String, ProviderError> {
        wait_expected(
            ctx,
            &format!("function {name} to be Active"),
            Some(ACTIVE_IN),
            ACTIVE_LIMIT,
            || async {
                let config = self.configuration(name).await?.ok_or_else(|| {
                    ProviderError::Other(format!("function {name} disappeared while being created"))
                })?;
                match config.state() {
                    Some(State::Active) => {
                        Ok(Some(config.function_arn().unwrap_or_default().to_string()))
                    }
                    Some(State::Failed) => Err(ProviderError::Other(format!(
                        "function {name} failed to become Active: {} ({})",
                        config.state_reason().unwrap_or("no reason given"),
                        config
                            .state_reason_code()
                            .map(|c| c.as_str())
                            .unwrap_or("no reason code")
                    ))),
                    _ => Ok(None),
                }
            },
        )
        .await
    }

    /// Waits until the last update finished (`LastUpdateStatus: Successful`); returns the
    /// function ARN.
    async fn wait_updated(&self, ctx: &OpContext, name: &str) -> Result<String, ProviderError> {
        wait_until(
            ctx,
            &format!("update of function {name} to finish"),
            UPDATED_LIMIT,
            || async {
                let config = self.configuration(name).await?.ok_or_else(|| {
                    ProviderError::Other(format!("function {name} disappeared while being updated"))
                })?;
                match config.last_update_status() {
                    Some(LastUpdateStatus::Failed) => Err(ProviderError::Other(format!(
                        "update of function {name} failed: {}",
                        config
                            .last_update_status_reason()
                            .unwrap_or("no reason given")
                    ))),
                    Some(LastUpdateStatus::InProgress) => Ok(None),
                    // Successful, or absent (never updated): only once the function is no
                    // longer Pending.
                    _ if config.state() == Some(&State::Pending) => Ok(None),
                    _ => Ok(Some(config.function_arn().unwrap_or_default().to_string())),
                }
            },
        )
        .await
    }

    async fn create_function(
        &self,
        ctx: &OpContext,
        name: &str,
        config: &FunctionConfig,
        package: &Package,
        tags: &Tags,
    ) -> Result<(), ProviderError> {
        retry_while(
            ctx,
            &format!("creating function {name}"),
            IAM_PROPAGATION_LIMIT,
            iam_not_yet_propagated,
            || async {
                let mut request = self
                    .once
                    .create_function()
                    .function_name(name)
                    .runtime(Runtime::from(config.runtime.as_str()))
                    .handler(&config.handler)
                    .role(&config.role)
                    .code(
                        FunctionCode::builder()
                            .zip_file(Blob::new(package.zip.clone()))
                            .build(),
                    )
                    .environment(config.environment())
                    .set_memory_size(config.memory_size)
                    .set_timeout(config.timeout);
                if config.has_vpc() {
                    request = request.vpc_config(config.vpc_config());
                }
                if !tags.is_empty() {
                    request = request.set_tags(Some(tags.clone().into_iter().collect()));
                }
                send_only("CreateFunction", request.send()).await
            },
        )
        .await
    }

    async fn update_code(
        &self,
        ctx: &OpContext,
        name: &str,
        package: &Package,
    ) -> Result<(), ProviderError> {
        ctx.note(&format!("uploading new code for function {name}"));
        retry_while(
            ctx,
            &format!("updating the code of function {name}"),
            CONFLICT_LIMIT,
            update_in_progress,
            || async {
                let call = self.lambda.update_function_code().function_name(name);
                let call = call.zip_file(Blob::new(package.zip.clone()));
                send_only("UpdateFunctionCode", call.send()).await
            },
        )
        .await?;
        self.wait_updated(ctx, name).await.map(|_| ())
    }

    async fn update_configuration(
        &self,
        ctx: &OpContext,
        name: &str,
        config: &FunctionConfig,
    ) -> Result<(), ProviderError> {
        ctx.note(&format!("updating the configuration of function {name}"));
        retry_while(
            ctx,
            &format!("updating the configuration of function {name}"),
            IAM_PROPAGATION_LIMIT.max(CONFLICT_LIMIT),
            |err| update_in_progress(err) || iam_not_yet_propagated(err),
            || async {
                let call = self
                    .lambda
                    .update_function_configuration()
                    .function_name(name)
                    .runtime(Runtime::from(config.runtime.as_str()))
                    .handler(&config.handler)
                    .role(&config.role)
                    .environment(config.environment())
                    // Empty lists detach the function from its VPC.
                    .vpc_config(config.vpc_config())
                    .set_memory_size(config.memory_size)
                    .set_timeout(config.timeout);
                send_only("UpdateFunctionConfiguration", call.send()).await
            },
        )
        .await?;
        self.wait_updated(ctx, name).await.map(|_| ())
    }
}

/// The live configuration in the shape of the inputs.
fn function_inputs(
    name: &str,
    config: &FunctionConfiguration,
    tags: BTreeMap<String, String>,
    applied: &Inputs,
) -> Inputs {
    let mut inputs = Inputs::new();
    inputs.insert("function_name".to_string(), Value::str(name));
    let text = |s: Option<&str>| s.map(Value::str);
    put_optional(
        &mut inputs,
        applied,
        "runtime",
        text(config.runtime().map(|r| r.as_str())),
    );
    put_optional(&mut inputs, applied, "handler", text(config.handler()));
    put_optional(&mut inputs, applied, "role", text(config.role()));
    // Not readable from AWS: where the code came from.
    for field in ["source_dir", "source_bundle"] {
        put_optional(&mut inputs, applied, field, applied.get(field).cloned());
    }
    put_optional(
        &mut inputs,
        applied,
        "code_sha256",
        live_code_sha256(config.code_sha256(), applied),
    );
    let environment: BTreeMap<String, String> = config
        .environment()
        .and_then(|e| e.variables())
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    put_string_map(&mut inputs, applied, "environment", environment);
    let vpc = config.vpc_config();
    put_string_set(
        &mut inputs,
        applied,
        "subnet_ids",
        vpc.map(|v| v.subnet_ids().to_vec()).unwrap_or_default(),
    );
    put_string_set(
        &mut inputs,
        applied,
        "security_group_ids",
        vpc.map(|v| v.security_group_ids().to_vec())
            .unwrap_or_default(),
    );
    let int = |i: Option<i32>| i.map(|i| Value::Int(i64::from(i)));
    put_optional(
        &mut inputs,
        applied,
        "memory_size",
        int(config.memory_size()),
    );
    put_optional(&mut inputs, applied, "timeout", int(config.timeout()));
    put_string_map(&mut inputs, applied, "tags", tags);
    inputs
}

/// The code part of two inputs differs (a new zip must be uploaded).
fn code_changed(old: &Inputs, new: &Inputs) -> bool {
    old.get("code_sha256") != new.get("code_sha256")
}

const CONFIG_FIELDS: &[&str] = &[
    "runtime",
    "handler",
    "role",
    "environment",
    "subnet_ids",
    "security_group_ids",
    "memory_size",
    "timeout",
];

#[async_trait]
impl ResourceProvider for FunctionProvider {
    fn schema(&self) -> &Schema {
        &LAMBDA_FUNCTION_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        let name = required_str(inputs, "function_name")?;
        let config = FunctionConfig::from_inputs(inputs)?;
        let package = verified_package(inputs)?;
        ctx.note(&format!(
            "creating function {name} ({} byte zip)",
            package.zip.len()
        ));
        self.create_function(ctx, name, &config, &package, &tags_of(inputs))
            .await?;
        let arn = self.wait_active(ctx, name).await?;
        Ok(Created {
            id: name.to_string(),
            outputs: function_outputs(name, &arn),
        })
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let call = self.lambda.get_function().function_name(id);
        let Some(out) = send_unless_gone("GetFunction", GONE, call.send()).await? else {
            return Ok(Observed::Gone);
        };
        let Some(config) = out.configuration() else {
            return Err(ProviderError::Other(format!(
                "GetFunction returned no configuration for {id}"
            )));
        };
        let arn = config.function_arn().unwrap_or_default();
        // GetFunction carries the function's tags: no ListTags of its own.
        let tags = user_tags(out.tags().cloned().unwrap_or_default());
        Ok(Observed::Present {
            inputs: function_inputs(id, config, tags, applied),
            outputs: function_outputs(id, arn),
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, old, new, .. } = change;
        let config = FunctionConfig::from_inputs(new)?;
        // Whatever ran before (a create, an earlier update) must have finished.
        self.wait_updated(ctx, id).await?;
        if code_changed(old, new) {
            let package = verified_package(new)?;
            self.update_code(ctx, id, &package).await?;
        }
        if CONFIG_FIELDS.iter().any(|f| old.get(*f) != new.get(*f)) {
            self.update_configuration(ctx, id, &config).await?;
        }
        let arn = self.wait_updated(ctx, id).await?;
        sync_live_tags(&LambdaTags(&self.lambda), &arn, &tags_of(new)).await?;
        Ok(function_outputs(id, &arn))
    }

    async fn delete(&self, ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        ctx.note(&format!("deleting function {id}"));
        let deleted = retry_while(
            ctx,
            &format!("deleting function {id}"),
            CONFLICT_LIMIT,
            update_in_progress,
            || async {
                let call = self.lambda.delete_function().function_name(id);
                send_only("DeleteFunction", call.send()).await
            },
        )
        .await;
        if unless_gone(deleted, GONE)?.is_none() {
            return Ok(());
        }
        wait_until(
            ctx,
            &format!("function {id} to be deleted"),
            DELETED_LIMIT,
            || async { Ok(self.configuration(id).await?.is_none().then_some(())) },
        )
        .await
    }

    async fn find_existing(
        &self,
        ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let name = required_str(inputs, "function_name")?;
        let Some(config) = self.configuration(name).await? else {
            return Ok(None);
        };
        let arn = config.function_arn().unwrap_or_default();
        let found = Created {
            id: name.to_string(),
            outputs: function_outputs(name, arn),
        };
        adopt_if_owned(&LambdaTags(&self.lambda), arn, ctx, found).await
    }
}

// ---------------------------------------------------------------------------------------
// aws_lambda_permission
// ---------------------------------------------------------------------------------------

/// `aws_lambda_permission`: id = `<function_name>/<statement_id>`.
pub struct PermissionProvider {
    lambda: Client,
    /// The same client without the SDK's retries, for the create call (`AwsClients::once`).
    once: Client,
}

/// One statement of a function policy, in the shape of the permission's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    action: Option<String>,
    principal: Option<String>,
    source_arn: Option<String>,
}

fn permission_id(function_name: &str, statement_id: &str) -> String {
    composite_id::join(function_name, statement_id)
}

/// Splits a permission id into function name and statement id. Neither may contain `/`
/// (Lambda's naming rules), except a function given by ARN, which has none either.
fn split_permission_id(id: &str) -> Result<(&str, &str), ProviderError> {
    let (kind, form) = ("aws_lambda_permission", "<function_name>/<statement_id>");
    composite_id::parts(id.rsplit_once('/'), id, kind, form)
}

/// A permission as the function's policy (`None`: no function or no policy) shows it.
fn observe_permission(
    id: &str,
    applied: &Inputs,
    policy: Option<&str>,
) -> Result<Observed, ProviderError> {
    let (function_name, sid) = split_permission_id(id)?;
    let Some(statement) = policy
        .map(|p| find_statement(p, sid))
        .transpose()?
        .flatten()
    else {
        return Ok(Observed::Gone);
    };
    let mut inputs = Inputs::new();
    // The function as the inputs named it (a name or an ARN).
    let applied_function = applied
        .get("function_name")
        .cloned()
        .unwrap_or_else(|| Value::str(function_name));
    inputs.insert("function_name".to_string(), applied_function);
    inputs.insert("statement_id".to_string(), Value::str(sid));
    put_optional(
        &mut inputs,
        applied,
        "action",
        statement.action.map(Value::str),
    );
    put_optional(
        &mut inputs,
        applied,
        "principal",
        statement.principal.map(Value::str),
    );
    put_optional(
        &mut inputs,
        applied,
        "source_arn",
        statement.source_arn.map(Value::str),
    );
    Ok(Observed::Present {
        inputs,
        outputs: composite_id::outputs(id),
    })
}

/// Finds statement `sid` in a function policy document.
fn find_statement(policy: &str, sid: &str) -> Result<Option<Statement>, ProviderError> {
    let doc: serde_json::Value = serde_json::from_str(policy)
        .map_err(|e| ProviderError::Other(format!("function policy is not JSON: {e}")))?;
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(items)) => items.clone(),
        Some(single @ serde_json::Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    };
    let Some(found) = statements
        .iter()
        .find(|s| s.get("Sid").and_then(serde_json::Value::as_str) == Some(sid))
    else {
        return Ok(None);
    };
    let as_string = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
    let principal = match found.get("Principal") {
        Some(serde_json::Value::String(p)) => Some(p.clone()),
        Some(serde_json::Value::Object(map)) => as_string(map.get("Service"))
            .or_else(|| as_string(map.get("AWS")))
            .or_else(|| {
                map.values()
                    .next()
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            }),
        _ => None,
    };
    let source_arn = found.get("Condition").and_then(|c| {
        ["ArnLike", "ArnEquals", "StringEquals", "StringLike"]
            .iter()
            .find_map(|op| as_string(c.get(*op).and_then(|m| m.get("AWS:SourceArn"))))
    });
    Ok(Some(Statement {
        action: as_string(found.get("Action")),
        principal,
        source_arn,
    }))
}

impl PermissionProvider {
    pub fn new(clients: &AwsClients) -> Self {
        PermissionProvider {
            lambda: clients.lambda.clone(),
            once: clients.once.lambda.clone(),
        }
    }

    /// The function's policy document, `None` when the function or its policy is gone.
    async fn policy(&self, function_name: &str) -> Result<Option<String>, ProviderError> {
        let call = self.lambda.get_policy().function_name(function_name);
        let out = send_unless_gone("GetPolicy", GONE, call.send()).await?;
        Ok(out.map(|out| out.policy().unwrap_or("{}").to_string()))
    }

    async fn add(&self, ctx: &OpContext, inputs: &Inputs) -> Result<String, ProviderError> {
        let function_name = required_str(inputs, "function_name")?;
        let sid = required_str(inputs, "statement_id")?;
        let action = required_str(inputs, "action")?;
        let principal = required_str(inputs, "principal")?;
        let source_arn = super::optional_str(inputs, "source_arn");
        ctx.note(&format!(
            "adding permission {sid} to function {function_name}"
        ));
        retry_while(
            ctx,
            &format!("adding permission {sid} to function {function_name}"),
            CONFLICT_LIMIT,
            update_in_progress,
            || async {
                let call = self
                    .once
                    .add_permission()
                    .function_name(function_name)
                    .statement_id(sid)
                    .action(action)
                    .principal(principal)
                    .set_source_arn(source_arn.map(str::to_string));
                send_only("AddPermission", call.send()).await
            },
        )
        .await?;
        Ok(permission_id(function_name, sid))
    }
}

#[async_trait]
impl ResourceProvider for PermissionProvider {
    fn schema(&self) -> &Schema {
        &LAMBDA_PERMISSION_SCHEMA
    }

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        Ok(composite_id::created(self.add(ctx, inputs).await?))
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let (function_name, _) = split_permission_id(id)?;
        let policy = self.policy(function_name).await?;
        observe_permission(id, applied, policy.as_deref())
    }

    fn reads_in_batches(&self) -> bool {
        true
    }

    /// One `GetPolicy` per function for all of its permissions.
    async fn read_batch(&self, reads: &[ReadRequest]) -> Result<Vec<Observed>, ProviderError> {
        let mut policies: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut observed = Vec::with_capacity(reads.len());
        for read in reads {
            let (function_name, _) = split_permission_id(&read.id)?;
            if !policies.contains_key(function_name) {
                let policy = self.policy(function_name).await?;
                policies.insert(function_name.to_string(), policy);
            }
            let policy = policies[function_name].as_deref();
            observed.push(observe_permission(&read.id, &read.applied, policy)?);
        }
        Ok(observed)
    }

    /// Every field forces replacement, so the planner never asks for an in-place update;
    /// should it, the statement is replaced under the same id.
    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let id = change.id;
        let old = Recorded {
            id,
            inputs: change.old,
            outputs: change.outputs,
        };
        self.delete(ctx, old).await?;
        let new_id = self.add(ctx, change.new).await?;
        if new_id != id {
            return Err(ProviderError::Other(format!(
                "aws_lambda_permission {id} cannot be renamed in place to {new_id}"
            )));
        }
        Ok(composite_id::outputs(&new_id))
    }

    async fn delete(&self, ctx: &OpContext, object: Recorded<'_>) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        let (function_name, sid) = split_permission_id(id)?;
        ctx.note(&format!(
            "removing permission {sid} from function {function_name}"
        ));
        let removed = retry_while(
            ctx,
            &format!("removing permission {sid} from function {function_name}"),
            CONFLICT_LIMIT,
            update_in_progress,
            || async {
                let call = self.lambda.remove_permission().function_name(function_name);
                let call = call.statement_id(sid);
                send_only("RemovePermission", call.send()).await
            },
        )
        .await;
        ok_if_gone(removed, GONE)
    }

    async fn find_existing(
        &self,
        _ctx: &OpContext,
        inputs: &Inputs,
    ) -> Result<Option<Created>, ProviderError> {
        let function_name = required_str(inputs, "function_name")?;
        let sid = required_str(inputs, "statement_id")?;
        let policy = self.policy(function_name).await?;
        if policy
            .map(|p| find_statement(&p, sid))
            .transpose()?
            .flatten()
            .is_none()
        {
            return Ok(None);
        }
        let id = permission_id(function_name, sid);
        Ok(Some(composite_id::created(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_arn_uses_partition_and_region_of_the_function() {
        assert_eq!(
            invoke_arn("arn:aws:lambda:eu-west-1:123456789012:function:f"),
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/\
             arn:aws:lambda:eu-west-1:123456789012:function:f/invocations"
        );
    }

    #[test]
    fn permission_ids_round_trip() {
        let id = permission_id("fn-a", "AllowEvents");
        assert_eq!(split_permission_id(&id).ok(), Some(("fn-a", "AllowEvents")));
        assert!(split_permission_id("nosep").is_err());
        assert!(split_permission_id("/x").is_err());
    }

    #[test]
    fn finds_statement_with_service_principal_and_source_arn() {
        let policy = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"other","Action":"lambda:InvokeFunction","Principal":"*"},
            {"Sid":"s1","Effect":"Allow","Action":"lambda:InvokeFunction",
             "Principal":{"Service":"events.amazonaws.com"},
             "Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:events:us-east-1:1:rule/r"}}}]}"#;
        let found = find_statement(policy, "s1").ok().flatten();
        assert_eq!(
            found,
            Some(Statement {
                action: Some("lambda:InvokeFunction".into()),
                principal: Some("events.amazonaws.com".into()),
                source_arn: Some("arn:aws:events:us-east-1:1:rule/r".into()),
            })
        );
        assert_eq!(find_statement(policy, "missing").ok().flatten(), None);
        let other = find_statement(policy, "other").ok().flatten();
        assert_eq!(other.and_then(|s| s.principal), Some("*".to_string()));
    }

    #[test]
    fn live_code_hash_keeps_applied_hex_only_when_equal() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let b64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let applied = Inputs::from([("code_sha256".to_string(), Value::str(hex))]);
        assert_eq!(live_code_sha256(Some(b64), &applied), Some(Value::str(hex)));
        assert_eq!(
            live_code_sha256(Some("AAAA"), &applied),
            Some(Value::str("AAAA"))
        );
    }

    #[test]
    fn iam_propagation_errors_are_recognised() {
        let err = ProviderError::refused(
            "CreateFunction",
            INVALID_PARAMETER,
            "The role defined for the function cannot be assumed by Lambda.",
        );
        assert!(iam_not_yet_propagated(&err));
        let other =
            ProviderError::refused("CreateFunction", INVALID_PARAMETER, "Unsupported runtime");
        assert!(!iam_not_yet_propagated(&other));
    }
}
