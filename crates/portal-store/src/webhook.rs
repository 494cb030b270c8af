//! Webhook endpoints: where the provider's other systems receive the portal's events, each with
//! the secret that signs its deliveries.

use portal_domain::EndpointStatus;

use crate::audit::AuditEntry;
use crate::{Store, StoreError};

#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    /// JSON array of event types, or `["*"]`.
    pub events: String,
    pub description: String,
    #[sqlx(try_from = "String")]
    pub status: EndpointStatus,
    /// `whsec_…`: signs every delivery.
    pub secret: String,
    /// The secret before the last rotation, signing too until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<i64>,
    pub disabled_reason: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for EndpointRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointRow")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, url, events, description, status, secret, previous_secret, \
     previous_until, disabled_reason, created_by, created_at, updated_at";

/// An endpoint to add.
#[derive(Clone)]
pub struct NewEndpoint<'a> {
    pub id: &'a str,
    pub url: &'a str,
    pub events: &'a str,
    pub description: &'a str,
    pub secret: &'a str,
    pub created_by: Option<&'a str>,
}

/// What a change of an endpoint sets; `None` keeps a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub events: Option<String>,
    pub description: Option<String>,
    pub status: Option<EndpointStatus>,
}

impl Store {
    pub async fn create_endpoint(
        &self,
        new: &NewEndpoint<'_>,
        audit: &AuditEntry,
    ) -> Result<EndpointRow, StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, url, events, description, status, secret, \
             created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(new.id)
        .bind(new.url)
        .bind(new.events)
        .bind(new.description)
        .bind(EndpointStatus::Enabled.as_str())
        .bind(new.secret)
        .bind(new.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        self.get_endpoint(new.id).await
    }

    /// Every endpoint, oldest first.
    pub async fn list_endpoints(&self) -> Result<Vec<EndpointRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn get_endpoint(&self, id: &str) -> Result<EndpointRow, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// Changes what `change` sets, with its audit entry. An endpoint enabled again, or given
    /// another URL, forgets why the portal disabled it, and its run of failures starts afresh.
    pub async fn update_endpoint(
        &self,
        id: &str,
        change: &EndpointChange,
        audit: &AuditEntry,
    ) -> Result<EndpointRow, StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET url = COALESCE($1, url), events = COALESCE($2, events), \
             description = COALESCE($3, description), status = COALESCE($4, status), \
             disabled_reason = CASE WHEN $4 = $5 THEN NULL ELSE disabled_reason END, \
             failing_since = CASE WHEN $4 = $5 OR $1 IS NOT NULL THEN NULL ELSE failing_since END, \
             updated_at = $6 WHERE id = $7",
        )
        .bind(change.url.as_deref())
        .bind(change.events.as_deref())
        .bind(change.description.as_deref())
        .bind(change.status.map(EndpointStatus::as_str))
        .bind(EndpointStatus::Enabled.as_str())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        self.get_endpoint(id).await
    }

    pub async fn delete_endpoint(&self, id: &str, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM webhook_attempts WHERE delivery_id IN \
             (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)",
            "DELETE FROM webhook_deliveries WHERE endpoint_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::insert(&mut *tx, audit, crate::now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives the endpoint `secret`; the one it had signs too until `overlap_until`.
    pub async fn rotate_endpoint_secret(
        &self,
        id: &str,
        secret: &str,
        overlap_until: i64,
        audit: &AuditEntry,
    ) -> Result<EndpointRow, StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_until = $1, \
             secret = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(overlap_until)
        .bind(secret)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        self.get_endpoint(id).await
    }
}

/// The job kind that delivers one webhook, and its payload (`{"delivery_id": …}`): written
/// here, where events are recorded, and read by the portal's job of that kind.
pub const DELIVER_KIND: &str = "deliver_webhook";

/// How many times the queue runs one attempt's job should its worker stop (the attempts at
/// the receiver are counted apart).
const DELIVER_JOB_ATTEMPTS: i64 = 5;

