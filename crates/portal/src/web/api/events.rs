//! The `data` of an event: its subject as the matching `GET` answers it (a request, a tenant,
//! a tenant's published parameters), rendered when the event is first delivered, but for the
//! state the event tells of (the subject's status then, the parameters' version published).

use portal_domain::EventType;
use portal_domain::webhook::EventSubject;
use serde_json::{Value, json};

use crate::service::{Actor, ServiceError, Services};

fn value<T: serde::Serialize>(view: T) -> Result<Value, ServiceError> {
    serde_json::to_value(view).map_err(|e| ServiceError::Internal(e.into()))
}

/// The data of an event of `event` about `subject_id`, with `state` (the status it had, or
/// the parameters' version published, when the event happened); `{"id"}` alone when its
/// subject is no longer there.
pub async fn data_of(
    services: &Services,
    event: EventType,
    subject_id: &str,
    state: Option<&str>,
) -> Result<Value, ServiceError> {
    let portal = Actor::portal();
    let found = match event.subject() {
        EventSubject::Request => {
            crate::service::request::get_request(services, &portal, subject_id)
                .await
                .and_then(|detail| value(super::requests::view(detail)))
        }
        EventSubject::Tenant => crate::service::tenant::get_tenant(services, &portal, subject_id)
            .await
            .and_then(|tenant| value(super::tenants::view(tenant))),
        EventSubject::Parameters => parameters(services, subject_id, state).await,
    };
    match found {
        Ok(mut data) => {
            // The status the event tells of, should the subject have moved on since.
            if let (Some(status), EventSubject::Request | EventSubject::Tenant) =
                (state, event.subject())
                && let Some(object) = data.as_object_mut()
            {
                object.insert("status".into(), json!(status));
            }
            Ok(data)
        }
        Err(ServiceError::NotFound) => Ok(json!({ "id": subject_id })),
        Err(e) => Err(e),
    }
}

/// The tenant's parameters as published in `version` (the latest when none is given).
async fn parameters(
    services: &Services,
    tenant_id: &str,
    version: Option<&str>,
) -> Result<Value, ServiceError> {
    let row = match version.and_then(|v| v.parse::<i64>().ok()) {
        Some(version) => services.store.parameter_version(tenant_id, version).await?,
        None => services
            .store
            .parameter_versions(tenant_id)
            .await?
            .into_iter()
            .next()
            .ok_or(ServiceError::NotFound)?,
    };
    let published = super::parameters::published(row)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
    Ok(json!({ "tenant_id": tenant_id, "published": value(published)? }))
}
