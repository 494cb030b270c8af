//! `GET /api/v1/tenants` and `GET /api/v1/tenants/{id}`.

use crate::web::Routes;
use axum::Json;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use super::requests::TemplateRef;
use crate::service::tenant;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{Auth, IdPath};

pub fn router() -> Routes {
    Routes::new()
        .route("/api/v1/tenants", get(list_tenants))
        .route("/api/v1/tenants/{id}", get(get_tenant))
        .route("/api/v1/tenants/{id}/configuration", get(get_configuration))
}

#[derive(Serialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    pub short_name: String,
    pub upn_suffix: String,
    /// E.164.
    pub ani: String,
    pub status: String,
    pub template: TemplateRef,
    /// RFC 3339.
    pub created_at: String,
    pub admin: TenantAdminView,
    pub request_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct TenantAdminView {
    /// `prp` + the user name.
    pub personnel_id: String,
    /// `<personnel_id>@<upn_suffix>`.
    pub login: String,
}

#[derive(Serialize, ToSchema)]
pub struct TenantList {
    pub items: Vec<TenantView>,
}

fn view(t: portal_store::tenant::TenantRow) -> TenantView {
    TenantView {
        created_at: super::rfc3339(t.created_at),
        template: TemplateRef {
            id: t.template_id,
            version: t.template_version,
        },
        admin: TenantAdminView {
            personnel_id: t.admin_personnel_id,
            login: t.admin_login,
        },
        id: t.id,
        name: t.name,
        short_name: t.short_name,
        upn_suffix: t.upn_suffix,
        ani: t.ani,
        status: t.status.to_string(),
        request_id: t.request_id,
    }
}

/// Tenants the caller may see: all for a landlord administrator, its own for a tenant's.
#[utoipa::path(
    get, path = "/api/v1/tenants", tag = "tenants",
    security(("bearer" = [])),
    responses((status = 200, body = TenantList), (status = 401, body = ErrorBody))
)]
pub async fn list_tenants(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<TenantList>, ApiError> {
    let items = tenant::list_tenants(&state.services, &actor)
        .await?
        .into_iter()
        .map(view)
        .collect();
    Ok(Json(TenantList { items }))
}

/// One tenant.
#[utoipa::path(
    get, path = "/api/v1/tenants/{id}", tag = "tenants",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = TenantView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_tenant(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<TenantView>, ApiError> {
    Ok(Json(view(
        tenant::get_tenant(&state.services, &actor, &id).await?,
    )))
}

#[derive(Serialize, ToSchema)]
pub struct ConfigurationView {
    pub objects: Vec<super::templates::ObjectView>,
}

/// The tenant's own copies of its template's objects, placeholders filled in.
#[utoipa::path(
    get, path = "/api/v1/tenants/{id}/configuration", tag = "tenants",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = ConfigurationView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_configuration(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<ConfigurationView>, ApiError> {
    let objects = tenant::configuration(&state.services, &actor, &id).await?;
    let objects = objects
        .into_iter()
        .map(|o| {
            Ok(super::templates::ObjectView {
                properties: serde_json::from_str(&o.properties)
                    .map_err(|e| ApiError::Internal(e.into()))?,
                kind: o.kind,
                name: o.name,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(ConfigurationView { objects }))
}
