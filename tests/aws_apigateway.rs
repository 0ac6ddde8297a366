//! The API Gateway providers against LocalStack with the real SDK: create, read, in-place
//! update, replacement, out-of-band changes and delete for every kind, and the account
//! singleton: one shared role that two stacks use, the last one restoring the role it
//! found (in its own region, so it never changes the setting other tests' stacks use).

mod common;

use common::conformance::Case;

use std::collections::BTreeMap;
use std::sync::Arc;

use nova::model::{Address, Inputs, Outputs, Value};
use nova::provider::aws::apigateway;
use nova::provider::aws::AwsClients;
use nova::provider::{
    Observed, OpContext, ProviderError, Recorded, ResourceProvider, SilentProgress, Update,
};

/// The providers under test, by kind, and raw clients for out-of-band changes.
struct Env {
    stack: String,
    clients: AwsClients,
    providers: BTreeMap<String, Arc<dyn ResourceProvider>>,
}

impl Env {
    async fn new(prefix: &str) -> Env {
        Env::with_config(prefix, common::sdk_config().await)
    }

    /// In another region than the stacks the other tests deploy: the API Gateway account
    /// setting is one per region, so the account test never changes theirs.
    async fn in_region(prefix: &str, region: &'static str) -> Env {
        let config = common::sdk_config()
            .await
            .into_builder()
            .region(aws_config::Region::from_static(region))
            .build();
        Env::with_config(prefix, config)
    }

    fn with_config(prefix: &str, config: aws_config::SdkConfig) -> Env {
        let clients = AwsClients::from_config(config);
        let providers = apigateway::providers(&clients)
            .into_iter()
            .map(|p| (p.schema().kind.to_string(), p))
            .collect();
        Env {
            stack: common::unique_stack(prefix),
            clients,
            providers,
        }
    }

    fn provider(&self, kind: &str) -> &Arc<dyn ResourceProvider> {
        self.providers
            .get(kind)
            .unwrap_or_else(|| panic!("no provider for {kind}"))
    }

    fn ctx(&self, kind: &str, name: &str) -> OpContext {
        OpContext {
            stack: self.stack.clone(),
            address: Address::new(kind, name),
            client_token: format!("{}-{name}", self.stack),
            known_ids: Vec::new(),
            progress: Arc::new(SilentProgress),
        }
    }

    /// The standard tags for `kind.name`, plus `extra`.
    fn tags(&self, kind: &str, name: &str, extra: &[(&str, &str)]) -> Value {
        let mut tags = vec![
            ("Environment".to_string(), "test".to_string()),
            ("ManagedBy".to_string(), "nova".to_string()),
            ("nova:stack".to_string(), self.stack.clone()),
            (
                "nova:address".to_string(),
                Address::new(kind, name).to_string(),
            ),
        ];
        tags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        nova::provider::aws::tags_value(tags)
    }

    async fn create(&self, kind: &str, name: &str, inputs: &Inputs) -> (String, Outputs) {
        let created = self
            .provider(kind)
            .create(&self.ctx(kind, name), inputs)
            .await
            .unwrap_or_else(|e| panic!("create {kind}.{name}: {e}"));
        assert_eq!(
            created.outputs.get("id"),
            Some(&Value::str(&created.id)),
            "outputs include the id"
        );
        (created.id, created.outputs)
    }

    async fn read(&self, kind: &str, name: &str, id: &str, applied: &Inputs) -> Observed {
        self.provider(kind)
            .read(&self.ctx(kind, name), id, applied)
            .await
            .unwrap_or_else(|e| panic!("read {kind}.{name}: {e}"))
    }

    /// Reads and expects the resource present: its inputs and outputs.
    async fn present(
        &self,
        kind: &str,
        name: &str,
        id: &str,
        applied: &Inputs,
    ) -> (Inputs, Outputs) {
        match self.read(kind, name, id, applied).await {
            Observed::Present { inputs, outputs } => (inputs, outputs),
            Observed::Gone => panic!("{kind}.{name} ({id}) is gone"),
        }
    }

