//! Self-service registration: a prospect's request from the public page or API, confirmed by
//! a single-use link to the contact address, then approved or provisioned as the provider's
//! self-service policy says. Public answers never tell whether a name is taken: that is
//! reported by email once the address is confirmed.

use portal_domain::schedule::PolicyProblem;
use portal_domain::submission::{
    ContactFields, FieldProblem, RawSubmission, Submission, TenantFields,
};
use portal_domain::template::TemplateStatus;
use portal_domain::{ErrorNote, FieldError, FieldErrorCode, NameKind, RequestStatus, Transition};
use portal_store::guard::GuardRule;
use portal_store::intake::NewRequest;
use portal_store::job::NewJob;
use portal_store::link::{LinkPurpose, LinkRow, NewLink};
use portal_store::mail::NewMail;
use portal_store::names::NameHold;
use portal_store::registration::{Admission, Confirmed, LinkRefusal};
use portal_store::request::{RequestRow, StepRow};
use portal_store::template::TemplateRow;
use portal_store::{Conflict, StoreError};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::policy::Placement;
use super::{Actor, ServiceError, Services};
use crate::token;

const KEY: &str = "self_service";

/// How long a prospect's status page link works.
const STATUS_LINK_MS: i64 = 90 * 24 * 60 * 60_000;

/// Submissions from one client address: twenty pass, then a minute's lock doubling up to an hour;
/// an hour without one forgets them.
pub const CLIENT_GUARD: GuardRule = GuardRule {
    free_failures: 20,
    first_lock_ms: 60_000,
    max_lock_ms: 60 * 60_000,
    forget_after_ms: 60 * 60_000,
};

/// Submissions for one contact address, from anywhere: three pass, then ten minutes' lock
/// doubling up to a day; a day without one forgets them.
pub const EMAIL_GUARD: GuardRule = GuardRule {
    free_failures: 3,
    first_lock_ms: 10 * 60_000,
    max_lock_ms: 24 * 60 * 60_000,
    forget_after_ms: 24 * 60 * 60_000,
};

/// Confirmations from one client address: sixty pass, then a minute's lock doubling up to an
/// hour; ten minutes without one forget them.
pub const LINK_GUARD: GuardRule = GuardRule {
    free_failures: 60,
    first_lock_ms: 60_000,
    max_lock_ms: 60 * 60_000,
    forget_after_ms: 10 * 60_000,
};

/// The provider's self-service policy as the API shows and takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelfServiceDoc {
    /// `manual`: a landlord administrator approves each confirmed request; `automatic`: a
    /// confirmed request goes straight to provisioning.
    pub approval: String,
    /// How long a confirmation link works, 1 to 168 hours; an unconfirmed request expires then.
    pub verification_hours: i64,
    /// Contact email domains refused (disposable ones); a subdomain is refused too.
    pub refused_email_domains: Vec<String>,
    /// `off`, or `required`: a confirmed request waits until its UPN suffix's owner publishes
    /// a DNS TXT record (`_portal-verify.<upn suffix>`) before it goes on. Left out of a
    /// change, it stays as it was.
    #[serde(default)]
    pub domain_verification: String,
}

fn domain_verification_off() -> String {
    DomainVerification::Off.as_str().to_owned()
}

impl Default for SelfServiceDoc {
    fn default() -> Self {
        Self {
            approval: "manual".into(),
            verification_hours: 24,
            refused_email_domains: [
                "mailinator.com",
                "guerrillamail.com",
                "sharklasers.com",
                "10minutemail.com",
                "temp-mail.org",
                "yopmail.com",
                "trashmail.com",
                "dispostable.com",
                "maildrop.cc",
                "getnada.com",
            ]
            .map(str::to_owned)
            .to_vec(),
            domain_verification: domain_verification_off(),
        }
    }
}

portal_domain::text_enum! {
    /// Who lets a confirmed self-service request go on.
    pub enum Approval as "approval" {
        /// A landlord administrator, one request at a time.
        Manual = "manual",
        /// Nobody: it goes straight to provisioning.
        Automatic = "automatic",
    }
}

