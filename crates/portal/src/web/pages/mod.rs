//! Server-rendered pages for people in a browser, from askama templates in
//! `templates/pages/`. They work without JavaScript (a little script adds tabs and live
//! progress) and load nothing from elsewhere: the style sheet and script are in the binary.

pub mod account;
pub mod accounts;
pub mod audit;
pub mod bulk;
pub mod charts;
pub mod dashboard;
pub mod imports;
pub mod join;
pub mod mail;
pub mod packages;
pub mod parameters;
pub mod passkeys;
pub mod register;
pub mod requests;
pub mod security;
pub mod session;
pub mod settings;
pub mod sso;
pub mod templates;
pub mod tenants;
pub mod two_factor;
pub mod webhooks;
pub mod workers;

use crate::web::Routes;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use portal_domain::{Permission, Role};
use portal_store::credential::Activity;

use super::AppState;
use crate::service::{Actor, auth};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "portal_session";

/// The session cookie's name over https: the `__Host-` prefix makes the browser refuse it
/// unless it was set by this host, over https, for every path, so that no neighbouring
/// site can plant one.
pub const SECURE_SESSION_COOKIE: &str = "__Host-portal_session";

pub fn router() -> Routes {
    Routes::new()
        .route("/assets/portal.css", get(style_sheet))
        .route("/assets/portal.js", get(script))
        .merge(session::router())
        .merge(account::router())
        .merge(accounts::router())
        .merge(register::router())
        .merge(join::router())
        .merge(requests::router())
        .merge(bulk::router())
        .merge(imports::router())
        .merge(settings::router())
        .merge(security::router())
        .merge(two_factor::router())
        .merge(passkeys::router())
        .merge(sso::router())
        .merge(templates::router())
        .merge(tenants::router())
        .merge(packages::router())
        .merge(mail::router())
        .merge(parameters::router())
        .merge(audit::router())
        .merge(webhooks::router())
        .merge(workers::router())
        .merge(dashboard::router())
}

async fn style_sheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../../assets/portal.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/portal.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// The header of every page: who is signed in, the menu, and which entry is this page. Its
/// `may_…` answers let a page offer only what the role may do.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    pub user: Option<String>,
    pub role: Option<Role>,
    pub landlord: bool,
    /// The menu entry of this page.
    pub here: &'static str,
    /// The tenant a landlord user is acting in on this page, said on a banner.
    pub acting_in: Option<String>,
}

impl Nav {
    pub fn signed_out() -> Self {
        Self::default()
    }

    pub fn for_actor(actor: &Actor, here: &'static str) -> Self {
        Self {
            user: Some(actor.username.clone()),
            role: Some(actor.role),
            landlord: actor.is_landlord(),
            here,
            acting_in: None,
        }
    }

    /// A page inside tenant `tenant_name`: a landlord user sees that they act in it.
    pub fn in_tenant(actor: &Actor, tenant_name: &str) -> Self {
        Self {
            acting_in: actor.is_landlord().then(|| tenant_name.to_owned()),
            ..Self::for_actor(actor, "/tenants")
        }
    }

    fn may(&self, permission: Permission) -> bool {
        self.role.is_some_and(|r| r.may(permission))
    }

    /// The signed-in role in words, lower case ("tenant supervisor").
    pub fn role_label(&self) -> String {
        self.role
            .map(|r| r.label().to_lowercase())
            .unwrap_or_default()
    }

    pub fn may_submit(&self) -> bool {
        self.may(Permission::SubmitRequests)
    }

    pub fn may_act(&self) -> bool {
        self.may(Permission::ActOnRequests)
    }

    pub fn may_change_templates(&self) -> bool {
        self.may(Permission::ChangeTemplates)
    }

    pub fn may_change_settings(&self) -> bool {
        self.may(Permission::ChangeSettings)
    }

    pub fn may_watch_operations(&self) -> bool {
        self.may(Permission::WatchOperations)
    }

    pub fn may_manage_accounts(&self) -> bool {
        self.may(Permission::ManageAccounts)
    }

    pub fn may_edit_parameters(&self) -> bool {
        self.may(Permission::EditParameters)
    }

    /// The menu: (address, label), only what the role may open.
    pub fn links(&self) -> Vec<(&'static str, &'static str)> {
        let entries: [(&'static str, &'static str, bool); 12] = [
            ("/", "Home", !self.landlord),
            ("/dashboard", "Dashboard", self.landlord),
            ("/register", "Tenant Registration", self.may_submit()),
            ("/requests", "Tenant Creation Management", self.landlord),
            ("/tenants", "Tenants", self.landlord),
            ("/templates", "Templates", self.landlord),
            ("/settings", "Policy", self.may_change_settings()),
            ("/mail", "Mail", self.may(Permission::ReadMail)),
            ("/accounts", "Accounts", self.landlord),
            ("/audit", "Audit log", self.may(Permission::ReadAudit)),
            ("/workers", "Workers", self.may(Permission::WatchOperations)),
            ("/account", "My account", true),
        ];
        entries
            .into_iter()
            .filter(|e| e.2)
            .map(|(href, label, _)| (href, label))
            .collect()
    }
}

