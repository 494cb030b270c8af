//! `GET /api/v1/mail` and `GET /api/v1/mail/{id}`: the outbox, for landlord administrators;
//! with no SMTP server configured this is where the default install shows its mail.

use crate::web::Routes;
use axum::Json;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::service::mail;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{Auth, IdPath};

pub fn router() -> Routes {
    Routes::new()
        .route("/api/v1/mail", get(list_mail))
        .route("/api/v1/mail/{id}", get(get_mail))
}

#[derive(Serialize, ToSchema)]
pub struct MailView {
    pub id: String,
    pub request_id: Option<String>,
    /// `provisioning_completed`, `provisioning_failed`, …
    pub kind: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MailList {
    pub items: Vec<MailView>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MailQuery {
    /// How many, newest first (1–500, default 100).
    pub limit: Option<i64>,
}

fn view(row: portal_store::mail::MailRow, bodies: bool) -> MailView {
    MailView {
        created_at: super::rfc3339(row.created_at),
        sent_at: row.sent_at.map(super::rfc3339),
        text: bodies.then(|| row.body_text.clone()),
        html: bodies.then(|| row.body_html.clone()),
        id: row.id,
        request_id: row.request_id,
        kind: row.kind,
        from: row.sender,
        to: row.recipient,
        subject: row.subject,
        status: row.status.to_string(),
        attempts: row.attempts,
        last_error: row.last_error,
    }
}

/// The outbox, newest first.
#[utoipa::path(
    get, path = "/api/v1/mail", tag = "mail",
    security(("bearer" = [])),
    params(MailQuery),
    responses((status = 200, body = MailList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn list_mail(
    State(state): State<AppState>,
    Auth(actor): Auth,
    query: Result<Query<MailQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MailList>, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::BadRequest("bad_query", "limit must be a number.".into()))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            "bad_query",
            "limit must be between 1 and 500.".into(),
        ));
    }
    let items = mail::list(&state.services, &actor, limit)
        .await?
        .into_iter()
        .map(|r| view(r, false))
        .collect();
    Ok(Json(MailList { items }))
}

/// One message with its text and HTML bodies.
#[utoipa::path(
    get, path = "/api/v1/mail/{id}", tag = "mail",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Message id")),
    responses((status = 200, body = MailView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_mail(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<MailView>, ApiError> {
    Ok(Json(view(
        mail::get(&state.services, &actor, &id).await?,
        true,
    )))
}
