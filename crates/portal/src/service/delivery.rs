//! Delivering one event to one endpoint: the body `{"type","timestamp","data"}` signed as the
//! Standard Webhooks specification says (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256>`), sent with a 10 s timeout and no redirects,
//! only ever to a public address unless private ones are allowed. A 2xx answer delivers it;
//! anything else is tried again later, with growing delays, for more than a day.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{KeyInit, Mac};
use portal_domain::webhook::{
    FAILING_DAYS_BEFORE_DISABLED, is_forbidden_address, retry_delay_secs,
};
use portal_domain::{DeliveryStatus, EndpointStatus, EventType};
use portal_store::webhook::{AttemptRecord, DeliveryToSend};
use tracing::info;

use super::{ServiceError, Services};

/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an answer's body the log keeps.
const EXCERPT_CHARS: usize = 200;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Names resolved as usual, then every forbidden address dropped (unless private ones are
/// allowed): the address connected to is one that was checked.
struct GuardedResolver {
    allow_private: bool,
}

impl ureq::Resolver for GuardedResolver {
    fn resolve(&self, netloc: &str) -> std::io::Result<Vec<SocketAddr>> {
        use std::net::ToSocketAddrs;
        let found: Vec<SocketAddr> = netloc
            .to_socket_addrs()?
            .filter(|a| self.allow_private || !is_forbidden_address(a.ip()))
            .collect();
        if found.is_empty() {
            return Err(std::io::Error::other(format!(
                "{netloc} resolves to no address webhooks may go to (loopback, private or link-local)"
            )));
        }
        Ok(found)
    }
}

/// The HTTP agent of webhooks (it keeps connections open between deliveries), one per process
/// and per setting of private addresses.
fn agent(allow_private: bool) -> ureq::Agent {
    static AGENTS: OnceLock<[ureq::Agent; 2]> = OnceLock::new();
    let agents = AGENTS.get_or_init(|| {
        let build = |allow_private| {
            ureq::AgentBuilder::new()
                .timeout(TIMEOUT)
                .redirects(0)
                .user_agent("Provisioning-Portal-Webhooks/1")
                .resolver(GuardedResolver { allow_private })
                .build()
        };
        [build(false), build(true)]
    });
    agents[usize::from(allow_private)].clone()
}

/// The `webhook-signature` of a message with each secret given (`whsec_…`), space-separated.
pub fn signature(secrets: &[&str], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|secret| {
            let key = base64::engine::general_purpose::STANDARD
                .decode(secret.trim_start_matches("whsec_"))
                .ok()?;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).ok()?;
            mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
            let signed = mac.finalize().into_bytes();
            Some(format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(signed)
            ))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What one attempt came to.
struct Outcome {
    status_code: Option<i64>,
    error: Option<String>,
    excerpt: Option<String>,
    duration_ms: i64,
}

impl Outcome {
    fn delivered(&self) -> bool {
        self.status_code.is_some_and(|c| (200..300).contains(&c))
    }

    /// Why an endpoint whose last attempt came to this is disabled.
    fn disable_reason(&self) -> String {
        let last = match (&self.error, self.status_code) {
            (Some(error), _) => error.clone(),
            (None, Some(code)) => format!("answered {code}"),
            (None, None) => String::new(),
        };
        format!("every delivery failed for {FAILING_DAYS_BEFORE_DISABLED} days (the last: {last})")
    }
}

/// The URL's host when it is an address webhooks may not go to (a name is checked when it is
/// resolved).
fn forbidden_literal(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let ip: std::net::IpAddr = match url.host()? {
        url::Host::Ipv4(ip) => ip.into(),
        url::Host::Ipv6(ip) => ip.into(),
        url::Host::Domain(_) => return None,
    };
    is_forbidden_address(ip).then(|| ip.to_string())
}

async fn send(services: &Services, d: &DeliveryToSend, body: String, now: i64) -> Outcome {
    let mut secrets = vec![d.secret.as_str()];
    if let Some(previous) = d.previous_secret.as_deref()
        && d.previous_until.is_some_and(|until| until > now)
    {
        secrets.push(previous);
    }
    let timestamp = now / 1000;
    let allow_private = services.webhooks.allow_private;
    if !allow_private && let Some(ip) = forbidden_literal(&d.url) {
        return Outcome {
            status_code: None,
            error: Some(format!("{ip} is an address webhooks may not go to")),
            excerpt: None,
            duration_ms: 0,
        };
    }
    let request = agent(allow_private)
        .post(&d.url)
        .set("content-type", "application/json")
        .set("webhook-id", &d.event_id)
        .set("webhook-timestamp", &timestamp.to_string())
        .set(
            "webhook-signature",
            &signature(&secrets, &d.event_id, timestamp, &body),
        );
    // The agent blocks: it runs on a thread of its own.
    tokio::task::spawn_blocking(move || post(request, &body))
        .await
        .unwrap_or_else(|e| Outcome {
            status_code: None,
            error: Some(format!("the attempt stopped: {e}")),
            excerpt: None,
            duration_ms: 0,
        })
}

/// Sends the request and reads what came back.
fn post(request: ureq::Request, body: &str) -> Outcome {
    use std::io::Read;
    let started = Instant::now();
    let answer = match request.send_string(body) {
        Ok(answer) | Err(ureq::Error::Status(_, answer)) => Ok(answer),
        Err(ureq::Error::Transport(t)) => Err(t),
    };
    let elapsed = || i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match answer {
        Ok(answer) => {
            let status = i64::from(answer.status());
            let mut text = String::new();
            let _ = answer.into_reader().take(4096).read_to_string(&mut text);
            let excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
            Outcome {
                status_code: Some(status),
                error: None,
                excerpt: Some(excerpt).filter(|e| !e.is_empty()),
                duration_ms: elapsed(),
            }
        }
        Err(t) => {
            let timed_out = t.kind() == ureq::ErrorKind::Io
                && t.to_string().to_lowercase().contains("timed out");
            Outcome {
                status_code: None,
                error: Some(if timed_out {
                    "no answer within 10 seconds".to_owned()
                } else {
                    format!("could not be reached: {t}")
                }),
                excerpt: None,
                duration_ms: elapsed(),
            }
        }
    }
}

/// The event's body: its data is rendered at its first delivery and then kept, so every
/// attempt and every endpoint gets the same bytes.
async fn body_of(services: &Services, d: &DeliveryToSend) -> Result<String, ServiceError> {
    let data = match &d.data {
        Some(data) => data.clone(),
        None => {
            let event: EventType = d
                .event_type
                .parse()
                .map_err(|e: portal_domain::UnknownName| ServiceError::Internal(e.into()))?;
            let rendered = crate::web::api::events::data_of(
                services,
                event,
                &d.subject_id,
                d.state.as_deref(),
            )
            .await?;
            services
                .store
                .fix_event_data(&d.event_id, &rendered.to_string())
                .await?
        }
    };
    let data: serde_json::Value =
        serde_json::from_str(&data).map_err(|e| ServiceError::Internal(e.into()))?;
    Ok(serde_json::json!({
        "type": d.event_type,
        "timestamp": crate::web::api::rfc3339(d.occurred_at),
        "data": data,
    })
    .to_string())
}

/// Makes one attempt of a delivery (the job), and records it with what follows: delivered,
/// the next attempt queued, or failed; an endpoint that has failed every delivery for five
/// days is disabled, and the landlord administrators are told.
#[tracing::instrument(skip_all, fields(delivery.id = %delivery_id))]
pub async fn deliver(services: &Services, delivery_id: &str) -> Result<(), ServiceError> {
    let Some(d) = services.store.delivery_to_send(delivery_id).await? else {
        return Ok(());
    };
    let now = portal_store::now_ms();
    // Not pending, or a job of an older series come late: the current series has its own.
    if d.status != DeliveryStatus::Pending || d.next_attempt_at.is_some_and(|at| at > now + 1000) {
        return Ok(());
    }
    if d.endpoint_status != EndpointStatus::Enabled {
        services.store.fail_delivery(&d.id).await?;
        return Ok(());
    }
    let body = body_of(services, &d).await?;
    let outcome = send(services, &d, body, now).await;
    let attempt = d.attempts + 1;
    let next_attempt_at = (!outcome.delivered())
        .then(|| retry_delay_secs(attempt))
        .flatten()
        .map(|secs| now + scaled(secs, services.webhooks.retry_scale));
    let failing_for = d.failing_since.map_or(0, |since| now - since);
    let disable = !outcome.delivered() && failing_for >= FAILING_DAYS_BEFORE_DISABLED * DAY_MS;
    // A disabled endpoint gets no more attempts: the delivery fails, to be replayed.
    let next_attempt_at = next_attempt_at.filter(|_| !disable);
    let reason = outcome.disable_reason();
    let mails = if disable {
        disabled_mails(services, &d.url, &reason).await?
    } else {
        Vec::new()
    };
    let recorded = services
        .store
        .record_attempt(&AttemptRecord {
            delivery_id: &d.id,
            endpoint_id: &d.endpoint_id,
            at: now,
            status_code: outcome.status_code,
            error: outcome.error.as_deref(),
            excerpt: outcome.excerpt.as_deref(),
            duration_ms: outcome.duration_ms,
            attempts_before: d.attempts,
            delivered: outcome.delivered(),
            next_attempt_at,
            disable: disable.then_some((reason.as_str(), mails.as_slice())),
        })
        .await?;
    if recorded {
        services.jobs_ready.notify_one();
        info!(
            attempt,
            status = ?outcome.status_code,
            delivered = outcome.delivered(),
            "webhook attempt"
        );
    }
    Ok(())
}

/// `secs` multiplied by the retry scale, in milliseconds (at least one).
fn scaled(secs: i64, scale: f64) -> i64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let ms = (secs as f64 * 1000.0 * scale).round() as i64;
    ms.max(1)
}

/// The emails that tell every landlord administrator an endpoint was disabled.
async fn disabled_mails(
    services: &Services,
    url: &str,
    reason: &str,
) -> Result<Vec<portal_store::mail::NewMail>, ServiceError> {
    Ok(services
        .store
        .landlord_admin_addresses()
        .await?
        .iter()
        .map(|to| crate::mail::webhook_disabled_mail(&services.mailer, to, url, reason))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_specifications_example() {
        // The example of the Standard Webhooks specification's reference tests.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&[secret], id, 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn delays_scale_and_never_reach_zero() {
        assert_eq!(scaled(30, 1.0), 30_000);
        assert_eq!(scaled(30, 0.001), 30);
        assert_eq!(scaled(5, 0.00001), 1);
    }
}
