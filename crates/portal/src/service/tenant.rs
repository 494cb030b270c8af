//! Tenants, as each actor may see them.

use portal_domain::{Permission, TenantAction, TenantActionError, TenantStatus};
use portal_store::tenant::{TenantMove, TenantRow};
use portal_store::{Conflict, StoreError};
use tracing::info;

use super::{Actor, ServiceError, Services};

/// Why a tenant action was not done.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The tenant's status does not allow it.
    #[error(transparent)]
    Refused(#[from] TenantActionError),
    /// Someone else changed the tenant's status meanwhile; it is this one now.
    #[error("the tenant is {0} now")]
    Moved(TenantStatus),
    /// The reason is missing or unusable; the sentence says why.
    #[error("{0}")]
    BadReason(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// The longest reason staff may give.
pub const REASON_MAX_CHARS: usize = 500;

/// The reason of an action that needs one: trimmed, 1 to 500 visible characters; none is
/// kept for the others.
fn checked_reason(
    action: TenantAction,
    reason: Option<&str>,
) -> Result<Option<String>, TenantError> {
    if !action.needs_reason() {
        return Ok(None);
    }
    let reason = reason.map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(TenantError::BadReason(
            "Give a reason: it is kept with the tenant and emailed to its contact.".into(),
        ));
    }
    if reason.chars().count() > REASON_MAX_CHARS
        || portal_domain::field::visible_text(reason, "The reason").is_err()
    {
        return Err(TenantError::BadReason(format!(
            "The reason must be printable text of at most {REASON_MAX_CHARS} characters."
        )));
    }
    Ok(Some(reason.to_owned()))
}

/// Suspends, resumes, closes or reopens a tenant (the provider's staff), with its audit entry
/// and an email to its contact, in one transaction. A tenant that lets nobody in has its
/// users' sessions and tokens ended at once; a closed one is purged after the retention.
#[tracing::instrument(skip_all, fields(tenant.id = %id, action = %action))]
pub async fn act(
    services: &Services,
    actor: &Actor,
    id: &str,
    action: TenantAction,
    reason: Option<&str>,
) -> Result<TenantRow, TenantError> {
    actor.require(Permission::ActOnTenants)?;
    let tenant = get_tenant(services, actor, id).await?;
    let reason = checked_reason(action, reason)?;
    let to = tenant.status.act(action)?;
    let now = portal_store::now_ms();
    let purge_after = if to == TenantStatus::Closed {
        Some(now + super::retention::get(services).await?.closed_tenant_ms())
    } else {
        None
    };
    let mail = status_mail(services, &tenant, action, reason.as_deref(), purge_after).await?;
    let audit = super::audit::entry(
        Some(actor),
        action.audit_action(),
        Some(&tenant.id),
        Some(&tenant.id),
        Some(match &reason {
            Some(r) => format!("{} {}: {r}", tenant.name, action.participle()),
            None => format!("{} {}", tenant.name, action.participle()),
        }),
    );
    let moved = services
        .store
        .move_tenant(
            &TenantMove {
                tenant_id: &tenant.id,
                from: tenant.status,
                to,
                reason: reason.as_deref(),
                changed_by: Some(&actor.username),
                purge_after,
                audit: &audit,
                mail: Some(&mail),
            },
            now,
        )
        .await;
    match moved {
        Ok(()) => {}
        // Someone else moved it first.
        Err(StoreError::Conflict(Conflict::TenantStatusMoved(now))) => {
            return Err(TenantError::Moved(now));
        }
        Err(e) => return Err(ServiceError::from(e).into()),
    }
    services.jobs_ready.notify_one();
    info!(%to, "tenant moved");
    Ok(services
        .store
        .get_tenant(id)
        .await
        .map_err(ServiceError::from)?)
}

/// The email that tells the tenant's contact (kept on the request that made it).
async fn status_mail(
    services: &Services,
    tenant: &TenantRow,
    action: TenantAction,
    reason: Option<&str>,
    purge_after: Option<i64>,
) -> Result<portal_store::mail::NewMail, ServiceError> {
    let request = services.store.get_request(&tenant.request_id).await?;
    Ok(crate::mail::tenant_status_mail(
        &services.mailer,
        &request,
        action,
        reason,
        purge_after.map(super::registration::readable).as_deref(),
    ))
}

pub async fn get_tenant(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<TenantRow, ServiceError> {
    actor.require(portal_domain::Permission::ReadTenants)?;
    if !actor.can_see_tenant(Some(id)) {
        return Err(ServiceError::NotFound);
    }
    Ok(services.store.get_tenant(id).await?)
}

pub async fn list_tenants(
    services: &Services,
    actor: &Actor,
) -> Result<Vec<TenantRow>, ServiceError> {
    actor.require(portal_domain::Permission::ReadTenants)?;
    if actor.is_landlord() {
        Ok(services.store.list_tenants(None).await?)
    } else {
        match &actor.tenant_id {
            Some(own) => Ok(services.store.list_tenants(Some(own)).await?),
            None => Ok(Vec::new()),
        }
    }
}

/// A tenant's configuration objects.
pub async fn configuration(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<Vec<portal_store::template::TemplateObjectRow>, ServiceError> {
    let tenant = get_tenant(services, actor, id).await?;
    Ok(services.store.tenant_objects(&tenant.id).await?)
}
