//! The portal as operators run it: web and worker processes on one PostgreSQL woken by its
//! notifications, logs as JSON lines carrying request ids, a backup taken under load and put
//! back into a stopped portal, a PostgreSQL dump restored into a database the portal serves,
//! a soak of web and worker processes killed again and again, and its threads kept to half the
//! cores with the hashing threads on all.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use common::remote::{request_count, sign_in, submit, wait_completed};
use common::{Portal, eventually};
use portal_store::Store;
use portal_store::test_support::TestDatabase;
use serde_json::Value;
use sqlx::Connection;

const ADMIN_PASSWORD: &str = "operations-test-landlord-pw";

/// The `application_name` of the worker's listening connections now.
async fn listener_pids(url: &str) -> Vec<i32> {
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    let pids = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(portal_store::workers::LISTENER_NAME)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    admin.close().await.ok();
    pids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_queued_by_a_web_process_wakes_a_worker_process_at_once_even_after_its_connection_is_cut()
 {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let web = Portal::serving(
        &["serve", "--no-worker"],
        ADMIN_PASSWORD,
        &[("PORTAL_DATABASE_URL", &db.url)],
    );
    let base = web.base_url();
    // The worker looks at the queue by itself only every ten minutes: what wakes it sooner is
    // the notification.
    let mut worker = Portal::start(
        &["worker"],
        &[
            ("PORTAL_DATABASE_URL", &db.url),
            ("PORTAL_WORKER_POLL_MS", "600000"),
            ("PORTAL_LOG", "info"),
        ],
    );
    worker.wait_for_stderr("listening for queued jobs", Duration::from_secs(30));
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let started = Instant::now();
    let first = submit(&client, &base, &token, "WakeUpFirst").await;
    wait_completed(&client, &base, &token, &first, Duration::from_secs(20)).await;
    println!(
        "submit -> completed across processes: {:?}",
        started.elapsed()
    );

    let before = listener_pids(&db.url).await;
    assert_eq!(before.len(), 1, "one listening connection: {before:?}");
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let cut: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(before[0])
        .fetch_one(&mut admin)
        .await
        .unwrap();
    admin.close().await.ok();
    assert!(cut);
    eventually(
        Duration::from_secs(20),
        "the worker to listen again",
        || async {
            let now = listener_pids(&db.url).await;
            (now.len() == 1 && now != before).then_some(())
        },
    )
    .await;
    let second = submit(&client, &base, &token, "WakeUpSecond").await;
    wait_completed(&client, &base, &token, &second, Duration::from_secs(20)).await;
    assert!(
        worker.stderr_text().contains("queued jobs was lost")
            || worker
                .stderr_text()
                .contains("lost the connection listening"),
        "the loss is said: {}",
        worker.stderr_text()
    );
    worker.signal("TERM");
    assert_eq!(worker.wait_exit(Duration::from_secs(15)), Some(0));
    drop(web);
    db.drop_database().await;
}

/// The span fields of a JSON log line, all spans' together.
fn span_fields(line: &Value) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for span in line["spans"].as_array().into_iter().flatten() {
        for (key, value) in span.as_object().unwrap() {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            fields.push((key.clone(), text));
        }
    }
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_json_logs_every_line_is_an_object_and_a_request_id_follows_its_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut portal = Portal::start(
        &["serve"],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATA_DIR", dir.path().to_str().unwrap()),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("PORTAL_LOG_FORMAT", "json"),
            ("PORTAL_LOG", "info"),
        ],
    );
    let base = portal.base_url();
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let answer = client
        .post(format!("{base}/api/v1/subscription-requests"))
        .bearer_auth(&token)
        .header("x-request-id", "ops-json-0001")
        .json(&common::submission("JsonLogs"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    assert_eq!(answer.headers()["x-request-id"], "ops-json-0001");
    let id = answer.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = wait_completed(&client, &base, &token, &id, Duration::from_secs(20)).await;
    let tenant = done["tenant_id"].as_str().unwrap().to_owned();
    eventually(
        Duration::from_secs(10),
        "the outcome email's log line",
        || async { portal.stderr_text().contains("send_mail").then_some(()) },
    )
    .await;
    portal.signal("TERM");
    assert_eq!(portal.wait_exit(Duration::from_secs(15)), Some(0));

    let text = portal.stderr_text();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.len() > 5, "{text}");
    for line in &lines {
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["level"].is_string(), "{line}");
        assert!(line["message"].is_string(), "{line}");
    }
    let with = |key: &str, value: &str| {
        lines
            .iter()
            .filter(|l| span_fields(l).contains(&(key.to_owned(), value.to_owned())))
            .count()
    };
    assert!(with("http.request_id", "ops-json-0001") >= 1, "{text}");
    let accepted = lines
        .iter()
        .find(|l| l["message"] == "request accepted")
        .unwrap();
    assert!(
        span_fields(accepted).contains(&("http.request_id".into(), "ops-json-0001".into())),
        "{accepted}"
    );
    assert!(with("request.id", &id) >= 2, "{text}");
    assert!(with("job.kind", "provision_request") >= 1, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "tenant provisioned" && l["tenant.id"] == tenant.as_str()),
        "{text}"
    );
    assert!(!text.contains(ADMIN_PASSWORD));
}

