//! The retention policy: how long a closed tenant's data is kept before it is purged.

use serde::{Deserialize, Serialize};
use tracing::info;

use super::{Actor, ServiceError, Services};

const KEY: &str = "retention";

/// The longest retention a policy may set: ten years.
pub const MAX_CLOSED_TENANT_DAYS: i64 = 3650;

/// The retention policy, as stored and as the API and its page show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionDoc {
    /// Days a closed tenant's data is kept before it is purged (1 to 3650).
    pub closed_tenant_days: i64,
}

impl Default for RetentionDoc {
    fn default() -> Self {
        Self {
            closed_tenant_days: 30,
        }
    }
}

impl RetentionDoc {
    /// The policy's rule, or the sentence that says it.
    pub fn check(self) -> Result<Self, String> {
        if (1..=MAX_CLOSED_TENANT_DAYS).contains(&self.closed_tenant_days) {
            Ok(self)
        } else {
            Err(format!(
                "closed_tenant_days must be a whole number from 1 to {MAX_CLOSED_TENANT_DAYS}."
            ))
        }
    }

    /// How long after closing a tenant's data goes, in milliseconds.
    pub fn closed_tenant_ms(&self) -> i64 {
        self.closed_tenant_days * 24 * 60 * 60_000
    }
}

/// The retention policy in force (its default until it is first saved).
pub async fn get(services: &Services) -> Result<RetentionDoc, ServiceError> {
    super::policy::read_setting(services, KEY).await
}

/// The retention policy, for staff who may read the settings.
pub async fn read(services: &Services, actor: &Actor) -> Result<RetentionDoc, ServiceError> {
    actor.require(portal_domain::Permission::ChangeSettings)?;
    get(services).await
}

/// Sets the retention policy after checking it (landlord administrators). Tenants closed
/// already keep the purge date they were given.
pub async fn put(
    services: &Services,
    actor: &Actor,
    doc: RetentionDoc,
) -> Result<Result<RetentionDoc, String>, ServiceError> {
    actor.require(portal_domain::Permission::ChangeSettings)?;
    let doc = match doc.check() {
        Ok(doc) => doc,
        Err(problem) => return Ok(Err(problem)),
    };
    super::policy::write_setting(
        services,
        actor,
        KEY,
        &doc,
        portal_domain::AuditAction::RetentionPolicyChanged,
        Some(format!(
            "closed tenants kept {} days",
            doc.closed_tenant_days
        )),
    )
    .await?;
    info!(days = doc.closed_tenant_days, "retention policy set");
    Ok(Ok(doc))
}
