//! The test harness: the portal served in-process on a free port with a fresh database, and a
//! helper per endpoint; plus the real binary started as a child process.

#![allow(dead_code, unused_macros)]

pub mod oidc;
pub mod receiver;
pub mod remote;
pub mod smtp;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portal::service::Services;
use portal::service::security::{SecurityCache, SecurityDoc};
use portal::web::{AppState, router};
use portal::worker::{WorkerConfig, run_until_idle};
use portal_store::Store;
use portal_store::test_support::TestDatabase;
use serde_json::{Value, json};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "landlord-secret-2026";
pub const TENANT_PASSWORD: &str = "Blue-Harbour-Lantern-42";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub services: Services,
    pub store: Store,
    pub token: String,
    db: Option<TestDatabase>,
    /// The mail spool's folder, removed with the app (`None` on a second server sharing it).
    _spool: Option<tempfile::TempDir>,
    server: tokio::task::JoinHandle<()>,
}

/// A tenant administrator whose password was typed on the staff's form changes it (to
/// another and back to `TENANT_PASSWORD`), so that a test about something else can go on.
pub async fn settle_password(client: &reqwest::Client, base: &str, login: &str) {
    let sign_in = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": login, "password": TENANT_PASSWORD}))
        .send()
        .await
        .expect("sign in");
    assert_eq!(sign_in.status(), 200, "sign-in of {login}");
    let token = sign_in.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let between = "Quiet-Meadow-Compass-73";
    for (current, new) in [(TENANT_PASSWORD, between), (between, TENANT_PASSWORD)] {
        let changed = client
            .post(format!("{base}/api/v1/me/password"))
            .bearer_auth(&token)
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
            .await
            .expect("change password");
        assert_eq!(changed.status(), 204, "password change of {login}");
    }
}

/// Serves the portal on a free port over a fresh database, with the seeded templates and a
/// landlord administrator signed in. `None` when PostgreSQL is asked for but not configured.
pub async fn spawn_app(db: Db) -> Option<TestApp> {
    spawn_app_with(db, |_| {}).await
}

/// The same, with the services adjusted first (a mail transport, say).
pub async fn spawn_app_with(db: Db, configure: impl FnOnce(&mut Services)) -> Option<TestApp> {
    let database = match db {
        Db::Sqlite => TestDatabase::sqlite(),
        Db::Postgres => TestDatabase::postgres().await?,
    };
    let store = Store::connect(&database.url, 8).await.expect("connect");
    store.migrate().await.expect("migrate");
    let mut services = Services::new(store.clone());
    let spool = tempfile::Builder::new()
        .prefix("portal-test-spool-")
        .tempdir()
        .expect("spool folder");
    services.mailer = std::sync::Arc::new(portal::mail::Mailer::spool(spool.path().to_path_buf()));
    // Tests about other things sign in with a password alone; those about second factors
    // set the policy themselves.
    services.security = SecurityCache::new(SecurityDoc::initial(&[]));
    configure(&mut services);
    portal::service::seed::seed_templates(&services)
        .await
        .expect("seed");
    portal::service::seed::ensure_landlord(&services, ADMIN, Some(ADMIN_PASSWORD))
        .await
        .expect("landlord");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = router(AppState::new(services.clone()));
    let server = serve(listener, app);
    let mut app = TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        services,
        store,
        token: String::new(),
        db: Some(database),
        _spool: Some(spool),
        server,
    };
    app.token = app.login_token(ADMIN, ADMIN_PASSWORD).await;
    Some(app)
}