/// A rendered page with its status; a template that fails to render is logged and answered
/// with a plain 500 (it is a bug, never the user's doing).
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown.",
            )
                .into_response()
        }
    }
}

/// A page that says one thing.
#[derive(Template)]
#[template(path = "pages/message.html")]
pub struct MessagePage {
    pub nav: Nav,
    pub title: String,
    pub message: String,
    pub back: Option<(String, String)>,
}

pub fn message(
    status: StatusCode,
    actor: Option<&Actor>,
    title: &str,
    message: &str,
    back: Option<(&str, &str)>,
) -> Response {
    render(
        status,
        &MessagePage {
            nav: actor.map_or_else(Nav::signed_out, |a| Nav::for_actor(a, "")),
            title: title.to_owned(),
            message: message.to_owned(),
            back: back.map(|(href, label)| (href.to_owned(), label.to_owned())),
        },
    )
}

pub fn unavailable() -> Response {
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "Try again in a moment",
        "The portal is busy or cannot reach its database.",
        None,
    )
}

/// The page for a use case's failure: not found (also for what the user may not see), or
/// unavailable.
pub fn failure(e: &crate::service::ServiceError, actor: Option<&Actor>) -> Response {
    use crate::service::ServiceError as E;
    match e {
        E::NotFound => not_found(actor),
        E::Forbidden => forbidden(actor),
        E::SecondFactorRequired => message(
            StatusCode::FORBIDDEN,
            actor,
            "A second factor is needed",
            "Only a sign-in that passed a second factor may do this. Set up an authenticator \
             app under Two-step sign-in, or sign out and in again with your code.",
            Some(("/account/two-factor", "Two-step sign-in")),
        ),
        E::Overloaded | E::Unavailable | E::Internal(_) => {
            tracing::error!(error = %e, "a page could not be shown");
            unavailable()
        }
    }
}

/// A page the role may not use.
pub fn forbidden(actor: Option<&Actor>) -> Response {
    message(
        StatusCode::FORBIDDEN,
        actor,
        "Not allowed",
        "Your role does not allow this. Ask a landlord administrator if you need it.",
        Some(("/", "Home")),
    )
}

/// The page for a role that may not do this; `None` when it may.
pub fn refused(actor: &Actor, permission: Permission) -> Option<Response> {
    (!actor.may(permission)).then(|| forbidden(Some(actor)))
}

pub fn not_found(actor: Option<&Actor>) -> Response {
    message(
        StatusCode::NOT_FOUND,
        actor,
        "Not found",
        "There is nothing here.",
        Some(("/", "Home")),
    )
}

/// A form that could not be read at all (not a form, or not UTF-8).
/// How much a registration form may hold in all: far more than its fields take, so that
/// text pasted into them gets each field's own error; only past this is the form refused
/// whole.
pub const REGISTRATION_FORM_LIMIT: usize = 256 * 1024;

/// The page for a form that could not be read: too large, or not this page's form.
pub fn unreadable_form(rejection: &FormRejection, actor: Option<&Actor>) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return message(
            StatusCode::PAYLOAD_TOO_LARGE,
            actor,
            "The form was too large",
            "The form held more text than all its fields together take (256 KB). Go back, \
             shorten what was pasted into it and send it again.",
            None,
        );
    }
    bad_form(actor)
}

pub fn bad_form(actor: Option<&Actor>) -> Response {
    message(
        StatusCode::BAD_REQUEST,
        actor,
        "The form could not be read",
        "The browser sent something that is not this page's form. Go back and send it again.",
        Some(("/", "Home")),
    )
}

/// A domain kept in ASCII as people read it: as typed, with the ASCII form beside it when the
/// two differ (`bücher.example (xn--bcher-kva.example)`).
pub fn domain_shown(ascii: &str) -> String {
    match portal_domain::field::domain_as_typed(ascii) {
        Some(typed) => format!("{typed} ({ascii})"),
        None => ascii.to_owned(),
    }
}

/// A login ID (`personnel_id@domain`) as people read it, the same way.
pub fn login_shown(personnel_id: &str, ascii: &str) -> String {
    portal_domain::field::login_id_as_typed(personnel_id, ascii)
}

/// A template's display name, for a page a person reads; its id when it cannot be read.
pub async fn template_name(state: &AppState, id: &str) -> String {
    crate::service::template_display_name(&state.services, id).await
}

/// A time for people: `2026-11-29 08:00 UTC`.
pub fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A page id from the path: printable and short, else the page is not found.
pub fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && !id.chars().any(char::is_control)
}

