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
    /// A closed tenant's retention is over: it is being purged, and cannot be reopened.
    #[error("the retention is over")]
    RetentionOver,
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
    let to = tenant.status.act(action)?;
    let reason = checked_reason(action, reason)?;
    let now = portal_store::now_ms();
    if action == TenantAction::Reopen && tenant.purge_after.is_some_and(|at| at <= now) {
        return Err(TenantError::RetentionOver);
    }
    let purge_after = if to == TenantStatus::Closed {
        Some(now + super::retention::get(services).await?.closed_tenant_ms())
    } else {
        None
    };
    let mail = status_mail(services, &tenant, action, reason.as_deref(), purge_after).await?;
    let purge = purge_after
        .map(|at| purge_job(&tenant.id, at))
        .transpose()?;
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
                job: purge.as_ref(),
            },
            now,
        )
        .await;
    moved.map_err(|e| refused_move(e, action))?;
    services.jobs_ready.notify_one();
    info!(%to, "tenant moved");
    Ok(services
        .store
        .get_tenant(id)
        .await
        .map_err(ServiceError::from)?)
}

/// Why the store did not move a tenant: someone moved it first, or (for a reopening) its
/// retention ran out meanwhile.
fn refused_move(e: StoreError, action: TenantAction) -> TenantError {
    match e {
        StoreError::Conflict(Conflict::TenantStatusMoved(TenantStatus::Closed))
            if action == TenantAction::Reopen =>
        {
            TenantError::RetentionOver
        }
        StoreError::Conflict(Conflict::TenantStatusMoved(now)) => TenantError::Moved(now),
        e => ServiceError::from(e).into(),
    }
}

/// The job that purges a closed tenant at `at`.
fn purge_job(tenant_id: &str, at: i64) -> Result<portal_store::job::NewJob, ServiceError> {
    crate::jobs::new_job(
        &crate::jobs::PurgeTenant {
            tenant_id: tenant_id.to_owned(),
        },
        at,
        PURGE_ATTEMPTS,
    )
}

/// How many times a purge is tried (it resumes where it stopped each time).
const PURGE_ATTEMPTS: i64 = 20;

/// How many configuration objects one slice of a purge deletes.
pub const PURGE_SLICE: i64 = 500;

/// Purges a closed tenant whose retention is over (the purge job): its configuration in
/// slices, then in one transaction its users with all they hold, its parameters and drafts,
/// and its names; it stays as a tombstone with who closed it and why. Run again after a
/// crash, it goes on from what is left. A tenant reopened, or closed again later, is left.
#[tracing::instrument(skip_all, fields(tenant.id = %id))]
pub async fn purge(services: &Services, id: &str) -> Result<(), ServiceError> {
    let tenant = match services.store.get_tenant(id).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let now = portal_store::now_ms();
    // Claimed first, in a transaction of its own: from then on nobody reopens it.
    if !services.store.claim_purge(id, now).await? {
        info!(status = %tenant.status, "nothing to purge");
        return Ok(());
    }
    purge_configuration(services, id).await?;
    crate::fault::during_clone();
    let mail = status_mail(services, &tenant, TenantAction::Purge, None, None).await?;
    let audit = super::audit::entry(
        None,
        TenantAction::Purge.audit_action(),
        Some(&tenant.id),
        Some(&tenant.id),
        Some(format!("{} purged after its retention", tenant.name)),
    );
    let finished = services
        .store
        .finish_purge(
            &TenantMove {
                tenant_id: &tenant.id,
                from: TenantStatus::Closed,
                to: TenantStatus::Purged,
                // The tombstone keeps who closed it and why.
                reason: tenant.status_reason.as_deref(),
                changed_by: tenant.status_changed_by.as_deref(),
                purge_after: tenant.purge_after,
                audit: &audit,
                mail: Some(&mail),
                job: None,
            },
            now,
        )
        .await;
    match finished {
        Ok(()) => {
            services.jobs_ready.notify_one();
            info!("tenant purged");
            Ok(())
        }
        // Purged already (a run cut off after its end), or reopened in a race it lost.
        Err(StoreError::Conflict(Conflict::TenantStatusMoved(status))) => {
            info!(%status, "the tenant moved before the purge ended");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes a closed tenant's configuration, a slice per transaction, until none is left.
async fn purge_configuration(services: &Services, id: &str) -> Result<(), ServiceError> {
    loop {
        crate::fault::during_clone();
        let gone = services
            .store
            .purge_configuration_slice(id, PURGE_SLICE)
            .await?;
        if gone == 0 {
            return Ok(());
        }
    }
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