/// Serves `app` as the binary does, with the server's default limits.
fn serve(listener: tokio::net::TcpListener, app: axum::Router) -> tokio::task::JoinHandle<()> {
    tokio::spawn(portal::web::server::serve(
        listener,
        app,
        portal::web::server::Limits::default(),
        std::sync::Arc::default(),
        std::future::pending(),
    ))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login")
    }

    pub async fn login_token(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password).await;
        assert_eq!(r.status(), 200, "sign-in of {username}");
        r.json::<Value>().await.expect("json")["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// Makes a tenant administrator's typed password their own, as its owner would at the
    /// first sign-in: changed to another and back, through the API.
    pub async fn settle_password(&self, login: &str) {
        settle_password(&self.client, &self.base, login).await;
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("get")
    }

    pub async fn submit(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/subscription-requests"))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("submit")
    }

    /// Runs every due job now, as the worker would.
    pub async fn run_pending_jobs(&self) -> usize {
        run_until_idle(&self.services, &WorkerConfig::default())
            .await
            .expect("run jobs")
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn request_count(&self) -> usize {
        self.store
            .list_requests(&portal_store::request::RequestFilter {
                limit: 10_000,
                ..Default::default()
            })
            .await
            .expect("list")
            .len()
    }

    /// A second server over the same database whose password hasher is `hasher`.
    pub async fn with_hasher(&self, hasher: portal::password::Hasher) -> TestApp {
        // The same services (mail spool included) but for the hasher.
        let mut services = self.services.clone();
        services.hasher = hasher;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = serve(listener, router(AppState::new(services.clone())));
        TestApp {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            services,
            store: self.store.clone(),
            token: self.token.clone(),
            db: None,
            _spool: None,
            server,
        }
    }

    /// Signs in through the sign-in form as a browser does; the session cookie (`name=value`).
    pub async fn page_session(&self, username: &str, password: &str) -> String {
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let signed_in = browser
            .post(self.url("/sign-in"))
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .expect("sign in");
        let set = signed_in.headers()["set-cookie"].to_str().expect("cookie");
        set.split(';').next().expect("name=value").to_owned()
    }

    /// The text of a page fetched with a session cookie (`name=value`).
    pub async fn page_with(&self, path: &str, cookie: &str) -> String {
        self.client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("text")
    }

    /// Adds an active landlord administrator with an email address (digests, notices).
    pub async fn landlord_admin_with_address(&self, username: &str, email: &str) {
        self.store
            .create_user(&portal_store::user::NewUser {
                id: portal_store::new_id(),
                username: username.into(),
                password_hash: "x".into(),
                role: portal_domain::Role::LandlordAdmin,
                tenant_id: None,
                email: Some(email.into()),
                status: portal_domain::AccountStatus::Active,
                must_change_password: false,
            })
            .await
            .expect("a landlord administrator");
    }

    /// The URL of the test's own database.
    pub fn database_url(&self) -> &str {
        self.db.as_ref().map_or("", |db| db.url.as_str())
    }

    /// Runs SQL on the test's database over a connection of its own (to add a trigger, say).
    pub async fn execute_sql(&self, sql: &str) {
        use sqlx::{Connection, Executor};
        let mut conn = sqlx::AnyConnection::connect(self.database_url())
            .await
            .expect("connect for SQL");
        conn.execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .expect("the test's SQL");
        conn.close().await.expect("close");
    }

    pub async fn finish(mut self) {
        self.server.abort();
        // `close` waits for every connection to be given back: one a task still held would
        // keep it waiting for ever. A minute, then the test says so rather than hanging.
        tokio::time::timeout(Duration::from_secs(60), self.store.close())
            .await
            .expect("every database connection was given back within a minute of the test's end");
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
    }
}

/// A valid submission for a tenant called `name` (short name and domain derived from it).
pub fn submission(name: &str) -> Value {
    let short = name.to_lowercase().chars().take(12).collect::<String>();
    json!({
        "template_id": "voice-essentials",
        "tenant": {
            "name": name,
            "short_name": short,
            "upn_suffix": format!("{}.example.com", name.to_lowercase()),
            "admin_user_name": "keAdmin",
            "password": TENANT_PASSWORD,
            "confirm_password": TENANT_PASSWORD,
            "ani": "+44 20 7946 0000"
        },
        "contact": {"first_name": "Jo", "last_name": "Kenton", "email": "jo@example.com"}
    })
}

/// A client that does not follow redirects, as a page test wants to see them.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A page fetched with a session cookie (`name=value`): its status and text.
pub async fn page(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
    let r = browser()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A form posted from the portal's own page; the status and where it leads, or the page.
pub async fn post(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = browser()
        .post(app.url(path))
        .header("cookie", cookie)
        .header("origin", &app.base)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    match r.headers().get("location") {
        Some(to) => (status, to.to_str().unwrap().to_owned()),
        None => (status, r.text().await.unwrap()),
    }
}

/// The real `portal` binary running as a child, with its output captured line by line.
pub struct Portal {
    pub child: Child,
    /// The working folder of a portal started without `PORTAL_DATA_DIR`, so that its default
    /// `./data` lands in a temporary place.
    _workdir: Option<tempfile::TempDir>,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl std::io::Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            into.lock().unwrap().push(line);
        }
    });
}

