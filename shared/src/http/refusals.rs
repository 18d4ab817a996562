//! What one operation can refuse, said by the type its handler returns: a handler answers
//! `Result<T, Refused<R>>`, and `R`'s list of [`Refusal`]s is what the OpenAPI document shows
//! for that operation (each status once, with the `code`s it can carry on this operation).
//!
//! The list cannot be checked when compiling (an `ApiError` can hold any status). What the
//! handler returns is checked as it is answered: a refusal the list does not hold is logged as
//! an error, which `scripts/schemathesis` fails on. What the plumbing answers before the handler
//! runs (the groups below: a body or parameter that does not parse, a refused token) the list
//! must hold too; schemathesis fails on any status or `code` the document does not list.

use std::{
    collections::HashSet,
    marker::PhantomData,
    sync::{LazyLock, Mutex, PoisonError},
};

use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse,
    payload::{Json, Payload},
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
    types::Type,
};
use serde_json::{Value, json};

use crate::{ApiError, error::ErrorBody};

/// One answer other than success: its status, its `code`, and when it is given, as the
/// document says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub when: &'static str,
}

impl Refusal {
    pub const fn new(status: u16, code: &'static str, when: &'static str) -> Self {
        Self { status, code, when }
    }
}

/// The refusals of one operation, in groups (the common ones below, and the operation's own).
/// A code listed twice with a status is shown once, with both `when`s.
pub trait Refusals: Send + Sync + 'static {
    const LIST: &'static [&'static [Refusal]];
}

/// What poem-openapi answers for a body before the handler runs (`JsonBody` names the field at
/// fault), and the body limit (`MAX_BODY_BYTES`).
pub const JSON_BODY: &[Refusal] = &[
    Refusal::new(
        400,
        "invalid_request",
        "The body is malformed JSON, or a field is missing, unknown or of the wrong type; `field` names it.",
    ),
    Refusal::new(413, "payload_too_large", "The body is over 64 KiB (`MAX_BODY_BYTES`)."),
    Refusal::new(415, "invalid_request", "The body is not `application/json` (or has no `Content-Type`)."),
];

/// What `BearerAuth` answers before the handler runs (`ApiError::from_poem` for a missing
/// token, `From<TokenError>` for the others). A verifier that fetches its keys answers 503
/// `unavailable` when it cannot, which every route with a database lists anyway
/// ([`DEPENDENCIES`]); on auth-api the keys are at hand.
pub const BEARER: &[Refusal] = &[
    Refusal::new(401, "missing_token", "No `Authorization: Bearer` header."),
    Refusal::new(
        401,
        "invalid_token",
        "The access token is malformed, or not one this service accepts (unknown key, bad signature or claims).",
    ),
    Refusal::new(401, "token_expired", "The access token has expired; refresh it."),
];

/// A query parameter poem-openapi could not parse into its type (a required one missing, a
/// number that is not one); `field` names it.
pub const UNPARSED_PARAMETER: Refusal =
    Refusal::new(400, "invalid_request", "A parameter is missing or not of its type; `field` names it.");

/// A field or parameter the handler refused after parsing it (out of its bounds, not a cursor
/// this service issued).
pub const INVALID_FIELD: Refusal =
    Refusal::new(400, "invalid_field", "A field or parameter is out of its bounds; `field` names it.");

/// The database (or another dependency the operation needs) failed: retryable, or a fault of
/// ours.
pub const DEPENDENCIES: &[Refusal] = &[
    Refusal::new(503, "unavailable", "A dependency of this service is unreachable; retry later."),
    Refusal::new(500, "internal", "A fault of ours; the cause is in the log under the request id."),
];

/// An ApiError as answered by an operation that refuses `R`: see the module's doc.
pub struct Refused<R: Refusals> {
    error: ApiError,
    refusals: PhantomData<fn() -> R>,
}

impl<R: Refusals> Refused<R> {
    /// Whether `R` lists this status and code.
    fn lists(status: u16, code: &str) -> bool {
        R::LIST.iter().flat_map(|group| group.iter()).any(|r| r.status == status && r.code == code)
    }
}

impl<R: Refusals> std::fmt::Debug for Refused<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

// Every error that becomes an `ApiError` (`?` on a `DbErr`, a domain error, an `ApiError`)
// becomes a refusal too. Refused<R> is never an `ApiError`, so this does not overlap `From<T>
// for T`.
impl<R: Refusals, E: Into<ApiError>> From<E> for Refused<R> {
    fn from(err: E) -> Self {
        Self { error: err.into(), refusals: PhantomData }
    }
}

impl<R: Refusals> IntoResponse for Refused<R> {
    fn into_response(self) -> Response {
        let code = self.error.body().code.clone();
        let resp = self.error.into_response();
        if !Self::lists(resp.status().as_u16(), &code) {
            tracing::error!(
                status = resp.status().as_u16(),
                code,
                refusals = std::any::type_name::<R>(),
                "an answer the OpenAPI document does not list for this operation"
            );
        }
        resp
    }
}

impl<R: Refusals> From<Refused<R>> for poem::Error {
    fn from(refused: Refused<R>) -> Self {
        poem::Error::from_response(refused.into_response())
    }
}

