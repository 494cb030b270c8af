//! Webhooks (landlord administrators): the endpoints that receive the portal's events, added
//! with the events they want (the secret shown once), enabled, disabled, given a new secret or
//! removed; each with its latest deliveries, one sent again or every failed one since a day.

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_domain::{EndpointStatus, EventType, Permission};
use portal_store::webhook::{DeliveryRow, EndpointRow};

use super::{Landlord, Nav, bad_form, failure, message, not_found, plausible_id, render, when};
use crate::service::Actor;
use crate::service::webhook::{self, EndpointInput, WebhookError};
use crate::web::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route("/settings/webhooks", get(list).post(add))
        .route("/settings/webhooks/{id}", get(show))
        .route("/settings/webhooks/{id}/status", post(set_status))
        .route("/settings/webhooks/{id}/rotate", post(rotate))
        .route(
            "/settings/webhooks/{id}/remove",
            get(confirm_remove).post(remove),
        )
        .route("/settings/webhooks/{id}/replay", post(replay))
        .route(
            "/settings/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(retry),
        )
}

/// The form as sent (`events` once per ticked box).
type Fields = Vec<(String, String)>;

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// An endpoint as the list shows it: its events in words.
struct Line {
    row: EndpointRow,
    events: String,
}

fn line(row: EndpointRow) -> Line {
    let names: Vec<String> = serde_json::from_str(&row.events).unwrap_or_default();
    let events = if names == ["*"] {
        "every event".to_owned()
    } else {
        names.join(", ")
    };
    Line { row, events }
}

#[derive(Template)]
#[template(path = "pages/webhooks.html")]
struct ListPage {
    nav: Nav,
    lines: Vec<Line>,
    events: Vec<&'static str>,
    /// A new endpoint's (or a rotated) secret, shown this once: (URL, secret).
    secret: Option<(String, String)>,
    /// The form as typed when it was refused, and why: (field, message).
    url: String,
    description: String,
    chosen: Vec<String>,
    error: Option<(&'static str, String)>,
    notice: Option<&'static str>,
}

impl ListPage {
    fn chose(&self, event: &str) -> bool {
        self.chosen.iter().any(|c| c == event)
    }

    fn at_fault(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|(f, _)| *f == field)
    }
}

async fn page(
    state: &AppState,
    actor: &Actor,
    status: StatusCode,
    fill: impl FnOnce(&mut ListPage),
) -> Response {
    let lines = match webhook::list(&state.services, actor).await {
        Ok(rows) => rows.into_iter().map(line).collect(),
        Err(e) => return failure(&e, Some(actor)),
    };
    let mut page = ListPage {
        nav: Nav::for_actor(actor, "/settings"),
        lines,
        events: EventType::ALL.iter().map(|e| e.as_str()).collect(),
        secret: None,
        url: String::new(),
        description: String::new(),
        chosen: Vec::new(),
        error: None,
        notice: None,
    };
    fill(&mut page);
    render(status, &page)
}

async fn list(State(state): State<AppState>, Landlord(actor): Landlord) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ManageWebhooks) {
        return page;
    }
    page(&state, &actor, StatusCode::OK, |_| {}).await
}

async fn add(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    form: Result<Form<Fields>, FormRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ManageWebhooks) {
        return page;
    }
    let Ok(Form(fields)) = form else {
        return bad_form(Some(&actor));
    };
    let chosen: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k == "events")
        .map(|(_, v)| v.clone())
        .collect();
    let input = EndpointInput {
        url: Some(field(&fields, "url").to_owned()),
        events: Some(chosen.clone()),
        description: Some(field(&fields, "description").to_owned()),
        status: None,
    };
    match webhook::create(&state.services, &actor, &input).await {
        Ok(row) => {
            page(&state, &actor, StatusCode::OK, |p| {
                p.secret = Some((row.url, row.secret));
            })
            .await
        }
        Err(WebhookError::Invalid(problem)) => {
            page(&state, &actor, StatusCode::UNPROCESSABLE_ENTITY, |p| {
                p.url = field(&fields, "url").to_owned();
                p.description = field(&fields, "description").to_owned();
                p.chosen = chosen;
                p.error = Some((problem.field, problem.message));
            })
            .await
        }
        Err(WebhookError::Refused(_, text)) => {
            message(StatusCode::CONFLICT, Some(&actor), "Not added", &text, None)
        }
        Err(WebhookError::Service(e)) => failure(&e, Some(&actor)),
    }
}

/// A delivery, when it was made, its next attempt, and its attempts: (when, what).
type DeliveryLine = (DeliveryRow, String, String, Vec<(String, String)>);

#[derive(Template)]
#[template(path = "pages/webhook.html")]
struct ShowPage {
    nav: Nav,
    line: Line,
    deliveries: Vec<DeliveryLine>,
    notice: Option<String>,
}

/// One attempt as the log says it: when, and what came of it.
fn attempt_line(a: portal_store::webhook::AttemptRow) -> (String, String) {
    let what = match (a.status_code, a.error) {
        (Some(code), _) => format!(
            "answered {code} in {} ms{}",
            a.duration_ms,
            a.excerpt.map(|e| format!(": {e}")).unwrap_or_default()
        ),
        (None, Some(error)) => error,
        (None, None) => "no answer".to_owned(),
    };
    (when(a.at), what)
}

