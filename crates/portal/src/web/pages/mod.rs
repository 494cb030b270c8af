//! Server-rendered pages for people in a browser: sign-in with a session cookie, the home
//! page, and the mail spool. They work without JavaScript and load nothing from elsewhere.

pub mod mail;
pub mod session;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::header::{COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::AppState;
use crate::service::{Actor, auth};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "portal_session";

pub fn router() -> Router<AppState> {
    Router::new().merge(session::router()).merge(mail::router())
}

/// Text made safe to put in HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1a1a1a;line-height:1.5}\
header{background:#12355b;color:#fff;padding:.75rem 1rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}\
header a{color:#fff}main{padding:1rem;max-width:60rem}table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:.4rem;border-bottom:1px solid #ccd}label{display:block;margin-top:.75rem}\
input{font:inherit;padding:.4rem;width:100%;max-width:24rem;box-sizing:border-box}\
button{font:inherit;padding:.4rem 1rem;margin-top:1rem}.error{color:#a40000;font-weight:bold}\
pre{white-space:pre-wrap;background:#f4f5f7;padding:.75rem}iframe{width:100%;height:28rem;border:1px solid #ccd}";

/// A whole page around `body`, with the signed-in user's menu when there is one.
pub fn layout(title: &str, actor: Option<&Actor>, body: &str) -> Html<String> {
    let nav = match actor {
        Some(a) => format!(
            "<nav aria-label=\"Main\"><a href=\"/\">Home</a>{}</nav><span>{}</span>\
             <form method=\"post\" action=\"/sign-out\"><button type=\"submit\">Sign out</button></form>",
            if a.is_landlord() {
                " · <a href=\"/mail\">Mail</a>"
            } else {
                ""
            },
            escape(&a.username)
        ),
        None => String::new(),
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Provisioning Portal</title><style>{STYLE}</style></head>\
         <body><header><strong>Provisioning Portal</strong>{nav}</header><main>{body}</main></body></html>",
        escape(title)
    ))
}

/// A page answer with a status.
pub fn page(status: StatusCode, title: &str, actor: Option<&Actor>, body: &str) -> Response {
    (status, layout(title, actor, body)).into_response()
}

pub fn unavailable() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        None,
        "<h1>Try again in a moment</h1><p>The portal is busy or cannot reach its database.</p>",
    )
}

/// The page for a use case's failure: not found (also for what the user may not see), or
/// unavailable.
pub fn failure(e: &crate::service::ServiceError, actor: Option<&Actor>) -> Response {
    use crate::service::ServiceError as E;
    match e {
        E::NotFound | E::Forbidden => not_found(actor),
        E::Overloaded | E::Unavailable | E::Internal(_) => {
            tracing::error!(error = %e, "a page could not be shown");
            unavailable()
        }
    }
}

pub fn not_found(actor: Option<&Actor>) -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Not found",
        actor,
        "<h1>Not found</h1><p>There is nothing here.</p>",
    )
}

/// The session cookie's value, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// The user signed in to this browser; pages that need one send others to the sign-in page.
#[derive(Debug, Clone)]
pub struct PageUser(pub Actor);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(session) = session_cookie(&parts.headers) else {
            return Err(Redirect::to("/sign-in").into_response());
        };
        match auth::session_actor(&state.services, &session).await {
            Ok(Some(actor)) => Ok(Self(actor)),
            Ok(None) => Err(Redirect::to("/sign-in").into_response()),
            Err(e) => {
                tracing::error!(error = %e, "cannot check a session");
                Err(unavailable())
            }
        }
    }
}

/// Refuses form posts from other sites: a browser says where a request comes from in
/// `Sec-Fetch-Site` or `Origin`, and a post must come from this portal's own pages.
pub async fn refuse_cross_site_posts(request: Request, next: Next) -> Response {
    if request.method() == axum::http::Method::POST && !same_site(request.headers()) {
        return page(
            StatusCode::FORBIDDEN,
            "Refused",
            None,
            "<h1>Refused</h1><p>This form was sent from another site.</p>",
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