/// The session cookie's value, if any (over https, only the `__Host-` one counts).
pub fn session_cookie(state: &AppState, headers: &HeaderMap) -> Option<String> {
    named_cookie(headers, session_cookie_name(state))
}

/// The session cookie's name: prefixed when the portal is served over https.
pub fn session_cookie_name(state: &AppState) -> &'static str {
    if state.https() {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The value of the cookie `name`, when it is there and of a plausible length.
pub fn named_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A path of this portal to come back to after signing in; anything else (another site, a
/// scheme, a path that a browser would read as another host) is refused.
pub fn local_path(next: &str) -> Option<&str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 2048
        && !next.chars().any(|c| c.is_control() || c == '\\');
    local.then_some(next)
}

/// Text as a query string value: unreserved characters and `/` as they are, the rest
/// percent-encoded.
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Where someone whose session is missing or ended is sent: the sign-in page, which brings
/// them back to the page they asked for (for a form that was sent, the page it was on).
fn to_sign_in(parts: &Parts) -> Response {
    let asked = if parts.method == axum::http::Method::GET {
        parts.uri.path_and_query().map(|p| p.as_str().to_owned())
    } else {
        referring_page(&parts.headers)
    };
    match asked.as_deref().and_then(local_path).filter(|p| *p != "/") {
        Some(next) => Redirect::to(&format!("/sign-in?next={}", query_value(next))).into_response(),
        None => Redirect::to("/sign-in").into_response(),
    }
}

/// The path of the page a form was sent from, when it is one of this portal's.
fn referring_page(headers: &HeaderMap) -> Option<String> {
    let referer = headers.get(axum::http::header::REFERER)?.to_str().ok()?;
    let host = headers.get(HOST)?.to_str().ok()?;
    let after_scheme = referer.split_once("://")?.1;
    let path = after_scheme.strip_prefix(host)?;
    path.starts_with('/').then(|| path.to_owned())
}

/// The header a page's own script sends when it polls for fresh progress: the request is
/// not a person's, and does not keep the session from going idle.
pub const POLL_HEADER: &str = "x-portal-poll";

/// Whether a request was made by a person or by a page polling by itself.
fn activity(headers: &HeaderMap) -> Activity {
    if headers.contains_key(POLL_HEADER) {
        Activity::Poll
    } else {
        Activity::Person
    }
}

/// The user signed in to this browser; pages that need one send others to the sign-in page,
/// one whose password must be changed first to the form that changes it, and one who must
/// set up a second factor to the page that sets one up.
#[derive(Debug, Clone)]
pub struct PageUser(pub Actor);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let AnyPageUser(actor) = AnyPageUser::from_request_parts(parts, state).await?;
        if actor.must_change_password {
            return Err(Redirect::to(account::CHANGE_FIRST).into_response());
        }
        match crate::service::security::must_enrol(&state.services, &actor).await {
            Ok(false) => Ok(Self(actor)),
            Ok(true) => Err(Redirect::to(two_factor::ENROL_FIRST).into_response()),
            Err(e) => Err(failure(&e, Some(&actor))),
        }
    }
}

/// The user signed in to this browser, whether or not their password must be changed first
/// (the account page, where it is changed).
#[derive(Debug, Clone)]
pub struct AnyPageUser(pub Actor);

impl FromRequestParts<AppState> for AnyPageUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(session) = session_cookie(state, &parts.headers) else {
            return Err(to_sign_in(parts));
        };
        match auth::session_actor(&state.services, &session, activity(&parts.headers)).await {
            Ok(Some(actor)) => Ok(Self(actor)),
            Ok(None) => Err(to_sign_in(parts)),
            Err(e) => {
                tracing::error!(error = %e, "cannot check a session");
                Err(unavailable())
            }
        }
    }
}

/// A member of the provider's staff signed in to this browser (any landlord role); a
/// tenant's user is told the role does not allow it.
#[derive(Debug, Clone)]
pub struct Landlord(pub Actor);

impl FromRequestParts<AppState> for Landlord {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let PageUser(actor) = PageUser::from_request_parts(parts, state).await?;
        if actor.is_landlord() {
            Ok(Self(actor))
        } else {
            Err(forbidden(Some(&actor)))
        }
    }
}

/// Refuses form posts from other sites: a browser says where a request comes from in
/// `Sec-Fetch-Site` or `Origin`, and a post must come from this portal's own pages.
pub async fn refuse_cross_site_posts(request: Request, next: Next) -> Response {
    if request.method() == axum::http::Method::POST && !same_site(request.headers()) {
        return message(
            StatusCode::FORBIDDEN,
            None,
            "Refused",
            "This form was sent from another site.",
            None,
        );
    }
    next.run(request).await
}

fn same_site(headers: &HeaderMap) -> bool {
    // Only this very origin, or the user typing the address, may post (not a sibling site).
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match (
        headers.get(ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) == Some(host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}
