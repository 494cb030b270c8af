//! `/api/v1/webhooks`: the endpoints that receive the portal's events (landlord
//! administrators), their secrets, and their deliveries.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use portal_domain::EndpointStatus;
use portal_store::webhook::EndpointRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::service::webhook::{self, EndpointInput, WebhookError};
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{ApiJson, Auth, IdPath};
use crate::web::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route("/api/v1/webhooks", get(list_webhooks).post(create_webhook))
        .route(
            "/api/v1/webhooks/{id}",
            get(get_webhook)
                .patch(update_webhook)
                .delete(delete_webhook),
        )
        .route("/api/v1/webhooks/{id}/rotate-secret", post(rotate_secret))
        .route("/api/v1/webhooks/{id}/deliveries", get(list_deliveries))
        .route(
            "/api/v1/webhooks/{id}/deliveries/replay",
            post(replay_deliveries),
        )
        .route(
            "/api/v1/webhooks/{id}/deliveries/{delivery_id}",
            get(get_delivery),
        )
        .route(
            "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(retry_delivery),
        )
}

/// An endpoint as given: every field on creation; on a change, those to change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// `https://…` (or `http://…`); never a loopback, private or link-local address.
    pub url: Option<String>,
    /// Event types (`request.completed`, …), or `["*"]` for all.
    pub events: Option<Vec<String>>,
    /// What it is for (at most 500 characters).
    pub description: Option<String>,
    /// `enabled` or `disabled` (on a change).
    pub status: Option<String>,
}

/// An endpoint. `secret` only in the answers that make one (creation, rotation).
#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: String,
    /// `enabled` or `disabled`.
    pub status: String,
    /// Why the portal disabled it, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// `whsec_…`: shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// RFC 3339: until when the secret before the last rotation signs too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_valid_until: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookView>,
}

fn view(row: EndpointRow, with_secret: bool) -> WebhookView {
    let now = portal_store::now_ms();
    WebhookView {
        events: serde_json::from_str(&row.events).unwrap_or_default(),
        status: row.status.to_string(),
        disabled_reason: row.disabled_reason,
        secret: with_secret.then_some(row.secret),
        previous_secret_valid_until: row
            .previous_until
            .filter(|until| *until > now)
            .map(super::rfc3339),
        created_at: super::rfc3339(row.created_at),
        id: row.id,
        url: row.url,
        description: row.description,
    }
}

fn input(body: WebhookBody) -> Result<EndpointInput, ApiError> {
    let status = match body.status.as_deref() {
        None => None,
        Some(text) => Some(text.parse::<EndpointStatus>().map_err(|_| {
            webhook_error(WebhookError::Invalid(webhook::EndpointProblem {
                field: "status",
                message: "must be enabled or disabled".into(),
            }))
        })?),
    };
    Ok(EndpointInput {
        url: body.url,
        events: body.events,
        description: body.description,
        status,
    })
}

fn webhook_error(e: WebhookError) -> ApiError {
    match e {
        WebhookError::Invalid(p) => {
            ApiError::Invalid(vec![portal_domain::submission::FieldProblem {
                field: p.field,
                error: portal_domain::FieldError::new(
                    portal_domain::FieldErrorCode::Invalid,
                    p.message,
                ),
            }])
        }
        WebhookError::Refused(code, message) => ApiError::Conflict {
            field: None,
            code,
            message,
        },
        WebhookError::Service(e) => e.into(),
    }
}

/// Add an endpoint (landlord administrators). Its secret is in this answer only.
#[utoipa::path(
    post, path = "/api/v1/webhooks", tag = "webhooks",
    security(("bearer" = [])),
    request_body = WebhookBody,
    responses(
        (status = 201, body = WebhookView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "A field breaks its rule (a private address, an unknown event)", body = ErrorBody),
    )
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<WebhookBody>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    let input = input(body)?;
    let row = webhook::create(&state.services, &actor, &input)
        .await
        .map_err(webhook_error)?;
    Ok((StatusCode::CREATED, Json(view(row, true))))
}

