//! `GET`/`PUT /api/v1/settings/provisioning` (when accepted requests are provisioned) and
//! `/api/v1/settings/self-service` (how prospects' requests are let in) and
//! `/api/v1/settings/security` (second factors and session lifetimes) and
//! `/api/v1/settings/retention` (how long a closed tenant's data is kept).

use crate::web::Routes;
use axum::Json;
use axum::extract::State;
use axum::routing::get;
use portal_domain::submission::FieldProblem;
use portal_domain::{FieldError, FieldErrorCode};

use crate::service::policy::{self, PolicyDoc};
use crate::service::registration::{self, SelfServiceDoc};
use crate::service::retention::{self, RetentionDoc};
use crate::service::security::{self, SecurityDoc};
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{ApiJson, Auth};

pub fn router() -> Routes {
    Routes::new()
        .route(
            "/api/v1/settings/provisioning",
            get(get_provisioning_policy).put(put_provisioning_policy),
        )
        .route(
            "/api/v1/settings/self-service",
            get(get_self_service_policy).put(put_self_service_policy),
        )
        .route(
            "/api/v1/settings/security",
            get(get_security_policy).put(put_security_policy),
        )
        .route(
            "/api/v1/settings/retention",
            get(get_retention_policy).put(put_retention_policy),
        )
}

/// The retention policy (landlord administrators).
#[utoipa::path(
    get, path = "/api/v1/settings/retention", tag = "settings",
    security(("bearer" = [])),
    responses((status = 200, body = RetentionDoc), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn get_retention_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<RetentionDoc>, ApiError> {
    Ok(Json(retention::read(&state.services, &actor).await?))
}

/// Set the retention policy: how many days a closed tenant's data is kept before it is
/// purged. Tenants closed already keep the date they were given.
#[utoipa::path(
    put, path = "/api/v1/settings/retention", tag = "settings",
    security(("bearer" = [])),
    request_body = RetentionDoc,
    responses(
        (status = 200, body = RetentionDoc),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "A field breaks its rule", body = ErrorBody),
    )
)]
pub async fn put_retention_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiJson(doc): ApiJson<RetentionDoc>,
) -> Result<Json<RetentionDoc>, ApiError> {
    retention::put(&state.services, &actor, doc)
        .await?
        .map(Json)
        .map_err(|(field, message)| {
            ApiError::Invalid(vec![FieldProblem {
                field,
                error: FieldError::new(FieldErrorCode::Invalid, message),
            }])
        })
}

fn invalid(problems: Vec<portal_domain::schedule::PolicyProblem>) -> ApiError {
    ApiError::Invalid(
        problems
            .into_iter()
            .map(|p| FieldProblem {
                field: p.field,
                error: FieldError::new(FieldErrorCode::Invalid, p.message),
            })
            .collect(),
    )
}

/// The self-service policy (landlord administrators).
#[utoipa::path(
    get, path = "/api/v1/settings/self-service", tag = "settings",
    security(("bearer" = [])),
    responses((status = 200, body = SelfServiceDoc), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn get_self_service_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<SelfServiceDoc>, ApiError> {
    actor.require(portal_domain::Permission::ChangeSettings)?;
    Ok(Json(registration::get_policy(&state.services).await?))
}

/// Set the self-service policy: whether confirmed requests wait for approval, how long a
/// confirmation link works, and the refused email domains.
#[utoipa::path(
    put, path = "/api/v1/settings/self-service", tag = "settings",
    security(("bearer" = [])),
    request_body = SelfServiceDoc,
    responses(
        (status = 200, body = SelfServiceDoc),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "A field breaks its rule", body = ErrorBody),
    )
)]
pub async fn put_self_service_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiJson(doc): ApiJson<SelfServiceDoc>,
) -> Result<Json<SelfServiceDoc>, ApiError> {
    registration::put_policy(&state.services, &actor, doc)
        .await?
        .map(Json)
        .map_err(invalid)
}

/// The provisioning policy (landlord administrators).
#[utoipa::path(
    get, path = "/api/v1/settings/provisioning", tag = "settings",
    security(("bearer" = [])),
    responses((status = 200, body = PolicyDoc), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn get_provisioning_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<PolicyDoc>, ApiError> {
    Ok(Json(policy::get_policy(&state.services, &actor).await?))
}

/// Set the provisioning policy: `immediate`, or `off_peak` with a window and an optional cap.
#[utoipa::path(
    put, path = "/api/v1/settings/provisioning", tag = "settings",
    security(("bearer" = [])),
    request_body = PolicyDoc,
    responses(
        (status = 200, body = PolicyDoc),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "A field breaks its rule; all are listed", body = ErrorBody),
    )
)]
pub async fn put_provisioning_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiJson(doc): ApiJson<PolicyDoc>,
) -> Result<Json<PolicyDoc>, ApiError> {
    policy::put_policy(&state.services, &actor, doc)
        .await?
        .map(Json)
        .map_err(invalid)
}

/// The security policy (landlord administrators).
#[utoipa::path(
    get, path = "/api/v1/settings/security", tag = "settings",
    security(("bearer" = [])),
    responses((status = 200, body = SecurityDoc), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn get_security_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<SecurityDoc>, ApiError> {
    Ok(Json(security::get_policy(&state.services, &actor).await?))
}

/// Set the security policy: the roles that must have a second factor, and how long a browser
/// session lasts idle (sessions already open too) and at most (sessions opened from now on).
#[utoipa::path(
    put, path = "/api/v1/settings/security", tag = "settings",
    security(("bearer" = [])),
    request_body = SecurityDoc,
    responses(
        (status = 200, body = SecurityDoc),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "A field breaks its rule; all are listed", body = ErrorBody),
    )
)]
pub async fn put_security_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiJson(doc): ApiJson<SecurityDoc>,
) -> Result<Json<SecurityDoc>, ApiError> {
    security::put_policy(&state.services, &actor, doc)
        .await?
        .map(Json)
        .map_err(invalid)
}
