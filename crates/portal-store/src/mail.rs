//! The mail outbox: messages are written in the transaction that decides them and sent later
//! by a job, which records every attempt.

use sqlx::{Any, Transaction};

use crate::job::{NewJob, enqueue_in};
use crate::{Store, StoreError};

/// The job kind that sends one outbox message.
pub const SEND_MAIL_JOB: &str = "send_mail";

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
    pub max_attempts: i64,
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
    pub status: String,
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
    tx: &mut Transaction<'static, Any>,
    mail: &NewMail,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (id, request_id, kind, sender, recipient, subject, body_text, body_html, status, \
         attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9)",
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
    .execute(&mut **tx)
    .await?;
    if let Some(request_id) = &mail.request_id {
        sqlx::query(
            "UPDATE subscription_requests SET notification_status = 'pending', notification_sent_at = NULL \
             WHERE id = $1",
        )
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
    }
    let job = NewJob {
        kind: SEND_MAIL_JOB.to_owned(),
        subject: Some(mail.id.clone()),
        payload: mail.id.clone(),
        run_at: now,
        max_attempts: mail.max_attempts,
    };
    enqueue_in(tx, &job, now).await?;
    Ok(())
}

impl Store {
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

    /// Records a sent message, and its request's notification, in one transaction.
    pub async fn mark_mail_sent(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, last_error = NULL \
             WHERE id = $2 AND status <> 'sent'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        record_attempt(&mut tx, id, "sent", None, now).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE subscription_requests SET notification_status = 'sent', notification_sent_at = $1 \
             WHERE id = (SELECT request_id FROM outbox WHERE id = $2) AND {LATEST}"
        )))
        .bind(now)
        .bind(id)
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
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2 AND status <> 'sent'")
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        record_attempt(&mut tx, id, "failed", Some(error), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives up on a message that ran out of attempts: it and its request's notification
    /// become `failed` (unless it was sent after all).
    pub async fn give_up_mail(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE outbox SET status = 'failed' WHERE id = $1 AND status = 'pending'")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 1 {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE subscription_requests SET notification_status = 'failed' \
                 WHERE id = (SELECT request_id FROM outbox WHERE id = $1) AND {LATEST}"
            )))
            .bind(id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// How many attempts were made to send a message, by outcome order.
    pub async fn mail_attempts(
        &self,
        id: &str,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT outcome, error FROM mail_attempts WHERE outbox_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }
}

async fn record_attempt(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    outcome: &str,
    error: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mail_attempts (id, outbox_id, at, outcome, error) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(crate::new_id())
    .bind(id)
    .bind(now)
    .bind(outcome)
    .bind(error)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
