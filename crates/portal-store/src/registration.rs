//! Self-service registrations: the links emailed to a prospect, the confirmation of the
//! contact address (which is when a request takes its names for good), and the expiry of
//! requests whose address was never confirmed.

use sqlx::{Any, Transaction};

use crate::audit::AuditEntry;
use crate::job::{NewJob, enqueue_in};
use crate::mail::NewMail;
use crate::provision::{NewEvent, record_event};
use crate::request::{Names, RequestRow, reserve_names};
use crate::{Store, StoreError};

/// A link that confirms the contact address, once.
pub const PURPOSE_VERIFY: &str = "verify";
/// A link to the request's status page, for as long as it lasts.
pub const PURPOSE_STATUS: &str = "status";

/// A link to store with its request; the token itself is only in the email.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub token_hash: String,
    pub purpose: &'static str,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkRow {
    pub request_id: String,
    pub purpose: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// Why a link does not work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// No such link (or one for another purpose).
    Unknown,
    /// The link was used before.
    Used,
    /// The link is past its time, or its request expired meanwhile.
    Expired,
    /// The request was closed by the provider's staff before its address was confirmed.
    Closed,
}

/// Why a verification link of `request` does not work at `now`, if it does not.
pub fn verify_refusal(link: &LinkRow, request: &RequestRow, now: i64) -> Option<LinkRefusal> {
    if link.used_at.is_some() {
        Some(LinkRefusal::Used)
    } else if link.expires_at <= now || request.error.as_deref() == Some(EXPIRED_ERROR) {
        Some(LinkRefusal::Expired)
    } else if request.status != "pending_verification" {
        Some(LinkRefusal::Closed)
    } else {
        None
    }
}

/// Where a request goes once its contact address is confirmed.
#[derive(Clone)]
pub struct Admission<'a> {
    /// `pending_approval`, `accepted` or `scheduled`.
    pub status: &'a str,
    pub scheduled_for: Option<i64>,
    /// The capped off-peak window it takes a place in, checked here.
    pub window_cap: Option<(i64, i64, i64)>,
    /// Its provisioning job, when it goes straight on.
    pub job: Option<&'a NewJob>,
    /// The message sent instead when one of its names is taken by now, for the field taken.
    pub conflict_mail: &'a (dyn Fn(&str) -> NewMail + Send + Sync),
    pub audit: &'a AuditEntry,
    /// A fresh status-page link, stored with the confirmation.
    pub status_link: &'a NewLink,
}

/// What confirming did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// The request moved on to this status.
    Admitted(String),
    /// A name was taken: the request is rejected and its contact told by email. Names the
    /// field.
    NameTaken(String),
}

