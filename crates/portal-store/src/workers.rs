//! What operators watch: the worker processes that say they are alive, the wake-ups that
//! reach them across processes, and the counts the metrics read at every scrape.
//!
//! On PostgreSQL a trigger (migration 0023) sends a notification on [`JOBS_CHANNEL`] whenever a
//! job is queued; PostgreSQL delivers it when the queuing transaction commits, and never for
//! one rolled back. [`Store::relay_job_wakeups`] passes each one to the worker, which
//! otherwise polls.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::{Notify, watch};

use crate::{Store, StoreError};

/// The channel queued jobs are told on.
pub const JOBS_CHANNEL: &str = "portal_jobs";

/// The `application_name` of the connection that listens, as `pg_stat_activity` shows it.
pub const LISTENER_NAME: &str = "portal-job-listener";

/// A worker process as it last said it was alive.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WorkerRow {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub concurrency: i64,
    pub started_at: i64,
    pub seen_at: i64,
    pub stopped_at: Option<i64>,
    /// The jobs it holds a lease on now.
    pub holding: i64,
}

/// The counts the metrics show, read in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// (job kind, status, count).
    pub jobs: Vec<(String, String, i64)>,
    /// When the oldest job due now was due, if one waits.
    pub oldest_due_at: Option<i64>,
    /// (request status, count).
    pub requests: Vec<(portal_domain::RequestStatus, i64)>,
    /// Outbox messages not yet sent.
    pub mail_pending: i64,
    /// Webhook deliveries not yet answered.
    pub webhooks_pending: i64,
}

impl Store {
    /// Wakes `ready` whenever a job is queued by any process, until `stop` turns true. On
    /// SQLite it returns at once (one process queues and runs). A lost connection is opened
    /// again; meanwhile the worker polls, and it is woken once the listener is back in case a
    /// notification was missed.
    pub async fn relay_job_wakeups(&self, ready: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        let Some(url) = self.listen_url.clone() else {
            return;
        };
        let mut failing = false;
        while !*stop.borrow() {
            let listener = tokio::select! {
                listener = listen(&url) => listener,
                _ = stop.changed() => return,
            };
            match listener {
                Ok(mut listener) => {
                    tracing::info!("listening for queued jobs");
                    failing = false;
                    ready.notify_one();
                    relay(&mut listener, &ready, &mut stop).await;
                    // A server that drops the connection at once is not asked again at once.
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                        _ = stop.changed() => return,
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot listen for queued jobs; polling until it can");
                    }
                    failing = true;
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
        }
    }

    /// Records that worker `id` runs, or is still running.
    pub async fn worker_seen(
        &self,
        id: &str,
        host: &str,
        concurrency: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO workers (id, host, pid, concurrency, started_at, seen_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (id) DO UPDATE SET seen_at = $5, stopped_at = NULL",
        )
        .bind(id)
        .bind(host)
        .bind(i64::from(std::process::id()))
        .bind(concurrency)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that worker `id` stopped.
    pub async fn worker_stopped(&self, id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE workers SET stopped_at = $1, seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets the workers not seen since `before`.
    pub async fn forget_workers(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM workers WHERE seen_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The workers seen since `since`, the most recently started first, with the jobs each
    /// holds.
    pub async fn workers(&self, since: i64) -> Result<Vec<WorkerRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT w.id, w.host, w.pid, w.concurrency, w.started_at, w.seen_at, w.stopped_at, \
             (SELECT COUNT(*) FROM jobs j WHERE j.status = 'running' AND j.locked_by = w.id) AS holding \
             FROM workers w WHERE w.seen_at >= $1 ORDER BY w.started_at DESC, w.id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The jobs worker `id` holds now: (id, kind).
    pub async fn jobs_held_by(&self, id: &str) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, kind FROM jobs WHERE status = 'running' AND locked_by = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The metrics' counts at `now`.
    pub async fn gauges(&self, now: i64) -> Result<Gauges, StoreError> {
        let jobs = sqlx::query_as("SELECT kind, status, COUNT(*) FROM jobs GROUP BY kind, status")
            .fetch_all(&self.pool)
            .await?;
        let oldest_due_at = self.queue_now(now).await?.oldest_due_at;
        // Every status, zeros too: a series that appears only with its first request would hide
        // that first increase from an alert on it.
        let requests = self.count_every_status().await?;
        let (mail_pending,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        let (webhooks_pending,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(Gauges {
            jobs,
            oldest_due_at,
            requests,
            mail_pending,
            webhooks_pending,
        })
    }

    /// Whether a migration this build knows has not been applied yet.
    pub async fn migrations_behind(&self) -> Result<bool, StoreError> {
        Ok(self.schema_version().await? < self.latest_schema_version())
    }
}

/// How long the listening connection may stay quiet before it is asked to answer.
const QUIET_CHECK: Duration = Duration::from_secs(30);
/// How long it has to answer then.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Opens a connection of its own and listens on the jobs channel.
async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let options: PgConnectOptions = url
        .parse::<PgConnectOptions>()?
        .application_name(LISTENER_NAME);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(JOBS_CHANNEL).await?;
    Ok(listener)
}

/// Passes notifications on until the connection fails for good or `stop` turns true.
async fn relay(listener: &mut PgListener, ready: &Notify, stop: &mut watch::Receiver<bool>) {
    loop {
        let received = tokio::select! {
            received = tokio::time::timeout(QUIET_CHECK, listener.try_recv()) => received,
            _ = stop.changed() => return,
        };
        match received {
            Ok(Ok(Some(_))) => ready.notify_one(),
            // The connection was lost and opened again: what was told meanwhile is lost, so
            // the worker looks at the queue once.
            Ok(Ok(None)) => {
                tracing::warn!(
                    "the connection listening for queued jobs was lost; listening again"
                );
                ready.notify_one();
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "lost the connection listening for queued jobs");
                ready.notify_one();
                return;
            }
            // Quiet for a while: a connection dropped silently on the way (a firewall that
            // forgot it, say) gives no error, so it is asked to answer.
            Err(_) => {
                let answer = sqlx::query("SELECT 1").execute(&mut *listener);
                if !matches!(tokio::time::timeout(ANSWER_WITHIN, answer).await, Ok(Ok(_))) {
                    tracing::warn!("the connection listening for queued jobs stopped answering");
                    ready.notify_one();
                    return;
                }
            }
        }
    }
}
