//! Provisioning: turns an accepted request into a working tenant, step by step, exactly once.
//!
//! Each step is one store transaction that also marks the step done, so the job may run again
//! after a crash or a lost lease: finished steps are skipped, and the step that was cut off
//! runs again from scratch (its writes are keyed, so nothing is written twice).

use portal_domain::AccountStatus;
use portal_domain::{ProvisioningStep, RequestStatus, StepStatus};
use portal_store::credential::NewAccountLink;
use portal_store::job::{Burial, NewJob};
use portal_store::request::RequestRow;
use portal_store::rollback::Failure;
use portal_store::step::StepOutcome;
use portal_store::template::TemplateObjectRow;
use portal_store::{Conflict, StoreError};
use serde_json::{Value, json};
use tracing::{info, warn};

use super::{ServiceError, Services};
use crate::jobs::{ProvisionRequest, new_job};
use crate::mail::{Outcome, outcome_mail};

/// The service whose tenants have Smart Queues general parameters to set.
pub const SMART_QUEUES: &str = "smart_queues";

/// Objects copied per transaction while cloning: large templates are copied in slices, so a
/// crash loses at most one slice of work and no transaction holds the database for long.
pub const CLONE_BATCH: i64 = 2_000;

/// The job that provisions `request_id`, due at `run_at`.
pub fn job_for(request_id: &str, run_at: i64, attempts: i64) -> Result<NewJob, ServiceError> {
    let job = ProvisionRequest {
        request_id: request_id.to_owned(),
    };
    new_job(&job, run_at, attempts)
}

/// Version 1 of a tenant's Smart Queues general parameters, from its template: the Callback
/// Folder email address starts empty, for the tenant's administrator to set.
pub fn initial_smart_queue_parameters(services: &[String], objects: &[TemplateObjectRow]) -> Value {
    let first_smart_queue = objects
        .iter()
        .find(|o| o.kind == "smart_queue")
        .and_then(|o| serde_json::from_str::<Value>(&o.properties).ok());
    let target = first_smart_queue
        .as_ref()
        .and_then(|p| p.get("target_answer_seconds"))
        .and_then(Value::as_i64)
        .unwrap_or(120);
    json!({
        "callback_folder_email": "",
        "default_priority": 49,
        "target_answer_seconds": target,
        "max_wait_seconds": 900,
        "callback_enabled": services.iter().any(|s| s == "callback"),
        "callback_retry_limit": 3,
        "business_hours_time_zone": "UTC",
    })
}

