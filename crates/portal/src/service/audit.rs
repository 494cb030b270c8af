//! The audit log: entries for what people do, and reading them (a tenant administrator reads
//! only their tenant's). The client's address comes from the web layer through a task-local,
//! so use cases need not carry it.

use portal_domain::AuditAction;
use portal_store::audit::{AuditEntry, AuditFilter, AuditRow};

use super::{Actor, ServiceError, Services};

tokio::task_local! {
    /// The address of the client whose HTTP request is being served.
    pub static CLIENT: Option<String>;
    /// The `User-Agent` of the HTTP request being served (cut short), to name a session.
    pub static USER_AGENT: Option<String>;
}

/// The client of the HTTP request being served, if any.
pub fn client() -> Option<String> {
    CLIENT.try_with(Clone::clone).ok().flatten()
}

/// The key by which limits count the client of the HTTP request being served: its address,
/// or an IPv6 client's /64.
pub fn client_key() -> Option<String> {
    client()
        .and_then(|c| c.parse().ok())
        .map(crate::web::client::limit_key)
}

/// The user agent of the HTTP request being served, if any.
pub fn user_agent() -> Option<String> {
    USER_AGENT.try_with(Clone::clone).ok().flatten()
}

/// An entry by `actor` (none: the portal itself), from the current client.
pub fn entry(
    actor: Option<&Actor>,
    action: AuditAction,
    tenant_id: Option<&str>,
    subject: Option<&str>,
    detail: Option<String>,
) -> AuditEntry {
    AuditEntry {
        actor_id: actor.map(|a| a.id.clone()),
        actor_name: actor.map(|a| a.username.clone()),
        tenant_id: tenant_id.map(str::to_owned),
        action,
        subject: subject.map(str::to_owned),
        detail,
        client: client(),
    }
}

/// Records what `actor` did to their own account (a sign-out, a token made or revoked).
pub async fn record_own(
    services: &Services,
    actor: &Actor,
    action: AuditAction,
    detail: Option<String>,
) {
    let entry = entry(
        Some(actor),
        action,
        actor.tenant_id.as_deref(),
        Some(&actor.id),
        detail,
    );
    record(services, entry).await;
}

/// Records an entry for something already done; a failure to record is logged, not passed
/// on (the deed stands).
pub async fn record(services: &Services, entry: AuditEntry) {
    if let Err(e) = services
        .store
        .record_audit(&entry, portal_store::now_ms())
        .await
    {
        tracing::error!(error = %e, action = %entry.action, "an audit entry was not recorded");
    }
}

/// Entries newest first; a tenant administrator's list holds only their tenant's.
pub async fn list(
    services: &Services,
    actor: &Actor,
    mut filter: AuditFilter,
) -> Result<(Vec<AuditRow>, Option<String>), ServiceError> {
    actor.require(portal_domain::Permission::ReadAudit)?;
    if !actor.is_landlord() {
        match &actor.tenant_id {
            Some(own) => filter.tenant_id = Some(own.clone()),
            None => return Ok((Vec::new(), None)),
        }
    }
    let limit = filter.limit;
    let rows = services
        .store
        .list_audit(&AuditFilter {
            limit: limit + 1,
            ..filter
        })
        .await?;
    Ok(super::page_of(rows, limit, |r| &r.id))
}
