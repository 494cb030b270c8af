//! Signing in and out in the browser, and the home page.

use crate::web::Routes;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_domain::glance::DayCount;
use serde::Deserialize;

use askama::Template;
use portal_store::tenant::TenantRow;

use super::register::RegistrationForm;
use portal_store::credential::Activity;

use super::{Nav, PageUser, failure, render, session_cookie};
use crate::service::auth::{self, LoginError};
use crate::service::second_factor::Proof;
use crate::service::{parameters, tenant};
use crate::web::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_form).post(sign_in))
        .route("/sign-out", post(sign_out))
}

#[derive(Template)]
#[template(path = "pages/sign_in.html")]
struct SignInPage {
    nav: Nav,
    /// Single sign-on is offered.
    sso: bool,
    username: String,
    error: Option<String>,
    /// Why the sign-in page is shown instead of the page asked for.
    notice: Option<&'static str>,
    /// Where to go back to, and what was typed into the form sent when the session ended.
    back: Back,
}

/// The second step of a sign-in: the code of the account's second factor.
#[derive(Template)]
#[template(path = "pages/sign_in_code.html")]
struct SignInCodePage {
    nav: Nav,
    /// The secret of the waiting sign-in.
    challenge: String,
    /// The account has an authenticator app (a code field), passkeys (a button).
    totp: bool,
    recovery: bool,
    passkeys: bool,
    error: Option<&'static str>,
    back: Back,
}

pub(super) fn code_form(
    status: StatusCode,
    waiting: &auth::Waiting,
    error: Option<&'static str>,
    back: Back,
) -> Response {
    render(
        status,
        &SignInCodePage {
            nav: Nav::signed_out(),
            challenge: waiting.secret.clone(),
            totp: waiting.totp,
            recovery: waiting.recovery,
            passkeys: waiting.passkeys,
            error,
            back,
        },
    )
}

/// The second step's page again, after a refused code; the sign-in page once it is over.
async fn code_form_again(
    state: &AppState,
    challenge: &str,
    status: StatusCode,
    error: &'static str,
    back: Back,
) -> Response {
    match auth::waiting(&state.services, challenge).await {
        Ok(Some(waiting)) => code_form(status, &waiting, Some(error), back),
        Ok(None) => over(back),
        Err(_) => super::unavailable(),
    }
}

/// The sign-in page after a waiting sign-in ended.
fn over(back: Back) -> Response {
    form_with(
        StatusCode::UNAUTHORIZED,
        "",
        Some("This sign-in took too long or had too many wrong codes: sign in again."),
        None,
        back,
    )
}

