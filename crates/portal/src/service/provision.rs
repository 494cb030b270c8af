//! Provisioning: turns an accepted request into a tenant and its administrator, exactly once.
//!
//! The job may run again after a crash or a lost lease; every write is guarded by the
//! request's status, so a second run finds the work done and changes nothing.

use portal_domain::RequestStatus;
use portal_store::StoreError;
use portal_store::request::CompletedProvisioning;
use tracing::{info, warn};

use super::{ServiceError, Services};

/// The job kind that provisions one request.
pub const PROVISION_JOB: &str = "provision_request";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProvisionPayload {
    pub request_id: String,
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
    if status != provisioning
        && !store
            .transition_request(request_id, status.as_str(), provisioning.as_str(), now)
            .await?
    {
        // Someone else moved it meanwhile (cancelled, or another worker); read it again later.
        return Err(ServiceError::Internal(anyhow::anyhow!(
            "the request changed while starting"
        )));
    }
    let login = format!("{}@{}", request.admin_personnel_id, request.upn_suffix);
    let done = CompletedProvisioning {
        request_id: request_id.to_owned(),
        tenant_id: portal_store::new_id(),
        admin_user_id: portal_store::new_id(),
        admin_login: login,
        now: portal_store::now_ms(),
    };
    match store.complete_provisioning(&done).await {
        Ok(true) => info!(tenant.id = %done.tenant_id, "tenant provisioned"),
        Ok(false) => info!("already provisioned"),
        Err(StoreError::Conflict { .. }) => {
            let message = format!(
                "The administrator login {} is already in use, so the tenant could not be created.",
                done.admin_login
            );
            store
                .fail_request(request_id, &message, portal_store::now_ms())
                .await?;
            warn!("provisioning failed: the administrator login is taken");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Called when provisioning ran out of attempts: the request is marked failed.
pub async fn give_up(
    services: &Services,
    request_id: &str,
    last_error: &str,
) -> Result<(), ServiceError> {
    warn!(request.id = %request_id, error = %last_error, "provisioning gave up");
    services
        .store
        .fail_request(
            request_id,
            "Provisioning failed repeatedly because of an internal error. Retry the request, or contact support.",
            portal_store::now_ms(),
        )
        .await?;
    Ok(())
}
