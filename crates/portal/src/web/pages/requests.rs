//! Tenant Creation Management: every request with filters and pages, one request with its
//! steps, notification and history, and the staff actions its status allows (each confirmed
//! on a page of its own).

use crate::web::Routes;
use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use portal_domain::Permission;
use portal_domain::{
    ErrorNote, NotificationStatus, ProvisioningStep, RequestEvent, RequestStatus, StaffAction,
};
use portal_store::event::EventRow;
use portal_store::request::{RequestFilter, RequestRow, StepRow};
use serde::Deserialize;

use super::{Landlord, Nav, bad_form, failure, message, not_found, plausible_id, render, when};
use crate::service::request::{self, ActionError, RequestDetail};
use crate::service::{Actor, template};
use crate::web::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/requests", get(list_requests))
        .route("/requests/export.csv", get(export_requests))
        .route("/requests/{id}", get(show_request))
        .route(
            "/requests/{id}/{action}",
            get(confirm_action).post(act_on_request),
        )
        .route(
            "/requests/{id}/resend-email",
            axum::routing::post(resend_email),
        )
}

/// Sends a finished request's outcome email again, and says so on its page.
async fn resend_email(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ActOnRequests) {
        return page;
    }
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    match request::resend_outcome(&state.services, &actor, &id).await {
        Ok(_) => Redirect::to(&format!("/requests/{id}?done={RESENT}")).into_response(),
        Err(ActionError::NotAllowed(refused)) => message(
            StatusCode::CONFLICT,
            Some(&actor),
            "Not done",
            &format!(
                "Only a completed or failed request has an outcome email: this one is {}.",
                status_label(refused.from)
            ),
            Some((&format!("/requests/{id}"), "Back to the request")),
        ),
        Err(ActionError::Service(e)) => failure(&e, Some(&actor)),
        Err(ActionError::Taken(_) | ActionError::BadInput(_)) => bad_form(Some(&actor)),
    }
}

/// The `done` of a request's page after its outcome email was sent again.
const RESENT: &str = "resend-email";

const PAGE_SIZE: i64 = 50;

/// The staff actions in the order they are offered.
const ACTIONS: [StaffAction; 7] = [
    StaffAction::VerifyDomain,
    StaffAction::Approve,
    StaffAction::RunNow,
    StaffAction::Reschedule,
    StaffAction::Retry,
    StaffAction::Cancel,
    StaffAction::Reject,
];

/// An action's button label.
fn action_label(action: StaffAction) -> &'static str {
    match action {
        StaffAction::Approve => "Approve",
        StaffAction::RunNow => "Run now",
        StaffAction::Reschedule => "Reschedule",
        StaffAction::Retry => "Retry",
        StaffAction::Cancel => "Cancel request",
        StaffAction::Reject => "Reject",
        StaffAction::VerifyDomain => "Mark the domain verified",
    }
}

/// A status as people read it.
pub(super) fn status_label(status: RequestStatus) -> String {
    status.as_str().replace('_', " ")
}

/// An event as people read it.
fn event_label(event: RequestEvent) -> String {
    event.as_str().replace(['_', '-'], " ")
}

/// A step as people read it.
pub(super) fn step_label(step: ProvisioningStep) -> String {
    match step {
        ProvisioningStep::ReserveNames => "Reserve the names",
        ProvisioningStep::CreateTenant => "Create the tenant",
        ProvisioningStep::CreateAdministrator => "Create its administrator",
        ProvisioningStep::CloneConfiguration => "Clone the template's configuration",
        ProvisioningStep::AssignAniAndUpnSuffix => "Assign the ANI and UPN suffix",
        ProvisioningStep::Activate => "Activate",
    }
    .to_owned()
}

/// A time to the second, for steps that take milliseconds.
fn when_exactly(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ListQuery {
    pub(super) status: String,
    pub(super) template: String,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) q: String,
    pub(super) cursor: String,
}