pub(crate) async fn insert_link(
    tx: &mut Transaction<'static, Any>,
    request_id: &str,
    link: &NewLink,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO registration_links (token_hash, request_id, purpose, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&link.token_hash)
    .bind(request_id)
    .bind(link.purpose)
    .bind(link.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends a request that never got past confirming its address: its names are freed and it
/// keeps `status` and `error`.
async fn close_unconfirmed(
    tx: &mut Transaction<'static, Any>,
    request_id: &str,
    status: &str,
    error: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM reserved_names WHERE request_id = $1")
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE subscription_requests SET status = $1, error = $2, finished_at = $3 WHERE id = $4",
    )
    .bind(status)
    .bind(error)
    .bind(now)
    .bind(request_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The text a request rejected for a taken name keeps as its error.
pub const NAME_TAKEN_ERROR: &str =
    "A name of this request is already used by another tenant or request.";

/// The text a request keeps when its contact address was never confirmed.
pub const EXPIRED_ERROR: &str = "The contact address was not confirmed in time.";

impl Store {
    /// A link by its token's hash.
    pub async fn find_link(&self, token_hash: &str) -> Result<Option<LinkRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT request_id, purpose, expires_at, used_at FROM registration_links \
             WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Confirms a request's contact address with its verification link, in one transaction:
    /// the link is used up, the request takes its names for good and moves on as `admission`
    /// says, its expiry job goes. When a name is taken by now, the request is rejected
    /// instead and `conflict_mail` sent. A link that is unknown, used or expired changes
    /// nothing.
    pub async fn confirm_registration(
        &self,
        token_hash: &str,
        admission: &Admission<'_>,
        now: i64,
    ) -> Result<Result<Confirmed, LinkRefusal>, StoreError> {
        let mut tx = self.begin_write().await?;
        let link: Option<LinkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT request_id, purpose, expires_at, used_at FROM registration_links \
             WHERE token_hash = $1{}",
            self.lock_clause()
        )))
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let link = match link {
            Some(link) if link.purpose == PURPOSE_VERIFY => link,
            _ => return Ok(Err(LinkRefusal::Unknown)),
        };
        let request = self.lock_request(&mut tx, &link.request_id).await?;
        if let Some(refusal) = verify_refusal(&link, &request, now) {
            return Ok(Err(refusal));
        }
        sqlx::query("UPDATE registration_links SET used_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        insert_link(&mut tx, &request.id, admission.status_link).await?;
        // The expiry job has nothing left to do.
        sqlx::query("DELETE FROM jobs WHERE subject = $1 AND status = 'queued'")
            .bind(&request.id)
            .execute(&mut *tx)
            .await?;
        let names = Names {
            request_id: &request.id,
            tenant_name: &request.tenant_name,
            short_name: &request.short_name,
            upn_suffix: &request.upn_suffix,
            hold_key: None,
        };
        let taken = match reserve_names(&mut tx, &names, None, now).await {
            Ok(()) => None,
            Err(StoreError::Conflict { what }) => Some(what),
            Err(e) => return Err(e),
        };
        let audit = AuditEntry {
            tenant_id: None,
            ..admission.audit.clone()
        };
        if let Some(field) = taken {
            close_unconfirmed(&mut tx, &request.id, "rejected", NAME_TAKEN_ERROR, now).await?;
            crate::mail::put_in_outbox(&mut tx, &(admission.conflict_mail)(&field), now).await?;
            record_event(
                &mut tx,
                &request.id,
                &NewEvent {
                    action: "verified",
                    from_status: Some("pending_verification"),
                    to_status: Some("rejected"),
                    detail: Some(&format!("{field} is already taken")),
                    ..Default::default()
                },
                now,
            )
            .await?;
            crate::audit::insert(&mut *tx, &audit, now).await?;
            tx.commit().await?;
            return Ok(Ok(Confirmed::NameTaken(field)));
        }
        if let Some(cap) = admission.window_cap {
            self.check_window(&mut tx, cap).await?;
        }
        sqlx::query(
            "UPDATE subscription_requests SET status = $1, scheduled_for = $2 WHERE id = $3",
        )
        .bind(admission.status)
        .bind(admission.scheduled_for)
        .bind(&request.id)
        .execute(&mut *tx)
        .await?;
        if let Some(job) = admission.job {
            enqueue_in(&mut tx, job, now).await?;
        }
        record_event(
            &mut tx,
            &request.id,
            &NewEvent {
                action: "verified",
                from_status: Some("pending_verification"),
                to_status: Some(admission.status),
                ..Default::default()
            },
            now,
        )
        .await?;
        crate::audit::insert(&mut *tx, &audit, now).await?;
        tx.commit().await?;
        Ok(Ok(Confirmed::Admitted(admission.status.to_owned())))
    }

    /// Ends a self-service request whose contact address was not confirmed in time: it is
    /// cancelled and its names are free. False when it had moved on meanwhile.
    pub async fn expire_registration(
        &self,
        request_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let request = match self.lock_request(&mut tx, request_id).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => return Ok(false),
            Err(e) => return Err(e),
        };
        if request.status != "pending_verification" {
            return Ok(false);
        }
        close_unconfirmed(&mut tx, request_id, "cancelled", EXPIRED_ERROR, now).await?;
        record_event(
            &mut tx,
            request_id,
            &NewEvent {
                action: "expired",
                from_status: Some("pending_verification"),
                to_status: Some("cancelled"),
                detail: Some(EXPIRED_ERROR),
                ..Default::default()
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
