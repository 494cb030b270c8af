//! `GET`/`PUT /api/v1/settings/provisioning`: when accepted requests are provisioned.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use portal_domain::submission::FieldProblem;
use portal_domain::{FieldError, FieldErrorCode};

use crate::service::policy::{self, PolicyDoc};
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{ApiJson, Auth};

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/settings/provisioning",
        get(get_provisioning_policy).put(put_provisioning_policy),
    )
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
    if !actor.is_landlord() {
        return Err(ApiError::Forbidden);
    }
    Ok(Json(policy::get_policy(&state.services).await?))
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
    match policy::put_policy(&state.services, &actor, doc).await? {
        Ok(doc) => Ok(Json(doc)),
        Err(problems) => Err(ApiError::Invalid(
            problems
                .into_iter()
                .map(|p| FieldProblem {
                    field: p.field,
                    error: FieldError::new(FieldErrorCode::Invalid, p.message),
                })
                .collect(),
        )),
    }
}