/// The job that makes the next attempt of `delivery_id` at `run_at`.
pub fn deliver_job(delivery_id: &str, run_at: i64) -> crate::job::NewJob {
    crate::job::NewJob {
        kind: DELIVER_KIND,
        subject: Some(delivery_id.to_owned()),
        payload: serde_json::json!({ "delivery_id": delivery_id }).to_string(),
        run_at,
        max_attempts: DELIVER_JOB_ATTEMPTS,
    }
}

/// Records an event in the transaction of the change it reports: one delivery, with its job,
/// for each enabled endpoint that wants it (nothing at all when none does).
pub(crate) async fn emit(
    tx: &mut crate::WriteTx,
    event: portal_domain::EventType,
    (subject_id, state): (&str, Option<&str>),
    now: i64,
) -> Result<(), StoreError> {
    let rows = enabled_values(sqlx::query(ENABLED))
        .fetch_all(&mut **tx)
        .await?;
    emit_to(tx, event, &rows, (subject_id, state), now).await
}

/// The statement that reads the enabled endpoints (id, events) for [`emit_to`], with
/// [`enabled_values`].
pub(crate) const ENABLED: &str = "SELECT id, events FROM webhook_endpoints WHERE status = $1";

/// The values of [`ENABLED`].
pub(crate) fn enabled_values<B: crate::batch::Binds>(values: B) -> B {
    values.with(EndpointStatus::Enabled.as_str())
}

/// [`emit`] with the enabled endpoints read already, in the same transaction.
pub(crate) async fn emit_to(
    tx: &mut crate::WriteTx,
    event: portal_domain::EventType,
    endpoints: &[sqlx::any::AnyRow],
    (subject_id, state): (&str, Option<&str>),
    now: i64,
) -> Result<(), StoreError> {
    use sqlx::Row;
    let endpoints = endpoints
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<Vec<(String, String)>, sqlx::Error>>()?;
    let wanting: Vec<String> = endpoints
        .into_iter()
        .filter(|(_, events)| {
            let names: Vec<String> = serde_json::from_str(events).unwrap_or_default();
            portal_domain::EventFilter::parse(&names).is_ok_and(|filter| filter.wants(event))
        })
        .map(|(id, _)| id)
        .collect();
    if wanting.is_empty() {
        return Ok(());
    }
    let event_id = format!("msg_{}", crate::new_id().replace('-', ""));
    sqlx::query(
        "INSERT INTO webhook_events (id, type, subject_id, state, occurred_at, data) \
         VALUES ($1, $2, $3, $4, $5, NULL)",
    )
    .bind(&event_id)
    .bind(event.as_str())
    .bind(subject_id)
    .bind(state)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    for endpoint_id in wanting {
        let delivery_id = crate::new_id();
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, attempts, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 0, $5, $5)",
        )
        .bind(&delivery_id)
        .bind(&endpoint_id)
        .bind(&event_id)
        .bind(portal_domain::DeliveryStatus::Pending.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        crate::job::enqueue_in(tx, &deliver_job(&delivery_id, now), now).await?;
    }
    Ok(())
}

/// A delivery with what sending it needs: its endpoint and its event.
#[derive(Clone, sqlx::FromRow)]
pub struct DeliveryToSend {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub status: portal_domain::DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub endpoint_id: String,
    pub url: String,
    #[sqlx(try_from = "String")]
    pub endpoint_status: EndpointStatus,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_until: Option<i64>,
    pub failing_since: Option<i64>,
    pub event_id: String,
    pub event_type: String,
    pub subject_id: String,
    /// The subject's status (or parameters' version) the event tells of.
    pub state: Option<String>,
    pub occurred_at: i64,
    pub data: Option<String>,
}

impl std::fmt::Debug for DeliveryToSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryToSend")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("event_id", &self.event_id)
            .finish_non_exhaustive()
    }
}

/// One attempt's outcome, as recorded.
#[derive(Debug, Clone)]
pub struct AttemptRecord<'a> {
    pub delivery_id: &'a str,
    pub endpoint_id: &'a str,
    pub at: i64,
    pub status_code: Option<i64>,
    pub error: Option<&'a str>,
    pub excerpt: Option<&'a str>,
    pub duration_ms: i64,
    /// How many attempts the delivery had before this one: another worker that recorded one
    /// meanwhile makes this one not count.
    pub attempts_before: i64,
    /// A 2xx answer.
    pub delivered: bool,
    /// When to try again (with its job); `None` when this was the last attempt.
    pub next_attempt_at: Option<i64>,
    /// Disables the endpoint (failing for days), with the emails that tell the landlord
    /// administrators.
    pub disable: Option<(&'a str, &'a [crate::mail::NewMail])>,
}

