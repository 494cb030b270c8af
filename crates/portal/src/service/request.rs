//! Tenant subscription requests: intake, reading and listing.

use portal_domain::field::{EmailAddress, PasswordCandidate};
use portal_domain::submission::{
    ContactFields, FieldProblem, RawSubmission, Submission, TenantFields,
};
use portal_domain::template::TemplateStatus;
use portal_domain::{
    FieldError, FieldErrorCode, NameKind, RequestStatus, StaffAction, Transition, TransitionError,
};
use portal_store::action::{RequestMove, Run};
use portal_store::intake::{Idempotency, NewRequest};
use portal_store::names::{NameHold, Names};
use portal_store::request::{RequestFilter, RequestRow, StepRow};
use portal_store::template::TemplateRow;
use portal_store::{Conflict, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tracing::info;

use super::{Actor, ServiceError, Services};

/// A request with its steps and its history.
#[derive(Debug, Clone)]
pub struct RequestDetail {
    pub request: RequestRow,
    pub steps: Vec<StepRow>,
    pub events: Vec<portal_store::event::EventRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Fields broke their rules; every one is listed.
    #[error("some fields are invalid")]
    Invalid(Vec<FieldProblem>),
    /// A name is already held by a tenant or an open request.
    #[error("the {} is already taken", .0.label())]
    Taken(NameKind),
    /// The idempotency key was used before with another body.
    #[error("the idempotency key was used with another body")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// A digest of a submission without its passwords, to recognise a retried POST. Leaving the
/// passwords out keeps a fast hash of them out of the database.
pub fn fingerprint(raw: &RawSubmission) -> String {
    let t = &raw.tenant;
    let c = &raw.contact;
    let fields = [
        &raw.template_id,
        &t.name,
        &t.short_name,
        &t.upn_suffix,
        &t.admin_user_name,
        &t.ani,
        &c.first_name,
        &c.last_name,
        &c.email,
        &c.phone,
        &c.company,
        &c.address,
    ];
    let mut digest = Sha256::new();
    for field in fields {
        match field {
            Some(v) => {
                digest.update([1u8]);
                digest.update((v.len() as u64).to_le_bytes());
                digest.update(v.as_bytes());
            }
            None => digest.update([0u8]),
        }
    }
    // Added later: only a body that has it digests it, so older keys still match.
    if let Some(email) = &t.admin_email {
        digest.update([2u8]);
        digest.update((email.len() as u64).to_le_bytes());
        digest.update(email.as_bytes());
    }
    digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The request an idempotency key already stands for: `Ok(Some)` when the body is the same,
/// a field error when it differs, `Ok(None)` when the key is new.
async fn replay(
    services: &Services,
    actor: &Actor,
    key: &str,
    fingerprint: &str,
) -> Result<Option<RequestDetail>, SubmitError> {
    match services
        .store
        .find_idempotency_key(&actor.id, key)
        .await
        .map_err(ServiceError::from)?
    {
        None => Ok(None),
        Some((stored, request_id)) if stored == fingerprint => {
            Ok(Some(get_request(services, actor, &request_id).await?))
        }
        Some(_) => Err(SubmitError::IdempotencyKeyReused),
    }
}

/// Accepts a request: checks every field and that its names are free (a duplicate is refused
/// before any hashing), hashes the password, then stores the request, takes its names and
/// enqueues its provisioning job in one transaction, which refuses names another request took
/// meanwhile. With an idempotency key, a retry of the same body returns the first request.
#[tracing::instrument(skip_all, fields(request.id, tenant.short_name))]
pub async fn submit_request(
    services: &Services,
    actor: &Actor,
    raw: RawSubmission,
    idempotency_key: Option<String>,
) -> Result<RequestDetail, SubmitError> {
    actor.require(portal_domain::Permission::SubmitRequests)?;
    let idempotency = idempotency_key.map(|key| idempotency_of(actor, key, &raw));
    if let Some(first) = replay_of(services, actor, idempotency.as_ref()).await? {
        return Ok(first);
    }
    let Submission {
        template_id,
        tenant: t,
        contact: c,
        password,
        admin_email,
    } = raw.parse().map_err(SubmitError::Invalid)?;
    let id = portal_store::new_id();
    tracing::Span::current()
        .record("request.id", id.as_str())
        .record("tenant.short_name", t.short_name.as_str());
    let names = names_of(&id, &t);
    // The reads before the hash, together: the template, the policy, a name another holds.
    let read = services
        .store
        .intake_reads(
            &template_id,
            super::policy::KEY,
            &names,
            portal_store::now_ms(),
        )
        .await
        .map_err(ServiceError::from)?;
    let template = active_template(read.template.ok_or(StoreError::NotFound))?;
    let policy: super::policy::PolicyDoc = super::policy::setting_of(read.setting)?;
    let in_hand = refuse_taken_names(services, read.taken, &names, idempotency.as_ref());
    let stored = match in_hand {
        Ok(_in_hand) => {
            let fields = ((&t, &c), (password, admin_email));
            hash_and_store(
                services,
                (actor, &policy),
                &id,
                &template,
                fields,
                idempotency.as_ref(),
            )
            .await
        }
        Err(taken) => Err(taken),
    };
    answer(services, actor, idempotency.as_ref(), stored).await
}

/// The answer to a submission: the request it stored; or, for a retry racing its first
/// attempt (which took the names before or while this one hashed, or stored the key first),
/// the first one's answer.
async fn answer(
    services: &Services,
    actor: &Actor,
    idempotency: Option<&Idempotency>,
    stored: Result<Option<NewRequest>, SubmitError>,
) -> Result<RequestDetail, SubmitError> {
    match stored {
        Ok(Some(request)) => {
            services.jobs_ready.notify_one();
            info!("request accepted");
            Ok(as_submitted(actor, &request))
        }
        Ok(None) | Err(SubmitError::Taken(_)) => {
            match (replay_of(services, actor, idempotency).await?, stored) {
                (Some(first), _) => Ok(first),
                (None, Err(taken)) => Err(taken),
                (None, Ok(_)) => {
                    Err(ServiceError::Internal(anyhow::anyhow!("idempotency key vanished")).into())
                }
            }
        }
        Err(e) => Err(e),
    }
}

/// A request just stored, as it was stored (read back, it could only say the same, or what
/// provisioning changed since).
fn as_submitted(actor: &Actor, request: &NewRequest) -> RequestDetail {
    let submitted = portal_store::event::EventRow {
        at: request.submitted_at,
        actor_id: Some(actor.id.clone()),
        actor_name: Some(actor.username.clone()),
        action: portal_domain::RequestEvent::Submitted,
        from_status: None,
        to_status: Some(request.status),
        detail: None,
    };
    RequestDetail {
        request: request.as_stored(),
        steps: NewRequest::stored_steps(),
        events: vec![submitted],
    }
}

/// A submission's idempotency key, with its sender and a digest of its body.
fn idempotency_of(actor: &Actor, key: String, raw: &RawSubmission) -> Idempotency {
    Idempotency {
        actor_id: actor.id.clone(),
        key,
        fingerprint: fingerprint(raw),
    }
}

/// What holds a name: a tenant, or a request not yet a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameHolder {
    Tenant(String),
    Request(String),
}

impl NameHolder {
    /// The page that shows it.
    pub fn page(&self) -> String {
        match self {
            Self::Tenant(id) => format!("/tenants/{id}"),
            Self::Request(id) => format!("/requests/{id}"),
        }
    }
}

/// What holds `name` (typed as a name of `kind`): the tenant, or the stored request, for staff
/// who may open them; `None` for anyone else, or when what holds it is not stored yet.
pub async fn holder_of(
    services: &Services,
    actor: &Actor,
    kind: NameKind,
    name: &str,
) -> Option<NameHolder> {
    if !actor.may(portal_domain::Permission::ReadRequests) {
        return None;
    }
    // A UPN suffix is kept in its ASCII form.
    let key = match kind {
        NameKind::UpnSuffix => portal_domain::field::UpnSuffix::parse(name)
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|_| name.trim().to_owned()),
        _ => name.trim().to_owned(),
    };
    let holder = services
        .store
        .name_holder(kind, &key, portal_store::now_ms())
        .await
        .ok()
        .flatten()?;
    let request = services.store.get_request(&holder).await.ok()?;
    Some(match request.tenant_id {
        Some(tenant) if actor.may(portal_domain::Permission::ReadTenants) => {
            NameHolder::Tenant(tenant)
        }
        _ => NameHolder::Request(request.id),
    })
}

/// Whether a name may be used, as staff type it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available,
    /// It breaks its field's rule.
    Invalid(FieldError),
    /// A tenant or an open request holds it: which, with its tenant's name, when it is stored.
    Taken(Option<(NameHolder, String)>),
}