portal_domain::text_enum! {
    /// Whether a self-service request must prove it owns its UPN suffix before it goes on.
    pub enum DomainVerification as "domain verification" {
        Off = "off",
        Required = "required",
    }
}

impl SelfServiceDoc {
    /// Whether confirmed requests wait for their domain (a stored policy is always checked).
    pub fn domain_required(&self) -> bool {
        self.domain_verification.parse() == Ok(DomainVerification::Required)
    }

    /// Who approves, as the policy says. Only `manual` waits for a person (a stored policy is
    /// always checked, so nothing else reaches here but `automatic`).
    pub fn approval(&self) -> Approval {
        match self.approval.parse() {
            Ok(Approval::Manual) => Approval::Manual,
            _ => Approval::Automatic,
        }
    }

    /// The policy's rules; the domains come back trimmed and lowercase.
    /// The problems of the policy's two choices.
    fn choice_problems(&self) -> Vec<PolicyProblem> {
        let mut problems = Vec::new();
        if self.approval.parse::<Approval>().is_err() {
            problems.push(PolicyProblem {
                field: "approval",
                message: "approval must be manual or automatic.".into(),
            });
        }
        if self
            .domain_verification
            .parse::<DomainVerification>()
            .is_err()
        {
            problems.push(PolicyProblem {
                field: "domain_verification",
                message: "domain_verification must be off or required.".into(),
            });
        }
        problems
    }

