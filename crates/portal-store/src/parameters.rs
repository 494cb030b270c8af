//! Smart Queues general parameters: published versions, one draft per administrator, and a
//! publish that refuses a draft started from a version that is no longer the latest.

use crate::audit::{self, AuditEntry};
use crate::error::{Conflict, is_unique_violation};
use crate::{Store, StoreError};
use portal_domain::EventType;

/// A published version, with the name of who published it (none for the portal itself).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VersionRow {
    pub version: i64,
    pub parameters: String,
    pub published_at: i64,
    pub published_by: Option<String>,
    pub published_by_name: Option<String>,
}

/// An administrator's draft.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DraftRow {
    pub author_id: String,
    pub author_name: Option<String>,
    pub base_version: i64,
    pub parameters: String,
    pub updated_at: i64,
}

const VERSION_SELECT: &str = "SELECT p.version, p.parameters, p.published_at, p.published_by, \
     u.username AS published_by_name FROM smart_queue_parameters p \
     LEFT JOIN users u ON u.id = p.published_by";

impl Store {
    /// Every published version of a tenant, newest first.
    pub async fn parameter_versions(&self, tenant_id: &str) -> Result<Vec<VersionRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{VERSION_SELECT} WHERE p.tenant_id = $1 ORDER BY p.version DESC"
        )))
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn parameter_version(
        &self,
        tenant_id: &str,
        version: i64,
    ) -> Result<VersionRow, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{VERSION_SELECT} WHERE p.tenant_id = $1 AND p.version = $2"
        )))
        .bind(tenant_id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// The tenant's drafts, the most recently saved first.
    pub async fn parameter_drafts(&self, tenant_id: &str) -> Result<Vec<DraftRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT d.author_id, u.username AS author_name, d.base_version, d.parameters, d.updated_at \
             FROM smart_queue_drafts d LEFT JOIN users u ON u.id = d.author_id \
             WHERE d.tenant_id = $1 ORDER BY d.updated_at DESC, d.author_id",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Saves an administrator's draft (replacing theirs), with its audit entry.
    pub async fn save_parameter_draft(
        &self,
        tenant_id: &str,
        author_id: &str,
        base_version: i64,
        parameters: &str,
        now: i64,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO smart_queue_drafts (tenant_id, author_id, base_version, parameters, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, author_id) DO UPDATE SET \
             base_version = excluded.base_version, parameters = excluded.parameters, \
             updated_at = excluded.updated_at",
        )
        .bind(tenant_id)
        .bind(author_id)
        .bind(base_version)
        .bind(parameters)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::insert(&mut *tx, entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Throws an administrator's draft away; `NotFound` when there was none.
    pub async fn discard_parameter_draft(
        &self,
        tenant_id: &str,
        author_id: &str,
        now: i64,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("DELETE FROM smart_queue_drafts WHERE tenant_id = $1 AND author_id = $2")
                .bind(tenant_id)
                .bind(author_id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        audit::insert(&mut *tx, entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Publishes `parameters` (the author's checked draft) as the version after
    /// `base_version`, removes the draft and records the audit entry, in one transaction.
    /// `Conflict::StaleDraft` when another version was published since the draft
    /// was started: nothing changes and the draft stays.
    #[allow(clippy::too_many_arguments)]
    pub async fn publish_parameters(
        &self,
        tenant_id: &str,
        author_id: &str,
        base_version: i64,
        draft_saved_at: i64,
        parameters: &str,
        now: i64,
        entry: &AuditEntry,
    ) -> Result<i64, StoreError> {
        let stale = || StoreError::Conflict(Conflict::StaleDraft);
        let mut tx = self.begin_write().await?;
        if latest_version(&mut tx, tenant_id).await? != Some(base_version) {
            return Err(stale());
        }
        let version = base_version + 1;
        // Two publishes from the same version race for the same key: one wins, the other
        // is refused by the primary key even where the check above ran side by side.
        let inserted = sqlx::query(
            "INSERT INTO smart_queue_parameters (tenant_id, version, parameters, published_at, published_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant_id)
        .bind(version)
        .bind(parameters)
        .bind(now)
        .bind(author_id)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            return Err(if is_unique_violation(&e) {
                stale()
            } else {
                e.into()
            });
        }
        // Exactly the draft that was checked: one saved again meanwhile is not published.
        let removed = sqlx::query(
            "DELETE FROM smart_queue_drafts WHERE tenant_id = $1 AND author_id = $2 \
             AND base_version = $3 AND updated_at = $4",
        )
        .bind(tenant_id)
        .bind(author_id)
        .bind(base_version)
        .bind(draft_saved_at)
        .execute(&mut *tx)
        .await?;
        if removed.rows_affected() != 1 {
            return Err(Conflict::DraftChanged.into());
        }
        audit::insert(&mut *tx, entry, now).await?;
        let told = (tenant_id, Some(version.to_string()));
        let state = (told.0, told.1.as_deref());
        crate::webhook::emit(&mut tx, EventType::ParametersPublished, state, now).await?;
        tx.commit().await?;
        Ok(version)
    }
}

/// The tenant's latest published version, inside a transaction.
async fn latest_version(
    tx: &mut crate::WriteTx,
    tenant_id: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT MAX(version) FROM smart_queue_parameters WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&mut **tx)
            .await?,
    )
}
