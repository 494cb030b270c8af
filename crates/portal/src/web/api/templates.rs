//! `GET /api/v1/templates` and `GET /api/v1/templates/{id}`: the template service packages.

use crate::web::Routes;
use axum::Json;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::Actor;
use crate::service::template::{self, TemplateDoc, TemplateError};
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{ApiJson, Auth, IdPath};

/// Template uploads may carry thousands of objects.
pub const TEMPLATE_BODY_LIMIT: usize = 16 * 1024 * 1024;

pub fn router() -> Routes {
    Routes::new()
        .route(
            "/api/v1/templates",
            get(list_templates).post(create_template),
        )
        .route(
            "/api/v1/templates/{id}",
            get(get_template)
                .put(new_template_version)
                .delete(retire_template),
        )
        .route("/api/v1/templates/{id}/public", put(set_public))
        .map(|r| r.layer(DefaultBodyLimit::max(TEMPLATE_BODY_LIMIT)))
}

#[derive(Serialize, ToSchema)]
pub struct TemplateView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub version: i64,
    /// `active` or `retired`.
    pub status: String,
    /// Offered on the public registration page.
    pub public: bool,
    pub services: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects: Option<Vec<ObjectView>>,
}

#[derive(Serialize, ToSchema)]
pub struct ObjectView {
    /// `queue`, `smart_queue`, `skill`, `group`, `team`, `permission_profile`, …
    pub kind: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub properties: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    pub items: Vec<TemplateView>,
}

fn view(t: portal_store::template::TemplateRow) -> Result<TemplateView, ApiError> {
    Ok(TemplateView {
        services: serde_json::from_str(&t.services).map_err(|e| ApiError::Internal(e.into()))?,
        id: t.id,
        name: t.name,
        description: t.description,
        version: t.version,
        status: t.status.to_string(),
        public: t.public,
        objects: None,
    })
}

/// The active templates.
#[utoipa::path(
    get, path = "/api/v1/templates", tag = "templates",
    security(("bearer" = [])),
    responses(
        (status = 200, body = TemplateList),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn list_templates(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<TemplateList>, ApiError> {
    let items = template::list_templates(&state.services, &actor)
        .await?
        .into_iter()
        .map(view)
        .collect::<Result<_, _>>()?;
    Ok(Json(TemplateList { items }))
}

/// One template's current version with its configuration objects.
#[utoipa::path(
    get, path = "/api/v1/templates/{id}", tag = "templates",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Template id")),
    responses(
        (status = 200, body = TemplateView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn get_template(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<TemplateView>, ApiError> {
    let (t, objects) = template::get_template(&state.services, &actor, &id).await?;
    let mut v = view(t)?;
    v.objects = Some(
        objects
            .into_iter()
            .map(|o| {
                Ok(ObjectView {
                    properties: serde_json::from_str(&o.properties)
                        .map_err(|e| ApiError::Internal(e.into()))?,
                    kind: o.kind,
                    name: o.name,
                })
            })
            .collect::<Result<_, ApiError>>()?,
    );
    Ok(Json(v))
}

fn template_error(e: TemplateError) -> ApiError {
    match e {
        TemplateError::Invalid(problems) => ApiError::InvalidPaths(
            problems
                .into_iter()
                .map(|p| crate::web::error::FieldErrorBody {
                    field: p.path,
                    code: "invalid".into(),
                    message: p.message,
                    held_by: None,
                })
                .collect(),
        ),
        e @ (TemplateError::IdTaken(_) | TemplateError::Retired) => ApiError::Conflict {
            field: None,
            code: "conflict",
            message: e.to_string(),
        },
        TemplateError::Service(e) => e.into(),
    }
}

async fn current(
    state: &AppState,
    actor: &Actor,
    id: &str,
) -> Result<Json<TemplateView>, ApiError> {
    let (t, objects) = template::get_template(&state.services, actor, id).await?;
    let mut v = view(t)?;
    v.objects = Some(
        objects
            .into_iter()
            .map(|o| {
                Ok(ObjectView {
                    properties: serde_json::from_str(&o.properties)
                        .map_err(|e| ApiError::Internal(e.into()))?,
                    kind: o.kind,
                    name: o.name,
                })
            })
            .collect::<Result<_, ApiError>>()?,
    );
    Ok(Json(v))
}

/// Create a template (landlord administrators); it starts as version 1.
#[utoipa::path(
    post, path = "/api/v1/templates", tag = "templates",
    security(("bearer" = [])),
    request_body = TemplateDoc,
    responses(
        (status = 201, body = TemplateView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "The id is taken", body = ErrorBody),
        (status = 422, description = "Every problem, by path", body = ErrorBody),
    )
)]
pub async fn create_template(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiJson(doc): ApiJson<TemplateDoc>,
) -> Result<(StatusCode, Json<TemplateView>), ApiError> {
    let id = template::create_template(&state.services, &actor, doc)
        .await
        .map_err(template_error)?;
    Ok((StatusCode::CREATED, current(&state, &actor, &id).await?))
}

/// Edit a template: the edit becomes its next version; accepted requests keep theirs.
#[utoipa::path(
    put, path = "/api/v1/templates/{id}", tag = "templates",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Template id")),
    request_body = TemplateDoc,
    responses(
        (status = 200, body = TemplateView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The template is retired", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn new_template_version(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
    ApiJson(doc): ApiJson<TemplateDoc>,
) -> Result<Json<TemplateView>, ApiError> {
    template::new_version(&state.services, &actor, &id, doc)
        .await
        .map_err(template_error)?;
    current(&state, &actor, &id).await
}

/// Retire a template: no new requests; its history stays.
#[utoipa::path(
    delete, path = "/api/v1/templates/{id}", tag = "templates",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Template id")),
    responses((status = 200, body = TemplateView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn retire_template(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<TemplateView>, ApiError> {
    template::retire(&state.services, &actor, &id).await?;
    current(&state, &actor, &id).await
}

/// Whether a template is offered to prospects.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicBody {
    pub public: bool,
}

/// Offer a template on the public registration page, or stop offering it (landlord
/// administrators).
#[utoipa::path(
    put, path = "/api/v1/templates/{id}/public", tag = "templates",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Template id")),
    request_body = PublicBody,
    responses((status = 200, body = TemplateView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn set_public(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<PublicBody>,
) -> Result<Json<TemplateView>, ApiError> {
    let row = crate::service::registration::set_template_public(
        &state.services,
        &actor,
        &id,
        body.public,
    )
    .await?;
    Ok(Json(view(row)?))
}