    async fn update(
        &self,
        kind: &str,
        name: &str,
        id: &str,
        old: &Inputs,
        new: &Inputs,
        outputs: &Outputs,
    ) -> Outputs {
        self.provider(kind)
            .update(
                &self.ctx(kind, name),
                Update {
                    id,
                    old,
                    new,
                    outputs,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("update {kind}.{name}: {e}"))
    }

    async fn delete(&self, kind: &str, name: &str, id: &str, inputs: &Inputs, outputs: &Outputs) {
        self.try_delete(kind, name, id, inputs, outputs)
            .await
            .unwrap_or_else(|e| panic!("delete {kind}.{name}: {e}"));
    }

    async fn try_delete(
        &self,
        kind: &str,
        name: &str,
        id: &str,
        inputs: &Inputs,
        outputs: &Outputs,
    ) -> Result<(), ProviderError> {
        self.provider(kind)
            .delete(
                &self.ctx(kind, name),
                Recorded {
                    id,
                    inputs,
                    outputs,
                },
            )
            .await
    }

    /// A REST API for tests of the kinds that live in one: (id, root resource id).
    async fn api(&self) -> (String, Inputs, Outputs) {
        let inputs = self.api_inputs("main", "for tests");
        let (id, outputs) = self.create(API, "main", &inputs).await;
        (id, inputs, outputs)
    }

    fn api_inputs(&self, name: &str, description: &str) -> Inputs {
        inputs(&[
            ("name", Value::str(format!("{}-api", self.stack))),
            ("description", Value::str(description)),
            ("tags", self.tags(API, name, &[])),
        ])
    }
}

const API: &str = "aws_api_gateway_rest_api";
const RESOURCE: &str = "aws_api_gateway_resource";
const METHOD: &str = "aws_api_gateway_method";
const INTEGRATION: &str = "aws_api_gateway_integration";
const DEPLOYMENT: &str = "aws_api_gateway_deployment";
const STAGE: &str = "aws_api_gateway_stage";
const ACCOUNT: &str = "aws_api_gateway_account";

fn inputs(pairs: &[(&str, Value)]) -> Inputs {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn out_str<'a>(outputs: &'a Outputs, key: &str) -> &'a str {
    outputs
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("output {key} missing in {outputs:?}"))
}

fn lambda_uri(function: &str) -> String {
    format!(
        "arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/arn:aws:lambda:{region}:{account}:function:{function}/invocations",
        region = common::REGION,
        account = common::ACCOUNT_ID
    )
}

/// `aws_api_gateway_rest_api`: changed in place to a new description and tags (changed,
/// added, removed); drift = tags added and changed by hand.
#[tokio::test]
async fn rest_api_conformance() {
    let env = Env::new("apigw-api").await;
    let applied = env.api_inputs("main", "first");
    // In place: a new description, a changed tag, an added tag, a removed tag.
    let mut updated = env.api_inputs("main", "second");
    let mut tags = updated["tags"].as_map().expect("tags").clone();
    tags.remove("Environment");
    tags.insert("ManagedBy".into(), Value::str("nova-2"));
    tags.insert("Owner".into(), Value::str("team"));
    updated.insert("tags".into(), Value::Map(tags));
    let case = Case {
        provider: env.provider(API).clone(),
        ctx: env.ctx(API, "main"),
        other: Some(env.ctx(API, "other")),
        desired: applied.clone(),
        changes: vec![updated.clone()],
    };
    // Read matches what was applied; find_existing finds it by its ownership tags, and
    // another address owns nothing.
    let created = case.create().await;
    let (id, outputs) = (created.id.clone(), created.outputs.clone());

    // Outputs: the root resource is the `/` resource, the execution ARN names the account.
    let resources = env
        .clients
        .apigateway
        .get_resources()
        .rest_api_id(&id)
        .send()
        .await
        .expect("GetResources");
    let root = resources
        .items()
        .iter()
        .find(|r| r.path() == Some("/"))
        .and_then(|r| r.id())
        .expect("a / resource");
    assert_eq!(out_str(&outputs, "root_resource_id"), root);
    assert_eq!(
        out_str(&outputs, "execution_arn"),
        format!("arn:aws:execute-api:us-east-1:{}:{id}", common::ACCOUNT_ID)
    );

    let new_outputs = case.update(&created, &applied, &updated).await;
    assert_eq!(new_outputs, outputs);

    // Out of band: someone adds a tag and changes another; read shows the drift, and
    // updating from the drifted state restores the desired tags exactly.
    case.drift_and_restore(&created, &updated, async |_| {
        let arn = format!("arn:aws:apigateway:us-east-1::/restapis/{id}");
        env.clients
            .apigateway
            .tag_resource()
            .resource_arn(&arn)
            .tags("Rogue", "yes")
            .tags("Owner", "someone-else")
            .send()
            .await
            .expect("TagResource out of band");
        let (live, _) = env.present(API, "main", &id, &updated).await;
        let live_tags = live["tags"].as_map().expect("tags");
        assert_eq!(live_tags.get("Rogue"), Some(&Value::str("yes")));
        assert_eq!(live_tags.get("Owner"), Some(&Value::str("someone-else")));
    })
    .await;

    // Delete, then it is gone; deleting again succeeds.
    case.delete(&created, &updated).await;
}