/// Whether the sign-in page offers single sign-on: set once, when the router is built from the
/// settings (a process serves one portal).
pub static SSO_OFFERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// What the sign-in page carries through to the page it returns to.
#[derive(Default)]
pub struct Back {
    /// A local path.
    pub next: String,
    /// The fields of a registration form sent after the session ended (never its passwords).
    pub resume: Vec<(&'static str, String)>,
}

fn form(status: StatusCode, username: &str, error: Option<&str>) -> Response {
    form_with(status, username, error, None, Back::default())
}

fn form_with(
    status: StatusCode,
    username: &str,
    error: Option<&str>,
    notice: Option<&'static str>,
    back: Back,
) -> Response {
    render(
        status,
        &SignInPage {
            nav: Nav::signed_out(),
            sso: SSO_OFFERED.get().copied().unwrap_or(false),
            username: username.to_owned(),
            error: error.map(str::to_owned),
            notice,
            back,
        },
    )
}

/// What the sign-in page says when a session ended under a page or a form.
const SESSION_ENDED: &str = "Your session ended; sign in to continue.";

/// The sign-in page in place of a form sent after the session ended: signing in brings the
/// person back to the form with what they typed.
pub fn session_ended(back: Back) -> Response {
    form_with(
        StatusCode::UNAUTHORIZED,
        "",
        None,
        Some(SESSION_ENDED),
        back,
    )
}

/// Why a sign-in was refused. A name without `@` may be a tenant user's bare user name: the
/// shape of a login ID is said whoever typed it, so nothing tells whether the name exists.
fn wrong_credentials(username: &str) -> &'static str {
    if username.contains('@') {
        "The user name or password is wrong."
    } else {
        "The user name or password is wrong. Tenant users sign in with their login ID: prp, \
         their user name, @ and the tenant's domain, such as prpkeAdmin@your-domain."
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NextQuery {
    next: String,
}

async fn sign_in_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<NextQuery>, QueryRejection>,
) -> Response {
    let next = query.map(|Query(q)| q.next).unwrap_or_default();
    let next = super::local_path(&next).unwrap_or_default().to_owned();
    // A session cookie this browser still sends, for a session that no longer works.
    let ended = match session_cookie(&state, &headers) {
        Some(session) => matches!(
            auth::session_actor(&state.services, &session, Activity::Person).await,
            Ok(None)
        ),
        None => false,
    };
    let notice = if ended {
        Some(SESSION_ENDED)
    } else if !next.is_empty() {
        Some("Sign in to continue.")
    } else {
        None
    };
    let back = Back {
        next,
        resume: Vec::new(),
    };
    form_with(StatusCode::OK, "", None, notice, back)
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct SignInForm {
    username: String,
    password: String,
    /// The second step: the secret of the waiting sign-in, and the code typed.
    challenge: String,
    code: String,
    /// The local path to go back to.
    next: String,
    /// A registration form sent after the session ended, carried through sign-in.
    #[serde(flatten)]
    resumed: RegistrationForm,
}

/// The cookie that says a browser signed in to an account before.
pub(super) const DEVICE_COOKIE: &str = "portal_device";

/// A year long: a browser that signed in is known for a year.
fn device_cookie(state: &AppState, value: &str) -> HeaderValue {
    let secure = if state.https() { "; Secure" } else { "" };
    let text = format!(
        "{DEVICE_COOKIE}={value}; Path=/sign-in; HttpOnly; SameSite=Lax; Max-Age=31536000{secure}"
    );
    HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("portal_device=; Max-Age=0"))
}

/// The session cookie, for at most the session's absolute lifetime (`max_age_secs`); over
/// https `Secure` and with the `__Host-` prefix.
fn cookie(state: &AppState, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.https() { "; Secure" } else { "" };
    let name = super::session_cookie_name(state);
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}");
    // Made of a fixed name, hex and digits: always a valid header value.
    HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("portal_session=; Max-Age=0"))
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    input: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let Ok(Form(mut input)) = input else {
        return form(
            StatusCode::BAD_REQUEST,
            "",
            Some("The form could not be read; try again."),
        );
    };
    // Any session this browser had ends: a sign-in always gets a new id.
    if let Some(old) = session_cookie(&state, &headers) {
        let _ = auth::end_session(&state.services, &old).await;
    }
    let password = std::mem::take(&mut input.password);
    let next = super::local_path(&input.next).unwrap_or("/").to_owned();
    let back = || Back {
        next: next.clone(),
        resume: input.resumed.resumable(),
    };
    let device = super::named_cookie(&headers, DEVICE_COOKIE);
    if !input.challenge.is_empty() {
        return second_step(&state, &input, device.as_deref(), &next, back()).await;
    }
    match auth::start_session(
        &state.services,
        &input.username,
        password,
        device.as_deref(),
    )
    .await
    {
        Ok(signed_in) => welcome(&state, signed_in, &next, &input.resumed).await,
        Err(LoginError::SecondFactorRequired {
            challenge: Some(challenge),
        }) => code_form(StatusCode::OK, &challenge, None, back()),
        Err(refused) => first_step_refused(refused, &input.username, back()),
    }
}

/// The sign-in page again after a refused password step.
fn first_step_refused(refused: LoginError, username: &str, back: Back) -> Response {
    match refused {
        LoginError::InvalidCredentials => form_with(
            StatusCode::UNAUTHORIZED,
            username,
            Some(wrong_credentials(username)),
            None,
            back,
        ),
        LoginError::Throttled { retry_after_secs } => throttled(username, retry_after_secs, back),
        LoginError::TenantShut(status) => form_with(
            StatusCode::FORBIDDEN,
            username,
            Some(if status == portal_domain::TenantStatus::Suspended {
                "Your tenant is suspended: nobody can sign in to it until your provider resumes it."
            } else {
                "Your tenant is closed: nobody can sign in to it any more."
            }),
            None,
            back,
        ),
        LoginError::Service(_) => form_with(
            StatusCode::SERVICE_UNAVAILABLE,
            username,
            Some("The portal is busy; try again in a moment."),
            None,
            back,
        ),
        // A browser's sign-in always gets its waiting sign-in; a code is asked for next.
        LoginError::SecondFactorRequired { .. }
        | LoginError::SecondFactorWrong
        | LoginError::ChallengeOver => form_with(
            StatusCode::UNAUTHORIZED,
            username,
            Some("This sign-in could not go on: sign in again."),
            None,
            back,
        ),
    }
}

