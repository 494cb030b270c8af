//! Your own account (password, sessions, personal API tokens), and the pages of the links
//! that set a password: an invitation, a reset.

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_store::credential::{AccountLinkPurpose, LinkRefusal, SignInRow, TokenRow};
use serde::Deserialize;

use super::{AnyPageUser, Nav, PageUser, failure, message, plausible_id, render, when};
use crate::service::account::{self, AccountError};
use crate::service::{Actor, auth};
use crate::web::{AppState, Routes};

/// Where a user whose password must be changed first is sent.
pub const CHANGE_FIRST: &str = "/account?done=change-required";

pub fn router() -> Routes {
    Routes::new()
        .route("/account", get(show))
        .route("/account/password", post(change_password))
        .route("/account/sessions/{id}/end", post(end_session))
        .route("/account/sessions/end-others", post(end_others))
        .route("/account/tokens", post(create_token))
        .route("/account/tokens/{id}/revoke", post(revoke_token))
        .route(
            "/invitation/{token}",
            get(invitation_form).post(accept_invitation),
        )
        .route(
            "/password-reset",
            get(reset_request_form).post(request_reset),
        )
        .route("/password-reset/{token}", get(reset_form).post(reset))
}

/// A session or token as a row of the page.
struct SignInLine {
    id: String,
    kind: &'static str,
    started: String,
    last_seen: String,
    client: String,
    browser: String,
    current: bool,
}

struct TokenLine {
    id: String,
    name: String,
    created: String,
    expires: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "pages/account.html")]
struct AccountPage {
    nav: Nav,
    username: String,
    email: String,
    role: &'static str,
    must_change: bool,
    notice: Option<&'static str>,
    errors: Vec<(&'static str, String)>,
    sign_ins: Vec<SignInLine>,
    tokens: Vec<TokenLine>,
    /// A token just made: shown this once.
    new_token: Option<(String, String)>,
    token_name: String,
    token_days: String,
    /// Whether an authenticator app is on.
    two_factor_on: bool,
    /// Whether this session passed a second factor (and so may make tokens).
    may_make_tokens: bool,
}

impl AccountPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.0 == field)
            .map(|e| e.1.as_str())
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DoneQuery {
    done: String,
}

fn notice_for(done: &str) -> Option<&'static str> {
    match done {
        // While the password must be changed, the form says so itself.
        "password" => Some("Your password is changed. Your other sessions and tokens have ended."),
        "ended" => Some("That session has ended."),
        "others" => Some("Every other session of yours has ended."),
        "revoked" => Some("The token is revoked: it no longer works."),
        _ => None,
    }
}

/// Shortens a user agent to what says which browser it was.
fn browser_of(agent: Option<&str>) -> String {
    let Some(agent) = agent else {
        return "unknown".to_owned();
    };
    for (needle, name) in [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python", "Python"),
    ] {
        if agent.contains(needle) {
            return name.to_owned();
        }
    }
    agent.chars().take(40).collect()
}

/// What the token form shows besides the list: a token just made (once), or what was typed
/// when it was refused.
enum TokenNote {
    Nothing,
    Made { name: String, token: String },
    Refused { name: String, days: String },
}

impl From<(SignInRow, bool)> for SignInLine {
    fn from((r, current): (SignInRow, bool)) -> Self {
        Self {
            kind: if r.kind == "browser" {
                "Browser"
            } else {
                "API"
            },
            started: when(r.created_at),
            last_seen: r.last_seen_at.map(when).unwrap_or_default(),
            client: r.client.unwrap_or_else(|| "unknown".to_owned()),
            browser: browser_of(r.user_agent.as_deref()),
            id: r.id,
            current,
        }
    }
}

impl From<TokenRow> for TokenLine {
    fn from(t: TokenRow) -> Self {
        Self {
            id: t.id,
            name: t.name,
            created: when(t.created_at),
            expires: when(t.expires_at),
            last_used: t.last_used_at.map_or_else(|| "never".to_owned(), when),
        }
    }
}

