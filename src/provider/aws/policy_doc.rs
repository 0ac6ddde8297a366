//! IAM/KMS policy documents as the APIs return them: URL-decoding (IAM returns documents
//! percent-encoded) and semantic comparison, so that formatting, key order or
//! `"Action": "x"` versus `"Action": ["x"]` is not reported as drift.

use serde_json::Value as Json;

/// True when both texts are JSON documents that mean the same policy: equal after parsing,
/// with one-element arrays treated as their single element. Texts that are not JSON are
/// compared as plain strings.
pub fn policies_equal(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Json>(a),
        serde_json::from_str::<Json>(b),
    ) {
        (Ok(a), Ok(b)) => normalize(a) == normalize(b),
        _ => a == b,
    }
}

/// The live document in the form to report: `applied` when it means the same policy (so
/// refresh shows no drift), else the live text.
pub fn observed_policy(live: &str, applied: Option<&str>) -> String {
    match applied {
        Some(applied) if policies_equal(live, applied) => applied.to_string(),
        _ => live.to_string(),
    }
}

/// An IAM policy document as returned by GetRole / GetRolePolicy: percent-encoded (RFC
/// 3986). Documents that are already plain JSON (LocalStack returns some that way) are
/// returned unchanged.
pub fn decode_iam_document(raw: &str) -> String {
    if serde_json::from_str::<Json>(raw).is_ok() {
        return raw.to_string();
    }
    percent_decode(raw)
}

/// Decodes `%XX` escapes; `+` stands for a space as in `application/x-www-form-urlencoded`
/// (how IAM encodes documents). Invalid escapes are kept as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi * 16 + lo);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Replaces every one-element array by its element, at any depth.
fn normalize(value: Json) -> Json {
    match value {
        Json::Array(items) if items.len() == 1 => {
            normalize(items.into_iter().next().unwrap_or(Json::Null))
        }
        Json::Array(items) => Json::Array(items.into_iter().map(normalize).collect()),
        Json::Object(map) => {
            Json::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_and_single_element_arrays_are_not_differences() {
        let a = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#;
        let b = "{\n  \"Statement\": {\"Action\": [\"sts:AssumeRole\"], \"Effect\": \"Allow\"},\n  \"Version\": \"2012-10-17\"\n}";
        assert!(policies_equal(a, b));
        assert_eq!(observed_policy(b, Some(a)), a);
    }

    #[test]
    fn a_changed_action_is_a_difference() {
        let a = r#"{"Statement":[{"Action":"s3:GetObject"}]}"#;
        let b = r#"{"Statement":[{"Action":"s3:PutObject"}]}"#;
        assert!(!policies_equal(a, b));
        assert_eq!(observed_policy(b, Some(a)), b);
    }

    #[test]
    fn iam_documents_are_percent_decoded() {
        let raw = "%7B%22Version%22%3A%222012-10-17%22%2C%22Sid%22%3A%22a+b%22%7D";
        assert_eq!(
            decode_iam_document(raw),
            r#"{"Version":"2012-10-17","Sid":"a b"}"#
        );
        let plain = r#"{"Sid":"a+b"}"#;
        assert_eq!(decode_iam_document(plain), plain);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
