//! Changes of a tenant's service package (the provider's staff), and the tenant's own changes
//! to its configuration objects, which a change of package never overwrites.

use portal_domain::package::PackagePlan;
use portal_domain::{AuditAction, PackageChangeRefusal, Permission};
use portal_store::package::{
    ChangeAudits, ChangeStepOutcome, NewPackageChange, PackageChangeRow, PlannedChange,
};
use portal_store::template::TemplateObjectRow;
use portal_store::{Conflict, StoreError};
use serde_json::{Map, Value};
use tracing::info;

use super::{Actor, ServiceError, Services};

/// Why a change of package was not planned or started.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(transparent)]
    Refused(PackageChangeRefusal),
    #[error("no template has this id")]
    UnknownTemplate,
    #[error("the template has no such version")]
    UnknownVersion,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for PackageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(Conflict::PackageChange(refusal)) => Self::Refused(refusal),
            e => Self::Service(e.into()),
        }
    }
}

/// The template version asked for: a template id, and a version (its current one if none).
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub template_id: &'a str,
    pub version: Option<i64>,
}

/// Checks the actor and the target before anything is planned: the tenant must be one the
/// actor sees, the template and its version must exist.
async fn check(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
    target: &Target<'_>,
) -> Result<portal_store::tenant::TenantRow, PackageError> {
    actor.require(Permission::ActOnTenants)?;
    let tenant = super::tenant::get_tenant(services, actor, tenant_id).await?;
    let template = match services.store.get_template(target.template_id).await {
        Err(StoreError::NotFound) => return Err(PackageError::UnknownTemplate),
        other => other.map_err(ServiceError::from)?,
    };
    if target
        .version
        .is_some_and(|v| !(1..=template.version).contains(&v))
    {
        return Err(PackageError::UnknownVersion);
    }
    Ok(tenant)
}

/// What changing the tenant's package to `target` would do, changing nothing.
pub async fn preview(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
    target: &Target<'_>,
) -> Result<PlannedChange, PackageError> {
    check(services, actor, tenant_id, target).await?;
    Ok(services
        .store
        .plan_package_change(tenant_id, target.template_id, target.version)
        .await?)
}

/// How many times a change of package is tried before it is undone.
const CHANGE_ATTEMPTS: i64 = 5;

/// Accepts a change of the tenant's package to `target`: planned now, carried out by a job.
#[tracing::instrument(skip_all, fields(tenant.id = %tenant_id))]
pub async fn start(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
    target: &Target<'_>,
) -> Result<(PackageChangeRow, PackagePlan), PackageError> {
    let tenant = check(services, actor, tenant_id, target).await?;
    let id = portal_store::new_id();
    let now = portal_store::now_ms();
    let job = crate::jobs::new_job(
        &crate::jobs::ChangePackage {
            change_id: id.clone(),
        },
        now,
        CHANGE_ATTEMPTS,
    )?;
    let audit = super::audit::entry(
        Some(actor),
        AuditAction::PackageChangeStarted,
        Some(&tenant.id),
        Some(&tenant.id),
        Some(format!(
            "{}: from {} version {} to {}{}",
            tenant.name,
            tenant.template_id,
            tenant.template_version,
            target.template_id,
            target
                .version
                .map(|v| format!(" version {v}"))
                .unwrap_or_default()
        )),
    );
    let started = services
        .store
        .start_package_change(
            &NewPackageChange {
                id: &id,
                tenant_id: &tenant.id,
                template_id: target.template_id,
                version: target.version,
                requested_by: Some(&actor.username),
                audit: &audit,
                job: &job,
            },
            now,
        )
        .await?;
    services.jobs_ready.notify_one();
    info!(change.id = %id, "package change accepted");
    Ok(started)
}

/// A change of one of the tenant's packages, with what it does to each object.
pub async fn get(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
    change_id: &str,
) -> Result<(PackageChangeRow, PackagePlan), ServiceError> {
    let tenant = super::tenant::get_tenant(services, actor, tenant_id).await?;
    let change = services
        .store
        .get_package_change(&tenant.id, change_id)
        .await?;
    let plan = services.store.package_change_items(&change.id).await?;
    Ok((change, plan))
}

/// The tenant's latest changes of package, newest first.
pub async fn list(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
) -> Result<Vec<PackageChangeRow>, ServiceError> {
    let tenant = super::tenant::get_tenant(services, actor, tenant_id).await?;
    Ok(services.store.list_package_changes(&tenant.id).await?)
}

