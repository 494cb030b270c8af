//! Faults that must lose nothing: a worker killed at random moments, over and over; database
//! connections ended by the server during intake and provisioning; a SQLite disk that fills
//! up or turns read-only. The real binary in each case.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

mod common;

use std::time::{Duration, Instant};

use common::remote::{request_status, sign_in, submit, wait_completed};
use common::{Portal, submission};
use portal_store::test_support::TestDatabase;
use serde_json::Value;
use sqlx::{Connection, Executor};

const ADMIN_PASSWORD: &str = "fault-test-landlord-pw";

/// A small pseudo-random sequence (xorshift), seeded so that a failing run can be repeated
/// with `PORTAL_FAULT_SEED`.
struct Random(u64);

impl Random {
    fn seeded() -> Self {
        let seed = std::env::var("PORTAL_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        println!("PORTAL_FAULT_SEED={seed}");
        Self(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Counts that show nothing was lost or made twice: (requests, completed requests, tenants,
/// tenants of distinct requests, tenant administrators, objects copied twice, outcome
/// messages, outcome messages sent).
async fn tally(url: &str) -> (i64, i64, i64, i64, i64, i64, i64, i64) {
    let mut check = sqlx::PgConnection::connect(url).await.unwrap();
    let counts = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM subscription_requests), \
         (SELECT COUNT(*) FROM subscription_requests WHERE status = 'completed'), \
         (SELECT COUNT(*) FROM tenants), (SELECT COUNT(DISTINCT request_id) FROM tenants), \
         (SELECT COUNT(*) FROM users WHERE role = 'tenant_admin'), \
         (SELECT COUNT(*) FROM (SELECT tenant_id, kind, name FROM tenant_objects \
            GROUP BY tenant_id, kind, name HAVING COUNT(*) > 1) d), \
         (SELECT COUNT(*) FROM outbox WHERE kind = 'provisioning_completed'), \
         (SELECT COUNT(*) FROM outbox WHERE kind = 'provisioning_completed' AND status = 'sent')",
    )
    .fetch_one(&mut check)
    .await
    .unwrap();
    check.close().await.ok();
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_kills_of_the_worker_at_random_moments_lose_and_duplicate_nothing() {
    const REQUESTS: usize = 50;
    const KILLS: usize = 50;
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    // The web process enqueues jobs with enough attempts to outlive every kill.
    let web = Portal::start(
        &["serve", "--no-worker"],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATABASE_URL", &db.url),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("PORTAL_DATA_DIR", data_dir),
            ("PORTAL_PROVISION_ATTEMPTS", "100"),
        ],
    );
    let base = web.base_url();
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let mut ids = Vec::new();
    for i in 0..REQUESTS {
        ids.push(submit(&client, &base, &token, &format!("Killed{i}")).await);
    }

    let mut random = Random::seeded();
    let worker = || {
        Portal::start(
            &["worker"],
            &[
                ("PORTAL_DATABASE_URL", &db.url),
                ("PORTAL_DATA_DIR", data_dir),
                ("PORTAL_JOB_LEASE_SECS", "1"),
                ("PORTAL_WORKER_CONCURRENCY", "2"),
                // A killed worker spends an attempt of every job it holds, and with a prefetch
                // it holds jobs it has not started: the outcome mail jobs (10 attempts) waited
                // behind provisioning in worker after worker and could be killed ten times
                // without running. Without one, a worker holds only the jobs it runs, and the
                // kills land on work.
                ("PORTAL_WORKER_PREFETCH", "0"),
                // Each slice of cloning takes a while, so that kills land inside steps.
                ("PORTAL_FAULT_CLONE_PAUSE_MS", "150"),
                ("PORTAL_LOG", "warn"),
            ],
        )
    };
    // A kill lands on work when the worker holds a running job at that moment.
    let mut landed = 0;
    let mut check = sqlx::PgConnection::connect(&db.url).await.unwrap();
    for _ in 0..KILLS {
        let mut doomed = worker();
        tokio::time::sleep(Duration::from_millis(40 + random.below(560))).await;
        let running: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE status = 'running' AND locked_by LIKE $1",
        )
        .bind(format!("{}-%", doomed.child.id()))
        .fetch_one(&mut check)
        .await
        .unwrap();
        doomed.child.kill().unwrap();
        doomed.wait_exit(Duration::from_secs(10));
        landed += i64::from(running > 0);
    }
    check.close().await.ok();
    println!("{landed} of {KILLS} kills landed while the worker held a running job");
    assert!(landed >= 15, "kills must land on work: {landed}");

    let mut last = worker();
    for id in &ids {
        wait_completed(&client, &base, &token, id, Duration::from_secs(120)).await;
    }
    // Let the last outcome emails go out.
    let deadline = Instant::now() + Duration::from_secs(60);
    let counts = loop {
        let counts = tally(&db.url).await;
        if counts.7 == REQUESTS as i64 || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let n = REQUESTS as i64;
    let expected = (n, n, n, n, n, 0, n, n);
    let unsent = if counts == expected {
        String::new()
    } else {
        unsent_outcomes(&db.url).await
    };
    assert_eq!(
        counts,
        expected,
        "(requests, completed, tenants, distinct requests, administrators, objects twice, \
         outcome messages, sent); unsent, with their jobs: {unsent}; the last worker said: {}{}",
        last.stdout_text(),
        last.stderr_text()
    );
    // Every outcome message is in the spool (one file per message, named by its id).
    let spooled = common::spooled_messages(&data.path().join("mail"));
    assert_eq!(spooled, REQUESTS);
    last.signal("TERM");
    last.wait_exit(Duration::from_secs(15));
    drop(web);
    db.drop_database().await;
}

/// The outcome messages not sent, each with its sending job's state: for the failure's
/// message.
async fn unsent_outcomes(url: &str) -> String {
    let mut check = sqlx::PgConnection::connect(url).await.unwrap();
    type Unsent = (
        String,
        String,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<String>,
    );
    let rows: Vec<Unsent> = sqlx::query_as(
        "SELECT o.id, o.status, j.status, j.attempts, j.run_at - $1, j.last_error \
             FROM outbox o LEFT JOIN jobs j ON j.subject = o.id \
             WHERE o.kind = 'provisioning_completed' AND o.status <> 'sent' ORDER BY o.id",
    )
    .bind(portal_store::now_ms())
    .fetch_all(&mut check)
    .await
    .unwrap();
    check.close().await.ok();
    format!("{rows:?} (id, status, job status, attempts, due in ms, last error)")
}

/// Ends every other connection to the database, as a server restart would.
async fn end_connections(killer: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) ended",
    )
    .fetch_one(killer)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_connections_ended_during_intake_and_provisioning_give_503s_and_lose_nothing() {
    const REQUESTS: usize = 40;
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let portal = Portal::start(
        &["serve"],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATABASE_URL", &db.url),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("PORTAL_DATA_DIR", data.path().to_str().unwrap()),
            ("PORTAL_PROVISION_ATTEMPTS", "50"),
        ],
    );
    let base = portal.base_url();
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;

    // Connections are ended every 20 ms while requests come in and are provisioned.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let (url, stop) = (db.url.clone(), stop.clone());
        tokio::spawn(async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let mut ended = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ended += end_connections(&mut conn).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ended
        })
    };
    let send = |i: usize| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let r = client
                .post(format!("{base}/api/v1/subscription-requests"))
                .bearer_auth(&token)
                .header("idempotency-key", format!("fault-{i}"))
                .json(&submission(&format!("Severed{i}")))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let retry_after = r.headers().contains_key("retry-after");
            (status, retry_after, r.json::<Value>().await.unwrap())
        }
    };
    let mut first = Vec::new();
    for i in 0..REQUESTS {
        first.push(send(i).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ended = killer.await.unwrap();
    println!("{ended} connections ended");
    assert!(ended > 0);

    let mut unavailable = 0;
    for (status, retry_after, body) in &first {
        match status {
            202 => {}
            503 => {
                unavailable += 1;
                assert!(retry_after, "a 503 says when to come back");
                assert_eq!(body["error"]["code"], "unavailable");
            }
            other => panic!("a submission answered {other}: {body}"),
        }
    }
    println!("{unavailable} of {REQUESTS} submissions answered 503 while connections were ended");
    // Each is sent again with its key until it is taken; a taken one answers as it did.
    let mut ids = Vec::new();
    for i in 0..REQUESTS {
        let mut answer = send(i).await;
        for _ in 0..50 {
            if answer.0 == 202 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            answer = send(i).await;
        }
        assert_eq!(answer.0, 202, "{}", answer.2);
        ids.push(answer.2["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let r = wait_completed(&client, &base, &token, id, Duration::from_secs(120)).await;
        assert!(r["tenant_id"].is_string());
    }
    let n = REQUESTS as i64;
    let counts = tally(&db.url).await;
    assert_eq!(
        (counts.0, counts.1, counts.2, counts.3, counts.4, counts.5),
        (n, n, n, n, n, 0),
        "one request, tenant and administrator each, nothing copied twice"
    );
    assert_eq!(
        request_status(&client, &base, &token, &ids[0]).await["status"],
        "completed"
    );
    assert!(
        portal
            .stderr_text()
            .contains("the database cannot do this now"),
        "the cause is logged"
    );
    drop(portal);
    db.drop_database().await;
}

/// A small filesystem of its own (tmpfs), unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount");
        assert!(
            status.success(),
            "mounting a small tmpfs needs root (the CI machine runs the suite as root)"
        );
        Self { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    fn remount(&self, mode: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Fills what space is left with a file; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let small = [0u8; 512];
        while file.write_all(&small).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_or_read_only_sqlite_disk_is_refused_clearly_corrupts_nothing_and_recovers() {
    let disk = SmallDisk::mount("24m");
    let data_dir = disk.path().join("data");
    let portal = Portal::start(
        &[],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATA_DIR", data_dir.to_str().unwrap()),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    let base = portal.base_url();
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let before = submit(&client, &base, &token, "BeforeTheFault").await;
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        wait_completed(&client, &base, &token, &before, Duration::from_secs(30)),
    )
    .await;
    assert!(r.is_ok(), "{}", portal.stderr_text());

    let post = |name: &'static str| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let r = client
                .post(format!("{base}/api/v1/subscription-requests"))
                .bearer_auth(&token)
                .header("idempotency-key", name)
                .json(&submission(name))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };

    // The disk fills up: submissions are refused with 503, reading goes on.
    let filler = disk.fill();
    let (status, body) = post("DuringFullDisk").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let r = client
        .get(format!("{base}/api/v1/subscription-requests/{before}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "reading still works");
    // The cause is logged (read from the portal's standard error by a thread of its own,
    // which may take the line a moment after the answer arrived).
    portal.wait_for_stderr("full", Duration::from_secs(5));

    // Space returns: the same submission is taken and provisioned.
    std::fs::remove_file(filler).unwrap();
    let (status, body) = post("DuringFullDisk").await;
    assert_eq!(status, 202, "{body} {}", portal.stderr_text());
    let id = body["id"].as_str().unwrap().to_owned();
    wait_completed(&client, &base, &token, &id, Duration::from_secs(30)).await;

    // Stopped, the disk turns read-only (files open for writing keep a mounted filesystem
    // writable, so the portal is stopped first): a start says so in one line and exits.
    portal.signal("TERM");
    let mut portal = portal;
    assert_eq!(portal.wait_exit(Duration::from_secs(15)), Some(0));
    disk.remount("ro");
    let mut refused = Portal::start(
        &[],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATA_DIR", data_dir.to_str().unwrap()),
        ],
    );
    let code = refused.wait_exit(Duration::from_secs(15));
    disk.remount("rw");
    assert_ne!(code, Some(0));
    let said = refused.stderr_text();
    assert!(
        said.contains("PORTAL_DATA_DIR") && said.to_lowercase().contains("read-only"),
        "{said}"
    );
    assert!(said.lines().count() <= 2, "one clear line: {said}");

    // Writable again, it starts and serves what it had.
    let again = Portal::start(
        &[],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATA_DIR", data_dir.to_str().unwrap()),
        ],
    );
    let base = again.base_url();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(
        request_status(&client, &base, &token, &id).await["status"],
        "completed"
    );
    again.signal("TERM");
    let mut again = again;
    assert_eq!(again.wait_exit(Duration::from_secs(15)), Some(0));

    // The database file is whole and holds exactly the two requests.
    let url = format!("sqlite://{}/portal.db", data_dir.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM subscription_requests), \
         (SELECT COUNT(*) FROM subscription_requests WHERE status = 'completed')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(counts, (2, 2));
    conn.execute("SELECT 1").await.unwrap();
    conn.close().await.ok();
}

/// Ends the connection that holds the schema migrations' lock on the database of `url`,
/// until `times` connections were ended (waiting up to 20 s in all); how many were.
async fn end_the_migrator(url: &str, times: usize) -> usize {
    let mut killer = sqlx::PgConnection::connect(url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    // A connection told to end holds its locks until it has: it is counted once.
    let mut ended = std::collections::HashSet::new();
    while ended.len() < times && Instant::now() < deadline {
        let pids: Vec<i32> = sqlx::query_scalar(
            "WITH holders AS MATERIALIZED (SELECT l.pid FROM pg_locks l \
             JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' \
             AND l.granted AND d.datname = current_database() AND l.pid <> pg_backend_pid()) \
             SELECT pid FROM holders WHERE pg_terminate_backend(pid)",
        )
        .fetch_all(&mut killer)
        .await
        .unwrap();
        ended.extend(pids);
    }
    killer.close().await.ok();
    ended.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_cut_off_by_ended_connections_are_tried_again_and_complete() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let mut portal = Portal::start(
        &["migrate"],
        &[
            ("PORTAL_DATABASE_URL", &db.url),
            ("PORTAL_DATA_DIR", data.path().to_str().unwrap()),
        ],
    );
    // The migrator's connection is ended twice while it holds its lock, mid-way through the
    // migrations of an empty database.
    let ended = end_the_migrator(&db.url, 2).await;
    let code = portal.wait_exit(Duration::from_secs(30));
    assert_eq!(ended, 2, "the migrations were cut off twice");
    assert_eq!(code, Some(0), "{}", portal.stderr_text());
    assert!(
        portal
            .stdout_text()
            .contains("the database schema is up to date")
    );
    assert_eq!(
        portal
            .stderr_text()
            .matches("cannot bring the schema up to date yet; trying again")
            .count(),
        2
    );
    let store = portal_store::Store::connect(&db.url, 1).await.unwrap();
    let latest = store.latest_schema_version();
    assert_eq!(store.schema_version().await.unwrap(), latest);
    let mut check = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut check)
        .await
        .unwrap();
    assert_eq!(applied, latest, "every migration applied once");
    check.close().await.ok();
    store.close().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_whose_seeding_is_cut_off_tries_again_and_serves() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let store = portal_store::Store::connect(&db.url, 1).await.unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    // The templates are held locked, so that the start's first read of them waits; the
    // connection waiting is ended, then the lock let go.
    let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
    holder
        .execute("BEGIN; LOCK TABLE templates IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let portal = Portal::serving(
        &["serve", "--no-worker"],
        ADMIN_PASSWORD,
        &[
            ("PORTAL_DATABASE_URL", &db.url),
            ("PORTAL_DATA_DIR", data.path().to_str().unwrap()),
        ],
    );
    let mut killer = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let ended = loop {
        let ended: Vec<i32> = sqlx::query_scalar(
            "WITH waiting AS MATERIALIZED (SELECT pid FROM pg_locks \
             WHERE NOT granted AND relation = 'templates'::regclass) \
             SELECT pid FROM waiting WHERE pg_terminate_backend(pid)",
        )
        .fetch_all(&mut killer)
        .await
        .unwrap();
        if !ended.is_empty() || Instant::now() > deadline {
            break ended.len();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(
        ended, 1,
        "the start's read of the templates waited on the lock"
    );
    holder.execute("COMMIT").await.unwrap();

    let base = portal.base_url();
    portal.wait_for_stderr(
        "cannot store the seeded templates yet; trying again",
        Duration::from_secs(5),
    );
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let templates: Value = client
        .get(format!("{base}/api/v1/templates"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !templates["items"].as_array().unwrap().is_empty(),
        "the seeded templates are there: {templates}"
    );
    killer.close().await.ok();
    holder.close().await.ok();
    drop(portal);
    db.drop_database().await;
}
