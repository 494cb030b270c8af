//! The mail outbox: messages are written in the transaction that decides them and sent later
//! by a job, which records every attempt.

use portal_domain::{MailStatus, NotificationStatus};

use crate::job::{Burial, NewJob, enqueue_in};
use crate::{Store, StoreError};

/// A rendered message to put in the outbox.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub id: String,
    pub request_id: Option<String>,
    pub kind: String,
    pub sender: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    /// The job that sends it, enqueued with it.
    pub job: NewJob,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MailRow {
    pub id: String,
    pub request_id: Option<String>,
    pub kind: String,
    pub sender: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    #[sqlx(try_from = "String")]
    pub status: MailStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// Only the request's latest message speaks for its notification: an older one (from an
/// attempt before a retry) finishing late changes nothing. `$2` is the message's id.
const LATEST: &str = "$2 = (SELECT o.id FROM outbox o WHERE o.request_id = subscription_requests.id \
     ORDER BY o.created_at DESC, o.id DESC LIMIT 1)";

const MAIL_COLUMNS: &str = "id, request_id, kind, sender, recipient, subject, body_text, body_html, status, \
     attempts, last_error, created_at, sent_at";

/// Puts a message in the outbox and enqueues its sending, inside the caller's transaction;
/// the request's notification becomes `pending`.
pub(crate) async fn put_in_outbox(
    tx: &mut crate::WriteTx,
    mail: &NewMail,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (id, request_id, kind, sender, recipient, subject, body_text, body_html, status, \
         attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, 0, $9)",
    )
    .bind(&mail.id)
    .bind(&mail.request_id)
    .bind(&mail.kind)
    .bind(&mail.sender)
    .bind(&mail.recipient)
    .bind(&mail.subject)
    .bind(&mail.body_text)
    .bind(&mail.body_html)
    .bind(now)
    .bind(MailStatus::Pending.as_str())
    .execute(&mut **tx)
    .await?;
    if let Some(request_id) = &mail.request_id {
        sqlx::query(
            "UPDATE subscription_requests SET notification_status = $1, notification_sent_at = NULL \
             WHERE id = $2",
        )
        .bind(NotificationStatus::Pending.as_str())
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
    }
    enqueue_in(tx, &mail.job, now).await?;
    Ok(())
}

impl Store {
    /// Puts a message of its own (not a request's outcome) in the outbox with its job.
    pub async fn queue_mail(&self, mail: &NewMail) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        put_in_outbox(&mut tx, mail, crate::now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts a message in the outbox with the audit entry that says who asked for it.
    pub async fn queue_mail_with_audit(
        &self,
        mail: &NewMail,
        audit: &crate::audit::AuditEntry,
    ) -> Result<(), StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        put_in_outbox(&mut tx, mail, now).await?;
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_mail(&self, id: &str) -> Result<MailRow, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {MAIL_COLUMNS} FROM outbox WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// Outbox messages, newest first.
    pub async fn list_mail(&self, limit: i64) -> Result<Vec<MailRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {MAIL_COLUMNS} FROM outbox ORDER BY created_at DESC, id DESC LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The messages about one request, oldest first.
    pub async fn mail_for_request(&self, request_id: &str) -> Result<Vec<MailRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {MAIL_COLUMNS} FROM outbox WHERE request_id = $1 ORDER BY created_at, id"
        )))
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records a sent message, and its request's notification, in one transaction; its
    /// stored bodies are passed through `erase`, which takes the secrets out of its links.
    pub async fn mark_mail_sent(
        &self,
        id: &str,
        now: i64,
        erase: Eraser,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let sent = sqlx::query(
            "UPDATE outbox SET status = $3, sent_at = $1, attempts = attempts + 1, last_error = NULL \
             WHERE id = $2 AND status <> $3",
        )
        .bind(now)
        .bind(id)
        .bind(MailStatus::Sent.as_str())
        .execute(&mut *tx)
        .await?;
        if sent.rows_affected() == 1 {
            erase_links(&mut tx, id, erase).await?;
        }
        record_attempt(&mut tx, id, MailStatus::Sent, None, now).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE subscription_requests SET notification_status = $3, notification_sent_at = $1 \
             WHERE id = (SELECT request_id FROM outbox WHERE id = $2) AND {LATEST}"
        )))
        .bind(now)
        .bind(id)
        .bind(NotificationStatus::Sent.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt to send.
    pub async fn mark_mail_attempt_failed(
        &self,
        id: &str,
        error: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2 AND status <> $3",
        )
        .bind(error)
        .bind(id)
        .bind(MailStatus::Sent.as_str())
        .execute(&mut *tx)
        .await?;
        record_attempt(&mut tx, id, MailStatus::Failed, Some(error), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many attempts were made to send a message, by outcome order.
    pub async fn mail_attempts(
        &self,
        id: &str,
    ) -> Result<Vec<(MailStatus, Option<String>)>, StoreError> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT outcome, error FROM mail_attempts WHERE outbox_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(outcome, error)| Ok((outcome.parse().map_err(anyhow::Error::from)?, error)))
            .collect()
    }
}

/// Takes the secrets out of a message's links (the service knows which they are).
pub type Eraser = fn(&str) -> String;

/// Passes a message's stored bodies through `erase`, and marks it erased.
async fn erase_links(tx: &mut crate::WriteTx, id: &str, erase: Eraser) -> Result<(), StoreError> {
    let bodies: Option<(String, String)> =
        sqlx::query_as("SELECT body_text, body_html FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    if let Some((text, html)) = bodies {
        sqlx::query(
            "UPDATE outbox SET body_text = $1, body_html = $2, links_erased = 1 WHERE id = $3",
        )
        .bind(erase(&text))
        .bind(erase(&html))
        .bind(id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Erases the links of every message sent or given up whose links are still in its
    /// bodies (those from before links were erased at sending), a batch at a time; how many.
    pub async fn erase_finished_mail_links(&self, erase: Eraser) -> Result<u64, StoreError> {
        let mut erased = 0;
        loop {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM outbox WHERE links_erased = 0 AND status <> $1 LIMIT 200",
            )
            .bind(MailStatus::Pending.as_str())
            .fetch_all(&self.pool)
            .await?;
            if ids.is_empty() {
                return Ok(erased);
            }
            let mut tx = self.begin_write().await?;
            for id in &ids {
                erase_links(&mut tx, id, erase).await?;
            }
            tx.commit().await?;
            erased += ids.len() as u64;
        }
    }
}

impl Burial {
    /// Gives up on a message that ran out of attempts: it and its request's notification
    /// become `failed` (unless it was sent after all), and its links are erased.
    pub async fn give_up_mail(&mut self, id: &str, erase: Eraser) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET status = $1, failed_at = $4 WHERE id = $2 AND status = $3",
        )
        .bind(MailStatus::Failed.as_str())
        .bind(id)
        .bind(MailStatus::Pending.as_str())
        .bind(crate::now_ms())
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() == 1 {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE subscription_requests SET notification_status = $1 \
                 WHERE id = (SELECT request_id FROM outbox WHERE id = $2) AND {LATEST}"
            )))
            .bind(NotificationStatus::Failed.as_str())
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
            erase_links(&mut self.tx, id, erase).await?;
        }
        Ok(())
    }
}

async fn record_attempt(
    tx: &mut crate::WriteTx,
    id: &str,
    outcome: MailStatus,
    error: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mail_attempts (id, outbox_id, at, outcome, error) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(crate::new_id())
    .bind(id)
    .bind(now)
    .bind(outcome.as_str())
    .bind(error)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