/// Carries a change out, step after step (the job). Run again after a crash, it goes on from
/// the first step not done; a step is never done twice. A tenant suspended or closed
/// meanwhile has the change undone.
#[tracing::instrument(skip_all, fields(change.id = %change_id))]
pub async fn run(services: &Services, change_id: &str) -> Result<(), ServiceError> {
    let change = match services.store.find_package_change(change_id).await {
        Ok(change) => change,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let completed = entry(
        &change,
        AuditAction::PackageChanged,
        format!(
            "now {} version {} (was {} version {}), as {} asked",
            change.to_template_id,
            change.to_version,
            change.from_template_id,
            change.from_version,
            change.requested_by.as_deref().unwrap_or("the portal")
        ),
    );
    let failed = entry(
        &change,
        AuditAction::PackageChangeFailed,
        format!(
            "to {} version {}: the tenant was shut meanwhile, and it was undone",
            change.to_template_id, change.to_version
        ),
    );
    let audits = ChangeAudits {
        completed: &completed,
        failed: &failed,
    };
    if !change.status.is_open() {
        return Ok(());
    }
    let mut next = usize::try_from(change.steps_done).unwrap_or(usize::MAX);
    loop {
        if let Some(step) = portal_domain::PackageChangeStep::ALL.get(next) {
            crate::fault::before_step(step.as_str()).map_err(ServiceError::Internal)?;
            crate::fault::during_clone();
        }
        let outcome = services
            .store
            .run_package_change_step(change_id, &audits, portal_store::now_ms())
            .await?;
        match outcome {
            ChangeStepOutcome::Done(step) => info!(%step, "package change step done"),
            ChangeStepOutcome::Completed => {
                info!("package change completed");
                break;
            }
            ChangeStepOutcome::Undone(status) => {
                info!(%status, "package change undone: the tenant was shut meanwhile");
                break;
            }
            ChangeStepOutcome::NotOpen => break,
        }
        next += 1;
    }
    Ok(())
}

/// An audit entry about a change, in its tenant's log.
fn entry(
    change: &PackageChangeRow,
    action: AuditAction,
    detail: String,
) -> portal_store::audit::AuditEntry {
    super::audit::entry(
        None,
        action,
        Some(&change.tenant_id),
        Some(&change.tenant_id),
        Some(detail),
    )
}

/// Undoes a change whose job ran out of attempts, and marks it failed, in `burial`.
pub async fn give_up(
    services: &Services,
    burial: &mut portal_store::job::Burial,
    change_id: &str,
    error: &str,
) -> Result<(), ServiceError> {
    let change = match services.store.find_package_change(change_id).await {
        Ok(change) => change,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let audit = entry(
        &change,
        AuditAction::PackageChangeFailed,
        format!(
            "to {} version {}: {error}",
            change.to_template_id, change.to_version
        ),
    );
    let now = portal_store::now_ms();
    if burial
        .fail_package_change(change_id, error, &audit, now)
        .await?
    {
        info!(change.id = %change_id, "package change failed and undone");
    }
    Ok(())
}

/// Why an object's properties were not changed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The properties do not fit the object's kind: each problem by path.
    #[error("the properties are not valid")]
    Invalid(Vec<portal_domain::template::TemplateProblem>),
    #[error(transparent)]
    Refused(PackageChangeRefusal),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Changes the properties of one of the tenant's configuration objects (its administrators,
/// and landlord administrators acting in it): checked against the kind's schema, defaults
/// filled in. From then on a change of package keeps the object as the tenant made it.
pub async fn set_object(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
    kind: &str,
    name: &str,
    properties: Map<String, Value>,
) -> Result<TemplateObjectRow, ObjectError> {
    actor.require(Permission::ChangeConfiguration)?;
    let tenant = super::tenant::get_tenant(services, actor, tenant_id).await?;
    let current = services
        .store
        .tenant_objects(&tenant.id)
        .await
        .map_err(ServiceError::from)?
        .into_iter()
        .find(|o| o.kind == kind && o.name.to_lowercase() == name.to_lowercase())
        .ok_or(ServiceError::NotFound)?;
    let checked =
        portal_domain::template::check_object_properties(&current.kind, &current.name, properties)
            .map_err(ObjectError::Invalid)?;
    let text = Value::Object(checked).to_string();
    let audit = super::audit::entry(
        Some(actor),
        AuditAction::ConfigurationObjectChanged,
        Some(&tenant.id),
        Some(&tenant.id),
        Some(format!(
            "{} {} of {}",
            current.kind, current.name, tenant.name
        )),
    );
    match services
        .store
        .set_object_properties(&tenant.id, &current.kind, &current.name, &text, &audit)
        .await
    {
        Ok(()) => Ok(TemplateObjectRow {
            properties: text,
            ..current
        }),
        Err(StoreError::Conflict(Conflict::PackageChange(refusal))) => {
            Err(ObjectError::Refused(refusal))
        }
        Err(e) => Err(ServiceError::from(e).into()),
    }
}