/// The second step of a sign-in: the code typed for a waiting sign-in.
async fn second_step(
    state: &AppState,
    input: &SignInForm,
    device: Option<&str>,
    next: &str,
    back: Back,
) -> Response {
    let proof = Proof::typed(&input.code.chars().take(64).collect::<String>());
    let challenge = input.challenge.chars().take(128).collect::<String>();
    match auth::finish_session(&state.services, &challenge, &proof, device).await {
        Ok(signed_in) => welcome(state, signed_in, next, &input.resumed).await,
        Err(LoginError::SecondFactorWrong) => {
            let error = "The code is wrong or was used already. Type the six digits your app \
                         shows now, or an unused recovery code.";
            code_form_again(state, &challenge, StatusCode::UNAUTHORIZED, error, back).await
        }
        Err(LoginError::Throttled { retry_after_secs }) => throttled("", retry_after_secs, back),
        Err(LoginError::Service(_)) => super::unavailable(),
        Err(_) => over(back),
    }
}

/// Where a browser that signed in goes (the page it asked for, or the registration form it
/// was filling), with its session cookie and, for a browser new to the account, its device
/// cookie.
async fn welcome(
    state: &AppState,
    signed_in: auth::BrowserSignIn,
    next: &str,
    resumed: &RegistrationForm,
) -> Response {
    let mut response = if next == "/register" && resumed.was_typed() {
        super::register::resumed(state, &signed_in.actor, resumed).await
    } else {
        Redirect::to(next).into_response()
    };
    set_sign_in_cookies(state, &signed_in, &mut response);
    response
}

/// Sets a finished sign-in's session cookie and, for a browser new to the account, its device
/// cookie.
pub(super) fn set_sign_in_cookies(
    state: &AppState,
    signed_in: &auth::BrowserSignIn,
    response: &mut Response,
) {
    response.headers_mut().insert(
        SET_COOKIE,
        cookie(state, &signed_in.session, signed_in.max_age_secs),
    );
    if let Some(device) = &signed_in.new_device {
        response
            .headers_mut()
            .append(SET_COOKIE, device_cookie(state, device));
    }
}

/// The sign-in page of a locked account or address, with how long to wait.
fn throttled(username: &str, retry_after_secs: u64, back: Back) -> Response {
    let minutes = retry_after_secs.div_ceil(60);
    let mut page = form_with(
        StatusCode::TOO_MANY_REQUESTS,
        username,
        Some(&format!(
            "Too many failed sign-ins for this account or from this address. Try again in {} {}.",
            if retry_after_secs < 60 {
                retry_after_secs
            } else {
                minutes
            },
            if retry_after_secs < 60 {
                "seconds"
            } else {
                "minutes"
            }
        )),
        None,
        back,
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after_secs.to_string()) {
        page.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v);
    }
    page
}

async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(session) = session_cookie(&state, &headers) {
        match auth::session_actor(&state.services, &session, Activity::Person).await {
            Ok(Some(actor)) => {
                let _ = auth::sign_out(&state.services, &actor).await;
            }
            _ => {
                let _ = auth::end_session(&state.services, &session).await;
            }
        }
    }
    let mut response = Redirect::to("/sign-in").into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie(&state, "", 0));
    response
}

#[derive(Template)]
#[template(path = "pages/home.html")]
struct HomePage {
    nav: Nav,
    tenant: Option<TenantRow>,
    /// The published Callback Folder email address; empty while not set.
    callback_folder_email: String,
    /// The tenant's template has Smart Queues, whose parameters are set after provisioning.
    smart_queues: bool,
}

/// The provider's staff's home is their dashboard; a tenant's users see their tenant.
async fn home(State(state): State<AppState>, PageUser(actor): PageUser) -> Response {
    if actor.is_landlord() {
        return super::dashboard::dashboard(&state, &actor, DayCount::default(), "/dashboard")
            .await;
    }
    let mut page = HomePage {
        nav: Nav::for_actor(&actor, "/"),
        tenant: None,
        callback_folder_email: String::new(),
        smart_queues: false,
    };
    if let Some(id) = &actor.tenant_id {
        match tenant::get_tenant(&state.services, &actor, id).await {
            Ok(t) => page.tenant = Some(t),
            Err(e) => return failure(&e, Some(&actor)),
        }
        let template_id = page.tenant.as_ref().map(|t| t.template_id.clone());
        if let Some(template_id) = template_id {
            page.smart_queues = match state.services.store.get_template(&template_id).await {
                Ok(template) => template.offers(crate::service::provision::SMART_QUEUES),
                Err(e) => return failure(&e.into(), Some(&actor)),
            };
        }
        match parameters::get(&state.services, &actor, id).await {
            Ok(s) => {
                page.callback_folder_email =
                    serde_json::from_str::<serde_json::Value>(&s.published.parameters)
                        .ok()
                        .and_then(|v| v["callback_folder_email"].as_str().map(str::to_owned))
                        .unwrap_or_default();
            }
            Err(e) => return failure(&e, Some(&actor)),
        }
    }
    render(StatusCode::OK, &page)
}
