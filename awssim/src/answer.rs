//! Answers awssim gives itself, in each service's own error format: throttling, injected
//! faults and refusals look to the SDK exactly as AWS's do.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use quick_xml::escape::escape;

use crate::call::{Call, Protocol};

/// A complete HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// An AWS error: status, code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> AwsError {
        AwsError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// The service's own throttling error.
    pub fn throttled(service: &str) -> AwsError {
        match service {
            "ec2" => AwsError::new(503, "RequestLimitExceeded", "Request limit exceeded."),
            "lambda" => AwsError::new(429, "TooManyRequestsException", "Rate exceeded"),
            "apigateway" => AwsError::new(429, "TooManyRequestsException", "Too Many Requests"),
            "iam" | "sts" => AwsError::new(400, "Throttling", "Rate exceeded"),
            "s3" => AwsError::new(503, "SlowDown", "Please reduce your request rate."),
            _ => AwsError::new(400, "ThrottlingException", "Rate exceeded"),
        }
    }

    /// The service's own internal error (HTTP 500).
    pub fn internal(service: &str) -> AwsError {
        let code = match service {
            "ec2" => "InternalError",
            "iam" => "ServiceFailure",
            "lambda" => "ServiceException",
            "s3" => "InternalError",
            _ => "InternalFailure",
        };
        AwsError::new(
            500,
            code,
            "We encountered an internal error. Please try again.",
        )
    }

    /// The service's own "unavailable" error (HTTP 503).
    pub fn unavailable(service: &str) -> AwsError {
        let code = match service {
            "ec2" => "Unavailable",
            "s3" => "ServiceUnavailable",
            _ => "ServiceUnavailable",
        };
        AwsError::new(
            503,
            code,
            "The service is unavailable. Please try again shortly.",
        )
    }

    /// EC2's `DependencyViolation`.
    pub fn dependency_violation(message: impl Into<String>) -> AwsError {
        AwsError::new(400, "DependencyViolation", message)
    }

    /// This error as `call`'s service would send it.
    pub fn answer(&self, call: &Call) -> Answer {
        let request_id = request_id();
        let (content_type, body, extra) = match call.protocol {
            Protocol::Ec2Query => (
                "text/xml;charset=UTF-8",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>",
                    escape(self.code.as_str()),
                    escape(self.message.as_str())
                ),
                None,
            ),
            Protocol::AwsQuery => (
                "text/xml",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                    if self.status >= 500 { "Receiver" } else { "Sender" },
                    escape(self.code.as_str()),
                    escape(self.message.as_str())
                ),
                None,
            ),
            Protocol::AwsJson => (
                "application/x-amz-json-1.1",
                serde_json::json!({ "__type": self.code, "message": self.message }).to_string(),
                None,
            ),
            Protocol::RestJson => (
                "application/json",
                serde_json::json!({ "message": self.message, "Type": "User" }).to_string(),
                Some(("x-amzn-ErrorType".to_string(), self.code.clone())),
            ),
            Protocol::RestXml => (
                "application/xml",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{request_id}</RequestId></Error>",
                    escape(self.code.as_str()),
                    escape(self.message.as_str())
                ),
                None,
            ),
        };
        let mut headers = vec![
            ("content-type".to_string(), content_type.to_string()),
            ("x-amzn-requestid".to_string(), request_id.clone()),
            ("x-amz-request-id".to_string(), request_id),
        ];
        headers.extend(extra);
        Answer {
            status: self.status,
            headers,
            body: Bytes::from(body),
        }
    }
}

/// A request id in AWS's UUID shape, unique within this process.
pub fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("a5511a00-0000-4000-8000-{n:012x}")
}