/// The endpoint, when the actor may manage webhooks and the id is one.
async fn endpoint(state: &AppState, actor: &Actor, id: &str) -> Result<EndpointRow, Response> {
    if let Some(page) = super::refused(actor, Permission::ManageWebhooks) {
        return Err(page);
    }
    if !plausible_id(id) {
        return Err(not_found(Some(actor)));
    }
    webhook::get(&state.services, actor, id)
        .await
        .map_err(|e| failure(&e, Some(actor)))
}

async fn show_page(state: &AppState, actor: &Actor, id: &str, notice: Option<String>) -> Response {
    let row = match endpoint(state, actor, id).await {
        Ok(row) => row,
        Err(page) => return page,
    };
    let list = match webhook::deliveries(&state.services, actor, id).await {
        Ok(list) => list,
        Err(e) => return failure(&e, Some(actor)),
    };
    let mut deliveries = Vec::with_capacity(list.len());
    for d in list {
        let attempts = match state.services.store.delivery_attempts(&d.id).await {
            Ok(attempts) => attempts.into_iter().map(attempt_line).collect(),
            Err(e) => return failure(&e.into(), Some(actor)),
        };
        let created = when(d.created_at);
        let next = d.next_attempt_at.map(when).unwrap_or_default();
        deliveries.push((d, created, next, attempts));
    }
    render(
        StatusCode::OK,
        &ShowPage {
            nav: Nav::for_actor(actor, "/settings"),
            line: line(row),
            deliveries,
            notice,
        },
    )
}

async fn show(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
) -> Response {
    show_page(&state, &actor, &id, None).await
}

async fn set_status(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
    form: Result<Form<Fields>, FormRejection>,
) -> Response {
    if let Err(page) = endpoint(&state, &actor, &id).await {
        return page;
    }
    let Ok(Form(fields)) = form else {
        return bad_form(Some(&actor));
    };
    let Ok(status) = field(&fields, "status").parse::<EndpointStatus>() else {
        return bad_form(Some(&actor));
    };
    let input = EndpointInput {
        status: Some(status),
        ..EndpointInput::default()
    };
    match webhook::update(&state.services, &actor, &id, &input).await {
        Ok(_) => Redirect::to(&format!("/settings/webhooks/{id}")).into_response(),
        Err(e) => refusal(&actor, &id, e),
    }
}

async fn rotate(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
) -> Response {
    if let Err(page) = endpoint(&state, &actor, &id).await {
        return page;
    }
    match webhook::rotate_secret(&state.services, &actor, &id).await {
        Ok(row) => {
            page(&state, &actor, StatusCode::OK, |p| {
                p.secret = Some((row.url, row.secret));
                p.notice = Some("A new secret: the previous one signs too for 24 hours.");
            })
            .await
        }
        Err(e) => refusal(&actor, &id, e),
    }
}

/// The page of a refused action on an endpoint.
fn refusal(actor: &Actor, id: &str, e: WebhookError) -> Response {
    match e {
        WebhookError::Service(e) => failure(&e, Some(actor)),
        WebhookError::Invalid(p) => message(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(actor),
            "Not done",
            &p.message,
            Some((&format!("/settings/webhooks/{id}"), "Back to the endpoint")),
        ),
        WebhookError::Refused(_, text) => message(
            StatusCode::CONFLICT,
            Some(actor),
            "Not done",
            &text,
            Some((&format!("/settings/webhooks/{id}"), "Back to the endpoint")),
        ),
    }
}

#[derive(Template)]
#[template(path = "pages/confirm_webhook_removal.html")]
struct ConfirmRemoval {
    nav: Nav,
    row: EndpointRow,
}

async fn confirm_remove(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
) -> Response {
    match endpoint(&state, &actor, &id).await {
        Ok(row) => render(
            StatusCode::OK,
            &ConfirmRemoval {
                nav: Nav::for_actor(&actor, "/settings"),
                row,
            },
        ),
        Err(page) => page,
    }
}

async fn remove(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
) -> Response {
    if let Err(page) = endpoint(&state, &actor, &id).await {
        return page;
    }
    match webhook::delete(&state.services, &actor, &id).await {
        Ok(()) => {
            page(&state, &actor, StatusCode::OK, |p| {
                p.notice = Some("The endpoint was removed: it receives nothing more.");
            })
            .await
        }
        Err(e) => failure(&e, Some(&actor)),
    }
}

async fn replay(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
    form: Result<Form<Fields>, FormRejection>,
) -> Response {
    if let Err(page) = endpoint(&state, &actor, &id).await {
        return page;
    }
    let Ok(Form(fields)) = form else {
        return bad_form(Some(&actor));
    };
    let since = field(&fields, "since")
        .parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp().as_millisecond());
    let Some(since) = since else {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&actor),
            "Nothing was sent again",
            "Give a day, like 2026-11-29.",
            Some((&format!("/settings/webhooks/{id}"), "Back to the endpoint")),
        );
    };
    match webhook::replay_failed_since(&state.services, &actor, &id, since).await {
        Ok(n) => {
            show_page(
                &state,
                &actor,
                &id,
                Some(format!("{n} failed deliveries are sent again.")),
            )
            .await
        }
        Err(e) => refusal(&actor, &id, e),
    }
}

async fn retry(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Response {
    if let Err(page) = endpoint(&state, &actor, &id).await {
        return page;
    }
    if !plausible_id(&delivery_id) {
        return not_found(Some(&actor));
    }
    match webhook::retry(&state.services, &actor, &id, &delivery_id).await {
        Ok(()) => {
            show_page(
                &state,
                &actor,
                &id,
                Some("The delivery is sent again.".into()),
            )
            .await
        }
        Err(e) => refusal(&actor, &id, e),
    }
}
