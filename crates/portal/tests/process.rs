//! The real binary as a user runs it: first start, sign-in and a request carried to a tenant,
//! clean stops, bad settings, and workers in separate processes sharing one PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::remote::{request_status, sign_in, submit, wait_completed};
use common::{Portal, TENANT_PASSWORD, eventually, submission};
use portal_store::test_support::TestDatabase;
use serde_json::{Value, json};
use sqlx::{Connection, Executor};

const ADMIN_PASSWORD: &str = "process-test-landlord-pw";

/// From a worker's log, the ids of the jobs it started, with the attempt number.
fn started_jobs(log: &str) -> Vec<(i64, i64)> {
    log.lines()
        .filter(|l| l.contains("job started") && l.contains("job.kind=provision_request"))
        .map(|l| {
            let field = |name: &str| -> i64 {
                let at = l.find(name).unwrap_or_else(|| panic!("{name} in {l}")) + name.len();
                l[at..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap()
            };
            (field("job.id="), field("job.attempt="))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_creates_the_data_folder_and_an_administrator_and_carries_a_request_to_a_tenant()
 {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_dir = data.to_str().unwrap();
    let mut portal = Portal::start(
        &[],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATA_DIR", data_dir),
        ],
    );
    let base = portal.base_url();
    let created = portal.wait_for_stdout("generated password", Duration::from_secs(5));
    let password = created
        .split("generated password ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    assert!(password.len() >= 20);
    assert!(data.join("portal.db").exists());

    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let token = sign_in(&client, &base, "admin", &password).await;
    let id = submit(&client, &base, &token, "KentonElectronics").await;
    let done = wait_completed(&client, &base, &token, &id, Duration::from_secs(20)).await;
    // Its name reaches the search's indexes within a second or so of being stored, in the
    // running portal's next batch.
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{data_dir}/portal.db"))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM names_unindexed")
            .fetch_one(&mut db)
            .await
            .unwrap();
        let indexed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM request_names WHERE request_id = $1")
                .bind(&id)
                .fetch_one(&mut db)
                .await
                .unwrap();
        if waiting == 0 && indexed == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the name was not indexed: {waiting} waiting"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.close().await.unwrap();
    let tenant_id = done["tenant_id"].as_str().unwrap();
    let tenant: Value = client
        .get(format!("{base}/api/v1/tenants/{tenant_id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenant["admin"]["personnel_id"], "prpkeAdmin");
    assert!(
        !portal.stderr_text().contains(&password),
        "the password is not logged"
    );
    assert!(
        !portal.stderr_text().contains(TENANT_PASSWORD),
        "the tenant's password is not logged"
    );

    // While it runs, SQLite's WAL is beside the database, as private as it.
    {
        use std::os::unix::fs::PermissionsExt;
        let wal = std::fs::metadata(data.join("portal.db-wal")).expect("the WAL file");
        assert_eq!(wal.permissions().mode() & 0o777, 0o600, "the WAL");
    }

    portal.signal("TERM");
    assert_eq!(
        portal.wait_exit(Duration::from_secs(15)),
        Some(0),
        "{}",
        portal.stderr_text()
    );
    assert!(portal.stderr_text().contains("worker stopped"));

    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}/portal.db", data_dir))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    db.close().await.unwrap();

    // The data folder and what is in it are the portal's user's alone: the database, its
    // WAL, and the spooled messages (the tenant's outcome email went to the spool).
    let mode_of = |path: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode_of(&data), 0o700, "the data folder");
    assert_eq!(mode_of(&data.join("portal.db")), 0o600, "the database");
    assert_eq!(mode_of(&data.join("mail")), 0o700, "the spool folder");
    let spooled: Vec<_> = std::fs::read_dir(data.join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!spooled.is_empty());
    for file in spooled {
        assert_eq!(mode_of(&file), 0o600, "{}", file.display());
    }

    // A second start finds the administrator and shows no password again.
    let mut again = Portal::start(
        &[],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATA_DIR", data_dir),
        ],
    );
    let base = again.base_url();
    assert!(!again.stdout_text().contains("password"));
    sign_in(&client, &base, "admin", &password).await;
    again.signal("INT");
    assert_eq!(again.wait_exit(Duration::from_secs(15)), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_path_runs_on_postgresql() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let mut portal = Portal::serving(
        &["serve"],
        ADMIN_PASSWORD,
        &[("PORTAL_DATABASE_URL", &db.url)],
    );
    let base = portal.base_url();
    assert!(
        portal
            .stdout_text()
            .contains("created the landlord administrator")
    );
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let id = submit(&client, &base, &token, "KentonElectronics").await;
    let done = wait_completed(&client, &base, &token, &id, Duration::from_secs(20)).await;
    assert_eq!(done["tenant"]["ani"], "+442079460000");
    portal.signal("TERM");
    assert_eq!(portal.wait_exit(Duration::from_secs(15)), Some(0));
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_database_that_does_not_exist_yet_is_created_at_first_start() {
    let Ok(server) = std::env::var(portal_store::test_support::POSTGRES_URL_VAR) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL is required under CI"
        );
        return;
    };
    let name = format!(
        "portal_test_new_{}",
        portal_store::new_id().replace('-', "")
    );
    let url = portal_store::test_support::with_database(&server, &name);
    let mut migrate = Portal::start(&["migrate"], &[("PORTAL_DATABASE_URL", &url)]);
    assert_eq!(
        migrate.wait_exit(Duration::from_secs(30)),
        Some(0),
        "{}",
        migrate.stderr_text()
    );
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(found, 1);
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
        .unwrap();
    admin.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_stop_the_start_with_one_line_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let under_file = format!("sqlite://{}/sub/portal.db", blocker.display());
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("PORTAL_DATABASE_URL", "mysql://localhost/x")],
            "PORTAL_DATABASE_URL",
        ),
        (
            vec![("PORTAL_DATABASE_URL", "not a url")],
            "PORTAL_DATABASE_URL",
        ),
        (
            vec![(
                "PORTAL_DATABASE_URL",
                "postgres://postgres@127.0.0.1:1/nothing",
            )],
            "PORTAL_DATABASE_URL",
        ),
        (
            vec![("PORTAL_DATABASE_URL", &under_file)],
            "PORTAL_DATA_DIR",
        ),
        (vec![("PORTAL_LISTEN", &taken_addr)], "PORTAL_LISTEN"),
        (vec![("PORTAL_LISTEN", "localhost")], "PORTAL_LISTEN"),
        (
            vec![("PORTAL_WORKER_POLL_MS", "5")],
            "PORTAL_WORKER_POLL_MS",
        ),
        (vec![("PORTAL_LOG_FORMAT", "xml")], "PORTAL_LOG_FORMAT"),
        (
            vec![("PORTAL_BASE_URL", "ftp://example.com")],
            "PORTAL_BASE_URL",
        ),
        (
            vec![("PORTAL_ADMIN_PASSWORD", "short")],
            "PORTAL_ADMIN_PASSWORD",
        ),
        (
            vec![("PORTAL_TRUSTED_PROXIES", "10.0.0.0/8, proxy.example")],
            "PORTAL_TRUSTED_PROXIES",
        ),
        (
            vec![("PORTAL_FORWARDING_HEADER", "x-real-ip")],
            "PORTAL_FORWARDING_HEADER",
        ),
        (
            vec![("PORTAL_MFA_REQUIRED_FOR", "landlord_admin,boss")],
            "PORTAL_MFA_REQUIRED_FOR",
        ),
        (
            vec![("PORTAL_OIDC_ISSUER", "id.provider.example")],
            "PORTAL_OIDC_ISSUER",
        ),
        (
            vec![
                ("PORTAL_OIDC_ISSUER", "https://id.provider.example"),
                ("PORTAL_OIDC_ROLES", "staff=landlord_admin"),
            ],
            "PORTAL_OIDC_CLIENT_ID",
        ),
        (
            vec![
                ("PORTAL_OIDC_ISSUER", "https://id.provider.example"),
                ("PORTAL_OIDC_CLIENT_ID", "portal"),
                ("PORTAL_OIDC_ROLES", "staff=tenant_admin"),
            ],
            "PORTAL_OIDC_ROLES",
        ),
        // The first landlord admin's password follows the rule of every password.
        (
            vec![("PORTAL_ADMIN_PASSWORD", "my-Admin-password-2026")],
            "PORTAL_ADMIN_PASSWORD",
        ),
        (
            vec![("PORTAL_WORKER_CONCURRENCY", "0")],
            "PORTAL_WORKER_CONCURRENCY",
        ),
        (
            vec![("PORTAL_DNS_SERVER", "dns.example")],
            "PORTAL_DNS_SERVER",
        ),
        (
            vec![("PORTAL_WORKER_PREFETCH", "20000")],
            "PORTAL_WORKER_PREFETCH",
        ),
        (vec![("PORTAL_LOG", "portal=[[[")], "PORTAL_LOG"),
        (
            vec![("PORTAL_SMTP_URL", "ftp://mail.example.com")],
            "PORTAL_SMTP_URL",
        ),
        (
            vec![("PORTAL_MAIL_FROM", "not an address")],
            "PORTAL_MAIL_FROM",
        ),
        (
            vec![("PORTAL_METRICS_LISTEN", "metrics.example")],
            "PORTAL_METRICS_LISTEN",
        ),
        (
            vec![("PORTAL_METRICS_LISTEN", &taken_addr)],
            "PORTAL_METRICS_LISTEN",
        ),
        (
            vec![("PORTAL_HEADER_TIMEOUT_SECS", "0")],
            "PORTAL_HEADER_TIMEOUT_SECS",
        ),
        (
            vec![("PORTAL_REQUEST_TIMEOUT_SECS", "100000")],
            "PORTAL_REQUEST_TIMEOUT_SECS",
        ),
        (
            vec![("PORTAL_MAX_CONNECTIONS", "0")],
            "PORTAL_MAX_CONNECTIONS",
        ),
        (
            vec![("PORTAL_MAX_CONNECTIONS_PER_CLIENT", "0")],
            "PORTAL_MAX_CONNECTIONS_PER_CLIENT",
        ),
    ];
    for (envs, setting) in cases {
        let mut all = vec![
            ("PORTAL_DATA_DIR", data_dir.as_str()),
            ("PORTAL_LISTEN", "127.0.0.1:0"),
        ];
        all.extend(envs.iter().copied());
        let mut portal = Portal::start(&[], &all);
        let code = portal.wait_exit(Duration::from_secs(30));
        let stderr = portal.stderr_text();
        assert!(
            matches!(code, Some(c) if c != 0),
            "{setting}: exit {code:?}"
        );
        assert!(!stderr.contains("panicked"), "{setting}: {stderr}");
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(errors.len(), 1, "{setting}: one error line in {stderr:?}");
        assert!(
            errors[0].contains(setting),
            "{setting} named in {:?}",
            errors[0]
        );
        assert!(!portal.stdout_text().contains("listening on"));
    }
    let mut unknown = Portal::start(&["--frobnicate"], &[]);
    assert_eq!(unknown.wait_exit(Duration::from_secs(10)), Some(2));
    assert!(
        unknown
            .stderr_text()
            .contains("unexpected argument '--frobnicate'")
    );
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_documents_every_setting_with_its_environment_variable() {
    let mut help = Portal::start(&["--help"], &[]);
    assert_eq!(help.wait_exit(Duration::from_secs(10)), Some(0));
    let text = help.stdout_text();
    for var in [
        "PORTAL_LISTEN",
        "PORTAL_DATA_DIR",
        "PORTAL_DATABASE_URL",
        "PORTAL_BASE_URL",
        "PORTAL_ADMIN_USERNAME",
        "PORTAL_ADMIN_PASSWORD",
        "PORTAL_SMTP_URL",
        "PORTAL_MAIL_FROM",
        "PORTAL_TRUSTED_PROXIES",
        "PORTAL_FORWARDING_HEADER",
        "PORTAL_METRICS_LISTEN",
        "PORTAL_HEADER_TIMEOUT_SECS",
        "PORTAL_REQUEST_TIMEOUT_SECS",
        "PORTAL_MAX_CONNECTIONS",
        "PORTAL_MAX_CONNECTIONS_PER_CLIENT",
        "PORTAL_DNS_SERVER",
    ] {
        assert!(text.contains(var), "{var} in --help");
    }
    for command in ["serve", "worker", "migrate"] {
        assert!(text.contains(command), "{command} in --help");
    }
    let mut serve_help = Portal::start(&["serve", "--help"], &[]);
    assert_eq!(serve_help.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(serve_help.stdout_text().contains("--no-worker"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_brings_a_new_database_up_to_date_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let mut portal = Portal::start(
        &["migrate"],
        &[("PORTAL_DATA_DIR", dir.path().to_str().unwrap())],
    );
    assert_eq!(
        portal.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        portal.stderr_text()
    );
    assert!(dir.path().join("portal.db").exists());
}

/// A portal that must be told its port before it listens, and finds it taken by the time it
/// starts, is started again on another port: the harness the browser tests start such portals
/// with (their base URL names the port).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_whose_port_was_taken_meanwhile_is_started_again_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let mut tried = Vec::new();
    let (portal, (), port) = Portal::on_a_free_port(|port| {
        // The first port offered is taken by the time the portal starts.
        let port = if tried.is_empty() { taken_port } else { port };
        tried.push(port);
        let listen = format!("127.0.0.1:{port}");
        let envs = [
            ("PORTAL_LISTEN", listen.as_str()),
            ("PORTAL_DATA_DIR", data),
        ];
        (Portal::start(&[], &envs), ())
    });
    assert_eq!(tried.len(), 2, "{tried:?}");
    assert_eq!(tried[0], taken_port);
    assert_ne!(port, taken_port);
    assert_eq!(portal.base_url(), format!("http://127.0.0.1:{port}"));
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    drop(taken);
}

/// Starts a web-only portal on PostgreSQL and submits `n` requests; returns (portal, base, token, ids).
async fn web_only_with_requests(
    db: &TestDatabase,
    n: usize,
) -> (Portal, String, String, Vec<String>) {
    let portal = Portal::serving(
        &["serve", "--no-worker"],
        ADMIN_PASSWORD,
        &[("PORTAL_DATABASE_URL", &db.url)],
    );
    let base = portal.base_url();
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(submit(&client, &base, &token, &format!("Tenant{i}")).await);
    }
    (portal, base, token, ids)
}

fn worker(db: &TestDatabase, lease_secs: &str) -> Portal {
    Portal::start(
        &["worker"],
        &[
            ("PORTAL_DATABASE_URL", &db.url),
            ("PORTAL_JOB_LEASE_SECS", lease_secs),
            ("PORTAL_LOG", "info"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_on_one_postgresql_complete_200_requests_each_exactly_once() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let (web, base, token, ids) = web_only_with_requests(&db, 200).await;
    let client = reqwest::Client::new();
    let first = request_status(&client, &base, &token, &ids[0]).await;
    assert_eq!(
        first["status"], "accepted",
        "no worker runs in the web process"
    );

    let mut workers = [worker(&db, "30"), worker(&db, "30"), worker(&db, "30")];
    for id in &ids {
        wait_completed(&client, &base, &token, id, Duration::from_secs(120)).await;
    }
    let mut runs: HashMap<i64, usize> = HashMap::new();
    for (n, w) in workers.iter_mut().enumerate() {
        w.signal("TERM");
        assert_eq!(w.wait_exit(Duration::from_secs(15)), Some(0));
        let started = started_jobs(&w.stderr_text());
        println!("worker {n} ran {} jobs", started.len());
        for (job, attempt) in started {
            assert_eq!(attempt, 1, "job {job} was never retried");
            *runs.entry(job).or_default() += 1;
        }
    }
    assert_eq!(runs.len(), 200, "every job ran");
    assert!(runs.values().all(|&n| n == 1), "no job ran twice: {runs:?}");
    let mut check = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM tenants), (SELECT COUNT(DISTINCT request_id) FROM tenants), \
         (SELECT COUNT(*) FROM users WHERE role = 'tenant_admin')",
    )
    .fetch_one(&mut check)
    .await
    .unwrap();
    assert_eq!(
        counts,
        (200, 200, 200),
        "one tenant and one administrator per request"
    );
    let doubled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT tenant_id, kind, name FROM tenant_objects \
         GROUP BY tenant_id, kind, name HAVING COUNT(*) > 1) d",
    )
    .fetch_one(&mut check)
    .await
    .unwrap();
    assert_eq!(doubled, 0, "no object copied twice");
    check.close().await.ok();
    drop(web);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_has_its_job_finished_by_another_after_the_lease_expires() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let (web, base, token, ids) = web_only_with_requests(&db, 1).await;
    let client = reqwest::Client::new();

    // Hold writes to the tenants table so that the first worker stops in the middle of the
    // job, after it has claimed it and started provisioning. (Reads go on: signing in reads
    // it, since a credential of a suspended tenant's user is no credential.)
    let mut blocker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    blocker.execute("BEGIN").await.unwrap();
    blocker
        .execute("LOCK TABLE tenants IN SHARE MODE")
        .await
        .unwrap();
    let mut doomed = worker(&db, "2");
    eventually(
        Duration::from_secs(20),
        "the first worker to start provisioning",
        || async {
            let r = request_status(&client, &base, &token, &ids[0]).await;
            (r["status"] == "provisioning").then_some(())
        },
    )
    .await;
    doomed.child.kill().unwrap();
    doomed.wait_exit(Duration::from_secs(5));
    assert!(!doomed.stderr_text().contains("job completed"));
    blocker.execute("ROLLBACK").await.unwrap();

    let mut rescuer = worker(&db, "2");
    let done = wait_completed(&client, &base, &token, &ids[0], Duration::from_secs(30)).await;
    assert!(done["tenant_id"].is_string());
    rescuer.signal("TERM");
    rescuer.wait_exit(Duration::from_secs(15));
    let started = started_jobs(&rescuer.stderr_text());
    assert_eq!(started.len(), 1, "{}", rescuer.stderr_text());
    assert_eq!(started[0].1, 2, "the rescued job ran as its second attempt");
    let mut check = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let tenants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
        .fetch_one(&mut check)
        .await
        .unwrap();
    let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'tenant_admin'")
        .fetch_one(&mut check)
        .await
        .unwrap();
    assert_eq!((tenants, admins), (1, 1), "nothing doubled");
    check.close().await.ok();
    blocker.close().await.ok();
    drop(web);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_response_log_line_or_stored_byte_contains_a_submitted_password() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let mut portal = Portal::serving(
        &[],
        ADMIN_PASSWORD,
        &[("PORTAL_DATA_DIR", data_dir), ("PORTAL_LOG", "debug")],
    );
    let base = portal.base_url();
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let secrets = [
        "Accepted-Harbour-Lantern-71",
        "Mismatched-Harbour-Lantern-72",
        "Mismatched-Harbour-Lantern-73",
        "Duplicate-Harbour-Lantern-74",
        "Short-75",
        "Wrong-Sign-In-Attempt-76",
        "Malformed-Body-Password-77",
    ];
    let mut seen = String::new();
    let post = |body: String| {
        client
            .post(format!("{base}/api/v1/subscription-requests"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let with_password = |name: &str, password: &str, confirm: &str| {
        let mut body = submission(name);
        body["tenant"]["password"] = json!(password);
        body["tenant"]["confirm_password"] = json!(confirm);
        body.to_string()
    };
    let record = |r: reqwest::Response, status: u16| {
        assert_eq!(r.status().as_u16(), status);
        let headers = format!("{:?}", r.headers());
        async move { format!("{headers}\n{}\n", r.text().await.unwrap()) }
    };
    let accepted = post(with_password("KentonElectronics", secrets[0], secrets[0]))
        .await
        .unwrap();
    let accepted_text = record(accepted, 202).await;
    let id = serde_json::from_str::<Value>(accepted_text.lines().nth(1).unwrap()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    seen.push_str(&accepted_text);
    seen.push_str(
        &record(
            post(with_password("Other", secrets[1], secrets[2]))
                .await
                .unwrap(),
            422,
        )
        .await,
    );
    seen.push_str(
        &record(
            post(with_password("KentonElectronics", secrets[3], secrets[3]))
                .await
                .unwrap(),
            409,
        )
        .await,
    );
    seen.push_str(
        &record(
            post(with_password("Third", secrets[4], secrets[4]))
                .await
                .unwrap(),
            422,
        )
        .await,
    );
    seen.push_str(
        &record(
            post(format!("{{\"tenant\":{{\"password\":\"{}\"", secrets[6]))
                .await
                .unwrap(),
            400,
        )
        .await,
    );
    let wrong =
        json!({"username": "prpkeAdmin@kentonelectronics.example.com", "password": secrets[5]});
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&wrong)
        .send()
        .await
        .unwrap();
    seen.push_str(&record(r, 401).await);
    wait_completed(&client, &base, &token, &id, Duration::from_secs(20)).await;
    sign_in(
        &client,
        &base,
        "prpkeAdmin@kentonelectronics.example.com",
        secrets[0],
    )
    .await;
    let r = client
        .get(format!("{base}/api/v1/subscription-requests/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    seen.push_str(&record(r, 200).await);

    portal.signal("TERM");
    assert_eq!(portal.wait_exit(Duration::from_secs(15)), Some(0));
    let logs = format!("{}\n{}", portal.stdout_text(), portal.stderr_text());
    assert!(logs.contains("DEBUG"), "debug logging was on");
    let mut stored = Vec::new();
    let mut folders = vec![dir.path().to_path_buf()];
    let mut emails = 0;
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                emails += usize::from(path.extension().is_some_and(|e| e == "eml"));
                stored.extend(std::fs::read(path).unwrap());
            }
        }
    }
    assert!(stored.len() > 10_000, "the database files were read");
    assert!(emails >= 1, "the spooled emails were read too");
    let stored = String::from_utf8_lossy(&stored);
    for secret in secrets {
        assert!(!seen.contains(secret), "{secret} in a response");
        assert!(!logs.contains(secret), "{secret} in the logs");
        assert!(!stored.contains(secret), "{secret} in the database files");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_ends_in_failed_with_nothing_kept_and_retry_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let fault = dir.path().join("fault");
    std::fs::write(&fault, "clone_configuration").unwrap();
    let portal = Portal::start(
        &[],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATA_DIR", data_dir.to_str().unwrap()),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("PORTAL_PROVISION_ATTEMPTS", "2"),
            ("PORTAL_FAULT_STEP_FILE", fault.to_str().unwrap()),
        ],
    );
    let base = portal.base_url();
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let id = submit(&client, &base, &token, "KentonElectronics").await;
    let failed = eventually(Duration::from_secs(30), "the request to fail", || async {
        let r = request_status(&client, &base, &token, &id).await;
        (r["status"] == "failed").then_some(r)
    })
    .await;
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("clone configuration") && error.contains("Retry"),
        "{error}"
    );
    assert!(failed["tenant_id"].is_null());
    let step = |r: &Value, name: &str| {
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(step(&failed, "clone_configuration"), "failed");
    assert_eq!(step(&failed, "create_tenant"), "pending", "rolled back");
    let tenants: Value = client
        .get(format!("{base}/api/v1/tenants"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenants["items"], json!([]), "no half-made tenant is left");
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "prpkeAdmin@kentonelectronics.example.com", "password": TENANT_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no administrator is left either");

    std::fs::remove_file(&fault).unwrap();
    let r = client
        .post(format!("{base}/api/v1/subscription-requests/{id}/retry"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done = wait_completed(&client, &base, &token, &id, Duration::from_secs(30)).await;
    let actions: Vec<&str> = done["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "submitted",
            "provisioning_started",
            "failed",
            "retry",
            "provisioning_started",
            "completed"
        ]
    );
    sign_in(
        &client,
        &base,
        "prpkeAdmin@kentonelectronics.example.com",
        TENANT_PASSWORD,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_killed_during_cloning_finishes_the_tenant_after_a_restart_with_each_object_once()
{
    const OBJECTS: usize = 6_000;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let db_url = format!("sqlite://{data_dir}/portal.db");
    {
        let store = portal_store::Store::connect(&db_url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let objects = (0..OBJECTS)
            .map(|i| portal_store::template::TemplateObjectRow {
                kind: "queue".into(),
                name: format!("Queue {i:05} of {{tenant.name}}"),
                properties: format!(
                    r#"{{"priority":{},"description":"for {{tenant.upn_suffix}}"}}"#,
                    i % 100
                ),
            })
            .collect();
        store
            .create_template(
                &portal_store::template::NewTemplate {
                    id: "large".into(),
                    name: "Large".into(),
                    description: "Thousands of queues".into(),
                    services: r#"["voice"]"#.into(),
                    objects,
                },
                None,
            )
            .await
            .unwrap();
        store.close().await;
    }
    let envs = |pause: &'static str| {
        vec![
            ("PORTAL_LISTEN", "127.0.0.1:0".to_owned()),
            ("PORTAL_DATA_DIR", data_dir.clone()),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
            ("PORTAL_JOB_LEASE_SECS", "2".to_owned()),
            ("PORTAL_FAULT_CLONE_PAUSE_MS", pause.to_owned()),
        ]
    };
    let first_envs = envs("400");
    let first_envs: Vec<(&str, &str)> = first_envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut first = Portal::start(&[], &first_envs);
    let base = first.base_url();
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let mut body = submission("KentonElectronics");
    body["template_id"] = json!("large");
    let r = client
        .post(format!("{base}/api/v1/subscription-requests"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Kill it once some objects are copied and others are not.
    let mut watch = sqlx::SqliteConnection::connect(&db_url).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let copied_at_kill = loop {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenant_objects")
            .fetch_one(&mut watch)
            .await
            .unwrap();
        if n > 0 {
            break n;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "cloning did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    first.child.kill().unwrap();
    first.wait_exit(Duration::from_secs(5));
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenant_objects")
        .fetch_one(&mut watch)
        .await
        .unwrap();
    assert!(
        n < OBJECTS as i64,
        "killed before cloning ended ({copied_at_kill} then {n} copied)"
    );
    let status: String =
        sqlx::query_scalar("SELECT status FROM subscription_requests WHERE id = $1")
            .bind(&id)
            .fetch_one(&mut watch)
            .await
            .unwrap();
    assert_eq!(status, "provisioning");

    let second_envs = envs("0");
    let second_envs: Vec<(&str, &str)> =
        second_envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut second = Portal::start(&[], &second_envs);
    let base = second.base_url();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let done = wait_completed(&client, &base, &token, &id, Duration::from_secs(60)).await;
    let tenant_id = done["tenant_id"].as_str().unwrap();
    let config: Value = client
        .get(format!("{base}/api/v1/tenants/{tenant_id}/configuration"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let objects = config["objects"].as_array().unwrap();
    assert_eq!(objects.len(), OBJECTS, "every object, each once");
    let names: std::collections::HashSet<&str> = objects
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), OBJECTS);
    assert_eq!(objects[7]["name"], "Queue 00007 of KentonElectronics");
    assert_eq!(
        objects[7]["properties"]["description"],
        "for kentonelectronics.example.com"
    );
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM tenants), (SELECT COUNT(*) FROM users WHERE role = 'tenant_admin')",
    )
    .fetch_one(&mut watch)
    .await
    .unwrap();
    assert_eq!(counts, (1, 1));
    watch.close().await.ok();
    second.signal("TERM");
    second.wait_exit(Duration::from_secs(15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_export_and_import_from_the_command_line_and_a_bad_file_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap();
    let mut migrate = Portal::start(&["migrate"], &[("PORTAL_DATA_DIR", data)]);
    assert_eq!(migrate.wait_exit(Duration::from_secs(20)), Some(0));
    // The seeded templates are stored at the first serve; import one of our own instead.
    let file = dir.path().join("package.json");
    std::fs::write(
        &file,
        r#"{
  "id": "package",
  "name": "Package",
  "services": ["voice"],
  "objects": [
    {"kind": "queue", "name": "Sales", "properties": {"priority": 12}},
    {"kind": "skill", "name": "Sales"}
  ]
}"#,
    )
    .unwrap();
    let mut import = Portal::start(
        &["template", "import", file.to_str().unwrap()],
        &[("PORTAL_DATA_DIR", data)],
    );
    assert_eq!(
        import.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        import.stderr_text()
    );
    assert!(
        import
            .stdout_text()
            .contains("imported template package as version 1 (2 objects)")
    );

    let mut export = Portal::start(
        &["template", "export", "package"],
        &[("PORTAL_DATA_DIR", data)],
    );
    assert_eq!(export.wait_exit(Duration::from_secs(20)), Some(0));
    let exported: Value = serde_json::from_str(&export.stdout_text()).unwrap();
    assert_eq!(
        exported["objects"][0]["properties"],
        json!({"priority": 12})
    );
    assert_eq!(exported["objects"][1]["name"], "Sales");

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{
  "id": "package",
  "name": "Package",
  "services": ["voice"],
  "objects": [
    {"kind": "queue", "name": "Sales"},
    {"kind": "queue", "name": "Support",
     "properties": {"priority": "high"}}
  ]
}"#,
    )
    .unwrap();
    let mut refused = Portal::start(
        &["template", "import", bad.to_str().unwrap()],
        &[("PORTAL_DATA_DIR", data)],
    );
    assert_eq!(refused.wait_exit(Duration::from_secs(20)), Some(1));
    let stderr = refused.stderr_text();
    assert!(
        stderr.contains(
            "line 7: objects[1].properties.priority: must be a whole number from 0 to 99"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was imported"));
    let mut again = Portal::start(
        &["template", "export", "package"],
        &[("PORTAL_DATA_DIR", data)],
    );
    assert_eq!(again.wait_exit(Duration::from_secs(20)), Some(0));
    let after: Value = serde_json::from_str(&again.stdout_text()).unwrap();
    assert_eq!(after, exported, "the refused file changed nothing");
    let mut missing = Portal::start(
        &["template", "export", "nothing"],
        &[("PORTAL_DATA_DIR", data)],
    );
    assert_eq!(missing.wait_exit(Duration::from_secs(20)), Some(1));
    assert!(
        missing
            .stderr_text()
            .contains("there is no template \"nothing\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_in_the_middle_of_a_purge_has_it_finished_by_another_once() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let (web, base, token, ids) = web_only_with_requests(&db, 1).await;
    let client = reqwest::Client::new();
    let slow_worker = || {
        Portal::start(
            &["worker"],
            &[
                ("PORTAL_DATABASE_URL", &db.url),
                ("PORTAL_JOB_LEASE_SECS", "1"),
                // Each step of the purge waits, so that the kill lands between two.
                ("PORTAL_FAULT_CLONE_PAUSE_MS", "400"),
            ],
        )
    };
    let mut first = slow_worker();
    let done = wait_completed(&client, &base, &token, &ids[0], Duration::from_secs(30)).await;
    let tenant_id = done["tenant_id"].as_str().unwrap().to_owned();
    first.signal("TERM");
    first.wait_exit(Duration::from_secs(15));
    let closed: Value = client
        .post(format!("{base}/api/v1/tenants/{tenant_id}/close"))
        .bearer_auth(&token)
        .json(&json!({"reason": "Left"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(closed["status"], "closed");
    let mut check = sqlx::PgConnection::connect(&db.url).await.unwrap();
    for sql in [
        "UPDATE tenants SET purge_after = 0",
        "UPDATE jobs SET run_at = 0 WHERE kind = 'purge_tenant'",
    ] {
        check.execute(sql).await.unwrap();
    }
    let scalar = |sql: &'static str| {
        let url = db.url.clone();
        async move {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
            c.close().await.ok();
            n
        }
    };
    // Killed once its configuration is gone and before the purge's end.
    let mut doomed = slow_worker();
    eventually(
        Duration::from_secs(20),
        "the purge to be under way",
        || async {
            let objects = scalar("SELECT COUNT(*) FROM tenant_objects").await;
            let purged = scalar("SELECT COUNT(*) FROM tenants WHERE status = 'purged'").await;
            (objects == 0 && purged == 0).then_some(())
        },
    )
    .await;
    doomed.child.kill().unwrap();
    doomed.wait_exit(Duration::from_secs(5));
    assert_eq!(
        scalar("SELECT COUNT(*) FROM users WHERE tenant_id IS NOT NULL").await,
        1
    );

    let mut rescuer = slow_worker();
    eventually(
        Duration::from_secs(30),
        "the purge to be finished",
        || async {
            (scalar("SELECT COUNT(*) FROM tenants WHERE status = 'purged'").await == 1)
                .then_some(())
        },
    )
    .await;
    rescuer.signal("TERM");
    rescuer.wait_exit(Duration::from_secs(15));
    assert_eq!(
        scalar("SELECT COUNT(*) FROM users WHERE tenant_id IS NOT NULL").await,
        0
    );
    assert_eq!(
        scalar("SELECT COUNT(*) FROM smart_queue_parameters").await,
        0
    );
    assert_eq!(
        scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'tenant_purged'").await,
        1,
        "purged once"
    );
    assert_eq!(
        scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'tenant_purged'").await,
        1,
        "told once"
    );
    check.close().await.ok();
    drop(web);
    db.drop_database().await;
}

/// A client's JSON call to a portal started as a child: the status and the body.
async fn json_call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut call = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        call = call.json(&body);
    }
    let r = call.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The tenant's objects as `(kind, name, properties, position, origin, fingerprint)`, in order.
async fn objects_of(
    url: &str,
    tenant_id: &str,
) -> Vec<(String, String, String, i64, Option<String>, Option<String>)> {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query_as(
        "SELECT kind, name, properties, position, origin, template_properties \
         FROM tenant_objects WHERE tenant_id = $1 ORDER BY position",
    )
    .bind(tenant_id)
    .fetch_all(&mut c)
    .await
    .unwrap();
    c.close().await.ok();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_change_killed_midway_is_finished_once_and_one_that_keeps_failing_is_undone() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let (web, base, token, ids) = web_only_with_requests(&db, 1).await;
    let client = reqwest::Client::new();
    let worker_with = |fault: Option<&str>| {
        let mut envs = vec![
            ("PORTAL_DATABASE_URL", db.url.as_str()),
            ("PORTAL_JOB_LEASE_SECS", "1"),
            // Each step of a change waits, so that the kill lands between two.
            ("PORTAL_FAULT_CLONE_PAUSE_MS", "400"),
        ];
        if let Some(file) = fault {
            envs.push(("PORTAL_FAULT_STEP_FILE", file));
        }
        Portal::start(&["worker"], &envs)
    };
    let mut first = worker_with(None);
    let done = wait_completed(&client, &base, &token, &ids[0], Duration::from_secs(30)).await;
    let tenant_id = done["tenant_id"].as_str().unwrap().to_owned();
    let before = objects_of(&db.url, &tenant_id).await;

    // Version 2: the second object's description changed, the third gone, a skill added.
    let (_, template) = json_call(
        &client,
        reqwest::Method::GET,
        format!("{base}/api/v1/templates/voice-essentials"),
        &token,
        None,
    )
    .await;
    let mut objects = template["objects"].as_array().unwrap().clone();
    objects[1]["properties"]["description"] = json!("Updated by the template");
    objects.remove(2);
    objects.push(json!({"kind": "skill", "name": "Escalations", "properties": {}}));
    let definition = |objects: &Vec<Value>| {
        json!({"name": template["name"], "description": template["description"],
            "services": template["services"], "objects": objects})
    };
    let put = format!("{base}/api/v1/templates/voice-essentials");
    let (status, _) = json_call(
        &client,
        reqwest::Method::PUT,
        put.clone(),
        &token,
        Some(definition(&objects)),
    )
    .await;
    assert_eq!(status, 200);
    // Version 3 changes, drops and adds more.
    objects[3]["properties"]["description"] = json!("Changed again");
    objects.remove(4);
    objects.push(json!({"kind": "skill", "name": "Callbacks", "properties": {}}));
    let (status, _) = json_call(
        &client,
        reqwest::Method::PUT,
        put,
        &token,
        Some(definition(&objects)),
    )
    .await;
    assert_eq!(status, 200);
    let changes = format!("{base}/api/v1/tenants/{tenant_id}/package-changes");
    let target = json!({"template_id": "voice-essentials", "version": 2});
    let (status, started) = json_call(
        &client,
        reqwest::Method::POST,
        changes.clone(),
        &token,
        Some(target),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let change_url = format!("{changes}/{}", started["id"].as_str().unwrap());

    let scalar = |sql: &'static str| {
        let url = db.url.clone();
        async move {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
            c.close().await.ok();
            n
        }
    };
    eventually(
        Duration::from_secs(20),
        "a step of the change to be done",
        || async {
            (scalar("SELECT MAX(steps_done) FROM package_changes").await >= 1).then_some(())
        },
    )
    .await;
    first.child.kill().unwrap();
    first.wait_exit(Duration::from_secs(5));
    assert!(
        scalar("SELECT MAX(steps_done) FROM package_changes").await < 4,
        "killed midway"
    );

    let mut rescuer = worker_with(None);
    let finished = eventually(
        Duration::from_secs(30),
        "the change to complete",
        || async {
            let (_, change) = json_call(
                &client,
                reqwest::Method::GET,
                change_url.clone(),
                &token,
                None,
            )
            .await;
            (change["status"] == "completed").then_some(change)
        },
    )
    .await;
    assert_eq!(finished["template"]["version"], 2);
    let after = objects_of(&db.url, &tenant_id).await;
    assert_eq!(
        after.len(),
        before.len(),
        "one added once, one removed once"
    );
    let escalations = after
        .iter()
        .filter(|o| o.0 == "skill" && o.1 == "Escalations")
        .count();
    assert_eq!(escalations, 1, "added exactly once");
    assert!(after[1].2.contains("Updated by the template"));
    assert_eq!(
        scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'package_changed'").await,
        1,
        "completed once"
    );
    rescuer.signal("TERM");
    rescuer.wait_exit(Duration::from_secs(15));

    // A change whose last step keeps failing is undone whole once it runs out of attempts.
    let dir = tempfile::tempdir().unwrap();
    let fault = dir.path().join("fault");
    std::fs::write(&fault, "switch_template").unwrap();
    let mut failing = worker_with(Some(fault.to_str().unwrap()));
    let target = json!({"template_id": "voice-essentials", "version": 3});
    let (status, started) = json_call(
        &client,
        reqwest::Method::POST,
        changes.clone(),
        &token,
        Some(target),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    for op in ["add", "update", "remove"] {
        assert_eq!(started[op].as_array().unwrap().len(), 1, "{started}");
    }
    let change_url = format!("{changes}/{}", started["id"].as_str().unwrap());
    let failed = eventually(Duration::from_secs(40), "the change to fail", || async {
        let (_, change) = json_call(
            &client,
            reqwest::Method::GET,
            change_url.clone(),
            &token,
            None,
        )
        .await;
        (change["status"] == "failed").then_some(change)
    })
    .await;
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("switch_template"),
        "{failed}"
    );
    assert_eq!(
        objects_of(&db.url, &tenant_id).await,
        after,
        "nothing of it is left"
    );
    let (_, tenant) = json_call(
        &client,
        reqwest::Method::GET,
        format!("{base}/api/v1/tenants/{tenant_id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(tenant["template"]["version"], 2);
    failing.signal("TERM");
    failing.wait_exit(Duration::from_secs(15));
    drop(web);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_survive_a_receiver_down_a_restart_and_a_worker_killed_while_delivering() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let webhook_env = [
        ("PORTAL_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("PORTAL_WEBHOOK_RETRY_SCALE", "0.001"),
    ];
    let mut envs = vec![
        ("PORTAL_LISTEN", "127.0.0.1:0"),
        ("PORTAL_DATABASE_URL", db.url.as_str()),
        ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ];
    envs.extend(webhook_env);
    let web = Portal::start(&["serve", "--no-worker"], &envs);
    let base = web.base_url();
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    // The receiver is down: nobody listens on its port yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (status, endpoint) = json_call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/v1/webhooks"),
        &token,
        Some(json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["*"]})),
    )
    .await;
    assert_eq!(status, 201, "{endpoint}");
    for i in 0..3 {
        submit(&client, &base, &token, &format!("Hooked{i}")).await;
    }
    let worker = |db: &TestDatabase| {
        let mut envs = vec![
            ("PORTAL_DATABASE_URL", db.url.as_str()),
            ("PORTAL_JOB_LEASE_SECS", "1"),
        ];
        envs.extend(webhook_env);
        Portal::start(&["worker"], &envs)
    };
    let scalar = |sql: &'static str| {
        let url = db.url.clone();
        async move {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
            c.close().await.ok();
            n
        }
    };
    // A first worker provisions and fails its first attempts; it is stopped, and the portal
    // restarted (a new worker) between attempts.
    let mut first = worker(&db);
    eventually(Duration::from_secs(30), "failed attempts", || async {
        (scalar("SELECT COUNT(*) FROM webhook_attempts").await >= 3).then_some(())
    })
    .await;
    first.child.kill().unwrap();
    first.wait_exit(Duration::from_secs(5));

    // The receiver comes up, and hangs on its first request: the worker delivering it is
    // killed then.
    let receiver = common::receiver::Receiver::start("timeout,200", Some(port));
    receiver.know(&[endpoint["secret"].as_str().unwrap()]);
    let mut second = worker(&db);
    eventually(Duration::from_secs(30), "a delivery under way", || async {
        (!receiver.requests().is_empty()).then_some(())
    })
    .await;
    second.child.kill().unwrap();
    second.wait_exit(Duration::from_secs(5));

    let mut third = worker(&db);
    eventually(
        Duration::from_secs(60),
        "every delivery delivered",
        || async {
            let pending =
                scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'delivered'").await;
            let all = scalar("SELECT COUNT(*) FROM webhook_deliveries").await;
            (pending == 0 && all >= 9).then_some(())
        },
    )
    .await;
    third.signal("TERM");
    third.wait_exit(Duration::from_secs(15));

    let events = scalar("SELECT COUNT(*) FROM webhook_events").await;
    let seen = receiver.requests();
    let mut ids: Vec<&str> = seen
        .iter()
        .map(|r| r["webhook_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        i64::try_from(ids.len()).unwrap(),
        events,
        "every event arrived; more requests than events only as repeats of one id"
    );
    assert!(
        seen.iter().all(|r| r["verified"] == json!([true])),
        "{seen:?}"
    );
    let completed = seen
        .iter()
        .filter(|r| r["body"]["type"] == "request.completed")
        .map(|r| r["webhook_id"].as_str().unwrap())
        .collect::<std::collections::HashSet<_>>();
    assert_eq!(completed.len(), 3, "each request's completion, once per id");
    drop(web);
    db.drop_database().await;
}