impl<R: Refusals> ApiResponse for Refused<R> {
    fn meta() -> MetaResponses {
        let mut statuses: Vec<u16> = R::LIST.iter().flat_map(|group| group.iter()).map(|r| r.status).collect();
        statuses.sort_unstable();
        statuses.dedup();
        MetaResponses { responses: statuses.into_iter().map(|status| response(status, &codes::<R>(status))).collect() }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

/// The codes `R` lists with `status`, in their first order, each with every `when` given for
/// it (`invalid_token` is the bearer's and, on `/me`, a deleted account's).
fn codes<R: Refusals>(status: u16) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut codes: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for refusal in R::LIST.iter().flat_map(|group| group.iter()).filter(|r| r.status == status) {
        match codes.iter_mut().find(|(code, _)| *code == refusal.code) {
            Some((_, whens)) if !whens.contains(&refusal.when) => whens.push(refusal.when),
            Some(_) => {}
            None => codes.push((refusal.code, vec![refusal.when])),
        }
    }
    codes
}

/// The response of one status: the codes this operation can give with it and when, the
/// contract's body with `code` one of them, and `ApiError`'s headers of the status
/// (`Retry-After`). `ApiError`'s own description of the status is left out: it tells of codes
/// other operations give.
fn response(status: u16, codes: &[(&'static str, Vec<&'static str>)]) -> MetaResponse {
    let headers = <ApiError as ApiResponse>::meta()
        .responses
        .into_iter()
        .find(|r| r.status == Some(status))
        .map(|r| r.headers)
        .unwrap_or_default();
    let lines: Vec<String> = codes.iter().map(|(code, whens)| format!("- `{code}`: {}", whens.join(" "))).collect();
    let code = MetaSchema {
        enum_items: codes.iter().map(|(code, _)| Value::from(*code)).collect(),
        ..MetaSchema::new("string")
    };
    let schema = MetaSchema {
        all_of: vec![
            ErrorBody::schema_ref(),
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                properties: vec![("code", MetaSchemaRef::Inline(Box::new(code)))],
                ..MetaSchema::new("object")
            })),
        ],
        example: codes.first().map(|(code, whens)| json!({"error": whens[0], "code": code})),
        ..MetaSchema::ANY
    };
    MetaResponse {
        description: interned(lines.join("\n")),
        status: Some(status),
        status_range: None,
        content: vec![MetaMediaType {
            content_type: Json::<ErrorBody>::CONTENT_TYPE,
            schema: MetaSchemaRef::Inline(Box::new(schema)),
        }],
        headers,
    }
}

/// poem-openapi takes a response's description as `&'static str`. Ours are made from the
/// static lists, so each distinct text is leaked once and reused: the memory is bounded by the
/// lists, however often the document is generated.
fn interned(text: String) -> &'static str {
    static TEXTS: LazyLock<Mutex<HashSet<&'static str>>> = LazyLock::new(Mutex::default);
    let mut texts = TEXTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = texts.get(text.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(text.into_boxed_str());
    texts.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Lookup {}

    impl Refusals for Lookup {
        const LIST: &'static [&'static [Refusal]] = &[
            &[Refusal::new(404, "not_found", "No such user."), INVALID_FIELD],
            DEPENDENCIES,
            &[INVALID_FIELD],
            BEARER,
            &[Refusal::new(401, "invalid_token", "The account is gone.")],
        ];
    }

    #[test]
    fn the_document_lists_each_status_once_with_its_codes() {
        let meta = <Refused<Lookup> as ApiResponse>::meta();
        let listed: Vec<(Option<u16>, Vec<Value>)> = meta
            .responses
            .iter()
            .map(|r| {
                let MetaSchemaRef::Inline(schema) = &r.content[0].schema else { panic!("not inline") };
                let MetaSchemaRef::Inline(extra) = &schema.all_of[1] else { panic!("not inline") };
                let MetaSchemaRef::Inline(code) = &extra.properties[0].1 else { panic!("not inline") };
                (r.status, code.enum_items.clone())
            })
            .collect();
        assert_eq!(
            listed,
            vec![
                (Some(400), vec![json!("invalid_field")]),
                (Some(401), vec![json!("missing_token"), json!("invalid_token"), json!("token_expired")]),
                (Some(404), vec![json!("not_found")]),
                (Some(500), vec![json!("internal")]),
                (Some(503), vec![json!("unavailable")]),
            ]
        );
        assert_eq!(meta.responses[2].description, "- `not_found`: No such user.", "each code and when");
        assert!(
            meta.responses[1]
                .description
                .contains(&format!("- `invalid_token`: {} The account is gone.", BEARER[1].when)),
            "{}",
            meta.responses[1].description
        );
    }

    #[test]
    fn an_answer_is_listed_by_its_status_and_code_together() {
        assert!(Refused::<Lookup>::lists(404, "not_found"));
        assert!(Refused::<Lookup>::lists(503, "unavailable"));
        assert!(!Refused::<Lookup>::lists(404, "invalid_field"));
        assert!(!Refused::<Lookup>::lists(409, "conflict"));
    }

    #[test]
    fn the_body_limit_is_the_one_the_document_states() {
        assert_eq!(crate::http::MAX_BODY_BYTES, 64 * 1024);
        assert!(JSON_BODY[1].when.contains("64 KiB"));
    }

    #[test]
    fn descriptions_are_leaked_once() {
        let first = interned("a text".to_owned());
        assert!(std::ptr::eq(first, interned("a text".to_owned())));
    }
}
