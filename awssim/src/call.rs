//! What an incoming request is: the AWS service (from the SigV4 credential scope), the
//! action (from the query `Action`, the `X-Amz-Target` header or the REST route), and its
//! parameters.

use bytes::Bytes;
use hyper::http::request::Parts;
use hyper::Method;
use percent_encoding::percent_decode_str;

use crate::routes;

/// How a service encodes its requests and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// EC2's query protocol (form body, `<Response><Errors>` errors).
    Ec2Query,
    /// The AWS query protocol (IAM, STS): form body, `<ErrorResponse>` errors.
    AwsQuery,
    /// JSON RPC (KMS, CloudWatch Logs, EventBridge): `X-Amz-Target`, `__type` errors.
    AwsJson,
    /// REST with JSON bodies (Lambda, API Gateway): `x-amzn-ErrorType` errors.
    RestJson,
    /// REST with XML bodies (S3).
    RestXml,
}

/// One request, classified.
#[derive(Debug, Clone)]
pub struct Call {
    pub service: String,
    pub action: String,
    pub protocol: Protocol,
    pub method: Method,
    /// Decoded path segments.
    pub path: Vec<String>,
    /// Form parameters of a query-protocol request, in order.
    pub params: Params,
    /// The JSON body, when there is one.
    pub json: Option<serde_json::Value>,
}

impl Call {
    pub fn classify(parts: &Parts, body: &Bytes) -> Call {
        let service = service_of(parts);
        let path: Vec<String> = parts
            .uri
            .path()
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let target = header(parts, "x-amz-target");
        let form = header(parts, "content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        let protocol = match service.as_str() {
            "ec2" => Protocol::Ec2Query,
            "lambda" | "apigateway" => Protocol::RestJson,
            "s3" => Protocol::RestXml,
            _ if target.is_some() => Protocol::AwsJson,
            _ if form => Protocol::AwsQuery,
            _ => Protocol::AwsJson,
        };
        let params = if matches!(protocol, Protocol::Ec2Query | Protocol::AwsQuery) {
            Params(
                form_urlencoded::parse(body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            )
        } else {
            Params::default()
        };
        let json = if matches!(protocol, Protocol::AwsJson | Protocol::RestJson) && !body.is_empty()
        {
            serde_json::from_slice(body).ok()
        } else {
            None
        };
        let action = match protocol {
            Protocol::Ec2Query | Protocol::AwsQuery => {
                params.get("Action").unwrap_or("").to_string()
            }
            Protocol::AwsJson => target
                .and_then(|t| t.rsplit('.').next())
                .unwrap_or("")
                .to_string(),
            Protocol::RestJson => routes::action(&service, &parts.method, &path),
            Protocol::RestXml => routes::s3_action(&parts.method, &path),
        };
        Call {
            service,
            action,
            protocol,
            method: parts.method.clone(),
            path,
            params,
            json,
        }
    }

    /// `service:Action`, as counted in the stats.
    pub fn name(&self) -> String {
        format!("{}:{}", self.service, self.action)
    }

    /// A string field of the JSON body.
    pub fn json_str(&self, field: &str) -> Option<&str> {
        self.json.as_ref()?.get(field)?.as_str()
    }

    /// The path segment after `segment` (e.g. the function name after `functions`).
    pub fn path_after(&self, segment: &str) -> Option<&str> {
        let at = self.path.iter().position(|s| s == segment)?;
        self.path.get(at + 1).map(String::as_str)
    }
}

/// Query-protocol parameters (`Name=value` pairs, lists as `Name.1`, `Name.2`, ...).
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The values of `Prefix.1`, `Prefix.2`, ... in index order.
    pub fn list(&self, prefix: &str) -> Vec<&str> {
        let mut items: Vec<(u32, &str)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let index = k.strip_prefix(prefix)?.strip_prefix('.')?.parse().ok()?;
                Some((index, v.as_str()))
            })
            .collect();
        items.sort();
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// The `Filter.N.Name` / `Filter.N.Value.M` filters, by index.
    pub fn filters(&self) -> Vec<(String, Vec<String>)> {
        let mut indexes: Vec<u32> = self
            .0
            .iter()
            .filter_map(|(k, _)| {
                let rest = k.strip_prefix("Filter.")?;
                let (n, field) = rest.split_once('.')?;
                (field == "Name").then(|| n.parse().ok())?
            })
            .collect();
        indexes.sort();
        indexes
            .into_iter()
            .filter_map(|n| {
                let name = self.get(&format!("Filter.{n}.Name"))?.to_string();
                let values = self
                    .list(&format!("Filter.{n}.Value"))
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                Some((name, values))
            })
            .collect()
    }

    /// Every parameter but these, as one canonical string (client-token comparisons).
    pub fn canonical_without(&self, skip: &[&str]) -> String {
        let mut pairs: Vec<&(String, String)> = self
            .0
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .collect();
        pairs.sort();
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The service from `Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request`,
/// else guessed from the request's shape.
fn service_of(parts: &Parts) -> String {
    let from_scope = header(parts, "authorization").and_then(|auth| {
        let credential = auth.split("Credential=").nth(1)?;
        let scope = credential.split([',', ' ']).next()?;
        scope.split('/').nth(3).map(str::to_string)
    });
    if let Some(service) = from_scope {
        return service;
    }
    let path = parts.uri.path();
    if path.starts_with("/2015-03-31/") || path.starts_with("/2017-03-31/") {
        "lambda".into()
    } else if path.starts_with("/restapis") || path.starts_with("/account") {
        "apigateway".into()
    } else {
        "unknown".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = hyper::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    const EC2_AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x";

    #[test]
    fn ec2_query_call() {
        let p = parts(
            "POST",
            "/",
            &[
                ("authorization", EC2_AUTH),
                (
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                ),
            ],
        );
        let body = Bytes::from(
            "Action=DescribeInstances&Version=2016-11-15&InstanceId.2=i-b&InstanceId.1=i-a\
             &Filter.1.Name=instance-state-name&Filter.1.Value.1=running&Filter.1.Value.2=pending",
        );
        let call = Call::classify(&p, &body);
        assert_eq!(call.name(), "ec2:DescribeInstances");
        assert_eq!(call.protocol, Protocol::Ec2Query);
        assert_eq!(call.params.list("InstanceId"), ["i-a", "i-b"]);
        assert_eq!(
            call.params.filters(),
            [(
                "instance-state-name".to_string(),
                vec!["running".to_string(), "pending".to_string()]
            )]
        );
    }

    #[test]
    fn json_and_rest_calls() {
        let kms = parts(
            "POST",
            "/",
            &[
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=t/20261201/us-east-1/kms/aws4_request, S=x",
                ),
                ("x-amz-target", "TrentService.CreateKey"),
            ],
        );
        assert_eq!(
            Call::classify(&kms, &Bytes::from("{}")).name(),
            "kms:CreateKey"
        );
        let lambda = parts(
            "PUT",
            "/2015-03-31/functions/my-fn/configuration",
            &[(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=t/20261201/us-east-1/lambda/aws4_request, S=x",
            )],
        );
        let call = Call::classify(&lambda, &Bytes::new());
        assert_eq!(call.name(), "lambda:UpdateFunctionConfiguration");
        assert_eq!(call.path_after("functions"), Some("my-fn"));
        let deploy = parts(
            "POST",
            "/restapis/abc/deployments",
            &[(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=t/20261201/us-east-1/apigateway/aws4_request, S=x",
            )],
        );
        assert_eq!(
            Call::classify(&deploy, &Bytes::new()).name(),
            "apigateway:CreateDeployment"
        );
    }
}
