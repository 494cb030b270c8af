//! Two-step sign-in on your own account: setting up an authenticator app with its QR code,
//! confirming it, recovery codes, removing it. Open to a user who must set one up before
//! anything else (every other page sends them here).

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{AnyPageUser, Nav, failure, render};
use crate::service::Actor;
use crate::service::account::{AccountConflict, AccountError};
use crate::service::second_factor::{self, FactorStatus};
use crate::web::{AppState, Routes};

/// Where a user who must set up a second factor is sent.
pub const ENROL_FIRST: &str = "/account/two-factor";

pub fn router() -> Routes {
    Routes::new()
        .route(ENROL_FIRST, get(show))
        .route("/account/two-factor/totp", post(start))
        .route("/account/two-factor/totp/confirm", post(confirm))
        .route("/account/two-factor/totp/remove", post(remove))
        .route("/account/two-factor/recovery-codes", post(renew))
}

/// A passkey as a row of the page.
struct PasskeyLine {
    id: String,
    name: String,
    created: String,
    last_used: String,
}

/// An enrolment waiting for its first code, as the page shows it.
struct Pending {
    secret: String,
    qr_svg: String,
}

#[derive(Template)]
#[template(path = "pages/two_factor.html")]
struct TwoFactorPage {
    nav: Nav,
    status: FactorStatus,
    required: bool,
    pending: Option<Pending>,
    notice: Option<&'static str>,
    errors: Vec<(&'static str, String)>,
    /// Codes just made: shown this once.
    recovery_codes: Vec<String>,
    passkeys: Vec<PasskeyLine>,
    /// Passkeys work at the portal's public address.
    passkeys_available: bool,
}

impl TwoFactorPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
}

