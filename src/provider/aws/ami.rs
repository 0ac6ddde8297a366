//! Plan-time AMI lookup: the newest Amazon Linux 2023 x86_64 image published by Amazon.

use aws_sdk_ec2::types::{Filter, Image};

use super::{aws_error, AwsClients};
use crate::provider::ProviderError;

/// The name pattern of Amazon's AL2023 x86_64 images (both kernel flavours).
const AL2023_NAME: &str = "al2023-ami-2023.*-x86_64";

/// The id of the newest available Amazon Linux 2023 x86_64 AMI owned by `amazon` (by
/// creation date, ties broken by name so the answer is deterministic). An error that says
/// to set `ami` explicitly when the region (or emulator) has none.
pub async fn latest_amazon_linux_2023(clients: &AwsClients) -> Result<String, ProviderError> {
    let images = clients
        .ec2
        .describe_images()
        .owners("amazon")
        .filters(filter("name", AL2023_NAME))
        .filters(filter("architecture", "x86_64"))
        .filters(filter("state", "available"))
        .send()
        .await
        .map_err(|e| aws_error("DescribeImages", e))?
        .images
        .unwrap_or_default();
    newest(&images).ok_or_else(|| {
        ProviderError::Other(format!(
            "no Amazon Linux 2023 x86_64 AMI (owner amazon, name {AL2023_NAME}, state \
             available) found in this region: set `ami` in the configuration explicitly"
        ))
    })
}

/// The id of the image with the greatest (creation date, name). Creation dates are
/// ISO-8601 UTC strings, which sort chronologically.
fn newest(images: &[Image]) -> Option<String> {
    images
        .iter()
        .filter(|i| i.image_id().is_some())
        .max_by_key(|i| {
            (
                i.creation_date().unwrap_or_default(),
                i.name().unwrap_or_default(),
            )
        })
        .and_then(|i| i.image_id().map(str::to_string))
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, name: &str, created: &str) -> Image {
        Image::builder()
            .image_id(id)
            .name(name)
            .creation_date(created)
            .build()
    }

    #[test]
    fn newest_by_date_then_name() {
        let images = [
            image(
                "ami-old",
                "al2023-ami-2023.1-x86_64",
                "2024-01-01T00:00:00.000Z",
            ),
            image(
                "ami-61",
                "al2023-ami-2023.8-kernel-6.1-x86_64",
                "2025-07-21T00:00:00.000Z",
            ),
            image(
                "ami-612",
                "al2023-ami-2023.8-kernel-6.12-x86_64",
                "2025-07-21T00:00:00.000Z",
            ),
        ];
        assert_eq!(newest(&images).as_deref(), Some("ami-612"));
        assert_eq!(newest(&images[..1]).as_deref(), Some("ami-old"));
        assert_eq!(newest(&[]), None);
    }
}
