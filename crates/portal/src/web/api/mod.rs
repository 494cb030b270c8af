//! The JSON API under `/api/v1`, one file per resource.

pub mod audit;
pub mod auth;
pub mod mail;
pub mod parameters;
pub mod requests;
pub mod settings;
pub mod templates;
pub mod tenants;

use axum::Router;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(audit::router())
        .merge(auth::router())
        .merge(mail::router())
        .merge(parameters::router())
        .merge(requests::router())
        .merge(settings::router())
        .merge(templates::router())
        .merge(tenants::router())
}

/// An epoch-millisecond time as RFC 3339, as every API time is shown.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}
