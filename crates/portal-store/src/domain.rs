//! Domain ownership checks of self-service requests: the token to publish, the last check and
//! what it found. A request leaves `pending_domain` by `move_request`, which marks its check
//! verified in the same transaction.

use crate::job::{NewJob, enqueue_in};
use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DomainCheckRow {
    pub request_id: String,
    /// Published as `portal-verify=<token>`.
    pub token: String,
    pub created_at: i64,
    pub checked_at: Option<i64>,
    /// What the last check found, in words.
    pub note: Option<String>,
    pub verified_at: Option<i64>,
    /// Who vouched for it by hand; `None` when the record was seen.
    pub verified_by: Option<String>,
}

impl Store {
    pub async fn domain_check(
        &self,
        request_id: &str,
    ) -> Result<Option<DomainCheckRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT request_id, token, created_at, checked_at, note, verified_at, verified_by \
             FROM domain_checks WHERE request_id = $1",
        )
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records what a check found and, when given, queues the next check, in one transaction.
    pub async fn note_domain_check(
        &self,
        request_id: &str,
        note: &str,
        next: Option<&NewJob>,
    ) -> Result<(), StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE domain_checks SET checked_at = $1, note = $2 WHERE request_id = $3")
            .bind(now)
            .bind(note)
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        // One chain of checks per request: a check run twice (its lease lapsed) queues no
        // second successor.
        let queued: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE kind = 'check_domain' AND status = 'queued' AND payload = $1",
        )
        .bind(next.map(|job| job.payload.as_str()).unwrap_or_default())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(job) = next
            && queued.is_none()
        {
            enqueue_in(&mut tx, job, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Makes a request's check, with its token, in the transaction that confirms its address.
pub(crate) async fn insert_check(
    tx: &mut crate::WriteTx,
    request_id: &str,
    token: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO domain_checks (request_id, token, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(request_id)
    .bind(token)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a request's domain verified, by `actor_id` or (`None`) by its record being seen.
pub(crate) async fn mark_verified(
    tx: &mut crate::WriteTx,
    request_id: &str,
    actor_id: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE domain_checks SET verified_at = $1, verified_by = $2 WHERE request_id = $3",
    )
    .bind(now)
    .bind(actor_id)
    .bind(request_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
