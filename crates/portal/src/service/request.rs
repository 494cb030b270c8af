//! Tenant subscription requests: intake, reading and listing.

use portal_domain::request::PROVISIONING_STEPS;
use portal_domain::submission::{FieldProblem, RawSubmission};
use portal_domain::{FieldError, FieldErrorCode, RequestStatus};
use portal_store::StoreError;
use portal_store::job::NewJob;
use portal_store::request::{NewRequest, RequestFilter, RequestRow, StepRow};
use tracing::info;

use super::provision::{PROVISION_JOB, ProvisionPayload};
use super::{Actor, ServiceError, Services};

/// How many times provisioning is tried before the request is marked failed.
pub const PROVISION_ATTEMPTS: i64 = 5;

/// A request with its steps.
#[derive(Debug, Clone)]
pub struct RequestDetail {
    pub request: RequestRow,
    pub steps: Vec<StepRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Fields broke their rules; every one is listed.
    #[error("some fields are invalid")]
    Invalid(Vec<FieldProblem>),
    /// A name is already held by a tenant or an open request; names the field.
    #[error("{field} is already taken")]
    Taken { field: String },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

fn invalid(field: &'static str, code: FieldErrorCode, message: &str) -> SubmitError {
    SubmitError::Invalid(vec![FieldProblem {
        field,
        error: FieldError::new(code, message),
    }])
}

/// Accepts a request: checks every field, hashes the password, stores the request with its
/// names reserved and its provisioning job enqueued in one transaction.
#[tracing::instrument(skip_all, fields(request.id, tenant.short_name))]
pub async fn submit_request(
    services: &Services,
    actor: &Actor,
    raw: RawSubmission,
) -> Result<RequestDetail, SubmitError> {
    if !actor.is_landlord() {
        return Err(ServiceError::Forbidden.into());
    }
    let portal_domain::submission::Submission {
        template_id,
        tenant: t,
        contact: c,
        password,
    } = raw.parse().map_err(SubmitError::Invalid)?;
    let template = match services.store.get_template(&template_id).await {
        Ok(t) if t.status == "active" => t,
        Ok(_) => {
            return Err(invalid(
                "template_id",
                FieldErrorCode::Required,
                "This template service package is retired; choose another.",
            ));
        }
        Err(StoreError::NotFound) => {
            return Err(invalid(
                "template_id",
                FieldErrorCode::Required,
                "There is no template service package with this id.",
            ));
        }
        Err(e) => return Err(ServiceError::from(e).into()),
    };
    // The plain password moves into the hashing task and is dropped there.
    let hash = services
        .hasher
        .hash(password.into_string())
        .await
        .map_err(ServiceError::from)?
        .map_err(ServiceError::Internal)?;

    let id = portal_store::new_id();
    tracing::Span::current()
        .record("request.id", id.as_str())
        .record("tenant.short_name", t.short_name.as_str());
    let now = portal_store::now_ms();
    let request = NewRequest {
        id: id.clone(),
        status: RequestStatus::Accepted.as_str().to_owned(),
        template_id: template.id.clone(),
        template_version: template.version,
        tenant_name: t.name.to_string(),
        short_name: t.short_name.to_string(),
        upn_suffix: t.upn_suffix.to_string(),
        admin_user_name: t.admin_user_name.to_string(),
        admin_personnel_id: t.admin_personnel_id().to_string(),
        admin_password_hash: hash,
        ani: t.ani.to_string(),
        contact_first_name: c.first_name.to_string(),
        contact_last_name: c.last_name.to_string(),
        contact_email: c.email.to_string(),
        contact_phone: c.phone.as_ref().map(ToString::to_string),
        contact_company: c.company.as_ref().map(ToString::to_string),
        contact_address: c.address.as_ref().map(ToString::to_string),
        submitted_by: Some(actor.id.clone()),
        submitted_at: now,
        scheduled_for: None,
        steps: PROVISIONING_STEPS.iter().map(|s| (*s).to_owned()).collect(),
    };
    let payload = serde_json::to_string(&ProvisionPayload {
        request_id: id.clone(),
    })
    .map_err(|e| ServiceError::Internal(e.into()))?;
    let job = NewJob {
        kind: PROVISION_JOB.to_owned(),
        payload,
        run_at: now,
        max_attempts: PROVISION_ATTEMPTS,
    };
    match services.store.submit_request(&request, &job).await {
        Ok(()) => {}
        Err(StoreError::Conflict { what }) => return Err(SubmitError::Taken { field: what }),
        Err(e) => return Err(ServiceError::from(e).into()),
    }
    services.jobs_ready.notify_one();
    info!("request accepted");
    Ok(get_request(services, actor, &id).await?)
}

/// One request with its steps, if the actor may see it.
pub async fn get_request(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<RequestDetail, ServiceError> {
    let request = services.store.get_request(id).await?;
    if !actor.can_see_tenant(request.tenant_id.as_deref()) {
        return Err(ServiceError::NotFound);
    }
    let steps = services.store.request_steps(id).await?;
    Ok(RequestDetail { request, steps })
}

/// A page of requests, newest first, and the cursor of the next page.
pub async fn list_requests(
    services: &Services,
    actor: &Actor,
    filter: RequestFilter,
) -> Result<(Vec<RequestRow>, Option<String>), ServiceError> {
    if !actor.is_landlord() {
        // Requests belong to the provider's staff; a tenant sees its own through its tenant.
        return Ok((Vec::new(), None));
    }
    let limit = filter.limit;
    let mut rows = services
        .store
        .list_requests(&RequestFilter {
            limit: limit + 1,
            ..filter
        })
        .await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok((rows, next))
}