#[tokio::test]
async fn resource_method_integration_lifecycle() {
    let env = Env::new("apigw-rmi").await;
    let (api_id, api_inputs, api_outputs) = env.api().await;
    let root = out_str(&api_outputs, "root_resource_id").to_string();

    // Resource: create, read.
    let res_inputs = inputs(&[
        ("rest_api_id", Value::str(&api_id)),
        ("parent_id", Value::str(&root)),
        ("path_part", Value::str("health")),
    ]);
    // No tags: resources, methods and integrations are found by their natural key.
    let case = |kind: &str, name: &str, desired: &Inputs, changes: Vec<Inputs>| Case {
        provider: env.provider(kind).clone(),
        ctx: env.ctx(kind, name),
        other: None,
        desired: desired.clone(),
        changes,
    };
    let resource = case(RESOURCE, "health", &res_inputs, vec![]).create().await;
    let (res_id, res_outputs) = (resource.id.clone(), resource.outputs.clone());
    assert_eq!(out_str(&res_outputs, "path"), "/health");

    // Method: create with no authorization, read, update to AWS_IAM, read.
    let method_inputs = inputs(&[
        ("rest_api_id", Value::str(&api_id)),
        ("resource_id", Value::str(&res_id)),
        ("http_method", Value::str("GET")),
        ("authorization", Value::str("NONE")),
    ]);
    let mut iam = method_inputs.clone();
    iam.insert("authorization".into(), Value::str("AWS_IAM"));
    let method_case = case(METHOD, "get", &method_inputs, vec![iam.clone()]);
    let method = method_case.create().await;
    let method_id = method.id.clone();
    assert_eq!(method_id, format!("{api_id}/{res_id}/GET"));
    method_case.update_each(&method).await;
    // Read with the old inputs: it reports the live value, not what it was given.
    let (live, _) = env.present(METHOD, "get", &method_id, &method_inputs).await;
    assert_eq!(live, iam);

    // Integration: create, read, new uri in place, read.
    let int_inputs = inputs(&[
        ("rest_api_id", Value::str(&api_id)),
        ("resource_id", Value::str(&res_id)),
        ("http_method", Value::str("GET")),
        ("type", Value::str("AWS_PROXY")),
        ("integration_http_method", Value::str("POST")),
        ("uri", Value::str(lambda_uri(&format!("{}-one", env.stack)))),
    ]);
    let mut moved = int_inputs.clone();
    moved.insert(
        "uri".into(),
        Value::str(lambda_uri(&format!("{}-two", env.stack))),
    );
    let int_case = case(INTEGRATION, "get", &int_inputs, vec![moved.clone()]);
    let integration = int_case.create().await;
    let (int_id, int_outputs) = (integration.id.clone(), integration.outputs.clone());
    int_case.update_each(&integration).await;
    let (live, _) = env.present(INTEGRATION, "get", &int_id, &int_inputs).await;
    assert_eq!(live, moved);

    // Out of band: the integration is deleted; read says Gone, delete still succeeds.
    env.clients
        .apigateway
        .delete_integration()
        .rest_api_id(&api_id)
        .resource_id(&res_id)
        .http_method("GET")
        .send()
        .await
        .expect("DeleteIntegration out of band");
    assert_eq!(
        env.read(INTEGRATION, "get", &int_id, &moved).await,
        Observed::Gone
    );
    env.delete(INTEGRATION, "get", &int_id, &moved, &int_outputs)
        .await;

    // Method delete, then gone; deleting again succeeds.
    method_case.delete(&method, &iam).await;

    // A new path part forces replacement: the new resource, then the old one deleted.
    assert!(env.provider(RESOURCE).schema().is_force_new("path_part"));
    let mut renamed = res_inputs.clone();
    renamed.insert("path_part".into(), Value::str("status"));
    let (new_id, new_outputs) = env.create(RESOURCE, "health", &renamed).await;
    assert_ne!(new_id, res_id);
    assert_eq!(out_str(&new_outputs, "path"), "/status");
    env.delete(RESOURCE, "health", &res_id, &res_inputs, &res_outputs)
        .await;
    assert_eq!(
        env.read(RESOURCE, "health", &res_id, &res_inputs).await,
        Observed::Gone
    );
    let (live, _) = env.present(RESOURCE, "health", &new_id, &renamed).await;
    assert_eq!(live, renamed);
    env.delete(RESOURCE, "health", &new_id, &renamed, &new_outputs)
        .await;
    assert_eq!(
        env.read(RESOURCE, "health", &new_id, &renamed).await,
        Observed::Gone
    );

    env.delete(API, "main", &api_id, &api_inputs, &api_outputs)
        .await;
}

