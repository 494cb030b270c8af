//! Self-service registrations: the confirmation of the contact address (which is when a
//! request takes its names for good), and the expiry of requests whose address was never
//! confirmed.

use portal_domain::{ErrorNote, NameKind, RequestStatus, Transition};

use crate::audit::AuditEntry;
use crate::error::Conflict;
use crate::event::{NewEvent, record_event};
use crate::job::{NewJob, cancel_queued_jobs, enqueue_in};
use crate::link::{LINK_COLUMNS, LinkPurpose, LinkRow, NewLink, insert_link};
use crate::mail::NewMail;
use crate::names::{free_names, reserve_names};
use crate::request::{RequestRow, WindowCap};
use crate::{Store, StoreError};

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
    } else if link.expires_at <= now || request.error == Some(ErrorNote::Unconfirmed) {
        Some(LinkRefusal::Expired)
    } else if request.status != RequestStatus::PendingVerification {
        Some(LinkRefusal::Closed)
    } else {
        None
    }
}

/// Where a request goes once its contact address is confirmed.
#[derive(Clone)]
pub struct Admission<'a> {
    /// On to `pending_approval`, `accepted` or `scheduled`.
    pub transition: Transition,
    pub scheduled_for: Option<i64>,
    /// The capped off-peak window it takes a place in, checked here.
    pub window_cap: Option<WindowCap>,
    /// Its provisioning job, when it goes straight on.
    pub job: Option<&'a NewJob>,
    /// What is said instead when one of its names is taken by now: the message to its contact
    /// and the detail of its event.
    pub name_taken: &'a (dyn Fn(NameKind) -> (NewMail, String) + Send + Sync),
    pub audit: &'a AuditEntry,
    /// A fresh status-page link, stored with the confirmation.
    pub status_link: &'a NewLink,
    /// When it is to wait for its domain: the token its owner publishes.
    pub domain_token: Option<&'a str>,
}

/// What confirming did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// The request moved on to this status.
    Admitted(RequestStatus),
    /// A name was taken: the request is rejected and its contact told by email.
    NameTaken(NameKind),
}

