//! Provisioning: turns an accepted request into a working tenant, step by step, exactly once.
//!
//! Each step is one store transaction that also marks the step done, so the job may run again
//! after a crash or a lost lease: finished steps are skipped, and the step that was cut off
//! runs again from scratch (its writes are keyed, so nothing is written twice).

use portal_domain::RequestStatus;
use portal_domain::request::{
    PROVISIONING_STEPS, STEP_ACTIVATE, STEP_ASSIGN_ANI_AND_UPN_SUFFIX, STEP_CLONE_CONFIGURATION,
    STEP_CREATE_ADMINISTRATOR, STEP_CREATE_TENANT, STEP_RESERVE_NAMES,
};
use portal_store::StoreError;
use portal_store::job::NewJob;
use portal_store::provision::{RequestChange, StepOutcome};
use portal_store::template::TemplateObjectRow;
use serde_json::{Value, json};
use tracing::{info, warn};

use super::{ServiceError, Services};
use crate::mail::{Outcome, outcome_mail};

/// The job kind that provisions one request.
pub const PROVISION_JOB: &str = "provision_request";

/// Objects copied per transaction while cloning: large templates are copied in slices, so a
/// crash loses at most one slice of work and no transaction holds the database for long.
pub const CLONE_BATCH: i64 = 2_000;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProvisionPayload {
    pub request_id: String,
}

