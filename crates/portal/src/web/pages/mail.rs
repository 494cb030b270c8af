//! The mail the portal sent, for landlord administrators: where the default install, with no
//! SMTP server, shows its mail.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::{PageUser, escape, failure, not_found, page};
use crate::service::mail;
use crate::web::AppState;
use crate::web::api::rfc3339;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mail", get(list_mail))
        .route("/mail/{id}", get(show_mail))
}

async fn list_mail(State(state): State<AppState>, PageUser(actor): PageUser) -> Response {
    let rows = match mail::list(&state.services, &actor, 200).await {
        Ok(rows) => rows,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let mut body = String::from("<h1>Mail</h1>");
    if rows.is_empty() {
        body.push_str("<p>No mail yet.</p>");
    } else {
        body.push_str("<table><caption>Newest first</caption><thead><tr><th scope=\"col\">When</th><th scope=\"col\">To</th><th scope=\"col\">Subject</th><th scope=\"col\">Status</th></tr></thead><tbody>");
        for r in rows {
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td><a href=\"/mail/{}\">{}</a></td><td>{}</td></tr>",
                escape(&rfc3339(r.created_at)),
                escape(&r.recipient),
                escape(&r.id),
                escape(&r.subject),
                escape(&r.status)
            ));
        }
        body.push_str("</tbody></table>");
    }
    page(StatusCode::OK, "Mail", Some(&actor), &body)
}

async fn show_mail(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path(id): Path<String>,
) -> Response {
    if id.len() > 128 || id.chars().any(char::is_control) {
        return not_found(Some(&actor));
    }
    let row = match mail::get(&state.services, &actor, &id).await {
        Ok(row) => row,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let body = format!(
        "<h1>{}</h1><dl><dt>From</dt><dd>{}</dd><dt>To</dt><dd>{}</dd><dt>Status</dt><dd>{} ({} attempts)</dd></dl>\
         <h2>Text</h2><pre>{}</pre><h2>HTML</h2>\
         <iframe title=\"The HTML part of the message\" sandbox srcdoc=\"{}\"></iframe>\
         <p><a href=\"/mail\">All mail</a></p>",
        escape(&row.subject),
        escape(&row.sender),
        escape(&row.recipient),
        escape(&row.status),
        row.attempts,
        escape(&row.body_text),
        escape(&row.body_html)
    );
    page(StatusCode::OK, &row.subject, Some(&actor), &body)
}
