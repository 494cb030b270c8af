//! SQLite connections the store keeps and hands out itself: the one its writes are begun on,
//! and those the reads every request makes go to (its token or session, the reads before a
//! submission's hash).
//!
//! Each statement sent to a SQLite connection is a hand-off to the connection's own thread
//! and back, and on cores that are hashing each hand-off is a wake-up paid for by a hash.
//! sqlx's pool adds hand-offs an embedded database does not need: it tests a connection as it
//! comes back (a round trip, from a task of its own; a PostgreSQL server may end a
//! connection, an embedded SQLite one is ended only with its process), and its transactions
//! begin and commit through a rendezvous in which the connection's thread waits until the
//! caller has taken the answer. A connection held here goes back to its list as it is, and
//! its transactions are plain `BEGIN IMMEDIATE` and `COMMIT` statements: a submission hands
//! off five times where it did eight.
//!
//! A write transaction dropped before it ended (an error, a caller gone) is rolled back at
//! once, from a task of its own, before its connection goes back to the list: until then it
//! holds SQLite's write lock. A connection whose rollback fails is closed instead, which
//! rolls back what it held, and a new one is made when next needed.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::any::AnyConnectOptions;
use sqlx::{Any, AnyConnection, Connection, Executor, Transaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::StoreError;

/// How long a caller waits for a held connection before the database counts as unavailable
/// (as long as it waits for one of the pool's).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Up to `max` SQLite connections, made when first needed and kept; cheap to clone.
#[derive(Clone)]
pub(crate) struct Held {
    shared: Arc<Shared>,
}

struct Shared {
    idle: Mutex<Vec<AnyConnection>>,
    /// One per connection that may be out at once; closed with the store.
    permits: Arc<Semaphore>,
    options: AnyConnectOptions,
}

/// A held connection, out of its list until dropped.
pub(crate) struct HeldConn {
    conn: Option<AnyConnection>,
    /// A transaction was begun on it and has not ended.
    owes_rollback: bool,
    shared: Arc<Shared>,
    /// Kept until the connection is back in the list (or closed).
    permit: Option<OwnedSemaphorePermit>,
}

impl Held {
    pub(crate) fn new(options: AnyConnectOptions, max: u32) -> Self {
        Self {
            shared: Arc::new(Shared {
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(max.max(1) as usize)),
                options,
            }),
        }
    }

    /// A connection: an idle one, or a new one while fewer than `max` are made.
    pub(crate) async fn acquire(&self) -> Result<HeldConn, StoreError> {
        let permit =
            tokio::time::timeout(ACQUIRE_TIMEOUT, self.shared.permits.clone().acquire_owned())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?
                .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.shared.idle().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => connect(&self.shared.options).await?,
        };
        Ok(HeldConn {
            conn: Some(conn),
            owes_rollback: false,
            shared: self.shared.clone(),
            permit: Some(permit),
        })
    }

    /// Closes the idle connections; those out are closed as they come back.
    pub(crate) async fn close(&self) {
        self.shared.permits.close();
        let idle = std::mem::take(&mut *self.shared.idle());
        for conn in idle {
            let _ = conn.close().await;
        }
    }
}

impl Shared {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<AnyConnection>> {
        // The list is whole at every point a panic could leave it.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts a connection back in the list, unless the store is closed (then it is dropped:
    /// its thread ends, closing the database).
    fn put_back(&self, conn: AnyConnection) {
        if !self.permits.is_closed() {
            self.idle().push(conn);
        }
    }
}

/// A new SQLite connection, set up as the pool's are.
async fn connect(options: &AnyConnectOptions) -> Result<AnyConnection, StoreError> {
    let mut conn = AnyConnection::connect_with(options).await?;
    crate::set_up_sqlite(&mut conn).await?;
    Ok(conn)
}

impl Drop for HeldConn {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !self.owes_rollback {
            self.shared.put_back(conn);
            return;
        }
        // A connection dropped inside a transaction (without a runtime to roll it back
        // from, it is closed, which rolls back).
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let shared = self.shared.clone();
        let permit = self.permit.take();
        runtime.spawn(async move {
            if conn.execute("ROLLBACK").await.is_ok() {
                shared.put_back(conn);
            }
            drop(permit);
        });
    }
}

impl Deref for HeldConn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        self.conn
            .as_ref()
            .expect("a held connection is there until dropped")
    }
}

impl DerefMut for HeldConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn
            .as_mut()
            .expect("a held connection is there until dropped")
    }
}

/// A connection for a few statements: one the store holds (SQLite) or one of the pool's.
pub(crate) enum Conn {
    Held(HeldConn),
    Pooled(sqlx::pool::PoolConnection<Any>),
}

