//! The durable job queue: enqueue inside the caller's transaction, claim with a lease,
//! heartbeat, finish, retry with backoff, rescue expired leases, and dead jobs.
//!
//! A claim is fenced by `(id, locked_by, attempts)`: a worker whose lease was rescued and
//! given to another can no longer finish, fail or extend the job.
//!
//! The queue knows no job kind: a kind's name and payload are text to it. A job's last
//! failed attempt is a `Burial`: the job is marked dead in a transaction that also writes
//! what its kind leaves behind, so both happen or neither.

use sqlx::{Any, Row};

use crate::batch::Binds;
use crate::{Backend, Store, StoreError};

portal_domain::text_enum! {
    /// Where a job stands. A finished job is removed, so it has no status.
    pub enum JobStatus as "job status" {
        Queued = "queued",
        Running = "running",
        /// Out of attempts; kept for inspection.
        Dead = "dead",
    }
}

/// A job to put on the queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: &'static str,
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
    #[sqlx(try_from = "String")]
    pub status: JobStatus,
    pub run_at: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub locked_by: Option<String>,
    pub locked_until: Option<i64>,
    pub last_error: Option<String>,
}

/// Counts of jobs by status, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub queued: i64,
    pub running: i64,
    pub dead: i64,
}

// The statements below write job statuses as literals, not bound values: the partial indexes
// `jobs_ready` (queued) and `jobs_leases` (running) match only statements that name the
// status as text. They are `JobStatus`'s texts.

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

/// `sql` on those of `jobs` the first one's worker holds: its name bound to `$1`, their ids in
/// the place of `{ids}`; `None` for no jobs.
fn on_held_jobs<'q>(
    sql: &str,
    jobs: &'q [ClaimedJob],
) -> Option<sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>> {
    let first = jobs.first()?;
    let mine: Vec<i64> = jobs
        .iter()
        .filter(|j| j.locked_by == first.locked_by)
        .map(|j| j.id)
        .collect();
    let placeholders = (0..mine.len())
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.replace("{ids}", &placeholders)))
        .bind(&first.locked_by);
    for id in mine {
        query = query.bind(id);
    }
    Some(query)
}

/// Puts a job on the queue inside the caller's transaction, so that the job exists exactly
/// when the write that causes it does.
pub(crate) async fn enqueue_in(
    tx: &mut crate::WriteTx,
    job: &NewJob,
    now: i64,
) -> Result<i64, StoreError> {
    let id: i64 = job_values(sqlx::query(ENQUEUE), job, now)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
    Ok(id)
}

/// The statement that puts a job on the queue, with [`job_values`]; it returns the job's id.
pub(crate) const ENQUEUE: &str = "INSERT INTO jobs (kind, payload, status, run_at, attempts, \
     max_attempts, created_at, subject) VALUES ($1, $2, 'queued', $3, 0, $4, $5, $6) RETURNING id";

/// The values of [`ENQUEUE`].
pub(crate) fn job_values<B: Binds>(values: B, job: &NewJob, now: i64) -> B {
    values
        .with(job.kind)
        .with(job.payload.as_str())
        .with(job.run_at)
        .with(job.max_attempts)
        .with(now)
        .with(job.subject.as_deref())
}