/// Creates a log group with the raw client and returns its ARN as DescribeLogGroups gives
/// it (ending in `:*`, like the log group provider's `arn` output).
async fn log_group(env: &Env, suffix: &str) -> String {
    let name = format!("/aws/apigateway/{}-{suffix}", env.stack);
    env.clients
        .logs
        .create_log_group()
        .log_group_name(&name)
        .send()
        .await
        .expect("CreateLogGroup");
    let groups = env
        .clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&name)
        .send()
        .await
        .expect("DescribeLogGroups");
    groups
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name.as_str()))
        .and_then(|g| g.arn())
        .expect("the log group's ARN")
        .to_string()
}

async fn delete_log_group(env: &Env, arn: &str) {
    let name = arn
        .trim_end_matches(":*")
        .rsplit_once(":log-group:")
        .map(|(_, n)| n.to_string())
        .expect("a log group ARN");
    env.clients
        .logs
        .delete_log_group()
        .log_group_name(name)
        .send()
        .await
        .expect("DeleteLogGroup");
}

const ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","status":"$context.status"}"#;

#[tokio::test]
async fn deployment_and_stage_lifecycle_with_redeploy() {
    let env = Env::new("apigw-stage").await;
    let (api_id, api_inputs, api_outputs) = env.api().await;
    let root = out_str(&api_outputs, "root_resource_id").to_string();
    let (res_id, _) = env
        .create(
            RESOURCE,
            "health",
            &inputs(&[
                ("rest_api_id", Value::str(&api_id)),
                ("parent_id", Value::str(&root)),
                ("path_part", Value::str("health")),
            ]),
        )
        .await;
    let method_inputs = inputs(&[
        ("rest_api_id", Value::str(&api_id)),
        ("resource_id", Value::str(&res_id)),
        ("http_method", Value::str("GET")),
        ("authorization", Value::str("NONE")),
    ]);
    env.create(METHOD, "get", &method_inputs).await;
    let int_inputs = inputs(&[
        ("rest_api_id", Value::str(&api_id)),
        ("resource_id", Value::str(&res_id)),
        ("http_method", Value::str("GET")),
        ("type", Value::str("AWS_PROXY")),
        ("integration_http_method", Value::str("POST")),
        ("uri", Value::str(lambda_uri(&format!("{}-fn", env.stack)))),
    ]);
    env.create(INTEGRATION, "get", &int_inputs).await;
    let group_one = log_group(&env, "one").await;
    let group_two = log_group(&env, "two").await;

    // Deployment: create, read, description in place.
    let deploy_inputs = |trigger: &str, description: &str| {
        inputs(&[
            ("rest_api_id", Value::str(&api_id)),
            ("description", Value::str(description)),
            (
                "triggers",
                Value::Map([("redeployment".to_string(), Value::str(trigger))].into()),
            ),
        ])
    };
    let first = deploy_inputs("hash-1", "first");
    let (dep_one, dep_one_outputs) = env.create(DEPLOYMENT, "main", &first).await;
    let (live, _) = env.present(DEPLOYMENT, "main", &dep_one, &first).await;
    assert_eq!(live, first);
    let first_v2 = deploy_inputs("hash-1", "first, described again");
    env.update(
        DEPLOYMENT,
        "main",
        &dep_one,
        &first,
        &first_v2,
        &dep_one_outputs,
    )
    .await;
    let (live, _) = env.present(DEPLOYMENT, "main", &dep_one, &first).await;
    assert_eq!(live, first_v2);

    // Stage: create with access logs (ARN with `:*`), INFO logging, metrics; read matches.
    let stage_inputs = inputs(&[
        ("rest_api_id", Value::str(&api_id)),
        ("stage_name", Value::str("prod")),
        ("deployment_id", Value::str(&dep_one)),
        ("access_log_destination_arn", Value::str(&group_one)),
        ("access_log_format", Value::str(ACCESS_LOG_FORMAT)),
        ("logging_level", Value::str("INFO")),
        ("metrics_enabled", Value::Bool(true)),
        ("tags", env.tags(STAGE, "prod", &[])),
    ]);
    let (stage_id, stage_outputs) = env.create(STAGE, "prod", &stage_inputs).await;
    assert_eq!(stage_id, format!("{api_id}/prod"));
    assert_eq!(
        out_str(&stage_outputs, "invoke_url"),
        format!("https://{api_id}.execute-api.us-east-1.amazonaws.com/prod")
    );
    assert_eq!(
        out_str(&stage_outputs, "arn"),
        format!("arn:aws:apigateway:us-east-1::/restapis/{api_id}/stages/prod")
    );
    let raw = env
        .clients
        .apigateway
        .get_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .expect("GetStage");
    let log = raw.access_log_settings().expect("access log settings");
    assert_eq!(
        log.destination_arn(),
        Some(group_one.trim_end_matches(":*")),
        "the destination is the log group ARN without `:*`"
    );
    assert_eq!(log.format(), Some(ACCESS_LOG_FORMAT));
    let (live, read_outputs) = env.present(STAGE, "prod", &stage_id, &stage_inputs).await;
    assert_eq!(live, stage_inputs);
    assert_eq!(read_outputs, stage_outputs);

    let found = env
        .provider(STAGE)
        .find_existing(&env.ctx(STAGE, "prod"), &stage_inputs)
        .await
        .expect("find_existing");
    assert_eq!(found.map(|c| c.id), Some(stage_id.clone()));
    let not_ours = env
        .provider(STAGE)
        .find_existing(&env.ctx(STAGE, "other"), &stage_inputs)
        .await
        .expect("find_existing");
    assert_eq!(
        not_ours, None,
        "a stage tagged for another address is not adopted"
    );

    // The deployment the stage serves cannot be deleted: a bounded wait, then a clear error.
    // (Checked here, right after CreateStage: LocalStack stops enforcing this once the
    // stage's deployment has been changed with UpdateStage.)
    let err = env
        .try_delete(DEPLOYMENT, "main", &dep_one, &first_v2, &dep_one_outputs)
        .await
        .expect_err("the stage still points at the deployment");
    let message = err.to_string();
    assert!(
        message.contains("still used by a stage") && message.contains(&dep_one),
        "unclear error: {message}"
    );
    let (live, _) = env.present(DEPLOYMENT, "main", &dep_one, &first_v2).await;
    assert_eq!(live, first_v2);

    // In place: logging level, access log destination, tags.
    let mut changed = stage_inputs.clone();
    changed.insert("logging_level".into(), Value::str("ERROR"));
    changed.insert("access_log_destination_arn".into(), Value::str(&group_two));
    changed.insert("tags".into(), env.tags(STAGE, "prod", &[("Owner", "team")]));
    env.update(
        STAGE,
        "prod",
        &stage_id,
        &stage_inputs,
        &changed,
        &stage_outputs,
    )
    .await;
    let (live, _) = env.present(STAGE, "prod", &stage_id, &changed).await;
    assert_eq!(live, changed);

    // Redeploy: new triggers force a new deployment (create before destroy); the stage
    // moves to it, then the old deployment is deleted.
    let schema = env.provider(DEPLOYMENT).schema().clone();
    assert!(schema.is_force_new("triggers") && schema.create_before_destroy);
    let second = deploy_inputs("hash-2", "first, described again");
    let (dep_two, dep_two_outputs) = env.create(DEPLOYMENT, "main", &second).await;
    assert_ne!(dep_two, dep_one);
    let mut moved = changed.clone();
    moved.insert("deployment_id".into(), Value::str(&dep_two));
    env.update(STAGE, "prod", &stage_id, &changed, &moved, &stage_outputs)
        .await;
    let (live, _) = env.present(STAGE, "prod", &stage_id, &changed).await;
    assert_eq!(live, moved);
    env.delete(DEPLOYMENT, "main", &dep_one, &first_v2, &dep_one_outputs)
        .await;
    assert_eq!(
        env.read(DEPLOYMENT, "main", &dep_one, &first_v2).await,
        Observed::Gone
    );
    env.delete(DEPLOYMENT, "main", &dep_one, &first_v2, &dep_one_outputs)
        .await;

    // Out of band: the stage is deleted; read says Gone; delete still succeeds.
    env.clients
        .apigateway
        .delete_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .expect("DeleteStage out of band");
    assert_eq!(
        env.read(STAGE, "prod", &stage_id, &moved).await,
        Observed::Gone
    );
    env.delete(STAGE, "prod", &stage_id, &moved, &stage_outputs)
        .await;

    env.delete(DEPLOYMENT, "main", &dep_two, &second, &dep_two_outputs)
        .await;
    assert_eq!(
        env.read(DEPLOYMENT, "main", &dep_two, &second).await,
        Observed::Gone
    );
    env.delete(API, "main", &api_id, &api_inputs, &api_outputs)
        .await;
    delete_log_group(&env, &group_one).await;
    delete_log_group(&env, &group_two).await;
}

