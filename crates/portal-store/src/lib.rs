//! All SQL of the Provisioning Portal: one implementation over sqlx's `AnyPool` that serves
//! SQLite and PostgreSQL alike, the migrations of both, and the durable job queue.
//!
//! Every public method is one transaction. Times are epoch milliseconds (`BIGINT`), ids and
//! enums are `TEXT`, so the same statements run on both databases.
//!
//! Rows carry the domain's types, decoded once here (`row.rs`); a conflict is a `Conflict`
//! naming what happened, never text. The modules import one another without a circle
//! (`tests/modules.rs` checks it): `batch` (statements sent together), `request` (rows,
//! locking a request, the window check), `names`, `event`, `link`, `job`, `audit` and `mail`
//! are the shared pieces; `intake`, `step` (provisioning), `rollback`, `action` (moves and
//! staff actions) and `registration` build on them and never on one another.

pub mod action;
pub mod audit;
pub mod backup;
mod batch;
pub mod credential;
pub mod digest;
pub mod domain;
mod error;
pub mod event;
pub mod factor;
pub mod glance;
pub mod guard;
mod held;
pub mod import;
pub mod intake;
pub mod job;
pub mod link;
pub mod mail;
pub mod names;
pub mod oidc;
pub mod package;
pub mod parameters;
pub mod passkey;
pub mod reads;
pub mod registration;
pub mod request;
pub mod rollback;
mod row;
mod search;
pub mod setting;
pub mod step;
pub mod template;
pub mod tenant;
pub mod user;
pub mod webhook;
pub mod workers;

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

pub use error::{Conflict, ConnectError, StoreError};
pub use held::WriteTx;
pub use search::NAMES_PER_BATCH;

/// Which database sits behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// SQLite: the one connection transactions that write are begun on. SQLite lets one
    /// writer in at a time whatever the pool; with one connection for them, writers wait
    /// their turn here rather than in SQLite's busy handler, and that connection's page
    /// cache survives from one write to the next (SQLite empties a connection's cache
    /// whenever another connection has written since its last read).
    writer: Option<held::Held>,
    /// SQLite: the connections of the reads every request makes (see `held`).
    readers: Option<held::Held>,
    backend: Backend,
    /// The URL connected to (PostgreSQL only), for the connection that listens for queued jobs.
    listen_url: Option<std::sync::Arc<str>>,
}

impl std::fmt::Debug for Store {
    // The URL is left out: it may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// How long a statement waits for a locked SQLite database before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The backend a database URL names, from its scheme.
pub fn backend_of(url: &str) -> Result<Backend, ConnectError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        _ => Err(ConnectError::UnknownScheme),
    }
}

/// Adds `mode=rwc` to a SQLite URL so that the file is created when missing.
fn sqlite_url_creating(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Creates the PostgreSQL database a URL names when the server is reachable but the database
/// does not exist yet, so that a new database name is all a first start needs.
async fn create_missing_postgres_database(url: &str) -> Result<(), ConnectError> {
    use sqlx::migrate::MigrateDatabase;
    let exists = sqlx::Any::database_exists(url)
        .await
        .map_err(ConnectError::from_sqlx)?;
    if !exists {
        tracing::info!("creating the PostgreSQL database named in the URL");
        sqlx::Any::create_database(url)
            .await
            .map_err(ConnectError::from_sqlx)?;
    }
    Ok(())
}

/// The pool's options: its size, and what it does with a connection before handing it out.
fn pool_options(backend: Backend, max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections.max(1))
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        // A server may end a PostgreSQL connection while it waits in the pool: it is
        // tried before use. An embedded SQLite connection cannot be ended so; trying it
        // would cost a round trip to its thread every time the pool hands it out.
        .test_before_acquire(backend == Backend::Postgres)
        // A connection whose transaction could not be ended (a COMMIT refused because the
        // disk is full, say, after which SQLite has already rolled back and the ROLLBACK
        // fails too) still counts as inside one, and would refuse every BEGIN: such a
        // connection is closed instead of reused. The pool's ping when a connection comes
        // back has let any pending rollback run by then, so this costs no round trip.
        .before_acquire(|conn, _meta| {
            Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
        })
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    set_up_sqlite(conn).await?;
                }
                Ok(())
            })
        })
}

