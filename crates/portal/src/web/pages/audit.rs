//! The audit log page: landlord administrators read everything, a tenant administrator their
//! tenant's.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use portal_store::audit::{AuditFilter, AuditRow};
use serde::Deserialize;

use super::{Nav, PageUser, failure, message, render, when};
use crate::service::audit;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(list_audit))
}

/// The actions people can filter by, with their labels.
const ACTIONS: [(&str, &str); 14] = [
    ("sign_in", "Signed in"),
    ("sign_in_failed", "Sign-in failed"),
    ("request_submitted", "Request submitted"),
    ("request_retry", "Request retried"),
    ("request_cancel", "Request cancelled"),
    ("request_run_now", "Request run now"),
    ("request_reschedule", "Request rescheduled"),
    ("template_created", "Template created"),
    ("template_version_added", "Template version added"),
    ("template_retired", "Template retired"),
    ("policy_changed", "Policy changed"),
    ("parameters_draft_saved", "Parameters draft saved"),
    ("parameters_draft_discarded", "Parameters draft discarded"),
    ("parameters_published", "Parameters published"),
];

fn label(action: &str) -> String {
    ACTIONS
        .iter()
        .find(|(a, _)| *a == action)
        .map_or_else(|| action.replace('_', " "), |(_, l)| (*l).to_owned())
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
    action: String,
    tenant_id: String,
    subject: String,
    detail: String,
    client: String,
}

#[derive(Template)]
#[template(path = "pages/audit.html")]
struct AuditPage {
    nav: Nav,
    actions: Vec<(&'static str, &'static str)>,
    action: String,
    lines: Vec<Line>,
    next: Option<String>,
    first: bool,
}

/// One entry as the page shows it.
fn line(r: AuditRow) -> Line {
    Line {
        at: when(r.at),
        who: r.actor_name.unwrap_or_else(|| "the portal".into()),
        action: label(&r.action),
        tenant_id: r.tenant_id.unwrap_or_default(),
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
    let action = ACTIONS
        .iter()
        .find(|(a, _)| *a == query.action)
        .map(|(a, _)| (*a).to_owned());
    let cursor = Some(query.cursor.trim().to_owned())
        .filter(|c| !c.is_empty() && c.len() <= 64 && !c.chars().any(char::is_control));
    let filter = AuditFilter {
        tenant_id: None,
        action: action.clone(),
        before_id: cursor.clone(),
        limit: 50,
    };
    let (rows, next) = match audit::list(&state.services, &actor, filter).await {
        Ok(found) => found,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let lines = rows.into_iter().map(line).collect();
    let action = action.unwrap_or_default();
    render(
        StatusCode::OK,
        &AuditPage {
            nav: Nav::for_actor(&actor, "/audit"),
            actions: ACTIONS.to_vec(),
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
