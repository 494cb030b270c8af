//! The JSON API under `/api/v1`, one file per resource.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod events;
pub mod mail;
pub mod mfa;
pub mod onboarding;
pub mod packages;
pub mod parameters;
pub mod public;
pub mod requests;
pub mod settings;
pub mod stats;
pub mod templates;
pub mod tenants;
pub mod webhooks;

use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
        .merge(accounts::router())
        .merge(audit::router())
        .merge(auth::router())
        .merge(mail::router())
        .merge(mfa::router())
        .merge(onboarding::router())
        .merge(packages::router())
        .merge(parameters::router())
        .merge(public::router())
        .merge(requests::router())
        .merge(settings::router())
        .merge(stats::router())
        .merge(templates::router())
        .merge(tenants::router())
        .merge(webhooks::router())
}

/// An epoch-millisecond time as RFC 3339, as every API time is shown.
/// An action's optional JSON body: a blank one is `T::default()`; anything else must be JSON
/// of `T`, or it is a 400 that shows `example`.
pub fn optional_body<T: Default + serde::de::DeserializeOwned>(
    bytes: &[u8],
    example: &str,
) -> Result<T, crate::web::error::ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|_| {
        crate::web::error::ApiError::BadRequest(
            "unexpected_body",
            format!("The body must be JSON such as {example}."),
        )
    })
}

pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The checks every list's query string shares: the query could be read, its text values are
/// printable and short, and the page size (default 50) is 1 to 200.
pub fn list_query<Q>(
    query: Result<axum::extract::Query<Q>, axum::extract::rejection::QueryRejection>,
    texts: impl Fn(&Q) -> Vec<Option<&String>>,
    limit: impl Fn(&Q) -> Option<i64>,
) -> Result<(Q, i64), super::error::ApiError> {
    use super::error::ApiError;
    let axum::extract::Query(query) = query.map_err(|_| {
        ApiError::BadRequest(
            "bad_query",
            "The query string has a value of the wrong type.".into(),
        )
    })?;
    if texts(&query)
        .into_iter()
        .flatten()
        .any(|v| v.len() > 200 || v.chars().any(char::is_control))
    {
        return Err(ApiError::BadRequest(
            "bad_query",
            "Query values must be printable text of at most 200 characters.".into(),
        ));
    }
    let size = limit(&query).unwrap_or(50);
    if !(1..=200).contains(&size) {
        return Err(ApiError::BadRequest(
            "bad_query",
            "limit must be between 1 and 200.".into(),
        ));
    }
    Ok((query, size))
}
