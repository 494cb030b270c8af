//! Intake: a request that passed every field rule is stored with its names, its steps, its
//! event, its links and messages, its idempotency key and its job, in one transaction.

use std::sync::LazyLock;

use portal_domain::{EventType, NotificationStatus, ProvisioningStep, RequestEvent, StepStatus};

use crate::audit::{AuditEntry, INSERT_AUDIT, audit_values};
use crate::batch::{Batch, Binds};
use crate::error::{Conflict, is_unique_violation};
use crate::event::{INSERT_EVENT, NewEvent, event_values};
use crate::job::{ENQUEUE, NewJob, job_values};
use crate::link::{NewLink, insert_link};
use crate::mail::NewMail;
use crate::names::{NameHold, Names, TAKE_NAMES, after_refusal, take_names_values};
use crate::request::{RequestRow, StepRow, WindowCap};
use crate::webhook::{ENABLED, emit_to, enabled_values};
use crate::{Store, StoreError};

/// A request that passed every field rule, ready to store.
#[derive(Clone)]
pub struct NewRequest {
    pub id: String,
    pub status: portal_domain::RequestStatus,
    pub template_id: String,
    pub template_version: i64,
    pub tenant_name: String,
    pub short_name: String,
    pub upn_suffix: String,
    pub admin_user_name: String,
    pub admin_personnel_id: String,
    /// Empty when the administrator is invited at `admin_email` instead.
    pub admin_password_hash: String,
    pub admin_email: Option<String>,
    pub ani: String,
    pub contact_first_name: String,
    pub contact_last_name: String,
    pub contact_email: String,
    pub contact_phone: Option<String>,
    pub contact_company: Option<String>,
    pub contact_address: Option<String>,
    pub submitted_by: Option<String>,
    pub submitted_at: i64,
    pub scheduled_for: Option<i64>,
    /// For a request placed in an off-peak window with a cap: the window and its cap. The
    /// store refuses with `Conflict::WindowFull` if the window filled meanwhile.
    pub window_cap: Option<WindowCap>,
    /// The audit entry of the submission, written in the same transaction.
    pub audit: Option<AuditEntry>,
    /// How the request holds its names.
    pub names: NameHold,
    /// Links emailed to a self-service prospect, stored with the request.
    pub links: Vec<NewLink>,
    /// A message to its contact, put in the outbox with it.
    pub mail: Option<NewMail>,
}

impl NewRequest {
    /// The names it is to hold.
    fn names(&self) -> Names<'_> {
        Names {
            request_id: &self.id,
            tenant_name: &self.tenant_name,
            short_name: &self.short_name,
            upn_suffix: &self.upn_suffix,
        }
    }
}

impl NewRequest {
    /// The request as its storing transaction leaves it, before provisioning or anyone else
    /// changes it: what a submission is answered with, without reading it back.
    pub fn as_stored(&self) -> RequestRow {
        RequestRow {
            id: self.id.clone(),
            status: self.status,
            template_id: self.template_id.clone(),
            template_version: self.template_version,
            tenant_name: self.tenant_name.clone(),
            short_name: self.short_name.clone(),
            upn_suffix: self.upn_suffix.clone(),
            admin_user_name: self.admin_user_name.clone(),
            admin_personnel_id: self.admin_personnel_id.clone(),
            ani: self.ani.clone(),
            contact_first_name: self.contact_first_name.clone(),
            contact_last_name: self.contact_last_name.clone(),
            contact_email: self.contact_email.clone(),
            contact_phone: self.contact_phone.clone(),
            contact_company: self.contact_company.clone(),
            contact_address: self.contact_address.clone(),
            submitted_by: self.submitted_by.clone(),
            submitted_at: self.submitted_at,
            scheduled_for: self.scheduled_for,
            started_at: None,
            finished_at: None,
            tenant_id: None,
            error: None,
            // A message put in the outbox for the request with it marks it pending.
            notification_status: if self.mail.as_ref().is_some_and(|m| m.request_id.is_some()) {
                NotificationStatus::Pending
            } else {
                NotificationStatus::None
            },
            notification_sent_at: None,
        }
    }

    /// Its steps as stored with it: every one pending, in the order they run.
    pub fn stored_steps() -> Vec<StepRow> {
        ProvisioningStep::ALL
            .iter()
            .map(|step| StepRow {
                name: *step,
                status: StepStatus::Pending,
                started_at: None,
                finished_at: None,
            })
            .collect()
    }
}

impl std::fmt::Debug for NewRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewRequest")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("tenant_name", &self.tenant_name)
            .finish_non_exhaustive()
    }
}

/// An `Idempotency-Key` to record with a submission.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub actor_id: String,
    pub key: String,
    /// A digest of the submission without its passwords.
    pub fingerprint: String,
}

