//! Webhook endpoints (landlord administrators): where the provider's billing, CRM and support
//! receive the portal's events, which events each wants, and the secret that signs them. An
//! endpoint never points at the portal's own network unless the setting allows it.

use base64::Engine;
use portal_domain::webhook::is_forbidden_address;
use portal_domain::{AuditAction, EndpointStatus, EventFilter, Permission};
use portal_store::StoreError;
use portal_store::webhook::{EndpointChange, EndpointRow, NewEndpoint};

use super::{Actor, ServiceError, Services};

/// Where webhooks may go, and how fast their attempts come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WebhookSettings {
    /// Loopback, private and link-local addresses allowed (tests, closed networks).
    pub allow_private: bool,
    /// What the delays between attempts are multiplied by.
    pub retry_scale: f64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            retry_scale: 1.0,
        }
    }
}

/// How long a rotated secret still signs, so that receivers can take the new one in time.
pub const SECRET_OVERLAP_MS: i64 = 24 * 60 * 60 * 1000;

/// The longest URL and description an endpoint may have.
const URL_MAX: usize = 2000;
const DESCRIPTION_MAX: usize = 500;

/// A field of an endpoint that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct EndpointProblem {
    pub field: &'static str,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Invalid(#[from] EndpointProblem),
    /// The endpoint's state does not allow it: a machine code and a sentence.
    #[error("{1}")]
    Refused(&'static str, String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for WebhookError {
    fn from(e: StoreError) -> Self {
        Self::Service(e.into())
    }
}

fn problem(field: &'static str, message: impl Into<String>) -> EndpointProblem {
    EndpointProblem {
        field,
        message: message.into(),
    }
}

/// A new signing secret: `whsec_` and 32 random bytes in base64, as the Standard Webhooks
/// specification writes them.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Whether `host` names an address webhooks may never go to: an address given as such, or a
/// name the machine resolves to one (`localhost`). A name that cannot be resolved now is
/// taken, and checked again at each delivery.
async fn private_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => is_forbidden_address((*ip).into()),
        url::Host::Ipv6(ip) => is_forbidden_address((*ip).into()),
        url::Host::Domain(name) => {
            let lookup = tokio::net::lookup_host((*name, 443));
            match tokio::time::timeout(std::time::Duration::from_secs(2), lookup).await {
                Ok(Ok(mut addresses)) => addresses.any(|a| is_forbidden_address(a.ip())),
                _ => false,
            }
        }
    }
}

