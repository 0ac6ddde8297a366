//! The address of an HTTP method of an API resource, which methods and integrations share:
//! the id `<api>/<resource>/<METHOD>`, the inputs `rest_api_id`, `resource_id` and
//! `http_method`, and GetMethod (which carries the method's integration).

use aws_sdk_apigateway::operation::get_method::GetMethodOutput;

use super::calls::unless_missing;
use super::{id_outputs, split_method_id, Gateway};
use crate::model::Inputs;
use crate::provider::aws::required_str;
use crate::provider::{Created, ProviderError};

/// An HTTP method of a resource of a REST API.
#[derive(Debug, Clone, Copy)]
pub(super) struct MethodKey<'a> {
    pub api: &'a str,
    pub resource: &'a str,
    pub method: &'a str,
}

impl<'a> MethodKey<'a> {
    /// The method an id `<api>/<resource>/<METHOD>` names.
    pub fn of_id(id: &'a str) -> Result<Self, ProviderError> {
        let (api, resource, method) = split_method_id(id)?;
        Ok(MethodKey {
            api,
            resource,
            method,
        })
    }

    /// The method the inputs `rest_api_id`, `resource_id` and `http_method` name.
    pub fn of_inputs(inputs: &'a Inputs) -> Result<Self, ProviderError> {
        Ok(MethodKey {
            api: required_str(inputs, "rest_api_id")?,
            resource: required_str(inputs, "resource_id")?,
            method: required_str(inputs, "http_method")?,
        })
    }

    /// `<api>/<resource>/<METHOD>`.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.api, self.resource, self.method)
    }

    /// What a create (or finding what an interrupted create made) reports: the id, and
    /// outputs holding only it.
    pub fn created(&self) -> Created {
        let id = self.id();
        Created {
            outputs: id_outputs(&id),
            id,
        }
    }
}

impl Gateway {
    /// The method with its integration (GetMethod), or `None` when it (or its resource or
    /// API) is gone.
    pub(super) async fn method(
        &self,
        key: MethodKey<'_>,
    ) -> Result<Option<GetMethodOutput>, ProviderError> {
        let call = self
            .client()
            .get_method()
            .rest_api_id(key.api)
            .resource_id(key.resource)
            .http_method(key.method);
        unless_missing("GetMethod", call.send().await)
    }
}