impl Deref for Conn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            Self::Held(conn) => conn,
            Self::Pooled(conn) => conn,
        }
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Self::Held(conn) => conn,
            Self::Pooled(conn) => conn,
        }
    }
}

/// A transaction that writes: one of the pool's (PostgreSQL), or on the store's SQLite writer.
/// Used as a connection (`&mut *tx`); dropped without [`commit`](Self::commit), it is rolled
/// back. A read made in a transaction of the pool's on either database (a package change's
/// plan) is wrapped the same way, so that the code it shares with writes takes one type.
pub struct WriteTx(Write);

enum Write {
    Pooled(Transaction<'static, Any>),
    /// A held connection inside a transaction begun by a statement; it owes the connection
    /// a rollback until it has ended.
    Held(HeldConn),
}

impl std::fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let on = match &self.0 {
            Write::Pooled(_) => "pooled",
            Write::Held(_) => "held",
        };
        f.debug_tuple("WriteTx").field(&on).finish()
    }
}

impl WriteTx {
    /// Begins a transaction on a held connection with `statement` (`BEGIN IMMEDIATE`).
    pub(crate) async fn held(
        mut conn: HeldConn,
        statement: &'static str,
    ) -> Result<Self, StoreError> {
        // Owed from the moment the BEGIN is sent: a caller that stops waiting for its answer
        // (a client gone) drops the connection with the BEGIN run unheard. A rollback owed
        // where none began fails, and the connection is replaced, which is always safe.
        conn.owes_rollback = true;
        if let Err(e) = conn.execute(statement).await {
            // Refused (SQLite still locked after its busy timeout): nothing began.
            conn.owes_rollback = false;
            return Err(e.into());
        }
        Ok(Self(Write::Held(conn)))
    }

    pub(crate) fn pooled(tx: Transaction<'static, Any>) -> Self {
        Self(Write::Pooled(tx))
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.0 {
            Write::Pooled(tx) => tx.commit().await,
            Write::Held(conn) => end(conn, "COMMIT").await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.0 {
            Write::Pooled(tx) => tx.rollback().await,
            Write::Held(conn) => end(conn, "ROLLBACK").await,
        }
    }
}

/// Ends a held connection's transaction with `statement`; if that fails, the rollback stays
/// owed.
async fn end(mut conn: HeldConn, statement: &'static str) -> Result<(), sqlx::Error> {
    conn.execute(statement).await?;
    conn.owes_rollback = false;
    Ok(())
}

impl Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match &self.0 {
            Write::Pooled(tx) => tx,
            Write::Held(conn) => conn,
        }
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.0 {
            Write::Pooled(tx) => tx,
            Write::Held(conn) => conn,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::TestDatabase;
    use crate::{Store, StoreError};

    async fn sqlite(db: &TestDatabase) -> Store {
        let store = Store::connect(&db.url, 2).await.expect("connect");
        store.migrate().await.expect("migrate");
        let mut tx = store.begin_write().await.expect("begin");
        sqlx::query("CREATE TABLE probe (x BIGINT NOT NULL)")
            .execute(&mut *tx)
            .await
            .expect("create");
        tx.commit().await.expect("commit");
        store
    }

    async fn probes(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM probe")
            .fetch_one(&mut *store.read_conn().await.expect("read"))
            .await
            .expect("count")
    }

    /// Marks a connection with a temporary table, which lives as long as its connection and
    /// only there.
    async fn mark(conn: &mut sqlx::AnyConnection) {
        sqlx::query("CREATE TEMP TABLE mark (x BIGINT)")
            .execute(conn)
            .await
            .expect("mark the connection");
    }

    /// Whether a connection is the one marked.
    async fn marked(conn: &mut sqlx::AnyConnection) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sqlite_temp_master WHERE name = 'mark'")
            .fetch_one(conn)
            .await
            .expect("look for the mark")
            == 1
    }

    async fn insert_probe(tx: &mut crate::WriteTx) {
        sqlx::query("INSERT INTO probe (x) VALUES (1)")
            .execute(&mut **tx)
            .await
            .expect("insert");
    }

    /// One more write through the writer, begun, made and committed: it fails unless the
    /// writer is ready for it.
    async fn write_one_more(store: &Store) {
        let mut tx = store.begin_write().await.expect("a write begins after it");
        insert_probe(&mut tx).await;
        tx.commit().await.expect("commit");
    }