impl ListQuery {
    /// The query string of these filters, for links to other pages.
    pub(super) fn encoded(&self, cursor: Option<&str>) -> String {
        let pairs = [
            ("status", self.status.as_str()),
            ("template", self.template.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("q", self.q.as_str()),
            ("cursor", cursor.unwrap_or("")),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The store's filter, or what is wrong with the query.
    pub(super) fn filter(&self) -> Result<RequestFilter, String> {
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        if [&self.status, &self.template, &self.q, &self.cursor]
            .iter()
            .any(|v| v.len() > 200 || v.chars().any(char::is_control))
        {
            return Err("Filters must be printable text of at most 200 characters.".into());
        }
        let status = match text(&self.status) {
            None => None,
            Some(s) => Some(
                s.parse::<RequestStatus>()
                    .map_err(|_| format!("There is no status called {s}."))?,
            ),
        };
        let day = |v: &str, label: &str| -> Result<Option<i64>, String> {
            match text(v) {
                None => Ok(None),
                Some(v) => v
                    .parse::<jiff::civil::Date>()
                    .ok()
                    .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
                    .map(|z| Some(z.timestamp().as_millisecond()))
                    .ok_or_else(|| format!("{label} must be a date like 2026-11-29.")),
            }
        };
        let from = day(&self.from, "Submitted from")?;
        let to = day(&self.to, "Submitted to")?;
        Ok(RequestFilter {
            status,
            query: text(&self.q),
            template_id: text(&self.template),
            submitted_from: from,
            // The whole last day is included.
            submitted_before: to.map(|ms| ms + 86_400_000),
            before_id: text(&self.cursor),
            limit: PAGE_SIZE,
        })
    }
}

/// Percent-encoding for a query string value.
fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Row {
    id: String,
    tenant_name: String,
    template: String,
    status: String,
    status_class: String,
    submitted: String,
    scheduled: String,
}

impl Row {
    /// A request as its line in the list, its template by name (`names`: id and name).
    fn new(r: RequestRow, names: &[(String, String)]) -> Self {
        let template = names
            .iter()
            .find(|(id, _)| *id == r.template_id)
            .map_or(r.template_id.as_str(), |(_, name)| name.as_str());
        Self {
            template: format!("{template} v{}", r.template_version),
            status: status_label(r.status),
            status_class: r.status.to_string(),
            submitted: when(r.submitted_at),
            scheduled: r.scheduled_for.map(when).unwrap_or_default(),
            tenant_name: r.tenant_name,
            id: r.id,
        }
    }
}

#[derive(Template)]
#[template(path = "pages/requests.html")]
struct ListPage {
    nav: Nav,
    query: ListQuery,
    /// Each status: its name, its label and how many requests are in it.
    statuses: Vec<(&'static str, String, i64)>,
    /// The filters as a query string, for the CSV export.
    export: String,
    templates: Vec<(String, String)>,
    rows: Vec<Row>,
    problem: Option<String>,
    next: Option<String>,
    first: Option<String>,
}

async fn list_requests(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return message(
            StatusCode::BAD_REQUEST,
            Some(&actor),
            "The filters could not be read",
            "The address holds filters this page does not know.",
            Some(("/requests", "All requests")),
        );
    };
    let mut templates: Vec<(String, String)> =
        match template::list_templates(&state.services, &actor).await {
            Ok(t) => t.into_iter().map(|t| (t.id, t.name)).collect(),
            Err(e) => return failure(&e, Some(&actor)),
        };
    // A retired template (or any other id) in the filter stays chosen.
    if !query.template.is_empty() && !templates.iter().any(|(id, _)| *id == query.template) {
        templates.push((query.template.clone(), query.template.clone()));
    }
    let (status, rows, next, problem) = match query.filter() {
        Err(problem) => (StatusCode::BAD_REQUEST, Vec::new(), None, Some(problem)),
        Ok(filter) => match request::list_requests(&state.services, &actor, filter).await {
            Ok((rows, next)) => (StatusCode::OK, rows, next, None),
            Err(e) => return failure(&e, Some(&actor)),
        },
    };
    let counts = match state.services.store.count_every_status().await {
        Ok(counts) => counts,
        Err(e) => return failure(&e.into(), Some(&actor)),
    };
    let page = ListPage {
        nav: Nav::for_actor(&actor, "/requests"),
        statuses: counts
            .into_iter()
            .map(|(s, n)| (s.as_str(), s.label(), n))
            .collect(),
        export: query.encoded(None),
        rows: rows.into_iter().map(|r| Row::new(r, &templates)).collect(),
        templates,
        problem,
        next: next.map(|cursor| query.encoded(Some(&cursor))),
        first: (!query.cursor.is_empty()).then(|| query.encoded(None)),
        query,
    };
    render(status, &page)
}

/// Every request the list's filters match, as a CSV download.
async fn export_requests(
    State(state): State<AppState>,
    super::PageUser(actor): super::PageUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let filter = match query.map(|Query(q)| q.filter()) {
        Ok(Ok(filter)) => filter,
        // Someone not on the staff learns nothing of the export, not even its rules.
        _ if !actor.is_landlord() => return not_found(Some(&actor)),
        Ok(Err(problem)) => {
            return message(
                StatusCode::BAD_REQUEST,
                Some(&actor),
                "The filters could not be used",
                &problem,
                Some(("/requests", "All requests")),
            );
        }
        Err(_) => {
            return message(
                StatusCode::BAD_REQUEST,
                Some(&actor),
                "The filters could not be read",
                "The address holds filters this page does not know.",
                Some(("/requests", "All requests")),
            );
        }
    };
    let started = match crate::service::export::export(&state.services, &actor, filter).await {
        Ok(export) => crate::web::csv_download(export, "subscription-requests.csv").await,
        Err(e) => Err(e),
    };
    started.unwrap_or_else(|e| failure(&e, Some(&actor)))
}

struct StepLine {
    label: String,
    status: String,
    times: String,
}

struct EventLine {
    at: String,
    who: String,
    action: String,
    change: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "pages/request.html")]
struct DetailPage {
    nav: Nav,
    r: RequestRow,
    status: String,
    /// How the page follows itself: `fast` while things move, `slow` while it waits.
    live: Option<&'static str>,
    submitted: String,
    scheduled: Option<String>,
    finished: Option<String>,
    steps: Vec<StepLine>,
    notification: String,
    /// The template's display name.
    template: String,
    /// The UPN suffix and login ID as people read them.
    upn_suffix: String,
    login_id: String,
    /// The heading of the request's error: a rejection's reason is no failure.
    error_label: &'static str,
    /// Each offered action: its name, its label, and whether it is shown as secondary.
    actions: Vec<(&'static str, &'static str, bool)>,
    events: Vec<EventLine>,
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DetailQuery {
    done: String,
}

async fn show_request(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
    query: Result<Query<DetailQuery>, QueryRejection>,
) -> Response {
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    let detail = match request::get_request(&state.services, &actor, &id).await {
        Ok(d) => d,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let done = query.ok().and_then(|Query(q)| {
        if q.done == RESENT {
            return Some("The outcome email is on its way again.".to_owned());
        }
        ACTIONS
            .iter()
            .find(|action| action.as_str() == q.done)
            .map(|action| format!("{}: done.", action_label(*action)))
    });
    let template = super::template_name(&state, &detail.request.template_id).await;
    render(StatusCode::OK, &detail_page(&actor, detail, template, done))
}

fn detail_page(
    actor: &Actor,
    detail: RequestDetail,
    template: String,
    done: Option<String>,
) -> DetailPage {
    let RequestDetail {
        request: r,
        steps,
        events,
    } = detail;
    DetailPage {
        nav: Nav::for_actor(actor, "/requests"),
        status: status_label(r.status),
        live: live_mode(&r),
        submitted: when(r.submitted_at),
        // An ended request shows what happened: a time it never ran at, or steps that never
        // started, are left out.
        scheduled: r
            .scheduled_for
            .filter(|_| !matches!(r.status, RequestStatus::Cancelled | RequestStatus::Rejected))
            .map(when),
        finished: r.finished_at.map(when),
        steps: if r.status.is_finished() && steps.iter().all(|s| s.started_at.is_none()) {
            Vec::new()
        } else {
            step_lines(steps)
        },
        notification: notification_line(&r),
        template,
        upn_suffix: super::domain_shown(&r.upn_suffix),
        login_id: super::login_shown(&r.admin_personnel_id, &r.upn_suffix),
        error_label: match r.error {
            Some(ErrorNote::Rejected(_)) => "Reason given",
            Some(ErrorNote::Failed(_)) => "What went wrong",
            _ => "Why",
        },
        actions: offered_actions(r.status),
        events: event_lines(events, &r),
        done,
        r,
    }
}

/// The actions a request's status allows, in the order they are offered: (name, label,
/// whether it is shown as secondary).
fn offered_actions(status: RequestStatus) -> Vec<(&'static str, &'static str, bool)> {
    ACTIONS
        .iter()
        .copied()
        .filter(|action| status.act(*action).is_ok())
        .map(|action| {
            // The actions that end a request are set apart from those that move it on.
            let secondary = matches!(action, StaffAction::Cancel | StaffAction::Reject);
            (action.as_str(), action_label(action), secondary)
        })
        .collect()
}

/// The provisioning steps as the page lists them, each with when it ran and for how long.
fn step_lines(steps: Vec<StepRow>) -> Vec<StepLine> {
    steps
        .into_iter()
        .map(|s| StepLine {
            label: step_label(s.name),
            times: match (s.started_at, s.finished_at) {
                (Some(a), Some(b)) => format!("at {}, in {} ms", when_exactly(b), b - a),
                (Some(a), None) => format!("since {}", when_exactly(a)),
                _ => String::new(),
            },
            status: s.status.to_string(),
        })
        .collect()
}

/// The request's history as the page lists it: when, who, what, and the change of status.
fn event_lines(events: Vec<EventRow>, r: &RequestRow) -> Vec<EventLine> {
    // A self-service request was sent, and its address confirmed, by the prospect.
    let prospect = format!("the prospect ({})", r.contact_email);
    events
        .into_iter()
        .map(|e| EventLine {
            at: when(e.at),
            who: match (e.actor_name, e.actor_id, e.action) {
                (Some(name), _, _) => name,
                (None, Some(_), _) => "a removed user".into(),
                (None, None, RequestEvent::Submitted | RequestEvent::Verified)
                    if r.submitted_by.is_none() =>
                {
                    prospect.clone()
                }
                (None, None, _) => "the portal".into(),
            },
            action: event_label(e.action),
            change: match (e.from_status, e.to_status) {
                (Some(a), Some(b)) => format!("{} → {}", status_label(a), status_label(b)),
                (None, Some(b)) => status_label(b),
                _ => String::new(),
            },
            detail: e.detail.unwrap_or_default(),
        })
        .collect()
}

/// Where the contact's email stands, in a sentence.
fn notification_line(r: &RequestRow) -> String {
    match (r.notification_status, r.notification_sent_at) {
        (NotificationStatus::Sent, Some(at)) => {
            format!("Email sent to {} at {}.", r.contact_email, when(at))
        }
        (NotificationStatus::Pending, _) => format!(
            "Email to {} waiting to be sent (it is retried until the mail server takes it).",
            r.contact_email
        ),
        (NotificationStatus::Failed, _) => {
            format!("Email to {} could not be sent; see Mail.", r.contact_email)
        }
        _ if r.status.is_finished() => {
            "No email was sent: the request ended before provisioning.".to_owned()
        }
        _ => format!("Email to {} when provisioning ends.", r.contact_email),
    }
}

/// Whether a request's page should follow it, and how often: an email that has waited for
/// minutes is being retried on a slow schedule, and a scheduled request waits for its window.
fn live_mode(r: &RequestRow) -> Option<&'static str> {
    match r.status {
        RequestStatus::Accepted | RequestStatus::Provisioning => Some("fast"),
        RequestStatus::Scheduled => Some("slow"),
        _ if r.notification_status == NotificationStatus::Pending => {
            let recent = r
                .finished_at
                .is_some_and(|at| portal_store::now_ms() - at < 120_000);
            Some(if recent { "fast" } else { "slow" })
        }
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "pages/confirm_action.html")]
struct ConfirmPage {
    nav: Nav,
    id: String,
    tenant_name: String,
    action: &'static str,
    label: &'static str,
    /// The action takes a new time (reschedule), or a reason (reject).
    asks_time: bool,
    asks_reason: bool,
    /// The action ends the request.
    danger: bool,
    question: String,
    at: String,
    reason: String,
    error: Option<String>,
}

fn question(action: StaffAction, r: &RequestRow) -> String {
    match action {
        StaffAction::Retry => format!(
            "Provision {} again from the start? Its names are taken again first.",
            r.tenant_name
        ),
        StaffAction::Cancel => format!(
            "Cancel the request for {}? It will not be provisioned and its names are released.",
            r.tenant_name
        ),
        StaffAction::RunNow => format!(
            "Provision {} now instead of in the off-peak window?",
            r.tenant_name
        ),
        StaffAction::Approve => format!(
            "Approve the request for {}? It is then provisioned as the provisioning policy says, and {} is emailed the outcome.",
            r.tenant_name, r.contact_email
        ),
        StaffAction::Reject => format!(
            "Reject the request for {}? Its names are released, and the reason is emailed to {}.",
            r.tenant_name, r.contact_email
        ),
        StaffAction::Reschedule => format!("When should {} be provisioned?", r.tenant_name),
        StaffAction::VerifyDomain => format!(
            "Mark {} as owned by the prospect without its DNS record? The request then goes on as if the record had been seen.",
            r.upn_suffix
        ),
    }
}

async fn confirm_action(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ActOnRequests) {
        return page;
    }
    let Ok(action) = action.parse::<StaffAction>() else {
        return not_found(Some(&actor));
    };
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    let r = match request::get_request(&state.services, &actor, &id).await {
        Ok(d) => d.request,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let at = r
        .scheduled_for
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default();
    render(
        StatusCode::OK,
        &ConfirmPage {
            nav: Nav::for_actor(&actor, "/requests"),
            question: question(action, &r),
            id: r.id,
            tenant_name: r.tenant_name,
            action: action.as_str(),
            label: action_label(action),
            asks_time: action == StaffAction::Reschedule,
            asks_reason: action == StaffAction::Reject,
            danger: matches!(action, StaffAction::Cancel | StaffAction::Reject),
            at,
            reason: String::new(),
            error: None,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ActionForm {
    /// For reschedule: `YYYY-MM-DDTHH:MM` in UTC (a `datetime-local` input).
    at: String,
    /// For reject: why, for the contact.
    reason: String,
}

async fn act_on_request(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path((id, action)): Path<(String, String)>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ActOnRequests) {
        return page;
    }
    let Ok(action) = action.parse::<StaffAction>() else {
        return not_found(Some(&actor));
    };
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    let Ok(Form(form)) = form else {
        return bad_form(Some(&actor));
    };
    let at = if action == StaffAction::Reschedule {
        let Some(at) = utc_time(&form.at) else {
            return confirm_again(
                &state,
                &actor,
                &id,
                action,
                &form,
                "Enter the new time as a date and a time, in UTC.".into(),
            )
            .await;
        };
        Some(at)
    } else {
        None
    };
    let reason = (action == StaffAction::Reject).then_some(form.reason.as_str());
    match request::act_on_request(&state.services, &actor, &id, action, at, reason).await {
        Ok(_) => Redirect::to(&format!("/requests/{id}?done={action}")).into_response(),
        Err(e) => refusal(&state, &actor, &id, action, &form, e).await,
    }
}

/// A `datetime-local` value read as UTC, in epoch milliseconds; `None` when it is not one.
fn utc_time(text: &str) -> Option<i64> {
    text.trim()
        .parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|t| t.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
        .map(|t| t.timestamp().as_millisecond())
}

/// The answer when the service refused `action`: the confirmation page again for a bad
/// input, otherwise a page saying why nothing was done.
async fn refusal(
    state: &AppState,
    actor: &Actor,
    id: &str,
    action: StaffAction,
    form: &ActionForm,
    error: ActionError,
) -> Response {
    let label = action_label(action);
    match error {
        ActionError::BadInput(text) => confirm_again(state, actor, id, action, form, text).await,
        ActionError::NotAllowed(refused) => message(
            StatusCode::CONFLICT,
            Some(actor),
            "Not done",
            &format!(
                "{label} is not possible: the request is {} now.",
                status_label(refused.from)
            ),
            Some((&format!("/requests/{id}"), "Back to the request")),
        ),
        ActionError::Taken(kind) => message(
            StatusCode::CONFLICT,
            Some(actor),
            "Not done",
            &format!(
                "The request cannot be retried: its {} is now used by another tenant or request.",
                kind.field()
                    .rsplit('.')
                    .next()
                    .unwrap_or("name")
                    .replace('_', " ")
            ),
            Some((&format!("/requests/{id}"), "Back to the request")),
        ),
        ActionError::Service(e) => failure(&e, Some(actor)),
    }
}

/// The confirmation page again, with what was wrong.
async fn confirm_again(
    state: &AppState,
    actor: &Actor,
    id: &str,
    action: StaffAction,
    form: &ActionForm,
    error: String,
) -> Response {
    let r = match request::get_request(&state.services, actor, id).await {
        Ok(d) => d.request,
        Err(e) => return failure(&e, Some(actor)),
    };
    render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &ConfirmPage {
            nav: Nav::for_actor(actor, "/requests"),
            question: question(action, &r),
            id: r.id,
            tenant_name: r.tenant_name,
            action: action.as_str(),
            label: action_label(action),
            asks_time: action == StaffAction::Reschedule,
            asks_reason: action == StaffAction::Reject,
            danger: matches!(action, StaffAction::Cancel | StaffAction::Reject),
            at: form.at.chars().take(40).collect(),
            reason: form
                .reason
                .chars()
                .take(request::REASON_MAX_CHARS + 1)
                .collect(),
            error: Some(error),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_survive_a_trip_through_the_query_string() {
        let q = ListQuery {
            q: "Kenton & Sons".into(),
            status: "failed".into(),
            ..Default::default()
        };
        assert_eq!(
            q.encoded(Some("abc")),
            "status=failed&q=Kenton%20%26%20Sons&cursor=abc"
        );
    }

    #[test]
    fn a_day_filter_covers_the_whole_day_in_utc() {
        let q = ListQuery {
            from: "2026-11-29".into(),
            to: "2026-11-29".into(),
            ..Default::default()
        };
        let f = q.filter().unwrap();
        let start = f.submitted_from.unwrap();
        assert_eq!(f.submitted_before.unwrap() - start, 86_400_000);
        assert_eq!(when(start), "2026-11-29 00:00 UTC");
    }

    #[test]
    fn an_unknown_status_or_a_bad_date_is_explained() {
        let bad_status = ListQuery {
            status: "done".into(),
            ..Default::default()
        };
        assert_eq!(
            bad_status.filter().unwrap_err(),
            "There is no status called done."
        );
        let bad_day = ListQuery {
            to: "29/11/2026".into(),
            ..Default::default()
        };
        assert!(bad_day.filter().unwrap_err().contains("Submitted to"));
    }
}