/// Disables an endpoint that failed for days, with the emails that say so.
async fn disable(
    tx: &mut crate::WriteTx,
    endpoint_id: &str,
    reason: &str,
    mails: &[crate::mail::NewMail],
    now: i64,
) -> Result<(), StoreError> {
    let disabled = sqlx::query(
        "UPDATE webhook_endpoints SET status = $1, disabled_reason = $2, updated_at = $3 \
         WHERE id = $4 AND status = $5",
    )
    .bind(EndpointStatus::Disabled.as_str())
    .bind(reason)
    .bind(now)
    .bind(endpoint_id)
    .bind(EndpointStatus::Enabled.as_str())
    .execute(&mut **tx)
    .await?;
    // Told once: by the attempt that disabled it.
    if disabled.rows_affected() == 1 {
        for mail in mails {
            crate::mail::put_in_outbox(tx, mail, now).await?;
        }
    }
    Ok(())
}

const DELIVERY_SELECT: &str = "SELECT d.id, d.event_id, v.type AS event_type, d.status, \
     d.attempts, d.last_status_code, d.next_attempt_at, d.created_at, d.delivered_at \
     FROM webhook_deliveries d JOIN webhook_events v ON v.id = d.event_id";

/// A delivery as its log shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    #[sqlx(try_from = "String")]
    pub status: portal_domain::DeliveryStatus,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// One attempt as the log shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub at: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub excerpt: Option<String>,
    pub duration_ms: i64,
}

