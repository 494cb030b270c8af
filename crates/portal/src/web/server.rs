//! The HTTP server: connections accepted under limits, so that slow or numerous clients
//! cannot take every file descriptor or hold the portal's threads.
//!
//! - A connection must send its request's headers within the header-read timeout, or it is
//!   closed (this also ends a kept-alive connection that sends nothing more).
//! - A request must be read and answered within the request timeout (`408` otherwise).
//! - At most `max_connections` connections are open at once, and at most
//!   `max_per_client` from one address (trusted proxies are not limited per client: they
//!   carry many). A connection beyond either is answered `503` with `Retry-After` and closed.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

use super::client::TrustedProxies;

/// The server's limits; `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
    pub max_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_per_client: 64,
        }
    }
}

/// File descriptors kept free for everything but client connections: the database pool,
/// the mail spool, the listeners, the log.
const DESCRIPTORS_KEPT: u64 = 64;

/// Connections being refused at once at most; beyond, a refused one is closed unanswered.
const MAX_REFUSING: usize = 64;

impl Limits {
    /// The same limits, with the connection cap lowered so that it fits under the process's
    /// limit on open files (`RLIMIT_NOFILE`), when that is known and lower.
    pub fn within_open_file_limit(mut self) -> Self {
        if let Some(files) = open_file_limit() {
            let room = usize::try_from(files.saturating_sub(DESCRIPTORS_KEPT).max(16))
                .unwrap_or(usize::MAX);
            if room < self.max_connections {
                tracing::warn!(
                    open_file_limit = files,
                    max_connections = room,
                    "the limit on open files is low: fewer connections are taken"
                );
                self.max_connections = room;
            }
        }
        self
    }
}

/// The soft limit on open files of this process, read from `/proc/self/limits` (Linux).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The connections open now: in all, and per client address.
#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
    refusing: usize,
}

/// A connection's place among the open ones, given back when it is dropped.
struct Slot {
    open: Arc<Mutex<Open>>,
    client: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock() {
            open.total -= 1;
            if let Some(client) = self.client
                && let Some(n) = open.per_client.get_mut(&client)
            {
                *n -= 1;
                if *n == 0 {
                    open.per_client.remove(&client);
                }
            }
        }
    }
}

/// What to do with a new connection.
enum Admission {
    Serve(Slot),
    Refuse(Refusing),
    Drop,
}

/// A refusal being written, counted so that refusals cannot pile up either.
struct Refusing(Arc<Mutex<Open>>);

impl Drop for Refusing {
    fn drop(&mut self) {
        if let Ok(mut open) = self.0.lock() {
            open.refusing -= 1;
        }
    }
}

struct Gate {
    open: Arc<Mutex<Open>>,
    limits: Limits,
    trusted: Arc<TrustedProxies>,
}

impl Gate {
    fn admit(&self, peer: IpAddr) -> Admission {
        let peer = super::client::canonical(peer);
        let Ok(mut open) = self.open.lock() else {
            return Admission::Drop;
        };
        let per_client = (!self.trusted.trusts(peer)).then_some(peer);
        let client_full = per_client.is_some_and(|ip| {
            open.per_client.get(&ip).copied().unwrap_or(0) >= self.limits.max_per_client
        });
        if open.total >= self.limits.max_connections || client_full {
            if open.refusing >= MAX_REFUSING {
                return Admission::Drop;
            }
            open.refusing += 1;
            return Admission::Refuse(Refusing(self.open.clone()));
        }
        open.total += 1;
        if let Some(ip) = per_client {
            *open.per_client.entry(ip).or_default() += 1;
        }
        Admission::Serve(Slot {
            open: self.open.clone(),
            client: per_client,
        })
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets the requests under way
/// finish (connections idle between requests are closed).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    trusted: Arc<TrustedProxies>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let gate = Gate {
        open: Arc::default(),
        limits,
        trusted,
    };
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(gate.limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection gone before it was taken: wait a
                    // little rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        match gate.admit(peer.ip()) {
            Admission::Serve(slot) => {
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let timeout = gate.limits.request_timeout;
                let service = hyper::service::service_fn(move |request| {
                    answer(app.clone(), peer, timeout, request)
                });
                let connection = http.serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "a connection ended with an error");
                    }
                    drop(slot);
                });
            }
            Admission::Refuse(refusing) => {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(refusing);
                });
            }
            Admission::Drop => drop(stream),
        }
    }
    drop(listener);
    // Requests under way get the request timeout to finish.
    if tokio::time::timeout(gate.limits.request_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("stopped with requests still under way");
    }
}

/// Serves one request of `peer` within the request timeout: `408` when it took longer to
/// arrive or to answer.
async fn answer(
    mut app: Router,
    peer: SocketAddr,
    timeout: Duration,
    mut request: http::Request<hyper::body::Incoming>,
) -> Result<axum::response::Response, std::convert::Infallible> {
    request.extensions_mut().insert(ConnectInfo(peer));
    match tokio::time::timeout(timeout, app.call(request)).await {
        Ok(answered) => answered,
        Err(_) => {
            tracing::info!(%peer, "a request took longer than the request timeout");
            Ok(axum::response::IntoResponse::into_response(
                super::error::ApiError::RequestTimeout,
            ))
        }
    }
}

/// How long a refused connection is given to take its answer.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// Answers `503` with `Retry-After` on a connection over the limits, and closes it.
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"error":{"code":"unavailable","message":"Too many connections are open; try again in a moment."}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
         Retry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent, so that closing does not reset the connection before
        // it read the answer.
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}
