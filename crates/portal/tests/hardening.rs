//! The portal under hostile clients at its edges: connections held half-sent by the hundred
//! in a process short of file descriptors, made-up HTTP methods, password checks crafted to
//! be slow; and what every answer says to browsers (security headers, the session cookie).
//! The process tests run the real binary; the others a portal in this process.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::remote::sign_in;
use common::{ADMIN, ADMIN_PASSWORD, Db, Portal, spawn_app, spawn_app_with, submission};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const PASSWORD: &str = "hardening-test-landlord-pw";

/// A connection to `to` from the loopback address `from` (127.0.0.0/8 all reach this host).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind a loopback source address");
    socket.connect(to).await.expect("connect")
}

/// What the server sends on `stream` before it closes it, waiting at most `within`; `None`
/// when it is still open then.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buffer = [0u8; 2048];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

fn address_of(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

/// The portal started with its landlord's password and `envs`, listening on a free port.
fn portal_with(envs: &[(&str, &str)]) -> Portal {
    let mut all = vec![
        ("PORTAL_LISTEN", "127.0.0.1:0"),
        ("PORTAL_ADMIN_PASSWORD", PASSWORD),
    ];
    all.extend_from_slice(envs);
    Portal::start(&[], &all)
}

/// How long `f` takes.
async fn timed<T>(f: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let value = f.await;
    (value, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_half_sent_requests_neither_exhaust_the_descriptors_nor_stop_the_answers() {
    // 256 open files at most: 300 connections held open would take them all.
    let portal = Portal::start_with_open_files(
        256,
        &[],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_ADMIN_PASSWORD", PASSWORD),
            ("PORTAL_HEADER_TIMEOUT_SECS", "3"),
            ("PORTAL_REQUEST_TIMEOUT_SECS", "3"),
        ],
    );
    let base = portal.base_url();
    let addr = address_of(&base);
    // 300 requests from one client, each stopped before its headers end.
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut stream = connect_from([127, 0, 0, 2], addr).await;
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: portal\r\n")
            .await;
        held.push(stream);
    }
    // Everyone else is still answered at once: liveness, and a sign-in (a password hash).
    let client = reqwest::Client::new();
    let (health, took) = timed(client.get(format!("{base}/healthz")).send()).await;
    assert_eq!(health.unwrap().status(), 200);
    assert!(took < Duration::from_secs(1), "/healthz took {took:?}");
    let (token, took) = timed(sign_in(&client, &base, ADMIN, PASSWORD)).await;
    assert!(!token.is_empty());
    assert!(took < Duration::from_secs(1), "a sign-in took {took:?}");
    println!(
        "with 300 half-sent requests held: /healthz and a sign-in answered, the sign-in in {took:?}"
    );

    // Those beyond the client's share were told to come back, or closed; the rest are
    // closed when their headers are late. None is left open.
    let mut refused = 0;
    for stream in &mut held {
        let said = until_closed(stream, Duration::from_secs(8))
            .await
            .expect("every held connection is closed by the server");
        if said.starts_with("HTTP/1.1 503") {
            assert!(said.to_lowercase().contains("retry-after: 1"), "{said}");
            refused += 1;
        }
    }
    assert!(refused > 0, "connections beyond the cap are answered 503");

    // A body that never finishes arriving is answered 408 after the request timeout.
    let mut slow = connect_from([127, 0, 0, 3], addr).await;
    slow.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: portal\r\nContent-Type: application/json\r\n\
          Content-Length: 400\r\n\r\n{\"username\":",
    )
    .await
    .unwrap();
    let said = until_closed(&mut slow, Duration::from_secs(8))
        .await
        .expect("a request that takes too long is ended");
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(said.contains("request_timeout"), "{said}");

    assert!(
        !portal.stderr_text().contains("Too many open files"),
        "{}",
        portal.stderr_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_its_answers_is_let_go() {
    let portal = portal_with(&[("PORTAL_REQUEST_TIMEOUT_SECS", "2")]);
    let base = portal.base_url();
    let document = reqwest::get(format!("{base}/api/openapi.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    // Eighty requests for the OpenAPI document at once, through a small window, and nothing
    // read: the portal's writes stall.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address_of(&base)).await.unwrap();
    let request = "GET /api/openapi.json HTTP/1.1\r\nHost: portal\r\n\r\n".repeat(80);
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Read now: what was sent before the portal let go, then the end.
    let mut got = 0usize;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection was closed");
    assert!(
        got < 80 * document,
        "{got} bytes of {} were sent: the stalled connection was kept",
        80 * document
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_apart_on_request_and_count_only_known_methods_and_routes() {
    let portal = portal_with(&[("PORTAL_METRICS_LISTEN", "127.0.0.1:0")]);
    let base = portal.base_url();
    let line = portal.wait_for_stdout("metrics on http://", Duration::from_secs(10));
    let metrics_url = line.trim_start_matches("metrics on ").to_owned();
    let client = reqwest::Client::new();
    // Not on the public listener; only there, and nothing else there.
    assert_eq!(
        client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let metrics_base = metrics_url.trim_end_matches("/metrics");
    assert_eq!(
        client
            .get(format!("{metrics_base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // 300 made-up methods of a kilobyte each, and 300 paths that lead nowhere.
    for i in 0..300 {
        let method = format!("M{i:03}{}", "X".repeat(1_000));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = client
            .request(method, format!("{base}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        let r = client
            .get(format!("{base}/nowhere-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let text = client
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"method="other",route="/healthz",status="405"} 300"#),
        "{text}"
    );
    // The 300 paths, and the public listener's `/metrics`.
    assert!(
        text.contains(r#"method="GET",route="unmatched",status="404"} 301"#),
        "{text}"
    );
    assert!(!text.contains("XXXX") && !text.contains("nowhere"));
    assert!(text.len() < 16_000, "metrics grew to {} bytes", text.len());
    println!(
        "/metrics after 300 made-up methods and 300 unknown paths: {} bytes",
        text.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crafted_passwords_are_checked_away_from_the_threads_that_answer() {
    // One thread answers every request: a check run on it would hold every answer up.
    let portal = portal_with(&[("TOKIO_WORKER_THREADS", "1")]);
    let base = portal.base_url();
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, ADMIN, PASSWORD).await;
    // A password whose strength estimate takes a core for a good part of a second (else
    // this test would prove nothing).
    let crafted = "4@|3&(16#9!1|07$5+7%2><".repeat(6)[..128].to_owned();
    let (_, weighing) = timed(async {
        portal_domain::field::Password::parse(&crafted, &[("user name", "keAdmin")])
    })
    .await;
    assert!(
        weighing > Duration::from_millis(150),
        "the crafted password is weighed in {weighing:?}"
    );
    let submissions: Vec<_> = (0..4)
        .map(|i| {
            let mut body = submission(&format!("Crafted{i}"));
            body["tenant"]["password"] = json!(crafted);
            body["tenant"]["confirm_password"] = json!(crafted);
            let request = client
                .post(format!("{base}/api/v1/subscription-requests"))
                .bearer_auth(&token)
                .json(&body)
                .send();
            tokio::spawn(request)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (health, took) = timed(client.get(format!("{base}/healthz")).send()).await;
    assert_eq!(health.unwrap().status(), 200);
    assert!(took < Duration::from_secs(1), "/healthz took {took:?}");
    for submitted in submissions {
        let status = submitted.await.unwrap().unwrap().status();
        assert!(status == 202 || status == 422, "{status}");
    }
}

/// The headers every answer carries; `signed_in_or_token` answers must never be stored.
fn assert_security_headers(r: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let csp = header("content-security-policy");
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(part), "{what}: {part} in {csp:?}");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "same-origin", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
}

fn no_store(r: &reqwest::Response) -> bool {
    r.headers()
        .get("cache-control")
        .is_some_and(|v| v.to_str().unwrap().contains("no-store"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers_and_private_ones_are_never_stored() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let session = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    for (path, cookie) in [
        ("/sign-in", ""),
        ("/join", ""),
        ("/", session.as_str()),
        ("/requests", session.as_str()),
        ("/account", session.as_str()),
        ("/nowhere", ""),
    ] {
        let r = browser
            .get(app.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_security_headers(&r, path);
        assert!(no_store(&r), "{path}: no-store");
        assert!(r.headers().get("strict-transport-security").is_none());
    }
    // A token's answer is never stored either; the script and styles may be, briefly.
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_security_headers(&r, "login");
    assert!(no_store(&r), "a token answer is not stored");
    let r = app.get("/api/v1/me", &app.token).await;
    assert!(no_store(&r));
    let r = browser
        .get(app.url("/assets/portal.js"))
        .send()
        .await
        .unwrap();
    assert_security_headers(&r, "script");
    assert!(!no_store(&r));
    // Over http the session cookie has no prefix and no Secure.
    let r = browser
        .post(app.url("/sign-in"))
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("portal_session="), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_session_cookie_is_host_only_and_secure_and_browsers_keep_to_https() {
    let app = spawn_app_with(Db::Sqlite, |s| {
        let mut mailer = (*s.mailer).clone();
        mailer.base_url = "https://portal.example".to_owned();
        s.mailer = std::sync::Arc::new(mailer);
    })
    .await
    .unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser.get(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let r = browser
        .post(app.url("/sign-in"))
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-portal_session="))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    for part in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(session.contains(part), "{part} in {session}");
    }
    assert!(!session.contains("Domain="), "{session}");
    // No longer than the session may last (twelve hours unless the policy says otherwise).
    let max_age: i64 = session
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age > 0 && max_age <= 12 * 60 * 60, "{session}");
    let pair = session.split(';').next().unwrap().to_owned();
    let page = browser
        .get(app.url("/account"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the prefixed cookie signs in");
    // The same value without the prefix is not taken: a neighbouring site could set that.
    let unprefixed = pair.trim_start_matches("__Host-");
    let page = browser
        .get(app.url("/account"))
        .header("cookie", unprefixed)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    // Signing out clears the prefixed cookie.
    let out = browser
        .post(app.url("/sign-out"))
        .header("cookie", &pair)
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    let cleared = out.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("__Host-portal_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert!(
        cleared.contains("Secure") && cleared.contains("Path=/"),
        "{cleared}"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_reads_no_template_only_its_tenants_own_version() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    assert_eq!(
        app.submit(&submission("TemplateReader")).await.status(),
        202
    );
    app.run_pending_jobs().await;
    let login = "prpkeAdmin@templatereader.example.com";
    app.settle_password(login).await;
    let tenant_token = app.login_token(login, common::TENANT_PASSWORD).await;
    let me: Value = app
        .get("/api/v1/me", &tenant_token)
        .await
        .json()
        .await
        .unwrap();
    let tenant_id = me["tenant_id"].as_str().unwrap().to_owned();
    for path in [
        "/api/v1/templates",
        "/api/v1/templates/voice-essentials",
        "/api/v1/templates/omnichannel-smart-queues",
    ] {
        let status = app.get(path, &tenant_token).await.status();
        assert!(status == 403 || status == 404, "{path}: {status}");
    }
    let tenant: Value = app
        .get(&format!("/api/v1/tenants/{tenant_id}"), &tenant_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tenant["template"]["id"], "voice-essentials", "{tenant}");
    assert_eq!(tenant["template"]["version"], 1, "{tenant}");
    app.finish().await;
}