impl Store {
    /// Records an event on its own, in a transaction of its own (a change records its event in
    /// its own transaction; this is for the benchmark and the tests).
    pub async fn emit_event(
        &self,
        event: portal_domain::EventType,
        subject_id: &str,
    ) -> Result<(), StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        emit(&mut tx, event, (subject_id, None), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A delivery with its endpoint and event, if it exists.
    pub async fn delivery_to_send(&self, id: &str) -> Result<Option<DeliveryToSend>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT d.id, d.status, d.attempts, d.next_attempt_at, d.endpoint_id, e.url, e.status AS endpoint_status, \
             e.secret, e.previous_secret, e.previous_until, e.failing_since, d.event_id, \
             v.type AS event_type, v.subject_id, v.state, v.occurred_at, v.data \
             FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             JOIN webhook_events v ON v.id = d.event_id WHERE d.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Gives an event its data once (the first delivery writes it); the data it has.
    pub async fn fix_event_data(&self, event_id: &str, data: &str) -> Result<String, StoreError> {
        sqlx::query("UPDATE webhook_events SET data = $1 WHERE id = $2 AND data IS NULL")
            .bind(data)
            .bind(event_id)
            .execute(&self.pool)
            .await?;
        sqlx::query_scalar("SELECT data FROM webhook_events WHERE id = $1")
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?
            .flatten()
            .ok_or(StoreError::NotFound)
    }

    /// Records an attempt and where its delivery stands, in one transaction: delivered, tried
    /// again later (its job queued), or failed; the endpoint's run of failures, and its
    /// disabling when it has failed for days. Nothing when the delivery is no longer pending.
    pub async fn record_attempt(&self, a: &AttemptRecord<'_>) -> Result<bool, StoreError> {
        use portal_domain::DeliveryStatus as D;
        let mut tx = self.begin_write().await?;
        let status = match (a.delivered, a.next_attempt_at) {
            (true, _) => D::Delivered,
            (false, Some(_)) => D::Pending,
            (false, None) => D::Failed,
        };
        let moved = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
             last_status_code = $2, next_attempt_at = $3, \
             delivered_at = CASE WHEN $1 = $4 THEN $5 ELSE NULL END \
             WHERE id = $6 AND status = $7 AND attempts = $8",
        )
        .bind(status.as_str())
        .bind(a.status_code)
        .bind(a.next_attempt_at)
        .bind(D::Delivered.as_str())
        .bind(a.at)
        .bind(a.delivery_id)
        .bind(D::Pending.as_str())
        .bind(a.attempts_before)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO webhook_attempts (id, delivery_id, at, status_code, error, excerpt, \
             duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(crate::new_id())
        .bind(a.delivery_id)
        .bind(a.at)
        .bind(a.status_code)
        .bind(a.error)
        .bind(a.excerpt)
        .bind(a.duration_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_endpoints SET failing_since = \
             CASE WHEN $1 = 1 THEN NULL ELSE COALESCE(failing_since, $2) END WHERE id = $3",
        )
        .bind(i64::from(a.delivered))
        .bind(a.at)
        .bind(a.endpoint_id)
        .execute(&mut *tx)
        .await?;
        if let Some(at) = a.next_attempt_at {
            crate::job::enqueue_in(&mut tx, &deliver_job(a.delivery_id, at), a.at).await?;
        }
        if let Some((reason, mails)) = a.disable {
            disable(&mut tx, a.endpoint_id, reason, mails, a.at).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Marks a pending delivery failed without an attempt (its endpoint is disabled).
    pub async fn fail_delivery(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, next_attempt_at = NULL \
             WHERE id = $2 AND status = $3",
        )
        .bind(portal_domain::DeliveryStatus::Failed.as_str())
        .bind(id)
        .bind(portal_domain::DeliveryStatus::Pending.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An endpoint's deliveries, newest first.
    pub async fn list_deliveries(
        &self,
        endpoint_id: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{DELIVERY_SELECT} WHERE d.endpoint_id = $1 \
             ORDER BY d.created_at DESC, d.id DESC LIMIT $2"
        )))
        .bind(endpoint_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// One delivery of an endpoint.
    pub async fn get_delivery(
        &self,
        endpoint_id: &str,
        delivery_id: &str,
    ) -> Result<DeliveryRow, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{DELIVERY_SELECT} WHERE d.endpoint_id = $1 AND d.id = $2"
        )))
        .bind(endpoint_id)
        .bind(delivery_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// A delivery's attempts, oldest first.
    pub async fn delivery_attempts(
        &self,
        delivery_id: &str,
    ) -> Result<Vec<AttemptRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT at, status_code, error, excerpt, duration_ms FROM webhook_attempts \
             WHERE delivery_id = $1 ORDER BY at, id",
        )
        .bind(delivery_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Sends a delivery of the endpoint again, now, with a fresh series of attempts (the log
    /// keeps the earlier ones); a job of it still queued is replaced. False when there is no
    /// such delivery.
    pub async fn replay_delivery(
        &self,
        endpoint_id: &str,
        delivery_id: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, attempts = 0 \
             WHERE id = $3 AND endpoint_id = $4",
        )
        .bind(portal_domain::DeliveryStatus::Pending.as_str())
        .bind(now)
        .bind(delivery_id)
        .bind(endpoint_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        crate::job::cancel_queued_jobs(&mut tx, delivery_id).await?;
        crate::job::enqueue_in(&mut tx, &deliver_job(delivery_id, now), now).await?;
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Sends again every failed delivery of the endpoint made since `since`; how many.
    pub async fn replay_failed_since(
        &self,
        endpoint_id: &str,
        since: i64,
        audit: &AuditEntry,
    ) -> Result<u64, StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND status = $2 \
             AND created_at >= $3 ORDER BY created_at LIMIT 10000",
        )
        .bind(endpoint_id)
        .bind(portal_domain::DeliveryStatus::Failed.as_str())
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, attempts = 0 \
                 WHERE id = $3",
            )
            .bind(portal_domain::DeliveryStatus::Pending.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            crate::job::enqueue_in(&mut tx, &deliver_job(id, now), now).await?;
        }
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        Ok(ids.len() as u64)
    }
}

impl crate::job::Burial {
    /// Marks a pending delivery failed, in the transaction that buries its job.
    pub async fn fail_delivery(&mut self, id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, next_attempt_at = NULL \
             WHERE id = $2 AND status = $3",
        )
        .bind(portal_domain::DeliveryStatus::Failed.as_str())
        .bind(id)
        .bind(portal_domain::DeliveryStatus::Pending.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