/// Runs `portal ARGS` to its end on the data folder `data`; (exit code, stdout, stderr).
fn portal_command(args: &[&str], data: &Path) -> (Option<i32>, String, String) {
    let mut command = Portal::start(args, &[("PORTAL_DATA_DIR", data.to_str().unwrap())]);
    let code = command.wait_exit(Duration::from_secs(60));
    (code, command.stdout_text(), command.stderr_text())
}

async fn sqlite_store(file: &Path) -> Store {
    Store::connect(&format!("sqlite://{}", file.display()), 1)
        .await
        .unwrap()
}

fn start_on(data: &Path) -> Portal {
    Portal::start(
        &["serve"],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATA_DIR", data.to_str().unwrap()),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    )
}

// This must be longer: one story, from a backup under load to the restored portal serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_is_consistent_and_restores_into_a_stopped_portal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut portal = start_on(&data);
    let base = portal.base_url();
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    for i in 0..4 {
        let id = submit(&client, &base, &token, &format!("Settled{i}")).await;
        wait_completed(&client, &base, &token, &id, Duration::from_secs(20)).await;
    }
    // Submissions go on, and their tenants are provisioned, from before the backup starts
    // until after it has ended.
    let backing_up = Arc::new(AtomicBool::new(true));
    let load = tokio::spawn({
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        let backing_up = backing_up.clone();
        async move {
            let mut loaded = 0;
            while (backing_up.load(Ordering::Relaxed) || loaded < 4) && loaded < 150 {
                submit(&client, &base, &token, &format!("Loaded{loaded}")).await;
                loaded += 1;
            }
            loaded
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let backup = dir.path().join("backup");
    let (code, out, err) = tokio::task::spawn_blocking({
        let (backup, data) = (backup.clone(), data.clone());
        move || portal_command(&["backup", backup.to_str().unwrap()], &data)
    })
    .await
    .unwrap();
    backing_up.store(false, Ordering::Relaxed);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("backed up to"), "{out}");
    let loaded = load.await.unwrap();

    let copy = sqlite_store(&backup.join("portal.db")).await;
    assert_eq!(
        copy.integrity_problems().await.unwrap(),
        Vec::<String>::new()
    );
    let contents = copy.contents().await.unwrap();
    copy.close().await;
    assert_eq!(contents.completed_without_tenant, 0);
    assert!(
        contents.requests >= 4 && contents.tenants >= 4,
        "{contents:?}"
    );
    let spooled = common::spooled_messages(&backup.join("mail"));
    assert!(
        spooled >= 4,
        "the outcome emails of the settled requests: {spooled}"
    );

    // Refusals: a folder in use, a running portal, a folder without a backup.
    let (code, _, err) = portal_command(&["backup", backup.to_str().unwrap()], &data);
    assert_eq!(code, Some(1));
    assert!(err.contains("is not an empty folder"), "{err}");
    let (code, _, err) = portal_command(&["restore", backup.to_str().unwrap()], &data);
    assert_eq!(code, Some(1));
    assert!(err.contains("a portal is using"), "{err}");
    let (code, _, err) = portal_command(&["restore", dir.path().to_str().unwrap()], &data);
    assert_eq!(code, Some(1));
    assert!(err.contains("holds no portal.db"), "{err}");

    let after_load = request_count(&client, &base, &token).await;
    assert_eq!(after_load, 4 + loaded);
    assert!(
        (contents.requests as usize) < after_load,
        "the copy was taken while submissions went on: {} of {after_load}",
        contents.requests
    );
    portal.signal("TERM");
    assert_eq!(portal.wait_exit(Duration::from_secs(15)), Some(0));

    // A damaged backup is refused and the database stays as it was.
    let before = std::fs::read(data.join("portal.db")).unwrap();
    let damaged = dir.path().join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    std::fs::write(damaged.join("portal.db"), b"not a database at all").unwrap();
    let (code, _, err) = portal_command(&["restore", damaged.to_str().unwrap()], &data);
    assert_eq!(code, Some(1));
    assert!(err.contains("error:"), "{err}");
    assert!(
        std::fs::read(data.join("portal.db")).unwrap() == before,
        "untouched"
    );
    let kept: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("before-restore") || name.contains("restoring"))
        .collect();
    assert!(kept.is_empty(), "nothing left beside it: {kept:?}");

    let (code, out, err) = portal_command(&["restore", backup.to_str().unwrap()], &data);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("the database it replaced is kept as"), "{out}");
    let mode = std::fs::metadata(data.join("portal.db"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077,
        0,
        "private"
    );
    let restored = start_on(&data);
    let base = restored.base_url();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(
        request_count(&client, &base, &token).await as i64,
        contents.requests,
        "the portal serves the backup's requests"
    );
    assert!(common::spooled_messages(&data.join("mail")) >= spooled);
    // Requests the backup caught before their tenant was made are provisioned now.
    let id = submit(&client, &base, &token, "AfterRestore").await;
    wait_completed(&client, &base, &token, &id, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_dump_restores_into_a_database_the_portal_then_serves() {
    let Some(source) = TestDatabase::postgres().await else {
        return;
    };
    let Some(target) = TestDatabase::postgres().await else {
        return;
    };
    let portal = Portal::serving(
        &["serve"],
        ADMIN_PASSWORD,
        &[("PORTAL_DATABASE_URL", &source.url)],
    );
    let base = portal.base_url();
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let id = submit(&client, &base, &token, "DumpedTenant").await;
    let done = wait_completed(&client, &base, &token, &id, Duration::from_secs(20)).await;
    drop(portal);

    // `portal backup` is for the embedded database, and says what to use instead.
    let mut refused = Portal::start(
        &["backup", "/nowhere"],
        &[("PORTAL_DATABASE_URL", &source.url)],
    );
    assert_eq!(refused.wait_exit(Duration::from_secs(30)), Some(1));
    assert!(
        refused.stderr_text().contains("use pg_dump"),
        "{}",
        refused.stderr_text()
    );

    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("portal.dump");
    let status = Command::new("pg_dump")
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(&dump)
        .arg(&source.url)
        .status()
        .expect("pg_dump (PostgreSQL's client tools)");
    assert!(status.success());
    let status = Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "--dbname", &target.url])
        .arg(&dump)
        .status()
        .expect("pg_restore");
    assert!(status.success());

    let restored = Portal::start(
        &["serve"],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATABASE_URL", &target.url),
        ],
    );
    let base = restored.base_url();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let again = common::remote::request_status(&client, &base, &token, &id).await;
    assert_eq!(again["status"], "completed");
    assert_eq!(again["tenant_id"], done["tenant_id"]);
    let next = submit(&client, &base, &token, "AfterTheDump").await;
    wait_completed(&client, &base, &token, &next, Duration::from_secs(20)).await;
    drop(restored);
    source.drop_database().await;
    target.drop_database().await;
}

