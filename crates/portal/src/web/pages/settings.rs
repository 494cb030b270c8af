//! The provisioning policy (provision at once, or in the provider's off-peak window), the
//! self-service policy, and the retention policy of closed tenants.

use crate::web::Routes;
use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use portal_domain::Permission;
use serde::Deserialize;

use super::{Landlord, Nav, bad_form, failure, render, when};
use portal_domain::schedule::PolicyProblem;

use crate::service::policy::{self, OffPeakDoc, PolicyDoc};
use crate::service::registration::{self, SelfServiceDoc};
use crate::service::retention::{self, RetentionDoc};
use crate::service::{Actor, ServiceError};
use crate::web::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/settings", get(show_policy).post(save_policy))
        .route(
            "/settings/self-service",
            get(show_self_service).post(save_self_service),
        )
        .route(
            "/settings/retention",
            get(show_retention).post(save_retention),
        )
}

/// The form's fields; a page field's problem names it by its id.
const LABELS: [(&str, &str); 5] = [
    ("mode", "Mode"),
    ("off_peak.start", "Window opens"),
    ("off_peak.end", "Window closes"),
    ("off_peak.time_zone", "Time zone"),
    ("off_peak.max_per_window", "Most requests per window"),
];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PolicyForm {
    mode: String,
    start: String,
    end: String,
    time_zone: String,
    max_per_window: String,
}

#[derive(Template)]
#[template(path = "pages/settings.html")]
struct SettingsPage {
    nav: Nav,
    form: PolicyForm,
    /// (input id, label, message)
    errors: Vec<(&'static str, &'static str, String)>,
    saved: bool,
    next_start: String,
}

impl SettingsPage {
    fn error_for(&self, id: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(i, _, _)| *i == id)
            .map(|(_, _, m)| m.as_str())
    }
}

fn input_id(field: &str) -> &'static str {
    match field {
        "off_peak.start" => "start",
        "off_peak.end" => "end",
        "off_peak.time_zone" => "time_zone",
        "off_peak.max_per_window" => "max_per_window",
        _ => "mode",
    }
}

/// The page's words for a policy message written for the API.
fn for_people(message: &str) -> String {
    let mut text = message.to_owned();
    for (field, label) in LABELS {
        text = text.replace(field, label);
    }
    text.replace("null", "empty")
}

fn form_of(doc: &PolicyDoc) -> PolicyForm {
    let off = doc.off_peak.clone().unwrap_or_else(|| OffPeakDoc {
        start: String::new(),
        end: String::new(),
        time_zone: "UTC".into(),
        max_per_window: None,
    });
    PolicyForm {
        mode: doc.mode.clone(),
        start: off.start,
        end: off.end,
        time_zone: off.time_zone,
        max_per_window: off
            .max_per_window
            .map(|n| n.to_string())
            .unwrap_or_default(),
    }
}

