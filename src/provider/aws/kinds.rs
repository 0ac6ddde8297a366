//! The name of every resource kind nova manages, once: the blueprint (`stack`), the policy
//! rules and the CLI use these constants; each kind's facts are in its provider's schema.

pub const VPC: &str = "aws_vpc";
pub const INTERNET_GATEWAY: &str = "aws_internet_gateway";
pub const SUBNET: &str = "aws_subnet";
pub const EIP: &str = "aws_eip";
pub const NAT_GATEWAY: &str = "aws_nat_gateway";
pub const ROUTE_TABLE: &str = "aws_route_table";
pub const SECURITY_GROUP: &str = "aws_security_group";
pub const KMS_KEY: &str = "aws_kms_key";
pub const KMS_ALIAS: &str = "aws_kms_alias";
pub const IAM_ROLE: &str = "aws_iam_role";
pub const IAM_INSTANCE_PROFILE: &str = "aws_iam_instance_profile";
pub const INSTANCE: &str = "aws_instance";
pub const LOG_GROUP: &str = "aws_cloudwatch_log_group";
pub const LAMBDA_FUNCTION: &str = "aws_lambda_function";
pub const LAMBDA_PERMISSION: &str = "aws_lambda_permission";
pub const EVENT_RULE: &str = "aws_cloudwatch_event_rule";
pub const EVENT_TARGET: &str = "aws_cloudwatch_event_target";
pub const API_REST_API: &str = "aws_api_gateway_rest_api";
pub const API_RESOURCE: &str = "aws_api_gateway_resource";
pub const API_METHOD: &str = "aws_api_gateway_method";
pub const API_INTEGRATION: &str = "aws_api_gateway_integration";
pub const API_DEPLOYMENT: &str = "aws_api_gateway_deployment";
pub const API_STAGE: &str = "aws_api_gateway_stage";
pub const API_ACCOUNT: &str = "aws_api_gateway_account";
