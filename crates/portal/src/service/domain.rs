//! Domain ownership of self-service requests, when the self-service policy asks for it: a
//! confirmed request waits until a TXT record `portal-verify=<token>` is published at
//! `_portal-verify.<upn suffix>` (a CNAME there to a name holding it counts too), as Microsoft
//! Entra or Google Workspace prove a domain before using it. The worker checks on a schedule;
//! the prospect may ask for a check at once; staff may vouch for the domain by hand. A resolver
//! that cannot be reached never fails a request: it waits, and says why.

use std::net::SocketAddr;
use std::time::Duration;

use portal_domain::RequestStatus;
use portal_store::StoreError;
use portal_store::action::{RequestMove, Run};
use portal_store::link::LinkPurpose;
use portal_store::registration::LinkRefusal;
use portal_store::{Conflict, request::RequestRow};
use tracing::info;

use super::{ServiceError, Services};

/// The label the record is published under, before the UPN suffix.
pub const RECORD_LABEL: &str = "_portal-verify";

/// Where domain records are looked up: the resolver named by `PORTAL_DNS_SERVER`, or the
/// system's (`/etc/resolv.conf`).
#[derive(Debug, Clone, Default)]
pub struct DnsSettings {
    pub server: Option<SocketAddr>,
}

/// The record a request's domain owner publishes: its name and its value.
pub fn record(upn_suffix: &str, token: &str) -> (String, String) {
    (
        format!("{RECORD_LABEL}.{upn_suffix}"),
        format!("portal-verify={token}"),
    )
}

/// What one look-up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The record is there with this request's value.
    Verified,
    /// Not yet: why, in words for the prospect.
    NotYet(String),
    /// The resolver could not answer: why, in words; the request waits.
    Unreachable(String),
}

impl Finding {
    pub fn note(&self) -> &str {
        match self {
            Self::Verified => "The record was found.",
            Self::NotYet(why) | Self::Unreachable(why) => why,
        }
    }
}

/// Looks the record up and compares its value.
pub async fn look_up(settings: &DnsSettings, upn_suffix: &str, token: &str) -> Finding {
    let (name, value) = record(upn_suffix, token);
    let resolver = match resolver(settings) {
        Ok(r) => r,
        Err(why) => return Finding::Unreachable(why),
    };
    // A fully qualified name: no search domains of this machine are tried.
    match resolver.txt_lookup(format!("{name}.")).await {
        Ok(found) => {
            let values: Vec<String> = found
                .iter()
                .map(|txt| {
                    txt.txt_data()
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>()
                })
                .collect();
            if values.iter().any(|v| v.trim() == value) {
                Finding::Verified
            } else {
                Finding::NotYet(format!(
                    "A TXT record is published at {name}, but not with this request's value."
                ))
            }
        }
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => {
            Finding::NotYet(format!("No TXT record is published at {name} yet."))
        }
        Err(e) => {
            tracing::warn!(error = %e, "a domain's record could not be looked up");
            Finding::Unreachable(
                "The DNS could not be asked just now; the check is tried again.".to_owned(),
            )
        }
    }
}

fn resolver(settings: &DnsSettings) -> Result<hickory_resolver::TokioResolver, String> {
    use hickory_resolver::Resolver;
    use hickory_resolver::config::{NameServerConfig, ResolverConfig};
    use hickory_resolver::name_server::TokioConnectionProvider;
    use hickory_resolver::proto::xfer::Protocol;
    let mut builder = match settings.server {
        Some(addr) => {
            let mut config = ResolverConfig::new();
            config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
            config.add_name_server(NameServerConfig::new(addr, Protocol::Tcp));
            Resolver::builder_with_config(config, TokioConnectionProvider::default())
        }
        None => Resolver::builder_tokio().map_err(|e| {
            tracing::warn!(error = %e, "the system's DNS settings could not be read");
            "The DNS could not be asked just now; the check is tried again.".to_owned()
        })?,
    };
    let options = builder.options_mut();
    options.timeout = Duration::from_secs(3);
    options.attempts = 1;
    // Every check asks afresh: a record published a minute ago counts now.
    options.cache_size = 0;
    Ok(builder.build())
}

/// How long after the request's confirmation the next scheduled check comes: every five
/// minutes the first day, then every hour for thirty days; then none, and the request ends.
fn next_check_in(waiting_ms: i64) -> Option<i64> {
    const DAY: i64 = 24 * 60 * 60_000;
    match waiting_ms {
        w if w < DAY => Some(5 * 60_000),
        w if w < 30 * DAY => Some(60 * 60_000),
        _ => None,
    }
}

/// The scheduled check of a request (the job), and the next one when it is still waiting.
pub async fn check_scheduled(services: &Services, request_id: &str) -> Result<(), ServiceError> {
    let finding = check(services, request_id).await?;
    let Some(finding) = finding else {
        return Ok(());
    };
    if finding == Finding::Verified {
        return Ok(());
    }
    let Some(check) = services.store.domain_check(request_id).await? else {
        return Ok(());
    };
    let now = portal_store::now_ms();
    let Some(wait) = next_check_in(now - check.created_at) else {
        // Thirty days without the record: the request ends and frees its names, so that
        // nobody holds a domain that is not theirs for longer.
        if services
            .store
            .expire_registration(request_id, finding.note(), now)
            .await?
        {
            info!(request.id = %request_id, "the domain's record was not seen in time");
        }
        return Ok(());
    };
    let next = check_job(request_id, now + wait)?;
    services
        .store
        .note_domain_check(request_id, finding.note(), Some(&next))
        .await?;
    Ok(())
}

