//! `GET /api/v1/tenants`, `GET /api/v1/tenants/{id}`, and the staff's actions on a tenant
//! (`POST /api/v1/tenants/{id}/suspend`, `resume`, `close`, `reopen`).

use crate::web::Routes;
use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use portal_domain::TenantAction;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::requests::TemplateRef;
use crate::service::tenant::{self, TenantError};
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{Auth, IdPath};

pub fn router() -> Routes {
    Routes::new()
        .route("/api/v1/tenants", get(list_tenants))
        .route("/api/v1/tenants/{id}", get(get_tenant))
        .route("/api/v1/tenants/{id}/configuration", get(get_configuration))
        .route("/api/v1/tenants/{id}/{action}", post(act_on_tenant))
}

#[derive(Serialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    pub short_name: String,
    pub upn_suffix: String,
    /// E.164.
    pub ani: String,
    /// `provisioning`, `active`, `suspended`, `closed` or `purged`.
    pub status: String,
    /// Why it was last suspended or closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// RFC 3339: when its status last changed by an action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_changed_at: Option<String>,
    /// RFC 3339: when a closed tenant's data is purged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purge_after: Option<String>,
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

pub(crate) fn view(t: portal_store::tenant::TenantRow) -> TenantView {
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
        status_reason: t.status_reason,
        status_changed_at: t.status_changed_at.map(super::rfc3339),
        purge_after: t.purge_after.map(super::rfc3339),
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

/// The body of a tenant action; `suspend` and `close` need a reason.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantActionBody {
    /// Why: kept with the tenant and emailed to its contact (1 to 500 characters).
    pub reason: Option<String>,
}

/// Act on a tenant (landlord administrators and operators): `suspend` an active one (its
/// users cannot sign in, their sessions and tokens end, its parameters cannot change),
/// `resume` it, `close` an active or suspended one (as suspended, and its data is purged
/// after the retention policy's days; `purge_after` says when), or `reopen` a closed one.
/// Each is emailed to the tenant's contact and kept in the audit log. Any other status
/// answers 409 naming it.
#[utoipa::path(
    post, path = "/api/v1/tenants/{id}/{action}", tag = "tenants",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Tenant id"),
        ("action" = String, Path, description = "suspend, resume, close or reopen"),
    ),
    request_body(content = Option<TenantActionBody>, description = "A reason, needed by suspend and close"),
    responses(
        (status = 200, body = TenantView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The tenant's status does not allow the action", body = ErrorBody),
        (status = 422, description = "The reason is missing or unusable", body = ErrorBody),
    )
)]
pub async fn act_on_tenant(
    State(state): State<AppState>,
    Auth(actor): Auth,
    axum::extract::Path((id, action)): axum::extract::Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<TenantView>, ApiError> {
    if id.chars().any(char::is_control) || id.len() > 128 {
        return Err(ApiError::NotFound);
    }
    // The purge is the retention's, never asked for.
    let action = match action.parse::<TenantAction>() {
        Ok(TenantAction::Purge) | Err(_) => return Err(ApiError::NotFound),
        Ok(action) => action,
    };
    let body: TenantActionBody = super::optional_body(&body, "{\"reason\": \"Unpaid invoices\"}")?;
    tenant::act(&state.services, &actor, &id, action, body.reason.as_deref())
        .await
        .map(|t| Json(view(t)))
        .map_err(tenant_error)
}

/// The answer to a tenant action the service refused.
fn tenant_error(e: TenantError) -> ApiError {
    match e {
        TenantError::Refused(refused) => ApiError::Conflict {
            field: None,
            code: "tenant_status",
            message: format!(
                "A tenant that is {} cannot be {}.",
                refused.from,
                refused.action.participle()
            ),
        },
        TenantError::Moved(now) => ApiError::Conflict {
            field: None,
            code: "tenant_status_changed",
            message: format!("The tenant's status changed meanwhile: it is {now} now. Look again."),
        },
        TenantError::RetentionOver => ApiError::Conflict {
            field: None,
            code: "retention_over",
            message: "Its retention is over: the tenant is being purged and cannot be reopened."
                .into(),
        },
        TenantError::BadReason(message) => {
            ApiError::Invalid(vec![portal_domain::submission::FieldProblem {
                field: "reason",
                error: portal_domain::FieldError::new(
                    portal_domain::FieldErrorCode::Invalid,
                    message,
                ),
            }])
        }
        TenantError::Service(e) => e.into(),
    }
}