/// What every SQLite connection is set to: WAL, foreign keys, the busy timeout. SQLite's
/// scratch space (a statement's journal, a view's rows for its trigger) is kept in memory: on
/// disk it is a file made and removed for most submissions.
async fn set_up_sqlite(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute(sqlx::AssertSqlSafe(format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
         PRAGMA temp_store = MEMORY;"
    )))
    .await?;
    Ok(())
}

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`). SQLite files are created when
    /// missing and run in WAL mode with a busy timeout and foreign keys on.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, ConnectError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url_creating(url),
            Backend::Postgres => url.to_owned(),
        };
        if backend == Backend::Postgres {
            create_missing_postgres_database(&url).await?;
        }
        let options: AnyConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| ConnectError::Invalid(e.to_string()))?;
        // One direct connection first: it fails at once with the real cause (refused, unknown
        // database, bad user) where the pool would only report a timeout. Once made, it has
        // said what it was for: its closing may fail (the server ended it meanwhile) unheard.
        let probe = AnyConnection::connect_with(&options)
            .await
            .map_err(ConnectError::from_sqlx)?;
        let _ = probe.close().await;
        let pool = pool_options(backend, max_connections)
            .connect_with(options.clone())
            .await
            .map_err(ConnectError::from_sqlx)?;
        // SQLite's held connections are made when first needed, with the pool's set-up.
        let (writer, readers) = match backend {
            Backend::Sqlite => (
                Some(held::Held::new(options.clone(), 1)),
                Some(held::Held::new(options, max_connections)),
            ),
            Backend::Postgres => (None, None),
        };
        let listen_url = (backend == Backend::Postgres).then(|| url.as_str().into());
        Ok(Self {
            pool,
            writer,
            readers,
            backend,
            listen_url,
        })
    }

    /// The migrations of this store's backend.
    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Brings the schema up to date; safe to run at every start and from several processes.
    /// Each migration runs in a transaction of its own with its bookkeeping: one cut off (its
    /// connection ended) was rolled back whole, is said as [`StoreError::Unavailable`], and
    /// runs again from its start when this is called again.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.migrator().run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(db)
            | sqlx::migrate::MigrateError::ExecuteMigration(db, _)
                if error::is_unavailable_sqlx(&db) =>
            {
                StoreError::Unavailable(db.to_string())
            }
            other => StoreError::Other(other.into()),
        })
    }

    /// One round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        for held in [&self.writer, &self.readers].into_iter().flatten() {
            held.close().await;
        }
        self.pool.close().await;
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so that two writers wait for each other instead of failing when
    /// a read lock must be upgraded.
    async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        match &self.writer {
            Some(writer) => WriteTx::held(writer.acquire().await?, "BEGIN IMMEDIATE").await,
            None => Ok(WriteTx::pooled(self.pool.begin().await?)),
        }
    }

    /// A connection for a few reads made on every request: on SQLite one the store holds.
    async fn read_conn(&self) -> Result<held::Conn, StoreError> {
        Ok(match &self.readers {
            Some(readers) => held::Conn::Held(readers.acquire().await?),
            None => held::Conn::Pooled(self.pool.acquire().await?),
        })
    }
}

/// `rows` tuples of `columns` numbered placeholders, `($1, $2), ($3, $4)`, for a statement that
/// writes many rows at once.
pub(crate) fn placeholder_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let cells = (1..=columns)
                .map(|c| format!("${}", row * columns + c))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({cells})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A new random, time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(feature = "test-support")]
pub mod test_support;

#[cfg(test)]
mod tests {
    #[test]
    fn placeholder_rows_number_every_cell_in_order() {
        assert_eq!(super::placeholder_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::placeholder_rows(1, 1), "($1)");
    }
}