impl Store {
    /// The fingerprint and request of an idempotency key already used by this actor.
    pub async fn find_idempotency_key(
        &self,
        actor_id: &str,
        key: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT fingerprint, request_id FROM idempotency_keys WHERE actor_id = $1 AND idem_key = $2",
        )
        .bind(actor_id)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores an accepted request, reserves its names and enqueues its provisioning job, all
    /// in one transaction. `Conflict::NameTaken` names the name already held.
    pub async fn submit_request(
        &self,
        request: &NewRequest,
        job: &NewJob,
        idempotency: Option<&Idempotency>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        self.insert_submission(&mut tx, request, job, idempotency)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `submit_request` within a transaction of the caller's.
    pub(crate) async fn insert_submission(
        &self,
        tx: &mut crate::WriteTx,
        request: &NewRequest,
        job: &NewJob,
        idempotency: Option<&Idempotency>,
    ) -> Result<(), StoreError> {
        let now = request.submitted_at;
        if let Some(window) = request.window_cap {
            self.check_window(tx, window).await?;
        }
        self.insert_own_rows(tx, request, job).await?;
        for link in &request.links {
            insert_link(tx, &request.id, link).await?;
        }
        if let Some(mail) = &request.mail {
            crate::mail::put_in_outbox(tx, mail, now).await?;
        }
        if let Some(idem) = idempotency {
            insert_idempotency_key(tx, idem, &request.id, now).await?;
        }
        Ok(())
    }

    /// The rows every submission writes, as one batch (on SQLite one round trip where a
    /// statement at a time took seven): the request, its names, its steps, its job, its event
    /// and audit entry, and the read of the webhook endpoints its event may go to. The names'
    /// statement takes all three names or leaves the ones another holds alone; then the
    /// submission is refused, naming the first, and the caller's rollback undoes the rest.
    async fn insert_own_rows(
        &self,
        tx: &mut crate::WriteTx,
        request: &NewRequest,
        job: &NewJob,
    ) -> Result<(), StoreError> {
        let now = request.submitted_at;
        let names = request.names();
        let held_until = match request.names {
            NameHold::Open => Some(None),
            NameHold::Until(until) => Some(Some(until)),
            NameHold::None => None,
        };
        let submitted = NewEvent {
            actor_id: request.submitted_by.as_deref(),
            action: RequestEvent::Submitted,
            from_status: None,
            to_status: Some(request.status),
            detail: None,
        };
        let told = EventType::of_request(submitted.action, submitted.to_status);
        let mut batch = Batch::new(self.backend);
        request_values(batch.push(INSERT_REQUEST), request);
        let names_at = held_until.map(|held| {
            take_names_values(batch.push(TAKE_NAMES), &names, held, now);
            batch.pushed() - 1
        });
        steps_values(batch.push(&PENDING_STEPS), &request.id);
        job_values(batch.push(ENQUEUE), job, now);
        event_values(batch.push(INSERT_EVENT), &request.id, &submitted, now);
        if let Some(entry) = &request.audit {
            audit_values(batch.push(INSERT_AUDIT), entry, now);
        }
        if told.is_some() {
            enabled_values(batch.push(ENABLED));
        }
        let mut outcomes = batch.run(tx).await?;
        if let (Some(at), Some(held)) = (names_at, held_until)
            && outcomes[at].changed != 3
        {
            after_refusal(tx, &names, held, now).await?;
        }
        if let Some(told) = told {
            let endpoints = outcomes.pop().map(|o| o.rows).unwrap_or_default();
            let state = Some(request.status.as_str());
            emit_to(tx, told, &endpoints, (&request.id, state), now).await?;
        }
        Ok(())
    }
}

/// The statement that stores a request, with [`request_values`].
const INSERT_REQUEST: &str = "INSERT INTO subscription_requests (id, status, template_id, \
     template_version, tenant_name, tenant_name_key, short_name, upn_suffix, admin_user_name, \
     admin_personnel_id, admin_password_hash, ani, contact_first_name, contact_last_name, \
     contact_email, contact_phone, contact_company, contact_address, submitted_by, submitted_at, \
     scheduled_for, notification_status, admin_email) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22, $23)";

/// The values of [`INSERT_REQUEST`].
fn request_values<B: Binds>(values: B, request: &NewRequest) -> B {
    values
        .with(request.id.as_str())
        .with(request.status.as_str())
        .with(request.template_id.as_str())
        .with(request.template_version)
        .with(request.tenant_name.as_str())
        .with(request.tenant_name.to_lowercase())
        .with(request.short_name.as_str())
        .with(request.upn_suffix.as_str())
        .with(request.admin_user_name.as_str())
        .with(request.admin_personnel_id.as_str())
        .with(request.admin_password_hash.as_str())
        .with(request.ani.as_str())
        .with(request.contact_first_name.as_str())
        .with(request.contact_last_name.as_str())
        .with(request.contact_email.as_str())
        .with(request.contact_phone.as_deref())
        .with(request.contact_company.as_deref())
        .with(request.contact_address.as_deref())
        .with(request.submitted_by.as_deref())
        .with(request.submitted_at)
        .with(request.scheduled_for)
        .with(NotificationStatus::None.as_str())
        .with(request.admin_email.as_deref())
}

async fn insert_idempotency_key(
    tx: &mut crate::WriteTx,
    idem: &Idempotency,
    request_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    let result = sqlx::query(
        "INSERT INTO idempotency_keys (actor_id, idem_key, fingerprint, request_id, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&idem.actor_id)
    .bind(&idem.key)
    .bind(&idem.fingerprint)
    .bind(request_id)
    .bind(now)
    .execute(&mut **tx)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(Conflict::IdempotencyKeyReused.into()),
        Err(e) => Err(e.into()),
    }
}

/// The statement that records every provisioning step of a request as pending, in the order
/// they run, with [`steps_values`]: one statement for all the steps.
static PENDING_STEPS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO request_steps (request_id, position, name, status) VALUES {}",
        crate::placeholder_rows(ProvisioningStep::ALL.len(), 4)
    )
});

/// The values of [`PENDING_STEPS`].
fn steps_values<B: Binds>(mut values: B, request_id: &str) -> B {
    for (position, step) in (0_i64..).zip(ProvisioningStep::ALL.iter()) {
        values = values
            .with(request_id)
            .with(position)
            .with(step.as_str())
            .with(StepStatus::Pending.as_str());
    }
    values
}