/// The processes of a split deployment on one PostgreSQL: web processes (their addresses where
/// the submitters read them) and workers, each started again when killed.
struct Fleet {
    url: String,
    data: String,
    webs: Vec<Portal>,
    bases: Arc<RwLock<Vec<String>>>,
    workers: Vec<Portal>,
}

impl Fleet {
    fn web(&self) -> Portal {
        Portal::serving(
            &["serve", "--no-worker"],
            ADMIN_PASSWORD,
            &[
                ("PORTAL_DATABASE_URL", &self.url),
                ("PORTAL_DATA_DIR", &self.data),
                ("PORTAL_LOG", "warn"),
            ],
        )
    }

    fn worker(&self) -> Portal {
        let worker = Portal::start(
            &["worker"],
            &[
                ("PORTAL_DATABASE_URL", &self.url),
                ("PORTAL_DATA_DIR", &self.data),
                ("PORTAL_JOB_LEASE_SECS", "3"),
                ("PORTAL_LOG", "warn"),
            ],
        );
        worker.wait_for_stdout("worker running", Duration::from_secs(30));
        worker
    }

    fn start(url: &str, data: &str) -> Self {
        let mut fleet = Self {
            url: url.to_owned(),
            data: data.to_owned(),
            webs: Vec::new(),
            bases: Arc::new(RwLock::new(Vec::new())),
            workers: Vec::new(),
        };
        for _ in 0..2 {
            let web = fleet.web();
            fleet.bases.write().unwrap().push(web.base_url());
            fleet.webs.push(web);
            let worker = fleet.worker();
            fleet.workers.push(worker);
        }
        fleet
    }

