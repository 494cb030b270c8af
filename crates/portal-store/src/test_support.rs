//! Fresh databases for tests: a SQLite file in its own temporary folder, or a new database on
//! the PostgreSQL server named by `PORTAL_TEST_POSTGRES_URL`.
//!
//! When that variable is unset the PostgreSQL half of a test is skipped with a note, except
//! under CI (`CI` set), where it is a failure: CI must never pass without PostgreSQL.

use sqlx::{Connection, Executor};

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

/// The variable naming the PostgreSQL server that tests may create databases on.
pub const POSTGRES_URL_VAR: &str = "PORTAL_TEST_POSTGRES_URL";

impl TestDatabase {
    /// A new SQLite database file in a fresh temporary folder.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder for the test database");
        let url = format!("sqlite://{}/portal.db", dir.path().display());
        Self {
            url,
            cleanup: None,
            _dir: Some(dir),
        }
    }

    /// A new, empty PostgreSQL database, or `None` (with a note) when no server is configured.
    pub async fn postgres() -> Option<Self> {
        let Ok(server) = std::env::var(POSTGRES_URL_VAR) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{POSTGRES_URL_VAR} is not set: under CI the PostgreSQL tests must run"
            );
            eprintln!(
                "note: {POSTGRES_URL_VAR} is not set; the PostgreSQL half of this test is skipped"
            );
            return None;
        };
        let name = format!("portal_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot reach the test PostgreSQL server ({POSTGRES_URL_VAR}): {e}")
            });
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let url = with_database(&server, &name);
        Some(Self {
            url,
            cleanup: Some((server, name)),
            _dir: None,
        })
    }

    /// Drops a PostgreSQL test database; call at the end of a test.
    pub async fn drop_database(self) {
        if let Some((server, name)) = &self.cleanup
            && let Ok(mut admin) = sqlx::PgConnection::connect(server).await
        {
            let _ = admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await;
        }
    }
}

/// The server URL with its database path replaced by `name` (query string kept).
pub fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(base.len());
    let mut url = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Moves a self-service request's clock `by_ms` into the past: its links, its held names and
/// its queued expiry job, as if that much time had gone by (tests of expiry).
pub async fn age_registration(store: &crate::Store, request_id: &str, by_ms: i64) {
    for sql in [
        "UPDATE registration_links SET expires_at = expires_at - $1 WHERE request_id = $2",
        "UPDATE reserved_names SET held_until = held_until - $1 \
         WHERE request_id = $2 AND held_until IS NOT NULL",
        "UPDATE jobs SET run_at = run_at - $1 WHERE subject = $2 AND status = 'queued'",
    ] {
        sqlx::query(sql)
            .bind(by_ms)
            .bind(request_id)
            .execute(&store.pool)
            .await
            .expect("age a registration");
    }
}

/// Writes `value` into `column` of a request as it stands, bypassing every type: what a bad
/// value in the database does (tests of decoding).
pub async fn corrupt_request(
    store: &crate::Store,
    request_id: &str,
    column: &str,
    value: Option<&str>,
) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE subscription_requests SET {column} = $1 WHERE id = $2"
    )))
    .bind(value)
    .bind(request_id)
    .execute(&store.pool)
    .await
    .expect("corrupt a request");
}

/// Every (trigram, request id) the name search walks (migration 0025), sorted.
pub async fn name_trigrams(store: &crate::Store) -> Vec<(String, String)> {
    sqlx::query_as("SELECT trigram, request_id FROM name_trigrams ORDER BY trigram, request_id")
        .fetch_all(&store.pool)
        .await
        .expect("read the name trigrams")
}

/// The requests whose names SQLite's search has not indexed yet (migration 0026, SQLite;
/// none on PostgreSQL), sorted; and how many rows FTS5's table holds for each request id
/// given.
pub async fn names_unindexed(store: &crate::Store, ids: &[&str]) -> (Vec<String>, Vec<i64>) {
    if store.backend() == crate::Backend::Postgres {
        return (Vec::new(), Vec::new());
    }
    let waiting = sqlx::query_scalar("SELECT request_id FROM names_unindexed ORDER BY request_id")
        .fetch_all(&store.pool)
        .await
        .expect("read the requests not indexed");
    let mut rows = Vec::new();
    for id in ids {
        rows.push(
            sqlx::query_scalar("SELECT count(*) FROM request_names WHERE request_id = $1")
                .bind(*id)
                .fetch_one(&store.pool)
                .await
                .expect("count the FTS5 rows"),
        );
    }
    (waiting, rows)
}

/// Whether FTS5's table of the name search holds segments a merge would fold together
/// (SQLite; never on PostgreSQL): a merge of them all is tried and rolled back.
pub async fn name_segments_unmerged(store: &crate::Store) -> bool {
    if store.backend() == crate::Backend::Postgres {
        return false;
    }
    const CHANGES: &str = "SELECT total_changes()";
    let mut tx = store.begin_write().await.expect("begin");
    let before: i64 = sqlx::query_scalar(CHANGES)
        .fetch_one(&mut *tx)
        .await
        .expect("changes");
    sqlx::query("INSERT INTO request_names (request_names, rank) VALUES ('merge', -1)")
        .execute(&mut *tx)
        .await
        .expect("try a merge");
    let after: i64 = sqlx::query_scalar(CHANGES)
        .fetch_one(&mut *tx)
        .await
        .expect("changes");
    tx.rollback().await.expect("roll the merge back");
    after - before >= 2
}

/// Every (suffix, request id) PostgreSQL's name search reads its few matches from (migration
/// 0026), sorted.
pub async fn name_suffixes(store: &crate::Store) -> Vec<(String, String)> {
    sqlx::query_as("SELECT suffix, request_id FROM name_suffixes ORDER BY suffix, request_id")
        .fetch_all(&store.pool)
        .await
        .expect("read the name suffixes")
}

/// Runs one statement of a test's own (a change no part of the store makes).
pub async fn execute(store: &crate::Store, sql: &str, values: &[&str]) {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for value in values {
        query = query.bind(*value);
    }
    query
        .execute(&store.pool)
        .await
        .expect("run a test's statement");
}
