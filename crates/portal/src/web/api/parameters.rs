//! Smart Queues general parameters of a tenant: read, save a draft, discard it, publish it,
//! the history, and an old version copied into a draft.

use crate::web::Routes;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use portal_domain::smart_queue::ParameterProblem;
use portal_store::parameters::{DraftRow, VersionRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rfc3339;
use crate::service::parameters::{self, ParametersError};
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody, FieldErrorBody};
use crate::web::extract::{ApiJson, Auth, IdPath};

const BASE: &str = "/api/v1/tenants/{id}/smart-queues/general-parameters";

pub fn router() -> Routes {
    Routes::new()
        .route(BASE, get(get_parameters))
        .route(
            &format!("{BASE}/draft"),
            put(save_draft).delete(discard_draft),
        )
        .route(&format!("{BASE}/publish"), post(publish))
        .route(&format!("{BASE}/versions"), get(list_versions))
        .route(
            &format!("{BASE}/versions/{{version}}/copy-to-draft"),
            post(copy_to_draft),
        )
}

#[derive(Serialize, ToSchema)]
pub struct PublishedView {
    pub version: i64,
    /// RFC 3339.
    pub published_at: String,
    /// The name of who published it; null for the portal (version 1, from the template).
    pub published_by: Option<String>,
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct DraftView {
    pub author: Option<String>,
    /// The published version it was started from.
    pub base_version: i64,
    /// RFC 3339.
    pub updated_at: String,
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct ParametersView {
    pub published: PublishedView,
    /// The caller's own draft.
    pub draft: Option<DraftView>,
    /// Drafts of the tenant's other administrators.
    pub other_drafts: Vec<DraftView>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionList {
    /// Newest first.
    pub items: Vec<PublishedView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftBody {
    /// The values to change; those left out keep their value.
    #[schema(value_type = Object)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
}

fn json_of(text: &str) -> Result<serde_json::Value, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::Internal(e.into()))
}

pub(crate) fn published(v: VersionRow) -> Result<PublishedView, ApiError> {
    Ok(PublishedView {
        version: v.version,
        published_at: rfc3339(v.published_at),
        published_by: v.published_by_name,
        parameters: json_of(&v.parameters)?,
    })
}

fn draft(d: DraftRow) -> Result<DraftView, ApiError> {
    Ok(DraftView {
        author: d.author_name,
        base_version: d.base_version,
        updated_at: rfc3339(d.updated_at),
        parameters: json_of(&d.parameters)?,
    })
}

fn problems(list: Vec<ParameterProblem>) -> ApiError {
    ApiError::InvalidPaths(
        list.into_iter()
            .map(|p| FieldErrorBody {
                field: p.field,
                code: p.error.code.as_str().to_owned(),
                message: p.error.message,
                held_by: None,
            })
            .collect(),
    )
}

impl From<ParametersError> for ApiError {
    fn from(e: ParametersError) -> Self {
        match e {
            ParametersError::Invalid(list) => problems(list),
            ParametersError::NoDraft => Self::Unprocessable(
                "no_draft",
                "There is no draft to publish: save one first.".into(),
            ),
            ParametersError::Stale(message) => Self::Conflict {
                field: None,
                code: "stale_draft",
                message,
            },
            ParametersError::NotActive => Self::Conflict {
                field: None,
                code: "tenant_not_active",
                message: "The tenant is not active: its parameters change once it is.".into(),
            },
            ParametersError::Service(e) => e.into(),
        }
    }
}

/// The published parameters and the drafts.
#[utoipa::path(
    get, path = "/api/v1/tenants/{id}/smart-queues/general-parameters", tag = "smart queues",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = ParametersView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_parameters(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<ParametersView>, ApiError> {
    let s = parameters::get(&state.services, &actor, &id).await?;
    Ok(Json(ParametersView {
        published: published(s.published)?,
        draft: s.draft.map(draft).transpose()?,
        other_drafts: s
            .other_drafts
            .into_iter()
            .map(draft)
            .collect::<Result<_, _>>()?,
    }))
}

/// Saves changes into the caller's draft (made from the published version when there is none).
#[utoipa::path(
    put, path = "/api/v1/tenants/{id}/smart-queues/general-parameters/draft", tag = "smart queues",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body = DraftBody,
    responses((status = 200, body = DraftView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn save_draft(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<DraftBody>,
) -> Result<Json<DraftView>, ApiError> {
    let saved = parameters::save_draft(&state.services, &actor, &id, &body.parameters).await?;
    Ok(Json(draft(saved)?))
}

/// Throws the caller's draft away.
#[utoipa::path(
    delete, path = "/api/v1/tenants/{id}/smart-queues/general-parameters/draft", tag = "smart queues",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 204), (status = 404, body = ErrorBody))
)]
pub async fn discard_draft(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    parameters::discard_draft(&state.services, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publishes the caller's draft as the next version.
#[utoipa::path(
    post, path = "/api/v1/tenants/{id}/smart-queues/general-parameters/publish", tag = "smart queues",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = PublishedView), (status = 404, body = ErrorBody),
        (status = 409, description = "Another version was published since the draft was started; the draft is kept", body = ErrorBody),
        (status = 422, description = "The draft is invalid or absent", body = ErrorBody))
)]
pub async fn publish(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<PublishedView>, ApiError> {
    let version = parameters::publish(&state.services, &actor, &id).await?;
    Ok(Json(published(version)?))
}

/// Every published version, newest first.
#[utoipa::path(
    get, path = "/api/v1/tenants/{id}/smart-queues/general-parameters/versions", tag = "smart queues",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = VersionList), (status = 404, body = ErrorBody))
)]
pub async fn list_versions(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<VersionList>, ApiError> {
    let items = parameters::versions(&state.services, &actor, &id)
        .await?
        .into_iter()
        .map(published)
        .collect::<Result<_, _>>()?;
    Ok(Json(VersionList { items }))
}

/// Makes a published version the caller's draft, to publish again as the newest.
#[utoipa::path(
    post, path = "/api/v1/tenants/{id}/smart-queues/general-parameters/versions/{version}/copy-to-draft", tag = "smart queues",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id"), ("version" = i64, Path, description = "Version number")),
    responses((status = 200, body = DraftView), (status = 404, body = ErrorBody))
)]
pub async fn copy_to_draft(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((id, version)): Path<(String, String)>,
) -> Result<Json<DraftView>, ApiError> {
    let version: i64 = version.parse().map_err(|_| ApiError::NotFound)?;
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(ApiError::NotFound);
    }
    let copied = parameters::copy_to_draft(&state.services, &actor, &id, version).await?;
    Ok(Json(draft(copied)?))
}