/// The API Gateway setting, read with the raw client ("" when unset).
async fn account_role(env: &Env) -> String {
    env.clients
        .apigateway
        .get_account()
        .send()
        .await
        .expect("GetAccount")
        .cloudwatch_role_arn()
        .unwrap_or("")
        .to_string()
}

async fn set_account_role(env: &Env, role: &str) {
    env.clients
        .apigateway
        .update_account()
        .patch_operations(
            aws_sdk_apigateway::types::PatchOperation::builder()
                .op(aws_sdk_apigateway::types::Op::Replace)
                .path("/cloudwatchRoleArn")
                .value(role)
                .build(),
        )
        .send()
        .await
        .expect("UpdateAccount");
}

const TRUST_APIGATEWAY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

async fn role(env: &Env, suffix: &str) -> String {
    let out = env
        .clients
        .iam
        .create_role()
        .role_name(format!("{}-{suffix}", env.stack))
        .assume_role_policy_document(TRUST_APIGATEWAY)
        .send()
        .await
        .expect("CreateRole");
    out.role().expect("a role").arn().to_string()
}

async fn delete_role(env: &Env, suffix: &str) {
    env.clients
        .iam
        .delete_role()
        .role_name(format!("{}-{suffix}", env.stack))
        .send()
        .await
        .expect("DeleteRole");
}