/// The account page: the account, its sessions and tokens, and what the last form did.
async fn account_page(
    state: &AppState,
    actor: &Actor,
    status: StatusCode,
    notice: Option<&'static str>,
    errors: Vec<(&'static str, String)>,
    token_note: TokenNote,
) -> Response {
    let (new_token, token_name, token_days) = match token_note {
        TokenNote::Nothing => (None, String::new(), "90".to_owned()),
        TokenNote::Made { name, token } => (Some((name, token)), String::new(), "90".to_owned()),
        TokenNote::Refused { name, days } => (None, name, days),
    };
    let user = match account::me(&state.services, actor).await {
        Ok(u) => u,
        Err(e) => return failure(&e, Some(actor)),
    };
    let sign_ins = match account::sign_ins(&state.services, actor).await {
        Ok(rows) => rows,
        Err(e) => return failure(&e, Some(actor)),
    };
    let tokens = match account::tokens(&state.services, actor).await {
        Ok(rows) => rows,
        Err(e) => return failure(&e, Some(actor)),
    };
    let page = AccountPage {
        nav: Nav::for_actor(actor, "/account"),
        username: user.username,
        email: user.email.unwrap_or_default(),
        role: user.role.label(),
        must_change: user.must_change_password,
        notice,
        errors,
        sign_ins: sign_ins.into_iter().map(SignInLine::from).collect(),
        tokens: tokens.into_iter().map(TokenLine::from).collect(),
        new_token,
        token_name,
        token_days,
        two_factor_on: user.second_factors > 0,
        may_make_tokens: actor.second_factor.passed,
    };
    render(status, &page)
}

async fn show(
    State(state): State<AppState>,
    AnyPageUser(actor): AnyPageUser,
    query: Result<Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let done = query.map(|Query(q)| q.done).unwrap_or_default();
    account_page(
        &state,
        &actor,
        StatusCode::OK,
        notice_for(&done),
        Vec::new(),
        TokenNote::Nothing,
    )
    .await
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// Field problems as the page shows them.
fn page_errors(problems: Vec<account::FieldProblem>) -> Vec<(&'static str, String)> {
    problems
        .into_iter()
        .map(|p| (p.field, p.error.message))
        .collect()
}

async fn change_password(
    State(state): State<AppState>,
    AnyPageUser(actor): AnyPageUser,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return super::bad_form(Some(&actor));
    };
    if form.new_password != form.confirm_password {
        let errors = vec![(
            "confirm_password",
            "Confirm the new password: the two do not match.".to_owned(),
        )];
        return account_page(
            &state,
            &actor,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            errors,
            TokenNote::Nothing,
        )
        .await;
    }
    match account::change_password(
        &state.services,
        &actor,
        form.current_password,
        form.new_password,
    )
    .await
    {
        Ok(()) => Redirect::to("/account?done=password").into_response(),
        Err(AccountError::Invalid(problems)) => {
            account_page(
                &state,
                &actor,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                page_errors(problems),
                TokenNote::Nothing,
            )
            .await
        }
        Err(e) => account_failure(&e, Some(&actor)),
    }
}

/// The page for an account use case's failure that is not a field's.
fn account_failure(e: &AccountError, actor: Option<&Actor>) -> Response {
    match e {
        AccountError::Service(e) => failure(e, actor),
        AccountError::Throttled { retry_after_secs } => message(
            StatusCode::TOO_MANY_REQUESTS,
            actor,
            "Too many attempts",
            &format!("Try again in {retry_after_secs} seconds."),
            None,
        ),
        AccountError::Link(refusal) => link_refused(*refusal),
        AccountError::Invalid(_) | AccountError::Conflict(_) => message(
            StatusCode::UNPROCESSABLE_ENTITY,
            actor,
            "Not done",
            "This could not be done as it was asked.",
            Some(("/account", "My account")),
        ),
    }
}

async fn end_session(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path(id): Path<String>,
) -> Response {
    if !plausible_id(&id) {
        return super::not_found(Some(&actor));
    }
    match account::end_sign_in(&state.services, &actor, &id).await {
        Ok(()) => Redirect::to("/account?done=ended").into_response(),
        Err(e) => failure(&e, Some(&actor)),
    }
}

async fn end_others(State(state): State<AppState>, PageUser(actor): PageUser) -> Response {
    match account::end_other_sign_ins(&state.services, &actor).await {
        Ok(()) => Redirect::to("/account?done=others").into_response(),
        Err(e) => failure(&e, Some(&actor)),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    days: String,
}

/// A refused token's problems as the form shows them.
fn token_errors(e: AccountError) -> Vec<(&'static str, String)> {
    let AccountError::Invalid(problems) = e else {
        return Vec::new();
    };
    problems
        .into_iter()
        .map(|p| {
            if p.field == "expires_in_days" {
                (
                    "days",
                    format!(
                        "Days the token works must be a whole number from 1 to {}.",
                        account::TOKEN_MAX_DAYS
                    ),
                )
            } else {
                ("name", "Name the token: 1 to 100 characters.".to_owned())
            }
        })
        .collect()
}

async fn create_token(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return super::bad_form(Some(&actor));
    };
    let days = form.days.trim().parse::<i64>().unwrap_or(0);
    let checked = account::check_token(&form.name, days).map_err(token_errors);
    let name = match checked {
        Ok(name) => name,
        Err(errors) => {
            return account_page(
                &state,
                &actor,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                errors,
                TokenNote::Refused {
                    name: form.name.clone(),
                    days: form.days.clone(),
                },
            )
            .await;
        }
    };
    match auth::create_personal_token(&state.services, &actor, &name, days).await {
        Ok((token, _)) => {
            account_page(
                &state,
                &actor,
                StatusCode::CREATED,
                None,
                Vec::new(),
                TokenNote::Made { name, token },
            )
            .await
        }
        Err(e) => failure(&e, Some(&actor)),
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path(id): Path<String>,
) -> Response {
    if !plausible_id(&id) {
        return super::not_found(Some(&actor));
    }
    match account::revoke_token(&state.services, &actor, &id).await {
        Ok(()) => Redirect::to("/account?done=revoked").into_response(),
        Err(e) => failure(&e, Some(&actor)),
    }
}

/// The page of a link that does nothing, saying why.
fn link_refused(refusal: LinkRefusal) -> Response {
    let (status, title, text) = match refusal {
        LinkRefusal::Unknown => (
            StatusCode::NOT_FOUND,
            "This link is not known",
            "Check that the whole link was copied from the email. You can ask for a new one.",
        ),
        LinkRefusal::Used => (
            StatusCode::GONE,
            "This link has been used",
            "A link works once. If you did not set the password yourself, ask for a new link.",
        ),
        LinkRefusal::Expired => (
            StatusCode::GONE,
            "This link has expired",
            "Ask for a new one: an invitation from whoever invited you, a reset from this portal.",
        ),
    };
    message(
        status,
        None,
        title,
        text,
        Some(("/password-reset", "Ask for a new link")),
    )
}

#[derive(Template)]
#[template(path = "pages/set_password.html")]
struct SetPasswordPage {
    nav: Nav,
    title: &'static str,
    intro: &'static str,
    action: String,
    username: String,
    errors: Vec<(&'static str, String)>,
}

impl SetPasswordPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.0 == field)
            .map(|e| e.1.as_str())
    }
}

