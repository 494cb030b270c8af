//! Use cases: what the web handlers, the worker and the command line ask of the portal.
//! Each takes validated domain types and talks to the store; none knows about HTTP.

pub mod account;
pub mod audit;
pub mod auth;
pub mod bulk;
pub mod delivery;
pub mod digest;
pub mod domain;
pub mod export;
pub mod glance;
pub mod import;
pub mod mail;
pub mod oidc;
pub mod operations;
pub mod package;
pub mod parameters;
pub mod passkey;
pub mod policy;
pub mod provision;
pub mod registration;
pub mod request;
pub mod retention;
pub mod second_factor;
pub mod security;
pub mod seed;
pub mod template;
pub mod tenant;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use portal_domain::{Permission, Role};
use portal_store::Store;
use portal_store::credential::Credential;
use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::password::Hasher;

/// Everything a use case needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct Services {
    pub store: Store,
    pub hasher: Hasher,
    pub metrics: Arc<Metrics>,
    /// Woken when this process enqueues a job, so a worker in the same process starts it at
    /// once instead of at its next poll.
    pub jobs_ready: Arc<Notify>,
    pub token_ttl: Duration,
    /// How many times provisioning is tried before the request is marked failed.
    pub provision_attempts: i64,
    /// The sender, link base and transport of outgoing mail.
    pub mailer: Arc<crate::mail::Mailer>,
    /// This process's copy of the security policy.
    pub security: security::SecurityCache,
    /// Staff single sign-on, when set up.
    pub oidc: Option<Arc<oidc::OidcSettings>>,
    /// Where webhooks may go, and how fast their attempts come.
    pub webhooks: webhook::WebhookSettings,
    /// Where domain ownership records are looked up.
    pub dns: domain::DnsSettings,
    /// The names of the submissions this process is hashing for now.
    pub names_in_hand: Arc<request::NamesInHand>,
}

impl Services {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            hasher: Hasher::for_this_machine(),
            metrics: Arc::new(Metrics::default()),
            jobs_ready: Arc::new(Notify::new()),
            token_ttl: Duration::from_secs(12 * 60 * 60),
            provision_attempts: 5,
            mailer: Arc::new(crate::mail::Mailer::spool(std::path::PathBuf::from(
                "./data/mail",
            ))),
            security: security::SecurityCache::new(security::SecurityDoc::initial(&[
                Role::LandlordAdmin,
            ])),
            oidc: None,
            webhooks: webhook::WebhookSettings::default(),
            dns: domain::DnsSettings::default(),
            names_in_hand: Arc::default(),
        }
    }
}

/// The signed-in user a use case acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub tenant_id: Option<String>,
    /// The password was typed by someone else: nothing but changing it is allowed.
    pub must_change_password: bool,
    /// The session or token this actor came with (`None`: the command line or a test).
    pub credential: Option<Credential>,
    /// Whether the account has a second factor, and whether this sign-in passed it.
    pub second_factor: SecondFactorState,
}

/// An actor's second factor: whether the account has one in force, and whether the sign-in
/// behind the actor's session or token passed one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecondFactorState {
    pub enrolled: bool,
    pub passed: bool,
    /// The actor came with a personal API token, which never manages second factors.
    pub personal_token: bool,
}

impl SecondFactorState {
    /// Whether this sign-in may add, change or remove second factors: not with a personal
    /// token, and, once the account has one, only after passing it.
    pub fn may_manage(self) -> Result<(), ServiceError> {
        if self.personal_token || (self.enrolled && !self.passed) {
            return Err(ServiceError::SecondFactorRequired);
        }
        Ok(())
    }
}

impl Actor {
    /// The portal itself, reading what its events are about.
    pub fn portal() -> Self {
        Self {
            username: "the portal".to_owned(),
            ..Self::command_line()
        }
    }

    /// The machine's operator at the command line, who may do what a landlord admin may.
    pub fn command_line() -> Self {
        Self {
            id: String::new(),
            username: "command line".to_owned(),
            role: Role::LandlordAdmin,
            tenant_id: None,
            must_change_password: false,
            credential: None,
            second_factor: SecondFactorState::default(),
        }
    }

    /// Staff of the provider, who see every tenant.
    pub fn is_landlord(&self) -> bool {
        self.role.is_landlord()
    }

    /// Whether the actor's role allows this.
    pub fn may(&self, permission: Permission) -> bool {
        self.role.may(permission)
    }

    /// `Forbidden` unless the actor's role allows this.
    pub fn require(&self, permission: Permission) -> Result<(), ServiceError> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden)
        }
    }

    /// Whether this actor may see an object of `tenant_id` (`None`: not yet a tenant's).
    pub fn can_see_tenant(&self, tenant_id: Option<&str>) -> bool {
        self.is_landlord() || (tenant_id.is_some() && tenant_id == self.tenant_id.as_deref())
    }
}

/// Failures shared by every use case.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Not there, or not visible to this actor (the two are never told apart).
    #[error("not found")]
    NotFound,
    /// The actor's role does not allow this.
    #[error("forbidden")]
    Forbidden,
    /// Only a sign-in that passed a second factor may do this.
    #[error("second factor required")]
    SecondFactorRequired,
    /// Too much work at once; try again shortly.
    #[error("overloaded")]
    Overloaded,
    #[error("the database is unavailable")]
    Unavailable,
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<portal_store::StoreError> for ServiceError {
    fn from(e: portal_store::StoreError) -> Self {
        use portal_store::StoreError as S;
        match e {
            S::NotFound => Self::NotFound,
            S::Unavailable(cause) => {
                // Said once here, where the cause is still known; the client gets a 503.
                tracing::warn!(%cause, "the database cannot do this now");
                Self::Unavailable
            }
            S::Conflict(conflict) => {
                Self::Internal(anyhow::anyhow!("unexpected conflict: {conflict:?}"))
            }
            S::Other(e) => Self::Internal(e),
        }
    }
}

impl From<crate::password::Overloaded> for ServiceError {
    fn from(_: crate::password::Overloaded) -> Self {
        Self::Overloaded
    }
}

/// A template's display name, or its id when it cannot be read.
pub async fn template_display_name(services: &Services, id: &str) -> String {
    match services.store.get_template(id).await {
        Ok(t) => t.name,
        Err(_) => id.to_owned(),
    }
}

/// One page from `rows` fetched with one more than `limit`: the page, and the cursor of the
/// next (the id of its last row) when there is more.
pub fn page_of<T>(
    mut rows: Vec<T>,
    limit: i64,
    id: impl Fn(&T) -> &str,
) -> (Vec<T>, Option<String>) {
    let size = usize::try_from(limit).unwrap_or(0);
    if rows.len() > size {
        rows.truncate(size);
        let next = rows.last().map(|r| id(r).to_owned());
        (rows, next)
    } else {
        (rows, None)
    }
}
