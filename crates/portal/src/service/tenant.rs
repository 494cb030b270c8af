//! Tenants, as each actor may see them.

use portal_store::tenant::TenantRow;

use super::{Actor, ServiceError, Services};

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