fn set_password_page(
    purpose: AccountLinkPurpose,
    token: &str,
    username: String,
    status: StatusCode,
    errors: Vec<(&'static str, String)>,
) -> Response {
    let (title, intro, action) = match purpose {
        AccountLinkPurpose::Invitation => (
            "Choose your password",
            "You were invited to the Provisioning Portal. Choose a password to sign in with.",
            format!("/invitation/{token}"),
        ),
        AccountLinkPurpose::Reset => (
            "Choose a new password",
            "Setting a new password signs you out everywhere.",
            format!("/password-reset/{token}"),
        ),
    };
    render(
        status,
        &SetPasswordPage {
            nav: Nav::signed_out(),
            title,
            intro,
            action,
            username,
            errors,
        },
    )
}

async fn link_form(state: &AppState, token: &str, purpose: AccountLinkPurpose) -> Response {
    match account::open_link(&state.services, token, purpose).await {
        Ok(Ok(user)) => {
            set_password_page(purpose, token, user.username, StatusCode::OK, Vec::new())
        }
        Ok(Err(refusal)) => link_refused(refusal),
        Err(e) => failure(&e, None),
    }
}

#[derive(Deserialize)]
struct NewPasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm_password: String,
}

async fn use_link(
    state: &AppState,
    token: &str,
    purpose: AccountLinkPurpose,
    form: Result<Form<NewPasswordForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return super::bad_form(None);
    };
    let user = match account::open_link(&state.services, token, purpose).await {
        Ok(Ok(user)) => user,
        Ok(Err(refusal)) => return link_refused(refusal),
        Err(e) => return failure(&e, None),
    };
    if form.password != form.confirm_password {
        let errors = vec![(
            "confirm_password",
            "Confirm the password: the two do not match.".to_owned(),
        )];
        return set_password_page(
            purpose,
            token,
            user.username,
            StatusCode::UNPROCESSABLE_ENTITY,
            errors,
        );
    }
    match account::use_link(&state.services, token, purpose, &form.password).await {
        Ok(user) => message(
            StatusCode::OK,
            None,
            "Your password is set",
            &format!("Sign in as {} with your new password.", user.username),
            Some(("/sign-in", "Sign in")),
        ),
        Err(AccountError::Invalid(problems)) => {
            let errors = page_errors(problems)
                .into_iter()
                .map(|(_, m)| ("password", m.replace("Password", "The password")))
                .collect();
            set_password_page(
                purpose,
                token,
                user.username,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
            )
        }
        Err(e) => account_failure(&e, None),
    }
}