/// Every endpoint, oldest first.
#[utoipa::path(
    get, path = "/api/v1/webhooks", tag = "webhooks",
    security(("bearer" = [])),
    responses((status = 200, body = WebhookList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn list_webhooks(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<WebhookList>, ApiError> {
    let items = webhook::list(&state.services, &actor)
        .await?
        .into_iter()
        .map(|row| view(row, false))
        .collect();
    Ok(Json(WebhookList { items }))
}

/// One endpoint.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    responses((status = 200, body = WebhookView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_webhook(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<WebhookView>, ApiError> {
    Ok(Json(view(
        webhook::get(&state.services, &actor, &id).await?,
        false,
    )))
}

/// Change an endpoint: its URL, events, description, or `status` (`enabled`, `disabled`).
#[utoipa::path(
    patch, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = WebhookBody,
    responses(
        (status = 200, body = WebhookView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn update_webhook(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<WebhookBody>,
) -> Result<Json<WebhookView>, ApiError> {
    let input = input(body)?;
    let row = webhook::update(&state.services, &actor, &id, &input)
        .await
        .map_err(webhook_error)?;
    Ok(Json(view(row, false)))
}

/// Remove an endpoint: it receives nothing more.
#[utoipa::path(
    delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn delete_webhook(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    webhook::delete(&state.services, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret for the endpoint, in this answer only; the previous one signs too for 24 hours
/// (the signature header then carries both).
#[utoipa::path(
    post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    responses((status = 200, body = WebhookView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Rotated less than 24 hours ago", body = ErrorBody))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<WebhookView>, ApiError> {
    let row = webhook::rotate_secret(&state.services, &actor, &id)
        .await
        .map_err(webhook_error)?;
    Ok(Json(view(row, true)))
}

/// One delivery of an event to the endpoint.
#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    /// The event's type (`request.completed`, …).
    pub event: String,
    /// The event's id, sent as `webhook-id` on every attempt.
    pub event_id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    /// RFC 3339.
    pub next_attempt_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    /// Each attempt, oldest first (on a single delivery only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<AttemptView>>,
}

/// One attempt: the answer's status (none when there was no answer), what went wrong, and
/// the start of the answer's body.
#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    /// RFC 3339.
    pub at: String,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub excerpt: Option<String>,
    pub duration_ms: i64,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryView>,
}

fn delivery_view(d: portal_store::webhook::DeliveryRow) -> DeliveryView {
    DeliveryView {
        id: d.id,
        event: d.event_type,
        event_id: d.event_id,
        status: d.status.to_string(),
        attempts: d.attempts,
        last_status_code: d.last_status_code,
        next_attempt_at: d.next_attempt_at.map(super::rfc3339),
        created_at: super::rfc3339(d.created_at),
        delivered_at: d.delivered_at.map(super::rfc3339),
        attempt_log: None,
    }
}

/// The endpoint's latest deliveries (at most 100), newest first.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    responses((status = 200, body = DeliveryList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<DeliveryList>, ApiError> {
    let items = webhook::deliveries(&state.services, &actor, &id)
        .await?
        .into_iter()
        .map(delivery_view)
        .collect();
    Ok(Json(DeliveryList { items }))
}

/// A path id the portal could have made.
fn plausible(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// One delivery, with each of its attempts.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}", tag = "webhooks",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Endpoint id"),
        ("delivery_id" = String, Path, description = "Delivery id"),
    ),
    responses((status = 200, body = DeliveryView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_delivery(
    State(state): State<AppState>,
    Auth(actor): Auth,
    axum::extract::Path((id, delivery_id)): axum::extract::Path<(String, String)>,
) -> Result<Json<DeliveryView>, ApiError> {
    plausible(&id)?;
    plausible(&delivery_id)?;
    let (delivery, attempts) =
        webhook::delivery(&state.services, &actor, &id, &delivery_id).await?;
    let mut view = delivery_view(delivery);
    view.attempt_log = Some(
        attempts
            .into_iter()
            .map(|a| AttemptView {
                at: super::rfc3339(a.at),
                status_code: a.status_code,
                error: a.error,
                excerpt: a.excerpt,
                duration_ms: a.duration_ms,
            })
            .collect(),
    );
    Ok(Json(view))
}

/// Send one delivery again, now, with a fresh series of attempts (the same `webhook-id`).
#[utoipa::path(
    post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Endpoint id"),
        ("delivery_id" = String, Path, description = "Delivery id"),
    ),
    responses((status = 202, body = DeliveryView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "The endpoint is disabled", body = ErrorBody))
)]
pub async fn retry_delivery(
    State(state): State<AppState>,
    Auth(actor): Auth,
    axum::extract::Path((id, delivery_id)): axum::extract::Path<(String, String)>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    plausible(&id)?;
    plausible(&delivery_id)?;
    webhook::retry(&state.services, &actor, &id, &delivery_id)
        .await
        .map_err(webhook_error)?;
    let (delivery, _) = webhook::delivery(&state.services, &actor, &id, &delivery_id).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery_view(delivery))))
}

/// Which failed deliveries to send again.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// RFC 3339: every failed delivery made since then.
    pub since: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReplayAnswer {
    /// How many deliveries are sent again.
    pub replayed: u64,
}

/// Send again every failed delivery of the endpoint made since a time.
#[utoipa::path(
    post, path = "/api/v1/webhooks/{id}/deliveries/replay", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = ReplayBody,
    responses(
        (status = 202, body = ReplayAnswer),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The endpoint is disabled", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn replay_deliveries(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<ReplayBody>,
) -> Result<(StatusCode, Json<ReplayAnswer>), ApiError> {
    if !actor.may(portal_domain::Permission::ManageWebhooks) {
        return Err(ApiError::Forbidden);
    }
    let since = body
        .since
        .trim()
        .parse::<jiff::Timestamp>()
        .map_err(|_| {
            webhook_error(WebhookError::Invalid(webhook::EndpointProblem {
                field: "since",
                message: "must be an RFC 3339 time, like 2026-11-29T08:00:00Z".into(),
            }))
        })?
        .as_millisecond();
    let replayed = webhook::replay_failed_since(&state.services, &actor, &id, since)
        .await
        .map_err(webhook_error)?;
    Ok((StatusCode::ACCEPTED, Json(ReplayAnswer { replayed })))
}
