//! The daily digest to landlord administrators: what went wrong in a day (requests that
//! failed, emails the portal gave up sending), and the claim that sends it once per day.

use crate::mail::{NewMail, put_in_outbox};
use crate::{Store, StoreError};

/// One thing the digest names: a request or a message, with what people read of it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DigestItem {
    pub id: String,
    /// The tenant's name, or the message's recipient.
    pub title: String,
    /// The request's error, or the message's subject.
    pub detail: Option<String>,
}

/// What went wrong in a day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestFigures {
    pub failed_requests: Vec<DigestItem>,
    pub mail_given_up: Vec<DigestItem>,
}

impl DigestFigures {
    /// Whether the day was quiet: nothing to tell.
    pub fn is_quiet(&self) -> bool {
        self.failed_requests.is_empty() && self.mail_given_up.is_empty()
    }
}

/// The most items of each kind a digest lists.
const LISTED: i64 = 100;

/// The settings key that holds the end of the last day a digest was sent for.
const SENT_UNTIL: &str = "daily_digest_until";

impl Store {
    /// The requests that failed, and the messages given up, within `[from, until)`.
    pub async fn digest_figures(&self, from: i64, until: i64) -> Result<DigestFigures, StoreError> {
        let failed_requests = sqlx::query_as(
            "SELECT id, tenant_name AS title, error AS detail FROM subscription_requests \
             WHERE status = $4 AND finished_at >= $1 AND finished_at < $2 \
             ORDER BY finished_at, id LIMIT $3",
        )
        .bind(from)
        .bind(until)
        .bind(LISTED)
        .bind(portal_domain::RequestStatus::Failed.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mail_given_up = sqlx::query_as(
            "SELECT o.id, o.recipient AS title, o.subject AS detail FROM outbox o \
             WHERE o.status = $4 AND (SELECT MAX(a.at) FROM mail_attempts a \
             WHERE a.outbox_id = o.id) >= $1 AND (SELECT MAX(a.at) FROM mail_attempts a \
             WHERE a.outbox_id = o.id) < $2 ORDER BY o.created_at, o.id LIMIT $3",
        )
        .bind(from)
        .bind(until)
        .bind(LISTED)
        .bind(portal_domain::MailStatus::Failed.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(DigestFigures {
            failed_requests,
            mail_given_up,
        })
    }

    /// The addresses of the active landlord administrators who have one.
    pub async fn landlord_admin_addresses(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT email FROM users WHERE role = $1 AND status = $2 AND email IS NOT NULL \
             ORDER BY email",
        )
        .bind(portal_domain::Role::LandlordAdmin.as_str())
        .bind(portal_domain::AccountStatus::Active.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Claims the day ending at `until` and puts its messages (none on a quiet day) in the
    /// outbox, in one transaction. False when that day, or a later one, was claimed before:
    /// then nothing is sent.
    pub async fn send_digest(&self, until: i64, mails: &[NewMail]) -> Result<bool, StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, NULL) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at \
             WHERE CAST(settings.value AS BIGINT) < CAST(excluded.value AS BIGINT)",
        )
        .bind(SENT_UNTIL)
        .bind(until.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
        for mail in mails {
            put_in_outbox(&mut tx, mail, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Queues `job` unless a job of its kind is queued or running already. True when queued.
    pub async fn enqueue_unless_pending(
        &self,
        job: &crate::job::NewJob,
    ) -> Result<bool, StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = $1 AND status IN ($2, $3)")
                .bind(job.kind)
                .bind(crate::job::JobStatus::Queued.as_str())
                .bind(crate::job::JobStatus::Running.as_str())
                .fetch_one(&mut *tx)
                .await?;
        if pending > 0 {
            return Ok(false);
        }
        crate::job::enqueue_in(&mut tx, job, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl crate::job::Burial {
    /// Queues `job` in the transaction that buries another (the next of a repeating kind).
    pub async fn enqueue_next(&mut self, job: &crate::job::NewJob) -> Result<(), StoreError> {
        crate::job::enqueue_in(&mut self.tx, job, crate::now_ms()).await?;
        Ok(())
    }
}
