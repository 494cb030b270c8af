//! The audit log page: landlord administrators read everything, a tenant administrator their
//! tenant's.

use crate::web::Routes;
use std::collections::HashMap;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use portal_domain::AuditAction;
use portal_store::audit::{AuditFilter, AuditRow};
use serde::Deserialize;

use super::{Nav, PageUser, failure, message, render, when};
use crate::service::{audit, tenant};
use crate::web::AppState;

pub fn router() -> Routes {
    Routes::new().route("/audit", get(list_audit))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuditQuery {
    action: String,
    cursor: String,
}

struct Line {
    at: String,
    who: String,
    action: &'static str,
    tenant_id: String,
    /// The tenant's name, while it exists.
    tenant: String,
    subject: String,
    detail: String,
    client: String,
}

#[derive(Template)]
#[template(path = "pages/audit.html")]
struct AuditPage {
    nav: Nav,
    /// Every action, with its words, for the filter.
    actions: Vec<(&'static str, &'static str)>,
    action: String,
    lines: Vec<Line>,
    next: Option<String>,
    first: bool,
}

/// One entry as the page shows it; `tenants` names the tenants (id, name).
fn line(r: AuditRow, tenants: &HashMap<String, String>) -> Line {
    let tenant_id = r.tenant_id.unwrap_or_default();
    Line {
        at: when(r.at),
        who: r.actor_name.unwrap_or_else(|| "the portal".into()),
        action: r.action.label(),
        tenant: tenants
            .get(&tenant_id)
            .cloned()
            .unwrap_or_else(|| "a removed tenant".into()),
        tenant_id,
        subject: r.subject.unwrap_or_default(),
        detail: r.detail.unwrap_or_default(),
        client: r.client.unwrap_or_default(),
    }
}

async fn list_audit(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return message(
            StatusCode::BAD_REQUEST,
            Some(&actor),
            "The filters could not be read",
            "The address holds filters this page does not know.",
            Some(("/audit", "The audit log")),
        );
    };
    let action = query.action.parse::<AuditAction>().ok();
    let cursor = Some(query.cursor.trim().to_owned())
        .filter(|c| !c.is_empty() && c.len() <= 64 && !c.chars().any(char::is_control));
    let filter = AuditFilter {
        tenant_id: None,
        action,
        before_id: cursor.clone(),
        limit: 50,
    };
    let (rows, next) = match audit::list(&state.services, &actor, filter).await {
        Ok(found) => found,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let tenants: HashMap<String, String> = match tenant::list_tenants(&state.services, &actor).await
    {
        Ok(found) => found.into_iter().map(|t| (t.id, t.name)).collect(),
        Err(e) => return failure(&e, Some(&actor)),
    };
    let lines = rows.into_iter().map(|r| line(r, &tenants)).collect();
    let action = action.map(|a| a.as_str().to_owned()).unwrap_or_default();
    render(
        StatusCode::OK,
        &AuditPage {
            nav: Nav::for_actor(&actor, "/audit"),
            actions: AuditAction::ALL
                .iter()
                .map(|a| (a.as_str(), a.label()))
                .collect(),
            next: next.map(|c| {
                if action.is_empty() {
                    format!("cursor={c}")
                } else {
                    format!("action={action}&cursor={c}")
                }
            }),
            first: cursor.is_some(),
            action,
            lines,
        },
    )
}
