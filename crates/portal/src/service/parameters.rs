//! Smart Queues general parameters of a tenant: drafts per administrator, publishing a draft
//! as the next version, the history, and copying an old version into a draft. A draft that
//! was started from an older version than the latest cannot be published (409); saving it
//! again lays its own changes over the latest version, so nobody's change is lost.

use portal_domain::TenantStatus;
use portal_domain::smart_queue::{GeneralParameters, ParameterProblem, merged};
use portal_store::parameters::{DraftRow, VersionRow};
use portal_store::{Conflict, StoreError};
use serde_json::{Map, Value};

use super::{Actor, ServiceError, Services, audit, tenant};

/// A tenant's parameters as its administrators see them.
#[derive(Debug, Clone)]
pub struct ParametersState {
    pub published: VersionRow,
    /// The caller's own draft.
    pub draft: Option<DraftRow>,
    /// Drafts of the tenant's other administrators.
    pub other_drafts: Vec<DraftRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParametersError {
    /// Values break their rules; every one is named.
    #[error("some parameters are invalid")]
    Invalid(Vec<ParameterProblem>),
    /// There is no draft to publish.
    #[error("there is no draft to publish")]
    NoDraft,
    /// Another version was published since the draft was started; the draft is kept.
    #[error("{0}")]
    Stale(String),
    /// The tenant is not active (still provisioning, or rolled back).
    #[error("the tenant is not active")]
    NotActive,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

fn object(text: &str) -> Result<Map<String, Value>, ServiceError> {
    serde_json::from_str(text).map_err(|e| ServiceError::Internal(e.into()))
}

/// Changes are made only to an active tenant: one still provisioning may yet be rolled back.
async fn active(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
) -> Result<(), ParametersError> {
    let t = tenant::get_tenant(services, actor, tenant_id).await?;
    actor.require(portal_domain::Permission::EditParameters)?;
    if t.status == TenantStatus::Active {
        Ok(())
    } else {
        Err(ParametersError::NotActive)
    }
}

/// The tenant, checked visible to the actor, and its latest published version.
async fn latest(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
) -> Result<VersionRow, ServiceError> {
    tenant::get_tenant(services, actor, tenant_id).await?;
    actor.require(portal_domain::Permission::ReadParameters)?;
    services
        .store
        .parameter_versions(tenant_id)
        .await?
        .into_iter()
        .next()
        .ok_or(ServiceError::NotFound)
}

pub async fn get(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
) -> Result<ParametersState, ServiceError> {
    let published = latest(services, actor, tenant_id).await?;
    let (mine, others): (Vec<DraftRow>, Vec<DraftRow>) = services
        .store
        .parameter_drafts(tenant_id)
        .await?
        .into_iter()
        .partition(|d| d.author_id == actor.id);
    Ok(ParametersState {
        published,
        draft: mine.into_iter().next(),
        other_drafts: others,
    })
}

pub async fn versions(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
) -> Result<Vec<VersionRow>, ServiceError> {
    latest(services, actor, tenant_id).await?;
    Ok(services.store.parameter_versions(tenant_id).await?)
}

/// What a new draft starts from: the caller's draft laid over the latest version (only the
/// values the draft changed from its own base are kept), or the latest version.
async fn draft_base(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
    latest: &VersionRow,
) -> Result<Map<String, Value>, ServiceError> {
    let latest_values = object(&latest.parameters)?;
    let Some(draft) = services
        .store
        .parameter_drafts(tenant_id)
        .await?
        .into_iter()
        .find(|d| d.author_id == actor.id)
    else {
        return Ok(latest_values);
    };
    let draft_values = object(&draft.parameters)?;
    if draft.base_version == latest.version {
        return Ok(draft_values);
    }
    let base_values = match services
        .store
        .parameter_version(tenant_id, draft.base_version)
        .await
    {
        Ok(v) => object(&v.parameters)?,
        Err(StoreError::NotFound) => Map::new(),
        Err(e) => return Err(e.into()),
    };
    let own_changes: Map<String, Value> = draft_values
        .into_iter()
        .filter(|(k, v)| base_values.get(k) != Some(v))
        .collect();
    Ok(merged(&latest_values, &own_changes))
}

/// Saves `changes` into the caller's draft (creating it from the latest version); every value
/// is checked, and nothing is saved when one is wrong.
pub async fn save_draft(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
    changes: &Map<String, Value>,
) -> Result<DraftRow, ParametersError> {
    active(services, actor, tenant_id).await?;
    let latest = latest(services, actor, tenant_id).await?;
    let base = draft_base(services, actor, tenant_id, &latest).await?;
    let values = GeneralParameters::parse(&merged(&base, changes))
        .map_err(ParametersError::Invalid)?
        .to_json();
    let text = values.to_string();
    let now = portal_store::now_ms();
    let changed: Vec<&str> = changes.keys().map(String::as_str).collect();
    services
        .store
        .save_parameter_draft(
            tenant_id,
            &actor.id,
            latest.version,
            &text,
            now,
            &audit::entry(
                Some(actor),
                portal_domain::AuditAction::ParametersDraftSaved,
                Some(tenant_id),
                Some(tenant_id),
                Some(if changed.is_empty() {
                    format!("on version {}", latest.version)
                } else {
                    format!("on version {}: {}", latest.version, changed.join(", "))
                }),
            ),
        )
        .await
        .map_err(ServiceError::from)?;
    Ok(DraftRow {
        author_id: actor.id.clone(),
        author_name: Some(actor.username.clone()),
        base_version: latest.version,
        parameters: text,
        updated_at: now,
    })
}

pub async fn discard_draft(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
) -> Result<(), ParametersError> {
    active(services, actor, tenant_id).await?;
    Ok(services
        .store
        .discard_parameter_draft(
            tenant_id,
            &actor.id,
            portal_store::now_ms(),
            &audit::entry(
                Some(actor),
                portal_domain::AuditAction::ParametersDraftDiscarded,
                Some(tenant_id),
                Some(tenant_id),
                None,
            ),
        )
        .await
        .map_err(ServiceError::from)?)
}

/// Publishes the caller's draft as the next version after checking it whole.
pub async fn publish(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
) -> Result<VersionRow, ParametersError> {
    active(services, actor, tenant_id).await?;
    let state = get(services, actor, tenant_id).await?;
    let draft = state.draft.ok_or(ParametersError::NoDraft)?;
    let values =
        GeneralParameters::parse(&object(&draft.parameters)?).map_err(ParametersError::Invalid)?;
    values
        .check_publishable()
        .map_err(ParametersError::Invalid)?;
    let latest = state.published;
    if draft.base_version != latest.version {
        return Err(behind(&draft, &latest));
    }
    let now = portal_store::now_ms();
    let text = values.to_json().to_string();
    let entry = audit::entry(
        Some(actor),
        portal_domain::AuditAction::ParametersPublished,
        Some(tenant_id),
        Some(tenant_id),
        Some(format!("version {}", draft.base_version + 1)),
    );
    let published = services
        .store
        .publish_parameters(
            tenant_id,
            &actor.id,
            draft.base_version,
            draft.updated_at,
            &text,
            now,
            &entry,
        )
        .await;
    let version = match published {
        Ok(version) => version,
        Err(StoreError::Conflict(conflict)) => {
            return Err(publish_refused(services, actor, tenant_id, conflict).await);
        }
        Err(e) => return Err(ServiceError::from(e).into()),
    };
    tracing::info!(tenant.id = %tenant_id, version, "Smart Queues general parameters published");
    Ok(VersionRow {
        version,
        parameters: text,
        published_at: now,
        published_by: Some(actor.id.clone()),
        published_by_name: Some(actor.username.clone()),
    })
}

/// A draft started from a version older than the latest one.
fn behind(draft: &DraftRow, latest: &VersionRow) -> ParametersError {
    ParametersError::Stale(format!(
        "Version {} was published by {} since this draft was started from version {}. \
         The draft is kept: save it again to lay its changes over version {}, check it, \
         and publish.",
        latest.version,
        latest.published_by_name.as_deref().unwrap_or("the portal"),
        draft.base_version,
        latest.version
    ))
}

/// Why the store refused a publish, for the person who tried.
async fn publish_refused(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
    conflict: Conflict,
) -> ParametersError {
    match conflict {
        Conflict::DraftChanged => ParametersError::Stale(
            "The draft was saved again while it was being published, so nothing was \
             published. Check the draft and publish it again."
                .into(),
        ),
        Conflict::StaleDraft => {
            // Published by someone else a moment ago: say who, from the fresh state.
            let now_latest = match self::latest(services, actor, tenant_id).await {
                Ok(latest) => latest,
                Err(e) => return e.into(),
            };
            ParametersError::Stale(format!(
                "Version {} was just published by {}. The draft is kept: save it again to lay \
                 its changes over version {}, check it, and publish.",
                now_latest.version,
                now_latest
                    .published_by_name
                    .as_deref()
                    .unwrap_or("the portal"),
                now_latest.version
            ))
        }
        other => ServiceError::from(StoreError::Conflict(other)).into(),
    }
}

/// Makes an old version the caller's draft, on top of the latest version.
pub async fn copy_to_draft(
    services: &Services,
    actor: &Actor,
    tenant_id: &str,
    version: i64,
) -> Result<DraftRow, ParametersError> {
    active(services, actor, tenant_id).await?;
    let latest = latest(services, actor, tenant_id).await?;
    let old = match services.store.parameter_version(tenant_id, version).await {
        Ok(v) => v,
        Err(StoreError::NotFound) => return Err(ServiceError::NotFound.into()),
        Err(e) => return Err(ServiceError::from(e).into()),
    };
    let values = object(&old.parameters)?;
    let now = portal_store::now_ms();
    services
        .store
        .save_parameter_draft(
            tenant_id,
            &actor.id,
            latest.version,
            &old.parameters,
            now,
            &audit::entry(
                Some(actor),
                portal_domain::AuditAction::ParametersDraftSaved,
                Some(tenant_id),
                Some(tenant_id),
                Some(format!("copied from version {version}")),
            ),
        )
        .await
        .map_err(ServiceError::from)?;
    Ok(DraftRow {
        author_id: actor.id.clone(),
        author_name: Some(actor.username.clone()),
        base_version: latest.version,
        parameters: serde_json::Value::Object(values).to_string(),
        updated_at: now,
    })
}
