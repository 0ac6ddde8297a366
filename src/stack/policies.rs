//! The JSON policy documents nova writes: the KMS key policy and IAM trust and inline
//! policies. Serialized with sorted keys, so the same inputs always give the same text.

use serde_json::{json, Value as Json};

fn document(statements: Vec<Json>) -> String {
    json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

/// The key policy: the account root administers the key; CloudWatch Logs may use it for
/// this account's log groups only; EC2 may use it for EBS on behalf of this account only.
/// No open principals.
pub fn key_policy(region: &str, account: &str) -> String {
    let root = format!("arn:aws:iam::{account}:root");
    document(vec![
        json!({
            "Sid": "AccountRootAdministers",
            "Effect": "Allow",
            "Principal": { "AWS": root },
            "Action": "kms:*",
            "Resource": "*"
        }),
        json!({
            "Sid": "CloudWatchLogsEncryptsThisAccountsLogGroups",
            "Effect": "Allow",
            "Principal": { "Service": format!("logs.{region}.amazonaws.com") },
            "Action": ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": format!("arn:aws:logs:{region}:{account}:log-group:*")
                }
            }
        }),
        json!({
            "Sid": "EbsEncryptionThroughEc2",
            "Effect": "Allow",
            "Principal": { "AWS": root },
            "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:CallerAccount": account,
                    "kms:ViaService": format!("ec2.{region}.amazonaws.com")
                }
            }
        }),
    ])
}

/// A role trust policy letting `service` assume the role.
pub fn trust_policy(service: &str) -> String {
    document(vec![json!({
        "Effect": "Allow",
        "Principal": { "Service": service },
        "Action": "sts:AssumeRole"
    })])
}

/// The health-check Lambda's permissions: exactly what it does, nothing more.
pub fn health_check_policy(log_group_arn: &str, metric_namespace: &str) -> String {
    document(vec![
        json!({
            "Sid": "ReadInstanceHealth",
            "Effect": "Allow",
            "Action": ["ec2:DescribeInstanceStatus", "ec2:DescribeInstances"],
            "Resource": "*"
        }),
        json!({
            "Sid": "PublishHealthMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": { "StringEquals": { "cloudwatch:namespace": metric_namespace } }
        }),
        json!({
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": format!("{log_group_arn}:*")
        }),
        json!({
            "Sid": "VpcNetworkInterfaces",
            "Effect": "Allow",
            "Action": [
                "ec2:AssignPrivateIpAddresses",
                "ec2:CreateNetworkInterface",
                "ec2:DeleteNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:UnassignPrivateIpAddresses"
            ],
            "Resource": "*"
        }),
    ])
}