async fn next_start(state: &AppState, doc: &PolicyDoc) -> Result<String, ServiceError> {
    if doc.mode != "off_peak" {
        return Ok(String::new());
    }
    let placement = policy::place(&state.services, portal_store::now_ms()).await?;
    Ok(match placement.scheduled_for {
        Some(at) => format!("A request accepted now starts at {}.", when(at)),
        None => "The off-peak window is open: a request accepted now starts at once.".into(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SavedQuery {
    saved: String,
}

async fn show_policy(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    query: Result<Query<SavedQuery>, QueryRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeSettings) {
        return page;
    }
    let doc = match policy::get_policy(&state.services, &actor).await {
        Ok(doc) => doc,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let next = match next_start(&state, &doc).await {
        Ok(n) => n,
        Err(e) => return failure(&e, Some(&actor)),
    };
    render(
        StatusCode::OK,
        &SettingsPage {
            nav: Nav::for_actor(&actor, "/settings"),
            form: form_of(&doc),
            errors: Vec::new(),
            saved: query.is_ok_and(|Query(q)| q.saved == "1"),
            next_start: next,
        },
    )
}

/// The cap typed for a window: none when empty, or the problem with what was typed.
fn window_cap(cap: &str) -> (Option<i64>, Option<(&'static str, &'static str, String)>) {
    if cap.is_empty() {
        return (None, None);
    }
    match cap.parse::<i64>() {
        Ok(n) => (Some(n), None),
        Err(_) => (
            None,
            Some((
                "max_per_window",
                "Most requests per window",
                "Most requests per window must be a whole number, or empty for no limit."
                    .to_owned(),
            )),
        ),
    }
}

async fn save_policy(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    form: Result<Form<PolicyForm>, FormRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeSettings) {
        return page;
    }
    let Ok(Form(form)) = form else {
        return bad_form(Some(&actor));
    };
    let cap = form.max_per_window.trim();
    let (max_per_window, cap_problem) = window_cap(cap);
    let mode = form.mode.trim().to_owned();
    // "Immediately" with the window left empty keeps no window.
    let no_window = form.start.trim().is_empty() && form.end.trim().is_empty() && cap.is_empty();
    let doc = PolicyDoc {
        off_peak: (mode != "immediate" || !no_window).then(|| OffPeakDoc {
            start: form.start.trim().to_owned(),
            end: form.end.trim().to_owned(),
            time_zone: form.time_zone.trim().to_owned(),
            max_per_window,
        }),
        mode,
    };
    let problems = match cap_problem {
        // Nothing is saved; the other fields are checked too, so every problem shows at once.
        Some(cap) => {
            let mut all: Vec<_> = doc
                .check()
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(place)
                .collect();
            all.push(cap);
            all
        }
        None => match policy::put_policy(&state.services, &actor, doc).await {
            Ok(Ok(_)) => return Redirect::to("/settings?saved=1").into_response(),
            Ok(Err(problems)) => problems.into_iter().map(place).collect(),
            Err(e) => return failure(&e, Some(&actor)),
        },
    };
    invalid(&actor, form, problems)
}

/// A policy problem placed on the form: (input id, label, message for people).
fn place(p: PolicyProblem) -> (&'static str, &'static str, String) {
    let label = LABELS
        .iter()
        .find(|(f, _)| *f == p.field)
        .map_or("Mode", |(_, l)| *l);
    (input_id(p.field), label, for_people(&p.message))
}

fn invalid(
    actor: &Actor,
    form: PolicyForm,
    errors: Vec<(&'static str, &'static str, String)>,
) -> Response {
    render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &SettingsPage {
            nav: Nav::for_actor(actor, "/settings"),
            form,
            errors,
            saved: false,
            next_start: String::new(),
        },
    )
}

/// The policy as the form gives it.
fn self_service_doc(form: &SelfServiceForm, hours: i64) -> SelfServiceDoc {
    SelfServiceDoc {
        approval: form.approval.trim().to_owned(),
        verification_hours: hours,
        refused_email_domains: form
            .refused_email_domains
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        // Left out (an older page): kept as it is.
        domain_verification: form.domain_verification.trim().to_owned(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SelfServiceForm {
    approval: String,
    verification_hours: String,
    /// One domain per line.
    refused_email_domains: String,
    /// `off` or `required`; a form without it (an older page) keeps it off.
    domain_verification: String,
}

#[derive(Template)]
#[template(path = "pages/self_service.html")]
struct SelfServicePage {
    nav: Nav,
    form: SelfServiceForm,
    /// (input id, message)
    errors: Vec<(&'static str, String)>,
    saved: bool,
}

impl SelfServicePage {
    fn error_for(&self, id: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, m)| m.as_str())
    }
}

fn self_service_page(
    actor: &Actor,
    status: StatusCode,
    form: SelfServiceForm,
    errors: Vec<(&'static str, String)>,
    saved: bool,
) -> Response {
    render(
        status,
        &SelfServicePage {
            nav: Nav::for_actor(actor, "/settings"),
            form,
            errors,
            saved,
        },
    )
}

async fn show_self_service(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    query: Result<Query<SavedQuery>, QueryRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeSettings) {
        return page;
    }
    let doc = match registration::get_policy(&state.services).await {
        Ok(doc) => doc,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let form = SelfServiceForm {
        approval: doc.approval,
        verification_hours: doc.verification_hours.to_string(),
        refused_email_domains: doc.refused_email_domains.join("\n"),
        domain_verification: doc.domain_verification,
    };
    let saved = query.is_ok_and(|Query(q)| q.saved == "1");
    self_service_page(&actor, StatusCode::OK, form, Vec::new(), saved)
}

async fn save_self_service(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    form: Result<Form<SelfServiceForm>, FormRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeSettings) {
        return page;
    }
    let Ok(Form(form)) = form else {
        return bad_form(Some(&actor));
    };
    let Ok(hours) = form.verification_hours.trim().parse::<i64>() else {
        let message = "Hours a confirmation link works must be a whole number from 1 to 168.";
        let errors = vec![("verification_hours", message.to_owned())];
        return self_service_page(
            &actor,
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
            errors,
            false,
        );
    };
    let doc = self_service_doc(&form, hours);
    match registration::put_policy(&state.services, &actor, doc).await {
        Ok(Ok(_)) => Redirect::to("/settings/self-service?saved=1").into_response(),
        Ok(Err(problems)) => {
            let errors = problems
                .into_iter()
                .map(|p| {
                    let message = p
                        .message
                        .replace("verification_hours", "Hours a confirmation link works")
                        .replace(
                            "approval must",
                            "Choose what happens once the address is confirmed: it must",
                        );
                    (p.field, message)
                })
                .collect();
            self_service_page(
                &actor,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                errors,
                false,
            )
        }
        Err(e) => failure(&e, Some(&actor)),
    }
}

#[derive(Template)]
#[template(path = "pages/retention.html")]
struct RetentionPage {
    nav: Nav,
    fields: Vec<DaysInput>,
    /// The field at fault (its id) and what is wrong.
    error: Option<(&'static str, String)>,
    saved: bool,
}

/// One number of days on the retention page: its value as typed or stored, and its error.
struct DaysInput {
    id: &'static str,
    label: &'static str,
    value: String,
    error: Option<String>,
}

fn retention_page(
    actor: &Actor,
    form: RetentionForm,
    error: Option<(&'static str, String)>,
    saved: bool,
) -> Response {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let input = |id: &'static str, label: &'static str, value: String| DaysInput {
        id,
        label,
        value,
        error: error
            .as_ref()
            .filter(|(field, _)| *field == id)
            .map(|(_, e)| e.clone()),
    };
    let fields = vec![
        input("closed_tenant_days", CLOSED_LABEL, form.closed_tenant_days),
        input(
            "self_service_contact_days",
            CONTACT_LABEL,
            form.self_service_contact_days,
        ),
    ];
    render(
        status,
        &RetentionPage {
            nav: Nav::for_actor(actor, "/settings"),
            fields,
            error,
            saved,
        },
    )
}

async fn show_retention(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    query: Result<Query<SavedQuery>, QueryRejection>,
) -> Response {
    match retention::read(&state.services, &actor).await {
        Ok(doc) => {
            let saved = query.is_ok_and(|Query(q)| q.saved == "1");
            let form = RetentionForm {
                closed_tenant_days: doc.closed_tenant_days.to_string(),
                self_service_contact_days: doc.contact_days().to_string(),
            };
            retention_page(&actor, form, None, saved)
        }
        Err(e) => failure(&e, Some(&actor)),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RetentionForm {
    closed_tenant_days: String,
    self_service_contact_days: String,
}

const CLOSED_LABEL: &str = "Days a closed tenant's data is kept";
const CONTACT_LABEL: &str = "Days a closed self-service request's contact details are kept";

/// A whole number of days from 1 to `max`, or the sentence that says what it must be.
fn days_field(
    typed: &str,
    field: &'static str,
    label: &str,
    max: i64,
) -> Result<i64, (&'static str, String)> {
    typed
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|days| (1..=max).contains(days))
        .ok_or_else(|| {
            (
                field,
                format!("{label} must be a whole number from 1 to {max}."),
            )
        })
}

async fn save_retention(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    form: Result<Form<RetentionForm>, FormRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeSettings) {
        return page;
    }
    let Ok(Form(form)) = form else {
        return bad_form(Some(&actor));
    };
    let checked = days_field(
        &form.closed_tenant_days,
        "closed_tenant_days",
        CLOSED_LABEL,
        retention::MAX_CLOSED_TENANT_DAYS,
    )
    .and_then(|closed| {
        let contact = days_field(
            &form.self_service_contact_days,
            "self_service_contact_days",
            CONTACT_LABEL,
            retention::MAX_CONTACT_DAYS,
        )?;
        Ok(RetentionDoc {
            closed_tenant_days: closed,
            self_service_contact_days: Some(contact),
        })
    });
    let doc = match checked {
        Ok(doc) => doc,
        Err(error) => return retention_page(&actor, form, Some(error), false),
    };
    match retention::put(&state.services, &actor, doc).await {
        Ok(Ok(_)) => Redirect::to("/settings/retention?saved=1").into_response(),
        Ok(Err(problem)) => retention_page(&actor, form, Some(problem), false),
        Err(e) => failure(&e, Some(&actor)),
    }
}
