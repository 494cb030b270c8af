//! Self-service registration: a prospect's request from the public page or API, confirmed by
//! a single-use link to the contact address, then approved or provisioned as the provider's
//! self-service policy says. Public answers never tell whether a name is taken: that is
//! reported by email once the address is confirmed.

use portal_domain::schedule::PolicyProblem;
use portal_domain::submission::{FieldProblem, RawSubmission, Submission};
use portal_domain::{FieldError, FieldErrorCode, RequestStatus};
use portal_store::StoreError;
use portal_store::guard::GuardRule;
use portal_store::registration::{
    Admission, Confirmed, LinkRefusal, LinkRow, NewLink, PURPOSE_STATUS, PURPOSE_VERIFY,
};
use portal_store::request::{NameHold, Names, RequestRow, StepRow};
use portal_store::template::TemplateRow;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::{Actor, ServiceError, Services};
use crate::token;

const KEY: &str = "self_service";

/// The job that ends a request whose contact address was not confirmed in time.
pub const EXPIRE_JOB: &str = "expire_registration";

/// How long a prospect's status page link works.
const STATUS_LINK_MS: i64 = 90 * 24 * 60 * 60_000;

/// How long a submission's names are held while its password is hashed.
const NAME_HOLD_MS: i64 = 60_000;

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
        }
    }
}