    pub fn check(mut self) -> Result<Self, Vec<PolicyProblem>> {
        let mut problems = self.choice_problems();
        if !(1..=168).contains(&self.verification_hours) {
            problems.push(PolicyProblem {
                field: "verification_hours",
                message: "verification_hours must be a whole number from 1 to 168.".into(),
            });
        }
        if self.refused_email_domains.len() > 1000 {
            problems.push(PolicyProblem {
                field: "refused_email_domains",
                message: "At most 1,000 refused email domains.".into(),
            });
        }
        let mut domains = Vec::with_capacity(self.refused_email_domains.len());
        for domain in &self.refused_email_domains {
            let d = domain.trim().trim_start_matches('@').to_lowercase();
            let plausible = !d.is_empty()
                && d.len() <= 253
                && d.contains('.')
                && !d.starts_with('.')
                && !d.ends_with('.')
                && !d.contains("..")
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !plausible {
                problems.push(PolicyProblem {
                    field: "refused_email_domains",
                    message: format!(
                        "{:?} is not a domain such as mailinator.com.",
                        domain.chars().take(60).collect::<String>()
                    ),
                });
                break;
            }
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        self.refused_email_domains = domains;
        Ok(self)
    }

    /// Whether `email`'s domain, or a domain it is under, is refused.
    pub fn refuses(&self, email: &str) -> bool {
        let Some((_, domain)) = email.rsplit_once('@') else {
            return false;
        };
        let domain = domain.to_lowercase();
        self.refused_email_domains.iter().any(|refused| {
            domain == *refused
                || domain
                    .strip_suffix(refused.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        })
    }
}

pub async fn get_policy(services: &Services) -> Result<SelfServiceDoc, ServiceError> {
    let mut doc: SelfServiceDoc = super::policy::read_setting(services, KEY).await?;
    // Stored before the setting existed: off.
    if doc.domain_verification.is_empty() {
        doc.domain_verification = domain_verification_off();
    }
    Ok(doc)
}

/// Sets the self-service policy after checking it (landlord administrators).
pub async fn put_policy(
    services: &Services,
    actor: &Actor,
    doc: SelfServiceDoc,
) -> Result<Result<SelfServiceDoc, Vec<PolicyProblem>>, ServiceError> {
    actor.require(portal_domain::Permission::ChangeSettings)?;
    let mut doc = doc;
    if doc.domain_verification.trim().is_empty() {
        // A client that does not know the setting leaves it as it is.
        doc.domain_verification = get_policy(services).await?.domain_verification;
    }
    let doc = match doc.check() {
        Ok(doc) => doc,
        Err(problems) => return Ok(Err(problems)),
    };
    let detail = format!(
        "approval {}, links valid {} h, {} refused domains, domain verification {}",
        doc.approval,
        doc.verification_hours,
        doc.refused_email_domains.len(),
        doc.domain_verification
    );
    super::policy::write_setting(
        services,
        actor,
        KEY,
        &doc,
        portal_domain::AuditAction::SelfServicePolicyChanged,
        Some(detail),
    )
    .await?;
    info!(approval = %doc.approval, "self-service policy set");
    Ok(Ok(doc))
}

/// The active templates offered to prospects.
pub async fn public_templates(services: &Services) -> Result<Vec<TemplateRow>, ServiceError> {
    Ok(services
        .store
        .list_active_templates()
        .await?
        .into_iter()
        .filter(|t| t.public)
        .collect())
}

/// Offers a template publicly, or stops (landlord administrators).
pub async fn set_template_public(
    services: &Services,
    actor: &Actor,
    id: &str,
    public: bool,
) -> Result<TemplateRow, ServiceError> {
    actor.require(portal_domain::Permission::ChangeTemplates)?;
    let audit = super::audit::entry(
        Some(actor),
        if public {
            portal_domain::AuditAction::TemplateMadePublic
        } else {
            portal_domain::AuditAction::TemplateMadePrivate
        },
        None,
        Some(id),
        None,
    );
    services
        .store
        .set_template_public(id, public, &audit)
        .await?;
    Ok(services.store.get_template(id).await?)
}

#[derive(Debug, thiserror::Error)]
pub enum PublicError {
    /// Fields broke their rules; every one is listed.
    #[error("some fields are invalid")]
    Invalid(Vec<FieldProblem>),
    /// Too many submissions from the client or for the contact address.
    #[error("too many registrations; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

fn throttled(wait_ms: i64) -> PublicError {
    PublicError::Throttled {
        retry_after_secs: portal_store::guard::retry_after_secs(wait_ms),
    }
}

/// Counts one use of a public endpoint against the client's address, under `scope`;
/// `Throttled` when it is locked.
pub(super) async fn take_turn(
    services: &Services,
    scope: &str,
    rule: GuardRule,
) -> Result<(), PublicError> {
    let client = super::audit::client_key().unwrap_or_else(|| "unknown".to_owned());
    count(services, scope, &client, rule).await
}

async fn count(
    services: &Services,
    scope: &str,
    subject: &str,
    rule: GuardRule,
) -> Result<(), PublicError> {
    services
        .store
        .take_sign_in_attempt(&[(scope, subject, rule)], portal_store::now_ms())
        .await
        .map_err(ServiceError::from)?
        .map_err(throttled)
}

fn field_problem(field: &'static str, code: FieldErrorCode, message: &str) -> PublicError {
    PublicError::Invalid(vec![FieldProblem {
        field,
        error: FieldError::new(code, message),
    }])
}

/// Epoch milliseconds as a time people read in an email.
pub(super) fn readable(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Takes a prospect's request. The answer is the same whether its names are free or not: a
/// new id, pending verification. The contact address gets the confirmation link. With the
/// honeypot filled the answer is the same too, and nothing is kept or sent.
#[tracing::instrument(skip_all, fields(request.id))]
pub async fn submit(
    services: &Services,
    raw: RawSubmission,
    honeypot_filled: bool,
) -> Result<Registered, PublicError> {
    take_turn(services, "registration_client", CLIENT_GUARD).await?;
    if honeypot_filled {
        info!("a registration with the honeypot filled was dropped");
        return Ok(Registered {
            id: portal_store::new_id(),
            status_token: token::new_token(),
        });
    }
    let Submission {
        template_id,
        tenant: t,
        contact: c,
        password,
        admin_email,
    } = raw.parse().map_err(PublicError::Invalid)?;
    let policy = get_policy(services).await?;
    if policy.refuses(c.email.as_str()) {
        return Err(field_problem(
            "contact.email",
            FieldErrorCode::Invalid,
            "Addresses at this email domain are not accepted; use your work address.",
        ));
    }
    let template = offered_template(services, &template_id).await?;
    // One mailbox counts once, however its address is written (`ann+1@`, `a.n.n@gmail.com`).
    let email_key = c.email.mailbox_key();
    count(services, "registration_email", &email_key, EMAIL_GUARD).await?;

    let id = portal_store::new_id();
    tracing::Span::current().record("request.id", id.as_str());
    let now = portal_store::now_ms();
    let expires_at = now + policy.verification_hours * 60 * 60_000;
    let hash = super::request::hash_typed(services, password)
        .await?
        .map_err(|problem| PublicError::Invalid(vec![problem]))?;
    let (mut request, status_token) = prospect_request(
        services,
        &id,
        &template,
        (&t, &c),
        (hash, admin_email.as_ref()),
        now,
        expires_at,
    )?;
    // Nobody's names are held by an address not yet confirmed: they are taken when it is,
    // and until then a staff submission of the same names wins (the prospect then learns
    // that a name is taken, by email, once the address is confirmed).
    request.names = NameHold::None;
    store_prospect(services, &request, expires_at).await?;
    services.jobs_ready.notify_one();
    info!("registration received");
    Ok(Registered { id, status_token })
}

/// A prospect's request as received: its id, and the token of its status link (also in the
/// email), which lets the prospect have the confirmation sent again.
#[derive(Debug, Clone)]
pub struct Registered {
    pub id: String,
    pub status_token: String,
}

/// Stores the prospect's request with its expiry job.
async fn store_prospect(
    services: &Services,
    request: &NewRequest,
    expires_at: i64,
) -> Result<(), PublicError> {
    let expiry = crate::jobs::ExpireRegistration {
        request_id: request.id.clone(),
    };
    let job = crate::jobs::new_job(&expiry, expires_at, 20)?;
    services
        .store
        .submit_request(request, &job, None)
        .await
        .map_err(ServiceError::from)?;
    Ok(())
}

/// An active template on offer to the public; retired, private and unknown ones are all the
/// same to the public.
async fn offered_template(services: &Services, id: &str) -> Result<TemplateRow, PublicError> {
    match services.store.get_template(id).await {
        Ok(t) if t.status == TemplateStatus::Active && t.public => Ok(t),
        Ok(_) | Err(StoreError::NotFound) => Err(field_problem(
            "template_id",
            FieldErrorCode::NotFound,
            "There is no template service package with this id on offer.",
        )),
        Err(e) => Err(ServiceError::from(e).into()),
    }
}

/// A prospect's request, pending verification, with its two links and the email that
/// carries them; and the status link's token.
fn prospect_request(
    services: &Services,
    id: &str,
    template: &TemplateRow,
    (t, c): (&TenantFields, &ContactFields),
    admin: (String, Option<&portal_domain::field::EmailAddress>),
    now: i64,
    expires_at: i64,
) -> Result<(NewRequest, String), PublicError> {
    let verify_token = token::new_token();
    let status_token = token::new_token();
    let mail = crate::mail::verification_mail(
        &services.mailer,
        crate::mail::Recipient {
            request_id: id,
            first_name: c.first_name.as_str(),
            tenant_name: t.name.as_str(),
            email: c.email.as_str(),
        },
        &template.name,
        &verify_token,
        &status_token,
        &readable(expires_at),
    );
    let audit = super::audit::entry(
        None,
        portal_domain::AuditAction::RegistrationSubmitted,
        None,
        Some(id),
        Some(format!("{} from template {}", t.name.as_str(), template.id)),
    );
    let mut request = super::request::new_request(id, template, (t, c), admin, None, Some(audit));
    request.status = RequestStatus::PendingVerification;
    request.submitted_at = now;
    request.links = vec![
        NewLink {
            token_hash: token::token_hash(&verify_token),
            purpose: LinkPurpose::Verify,
            expires_at,
        },
        NewLink {
            token_hash: token::token_hash(&status_token),
            purpose: LinkPurpose::Status,
            expires_at: now + STATUS_LINK_MS,
        },
    ];
    request.mail = Some(mail);
    Ok((request, status_token))
}

/// A link's state, for the page it opens: its request, or why it does not work.
pub async fn open_link(
    services: &Services,
    token: &str,
    purpose: LinkPurpose,
) -> Result<Result<(LinkRow, RequestRow, Vec<StepRow>), LinkRefusal>, PublicError> {
    if token.len() > 128
        || !token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Ok(Err(LinkRefusal::Unknown));
    }
    let Some(link) = services
        .store
        .find_link(&token::token_hash(token))
        .await
        .map_err(ServiceError::from)?
        .filter(|l| l.purpose == purpose)
    else {
        return Ok(Err(LinkRefusal::Unknown));
    };
    let request = services
        .store
        .get_request(&link.request_id)
        .await
        .map_err(ServiceError::from)?;
    let now = portal_store::now_ms();
    if purpose == LinkPurpose::Verify {
        if let Some(refusal) = portal_store::registration::verify_refusal(&link, &request, now) {
            return Ok(Err(refusal));
        }
    } else if link.expires_at <= now {
        return Ok(Err(LinkRefusal::Expired));
    }
    let steps = services
        .store
        .request_steps(&request.id)
        .await
        .map_err(ServiceError::from)?;
    Ok(Ok((link, request, steps)))
}

/// Confirms the contact address with the token of a verification link. The request then
/// waits for approval or is placed by the provisioning policy; a name taken meanwhile
/// rejects it, and the contact is told by email. Returns the request as it now is and the
/// token of a fresh link to its status page.
#[tracing::instrument(skip_all, fields(request.id))]
pub async fn confirm(
    services: &Services,
    token: &str,
) -> Result<Result<(RequestRow, String), LinkRefusal>, PublicError> {
    take_turn(services, "registration_link_client", LINK_GUARD).await?;
    let (link, request, _) = match open_link(services, token, LinkPurpose::Verify).await? {
        Ok(found) => found,
        Err(refusal) => return Ok(Err(refusal)),
    };
    tracing::Span::current().record("request.id", link.request_id.as_str());
    let policy = get_policy(services).await?;
    let needs_approval = policy.approval() == Approval::Manual;
    let domain_token = policy.domain_required().then(token::new_token);
    let name_taken = |kind: NameKind| -> (NewMail, String) {
        let mail = crate::mail::conflict_mail(&services.mailer, &request, kind.label());
        (mail, format!("{} is already taken", kind.field()))
    };
    let audit = confirmation_audit(&request);
    let status_token = token::new_token();
    let status_link = NewLink {
        token_hash: token::token_hash(&status_token),
        purpose: LinkPurpose::Status,
        expires_at: portal_store::now_ms() + STATUS_LINK_MS,
    };
    // A capped window may fill between placing and storing: place again, a few times.
    for _ in 0..5 {
        let now = portal_store::now_ms();
        let (transition, placement, job) = match &domain_token {
            Some(_) => awaiting_domain(&request, now)?,
            None => where_it_goes(services, &request, needs_approval, now).await?,
        };
        let admission = Admission {
            transition,
            scheduled_for: placement.and_then(|p| p.scheduled_for),
            window_cap: placement.and_then(|p| p.window_cap),
            job: job.as_ref(),
            name_taken: &name_taken,
            audit: &audit,
            status_link: &status_link,
            domain_token: domain_token.as_deref(),
        };
        match services
            .store
            .confirm_registration(&token::token_hash(token), &admission, now)
            .await
        {
            Ok(Ok(confirmed)) => {
                return confirmed_now(services, &request.id, confirmed, status_token).await;
            }
            Ok(Err(refusal)) => return Ok(Err(refusal)),
            Err(StoreError::Conflict(Conflict::WindowFull)) => continue,
            Err(e) => return Err(ServiceError::from(e).into()),
        }
    }
    Err(ServiceError::Unavailable.into())
}

fn confirmation_audit(request: &RequestRow) -> portal_store::audit::AuditEntry {
    super::audit::entry(
        None,
        portal_domain::AuditAction::RegistrationConfirmed,
        None,
        Some(&request.id),
        Some(format!(
            "contact address confirmed for {}",
            request.tenant_name
        )),
    )
}

/// A confirmed request that must first prove its domain: it waits, and its first check comes
/// at once.
fn awaiting_domain(
    request: &RequestRow,
    now: i64,
) -> Result<(Transition, Option<Placement>, Option<NewJob>), PublicError> {
    let waiting = request
        .status
        .verify_awaiting_domain()
        .map_err(|e| ServiceError::Internal(e.into()))?;
    Ok((
        waiting,
        None,
        Some(super::domain::check_job(&request.id, now)?),
    ))
}

/// Where a confirmed request goes: on to approval, or, placed by the provisioning policy,
/// straight on with its provisioning job.
async fn where_it_goes(
    services: &Services,
    request: &RequestRow,
    needs_approval: bool,
    now: i64,
) -> Result<(Transition, Option<Placement>, Option<NewJob>), PublicError> {
    let verified = request
        .status
        .verify(needs_approval)
        .map_err(|e| ServiceError::Internal(e.into()))?;
    if needs_approval {
        return Ok((verified, None, None));
    }
    let placement = super::policy::place(services, now).await?;
    let job = super::provision::job_for(
        &request.id,
        placement.scheduled_for.unwrap_or(now),
        services.provision_attempts,
    )?;
    Ok((
        verified.placed(placement.status),
        Some(placement),
        Some(job),
    ))
}

/// The request as confirming left it, with the token of its fresh status link.
async fn confirmed_now(
    services: &Services,
    request_id: &str,
    confirmed: Confirmed,
    status_token: String,
) -> Result<Result<(RequestRow, String), LinkRefusal>, PublicError> {
    services.jobs_ready.notify_one();
    match confirmed {
        Confirmed::Admitted(status) => info!(%status, "contact address confirmed"),
        Confirmed::NameTaken(kind) => {
            info!(name = %kind, "contact address confirmed; a name is taken")
        }
    }
    let request = services
        .store
        .get_request(request_id)
        .await
        .map_err(ServiceError::from)?;
    Ok(Ok((request, status_token)))
}

/// Sends the confirmation link again, to `new_email` when the prospect corrects the address
/// (checked like the form's). `status_token` is the request's status link, which only the
/// prospect has; the request must still wait for its address to be confirmed.
#[tracing::instrument(skip_all, fields(request.id))]
pub async fn send_again(
    services: &Services,
    status_token: &str,
    new_email: Option<&str>,
) -> Result<Result<(), LinkRefusal>, PublicError> {
    take_turn(services, "registration_link_client", LINK_GUARD).await?;
    let (_, request, _) = match open_link(services, status_token, LinkPurpose::Status).await? {
        Ok(found) => found,
        Err(refusal) => return Ok(Err(refusal)),
    };
    tracing::Span::current().record("request.id", request.id.as_str());
    if let Some(refusal) = no_longer_waiting(&request) {
        return Ok(Err(refusal));
    }
    let email = match new_email {
        Some(typed) => Some(checked_email(services, typed).await?),
        None => None,
    };
    let to = email
        .clone()
        .unwrap_or_else(|| request.contact_email.clone());
    count(
        services,
        "registration_email",
        &portal_domain::field::mailbox_key(&to),
        EMAIL_GUARD,
    )
    .await?;
    let (mail, link) = fresh_verification(services, &request, &to, status_token).await?;
    let audit = super::audit::entry(
        None,
        portal_domain::AuditAction::RegistrationLinkResent,
        None,
        Some(&request.id),
        Some(
            if email.is_some() {
                "to a corrected address"
            } else {
                "to the same address"
            }
            .into(),
        ),
    );
    let now = portal_store::now_ms();
    match services
        .store
        .send_verification_again(&request.id, &link, &mail, email.as_deref(), &audit, now)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(Conflict::StatusMoved(_))) => return Ok(Err(LinkRefusal::Used)),
        Err(e) => return Err(ServiceError::from(e).into()),
    }
    services.jobs_ready.notify_one();
    info!(corrected = email.is_some(), "confirmation link sent again");
    Ok(Ok(()))
}

/// A new confirmation link for `request`, valid as long as the ones before it, and the email
/// that carries it to `to`.
async fn fresh_verification(
    services: &Services,
    request: &RequestRow,
    to: &str,
    status_token: &str,
) -> Result<(NewMail, NewLink), PublicError> {
    let expires_at = services
        .store
        .verify_link_expiry(&request.id)
        .await
        .map_err(ServiceError::from)?
        .unwrap_or_else(portal_store::now_ms);
    let verify_token = token::new_token();
    let template = super::template_display_name(services, &request.template_id).await;
    let mail = crate::mail::verification_mail(
        &services.mailer,
        crate::mail::Recipient {
            request_id: &request.id,
            first_name: &request.contact_first_name,
            tenant_name: &request.tenant_name,
            email: to,
        },
        &template,
        &verify_token,
        status_token,
        &readable(expires_at),
    );
    let link = NewLink {
        token_hash: token::token_hash(&verify_token),
        purpose: LinkPurpose::Verify,
        expires_at,
    };
    Ok((mail, link))
}

/// Why a request no longer takes a confirmation link: its address was confirmed (the link is
/// as good as used), or it ended before that.
fn no_longer_waiting(request: &RequestRow) -> Option<LinkRefusal> {
    match request.status {
        RequestStatus::PendingVerification => None,
        RequestStatus::Cancelled if request.error == Some(ErrorNote::Unconfirmed) => {
            Some(LinkRefusal::Expired)
        }
        RequestStatus::Cancelled | RequestStatus::Rejected
            if request.error != Some(ErrorNote::NameTaken) =>
        {
            Some(LinkRefusal::Closed)
        }
        _ => Some(LinkRefusal::Used),
    }
}

/// A corrected contact address, checked as the form checks it.
async fn checked_email(services: &Services, typed: &str) -> Result<String, PublicError> {
    let email =
        portal_domain::field::EmailAddress::parse_labelled(typed, "Email").map_err(|error| {
            PublicError::Invalid(vec![FieldProblem {
                field: "contact.email",
                error,
            }])
        })?;
    if get_policy(services).await?.refuses(email.as_str()) {
        return Err(field_problem(
            "contact.email",
            FieldErrorCode::Invalid,
            "Addresses at this email domain are not accepted; use your work address.",
        ));
    }
    Ok(email.as_str().to_owned())
}

/// The expiry job: a request still waiting for its address to be confirmed is cancelled and
/// frees its names.
pub async fn expire(services: &Services, request_id: &str) -> Result<(), ServiceError> {
    if services
        .store
        .expire_registration(
            request_id,
            ErrorNote::Unconfirmed.message(),
            portal_store::now_ms(),
        )
        .await?
    {
        info!(request.id = %request_id, "an unconfirmed registration expired");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_domains_cover_their_subdomains_only() {
        let doc = SelfServiceDoc {
            refused_email_domains: vec!["mailinator.com".into()],
            ..SelfServiceDoc::default()
        };
        assert!(doc.refuses("bot@mailinator.com"));
        assert!(doc.refuses("bot@EU.Mailinator.com"));
        assert!(!doc.refuses("ann@notmailinator.com"));
        assert!(!doc.refuses("ann@mailinator.com.example"));
    }

    #[test]
    fn a_policy_is_checked_and_its_domains_tidied() {
        let doc = SelfServiceDoc {
            approval: "automatic".into(),
            verification_hours: 2,
            refused_email_domains: vec![" @Spam.Example ".into(), "spam.example".into()],
            domain_verification: "required".into(),
        }
        .check()
        .unwrap();
        assert_eq!(doc.refused_email_domains, vec!["spam.example".to_owned()]);
        let problems = SelfServiceDoc {
            approval: "sometimes".into(),
            verification_hours: 0,
            refused_email_domains: vec!["not a domain".into()],
            domain_verification: "sometimes".into(),
        }
        .check()
        .unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "approval",
                "domain_verification",
                "verification_hours",
                "refused_email_domains"
            ]
        );
    }
}