    #[tokio::test]
    async fn a_write_dropped_open_is_rolled_back_before_the_next_one_begins() {
        let db = TestDatabase::sqlite();
        let store = sqlite(&db).await;
        let mut tx = store.begin_write().await.expect("begin");
        insert_probe(&mut tx).await;
        drop(tx);
        // Another connection may write: the dropped one let go of SQLite's write lock (kept,
        // this would wait out the busy timeout and fail as locked).
        sqlx::query("INSERT INTO probe (x) VALUES (2)")
            .execute(&store.pool)
            .await
            .expect("a write beside the writer");
        // The same (only) writer connection, out of its transaction.
        write_one_more(&store).await;
        assert_eq!(probes(&store).await, 2);
    }

    #[tokio::test]
    async fn a_write_given_up_while_it_begins_leaves_the_writer_ready() {
        let db = TestDatabase::sqlite();
        let store = sqlite(&db).await;
        // Another connection holds the write lock, so the writer's BEGIN waits in SQLite's
        // busy handler. Polled once, it is sent, and its caller stops waiting for the answer
        // (as when a client goes away); once the lock is let go, the BEGIN runs unheard.
        let mut other = store.pool.acquire().await.expect("another connection");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *other)
            .await
            .expect("take the write lock");
        let given_up = futures_util::FutureExt::now_or_never(store.begin_write());
        assert!(
            given_up.is_none(),
            "the BEGIN was answered while locked out"
        );
        sqlx::query("COMMIT")
            .execute(&mut *other)
            .await
            .expect("let the write lock go");
        drop(other);
        write_one_more(&store).await;
        assert_eq!(probes(&store).await, 1);
    }

    #[tokio::test]
    async fn a_commit_refused_leaves_the_writer_ready_for_the_next_write() {
        let db = TestDatabase::sqlite();
        let store = sqlite(&db).await;
        let mut tx = store.begin_write().await.expect("begin");
        sqlx::query(
            "CREATE TABLE parent (id BIGINT PRIMARY KEY); \
             CREATE TABLE child (parent BIGINT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)",
        )
        .execute(&mut *tx)
        .await
        .expect("create");
        tx.commit().await.expect("commit");
        // A deferred foreign key is checked at COMMIT, which fails and leaves the
        // transaction open.
        let mut tx = store.begin_write().await.expect("begin");
        insert_probe(&mut tx).await;
        sqlx::query("INSERT INTO child (parent) VALUES (7)")
            .execute(&mut *tx)
            .await
            .expect("insert an orphan");
        assert!(
            tx.commit().await.is_err(),
            "the orphan is refused at COMMIT"
        );
        write_one_more(&store).await;
        assert_eq!(
            probes(&store).await,
            1,
            "the refused transaction left nothing"
        );
    }

    #[tokio::test]
    async fn a_connection_whose_rollback_fails_is_replaced() {
        let db = TestDatabase::sqlite();
        let store = sqlite(&db).await;
        let mut tx = store.begin_write().await.expect("begin");
        mark(&mut tx).await;
        // Ended behind the transaction's back: the rollback it owes will fail.
        sqlx::query("COMMIT")
            .execute(&mut *tx)
            .await
            .expect("commit");
        drop(tx);
        let mut tx = store.begin_write().await.expect("a write begins after it");
        assert!(!marked(&mut tx).await, "the connection was replaced");
        insert_probe(&mut tx).await;
        tx.commit().await.expect("commit");
        assert_eq!(probes(&store).await, 1);
    }

    #[tokio::test]
    async fn a_connection_is_kept_for_the_next_caller_and_none_is_handed_out_twice() {
        let db = TestDatabase::sqlite();
        let store = sqlite(&db).await;
        let readers = store.readers.clone().expect("SQLite has readers");
        let mut first = readers.acquire().await.expect("acquire");
        mark(&mut first).await;
        let mut second = readers.acquire().await.expect("a second at once");
        assert!(
            !marked(&mut second).await,
            "two callers at once have two connections"
        );
        // Both out of two: a third waits until one comes back.
        let third = tokio::time::timeout(std::time::Duration::from_millis(200), readers.acquire());
        assert!(
            third.await.is_err(),
            "a third connection was made beyond the limit"
        );
        drop(second);
        drop(first);
        let mut both = (
            readers.acquire().await.expect("again"),
            readers.acquire().await.expect("again"),
        );
        let marks = [marked(&mut both.0).await, marked(&mut both.1).await];
        assert_eq!(
            marks.iter().filter(|m| **m).count(),
            1,
            "the marked connection was kept and handed out again"
        );
    }

    #[tokio::test]
    async fn a_closed_store_hands_out_no_held_connection() {
        let db = TestDatabase::sqlite();
        let store = sqlite(&db).await;
        store.close().await;
        assert!(matches!(
            store.read_conn().await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            store.begin_write().await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
