//! Template service packages as the portal offers them.

use portal_store::template::{TemplateObjectRow, TemplateRow};

use super::{ServiceError, Services};

pub async fn list_templates(services: &Services) -> Result<Vec<TemplateRow>, ServiceError> {
    Ok(services.store.list_active_templates().await?)
}

/// A template's current version with its objects.
pub async fn get_template(
    services: &Services,
    id: &str,
) -> Result<(TemplateRow, Vec<TemplateObjectRow>), ServiceError> {
    let template = services.store.get_template(id).await?;
    let objects = services
        .store
        .template_objects(id, template.version)
        .await?;
    Ok((template, objects))
}