/// The job that provisions `request_id`, due at `run_at`.
pub fn job_for(request_id: &str, run_at: i64, attempts: i64) -> Result<NewJob, ServiceError> {
    let payload = serde_json::to_string(&ProvisionPayload {
        request_id: request_id.to_owned(),
    })
    .map_err(|e| ServiceError::Internal(e.into()))?;
    Ok(NewJob {
        kind: PROVISION_JOB.to_owned(),
        subject: Some(request_id.to_owned()),
        payload,
        run_at,
        max_attempts: attempts,
    })
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
    let store = &services.store;
    let request = match store.get_request(request_id).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => {
            warn!("the request to provision does not exist; nothing to do");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let status: RequestStatus = request
        .status
        .parse()
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
    let provisioning = match status.start_provisioning() {
        Ok(next) => next,
        Err(refused) => {
            info!(%refused, "nothing to provision");
            return Ok(());
        }
    };
    let now = portal_store::now_ms();
    if status != provisioning {
        let change = RequestChange {
            request_id,
            actor_id: None,
            action: "provisioning_started",
            from: &[status.as_str()],
            to: provisioning.as_str(),
            now,
            scheduled_for: None,
            run_job_at: None,
            new_job: None,
            reserve_names: false,
            release_names: false,
            detail: None,
            audit: None,
            window_cap: None,
            error: None,
            mail: None,
        };
        match store.act_on_request(&change).await {
            Ok(_) => {}
            // Moved meanwhile (cancelled, or taken by another worker): look again later.
            Err(StoreError::Conflict { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    let template = store.get_template(&request.template_id).await?;
    let objects_at_version = store
        .count_template_objects(&request.template_id, request.template_version)
        .await?;

    for step in PROVISIONING_STEPS {
        let now = portal_store::now_ms();
        store.mark_step_running(request_id, step, now).await?;
        crate::fault::before_step(step).map_err(ServiceError::Internal)?;
        let outcome = match step {
            STEP_RESERVE_NAMES => store.step_reserve_names(request_id, step, now).await,
            STEP_CREATE_TENANT => {
                store
                    .step_create_tenant(request_id, step, &portal_store::new_id(), now)
                    .await
            }
            STEP_CREATE_ADMINISTRATOR => {
                store
                    .step_create_administrator(request_id, step, &portal_store::new_id(), now)
                    .await
            }
            STEP_CLONE_CONFIGURATION => {
                let mut from = 0;
                while from < objects_at_version {
                    crate::fault::during_clone();
                    if store
                        .clone_objects_batch(request_id, from, from + CLONE_BATCH)
                        .await?
                        .is_none()
                    {
                        return Ok(());
                    }
                    from += CLONE_BATCH;
                }
                // Only the first Smart Queue matters for the parameters: read that one row,
                // not the whole template.
                let objects = store
                    .first_template_object_of_kind(
                        &request.template_id,
                        request.template_version,
                        "smart_queue",
                    )
                    .await?
                    .into_iter()
                    .collect::<Vec<_>>();
                let services_json: Vec<String> =
                    serde_json::from_str(&template.services).unwrap_or_default();
                let parameters =
                    initial_smart_queue_parameters(&services_json, &objects).to_string();
                store
                    .step_clone_configuration(
                        request_id,
                        step,
                        &parameters,
                        objects_at_version,
                        now,
                    )
                    .await
            }
            STEP_ASSIGN_ANI_AND_UPN_SUFFIX => {
                store
                    .step_assign_ani_and_upn_suffix(request_id, step, now)
                    .await
            }
            STEP_ACTIVATE => {
                let login = format!("{}@{}", request.admin_personnel_id, request.upn_suffix);
                let mail = outcome_mail(
                    &services.mailer,
                    &request,
                    Outcome::Completed { login_id: &login },
                );
                let done = store
                    .step_activate(request_id, step, Some(&mail), now)
                    .await;
                if matches!(done, Ok(StepOutcome::Done)) {
                    services.jobs_ready.notify_one();
                }
                done
            }
            other => {
                return Err(ServiceError::Internal(anyhow::anyhow!(
                    "unknown step {other}"
                )));
            }
        };
        match outcome {
            Ok(StepOutcome::NotProvisioning) => return Ok(()),
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) if step == STEP_CREATE_ADMINISTRATOR => {
                let message = format!(
                    "The administrator login {}@{} is already in use, so the tenant could not be created. \
                     Submit the request again with another user name or UPN suffix.",
                    request.admin_personnel_id, request.upn_suffix
                );
                fail(services, &request, &message).await?;
                warn!("provisioning failed: the administrator login is taken");
                return Ok(());
            }
            Err(StoreError::Conflict { what }) if step == STEP_RESERVE_NAMES => {
                let message = format!(
                    "The {what} is now used by another tenant or request; submit again with another."
                );
                fail(services, &request, &message).await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
    info!("tenant provisioned");
    Ok(())
}

/// Fails a request with `message`, removing what was made, and puts its outcome email in the
/// outbox in the same transaction.
async fn fail(
    services: &Services,
    request: &portal_store::request::RequestRow,
    message: &str,
) -> Result<bool, ServiceError> {
    let mail = outcome_mail(
        &services.mailer,
        request,
        Outcome::Failed { error: message },
    );
    let failed = services
        .store
        .fail_and_roll_back(&request.id, message, Some(&mail), portal_store::now_ms())
        .await?;
    if failed {
        services.jobs_ready.notify_one();
    }
    Ok(failed)
}

/// Called when provisioning ran out of attempts: a half-made tenant is removed and the request
/// marked failed with an error a person can act on.
pub async fn give_up(
    services: &Services,
    request_id: &str,
    last_error: &str,
) -> Result<(), ServiceError> {
    warn!(request.id = %request_id, error = %last_error, "provisioning gave up");
    let steps = services.store.request_steps(request_id).await?;
    let failed_step = steps
        .iter()
        .find(|s| s.status == "running")
        .map(|s| s.name.replace('_', " "))
        .unwrap_or_else(|| "provisioning".to_owned());
    let message = format!(
        "The step \"{failed_step}\" failed repeatedly, so nothing of the tenant was kept. \
         Retry the request when the cause is fixed; if it fails again, contact support with this request's reference."
    );
    let request = services.store.get_request(request_id).await?;
    fail(services, &request, &message).await?;
    Ok(())
}