impl SelfServiceDoc {
    /// The policy's rules; the domains come back trimmed and lowercase.
    pub fn check(mut self) -> Result<Self, Vec<PolicyProblem>> {
        let mut problems = Vec::new();
        if !matches!(self.approval.as_str(), "manual" | "automatic") {
            problems.push(PolicyProblem {
                field: "approval",
                message: "approval must be manual or automatic.".into(),
            });
        }
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
    super::policy::read_setting(services, KEY).await
}

/// Sets the self-service policy after checking it (landlord administrators).
pub async fn put_policy(
    services: &Services,
    actor: &Actor,
    doc: SelfServiceDoc,
) -> Result<Result<SelfServiceDoc, Vec<PolicyProblem>>, ServiceError> {
    if !actor.is_landlord() {
        return Err(ServiceError::Forbidden);
    }
    let doc = match doc.check() {
        Ok(doc) => doc,
        Err(problems) => return Ok(Err(problems)),
    };
    let detail = format!(
        "approval {}, links valid {} h, {} refused domains",
        doc.approval,
        doc.verification_hours,
        doc.refused_email_domains.len()
    );
    super::policy::write_setting(
        services,
        actor,
        KEY,
        &doc,
        "self_service_policy_changed",
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
        .filter(|t| t.public == 1)
        .collect())
}

/// Offers a template publicly, or stops (landlord administrators).
pub async fn set_template_public(
    services: &Services,
    actor: &Actor,
    id: &str,
    public: bool,
) -> Result<TemplateRow, ServiceError> {
    if !actor.is_landlord() {
        return Err(ServiceError::NotFound);
    }
    let audit = super::audit::entry(
        Some(actor),
        if public {
            "template_made_public"
        } else {
            "template_made_private"
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
        retry_after_secs: u64::try_from(wait_ms.div_euclid(1000) + 1).unwrap_or(1),
    }
}

/// Counts one use of a public endpoint against the client's address, under `scope`;
/// `Throttled` when it is locked.
async fn take_turn(services: &Services, scope: &str, rule: GuardRule) -> Result<(), PublicError> {
    let client = super::audit::client().unwrap_or_else(|| "unknown".to_owned());
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
fn readable(ms: i64) -> String {
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
) -> Result<String, PublicError> {
    take_turn(services, "registration_client", CLIENT_GUARD).await?;
    if honeypot_filled {
        info!("a registration with the honeypot filled was dropped");
        return Ok(portal_store::new_id());
    }
    let Submission {
        template_id,
        tenant: t,
        contact: c,
        password,
    } = raw.parse().map_err(PublicError::Invalid)?;
    let policy = get_policy(services).await?;
    if policy.refuses(c.email.as_str()) {
        return Err(field_problem(
            "contact.email",
            FieldErrorCode::Invalid,
            "Addresses at this email domain are not accepted; use your work address.",
        ));
    }
    let template = match services.store.get_template(&template_id).await {
        Ok(t) if t.status == "active" && t.public == 1 => t,
        // Retired, private and unknown templates are all the same to the public.
        Ok(_) | Err(StoreError::NotFound) => {
            return Err(field_problem(
                "template_id",
                FieldErrorCode::NotFound,
                "There is no template service package with this id on offer.",
            ));
        }
        Err(e) => return Err(ServiceError::from(e).into()),
    };
    let email_key = c.email.as_str().to_lowercase();
    count(services, "registration_email", &email_key, EMAIL_GUARD).await?;

    let id = portal_store::new_id();
    tracing::Span::current().record("request.id", id.as_str());
    let now = portal_store::now_ms();
    let expires_at = now + policy.verification_hours * 60 * 60_000;
    let names = Names {
        request_id: &id,
        tenant_name: t.name.as_str(),
        short_name: t.short_name.as_str(),
        upn_suffix: t.upn_suffix.as_str(),
        hold_key: None,
    };
    // Names free now are held until the link expires; taken ones are not held, and the
    // contact learns of it after confirming.
    let mut hold = match services.store.hold_names(&names, now + NAME_HOLD_MS).await {
        Ok(()) => NameHold::Until(expires_at),
        Err(StoreError::Conflict { .. }) => NameHold::None,
        Err(e) => return Err(ServiceError::from(e).into()),
    };
    // The plain password moves into the hashing task and is dropped there.
    let hashed = services.hasher.hash(password.into_string()).await;
    let hash = match hashed {
        Ok(Ok(hash)) => hash,
        Ok(Err(e)) => {
            release(services, &id).await;
            return Err(ServiceError::Internal(e).into());
        }
        Err(e) => {
            release(services, &id).await;
            return Err(ServiceError::from(e).into());
        }
    };
    let verify_token = token::new_token();
    let status_token = token::new_token();
    let mail = crate::mail::verification_mail(
        &services.mailer,
        crate::mail::Recipient {
            request_id: &id,
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
        "registration_submitted",
        None,
        Some(&id),
        Some(format!("{} from template {}", t.name.as_str(), template.id)),
    );
    let mut request =
        super::request::new_request(&id, &template, (&t, &c), hash, None, Some(audit));
    request.status = RequestStatus::PendingVerification.as_str().to_owned();
    request.submitted_at = now;
    request.names = hold;
    request.links = vec![
        NewLink {
            token_hash: token::token_hash(&verify_token),
            purpose: PURPOSE_VERIFY,
            expires_at,
        },
        NewLink {
            token_hash: token::token_hash(&status_token),
            purpose: PURPOSE_STATUS,
            expires_at: now + STATUS_LINK_MS,
        },
    ];
    request.mail = Some(mail);
    let job = portal_store::job::NewJob {
        kind: EXPIRE_JOB.to_owned(),
        subject: Some(id.clone()),
        payload: id.clone(),
        run_at: expires_at,
        max_attempts: 20,
    };
    let mut stored = services.store.submit_request(&request, &job, None).await;
    if matches!(&stored, Err(StoreError::Conflict { .. })) && hold != NameHold::None {
        // The hold lapsed and someone took a name meanwhile: keep the request without it.
        hold = NameHold::None;
        request.names = hold;
        stored = services.store.submit_request(&request, &job, None).await;
    }
    if let Err(e) = stored {
        release(services, &id).await;
        return Err(ServiceError::from(e).into());
    }
    services.jobs_ready.notify_one();
    info!(names_free = hold != NameHold::None, "registration received");
    Ok(id)
}

async fn release(services: &Services, id: &str) {
    if let Err(e) = services.store.release_names(id).await {
        warn!(error = %e, "could not release held names; they lapse on their own");
    }
}

/// A link's state, for the page it opens: its request, or why it does not work.
pub async fn open_link(
    services: &Services,
    token: &str,
    purpose: &str,
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
    if purpose == PURPOSE_VERIFY {
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

/// The label of a name's field, for messages to people.
pub fn name_label(field: &str) -> &'static str {
    match field {
        "tenant.short_name" => "short name",
        "tenant.upn_suffix" => "UPN suffix",
        _ => "tenant name",
    }
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
    let (link, request, _) = match open_link(services, token, PURPOSE_VERIFY).await? {
        Ok(found) => found,
        Err(refusal) => return Ok(Err(refusal)),
    };
    tracing::Span::current().record("request.id", link.request_id.as_str());
    let policy = get_policy(services).await?;
    let conflict =
        |field: &str| crate::mail::conflict_mail(&services.mailer, &request, name_label(field));
    let audit = super::audit::entry(
        None,
        "registration_confirmed",
        None,
        Some(&request.id),
        Some(format!(
            "contact address confirmed for {}",
            request.tenant_name
        )),
    );
    let status_token = token::new_token();
    let status_link = NewLink {
        token_hash: token::token_hash(&status_token),
        purpose: PURPOSE_STATUS,
        expires_at: portal_store::now_ms() + STATUS_LINK_MS,
    };
    // A capped window may fill between placing and storing: place again, a few times.
    for _ in 0..5 {
        let now = portal_store::now_ms();
        let placement = if policy.approval == "manual" {
            None
        } else {
            Some(super::policy::place(services, now).await?)
        };
        let job = match &placement {
            Some(p) => Some(super::provision::job_for(
                &request.id,
                p.scheduled_for.unwrap_or(now),
                services.provision_attempts,
            )?),
            None => None,
        };
        let status = match &placement {
            Some(p) => p.status,
            None => RequestStatus::PendingApproval,
        };
        let admission = Admission {
            status: status.as_str(),
            scheduled_for: placement.and_then(|p| p.scheduled_for),
            window_cap: placement.and_then(|p| p.window_cap),
            job: job.as_ref(),
            conflict_mail: &conflict,
            audit: &audit,
            status_link: &status_link,
        };
        match services
            .store
            .confirm_registration(&token::token_hash(token), &admission, now)
            .await
        {
            Ok(Ok(confirmed)) => {
                services.jobs_ready.notify_one();
                match &confirmed {
                    Confirmed::Admitted(status) => info!(%status, "contact address confirmed"),
                    Confirmed::NameTaken(field) => {
                        info!(%field, "contact address confirmed; a name is taken")
                    }
                }
                let request = services
                    .store
                    .get_request(&request.id)
                    .await
                    .map_err(ServiceError::from)?;
                return Ok(Ok((request, status_token)));
            }
            Ok(Err(refusal)) => return Ok(Err(refusal)),
            Err(StoreError::Conflict { what }) if what == "window_full" => continue,
            Err(e) => return Err(ServiceError::from(e).into()),
        }
    }
    Err(ServiceError::Unavailable.into())
}

/// The expiry job: a request still waiting for its address to be confirmed is cancelled and
/// frees its names.
pub async fn expire(services: &Services, request_id: &str) -> Result<(), ServiceError> {
    if services
        .store
        .expire_registration(request_id, portal_store::now_ms())
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
        }
        .check()
        .unwrap();
        assert_eq!(doc.refused_email_domains, vec!["spam.example".to_owned()]);
        let problems = SelfServiceDoc {
            approval: "sometimes".into(),
            verification_hours: 0,
            refused_email_domains: vec!["not a domain".into()],
        }
        .check()
        .unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            ["approval", "verification_hours", "refused_email_domains"]
        );
    }
}