/// The first line of a child's output that contains `needle` (a line it prints once ready,
/// such as the port it took), or `None` when its output ends first or nothing matches within
/// `within`. The rest of the output is read and dropped, so that the child never writes into a
/// closed pipe.
pub fn announced(
    stream: impl std::io::Read + Send + 'static,
    needle: &'static str,
    within: Duration,
) -> Option<String> {
    let (said, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stream).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if line.contains(needle) {
                let _ = said.send(line);
                break;
            }
        }
        lines.for_each(drop);
    });
    heard.recv_timeout(within).ok()
}

impl Portal {
    /// Starts `portal ARGS` with `envs` and no inherited `PORTAL_*` settings. Unless `envs`
    /// says otherwise, no role must use two-step sign-in (tests about it say so).
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut with_default = vec![("PORTAL_MFA_REQUIRED_FOR", "none")];
        with_default.extend_from_slice(envs);
        Self::start_as_shipped(args, &with_default)
    }

    /// `portal ARGS` (a `serve` command) on a free port with the first landlord admin's
    /// password, plus `envs`.
    pub fn serving(args: &[&str], admin_password: &str, envs: &[(&str, &str)]) -> Self {
        let mut all = vec![
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_ADMIN_PASSWORD", admin_password),
        ];
        all.extend_from_slice(envs);
        Self::start(args, &all)
    }

    /// `start`, in a process that may open at most `files` files (`ulimit -n`).
    pub fn start_with_open_files(files: u32, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let script = format!("ulimit -n {files} && exec \"$0\" \"$@\"");
        let mut command = Command::new("sh");
        command
            .args(["-c", &script, env!("CARGO_BIN_EXE_portal")])
            .args(args);
        let mut with_default = vec![("PORTAL_MFA_REQUIRED_FOR", "none")];
        with_default.extend_from_slice(envs);
        Self::spawn(command, &with_default)
    }

    /// The same, with every setting not in `envs` at the default it ships with.
    pub fn start_as_shipped(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_portal"));
        command.args(args);
        Self::spawn(command, envs)
    }

    /// Runs `command` with `envs` and no inherited `PORTAL_*` settings.
    fn spawn(mut command: Command, envs: &[(&str, &str)]) -> Self {
        for (key, _) in std::env::vars() {
            if key.starts_with("PORTAL_") {
                command.env_remove(key);
            }
        }
        command
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let workdir = if envs.iter().any(|(k, _)| *k == "PORTAL_DATA_DIR") {
            None
        } else {
            let dir = tempfile::tempdir().expect("a working folder");
            command.current_dir(dir.path());
            Some(dir)
        };
        let mut child = command.spawn().expect("start portal");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("stdout"), stdout.clone());
        collect(child.stderr.take().expect("stderr"), stderr.clone());
        Self {
            child,
            _workdir: workdir,
            stdout,
            stderr,
        }
    }

    /// Waits for a line of standard output that contains `needle`, and returns it.
    pub fn wait_for_stdout(&self, needle: &str, within: Duration) -> String {
        self.wait_for(&self.stdout, needle, within)
    }

    pub fn wait_for_stderr(&self, needle: &str, within: Duration) -> String {
        self.wait_for(&self.stderr, needle, within)
    }

    fn wait_for(&self, lines: &Arc<Mutex<Vec<String>>>, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no line with {needle:?} within {within:?}; stdout: {:?}; stderr: {:?}",
                self.stdout.lock().unwrap(),
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A portal that must be told its port before it listens (its base URL names it, or a
    /// peer started before it was told its address): `start(port)` on a port that was free a
    /// moment ago, and again on another when something took that one meanwhile, so that the
    /// portal could not listen on it. What `start` made, and the port it listens on.
    pub fn on_a_free_port<T>(mut start: impl FnMut(u16) -> (Portal, T)) -> (Portal, T, u16) {
        const TRIES: usize = 5;
        for _ in 0..TRIES {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let (mut portal, with) = start(port);
            if portal.listens_or_exits(Duration::from_secs(30)) {
                return (portal, with, port);
            }
            assert!(
                portal.stderr_text().contains("cannot listen on"),
                "the portal exited before it listened; stdout: {}; stderr: {}",
                portal.stdout_text(),
                portal.stderr_text()
            );
        }
        panic!("the portal found its port taken {TRIES} times in a row");
    }

    /// Whether the portal says it listens (`true`) before it exits (`false`), within `within`.
    fn listens_or_exits(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let listening =
                |lines: &[String]| lines.iter().any(|l| l.contains("listening on http://"));
            if listening(&self.stdout.lock().unwrap()) {
                return true;
            }
            if self.child.try_wait().expect("wait").is_some() {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return listening(&self.stdout.lock().unwrap());
            }
            assert!(
                Instant::now() < deadline,
                "the portal neither listened nor exited within {within:?}; stdout: {}; stderr: {}",
                self.stdout_text(),
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address from the `listening on http://ADDR` line.
    pub fn base_url(&self) -> String {
        let line = self.wait_for_stdout("listening on http://", Duration::from_secs(30));
        line.trim_start_matches("listening on ").to_owned()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "the portal did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub fn stdout_text(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How many messages a mail spool folder holds (its `.eml` files).
pub fn spooled_messages(folder: &std::path::Path) -> usize {
    std::fs::read_dir(folder)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "eml")
        })
        .count()
}

/// Polls `check` until it returns `Some`, or fails after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs each named `async fn(&TestApp)` as two tests, `sqlite::NAME` and `postgres::NAME`, each
/// on a fresh portal and database (the PostgreSQL half is skipped, with a note, when no server
/// is configured outside CI).
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = super::spawn_app(super::Db::Sqlite).await.expect("sqlite");
                    super::$name(&app).await;
                    app.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(app) = super::spawn_app(super::Db::Postgres).await else { return };
                    super::$name(&app).await;
                    app.finish().await;
                }
            )*
        }
    };
}