async fn invitation_form(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    link_form(&state, &token, AccountLinkPurpose::Invitation).await
}

async fn accept_invitation(
    State(state): State<AppState>,
    Path(token): Path<String>,
    form: Result<Form<NewPasswordForm>, FormRejection>,
) -> Response {
    use_link(&state, &token, AccountLinkPurpose::Invitation, form).await
}

async fn reset_form(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    link_form(&state, &token, AccountLinkPurpose::Reset).await
}

async fn reset(
    State(state): State<AppState>,
    Path(token): Path<String>,
    form: Result<Form<NewPasswordForm>, FormRejection>,
) -> Response {
    use_link(&state, &token, AccountLinkPurpose::Reset, form).await
}

#[derive(Template)]
#[template(path = "pages/reset_request.html")]
struct ResetRequestPage {
    nav: Nav,
}

async fn reset_request_form() -> Response {
    render(
        StatusCode::OK,
        &ResetRequestPage {
            nav: Nav::signed_out(),
        },
    )
}

#[derive(Deserialize)]
struct ResetRequestForm {
    #[serde(default)]
    login: String,
}

async fn request_reset(
    State(state): State<AppState>,
    form: Result<Form<ResetRequestForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return super::bad_form(None);
    };
    match account::request_reset(&state.services, &form.login).await {
        Ok(()) => message(
            StatusCode::ACCEPTED,
            None,
            "Check your email",
            "If an active account matches what you typed and has an email address, a link to choose a new password is on its way. It works once, for one hour.",
            Some(("/sign-in", "Back to sign-in")),
        ),
        Err(e) => account_failure(&e, None),
    }
}