/// The URL as stored: http or https, a host, no credentials, not too long, and (unless the
/// settings allow it) not a private, loopback or link-local address.
pub async fn check_url(text: &str, settings: &WebhookSettings) -> Result<String, EndpointProblem> {
    let text = text.trim();
    if text.is_empty() || text.len() > URL_MAX {
        return Err(problem(
            "url",
            format!("give a URL of at most {URL_MAX} characters"),
        ));
    }
    let url = url::Url::parse(text).map_err(|e| problem("url", format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(problem("url", "must start with https:// or http://"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(problem(
            "url",
            "must not hold a user name or password: the signature proves who sends",
        ));
    }
    let Some(host) = url.host() else {
        return Err(problem("url", "must name a host"));
    };
    if !settings.allow_private && private_host(&host).await {
        return Err(problem(
            "url",
            "points at a loopback, private or link-local address, which webhooks never go to",
        ));
    }
    Ok(url.to_string())
}

/// The events list as stored (JSON), from the names given.
fn checked_events(names: &[String]) -> Result<String, EndpointProblem> {
    let filter = EventFilter::parse(names).map_err(|e| problem("events", e.to_string()))?;
    serde_json::to_string(&filter.names()).map_err(|e| problem("events", e.to_string()))
}

fn checked_description(text: &str) -> Result<String, EndpointProblem> {
    let text = text.trim();
    if text.chars().count() > DESCRIPTION_MAX
        || portal_domain::field::visible_text(text, "The description").is_err() && !text.is_empty()
    {
        return Err(problem(
            "description",
            format!("must be printable text of at most {DESCRIPTION_MAX} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// An endpoint as given.
#[derive(Debug, Clone, Default)]
pub struct EndpointInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub status: Option<EndpointStatus>,
}

fn entry(
    actor: &Actor,
    action: AuditAction,
    endpoint_id: &str,
    detail: String,
) -> portal_store::audit::AuditEntry {
    super::audit::entry(Some(actor), action, None, Some(endpoint_id), Some(detail))
}

/// Adds an endpoint, enabled; its secret is in the answer, and only there.
pub async fn create(
    services: &Services,
    actor: &Actor,
    input: &EndpointInput,
) -> Result<EndpointRow, WebhookError> {
    actor.require(Permission::ManageWebhooks)?;
    let url = check_url(input.url.as_deref().unwrap_or_default(), &services.webhooks).await?;
    let events = checked_events(input.events.as_deref().unwrap_or_default())?;
    let description = checked_description(input.description.as_deref().unwrap_or_default())?;
    let id = portal_store::new_id();
    let secret = new_secret();
    let audit = entry(
        actor,
        AuditAction::WebhookCreated,
        &id,
        format!("{url} for {events}"),
    );
    let new = NewEndpoint {
        id: &id,
        url: &url,
        events: &events,
        description: &description,
        secret: &secret,
        created_by: Some(&actor.username),
    };
    Ok(services.store.create_endpoint(&new, &audit).await?)
}

pub async fn list(services: &Services, actor: &Actor) -> Result<Vec<EndpointRow>, ServiceError> {
    actor.require(Permission::ManageWebhooks)?;
    Ok(services.store.list_endpoints().await?)
}

pub async fn get(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<EndpointRow, ServiceError> {
    actor.require(Permission::ManageWebhooks)?;
    Ok(services.store.get_endpoint(id).await?)
}

/// Changes what `input` gives of an endpoint (its URL, events, description, or whether it is
/// enabled), each checked as on creation.
pub async fn update(
    services: &Services,
    actor: &Actor,
    id: &str,
    input: &EndpointInput,
) -> Result<EndpointRow, WebhookError> {
    actor.require(Permission::ManageWebhooks)?;
    let current = services.store.get_endpoint(id).await?;
    let change = EndpointChange {
        url: match &input.url {
            Some(url) => Some(check_url(url, &services.webhooks).await?),
            None => None,
        },
        events: input.events.as_deref().map(checked_events).transpose()?,
        description: input
            .description
            .as_deref()
            .map(checked_description)
            .transpose()?,
        status: input.status,
    };
    let detail = format!(
        "{} ({})",
        change.url.as_deref().unwrap_or(&current.url),
        input.status.map_or("", EndpointStatus::as_str)
    );
    let audit = entry(actor, AuditAction::WebhookChanged, id, detail);
    Ok(services.store.update_endpoint(id, &change, &audit).await?)
}

pub async fn delete(services: &Services, actor: &Actor, id: &str) -> Result<(), ServiceError> {
    actor.require(Permission::ManageWebhooks)?;
    let current = services.store.get_endpoint(id).await?;
    let audit = entry(actor, AuditAction::WebhookRemoved, id, current.url);
    Ok(services.store.delete_endpoint(id, &audit).await?)
}

/// Gives the endpoint a new secret; the previous one signs too for a day.
pub async fn rotate_secret(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<EndpointRow, WebhookError> {
    actor.require(Permission::ManageWebhooks)?;
    let current = services.store.get_endpoint(id).await?;
    let now = portal_store::now_ms();
    // Another rotation now would stop the first secret signing before its day is over.
    if current.previous_until.is_some_and(|until| until > now) {
        return Err(WebhookError::Refused(
            "rotation_overlap",
            "The secret was rotated less than 24 hours ago; the one before still signs until then. Rotate again after that."
                .into(),
        ));
    }
    let until = now + SECRET_OVERLAP_MS;
    let audit = entry(actor, AuditAction::WebhookSecretRotated, id, current.url);
    Ok(services
        .store
        .rotate_endpoint_secret(id, &new_secret(), until, &audit)
        .await?)
}

/// An endpoint's latest deliveries (at most 100), newest first.
pub async fn deliveries(
    services: &Services,
    actor: &Actor,
    endpoint_id: &str,
) -> Result<Vec<portal_store::webhook::DeliveryRow>, ServiceError> {
    actor.require(Permission::ManageWebhooks)?;
    services.store.get_endpoint(endpoint_id).await?;
    Ok(services.store.list_deliveries(endpoint_id, 100).await?)
}

/// One delivery of an endpoint, with its attempts.
pub async fn delivery(
    services: &Services,
    actor: &Actor,
    endpoint_id: &str,
    delivery_id: &str,
) -> Result<
    (
        portal_store::webhook::DeliveryRow,
        Vec<portal_store::webhook::AttemptRow>,
    ),
    ServiceError,
> {
    actor.require(Permission::ManageWebhooks)?;
    let found = services
        .store
        .get_delivery(endpoint_id, delivery_id)
        .await?;
    let attempts = services.store.delivery_attempts(delivery_id).await?;
    Ok((found, attempts))
}

/// Sends one delivery again, now, with a fresh series of attempts.
/// Refuses to send to a disabled endpoint (the delivery would fail at once).
async fn enabled(services: &Services, endpoint_id: &str) -> Result<(), WebhookError> {
    let endpoint = services.store.get_endpoint(endpoint_id).await?;
    if endpoint.status != EndpointStatus::Enabled {
        return Err(WebhookError::Refused(
            "endpoint_disabled",
            "The endpoint is disabled: enable it first.".into(),
        ));
    }
    Ok(())
}

pub async fn retry(
    services: &Services,
    actor: &Actor,
    endpoint_id: &str,
    delivery_id: &str,
) -> Result<(), WebhookError> {
    actor.require(Permission::ManageWebhooks)?;
    enabled(services, endpoint_id).await?;
    let audit = entry(
        actor,
        AuditAction::WebhookDeliveryReplayed,
        endpoint_id,
        format!("delivery {delivery_id}"),
    );
    if !services
        .store
        .replay_delivery(endpoint_id, delivery_id, &audit)
        .await?
    {
        return Err(ServiceError::NotFound.into());
    }
    services.jobs_ready.notify_one();
    Ok(())
}

/// Sends again every failed delivery of the endpoint made since `since`; how many.
pub async fn replay_failed_since(
    services: &Services,
    actor: &Actor,
    endpoint_id: &str,
    since: i64,
) -> Result<u64, WebhookError> {
    actor.require(Permission::ManageWebhooks)?;
    enabled(services, endpoint_id).await?;
    let audit = entry(
        actor,
        AuditAction::WebhookDeliveryReplayed,
        endpoint_id,
        format!(
            "every failed delivery since {}",
            crate::web::api::rfc3339(since)
        ),
    );
    let replayed = services
        .store
        .replay_failed_since(endpoint_id, since, &audit)
        .await?;
    services.jobs_ready.notify_one();
    Ok(replayed)
}