/// Ends a request that never got past confirming its address, as `transition` says: its
/// names are freed and it keeps `note` as its error.
async fn close_unconfirmed(
    tx: &mut crate::WriteTx,
    request_id: &str,
    transition: &Transition,
    note: &ErrorNote,
    now: i64,
) -> Result<(), StoreError> {
    free_names(tx, request_id).await?;
    sqlx::query(
        "UPDATE subscription_requests SET status = $1, error = $2, error_kind = $3, \
         finished_at = $4 WHERE id = $5",
    )
    .bind(transition.to.as_str())
    .bind(note.words())
    .bind(note.kind().as_str())
    .bind(now)
    .bind(request_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Confirms a request's contact address with its verification link, in one transaction:
    /// the link is used up, the request takes its names for good and moves on as `admission`
    /// says, its expiry job goes. When a name is taken by now, the request is rejected
    /// instead and the contact told. A link that is unknown, used or expired changes nothing.
    pub async fn confirm_registration(
        &self,
        token_hash: &str,
        admission: &Admission<'_>,
        now: i64,
    ) -> Result<Result<Confirmed, LinkRefusal>, StoreError> {
        let mut tx = self.begin_write().await?;
        let request = match self.use_verify_link(&mut tx, token_hash, now).await? {
            Ok(request) => request,
            Err(refusal) => return Ok(Err(refusal)),
        };
        insert_link(&mut tx, &request.id, admission.status_link).await?;
        // The expiry job has nothing left to do.
        cancel_queued_jobs(&mut tx, &request.id).await?;
        let names = request.names();
        let confirmed = match reserve_names(&mut tx, &names, None, now).await {
            Ok(()) => self.admit(&mut tx, &request, admission, now).await?,
            Err(StoreError::Conflict(Conflict::NameTaken(kind))) => {
                reject_for_taken_name(&mut tx, &request, admission, kind, now).await?
            }
            Err(e) => return Err(e),
        };
        let audit = AuditEntry {
            tenant_id: None,
            ..admission.audit.clone()
        };
        crate::audit::insert(&mut *tx, &audit, now).await?;
        tx.commit().await?;
        Ok(Ok(confirmed))
    }

    /// Finds a verification link by its token's hash, locked, and uses it up when it still
    /// works; the request it confirms, locked too.
    async fn use_verify_link(
        &self,
        tx: &mut crate::WriteTx,
        token_hash: &str,
        now: i64,
    ) -> Result<Result<RequestRow, LinkRefusal>, StoreError> {
        let link: Option<LinkRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {LINK_COLUMNS} FROM registration_links WHERE token_hash = $1{}",
            self.lock_clause()
        )))
        .bind(token_hash)
        .fetch_optional(&mut **tx)
        .await?;
        let link = match link {
            Some(link) if link.purpose == LinkPurpose::Verify => link,
            _ => return Ok(Err(LinkRefusal::Unknown)),
        };
        let request = self.lock_request(tx, &link.request_id).await?;
        if let Some(refusal) = verify_refusal(&link, &request, now) {
            return Ok(Err(refusal));
        }
        sqlx::query("UPDATE registration_links SET used_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(&mut **tx)
            .await?;
        Ok(Ok(request))
    }

    /// The request, its names now its own, moves on as the admission says.
    async fn admit(
        &self,
        tx: &mut crate::WriteTx,
        request: &RequestRow,
        admission: &Admission<'_>,
        now: i64,
    ) -> Result<Confirmed, StoreError> {
        if let Some(window) = admission.window_cap {
            self.check_window(tx, window).await?;
        }
        let t = admission.transition;
        if request.status != t.from {
            return Err(Conflict::StatusMoved(request.status).into());
        }
        sqlx::query(
            "UPDATE subscription_requests SET status = $1, scheduled_for = $2 WHERE id = $3",
        )
        .bind(t.to.as_str())
        .bind(admission.scheduled_for)
        .bind(&request.id)
        .execute(&mut **tx)
        .await?;
        if let Some(job) = admission.job {
            enqueue_in(tx, job, now).await?;
        }
        if let Some(token) = admission.domain_token {
            crate::domain::insert_check(tx, &request.id, token, now).await?;
        }
        record_event(tx, &request.id, &NewEvent::of(&t), now).await?;
        Ok(Confirmed::Admitted(t.to))
    }

    /// When the request's confirmation links expire (the latest of them).
    pub async fn verify_link_expiry(&self, request_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(expires_at) FROM registration_links WHERE request_id = $1 AND purpose = $2",
        )
        .bind(request_id)
        .bind(LinkPurpose::Verify.as_str())
        .fetch_one(&self.pool)
        .await?)
    }

    /// Sends a request's confirmation link again, in one transaction: the links sent before
    /// stop working, `link` is stored, the contact address becomes `new_email` when one is
    /// given, and `mail` goes in the outbox. Only while the address waits to be confirmed
    /// (`Conflict::StatusMoved` otherwise).
    pub async fn send_verification_again(
        &self,
        request_id: &str,
        link: &NewLink,
        mail: &NewMail,
        new_email: Option<&str>,
        audit: &AuditEntry,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let request = self.lock_request(&mut tx, request_id).await?;
        if request.status != RequestStatus::PendingVerification {
            return Err(Conflict::StatusMoved(request.status).into());
        }
        sqlx::query(
            "UPDATE registration_links SET expires_at = $1 WHERE request_id = $2 AND purpose = $3 \
             AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(request_id)
        .bind(LinkPurpose::Verify.as_str())
        .execute(&mut *tx)
        .await?;
        insert_link(&mut tx, request_id, link).await?;
        if let Some(email) = new_email {
            sqlx::query("UPDATE subscription_requests SET contact_email = $1 WHERE id = $2")
                .bind(email)
                .bind(request_id)
                .execute(&mut *tx)
                .await?;
        }
        crate::mail::put_in_outbox(&mut tx, mail, now).await?;
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a self-service request whose contact address was not confirmed in time: it is
    /// cancelled and its names are free; `detail` goes in its event. False when it had moved
    /// on meanwhile.
    pub async fn expire_registration(
        &self,
        request_id: &str,
        detail: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let request = match self.lock_request(&mut tx, request_id).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => return Ok(false),
            Err(e) => return Err(e),
        };
        let Ok(expire) = request.status.expire() else {
            return Ok(false);
        };
        let note = if request.status == portal_domain::RequestStatus::PendingDomain {
            ErrorNote::DomainUnproven
        } else {
            ErrorNote::Unconfirmed
        };
        close_unconfirmed(&mut tx, request_id, &expire, &note, now).await?;
        let event = NewEvent::of(&expire).saying(Some(detail));
        record_event(&mut tx, request_id, &event, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// The request is rejected because a name was taken meanwhile; its contact is told.
async fn reject_for_taken_name(
    tx: &mut crate::WriteTx,
    request: &RequestRow,
    admission: &Admission<'_>,
    kind: NameKind,
    now: i64,
) -> Result<Confirmed, StoreError> {
    let rejected = request
        .status
        .verify_name_taken()
        .map_err(|_| Conflict::StatusMoved(request.status))?;
    close_unconfirmed(tx, &request.id, &rejected, &ErrorNote::NameTaken, now).await?;
    let (mail, detail) = (admission.name_taken)(kind);
    crate::mail::put_in_outbox(tx, &mail, now).await?;
    let event = NewEvent::of(&rejected).saying(Some(&detail));
    record_event(tx, &request.id, &event, now).await?;
    Ok(Confirmed::NameTaken(kind))
}

/// How many closed requests one pass of [`Store::erase_closed_contacts`] erases at most.
pub const ERASE_BATCH: i64 = 500;

/// The closed self-service requests (rejected, or cancelled, which an expired one is; a
/// prospect's, known by its emailed links) that ended before `$1` and are not erased yet, the
/// oldest first: at most `$4`.
const CLOSED_UNERASED: &str = "SELECT r.id FROM subscription_requests r \
     WHERE r.status IN ($2, $3) AND r.finished_at < $1 AND r.contact_erased_at IS NULL \
     AND EXISTS (SELECT 1 FROM registration_links l WHERE l.request_id = r.id) \
     ORDER BY r.finished_at LIMIT $4";

impl Store {
    /// Erases the contact details of closed self-service requests that ended before `before`
    /// (the contact, the administrator's address, and the messages sent about them), keeping
    /// the request's skeleton (template, names, status, times) for statistics. At most
    /// [`ERASE_BATCH`] requests per call; how many were erased.
    pub async fn erase_closed_contacts(&self, before: i64, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<String> = sqlx::query_scalar(CLOSED_UNERASED)
            .bind(before)
            .bind(RequestStatus::Rejected.as_str())
            .bind(RequestStatus::Cancelled.as_str())
            .bind(ERASE_BATCH)
            .fetch_all(&mut *tx)
            .await?;
        for id in &ids {
            sqlx::query(
                "UPDATE outbox SET recipient = '', subject = '', body_text = '', body_html = '' \
                 WHERE request_id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE subscription_requests SET contact_first_name = '', contact_last_name = '', \
                 contact_email = '', contact_phone = NULL, contact_company = NULL, \
                 contact_address = NULL, admin_email = NULL, contact_erased_at = $1 \
                 WHERE id = $2 AND contact_erased_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }
}
