//! The retention policy: how long a closed tenant's data is kept before it is purged, and how
//! long the contact details of a closed self-service request are kept before they are erased.

use serde::{Deserialize, Serialize};
use tracing::info;

use super::{Actor, ServiceError, Services};

const KEY: &str = "retention";

/// The longest retention a policy may set: ten years.
pub const MAX_CLOSED_TENANT_DAYS: i64 = 3650;

/// The longest a closed self-service request's contact details may be kept: ten years.
pub const MAX_CONTACT_DAYS: i64 = 3650;

/// How long a closed self-service request's contact details are kept unless the policy says.
pub const DEFAULT_CONTACT_DAYS: i64 = 90;

/// The retention policy, as stored and as the API and its page show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionDoc {
    /// Days a closed tenant's data is kept before it is purged (1 to 3650).
    pub closed_tenant_days: i64,
    /// Days the contact details of a rejected, expired or cancelled self-service request are
    /// kept after it closed, before they are erased (1 to 3650; 90 unless set). Left out of a
    /// change, the policy's value stays.
    #[serde(default)]
    pub self_service_contact_days: Option<i64>,
}

impl Default for RetentionDoc {
    fn default() -> Self {
        Self {
            closed_tenant_days: 30,
            self_service_contact_days: Some(DEFAULT_CONTACT_DAYS),
        }
    }
}

impl RetentionDoc {
    /// The policy's rule, or the field that breaks it with the sentence that says it.
    pub fn check(self) -> Result<Self, (&'static str, String)> {
        if !(1..=MAX_CLOSED_TENANT_DAYS).contains(&self.closed_tenant_days) {
            return Err((
                "closed_tenant_days",
                format!(
                    "closed_tenant_days must be a whole number from 1 to {MAX_CLOSED_TENANT_DAYS}."
                ),
            ));
        }
        if let Some(days) = self.self_service_contact_days
            && !(1..=MAX_CONTACT_DAYS).contains(&days)
        {
            return Err((
                "self_service_contact_days",
                format!(
                    "self_service_contact_days must be a whole number from 1 to {MAX_CONTACT_DAYS}."
                ),
            ));
        }
        Ok(self)
    }

    /// Days a closed self-service request's contact details are kept.
    pub fn contact_days(&self) -> i64 {
        self.self_service_contact_days
            .unwrap_or(DEFAULT_CONTACT_DAYS)
    }

    /// How long after closing a tenant's data goes, in milliseconds.
    pub fn closed_tenant_ms(&self) -> i64 {
        self.closed_tenant_days * 24 * 60 * 60_000
    }
}

/// The retention policy in force (its default until it is first saved), every value filled.
pub async fn get(services: &Services) -> Result<RetentionDoc, ServiceError> {
    let mut doc: RetentionDoc = super::policy::read_setting(services, KEY).await?;
    doc.self_service_contact_days = Some(doc.contact_days());
    Ok(doc)
}

/// Erases the contact details of the closed self-service requests whose retention is over,
/// in batches; how many. The worker runs it every hour.
pub async fn erase_closed_contacts(services: &Services) -> Result<u64, ServiceError> {
    let days = get(services).await?.contact_days();
    let now = portal_store::now_ms();
    let before = now - days * 24 * 60 * 60_000;
    let mut erased = 0;
    loop {
        let done = services.store.erase_closed_contacts(before, now).await?;
        erased += done;
        if done < portal_store::registration::ERASE_BATCH as u64 {
            break;
        }
    }
    if erased > 0 {
        info!(
            requests = erased,
            days, "erased the contact details of closed self-service requests"
        );
    }
    Ok(erased)
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
) -> Result<Result<RetentionDoc, (&'static str, String)>, ServiceError> {
    actor.require(portal_domain::Permission::ChangeSettings)?;
    let mut doc = match doc.check() {
        Ok(doc) => doc,
        Err(problem) => return Ok(Err(problem)),
    };
    if doc.self_service_contact_days.is_none() {
        doc.self_service_contact_days = get(services).await?.self_service_contact_days;
    }
    super::policy::write_setting(
        services,
        actor,
        KEY,
        &doc,
        portal_domain::AuditAction::RetentionPolicyChanged,
        Some(format!(
            "closed tenants kept {} days; contact details of closed self-service requests {} days",
            doc.closed_tenant_days,
            doc.contact_days()
        )),
    )
    .await?;
    info!(days = doc.closed_tenant_days, "retention policy set");
    Ok(Ok(doc))
}
