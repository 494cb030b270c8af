//! The durable job queue: enqueue inside the caller's transaction, claim with a lease,
//! heartbeat, finish, retry with backoff, rescue expired leases, and dead jobs.
//!
//! A claim is fenced by `(id, locked_by, attempts)`: a worker whose lease was rescued and
//! given to another can no longer finish, fail or extend the job.

use sqlx::{Any, Transaction};

use crate::{Backend, Store, StoreError};

/// The job kind that does nothing: it measures the queue itself (`examples/bench.rs`).
pub const NOOP_JOB: &str = "noop";

/// A job to put on the queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    /// The object the job works on (a request id), if any.
    pub subject: Option<String>,
    pub payload: String,
    pub run_at: i64,
    pub max_attempts: i64,
}

/// A job a worker holds a lease on.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    /// How many times the job has been claimed, this claim included.
    pub attempts: i64,
    pub max_attempts: i64,
    pub locked_by: String,
    /// When it was due: its start minus this is how long it waited.
    pub run_at: i64,
}

/// A job as stored, for inspection.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub status: String,
    pub run_at: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub locked_by: Option<String>,
    pub locked_until: Option<i64>,
    pub last_error: Option<String>,
}

/// What a failed attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Back on the queue, to run again at the given time.
    Retry,
    /// Out of attempts.
    Dead,
    /// The lease was no longer ours: another worker holds the job.
    LostLease,
}

/// Counts of jobs by status, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub queued: i64,
    pub running: i64,
    pub dead: i64,
}

// The chosen rows are materialised first so that the planner cannot re-run the locking
// subquery and hand out more rows than the limit.
const CLAIM_POSTGRES: &str = "WITH chosen AS MATERIALIZED ( \
         SELECT id FROM jobs WHERE status = 'queued' AND run_at <= $3 \
         ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
     UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, \
     attempts = jobs.attempts + 1 \
     FROM chosen WHERE jobs.id = chosen.id \
     RETURNING jobs.id, jobs.kind, jobs.payload, jobs.attempts, jobs.max_attempts, jobs.locked_by, \
     jobs.run_at";

// SQLite has one writer at a time, so the single statement is already exclusive.
const CLAIM_SQLITE: &str = "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, \
     attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' AND run_at <= $3 \
                  ORDER BY run_at, id LIMIT $4) \
     RETURNING id, kind, payload, attempts, max_attempts, locked_by, run_at";

/// Puts a job on the queue inside the caller's transaction, so that the job exists exactly
/// when the write that causes it does.
pub(crate) async fn enqueue_in(
    tx: &mut Transaction<'static, Any>,
    job: &NewJob,
    now: i64,
) -> Result<i64, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO jobs (kind, payload, status, run_at, attempts, max_attempts, created_at, subject) \
         VALUES ($1, $2, 'queued', $3, 0, $4, $5, $6) RETURNING id",
    )
    .bind(&job.kind)
    .bind(&job.payload)
    .bind(job.run_at)
    .bind(job.max_attempts)
    .bind(now)
    .bind(&job.subject)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