/// Runs the provisioning of one request to its end. An `Err` means "try again later".
#[tracing::instrument(skip_all, fields(request.id = %request_id))]
pub async fn provision(services: &Services, request_id: &str) -> Result<(), ServiceError> {
    let request = match services.store.get_request(request_id).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => {
            warn!("the request to provision does not exist; nothing to do");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    if !begin(services, &request).await? {
        return Ok(());
    }
    for step in ProvisioningStep::ALL.iter().copied() {
        let now = portal_store::now_ms();
        services
            .store
            .mark_step_running(request_id, step, now)
            .await?;
        crate::fault::before_step(step.as_str()).map_err(ServiceError::Internal)?;
        match run_step(services, &request, step, now).await {
            Ok(StepOutcome::NotProvisioning) => return Ok(()),
            Ok(StepOutcome::Done | StepOutcome::AlreadyDone) => {}
            Err(StoreError::Conflict(conflict)) => {
                return fail_on(services, &request, conflict).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let tenant = services
        .store
        .get_request(request_id)
        .await
        .ok()
        .and_then(|r| r.tenant_id);
    info!(
        tenant.id = tenant.as_deref().unwrap_or_default(),
        "tenant provisioned"
    );
    Ok(())
}

/// Moves a waiting request to `provisioning`; false when there is nothing to provision (it
/// ended, or moved meanwhile: another worker took it, or staff cancelled it).
async fn begin(services: &Services, request: &RequestRow) -> Result<bool, ServiceError> {
    if let Err(refused) = request.status.start_provisioning() {
        info!(%refused, "nothing to provision");
        return Ok(false);
    }
    if request.status == RequestStatus::Provisioning {
        // Resumed after a crash or a lost lease: finished steps are skipped.
        return Ok(true);
    }
    let transition = request
        .status
        .begin_provisioning()
        .map_err(|e| ServiceError::Internal(e.into()))?;
    let change =
        portal_store::action::RequestMove::new(&request.id, transition, portal_store::now_ms());
    match services.store.move_request(&change).await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict(Conflict::StatusMoved(_))) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Runs one step in the store.
async fn run_step(
    services: &Services,
    request: &RequestRow,
    step: ProvisioningStep,
    now: i64,
) -> Result<StepOutcome, StoreError> {
    let store = &services.store;
    let id = request.id.as_str();
    match step {
        ProvisioningStep::ReserveNames => store.step_reserve_names(id, now).await,
        ProvisioningStep::CreateTenant => {
            store
                .step_create_tenant(id, &portal_store::new_id(), now)
                .await
        }
        ProvisioningStep::CreateAdministrator => {
            store
                .step_create_administrator(id, &portal_store::new_id(), now)
                .await
        }
        ProvisioningStep::CloneConfiguration => clone_configuration(services, request, now).await,
        ProvisioningStep::AssignAniAndUpnSuffix => {
            store.step_assign_ani_and_upn_suffix(id, now).await
        }
        ProvisioningStep::Activate => {
            // The email says the login ID as typed, the ASCII form beside it when they differ.
            let login = portal_domain::field::login_id_as_typed(
                &request.admin_personnel_id,
                &request.upn_suffix,
            );
            let template = store.get_template(&request.template_id).await?;
            let invitation = admin_invitation(services, request, now).await?;
            let mail = outcome_mail(
                &services.mailer,
                request,
                Outcome::Completed {
                    login_id: &login,
                    smart_queues: template.offers(SMART_QUEUES),
                    invited: invitation.as_ref().map(|i| i.2.recipient.as_str()),
                },
            );
            let invitation = invitation
                .as_ref()
                .map(|(user, link, mail)| (user.as_str(), link, mail));
            let done = store.step_activate(id, Some(&mail), invitation, now).await;
            if matches!(done, Ok(StepOutcome::Done)) {
                services.jobs_ready.notify_one();
            }
            done
        }
    }
}

/// The invitation of a tenant's administrator who was given an address instead of a
/// password: the account, its link (72 hours) and the email, sent with the outcome.
async fn admin_invitation(
    services: &Services,
    request: &RequestRow,
    now: i64,
) -> Result<Option<(String, NewAccountLink, portal_store::mail::NewMail)>, StoreError> {
    let Some(admin) = services
        .store
        .find_user_by_username(&request.admin_login())
        .await?
    else {
        return Ok(None);
    };
    if admin.status != AccountStatus::Invited {
        return Ok(None);
    }
    // The administrator's address went to another account meanwhile: the invitation goes
    // to the request's contact, who asked for the tenant, rather than nowhere.
    let email = admin
        .email
        .clone()
        .unwrap_or_else(|| request.contact_email.clone());
    let (link, mail) = super::account::invitation(
        &services.mailer,
        "The Provisioning Portal",
        (&email, &admin.username, admin.role),
        Some(&request.tenant_name),
        now,
    );
    Ok(Some((admin.id, link, mail)))
}

/// Copies the template's objects in slices, then ends the step with the tenant's first Smart
/// Queues general parameters.
async fn clone_configuration(
    services: &Services,
    request: &RequestRow,
    now: i64,
) -> Result<StepOutcome, StoreError> {
    let store = &services.store;
    let (template_id, version) = (&request.template_id, request.template_version);
    let objects_at_version = store.count_template_objects(template_id, version).await?;
    let mut from = 0;
    while from < objects_at_version {
        crate::fault::during_clone();
        let batch = store
            .clone_objects_batch(&request.id, from, from + CLONE_BATCH)
            .await?;
        if batch.is_none() {
            return Ok(StepOutcome::NotProvisioning);
        }
        from += CLONE_BATCH;
    }
    // Only the first Smart Queue matters for the parameters: read that one row, not the
    // whole template.
    let objects: Vec<_> = store
        .first_template_object_of_kind(template_id, version, "smart_queue")
        .await?
        .into_iter()
        .collect();
    let template = store.get_template(template_id).await?;
    let services_json: Vec<String> = serde_json::from_str(&template.services).unwrap_or_default();
    let parameters = initial_smart_queue_parameters(&services_json, &objects).to_string();
    store
        .step_clone_configuration(&request.id, &parameters, objects_at_version, now)
        .await
}

/// A step refused by a conflict fails the request with a message a person can act on.
async fn fail_on(
    services: &Services,
    request: &RequestRow,
    conflict: Conflict,
) -> Result<(), ServiceError> {
    let message = match conflict {
        Conflict::AdminLoginTaken => format!(
            "The administrator login {} is already in use, so the tenant could not be created. \
             Submit the request again with another user name or UPN suffix.",
            request.admin_login()
        ),
        Conflict::NameTaken(kind) => format!(
            "The {} is now used by another tenant or request; submit again with another.",
            kind.field()
        ),
        other => {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "unexpected conflict while provisioning: {other:?}"
            )));
        }
    };
    fail(services, request, &message).await?;
    warn!(?conflict, "provisioning failed");
    Ok(())
}

/// Fails a request with `message`, removing what was made, and puts its outcome email in the
/// outbox in the same transaction.
async fn fail(
    services: &Services,
    request: &RequestRow,
    message: &str,
) -> Result<bool, ServiceError> {
    let mail = outcome_mail(
        &services.mailer,
        request,
        Outcome::Failed { error: message },
    );
    let failure = Failure {
        request_id: &request.id,
        message,
        mail: Some(&mail),
    };
    let failed = services
        .store
        .fail_and_roll_back(&failure, portal_store::now_ms())
        .await?;
    if failed {
        services.jobs_ready.notify_one();
    }
    Ok(failed)
}

/// Called when provisioning ran out of attempts, in the transaction that buries its job: a
/// half-made tenant is removed and the request marked failed with an error a person can act
/// on.
pub async fn give_up(
    services: &Services,
    burial: &mut Burial,
    request_id: &str,
    last_error: &str,
) -> Result<(), ServiceError> {
    warn!(request.id = %request_id, error = %last_error, "provisioning gave up");
    let steps = burial.request_steps(request_id).await?;
    let failed_step = steps
        .iter()
        .find(|s| s.status == StepStatus::Running)
        .map(|s| s.name.in_words())
        .unwrap_or_else(|| "provisioning".to_owned());
    let message = format!(
        "The step \"{failed_step}\" failed repeatedly, so nothing of the tenant was kept. \
         Retry the request when the cause is fixed; if it fails again, contact support with this request's reference."
    );
    let request = match burial.request(request_id).await {
        Ok(request) => request,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mail = outcome_mail(
        &services.mailer,
        &request,
        Outcome::Failed { error: &message },
    );
    let failure = Failure {
        request_id,
        message: &message,
        mail: Some(&mail),
    };
    burial
        .fail_request(&failure, portal_store::now_ms())
        .await?;
    Ok(())
}
