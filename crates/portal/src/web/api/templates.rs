//! `GET /api/v1/templates` and `GET /api/v1/templates/{id}`: the template service packages.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::template;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{Auth, IdPath};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/templates", get(list_templates))
        .route("/api/v1/templates/{id}", get(get_template))
}

#[derive(Serialize, ToSchema)]
pub struct TemplateView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub version: i64,
    /// `active` or `retired`.
    pub status: String,
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
        status: t.status,
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
    Auth(_actor): Auth,
) -> Result<Json<TemplateList>, ApiError> {
    let items = template::list_templates(&state.services)
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
    Auth(_actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<TemplateView>, ApiError> {
    let (t, objects) = template::get_template(&state.services, &id).await?;
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
