//! Bulk onboarding: an import (a checked CSV file) and its rows; submitting a row stores its
//! request and marks the row in one transaction, so a row becomes a request once at most.

use std::collections::HashSet;

use portal_domain::NameKind;
use portal_domain::import::ImportStatus;
use sqlx::Row;

use crate::audit::AuditEntry;
use crate::intake::NewRequest;
use crate::job::{NewJob, enqueue_in};
use crate::{Store, StoreError};

/// An import as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportRow {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub status: ImportStatus,
    pub file_name: String,
    pub rows_total: i64,
    pub rows_valid: i64,
    /// JSON array of the header's columns that were ignored.
    pub ignored_columns: String,
    pub created_by: String,
    pub created_at: i64,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<i64>,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, status, file_name, rows_total, rows_valid, ignored_columns, \
     created_by, created_at, submitted_by, submitted_at, finished_at";

/// An import to store, checked.
#[derive(Debug, Clone)]
pub struct NewImport<'a> {
    pub id: &'a str,
    pub file_name: &'a str,
    pub ignored_columns: &'a str,
    pub created_by: &'a str,
}

/// One row of a file as stored: its cells as a JSON object by column, and its problems as a
/// JSON array (`None` when it is valid).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LineRow {
    pub line: i64,
    pub cells: String,
    pub problems: Option<String>,
    pub request_id: Option<String>,
    pub refusal: Option<String>,
}

/// A submitted row with what its request is now, for the results file.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ResultRow {
    pub line: i64,
    pub request_id: Option<String>,
    pub refusal: Option<String>,
    pub problems: Option<String>,
    pub status: Option<String>,
    pub admin_personnel_id: Option<String>,
    pub upn_suffix: Option<String>,
}

/// How far an import's rows are: each request status with its count, and rows refused at
/// submission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub by_status: Vec<(String, i64)>,
    pub refused: i64,
}

/// A row to submit: its request and that request's job.
#[derive(Debug)]
pub struct RowSubmission {
    pub line: i64,
    pub request: NewRequest,
    pub job: NewJob,
}

/// Rows per `INSERT`: four values each, well under both databases' limits on bound values.
const INSERT_CHUNK: usize = 1_000;