/// Removes the queued jobs of a subject (a request that ended needs none).
pub(crate) async fn cancel_queued_jobs(
    tx: &mut crate::WriteTx,
    subject: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM jobs WHERE subject = $1 AND status = 'queued'")
        .bind(subject)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Moves the queued jobs of a subject to run at `run_at`; how many there were.
pub(crate) async fn move_queued_jobs(
    tx: &mut crate::WriteTx,
    subject: &str,
    run_at: i64,
) -> Result<u64, StoreError> {
    let moved = sqlx::query("UPDATE jobs SET run_at = $1 WHERE subject = $2 AND status = 'queued'")
        .bind(run_at)
        .bind(subject)
        .execute(&mut **tx)
        .await?;
    Ok(moved.rows_affected())
}

/// The transaction that ends a job's last attempt: the job is marked dead in it, and what
/// its kind leaves behind is written in it too. Dropped without `commit`, neither happened
/// and the job's lease lapses, to be rescued and buried again.
#[derive(Debug)]
pub struct Burial {
    pub(crate) tx: crate::WriteTx,
    pub(crate) store: Store,
}

impl Burial {
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
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
                    .bind(job.kind)
                    .bind(&job.payload)
                    .bind(job.run_at)
                    .bind(job.max_attempts)
                    .bind(now)
                    .bind(&job.subject)
                    .bind(JobStatus::Queued.as_str())
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
        let Some(delete) = on_held_jobs(
            "DELETE FROM jobs WHERE id IN ({ids}) AND locked_by = $1 AND status = 'running'",
            jobs,
        ) else {
            return Ok(0);
        };
        Ok(delete.execute(&self.pool).await?.rows_affected())
    }

    /// Puts back on the queue, in their places, jobs a worker claimed but did not start (it
    /// is stopping, or held them past most of their lease), and gives back the attempt their
    /// claim counted. Fenced by the worker's name like [`Store::complete_jobs`]: a job another
    /// worker took up meanwhile is left to it. How many went back.
    pub async fn release_jobs(&self, jobs: &[ClaimedJob]) -> Result<u64, StoreError> {
        let Some(release) = on_held_jobs(
            "UPDATE jobs SET status = 'queued', locked_by = NULL, locked_until = NULL, \
             attempts = attempts - 1 \
             WHERE id IN ({ids}) AND locked_by = $1 AND status = 'running'",
            jobs,
        ) else {
            return Ok(0);
        };
        Ok(release.execute(&self.pool).await?.rows_affected())
    }

    /// Puts a job whose attempt failed back on the queue, to run at `retry_at`; false when the
    /// lease was no longer ours (another worker holds the job).
    pub async fn retry_job(
        &self,
        job: &ClaimedJob,
        error: &str,
        retry_at: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'queued', run_at = $1, last_error = $2, locked_by = NULL, \
             locked_until = NULL \
             WHERE id = $3 AND locked_by = $4 AND attempts = $5 AND status = 'running'",
        )
        .bind(retry_at)
        .bind(error)
        .bind(job.id)
        .bind(&job.locked_by)
        .bind(job.attempts)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks a job dead after its last attempt, in a transaction the caller ends (see
    /// `Burial`); fenced by its claim, so `None` when another worker holds or buried it.
    pub async fn bury_job(
        &self,
        job: &ClaimedJob,
        error: &str,
    ) -> Result<Option<Burial>, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE jobs SET status = 'dead', last_error = $1, locked_by = NULL, locked_until = NULL \
             WHERE id = $2 AND locked_by = $3 AND attempts = $4 AND status = 'running'",
        )
        .bind(error)
        .bind(job.id)
        .bind(&job.locked_by)
        .bind(job.attempts)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        Ok(Some(Burial {
            tx,
            store: self.clone(),
        }))
    }

    /// Puts every job whose lease expired back on the queue, but for those that were on their
    /// last attempt: those are returned, still held by the worker that stopped, to be buried
    /// with what their kinds leave behind.
    /// `reason` is kept as the last error of each.
    pub async fn rescue_expired_jobs(
        &self,
        now: i64,
        reason: &str,
    ) -> Result<(u64, Vec<ClaimedJob>), StoreError> {
        let requeued = sqlx::query(
            "UPDATE jobs SET status = 'queued', run_at = $1, locked_by = NULL, locked_until = NULL, \
             last_error = $2 \
             WHERE status = 'running' AND locked_until < $1 AND attempts < max_attempts",
        )
        .bind(now)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        let last: Vec<ClaimedJob> = sqlx::query_as(
            "SELECT id, kind, payload, attempts, max_attempts, locked_by, run_at FROM jobs \
             WHERE status = 'running' AND locked_until < $1 AND attempts >= max_attempts \
             ORDER BY id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok((requeued.rows_affected(), last))
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
            match status.parse().map_err(anyhow::Error::from)? {
                JobStatus::Queued => depth.queued = n,
                JobStatus::Running => depth.running = n,
                JobStatus::Dead => depth.dead = n,
            }
        }
        Ok(depth)
    }
}
