//! Staff single sign-on in the browser: `/auth/oidc/start` sends the person to the identity
//! provider, `/auth/oidc/callback` takes them back, signed in (or asked for their second
//! factor), or told plainly why not.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::session::{Back, DEVICE_COOKIE, code_form, set_sign_in_cookies};
use super::{message, not_found};
use crate::service::auth::{self, LoginError};
use crate::service::oidc::{self, OidcError};
use crate::web::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route("/auth/oidc/start", get(start))
        .route("/auth/oidc/callback", get(callback))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StartQuery {
    next: String,
}

async fn start(
    State(state): State<AppState>,
    query: Result<Query<StartQuery>, QueryRejection>,
) -> Response {
    let next = query.map(|Query(q)| q.next).unwrap_or_default();
    let next = super::local_path(&next).unwrap_or("/").to_owned();
    match oidc::start(&state.services, &next).await {
        Ok((url, sign_in)) => {
            let mut response = Redirect::to(&url).into_response();
            response
                .headers_mut()
                .insert(SET_COOKIE, state_cookie(&state, &sign_in, 600));
            response
        }
        Err(e) => refused(e),
    }
}

/// The cookie that ties a sign-in at the provider to the browser that started it: an answer
/// brought by another browser (a link someone was sent) signs nobody in.
const STATE_COOKIE: &str = "portal_oidc_state";

fn state_cookie(state: &AppState, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.https() { "; Secure" } else { "" };
    let text = format!(
        "{STATE_COOKIE}={value}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("portal_oidc_state=; Max-Age=0"))
}

/// The provider's answer: a code and our `state`, or an error.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CallbackQuery {
    code: String,
    state: String,
    error: String,
}

/// The page for a single sign-on that signed nobody in.
fn refused(e: OidcError) -> Response {
    let again = Some(("/sign-in", "Back to sign in"));
    let (status, title, text) = match e {
        OidcError::NotConfigured => return not_found(None),
        OidcError::Unavailable(cause) => {
            tracing::warn!(%cause, "the identity provider cannot be used");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "Single sign-on is unavailable",
                "The identity provider cannot be reached or answered wrongly. Try again later, or sign in with a password.",
            )
        }
        OidcError::UnknownState => (
            StatusCode::BAD_REQUEST,
            "Start again",
            "This sign-in is unknown, took too long or was used already. Start again from the sign-in page.",
        ),
        OidcError::ProviderRefused(_) => (
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "The identity provider did not sign you in.",
        ),
        OidcError::NotVerified(_) => (
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "The identity provider's answer could not be verified, so nobody was signed in. Start again; if it happens again, tell your administrator.",
        ),
        OidcError::NoRole => (
            StatusCode::FORBIDDEN,
            "No access to the portal",
            "Your company account is in no group that gives a role in the portal. Ask your administrator to add you to one.",
        ),
        OidcError::Disabled => (
            StatusCode::FORBIDDEN,
            "No access to the portal",
            "Your account in the portal is disabled. Ask a landlord administrator.",
        ),
        OidcError::Taken => (
            StatusCode::CONFLICT,
            "An account exists already",
            "An account with your address or user name was made in the portal before. Ask a landlord administrator.",
        ),
        OidcError::LastLandlordAdmin => (
            StatusCode::CONFLICT,
            "Not signed in",
            "Your groups no longer make you a landlord administrator, and you are the last one. Ask for another to be made first.",
        ),
        OidcError::Service(e) => {
            return super::failure(&e, None);
        }
    };
    message(status, None, title, text, again)
}

async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(answer)) = query else {
        return refused(OidcError::UnknownState);
    };
    if !answer.error.is_empty() {
        // The sign-in it answers is over either way.
        let _ = oidc::finish(&state.services, "", &answer.state).await;
        return refused(OidcError::ProviderRefused(answer.error));
    }
    if answer.code.is_empty() || answer.state.is_empty() || answer.state.len() > 512 {
        return refused(OidcError::UnknownState);
    }
    let started_here = super::named_cookie(&headers, STATE_COOKIE);
    if started_here.as_deref() != Some(answer.state.as_str()) {
        return refused(OidcError::UnknownState);
    }
    let mut response = match oidc::finish(&state.services, &answer.code, &answer.state).await {
        Ok((user, next)) => signed_in(&state, &headers, user, next).await,
        Err(e) => refused(e),
    };
    response
        .headers_mut()
        .append(SET_COOKIE, state_cookie(&state, "", 0));
    response
}

/// The answer to a verified single sign-on: signed in, or asked for the second factor.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    user: portal_store::user::UserRow,
    next: String,
) -> Response {
    let device = super::named_cookie(headers, DEVICE_COOKIE);
    let back = Back {
        next: next.clone(),
        resume: Vec::new(),
    };
    match auth::start_sso_session(&state.services, user, device.as_deref()).await {
        Ok(signed_in) => {
            let mut response = Redirect::to(&next).into_response();
            set_sign_in_cookies(state, &signed_in, &mut response);
            response
        }
        Err(LoginError::SecondFactorRequired {
            challenge: Some(waiting),
        }) => code_form(StatusCode::OK, &waiting, None, back),
        Err(LoginError::Service(e)) => super::failure(&e, None),
        Err(_) => refused(OidcError::Disabled),
    }
}