/// Runs each named `async fn(Db)` as two tests, `sqlite::NAME` and `postgres::NAME`, for tests
/// that start their portal themselves (with a mail server of their own, say).
macro_rules! on_both_db {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::Db::Sqlite).await; }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::Db::Postgres).await; }
            )*
        }
    };
}

/// The code an authenticator app shows for the base32 `secret` at `unix_secs`: HOTP (RFC
/// 4226) of the 30-second step, six digits. Written here from the RFCs, apart from the portal's
/// own TOTP code, so that the two check each other.
pub fn totp_code(secret: &str, unix_secs: u64) -> String {
    use hmac::{KeyInit, Mac};
    let key = base32_decode(secret);
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&key).expect("any key length");
    mac.update(&(unix_secs / 30).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", value % 1_000_000)
}

/// The code for now, and for the next 30-second step (for a second sign-in: a step works once).
pub fn totp_now(secret: &str) -> String {
    totp_code(secret, unix_now())
}

pub fn totp_next(secret: &str) -> String {
    totp_code(secret, unix_now() + 30)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// RFC 4648 base32, upper case, without padding.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .expect("a base32 character");
        bits = (bits << 5) | u32::try_from(value).expect("small");
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from((bits >> count) & 0xff).expect("a byte"));
        }
    }
    out
}

/// An authenticator app set up for an account through the API.
pub struct TotpApp {
    pub secret: String,
    /// The code that confirmed it (its step is used).
    pub confirmed_with: String,
    pub recovery_codes: Vec<String>,
}

/// Sets up an authenticator app for the owner of `token` (which then counts as having passed
/// it) and returns its key and recovery codes.
pub async fn enrol_totp(client: &reqwest::Client, base: &str, token: &str) -> TotpApp {
    let started = client
        .post(format!("{base}/api/v1/me/mfa/totp"))
        .bearer_auth(token)
        .send()
        .await
        .expect("start");
    assert_eq!(started.status(), 200, "start of an authenticator app");
    let secret = started.json::<Value>().await.expect("json")["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let confirmed_with = totp_now(&secret);
    let confirmed = client
        .post(format!("{base}/api/v1/me/mfa/totp/confirm"))
        .bearer_auth(token)
        .json(&json!({"code": confirmed_with}))
        .send()
        .await
        .expect("confirm");
    assert_eq!(
        confirmed.status(),
        200,
        "confirmation of an authenticator app"
    );
    let recovery_codes = confirmed.json::<Value>().await.expect("json")["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    TotpApp {
        secret,
        confirmed_with,
        recovery_codes,
    }
}

/// Calls the API with a bearer `token` (none when empty): the status and the JSON answer
/// (null when there is none).
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path));
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("an answer");
    let status = r.status().as_u16();
    let text = r.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