    /// Kills web process or worker `which` (0 and 2: web processes, 1 and 3: workers) with
    /// SIGKILL, and starts another in its place.
    fn kill_and_replace(&mut self, which: usize) {
        let slot = which / 2 % 2;
        if which.is_multiple_of(2) {
            self.webs[slot].signal("KILL");
            let _ = self.webs[slot].wait_exit(Duration::from_secs(10));
            self.webs[slot] = self.web();
            self.bases.write().unwrap()[slot] = self.webs[slot].base_url();
        } else {
            self.workers[slot].signal("KILL");
            let _ = self.workers[slot].wait_exit(Duration::from_secs(10));
            self.workers[slot] = self.worker();
        }
    }
}

/// How many submissions the soak makes: 2,000 unless `PORTAL_SOAK_SUBMISSIONS` says.
fn soak_size() -> usize {
    std::env::var("PORTAL_SOAK_SUBMISSIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

/// Submits `Soak{i}` until one web process or another answers 202, sending it again with the
/// same idempotency key after every error; its id and how many tries it took.
async fn submit_until_accepted(
    client: &reqwest::Client,
    bases: &RwLock<Vec<String>>,
    token: &str,
    i: usize,
) -> (String, usize) {
    let body = common::submission(&format!("Soak{i}"));
    let deadline = Instant::now() + Duration::from_secs(300);
    for attempt in 0.. {
        assert!(Instant::now() < deadline, "Soak{i} was never accepted");
        let base = bases.read().unwrap()[(i + attempt) % 2].clone();
        let sent = client
            .post(format!("{base}/api/v1/subscription-requests"))
            .bearer_auth(token)
            .header("idempotency-key", format!("soak-{i}"))
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 202 => {
                let id = r.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                return (id, attempt + 1);
            }
            // A conflict while its own first attempt is still being hashed, a process
            // overloaded or going down, or no process there at all: again, shortly.
            Ok(r) if r.status() == 409 || r.status() == 429 || r.status().is_server_error() => {}
            Ok(r) => panic!("Soak{i}: {} {}", r.status(), r.text().await.unwrap()),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

/// Ends every connection to the test's database but this one's; how many.
async fn end_connections(url: &str) -> usize {
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    admin.close().await.ok();
    ended.len()
}

async fn scalar(url: &str, sql: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let n = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    n
}

// This must be longer: the soak's whole story, from the fleet's start to every count checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_soak_of_web_and_worker_processes_killed_again_and_again_loses_nothing_and_does_nothing_twice()
 {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let n = soak_size();
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut fleet = Fleet::start(&db.url, data.path().to_str().unwrap());
    let bases = fleet.bases.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let first_base = bases.read().unwrap()[0].clone();
    let token = sign_in(&client, &first_base, "admin", ADMIN_PASSWORD).await;

    // Kills every 3 s, alternating web processes and workers, until the submissions are in.
    let submitting = Arc::new(AtomicBool::new(true));
    let chaos = tokio::task::spawn_blocking({
        let submitting = submitting.clone();
        move || {
            let mut kills = 0;
            while submitting.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(3));
                fleet.kill_and_replace(kills % 4);
                kills += 1;
            }
            (fleet, kills)
        }
    });
    let next = Arc::new(AtomicUsize::new(0));
    let tries = Arc::new(AtomicUsize::new(0));
    let submitters: Vec<_> = (0..8)
        .map(|_| {
            let (client, bases, token) = (client.clone(), bases.clone(), token.clone());
            let (next, tries) = (next.clone(), tries.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return ids;
                    }
                    let (id, took) = submit_until_accepted(&client, &bases, &token, i).await;
                    tries.fetch_add(took, Ordering::Relaxed);
                    ids.push(id);
                }
            })
        })
        .collect();
    // The database's connections ended twice while submissions come in: a third and two
    // thirds of the way.
    // Should the killing and replacing stop early (a process that would not start again), the
    // processes are gone and no submission could be accepted: the test ends there.
    let chaos_alive = || {
        assert!(
            !chaos.is_finished(),
            "the killing and replacing stopped early: its panic is above"
        )
    };
    let mut ended = Vec::new();
    for third in 1..=2 {
        while next.load(Ordering::Relaxed) < n * third / 3 {
            chaos_alive();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ended.push(end_connections(&db.url).await);
    }
    while !submitters.iter().all(|s| s.is_finished()) {
        chaos_alive();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ids = Vec::new();
    for s in submitters {
        ids.extend(s.await.unwrap());
    }
    let submitted_in = started.elapsed();
    submitting.store(false, Ordering::Relaxed);
    let (fleet, kills) = chaos.await.unwrap();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        n,
        "one request per submission, however often it was sent"
    );

    let done = "SELECT COUNT(*) FROM subscription_requests \
                WHERE status = 'completed' AND notification_status = 'sent'";
    // A job's row goes after the work it records is committed: a worker killed in between
    // leaves it leased until its lease lapses and another worker finds the work done.
    let jobs_left = "SELECT COUNT(*) FROM jobs WHERE kind IN ('provision_request', 'send_mail')";
    eventually(
        Duration::from_secs(300),
        "every request completed and its email sent, and no job left",
        || async {
            (scalar(&db.url, done).await == n as i64 && scalar(&db.url, jobs_left).await == 0)
                .then_some(())
        },
    )
    .await;
    let finished_in = started.elapsed();
    let n = n as i64;
    for (what, sql, expected) in [
        ("requests", "SELECT COUNT(*) FROM subscription_requests", n),
        (
            "names",
            "SELECT COUNT(DISTINCT tenant_name_key) FROM subscription_requests",
            n,
        ),
        ("tenants", "SELECT COUNT(*) FROM tenants", n),
        (
            "tenants' requests",
            "SELECT COUNT(DISTINCT request_id) FROM tenants",
            n,
        ),
        (
            "administrators",
            "SELECT COUNT(*) FROM users WHERE role = 'tenant_admin'",
            n,
        ),
        (
            "outcome emails",
            "SELECT COUNT(*) FROM outbox WHERE kind = 'provisioning_completed' AND status = 'sent'",
            n,
        ),
        (
            "requests emailed",
            "SELECT COUNT(DISTINCT request_id) FROM outbox WHERE kind = 'provisioning_completed'",
            n,
        ),
        (
            "other emails",
            "SELECT COUNT(*) FROM outbox WHERE kind <> 'provisioning_completed'",
            0,
        ),
        (
            "dead jobs",
            "SELECT COUNT(*) FROM jobs WHERE status = 'dead'",
            0,
        ),
        ("jobs left", jobs_left, 0),
        (
            "objects copied twice",
            "SELECT COUNT(*) FROM (SELECT tenant_id, kind, name FROM tenant_objects \
             GROUP BY tenant_id, kind, name HAVING COUNT(*) > 1) d",
            0,
        ),
    ] {
        assert_eq!(scalar(&db.url, sql).await, expected, "{what}");
    }
    let spooled = common::spooled_messages(&data.path().join("mail"));
    assert_eq!(spooled as i64, n, "one message in the spool per email");
    println!(
        "soak: {n} submissions through 2 web processes in {:.1} s ({:.1}/s, {} sends for them), \
         all completed and emailed after {:.1} s; {kills} processes killed, connections ended \
         twice ({ended:?})",
        submitted_in.as_secs_f64(),
        n as f64 / submitted_in.as_secs_f64(),
        tries.load(Ordering::Relaxed),
        finished_in.as_secs_f64(),
    );
    drop(fleet);
    db.drop_database().await;
}