/// What the page says besides the state of the factors.
#[derive(Default)]
struct Outcome {
    notice: Option<&'static str>,
    errors: Vec<(&'static str, String)>,
    recovery_codes: Vec<String>,
}

async fn page(state: &AppState, actor: &Actor, status: StatusCode, outcome: Outcome) -> Response {
    let services = &state.services;
    let factors = match second_factor::status(services, actor).await {
        Ok(f) => f,
        Err(e) => return failure(&e, Some(actor)),
    };
    let pending = match second_factor::pending_totp(services, actor).await {
        Ok(Some(enrolment)) => match enrolment.qr_svg() {
            Ok(qr_svg) => Some(Pending {
                secret: enrolment.secret,
                qr_svg,
            }),
            Err(e) => return failure(&e, Some(actor)),
        },
        Ok(None) => None,
        Err(e) => return failure(&e, Some(actor)),
    };
    let passkeys = match crate::service::passkey::list(services, actor).await {
        Ok(rows) => rows
            .into_iter()
            .map(|p| PasskeyLine {
                id: p.id,
                name: p.name,
                created: super::when(p.created_at),
                last_used: p
                    .last_used_at
                    .map(super::when)
                    .unwrap_or_else(|| "never".to_owned()),
            })
            .collect(),
        Err(e) => return failure(&e, Some(actor)),
    };
    let page = TwoFactorPage {
        passkeys,
        passkeys_available: crate::service::passkey::available(services),
        nav: Nav::for_actor(actor, "/account"),
        required: factors.required,
        status: factors,
        pending,
        notice: outcome.notice,
        errors: outcome.errors,
        recovery_codes: outcome.recovery_codes,
    };
    let mut response = render(status, &page);
    // The page may carry a key or recovery codes: never kept by a cache.
    response.headers_mut().insert(
        CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DoneQuery {
    done: String,
}

async fn show(
    State(state): State<AppState>,
    AnyPageUser(actor): AnyPageUser,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    let done = query.map(|Query(q)| q.done).unwrap_or_default();
    let notice = match done.as_str() {
        "removed" => Some("The authenticator app was removed."),
        "passkey-added" => Some("The passkey was added: you can sign in with it."),
        "passkey-renamed" => Some("The passkey was renamed."),
        "passkey-name-refused" => {
            Some("Not renamed: give the passkey a name of 1 to 60 characters.")
        }
        "passkey-removed" => Some("The passkey was removed."),
        "passkey-last" => {
            Some("Not removed: your role requires a second factor and this passkey is your last.")
        }
        _ => None,
    };
    let outcome = Outcome {
        notice,
        ..Outcome::default()
    };
    page(&state, &actor, StatusCode::OK, outcome).await
}

/// The page after a refused change: the fields at fault, or a conflict in words.
async fn refused(
    state: &AppState,
    actor: &Actor,
    e: AccountError,
    field: &'static str,
) -> Response {
    let (status, message) = match e {
        AccountError::Invalid(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            problems
                .into_iter()
                .next()
                .map(|p| p.error.message)
                .unwrap_or_default(),
        ),
        AccountError::Conflict(c) => (
            StatusCode::CONFLICT,
            match c {
                AccountConflict::TotpExists => "An authenticator app is set up already.",
                AccountConflict::LastSecondFactor => {
                    "Your role requires two-step sign-in: this app is your last second factor."
                }
                _ => "No authenticator app is being set up: start again.",
            }
            .to_owned(),
        ),
        AccountError::Throttled { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many wrong passwords: try again in {} minutes.",
                retry_after_secs.div_ceil(60)
            ),
        ),
        AccountError::Link(_) => (StatusCode::CONFLICT, "Start again.".to_owned()),
        AccountError::Service(e) => return failure(&e, Some(actor)),
    };
    let outcome = Outcome {
        errors: vec![(field, message)],
        ..Outcome::default()
    };
    page(state, actor, status, outcome).await
}

async fn start(State(state): State<AppState>, AnyPageUser(actor): AnyPageUser) -> Response {
    match second_factor::start_totp(&state.services, &actor).await {
        Ok(_) => Redirect::to(ENROL_FIRST).into_response(),
        Err(e) => refused(&state, &actor, e, "code").await,
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct CodeForm {
    code: String,
}

async fn confirm(
    State(state): State<AppState>,
    AnyPageUser(actor): AnyPageUser,
    form: Result<Form<CodeForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return super::bad_form(Some(&actor));
    };
    let code: String = form.code.chars().take(16).collect();
    match second_factor::confirm_totp(&state.services, &actor, &code).await {
        Ok(recovery_codes) => {
            let outcome = Outcome {
                notice: Some(
                    "Two-step sign-in is on: from now on, signing in asks for a code from your app.",
                ),
                recovery_codes,
                ..Outcome::default()
            };
            page(&state, &actor, StatusCode::OK, outcome).await
        }
        Err(e) => refused(&state, &actor, e, "code").await,
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct PasswordForm {
    password: String,
}

fn password_of(form: Result<Form<PasswordForm>, FormRejection>) -> Option<String> {
    let Ok(Form(form)) = form else {
        return None;
    };
    (form.password.len() <= 1024).then_some(form.password)
}

async fn remove(
    State(state): State<AppState>,
    AnyPageUser(actor): AnyPageUser,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let Some(password) = password_of(form) else {
        return super::bad_form(Some(&actor));
    };
    match second_factor::remove_totp(&state.services, &actor, password).await {
        Ok(()) => Redirect::to("/account/two-factor?done=removed").into_response(),
        Err(e) => refused(&state, &actor, e, "remove_password").await,
    }
}

async fn renew(
    State(state): State<AppState>,
    AnyPageUser(actor): AnyPageUser,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let Some(password) = password_of(form) else {
        return super::bad_form(Some(&actor));
    };
    match second_factor::renew_recovery_codes(&state.services, &actor, password).await {
        Ok(recovery_codes) => {
            let outcome = Outcome {
                notice: Some("Your old recovery codes no longer work."),
                recovery_codes,
                ..Outcome::default()
            };
            page(&state, &actor, StatusCode::OK, outcome).await
        }
        Err(e) => refused(&state, &actor, e, "renew_password").await,
    }
}
