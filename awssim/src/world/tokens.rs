//! EC2 client tokens (`ClientToken` on RunInstances, CreateNatGateway, CreateRouteTable,
//! ...): a repeated call with the same token is answered as the first one was, and with
//! other parameters it is `IdempotentParameterMismatch`, as on AWS. LocalStack ignores them.

use super::{Records, Token, Verdict};
use crate::answer::{Answer, AwsError};
use crate::call::Call;

fn key(call: &Call) -> Option<(String, String)> {
    let token = call.params.get("ClientToken")?;
    (!token.is_empty()).then(|| (call.action.clone(), token.to_string()))
}

fn canonical(call: &Call) -> String {
    call.params.canonical_without(&["ClientToken", "Version"])
}

pub(super) fn before(records: &mut Records, call: &Call) -> Option<Verdict> {
    let key = key(call)?;
    let params = canonical(call);
    match records.tokens.get(&key) {
        Some(token) if token.params != params => Some(Verdict::Refuse {
            rule: "client-token-mismatch",
            error: AwsError::new(
                400,
                "IdempotentParameterMismatch",
                format!(
                    "The client token '{}' was already used with other parameters.",
                    key.1
                ),
            ),
        }),
        Some(Token {
            answer: Some(answer),
            ..
        }) => Some(Verdict::Replay(answer.clone())),
        Some(_) => None,
        None => {
            records.tokens.insert(
                key,
                Token {
                    params,
                    answer: None,
                },
            );
            None
        }
    }
}

pub(super) fn after(records: &mut Records, call: &Call, answer: &Answer) {
    if let Some(key) = key(call) {
        if let Some(token) = records.tokens.get_mut(&key) {
            token.answer.get_or_insert_with(|| answer.clone());
        }
    }
}
