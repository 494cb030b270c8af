//! The web layer: axum handlers that parse input, call one use case, and answer JSON.

pub mod api;
pub mod client;
pub mod error;
pub mod extract;
pub mod ops;
pub mod pages;
pub mod server;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;

use crate::service::Services;
use error::ApiError;

/// The largest request body most endpoints take (a subscription request is a few hundred bytes).
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub services: Services,
    /// The proxies whose forwarding headers name the client.
    pub trusted_proxies: std::sync::Arc<client::TrustedProxies>,
    /// `/metrics` is served on a listener of its own (`metrics_router`), not with the rest.
    pub metrics_apart: bool,
}

impl AppState {
    /// Whether the portal is reached over https (its base URL says so): cookies are then
    /// `Secure`, and browsers are told to keep to https.
    pub fn https(&self) -> bool {
        self.services.mailer.base_url.starts_with("https://")
    }

    /// The state of an application behind no trusted proxy.
    pub fn new(services: Services) -> Self {
        Self {
            services,
            trusted_proxies: std::sync::Arc::default(),
            metrics_apart: false,
        }
    }
}

/// Routes being put together, with the path of each, so that the paths the application
/// answers can be listed (the permission test walks them all).
pub struct Routes {
    router: Router<AppState>,
    paths: Vec<String>,
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    pub fn route(
        mut self,
        path: &str,
        method_router: axum::routing::MethodRouter<AppState>,
    ) -> Self {
        self.router = self.router.route(path, method_router);
        self.paths.push(path.to_owned());
        self
    }

    pub fn merge(mut self, other: Self) -> Self {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }

    /// The router so far changed by `f` (a layer around every route so far).
    pub fn map(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Self {
        self.router = f(self.router);
        self
    }
}

fn all_routes(with_metrics: bool) -> Routes {
    Routes::new()
        .merge(api::router())
        .merge(ops::router(with_metrics))
        .merge(
            pages::router().map(|r| r.layer(middleware::from_fn(pages::refuse_cross_site_posts))),
        )
}

/// Every path the application answers (route templates such as `/api/v1/tenants/{id}`).
pub fn route_paths() -> Vec<String> {
    all_routes(true).paths
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let _ = pages::session::SSO_OFFERED.set(state.services.oidc.is_some());
    all_routes(!state.metrics_apart)
        .router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            client_address,
        ))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// The header that names one HTTP request across the proxy, the portal and their logs.
pub const REQUEST_ID: &str = "x-request-id";

/// A caller's request id, when it is one worth keeping: 1 to 128 visible ASCII characters.
fn usable_request_id(value: &axum::http::HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    (!text.is_empty() && text.len() <= 128 && text.bytes().all(|b| b.is_ascii_graphic()))
        .then_some(text)
}

/// Gives every request an id (the caller's `x-request-id` when it sent a usable one, else a
/// new one), logs everything done for it inside a span carrying it (`http.request_id`), and
/// sends it back on the answer.
async fn request_id(request: Request, next: Next) -> Response {
    use tracing::Instrument;
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(usable_request_id)
        .map_or_else(portal_store::new_id, str::to_owned);
    // At the error level, so that the span (and its id) is there whatever level the log is
    // set to: warnings and errors are the lines that most need it.
    let span = tracing::error_span!("http", http.request_id = %id);
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// What pages may load and run: only the portal's own script, styles and images (the QR
/// code is an inline SVG element, not a picture), no inline script or style, no plugins, and
/// no other site may frame a page.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// A year: how long a browser keeps to https once told.
const HSTS: &str = "max-age=31536000";

/// Headers on every answer: the content security policy, no framing, no type sniffing, no
/// referrer beyond this site (links carry tokens), no caching unless the answer says how
/// (signed-in pages and tokens are never stored), and over https the instruction to keep
/// to it.
async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    secure_headers(response.headers_mut(), state.https());
    response
}

/// Puts the security headers on an answer (see `security_headers`).
pub fn secure_headers(headers: &mut axum::http::HeaderMap, https: bool) {
    use axum::http::HeaderValue;
    use axum::http::header;
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
}

/// `/metrics` alone, for a listener of its own (`PORTAL_METRICS_LISTEN`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(ops::metrics))
        .fallback(not_found)
        .with_state(state)
}

/// Makes the client's address known to the use cases (for the audit log and the limits)
/// while its request is served: the peer's, or behind a trusted proxy the one it forwarded
/// for. The server must be run with connect info; without it the address is unknown.
async fn client_address(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| {
            state
                .trusted_proxies
                .client_of(addr.ip(), request.headers())
                .to_string()
        });
    let user_agent = request
        .headers()
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().filter(|c| !c.is_control()).take(200).collect());
    crate::service::audit::CLIENT
        .scope(
            client,
            crate::service::audit::USER_AGENT.scope(user_agent, next.run(request)),
        )
        .await
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The methods counted by name; any other is counted as `other`, so that a client cannot
/// make up labels (a method is any token a client sends).
const COUNTED_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A request's method as a metrics label.
fn method_label(method: &axum::http::Method) -> &'static str {
    COUNTED_METHODS
        .into_iter()
        .find(|m| *m == method.as_str())
        .unwrap_or("other")
}

/// Counts every answer by method, route template and status (never by the raw path), and
/// logs it at debug level.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state.services.metrics.record_http(method, &route, status);
    tracing::debug!(http.method = %method, http.route = %route, http.status = status,
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0, "answered");
    response
}

/// The headers of a CSV file downloaded as `file_name`, which no cache keeps.
pub fn csv_headers(file_name: &str) -> [(axum::http::HeaderName, String); 3] {
    use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
    [
        (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file_name}\""),
        ),
        (CACHE_CONTROL, "no-store".to_owned()),
    ]
}

/// A CSV file streamed to the client a page of rows at a time; the export stops reading when
/// the client goes away (the body is dropped, and the export with it). The first page is read
/// before answering, so a failure to begin is an error answer, not an empty file.
pub async fn csv_download(
    mut export: crate::service::export::Export,
    file_name: &str,
) -> Result<Response, crate::service::ServiceError> {
    use axum::response::IntoResponse;
    let first = export.next_chunk().await?.unwrap_or_default();
    let rest = futures_util::stream::unfold(Some(export), |export| async move {
        let mut export = export?;
        match export.next_chunk().await {
            Ok(Some(bytes)) => Some((Ok(bytes::Bytes::from(bytes)), Some(export))),
            Ok(None) => None,
            // The answer has begun: all that is left is to cut it short, so the client sees
            // an incomplete file rather than a complete-looking one.
            Err(e) => {
                tracing::error!(error = %e, "the CSV export failed part way");
                Some((Err(std::io::Error::other("the export failed")), None))
            }
        }
    });
    let first = futures_util::stream::once(async move { Ok(bytes::Bytes::from(first)) });
    let body = axum::body::Body::from_stream(futures_util::StreamExt::chain(first, rest));
    let response = (csv_headers(file_name), body).into_response();
    Ok(response)
}
