//! `GET /api/v1/audit`: who did what, when and from where.

use crate::web::Routes;
use axum::Json;
use axum::extract::{Query, State};
use axum::routing::get;
use portal_store::audit::{AuditFilter, AuditRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::rfc3339;
use crate::service::audit;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::Auth;

pub fn router() -> Routes {
    Routes::new().route("/api/v1/audit", get(list_audit))
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    /// RFC 3339.
    pub at: String,
    pub actor_id: Option<String>,
    /// The acting user's name, or the name given at a failed sign-in.
    pub actor_name: Option<String>,
    pub tenant_id: Option<String>,
    /// e.g. `sign_in`, `sign_in_failed`, `request_submitted`, `request_retry`,
    /// `template_created`, `parameters_draft_saved`, `parameters_published`.
    pub action: String,
    pub subject: Option<String>,
    pub detail: Option<String>,
    /// The client's address.
    pub client: Option<String>,
}

impl From<AuditRow> for AuditView {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            at: rfc3339(r.at),
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            tenant_id: r.tenant_id,
            action: r.action.to_string(),
            subject: r.subject,
            detail: r.detail,
            client: r.client,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this tenant (a tenant administrator always gets only their own).
    pub tenant: Option<String>,
    /// Only entries of this action.
    pub action: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The audit log, newest first, paged by cursor.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    security(("bearer" = [])),
    params(AuditQuery),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn list_audit(
    State(state): State<AppState>,
    Auth(actor): Auth,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditList>, ApiError> {
    let (query, limit) = super::list_query(
        query,
        |q| vec![q.tenant.as_ref(), q.action.as_ref(), q.cursor.as_ref()],
        |q| q.limit,
    )?;
    let action = match query.action.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(text) => match text.parse() {
            Ok(action) => Some(action),
            // No entry is of an action that does not exist.
            Err(_) => {
                return Ok(Json(AuditList {
                    items: Vec::new(),
                    next_cursor: None,
                }));
            }
        },
    };
    let filter = AuditFilter {
        tenant_id: query.tenant.filter(|t| !t.is_empty()),
        action,
        before_id: query.cursor.filter(|c| !c.is_empty()),
        limit,
    };
    let (rows, next_cursor) = audit::list(&state.services, &actor, filter).await?;
    Ok(Json(AuditList {
        items: rows.into_iter().map(AuditView::from).collect(),
        next_cursor,
    }))
}