/// The region of the account test: not the stacks' (`common::REGION`).
const ACCOUNT_REGION: &str = "eu-west-1";

const PUSH_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs";

/// The account resource's inputs for the shared role `name`.
fn account_inputs(name: &str) -> Inputs {
    inputs(&[
        ("role_name", Value::str(name)),
        ("assume_role_policy", Value::str(TRUST_APIGATEWAY)),
        ("managed_policy_arns", Value::list_of_strings([PUSH_POLICY])),
    ])
}

/// The live tags of role `name`, or `None` when it does not exist.
async fn live_role_tags(env: &Env, name: &str) -> Option<BTreeMap<String, String>> {
    match env
        .clients
        .iam
        .list_role_tags()
        .role_name(name)
        .send()
        .await
    {
        Ok(out) => Some(
            out.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        ),
        Err(e) if format!("{e:?}").contains("NoSuchEntity") => None,
        Err(e) => panic!("ListRoleTags {name}: {e:?}"),
    }
}

/// The stack `stack`'s context for the account resource.
fn account_ctx(stack: &str) -> OpContext {
    OpContext {
        stack: stack.to_string(),
        address: Address::new(ACCOUNT, "main"),
        client_token: String::new(),
        known_ids: Vec::new(),
        progress: Arc::new(SilentProgress),
    }
}