impl Store {
    /// Puts one job on the queue on its own.
    pub async fn enqueue(&self, job: &NewJob) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = enqueue_in(&mut tx, job, crate::now_ms()).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Puts many jobs on the queue in one transaction, several rows per statement.
    pub async fn enqueue_many(&self, jobs: &[NewJob]) -> Result<(), StoreError> {
        const ROWS: usize = 500;
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        for chunk in jobs.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO jobs (kind, payload, run_at, max_attempts, created_at, subject, status, attempts) \
                 VALUES {}",
                crate::placeholder_rows(chunk.len(), 8)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for job in chunk {
                query = query
                    .bind(&job.kind)
                    .bind(&job.payload)
                    .bind(job.run_at)
                    .bind(job.max_attempts)
                    .bind(now)
                    .bind(&job.subject)
                    .bind("queued")
                    .bind(0_i64);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` due jobs for `worker`, leased until `now + lease_ms`.
    pub async fn claim_jobs(
        &self,
        worker: &str,
        limit: i64,
        lease_ms: i64,
        now: i64,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let sql = match self.backend {
            Backend::Postgres => CLAIM_POSTGRES,
            Backend::Sqlite => CLAIM_SQLITE,
        };
        let mut jobs: Vec<ClaimedJob> = sqlx::query_as(sql)
            .bind(worker)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    /// Extends the lease of a job still held; false when the lease was lost.
    pub async fn heartbeat_job(&self, job: &ClaimedJob, until: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET locked_until = $1 \
             WHERE id = $2 AND locked_by = $3 AND attempts = $4 AND status = 'running'",
        )
        .bind(until)
        .bind(job.id)
        .bind(&job.locked_by)
        .bind(job.attempts)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes a finished job; false when the lease was lost (someone else holds it).
    pub async fn complete_job(&self, job: &ClaimedJob) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND status = 'running'",
        )
        .bind(job.id)
        .bind(&job.locked_by)
        .bind(job.attempts)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes many finished jobs of one worker in one statement (found by their primary key);
    /// returns how many were still held by it (the others' leases had been lost). Within one
    /// worker a job is held by one claim at a time, so the worker's name fences the removal;
    /// should the same worker have claimed a job again after its lease lapsed, the job is done
    /// all the same and the later claim finds it gone.
    pub async fn complete_jobs(&self, jobs: &[ClaimedJob]) -> Result<u64, StoreError> {
        let Some(first) = jobs.first() else {
            return Ok(0);
        };
        let mine: Vec<i64> = jobs
            .iter()
            .filter(|j| j.locked_by == first.locked_by)
            .map(|j| j.id)
            .collect();
        let placeholders = (0..mine.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM jobs WHERE id IN ({placeholders}) AND locked_by = $1 AND status = 'running'"
        )))
        .bind(&first.locked_by);
        for id in mine {
            query = query.bind(id);
        }
        Ok(query.execute(&self.pool).await?.rows_affected())
    }

    /// Records a failed attempt: back on the queue at `retry_at`, or dead when out of attempts.
    pub async fn fail_job(
        &self,
        job: &ClaimedJob,
        error: &str,
        retry_at: i64,
    ) -> Result<FailOutcome, StoreError> {
        let dead = job.attempts >= job.max_attempts;
        let done = sqlx::query(
            "UPDATE jobs SET status = $1, run_at = $2, last_error = $3, locked_by = NULL, \
             locked_until = NULL \
             WHERE id = $4 AND locked_by = $5 AND attempts = $6 AND status = 'running'",
        )
        .bind(if dead { "dead" } else { "queued" })
        .bind(retry_at)
        .bind(error)
        .bind(job.id)
        .bind(&job.locked_by)
        .bind(job.attempts)
        .execute(&self.pool)
        .await?;
        Ok(match (done.rows_affected(), dead) {
            (0, _) => FailOutcome::LostLease,
            (_, true) => FailOutcome::Dead,
            (_, false) => FailOutcome::Retry,
        })
    }

    /// Puts every job whose lease expired back on the queue, or marks it dead when that was
    /// its last attempt. Returns how many went back, and the jobs that died, so that their
    /// owners can be told.
    pub async fn rescue_expired_jobs(&self, now: i64) -> Result<(u64, Vec<JobRow>), StoreError> {
        let rows: Vec<JobRow> = sqlx::query_as(
            "UPDATE jobs SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
             run_at = $1, locked_by = NULL, locked_until = NULL, \
             last_error = 'the worker stopped renewing its lease' \
             WHERE status = 'running' AND locked_until < $1 \
             RETURNING id, kind, payload, status, run_at, attempts, max_attempts, locked_by, \
             locked_until, last_error",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let (dead, requeued): (Vec<JobRow>, Vec<JobRow>) =
            rows.into_iter().partition(|j| j.status == "dead");
        Ok((requeued.len() as u64, dead))
    }

    pub async fn get_job(&self, id: i64) -> Result<JobRow, StoreError> {
        sqlx::query_as(
            "SELECT id, kind, payload, status, run_at, attempts, max_attempts, locked_by, \
             locked_until, last_error FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    pub async fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status")
                .fetch_all(&self.pool)
                .await?;
        let mut depth = QueueDepth::default();
        for (status, n) in rows {
            match status.as_str() {
                "queued" => depth.queued = n,
                "running" => depth.running = n,
                "dead" => depth.dead = n,
                _ => {}
            }
        }
        Ok(depth)
    }
}
