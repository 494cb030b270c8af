//! The `data` of an event: its subject as the matching `GET` answers it (a request, a tenant,
//! a tenant's published parameters), rendered when the event is first delivered.

use portal_domain::EventType;
use portal_domain::webhook::EventSubject;
use serde_json::{Value, json};

use crate::service::{Actor, ServiceError, Services};

fn value<T: serde::Serialize>(view: T) -> Result<Value, ServiceError> {
    serde_json::to_value(view).map_err(|e| ServiceError::Internal(e.into()))
}

/// The data of an event of `event` about `subject_id`; `{"id"}` alone when its subject is no
/// longer there.
pub async fn data_of(
    services: &Services,
    event: EventType,
    subject_id: &str,
) -> Result<Value, ServiceError> {
    let portal = Actor::portal();
    let found = match event.subject() {
        EventSubject::Request => {
            crate::service::request::get_request(services, &portal, subject_id)
                .await
                .map(|detail| value(super::requests::view(detail)))
        }
        EventSubject::Tenant => crate::service::tenant::get_tenant(services, &portal, subject_id)
            .await
            .map(|tenant| value(super::tenants::view(tenant))),
        EventSubject::Parameters => crate::service::parameters::get(services, &portal, subject_id)
            .await
            .map(|state| {
                let published = super::parameters::published(state.published)
                    .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
                value(json!({ "tenant_id": subject_id, "published": value(published)? }))
            }),
    };
    match found {
        Ok(data) => data,
        Err(ServiceError::NotFound) => Ok(json!({ "id": subject_id })),
        Err(e) => Err(e),
    }
}
