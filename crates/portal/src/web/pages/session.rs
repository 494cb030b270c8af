//! Signing in and out in the browser, and the home page.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::{PageUser, SESSION_COOKIE, escape, page, session_cookie};
use crate::service::auth::{self, LoginError, SESSION_ABSOLUTE_MS};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_form).post(sign_in))
        .route("/sign-out", post(sign_out))
}

fn form(username: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"sign-in-error\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default();
    format!(
        "<h1>Sign in</h1>{error}<form method=\"post\" action=\"/sign-in\">\
         <label for=\"username\">User name or login ID</label>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{}\">\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>",
        escape(username)
    )
}

async fn sign_in_form() -> Response {
    page(StatusCode::OK, "Sign in", None, &form("", None))
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

fn cookie(state: &AppState, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.services.mailer.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    );
    // Made of a fixed name, hex and digits: always a valid header value.
    HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("portal_session=; Max-Age=0"))
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(input): Form<SignInForm>,
) -> Response {
    // Any session this browser had ends: a sign-in always gets a new id.
    if let Some(old) = session_cookie(&headers) {
        let _ = auth::end_session(&state.services, &old).await;
    }
    match auth::start_session(&state.services, &input.username, input.password).await {
        Ok((session, _actor)) => {
            let mut response = Redirect::to("/").into_response();
            response.headers_mut().insert(
                SET_COOKIE,
                cookie(&state, &session, SESSION_ABSOLUTE_MS / 1000),
            );
            response
        }
        Err(LoginError::InvalidCredentials) => page(
            StatusCode::UNAUTHORIZED,
            "Sign in",
            None,
            &form(&input.username, Some("The user name or password is wrong.")),
        ),
        Err(LoginError::Service(_)) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign in",
            None,
            &form(
                &input.username,
                Some("The portal is busy; try again in a moment."),
            ),
        ),
    }
}

async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(session) = session_cookie(&headers) {
        let _ = auth::end_session(&state.services, &session).await;
    }
    let mut response = Redirect::to("/sign-in").into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie(&state, "", 0));
    response
}

async fn home(PageUser(actor): PageUser) -> Response {
    let body = if actor.is_landlord() {
        "<h1>Service provider</h1><ul><li><a href=\"/mail\">Mail sent by the portal</a></li></ul>"
            .to_owned()
    } else {
        "<h1>Your tenant</h1><p>Signed in as its administrator.</p>".to_owned()
    };
    page(StatusCode::OK, "Home", Some(&actor), &body)
}