/// The next check of a request whose check job ran out of attempts (the database away for a
/// while): queued in its burial, so that the request keeps being checked.
pub fn check_after_failure(request_id: &str) -> Result<portal_store::job::NewJob, ServiceError> {
    check_job(request_id, portal_store::now_ms() + 5 * 60_000)
}

/// The check job of a request, due at `at`.
pub fn check_job(request_id: &str, at: i64) -> Result<portal_store::job::NewJob, ServiceError> {
    crate::jobs::new_job(
        &crate::jobs::CheckDomain {
            request_id: request_id.to_owned(),
        },
        at,
        3,
    )
}

/// Checks a request waiting for its domain once: when the record is there, the request goes
/// on (to approval, or placed by the provisioning policy). `None` when it is not waiting.
pub async fn check(services: &Services, request_id: &str) -> Result<Option<Finding>, ServiceError> {
    let request = services.store.get_request(request_id).await?;
    if request.status != RequestStatus::PendingDomain {
        return Ok(None);
    }
    let Some(check) = services.store.domain_check(request_id).await? else {
        return Ok(None);
    };
    let finding = look_up(&services.dns, &request.upn_suffix, &check.token).await;
    if finding == Finding::Verified {
        verified(services, &request, None).await?;
        info!(request.id = %request_id, "domain verified by its DNS record");
    }
    Ok(Some(finding))
}

/// Moves a request whose domain is verified on: to approval when the self-service policy
/// asks for one, or where the provisioning policy places it, with its job.
pub async fn verified(
    services: &Services,
    request: &RequestRow,
    audit: Option<(&str, &portal_store::audit::AuditEntry)>,
) -> Result<(), ServiceError> {
    let needs_approval = super::registration::get_policy(services).await?.approval()
        == super::registration::Approval::Manual;
    let transition = request
        .status
        .verify_domain(needs_approval)
        .map_err(|e| ServiceError::Internal(e.into()))?;
    for _ in 0..5 {
        let now = portal_store::now_ms();
        let job = super::provision::job_for(&request.id, now, services.provision_attempts)?;
        let (transition, run) = if needs_approval {
            (transition, None)
        } else {
            let placement = super::policy::place(services, now).await?;
            let start = placement.scheduled_for.unwrap_or(now);
            (
                transition.placed(placement.status),
                Some((start, placement)),
            )
        };
        let change = RequestMove {
            actor_id: audit.map(|(actor, _)| actor),
            audit: audit.map(|(_, entry)| entry),
            run: run.map(|(start, placement)| Run {
                at: start,
                scheduled_for: placement.scheduled_for,
                window_cap: placement.window_cap,
                job: &job,
            }),
            ..RequestMove::new(&request.id, transition, now)
        };
        match services.store.move_request(&change).await {
            Ok(()) => {
                services.jobs_ready.notify_one();
                return Ok(());
            }
            Err(StoreError::Conflict(Conflict::WindowFull)) => continue,
            // Checked twice at once (the schedule and "check now"): the other moved it.
            Err(StoreError::Conflict(Conflict::StatusMoved(_))) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::Unavailable)
}

/// What the prospect's status page shows of the domain check.
#[derive(Debug, Clone)]
pub struct DomainState {
    pub record_name: String,
    pub record_value: String,
    pub checked_at: Option<i64>,
    pub note: Option<String>,
    pub verified_at: Option<i64>,
}

/// The domain check of a request, if it has one.
pub async fn state(
    services: &Services,
    request: &RequestRow,
) -> Result<Option<DomainState>, ServiceError> {
    let Some(check) = services.store.domain_check(&request.id).await? else {
        return Ok(None);
    };
    let (record_name, record_value) = record(&request.upn_suffix, &check.token);
    Ok(Some(DomainState {
        record_name,
        record_value,
        checked_at: check.checked_at,
        note: check.note,
        verified_at: check.verified_at,
    }))
}

/// "Check now" from the prospect's status page (its status link's token): one check at once,
/// recorded like a scheduled one.
pub async fn check_now(
    services: &Services,
    status_token: &str,
) -> Result<Result<Option<Finding>, LinkRefusal>, super::registration::PublicError> {
    // Each asks the DNS: counted against the client like the other uses of a link.
    super::registration::take_turn(
        services,
        "registration_link_client",
        super::registration::LINK_GUARD,
    )
    .await?;
    let (_, request, _) =
        match super::registration::open_link(services, status_token, LinkPurpose::Status).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
    let finding = check(services, &request.id).await?;
    if let Some(found) = &finding
        && *found != Finding::Verified
    {
        services
            .store
            .note_domain_check(&request.id, found.note(), None)
            .await
            .map_err(ServiceError::from)?;
    }
    Ok(Ok(finding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_come_often_the_first_day_then_hourly_then_stop() {
        assert_eq!(next_check_in(0), Some(5 * 60_000));
        assert_eq!(next_check_in(2 * 24 * 60 * 60_000), Some(60 * 60_000));
        assert_eq!(next_check_in(31 * 24 * 60 * 60_000), None);
        assert_eq!(
            record("kenton.example", "abc"),
            (
                "_portal-verify.kenton.example".to_owned(),
                "portal-verify=abc".to_owned()
            )
        );
    }
}
