//! The HTTP server: connections accepted under limits, so that slow or numerous clients
//! cannot take every file descriptor or hold the portal's threads.
//!
//! - A connection must send its request's headers within the header-read timeout, or it is
//!   closed (this also ends a kept-alive connection that sends nothing more).
//! - A request must be read within the request timeout (`408` otherwise) and answered within
//!   it (`503` otherwise: the work goes on, it is not cut off half-way).
//! - An answer's bytes must be taken by the client: a write that makes no progress for the
//!   request timeout ends the connection (a client that stops reading).
//! - At most `max_connections` connections are open at once, and at most
//!   `max_per_client` (and never half of all) from one address, an IPv6 one by its /64 (trusted proxies are not
//!   limited per client: they carry many). A connection beyond either is answered `503` with
//!   `Retry-After` and closed. These caps bound what one address can hold; a flood from many
//!   addresses is bounded by the total cap and the header timeout, and is for the proxy or
//!   the network in front to absorb.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
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
    /// Connections being refused at once at most; beyond, a refused one is closed unanswered.
    pub max_refusing: usize,
}

/// The defaults of the settings (`PORTAL_HEADER_TIMEOUT_SECS` and the others), in one place.
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
pub const DEFAULT_MAX_PER_CLIENT: usize = 128;

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECS),
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_client: DEFAULT_MAX_PER_CLIENT,
            max_refusing: 64,
        }
    }
}

/// File descriptors kept free for everything but client connections: the database pool,
/// the mail spool, the listeners, the log.
const DESCRIPTORS_KEPT: u64 = 64;

impl Limits {
    /// The limits of the metrics listener: the same timeouts, a few connections.
    pub fn for_metrics(&self) -> Self {
        Self {
            max_connections: 16,
            max_per_client: 16,
            max_refusing: 4,
            ..self.clone()
        }
    }

    /// The descriptors these limits may take at most: served and refused connections.
    pub fn descriptors(&self) -> usize {
        self.max_connections + self.max_refusing
    }

    /// The same limits, with the connection cap lowered so that it fits under the process's
    /// limit on open files (`RLIMIT_NOFILE`), when that is known and lower, beside `others`
    /// descriptors taken by other listeners.
    pub fn within_open_file_limit(mut self, others: usize) -> Self {
        if let Some(files) = open_file_limit() {
            let spare = usize::try_from(files.saturating_sub(DESCRIPTORS_KEPT))
                .unwrap_or(usize::MAX)
                .saturating_sub(others + self.max_refusing);
            let room = spare.max(16);
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

    /// How many connections one address may hold: its cap, and never more than half of all,
    /// so that one address cannot fill the server alone.
    fn per_client(&self) -> usize {
        self.max_per_client.min((self.max_connections / 2).max(1))
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

/// The address a client is counted by: an IPv6 one by its /64, which one subscriber holds.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::from(u64::MAX)))),
        v4 => v4,
    }
}

struct Gate {
    open: Arc<Mutex<Open>>,
    limits: Limits,
    trusted: Arc<TrustedProxies>,
}

impl Gate {
    fn admit(&self, peer: IpAddr) -> Admission {
        let peer = client_key(super::client::canonical(peer));
        let Ok(mut open) = self.open.lock() else {
            return Admission::Drop;
        };
        let per_client = (!self.trusted.trusts(peer)).then_some(peer);
        let client_full = per_client.is_some_and(|ip| {
            open.per_client.get(&ip).copied().unwrap_or(0) >= self.limits.per_client()
        });
        if open.total >= self.limits.max_connections || client_full {
            if open.refusing >= self.limits.max_refusing {
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
            accepted = accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        match gate.admit(peer.ip()) {
            Admission::Serve(slot) => {
                let app = app.clone();
                let timeout = gate.limits.request_timeout;
                let service = hyper::service::service_fn(move |request| {
                    answer(app.clone(), peer, timeout, request)
                });
                let _ = stream.set_nodelay(true);
                let stream = TokioIo::new(Stalling::new(stream, timeout));
                let connection = graceful.watch(http.serve_connection(stream, service));
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

/// The next connection. Out of descriptors, or a connection gone before it was taken: wait a
/// little rather than spin.
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves one request of `peer` within the request timeout: `408` when its body had not all
/// arrived by then (the handler, still waiting for it, is stopped), `503` when the portal had
/// not answered (the handler runs on by itself, so that nothing is left half-done).
async fn answer(
    mut app: Router,
    peer: SocketAddr,
    timeout: Duration,
    request: http::Request<hyper::body::Incoming>,
) -> Result<axum::response::Response, std::convert::Infallible> {
    use axum::response::IntoResponse;
    use http_body::Body as _;
    let read = Arc::new(AtomicBool::new(request.body().is_end_stream()));
    let mut request = request.map(|inner| Watched {
        inner,
        read: read.clone(),
    });
    request.extensions_mut().insert(ConnectInfo(peer));
    let mut handler = tokio::spawn(async move { app.call(request).await });
    let mut response = match tokio::time::timeout(timeout, &mut handler).await {
        Ok(Ok(answered)) => return answered,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "a request's handler failed");
            super::error::ApiError::Internal(anyhow::anyhow!("the handler failed")).into_response()
        }
        Err(_) if !read.load(Ordering::Acquire) => {
            // Still waiting for the body, the handler has done nothing yet: it goes, and with
            // it the body, so that the connection closes.
            handler.abort();
            tracing::info!(%peer, "a request's body did not arrive within the request timeout");
            super::error::ApiError::RequestTimeout.into_response()
        }
        Err(_) => {
            tracing::warn!(%peer, "a request was not answered within the request timeout");
            super::error::ApiError::Unavailable.into_response()
        }
    };
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    super::secure_headers(response.headers_mut(), false);
    Ok(response)
}

/// A request's body that says when it has been read to its end.
struct Watched {
    inner: hyper::body::Incoming,
    read: Arc<AtomicBool>,
}

impl http_body::Body for Watched {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A connection whose writes must make progress: one that takes no byte for `limit` (a
/// client that stopped reading its answers) fails, and the connection ends.
struct Stalling {
    stream: TcpStream,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Stalling {
    fn new(stream: TcpStream, limit: Duration) -> Self {
        Self {
            stream,
            limit,
            stalled: None,
        }
    }

    /// After a write that could not proceed: pending until the limit, then an error.
    fn waited<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Stalling {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stalling {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.waited(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.waited(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_flush(cx);
        self.waited(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// How long a refused connection is given to take its answer.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// Answers `503` with `Retry-After` on a connection over the limits, and closes it: after its
/// request's head, so that the client reads an answer rather than a reset, or after a second
/// when the head does not come.
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"error":{"code":"unavailable","message":"Too many connections are open; try again in a moment."}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
         Retry-After: 1\r\nConnection: close\r\nCache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut head = Vec::new();
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        let mut buffer = [0u8; 1024];
        while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}