/// The cores a `Cpus_allowed_list` line names (`0-1`, `0,2-3`).
#[cfg(target_os = "linux")]
fn cores_in(list: &str) -> Vec<usize> {
    list.split(',')
        .flat_map(|part| match part.split_once('-') {
            Some((from, to)) => (from.parse().unwrap()..=to.parse().unwrap()).collect::<Vec<_>>(),
            None => vec![part.parse().unwrap()],
        })
        .collect()
}

/// The cores a thread (or, with `self` or a process id alone, a process) may run on.
#[cfg(target_os = "linux")]
fn allowed_cores(status_path: &Path) -> Vec<usize> {
    let status = std::fs::read_to_string(status_path).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap();
    cores_in(line.trim())
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_server_keeps_its_threads_to_half_the_cores_and_hashes_on_all_a_worker_on_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut portal = Portal::serving(
        &["serve"],
        ADMIN_PASSWORD,
        &[("PORTAL_DATA_DIR", dir.path().to_str().unwrap())],
    );
    let base = portal.base_url();
    // A sign-in: a hash, and SQL on SQLite's threads.
    sign_in(&reqwest::Client::new(), &base, "admin", ADMIN_PASSWORD).await;

    let all = allowed_cores(Path::new("/proc/self/status"));
    let half: Vec<usize> = if all.len() < 2 {
        all.clone()
    } else {
        all[all.len() - all.len() / 2..].to_vec()
    };
    let tasks = std::path::PathBuf::from(format!("/proc/{}/task", portal.child.id()));
    let (mut hashing, mut kept) = (0, 0);
    for task in std::fs::read_dir(&tasks).unwrap() {
        let task = task.unwrap().path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap();
        let cores = allowed_cores(&task.join("status"));
        if name.starts_with("argon2-") {
            assert_eq!(cores, all, "hashing thread {}", name.trim());
            hashing += 1;
        } else {
            assert_eq!(cores, half, "thread {}", name.trim());
            kept += 1;
        }
    }
    // A hashing thread per core (fewer under a CPU quota); the main thread, the runtime's
    // and SQLite's kept.
    assert!(
        (1..=all.len()).contains(&hashing),
        "{hashing} hashing threads"
    );
    assert!(kept >= 3, "{kept} threads besides the hashing ones");
    portal.signal("TERM");
    assert_eq!(portal.wait_exit(Duration::from_secs(15)), Some(0));

    // A worker process hashes nothing: every thread of it keeps every core.
    let mut worker = Portal::start(
        &["worker"],
        &[("PORTAL_DATA_DIR", dir.path().to_str().unwrap())],
    );
    worker.wait_for_stdout("worker running", Duration::from_secs(30));
    let tasks = std::path::PathBuf::from(format!("/proc/{}/task", worker.child.id()));
    for task in std::fs::read_dir(&tasks).unwrap() {
        let task = task.unwrap().path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap();
        assert_eq!(
            allowed_cores(&task.join("status")),
            all,
            "worker thread {}",
            name.trim()
        );
    }
    worker.signal("TERM");
    assert_eq!(worker.wait_exit(Duration::from_secs(15)), Some(0));
}
