//! The REST services' routes (Lambda, API Gateway, S3) mapped to their action names, so
//! throttling buckets, rules and stats can name REST calls like query and JSON ones.

use hyper::Method;

/// `(method, path pattern, action)`; `{}` matches any one segment.
type Route = (&'static str, &'static str, &'static str);

const LAMBDA: &[Route] = &[
    ("POST", "2015-03-31/functions", "CreateFunction"),
    ("GET", "2015-03-31/functions", "ListFunctions"),
    ("GET", "2015-03-31/functions/{}", "GetFunction"),
    ("DELETE", "2015-03-31/functions/{}", "DeleteFunction"),
    (
        "GET",
        "2015-03-31/functions/{}/configuration",
        "GetFunctionConfiguration",
    ),
    (
        "PUT",
        "2015-03-31/functions/{}/configuration",
        "UpdateFunctionConfiguration",
    ),
    ("PUT", "2015-03-31/functions/{}/code", "UpdateFunctionCode"),
    ("GET", "2015-03-31/functions/{}/policy", "GetPolicy"),
    ("POST", "2015-03-31/functions/{}/policy", "AddPermission"),
    (
        "DELETE",
        "2015-03-31/functions/{}/policy/{}",
        "RemovePermission",
    ),
    ("POST", "2015-03-31/functions/{}/invocations", "Invoke"),
    ("GET", "2017-03-31/tags/{}", "ListTags"),
    ("POST", "2017-03-31/tags/{}", "TagResource"),
    ("DELETE", "2017-03-31/tags/{}", "UntagResource"),
];

const APIGATEWAY: &[Route] = &[
    ("POST", "restapis", "CreateRestApi"),
    ("GET", "restapis", "GetRestApis"),
    ("GET", "restapis/{}", "GetRestApi"),
    ("PATCH", "restapis/{}", "UpdateRestApi"),
    ("DELETE", "restapis/{}", "DeleteRestApi"),
    ("GET", "restapis/{}/resources", "GetResources"),
    ("POST", "restapis/{}/resources/{}", "CreateResource"),
    ("GET", "restapis/{}/resources/{}", "GetResource"),
    ("PATCH", "restapis/{}/resources/{}", "UpdateResource"),
    ("DELETE", "restapis/{}/resources/{}", "DeleteResource"),
    ("PUT", "restapis/{}/resources/{}/methods/{}", "PutMethod"),
    ("GET", "restapis/{}/resources/{}/methods/{}", "GetMethod"),
    (
        "PATCH",
        "restapis/{}/resources/{}/methods/{}",
        "UpdateMethod",
    ),
    (
        "DELETE",
        "restapis/{}/resources/{}/methods/{}",
        "DeleteMethod",
    ),
    (
        "PUT",
        "restapis/{}/resources/{}/methods/{}/integration",
        "PutIntegration",
    ),
    (
        "GET",
        "restapis/{}/resources/{}/methods/{}/integration",
        "GetIntegration",
    ),
    (
        "PATCH",
        "restapis/{}/resources/{}/methods/{}/integration",
        "UpdateIntegration",
    ),
    (
        "DELETE",
        "restapis/{}/resources/{}/methods/{}/integration",
        "DeleteIntegration",
    ),
    ("POST", "restapis/{}/deployments", "CreateDeployment"),
    ("GET", "restapis/{}/deployments", "GetDeployments"),
    ("GET", "restapis/{}/deployments/{}", "GetDeployment"),
    ("PATCH", "restapis/{}/deployments/{}", "UpdateDeployment"),
    ("DELETE", "restapis/{}/deployments/{}", "DeleteDeployment"),
    ("POST", "restapis/{}/stages", "CreateStage"),
    ("GET", "restapis/{}/stages", "GetStages"),
    ("GET", "restapis/{}/stages/{}", "GetStage"),
    ("PATCH", "restapis/{}/stages/{}", "UpdateStage"),
    ("DELETE", "restapis/{}/stages/{}", "DeleteStage"),
    ("GET", "account", "GetAccount"),
    ("PATCH", "account", "UpdateAccount"),
    ("GET", "tags/{}", "GetTags"),
    ("PUT", "tags/{}", "TagResource"),
    ("DELETE", "tags/{}", "UntagResource"),
];

/// The action of a REST call to `service`, or `Other` when no route matches.
pub fn action(service: &str, method: &Method, path: &[String]) -> String {
    let routes = match service {
        "lambda" => LAMBDA,
        "apigateway" => APIGATEWAY,
        _ => &[],
    };
    routes
        .iter()
        .find(|(m, pattern, _)| *m == method.as_str() && matches(pattern, path))
        .map_or("Other", |(_, _, action)| action)
        .to_string()
}

/// S3's action from the method and whether the path names an object or a bucket.
pub fn s3_action(method: &Method, path: &[String]) -> String {
    let object = path.len() > 1;
    let action = match (method.as_str(), object) {
        ("GET", true) => "GetObject",
        ("PUT", true) => "PutObject",
        ("DELETE", true) => "DeleteObject",
        ("HEAD", true) => "HeadObject",
        ("GET", false) => "ListObjects",
        ("PUT", false) => "CreateBucket",
        ("DELETE", false) => "DeleteBucket",
        ("HEAD", false) => "HeadBucket",
        _ => "Other",
    };
    action.to_string()
}

fn matches(pattern: &str, path: &[String]) -> bool {
    let parts: Vec<&str> = pattern.split('/').collect();
    parts.len() == path.len()
        && parts
            .iter()
            .zip(path)
            .all(|(p, s)| *p == "{}" || *p == s.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('/').map(str::to_string).collect()
    }

    #[test]
    fn api_gateway_routes() {
        assert_eq!(
            action("apigateway", &Method::PATCH, &path("account")),
            "UpdateAccount"
        );
        assert_eq!(
            action("apigateway", &Method::DELETE, &path("restapis/x")),
            "DeleteRestApi"
        );
        assert_eq!(
            action(
                "apigateway",
                &Method::PUT,
                &path("restapis/x/resources/r/methods/GET")
            ),
            "PutMethod"
        );
        assert_eq!(action("apigateway", &Method::POST, &path("nope")), "Other");
    }

    #[test]
    fn lambda_and_s3_routes() {
        assert_eq!(
            action("lambda", &Method::POST, &path("2015-03-31/functions")),
            "CreateFunction"
        );
        assert_eq!(
            action("lambda", &Method::DELETE, &path("2015-03-31/functions/f")),
            "DeleteFunction"
        );
        assert_eq!(s3_action(&Method::PUT, &path("bucket/key")), "PutObject");
        assert_eq!(s3_action(&Method::GET, &path("bucket")), "ListObjects");
    }
}