impl Store {
    /// Stores a checked file: the import and every row, with the audit entry, in one
    /// transaction. `rows` are (line, cells, problems).
    pub async fn create_import(
        &self,
        import: &NewImport<'_>,
        rows: &[(i64, String, Option<String>)],
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let now = crate::now_ms();
        let valid = rows.iter().filter(|(_, _, p)| p.is_none()).count();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO bulk_imports (id, status, file_name, rows_total, rows_valid, \
             ignored_columns, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(import.id)
        .bind(ImportStatus::Previewed.as_str())
        .bind(import.file_name)
        .bind(i64::try_from(rows.len()).unwrap_or(i64::MAX))
        .bind(i64::try_from(valid).unwrap_or(i64::MAX))
        .bind(import.ignored_columns)
        .bind(import.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for chunk in rows.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO bulk_import_rows (import_id, line, cells, problems) VALUES {}",
                crate::placeholder_rows(chunk.len(), 4)
            );
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (line, cells, problems) in chunk {
                insert = insert
                    .bind(import.id)
                    .bind(*line)
                    .bind(cells.as_str())
                    .bind(problems.as_deref());
            }
            insert.execute(&mut *tx).await?;
        }
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_import(&self, id: &str) -> Result<ImportRow, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM bulk_imports WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// The latest imports, newest first.
    pub async fn list_imports(&self, limit: i64) -> Result<Vec<ImportRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM bulk_imports ORDER BY created_at DESC, id DESC LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Rows of an import after `after_line`, in order: every row, or only the invalid ones.
    pub async fn import_lines(
        &self,
        id: &str,
        invalid_only: bool,
        after_line: i64,
        limit: i64,
    ) -> Result<Vec<LineRow>, StoreError> {
        let filter = if invalid_only {
            " AND problems IS NOT NULL"
        } else {
            ""
        };
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT line, cells, problems, request_id, refusal FROM bulk_import_rows \
             WHERE import_id = $1 AND line > $2{filter} ORDER BY line LIMIT $3"
        )))
        .bind(id)
        .bind(after_line)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Valid rows not yet submitted nor refused, in order.
    pub async fn rows_to_submit(&self, id: &str, limit: i64) -> Result<Vec<LineRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT line, cells, problems, request_id, refusal FROM bulk_import_rows \
             WHERE import_id = $1 AND problems IS NULL AND request_id IS NULL \
             AND refusal IS NULL ORDER BY line LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Starts submitting a previewed import: its status and the job that submits its rows, with
    /// the audit entry, in one transaction. False when it was not `previewed` (already
    /// submitting or submitted): nothing is done then.
    pub async fn start_import(
        &self,
        id: &str,
        actor_id: &str,
        job: &NewJob,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let started = sqlx::query(
            "UPDATE bulk_imports SET status = $1, submitted_by = $2, submitted_at = $3 \
             WHERE id = $4 AND status = $5",
        )
        .bind(ImportStatus::Submitting.as_str())
        .bind(actor_id)
        .bind(now)
        .bind(id)
        .bind(ImportStatus::Previewed.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if started {
            enqueue_in(&mut tx, job, now).await?;
            crate::audit::insert(&mut *tx, audit, now).await?;
        }
        tx.commit().await?;
        Ok(started)
    }

    /// Stores the requests of `rows` in one transaction, each marking its row; a row that
    /// has its request already is skipped. Any refusal (a name taken, a window full) undoes
    /// the whole batch: the caller then submits its rows one by one.
    pub async fn submit_import_rows(
        &self,
        import_id: &str,
        rows: &[RowSubmission],
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut stored = 0;
        for row in rows {
            let marked = sqlx::query(
                "UPDATE bulk_import_rows SET request_id = $1 WHERE import_id = $2 AND line = $3 \
                 AND request_id IS NULL AND refusal IS NULL",
            )
            .bind(&row.request.id)
            .bind(import_id)
            .bind(row.line)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if marked == 1 {
                self.insert_submission(&mut tx, &row.request, &row.job, None)
                    .await?;
                stored += 1;
            }
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Marks a valid row as not submitted, saying why.
    pub async fn refuse_import_row(
        &self,
        import_id: &str,
        line: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE bulk_import_rows SET refusal = $1 WHERE import_id = $2 AND line = $3 \
             AND request_id IS NULL",
        )
        .bind(reason)
        .bind(import_id)
        .bind(line)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends an import's submission once none of its valid rows is left.
    pub async fn finish_import(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE bulk_imports SET status = $1, finished_at = $2 WHERE id = $3 AND status = $4 \
             AND NOT EXISTS (SELECT 1 FROM bulk_import_rows WHERE import_id = $3 \
             AND problems IS NULL AND request_id IS NULL AND refusal IS NULL)",
        )
        .bind(ImportStatus::Submitted.as_str())
        .bind(crate::now_ms())
        .bind(id)
        .bind(ImportStatus::Submitting.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The statuses of an import's requests, counted, and its refused rows.
    pub async fn import_progress(&self, id: &str) -> Result<Progress, StoreError> {
        let rows = sqlx::query(
            "SELECT r.status AS status, COUNT(*) AS n FROM bulk_import_rows b \
             JOIN subscription_requests r ON r.id = b.request_id \
             WHERE b.import_id = $1 GROUP BY r.status",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let by_status = rows
            .iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let refused = sqlx::query_scalar(
            "SELECT COUNT(*) FROM bulk_import_rows WHERE import_id = $1 AND refusal IS NOT NULL",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(Progress { by_status, refused })
    }

    /// The ids of the requests an import made, in the order of its rows.
    pub async fn import_request_ids(&self, id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT request_id FROM bulk_import_rows WHERE import_id = $1 \
             AND request_id IS NOT NULL ORDER BY line",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Rows after `after_line` with their request's status and login parts, for the results.
    pub async fn import_results(
        &self,
        id: &str,
        after_line: i64,
        limit: i64,
    ) -> Result<Vec<ResultRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT b.line AS line, b.request_id AS request_id, b.refusal AS refusal, \
             b.problems AS problems, r.status AS status, \
             r.admin_personnel_id AS admin_personnel_id, r.upn_suffix AS upn_suffix \
             FROM bulk_import_rows b LEFT JOIN subscription_requests r ON r.id = b.request_id \
             WHERE b.import_id = $1 AND b.line > $2 ORDER BY b.line LIMIT $3",
        )
        .bind(id)
        .bind(after_line)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Of `keys` (names of `kind`, as keyed), those held now by a tenant or a request.
    pub async fn names_held(
        &self,
        kind: NameKind,
        keys: &[String],
        now: i64,
    ) -> Result<HashSet<String>, StoreError> {
        let mut held = HashSet::new();
        for chunk in keys.chunks(500) {
            let list = (0..chunk.len())
                .map(|i| format!("${}", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT name_key FROM reserved_names WHERE kind = $1 \
                 AND (held_until IS NULL OR held_until >= $2) AND name_key IN ({list})"
            );
            let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(kind.as_str())
                .bind(now);
            for key in chunk {
                query = query.bind(key.as_str());
            }
            let found: Vec<String> = query.fetch_all(&self.pool).await?;
            held.extend(found);
        }
        Ok(held)
    }
}

impl crate::job::Burial {
    /// An import's submission given up: every valid row still without a request is refused
    /// with `reason`, and the import ends, in the job's burial.
    pub async fn give_up_import(&mut self, id: &str, reason: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE bulk_import_rows SET refusal = $1 WHERE import_id = $2 \
             AND problems IS NULL AND request_id IS NULL AND refusal IS NULL",
        )
        .bind(reason)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        sqlx::query(
            "UPDATE bulk_imports SET status = $1, finished_at = $2 WHERE id = $3 AND status = $4",
        )
        .bind(ImportStatus::Submitted.as_str())
        .bind(crate::now_ms())
        .bind(id)
        .bind(ImportStatus::Submitting.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