/// Whether `typed` is free as a name of `kind`, checked by the field's own rule first (landlord
/// roles; the public never learns it).
pub async fn availability(
    services: &Services,
    actor: &Actor,
    kind: NameKind,
    typed: &str,
) -> Result<Availability, ServiceError> {
    use portal_domain::field::{ShortName, TenantName, UpnSuffix};
    actor.require(portal_domain::Permission::ReadRequests)?;
    let key = match kind {
        NameKind::TenantName => TenantName::parse(typed).map(|n| n.as_str().to_owned()),
        NameKind::ShortName => ShortName::parse(typed).map(|n| n.as_str().to_owned()),
        NameKind::UpnSuffix => UpnSuffix::parse(typed).map(|n| n.as_str().to_owned()),
    };
    let key = match key {
        Ok(key) => key,
        Err(error) => return Ok(Availability::Invalid(error)),
    };
    let Some(request_id) = services
        .store
        .name_holder(kind, &key, portal_store::now_ms())
        .await?
    else {
        return Ok(Availability::Available);
    };
    let holder = match services.store.get_request(&request_id).await {
        Ok(request) => {
            let holder = match request.tenant_id {
                Some(tenant) if actor.may(portal_domain::Permission::ReadTenants) => {
                    NameHolder::Tenant(tenant)
                }
                _ => NameHolder::Request(request.id),
            };
            Some((holder, request.tenant_name))
        }
        // Held for a submission still being hashed: taken, by nothing to link to yet.
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(Availability::Taken(holder))
}

/// The first request of a submission sent again with its idempotency key, if there is one.
async fn replay_of(
    services: &Services,
    actor: &Actor,
    idempotency: Option<&Idempotency>,
) -> Result<Option<RequestDetail>, SubmitError> {
    match idempotency {
        Some(idem) => replay(services, actor, &idem.key, &idem.fingerprint).await,
        None => Ok(None),
    }
}

/// The active template a submission names (as looked up), or a field error.
fn active_template(found: Result<TemplateRow, StoreError>) -> Result<TemplateRow, SubmitError> {
    offered(found)?.map_err(|error| {
        SubmitError::Invalid(vec![FieldProblem {
            field: "template_id",
            error,
        }])
    })
}

/// The active template of this id, or why a submission may not name it (retired, unknown):
/// the rule of the form and of bulk onboarding alike.
pub(super) async fn offered_template(
    services: &Services,
    id: &str,
) -> Result<Result<TemplateRow, FieldError>, ServiceError> {
    offered(services.store.get_template(id).await)
}

/// [`offered_template`] of a template as looked up.
fn offered(
    found: Result<TemplateRow, StoreError>,
) -> Result<Result<TemplateRow, FieldError>, ServiceError> {
    match found {
        Ok(t) if t.status == TemplateStatus::Active => Ok(Ok(t)),
        Ok(_) => Ok(Err(FieldError::new(
            FieldErrorCode::Retired,
            "This template service package is retired; choose another.",
        ))),
        Err(StoreError::NotFound) => Ok(Err(FieldError::new(
            FieldErrorCode::NotFound,
            "There is no template service package with this id.",
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The names the request `id` is to hold.
fn names_of<'a>(id: &'a str, t: &'a TenantFields) -> Names<'a> {
    Names {
        request_id: id,
        tenant_name: t.name.as_str(),
        short_name: t.short_name.as_str(),
        upn_suffix: t.upn_suffix.as_str(),
    }
}

/// Refuses a submission whose names another request or a tenant holds (`taken`, read before),
/// then takes them in this process for the time of its hash: the database takes them for good
/// in the storing transaction.
fn refuse_taken_names(
    services: &Services,
    taken: Option<NameKind>,
    names: &Names<'_>,
    idempotency: Option<&Idempotency>,
) -> Result<InHand, SubmitError> {
    if let Some(kind) = taken {
        return Err(SubmitError::Taken(kind));
    }
    let retry_of = idempotency.map(|i| format!("{}\n{}\n{}", i.actor_id, i.key, i.fingerprint));
    services
        .names_in_hand
        .take(names, retry_of)
        .map_err(SubmitError::Taken)
}

/// The names of the submissions this process is hashing for now. A duplicate sent to the same
/// process meanwhile is refused at once, before it costs a hash, without a transaction of its
/// own; one sent to another process at the same moment costs a hash and is refused by the
/// storing transaction. Nothing here is needed for correctness, only to save hashes.
#[derive(Debug, Default)]
pub struct NamesInHand(Mutex<HashMap<(NameKind, String), Option<String>>>);

/// Names taken by [`NamesInHand::take`], given back when dropped.
#[derive(Debug)]
pub struct InHand {
    names: Arc<NamesInHand>,
    keys: Vec<(NameKind, String)>,
}

impl NamesInHand {
    /// Takes the names unless another submission has one; a retry of the same submission (the
    /// same sender, idempotency key and body: `retry_of`) may share them.
    fn take(
        self: &Arc<Self>,
        names: &Names<'_>,
        retry_of: Option<String>,
    ) -> Result<InHand, NameKind> {
        let keys = names.keyed().to_vec();
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for key in &keys {
            if let Some(holder) = held.get(key)
                && (holder.is_none() || *holder != retry_of)
            {
                return Err(key.0);
            }
        }
        for key in &keys {
            held.insert(key.clone(), retry_of.clone());
        }
        Ok(InHand {
            names: self.clone(),
            keys,
        })
    }
}

impl Drop for InHand {
    fn drop(&mut self) {
        let mut held = self.names.0.lock().unwrap_or_else(|e| e.into_inner());
        for key in &self.keys {
            held.remove(key);
        }
    }
}

/// A request of `template` for the tenant and contact `t` and `c`, ready to store but for its
/// status, times and placement; it holds its names for as long as it is open.
pub(super) fn new_request(
    id: &str,
    template: &TemplateRow,
    (t, c): (&TenantFields, &ContactFields),
    (admin_password_hash, admin_email): (String, Option<&EmailAddress>),
    submitted_by: Option<String>,
    audit: Option<portal_store::audit::AuditEntry>,
) -> NewRequest {
    NewRequest {
        id: id.to_owned(),
        status: RequestStatus::Accepted,
        template_id: template.id.clone(),
        template_version: template.version,
        tenant_name: t.name.to_string(),
        short_name: t.short_name.to_string(),
        upn_suffix: t.upn_suffix.to_string(),
        admin_user_name: t.admin_user_name.to_string(),
        admin_personnel_id: t.admin_personnel_id().to_string(),
        admin_password_hash,
        admin_email: admin_email.map(|e| e.as_str().to_owned()),
        ani: t.ani.to_string(),
        contact_first_name: c.first_name.to_string(),
        contact_last_name: c.last_name.to_string(),
        contact_email: c.email.to_string(),
        contact_phone: c.phone.as_ref().map(ToString::to_string),
        contact_company: c.company.as_ref().map(ToString::to_string),
        contact_address: c.address.as_ref().map(ToString::to_string),
        submitted_by,
        submitted_at: 0,
        scheduled_for: None,
        window_cap: None,
        audit,
        names: NameHold::Open,
        links: Vec::new(),
        mail: None,
    }
}

/// Weighs the password's strength and hashes it, both on the hashing threads (the estimate
/// of a crafted password takes a core for half a second): the hash, empty when the
/// administrator is invited, or the password's problem when it is too easy to guess.
pub(super) async fn hash_typed(
    services: &Services,
    password: Option<PasswordCandidate>,
) -> Result<Result<String, FieldProblem>, ServiceError> {
    let Some(candidate) = password else {
        return Ok(Ok(String::new()));
    };
    let weighed = services.hasher.weigh_and_hash(candidate).await?;
    match weighed {
        Ok(hash) => Ok(Ok(hash.map_err(ServiceError::Internal)?)),
        Err(error) => Ok(Err(FieldProblem {
            field: "tenant.password",
            error,
        })),
    }
}

/// A submission's tenant and contact, and its administrator's password and address.
type SubmittedFields<'a> = (
    (&'a TenantFields, &'a ContactFields),
    (Option<PasswordCandidate>, Option<EmailAddress>),
);

/// Hashes the password and stores the request: the request as stored, or `None` when a
/// concurrent retry with the same idempotency key stored first.
async fn hash_and_store(
    services: &Services,
    (actor, policy): (&Actor, &super::policy::PolicyDoc),
    id: &str,
    template: &TemplateRow,
    ((t, c), (password, admin_email)): SubmittedFields<'_>,
    idempotency: Option<&Idempotency>,
) -> Result<Option<NewRequest>, SubmitError> {
    let hash = hash_typed(services, password)
        .await?
        .map_err(|problem| SubmitError::Invalid(vec![problem]))?;
    let mut request = new_request(
        id,
        template,
        (t, c),
        (hash, admin_email.as_ref()),
        Some(actor.id.clone()),
        Some(super::audit::entry(
            Some(actor),
            portal_domain::AuditAction::RequestSubmitted,
            None,
            Some(id),
            Some(format!("{} from template {}", t.name.as_str(), template.id)),
        )),
    );
    // A capped window may fill between placing and storing: place again, a few times.
    for _ in 0..5 {
        let now = portal_store::now_ms();
        let placement = super::policy::place_by(services, policy, now).await?;
        request.status = placement.status;
        request.submitted_at = now;
        request.scheduled_for = placement.scheduled_for;
        request.window_cap = placement.window_cap;
        let job = super::provision::job_for(
            id,
            placement.scheduled_for.unwrap_or(now),
            services.provision_attempts,
        )?;
        match services
            .store
            .submit_request(&request, &job, idempotency)
            .await
        {
            Ok(()) => return Ok(Some(request)),
            Err(StoreError::Conflict(Conflict::WindowFull)) => continue,
            Err(StoreError::Conflict(Conflict::NameTaken(kind))) => {
                return Err(SubmitError::Taken(kind));
            }
            Err(StoreError::Conflict(Conflict::IdempotencyKeyReused)) => return Ok(None),
            Err(e) => return Err(ServiceError::from(e).into()),
        }
    }
    Err(ServiceError::Unavailable.into())
}

/// One request with its steps, if the actor may see it.
pub async fn get_request(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<RequestDetail, ServiceError> {
    actor.require(portal_domain::Permission::ReadRequests)?;
    let request = services.store.get_request(id).await?;
    if !actor.can_see_tenant(request.tenant_id.as_deref()) {
        return Err(ServiceError::NotFound);
    }
    let steps = services.store.request_steps(id).await?;
    let events = services.store.request_events(id).await?;
    Ok(RequestDetail {
        request,
        steps,
        events,
    })
}

/// A page of requests, newest first, and the cursor of the next page.
pub async fn list_requests(
    services: &Services,
    actor: &Actor,
    filter: RequestFilter,
) -> Result<(Vec<RequestRow>, Option<String>), ServiceError> {
    // Requests belong to the provider's staff; a tenant sees its own through its tenant.
    actor.require(portal_domain::Permission::ReadRequests)?;
    let limit = filter.limit;
    let rows = services
        .store
        .list_requests(&RequestFilter {
            limit: limit + 1,
            ..filter
        })
        .await?;
    Ok(super::page_of(rows, limit, |r| &r.id))
}

/// Why a staff action was refused.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The request's status does not allow the action; names both.
    #[error(transparent)]
    NotAllowed(#[from] TransitionError),
    /// Retrying needs the request's names again, and one is now taken.
    #[error("the {} is already taken", .0.label())]
    Taken(NameKind),
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// A finished request's outcome email, made again as the request stands now.
async fn outcome_again(
    services: &Services,
    request: &portal_store::request::RequestRow,
) -> Result<portal_store::mail::NewMail, ServiceError> {
    Ok(match request.status {
        RequestStatus::Completed => {
            let login = portal_domain::field::login_id_as_typed(
                &request.admin_personnel_id,
                &request.upn_suffix,
            );
            let template = services.store.get_template(&request.template_id).await?;
            // An administrator still to choose a password was invited: say where to.
            let invited = services
                .store
                .find_user_by_username(&request.admin_login())
                .await
                .map_err(ServiceError::from)?
                .filter(|admin| admin.status == portal_domain::AccountStatus::Invited)
                .map(|admin| admin.email.unwrap_or_else(|| request.contact_email.clone()));
            crate::mail::outcome_mail(
                &services.mailer,
                request,
                crate::mail::Outcome::Completed {
                    login_id: &login,
                    smart_queues: template.offers(super::provision::SMART_QUEUES),
                    invited: invited.as_deref(),
                },
            )
        }
        _ => {
            let error = request
                .error
                .as_ref()
                .map(|e| e.message().to_owned())
                .unwrap_or_default();
            crate::mail::outcome_mail(
                &services.mailer,
                request,
                crate::mail::Outcome::Failed { error: &error },
            )
        }
    })
}

/// Sends a finished request's outcome email again (staff who act on requests): exactly one
/// new message, as the request stands now, recorded in the audit log. An administrator who
/// was invited is not sent another invitation: the message names the address it went to.
#[tracing::instrument(skip_all, fields(request.id = %id))]
pub async fn resend_outcome(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<String, ActionError> {
    actor.require(portal_domain::Permission::ActOnRequests)?;
    let request = get_request(services, actor, id).await?.request;
    request.status.resend_outcome()?;
    let mail = outcome_again(services, &request).await?;
    let audit = super::audit::entry(
        Some(actor),
        portal_domain::AuditAction::OutcomeEmailResent,
        request.tenant_id.as_deref(),
        Some(&request.id),
        Some(format!("to {}", request.contact_email)),
    );
    services
        .store
        .queue_mail_with_audit(&mail, &audit)
        .await
        .map_err(ServiceError::from)?;
    services.jobs_ready.notify_one();
    info!("outcome email sent again");
    Ok(mail.id)
}

/// The most a rejection's reason may hold.
pub const REASON_MAX_CHARS: usize = 1000;

/// A staff action on a request: `reschedule` needs `at` (epoch milliseconds), `reject` a
/// `reason` (emailed to the contact). The status decides whether it is allowed; the change
/// and who made it are kept as an event.
#[tracing::instrument(skip_all, fields(request.id = %id, action = %action))]
pub async fn act_on_request(
    services: &Services,
    actor: &Actor,
    id: &str,
    action: StaffAction,
    at: Option<i64>,
    reason: Option<&str>,
) -> Result<RequestDetail, ActionError> {
    actor.require(portal_domain::Permission::ActOnRequests)?;
    let current = services
        .store
        .get_request(id)
        .await
        .map_err(ServiceError::from)?;
    let transition = transition_of(services, current.status, action).await?;
    let reason = reason_of(action, reason)?;
    let mail = reason
        .as_deref()
        .map(|reason| crate::mail::rejection_mail(&services.mailer, &current, reason));
    // A capped window may fill between placing and storing: place again, a few times.
    for _ in 0..5 {
        let now = portal_store::now_ms();
        let job = super::provision::job_for(id, now, services.provision_attempts)?;
        let (transition, run) = plan(services, action, transition, at, &job, now).await?;
        let audit = action_audit(actor, action, id, &transition, reason.as_deref());
        let change = RequestMove {
            actor_id: Some(&actor.id),
            run,
            reason: reason.as_deref(),
            audit: Some(&audit),
            mail: mail.as_ref(),
            ..RequestMove::new(id, transition, now)
        };
        match services.store.move_request(&change).await {
            Ok(()) => {
                services.jobs_ready.notify_one();
                info!("action taken");
                return Ok(get_request(services, actor, id).await?);
            }
            Err(StoreError::Conflict(Conflict::WindowFull)) => continue,
            Err(StoreError::Conflict(Conflict::NameTaken(kind))) => {
                return Err(ActionError::Taken(kind));
            }
            Err(StoreError::Conflict(Conflict::StatusMoved(status))) => {
                return Err(TransitionError {
                    from: status,
                    action: action.participle(),
                }
                .into());
            }
            Err(e) => return Err(ServiceError::from(e).into()),
        }
    }
    Err(ServiceError::Unavailable.into())
}

/// What `action` does from `status`.
async fn transition_of(
    services: &Services,
    status: RequestStatus,
    action: StaffAction,
) -> Result<Transition, ActionError> {
    Ok(match action {
        // Staff vouch for the domain: the request goes on as if its record had been seen.
        StaffAction::VerifyDomain => {
            let policy = super::registration::get_policy(services).await?;
            status.verify_domain(policy.approval() == super::registration::Approval::Manual)?
        }
        _ => status.act(action)?,
    })
}

/// A rejection's reason, checked; `None` for the other actions.
fn reason_of(action: StaffAction, reason: Option<&str>) -> Result<Option<String>, ActionError> {
    if action != StaffAction::Reject {
        return Ok(None);
    }
    let reason = reason.map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(ActionError::BadInput(
            "Give a reason for turning the request down: it is emailed to the contact.".into(),
        ));
    }
    if reason.chars().count() > REASON_MAX_CHARS
        || reason
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r')
        || portal_domain::field::hidden_character(reason).is_some()
    {
        return Err(ActionError::BadInput(format!(
            "The reason must be printable text of at most {REASON_MAX_CHARS} characters."
        )));
    }
    Ok(Some(reason.to_owned()))
}

/// When the request's job runs after the action, and where an approval places it.
async fn plan<'a>(
    services: &Services,
    action: StaffAction,
    transition: Transition,
    at: Option<i64>,
    job: &'a portal_store::job::NewJob,
    now: i64,
) -> Result<(Transition, Option<Run<'a>>), ActionError> {
    let run = |at: i64, scheduled_for: Option<i64>| Run {
        at,
        scheduled_for,
        window_cap: None,
        job,
    };
    Ok(match action {
        StaffAction::Reschedule => {
            let at = at.ok_or_else(|| {
                ActionError::BadInput("reschedule needs \"at\", an RFC 3339 time".into())
            })?;
            if at <= now {
                return Err(ActionError::BadInput("\"at\" must be in the future".into()));
            }
            (transition, Some(run(at, Some(at))))
        }
        StaffAction::Retry | StaffAction::RunNow => (transition, Some(run(now, None))),
        StaffAction::VerifyDomain if transition.to == RequestStatus::PendingApproval => {
            (transition, None)
        }
        StaffAction::Approve | StaffAction::VerifyDomain => {
            let placement = super::policy::place(services, now).await?;
            let start = placement.scheduled_for.unwrap_or(now);
            let run = Run {
                window_cap: placement.window_cap,
                ..run(start, placement.scheduled_for)
            };
            (transition.placed(placement.status), Some(run))
        }
        StaffAction::Cancel | StaffAction::Reject => (transition, None),
    })
}

/// The audit entry of a staff action: who moved the request from where to where, and why.
fn action_audit(
    actor: &Actor,
    action: StaffAction,
    id: &str,
    transition: &Transition,
    reason: Option<&str>,
) -> portal_store::audit::AuditEntry {
    let moved = format!("{} → {}", transition.from.label(), transition.to.label());
    super::audit::entry(
        Some(actor),
        action.audit_action(),
        None,
        Some(id),
        Some(match reason {
            Some(reason) => format!("{moved}: {reason}"),
            None => moved,
        }),
    )
}
