//! The worker processes, for landlord administrators: which run, where, since when, and what
//! they hold.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use portal_domain::Permission;

use super::{Landlord, Nav, failure, render, when};
use crate::service::operations;
use crate::web::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new().route("/workers", get(show))
}

struct Line {
    id: String,
    host: String,
    pid: i64,
    concurrency: i64,
    started: String,
    seen: String,
    state: &'static str,
    holding: String,
}

#[derive(Template)]
#[template(path = "pages/workers.html")]
struct Page {
    nav: Nav,
    lines: Vec<Line>,
    running: usize,
}

async fn show(State(state): State<AppState>, Landlord(actor): Landlord) -> Response {
    if let Some(page) = super::refused(&actor, Permission::WatchOperations) {
        return page;
    }
    let views = match operations::workers(&state.services, &actor).await {
        Ok(views) => views,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let running = views
        .iter()
        .filter(|v| v.state == operations::WorkerState::Running)
        .count();
    let lines = views
        .into_iter()
        .map(|v| Line {
            holding: v
                .holding
                .iter()
                .map(|(id, kind)| format!("{kind} #{id}"))
                .collect::<Vec<_>>()
                .join(", "),
            id: v.row.id,
            host: v.row.host,
            pid: v.row.pid,
            concurrency: v.row.concurrency,
            started: when(v.row.started_at),
            seen: when(v.row.seen_at),
            state: v.state.label(),
        })
        .collect();
    render(
        StatusCode::OK,
        &Page {
            nav: Nav::for_actor(&actor, "/workers"),
            lines,
            running,
        },
    )
}