/// Two stacks of one account and region share one role: the first makes it and records
/// the role set before nova, both plans see no drift, the first to leave changes nothing
/// for the other, the last restores the setting and deletes the role. Raw SDK reads
/// witness every step.
#[tokio::test]
async fn account_singleton_is_one_shared_role_that_the_last_stack_removes() {
    let env = Env::in_region("apigw-acct", ACCOUNT_REGION).await;
    let found_at_start = account_role(&env).await;
    let previous = role(&env, "prev").await;
    let shared = format!("{}-shared", env.stack);
    let (staging, production) = (format!("{}-s", env.stack), format!("{}-p", env.stack));
    let account = env.provider(ACCOUNT).clone();
    let desired = account_inputs(&shared);
    set_account_role(&env, &previous).await;

    // The first stack makes the role, records the previous setting, points the setting.
    let first = account
        .create(&account_ctx(&staging), &desired)
        .await
        .expect("create (staging)");
    assert_eq!(first.id, "account");
    let shared_arn = out_str(&first.outputs, "cloudwatch_role_arn").to_string();
    assert!(
        shared_arn.ends_with(&format!(":role/{shared}")),
        "{shared_arn}"
    );
    assert_eq!(account_role(&env).await, shared_arn);
    let tags = live_role_tags(&env, &shared)
        .await
        .expect("the shared role");
    assert_eq!(
        tags.get("nova:shared").map(String::as_str),
        Some("apigateway-cloudwatch")
    );
    assert_eq!(tags.get("nova:previous-role"), Some(&previous));
    assert_eq!(
        tags.get(&format!("nova:user:{staging}"))
            .map(String::as_str),
        Some("true")
    );

    // The second joins: same role, same setting, the previous value kept.
    let second = account
        .create(&account_ctx(&production), &desired)
        .await
        .expect("create (production)");
    assert_eq!(second.outputs, first.outputs);
    assert_eq!(account_role(&env).await, shared_arn);
    let tags = live_role_tags(&env, &shared)
        .await
        .expect("the shared role");
    assert_eq!(
        tags.get("nova:previous-role"),
        Some(&previous),
        "never overwritten"
    );
    assert!(tags.contains_key(&format!("nova:user:{production}")));

    // Neither sees the other as drift.
    for stack in [&staging, &production] {
        match account.read(&account_ctx(stack), "account", &desired).await {
            Ok(Observed::Present { inputs, outputs }) => {
                assert_eq!(inputs, desired, "{stack} reads what it applied");
                assert_eq!(outputs, first.outputs);
            }
            other => panic!("{stack}: {other:?}"),
        }
        let found = account
            .find_existing(&account_ctx(stack), &desired)
            .await
            .expect("find_existing");
        assert_eq!(found.map(|c| c.id), Some("account".to_string()));
    }
    let stranger = format!("{}-x", env.stack);
    let found = account
        .find_existing(&account_ctx(&stranger), &desired)
        .await
        .expect("find_existing");
    assert_eq!(
        found, None,
        "a stack without its tag on the role has nothing to adopt"
    );
    assert!(matches!(
        account
            .read(&account_ctx(&stranger), "account", &desired)
            .await,
        Ok(Observed::Gone)
    ));

    // Out of band: someone points the setting elsewhere; read shows it, update restores.
    set_account_role(&env, &previous).await;
    let Ok(Observed::Present { inputs: live, .. }) = account
        .read(&account_ctx(&staging), "account", &desired)
        .await
    else {
        panic!("staging's account is gone");
    };
    assert_eq!(live["role_name"], Value::str(format!("{}-prev", env.stack)));
    account
        .update(
            &account_ctx(&staging),
            Update {
                id: "account",
                old: &live,
                new: &desired,
                outputs: &first.outputs,
            },
        )
        .await
        .expect("update");
    assert_eq!(account_role(&env).await, shared_arn);

    // The first to leave changes nothing for the other.
    env.delete(ACCOUNT, "main", "account", &desired, &first.outputs)
        .await; // the Env's own stack name never joined: a no-op leave
    account
        .delete(
            &account_ctx(&staging),
            Recorded {
                id: "account",
                inputs: &desired,
                outputs: &first.outputs,
            },
        )
        .await
        .expect("delete (staging)");
    assert_eq!(
        account_role(&env).await,
        shared_arn,
        "production still logs"
    );
    let tags = live_role_tags(&env, &shared).await.expect("the role stays");
    assert!(!tags.contains_key(&format!("nova:user:{staging}")));
    assert!(tags.contains_key(&format!("nova:user:{production}")));
    assert!(matches!(
        account
            .read(&account_ctx(&staging), "account", &desired)
            .await,
        Ok(Observed::Gone)
    ));

    // The last restores the setting and deletes the role; again is a no-op.
    for _ in 0..2 {
        account
            .delete(
                &account_ctx(&production),
                Recorded {
                    id: "account",
                    inputs: &desired,
                    outputs: &first.outputs,
                },
            )
            .await
            .expect("delete (production)");
        assert_eq!(account_role(&env).await, previous);
        assert_eq!(
            live_role_tags(&env, &shared).await,
            None,
            "the role is deleted"
        );
    }

    // A state of the earlier rule (the stack's own role in `cloudwatch_role_arn`, the
    // previous role in the id) is read as before and moves to the shared role in place.
    let own = role(&env, "own").await;
    set_account_role(&env, &own).await;
    let legacy = inputs(&[("cloudwatch_role_arn", Value::str(&own))]);
    let legacy_id = format!("account/{previous}");
    match account
        .read(&account_ctx(&staging), &legacy_id, &legacy)
        .await
    {
        Ok(Observed::Present { inputs, .. }) => assert_eq!(inputs, legacy),
        other => panic!("legacy read: {other:?}"),
    }
    let outputs = account
        .update(
            &account_ctx(&staging),
            Update {
                id: &legacy_id,
                old: &legacy,
                new: &desired,
                outputs: &first.outputs,
            },
        )
        .await
        .expect("update from the earlier rule");
    assert_eq!(account_role(&env).await, shared_arn);
    let tags = live_role_tags(&env, &shared)
        .await
        .expect("the shared role again");
    assert_eq!(
        tags.get("nova:previous-role"),
        Some(&previous),
        "the id's previous role, not the stack's own role"
    );
    account
        .delete(
            &account_ctx(&staging),
            Recorded {
                id: &legacy_id,
                inputs: &desired,
                outputs: &outputs,
            },
        )
        .await
        .expect("delete after the move");
    assert_eq!(account_role(&env).await, previous);
    assert_eq!(live_role_tags(&env, &shared).await, None);

    // Leave the region's account as it was found.
    set_account_role(&env, &found_at_start).await;
    for suffix in ["prev", "own"] {
        delete_role(&env, suffix).await;
    }
}
