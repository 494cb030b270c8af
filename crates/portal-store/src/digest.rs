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

/// What went wrong in a day: how many of each, and the first of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestFigures {
    pub failed_total: i64,
    pub failed_requests: Vec<DigestItem>,
    pub given_up_total: i64,
    pub mail_given_up: Vec<DigestItem>,
}

impl DigestFigures {
    /// Whether the day was quiet: nothing to tell.
    pub fn is_quiet(&self) -> bool {
        self.failed_total == 0 && self.given_up_total == 0
    }
}

/// The most items of each kind a digest lists.
pub const LISTED: i64 = 100;

/// The settings key that holds the end of the last day a digest was sent for.
const SENT_UNTIL: &str = "daily_digest_until";

impl Store {
    /// The requests that failed, and the messages given up, within `[from, until)`.
    pub async fn digest_figures(&self, from: i64, until: i64) -> Result<DigestFigures, StoreError> {
        const FAILED: &str = "FROM subscription_requests \
             WHERE status = $3 AND finished_at >= $1 AND finished_at < $2";
        const GIVEN_UP: &str =
            "FROM outbox WHERE status = $3 AND failed_at >= $1 AND failed_at < $2";
        let failed = portal_domain::RequestStatus::Failed.as_str();
        let given_up = portal_domain::MailStatus::Failed.as_str();
        let count = |sql: String, status: &'static str| {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .bind(from)
                .bind(until)
                .bind(status)
                .fetch_one(&self.pool)
        };
        let list = |sql: String, status: &'static str| {
            sqlx::query_as::<_, DigestItem>(sqlx::AssertSqlSafe(sql))
                .bind(from)
                .bind(until)
                .bind(status)
                .bind(LISTED)
                .fetch_all(&self.pool)
        };
        Ok(DigestFigures {
            failed_total: count(format!("SELECT COUNT(*) {FAILED}"), failed).await?,
            failed_requests: list(
                format!(
                    "SELECT id, tenant_name AS title, error AS detail {FAILED} \
                     ORDER BY finished_at, id LIMIT $4"
                ),
                failed,
            )
            .await?,
            given_up_total: count(format!("SELECT COUNT(*) {GIVEN_UP}"), given_up).await?,
            mail_given_up: list(
                format!(
                    "SELECT id, recipient AS title, subject AS detail {GIVEN_UP} \
                     ORDER BY failed_at, id LIMIT $4"
                ),
                given_up,
            )
            .await?,
        })
    }

    /// The end of the last day a digest was sent for, if any.
    pub async fn digest_sent_until(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .get_setting(SENT_UNTIL)
            .await?
            .and_then(|value| value.parse().ok()))
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

    /// Claims the day ending at `until`, puts its messages (none on a quiet day) in the outbox
    /// and queues `next` (the following digest), in one transaction. False when that day, or
    /// a later one, was claimed before: then nothing is done, and whoever claimed it queued
    /// the next.
    pub async fn send_digest(
        &self,
        until: i64,
        mails: &[NewMail],
        next: &crate::job::NewJob,
    ) -> Result<bool, StoreError> {
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
        crate::job::enqueue_in(&mut tx, next, now).await?;
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
