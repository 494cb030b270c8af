//! The security policy page: which roles must use two-step sign-in, and session lifetimes.

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use portal_domain::{Permission, Role};
use serde::Deserialize;

use super::{Landlord, Nav, bad_form, failure, render};
use crate::service::Actor;
use crate::service::security::{self, SecurityDoc};
use crate::web::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new().route("/settings/security", get(show).post(save))
}

#[derive(Template)]
#[template(path = "pages/security.html")]
struct SecurityPage {
    nav: Nav,
    /// (role, its name, ticked)
    roles: Vec<(&'static str, &'static str, bool)>,
    idle: String,
    max: String,
    /// (input id, message)
    errors: Vec<(&'static str, String)>,
    saved: bool,
}

impl SecurityPage {
    fn error_for(&self, id: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, m)| m.as_str())
    }
}

/// The form as typed: ticked roles and the two numbers as text.
struct Typed {
    roles: Vec<String>,
    idle: String,
    max: String,
}

impl Typed {
    /// The form's fields as sent (a ticked role is one `mfa_required_for` field each).
    fn from_fields(fields: &[(String, String)]) -> Self {
        let value = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        Self {
            roles: fields
                .iter()
                .filter(|(k, _)| k == "mfa_required_for")
                .map(|(_, v)| v.clone())
                .collect(),
            idle: value("session_idle_minutes"),
            max: value("session_max_hours"),
        }
    }

    /// The policy typed, before its rules are checked; the numbers that are none, named.
    fn doc(&self) -> Result<SecurityDoc, Vec<(&'static str, String)>> {
        let idle = number(
            &self.idle,
            "session_idle_minutes",
            "Minutes a session lasts without use",
        );
        let max = number(
            &self.max,
            "session_max_hours",
            "Hours a session lasts at most",
        );
        match (idle, max) {
            (Ok(idle), Ok(max)) => Ok(SecurityDoc {
                mfa_required_for: self.roles.clone(),
                session_idle_minutes: idle,
                session_max_hours: max,
            }),
            (idle, max) => Err([idle.err(), max.err()].into_iter().flatten().collect()),
        }
    }
}

fn page(
    actor: &Actor,
    status: StatusCode,
    typed: Typed,
    errors: Vec<(&'static str, String)>,
    saved: bool,
) -> Response {
    let roles = Role::ALL
        .iter()
        .map(|r| {
            (
                r.as_str(),
                r.label(),
                typed.roles.iter().any(|t| t == r.as_str()),
            )
        })
        .collect();
    render(
        status,
        &SecurityPage {
            nav: Nav::for_actor(actor, "/settings"),
            roles,
            idle: typed.idle,
            max: typed.max,
            errors,
            saved,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SavedQuery {
    saved: String,
}

async fn show(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    query: Result<Query<SavedQuery>, QueryRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeSettings) {
        return page;
    }
    let doc = match security::get_policy(&state.services, &actor).await {
        Ok(doc) => doc,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let typed = Typed {
        roles: doc.mfa_required_for,
        idle: doc.session_idle_minutes.to_string(),
        max: doc.session_max_hours.to_string(),
    };
    let saved = query.is_ok_and(|Query(q)| q.saved == "1");
    page(&actor, StatusCode::OK, typed, Vec::new(), saved)
}

/// A number field, or its problem in words.
fn number(text: &str, id: &'static str, label: &str) -> Result<i64, (&'static str, String)> {
    text.trim()
        .parse::<i64>()
        .map_err(|_| (id, format!("{label} must be a whole number.")))
}

async fn save(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeSettings) {
        return page;
    }
    let Ok(Form(fields)) = form else {
        return bad_form(Some(&actor));
    };
    let typed = Typed::from_fields(&fields);
    let doc = match typed.doc() {
        Ok(doc) => doc,
        Err(errors) => {
            return page(
                &actor,
                StatusCode::UNPROCESSABLE_ENTITY,
                typed,
                errors,
                false,
            );
        }
    };
    match security::put_policy(&state.services, &actor, doc).await {
        Ok(Ok(_)) => Redirect::to("/settings/security?saved=1").into_response(),
        Ok(Err(problems)) => {
            let errors = problems
                .into_iter()
                .map(|p| {
                    let message = p
                        .message
                        .replace(
                            "session_idle_minutes",
                            "Minutes a session lasts without use",
                        )
                        .replace("session_max_hours", "hours a session lasts at most");
                    (p.field, message)
                })
                .collect();
            page(
                &actor,
                StatusCode::UNPROCESSABLE_ENTITY,
                typed,
                errors,
                false,
            )
        }
        Err(e) => failure(&e, Some(&actor)),
    }
}
