//! Tenants made by provisioning.

use portal_domain::TenantStatus;

use crate::audit::AuditEntry;
use crate::error::Conflict;
use crate::mail::{NewMail, put_in_outbox};
use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantRow {
    pub id: String,
    pub request_id: String,
    pub name: String,
    pub short_name: String,
    pub upn_suffix: String,
    pub ani: String,
    #[sqlx(try_from = "String")]
    pub status: TenantStatus,
    pub template_id: String,
    pub template_version: i64,
    pub admin_personnel_id: String,
    pub admin_login: String,
    pub created_at: i64,
    /// Why its status last changed (suspended, closed), as staff wrote it.
    pub status_reason: Option<String>,
    pub status_changed_at: Option<i64>,
    /// Who changed it last.
    pub status_changed_by: Option<String>,
    /// When a closed tenant's data is purged.
    pub purge_after: Option<i64>,
}

const TENANT_COLUMNS: &str = "id, request_id, name, short_name, upn_suffix, ani, status, template_id, \
     template_version, admin_personnel_id, admin_login, created_at, status_reason, \
     status_changed_at, status_changed_by, purge_after";

/// A tenant's move from one status to another, with what goes with it.
#[derive(Debug, Clone)]
pub struct TenantMove<'a> {
    pub tenant_id: &'a str,
    pub from: TenantStatus,
    pub to: TenantStatus,
    pub reason: Option<&'a str>,
    pub changed_by: Option<&'a str>,
    /// When a closed tenant's data goes: set on closing, cleared by any other move.
    pub purge_after: Option<i64>,
    pub audit: &'a AuditEntry,
    /// The email that tells the tenant's contact.
    pub mail: Option<&'a NewMail>,
    /// Work the move leaves for later (the purge of a closed tenant).
    pub job: Option<&'a crate::job::NewJob>,
}

impl Store {
    /// Moves a tenant from `from` to `to` in one transaction, with its audit entry and email.
    /// A tenant that lets nobody in any more has its users' sessions, tokens and waiting
    /// sign-ins ended at once. `Conflict::TenantStatusMoved` when it is no longer in `from`,
    /// or is closed past its purge time (then it can only be purged).
    pub async fn move_tenant(&self, m: &TenantMove<'_>, now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        move_in(&mut tx, m, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Begins (or goes on with) the purge of a closed tenant whose purge time has come: from
    /// now on it cannot be reopened. False when it is not to be purged now.
    pub async fn claim_purge(&self, tenant_id: &str, now: i64) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "UPDATE tenants SET purge_started_at = COALESCE(purge_started_at, $1) \
             WHERE id = $2 AND status = $3 AND purge_after <= $1",
        )
        .bind(now)
        .bind(tenant_id)
        .bind(TenantStatus::Closed.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(claimed == 1)
    }

    /// Deletes up to `slice` configuration objects of a closed tenant whose purge has begun;
    /// how many went (none when it is not being purged).
    pub async fn purge_configuration_slice(
        &self,
        tenant_id: &str,
        slice: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let gone = sqlx::query(
            "DELETE FROM tenant_objects WHERE tenant_id = $1 AND position IN \
             (SELECT position FROM tenant_objects WHERE tenant_id = $1 ORDER BY position LIMIT $2) \
             AND EXISTS (SELECT 1 FROM tenants WHERE id = $1 AND status = $3 \
             AND purge_started_at IS NOT NULL)",
        )
        .bind(tenant_id)
        .bind(slice)
        .bind(TenantStatus::Closed.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(gone)
    }

    /// Ends a purge in one transaction: the tenant becomes a tombstone (`m` moves it from
    /// closed to purged), its users go with all they hold, its parameters and drafts too, and
    /// its names are free. What the audit log says of it stays.
    pub async fn finish_purge(&self, m: &TenantMove<'_>, now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        move_in(&mut tx, m, now).await?;
        let of_users = "user_id IN (SELECT id FROM users WHERE tenant_id = $1)";
        for table in [
            "api_tokens",
            "sessions",
            "account_links",
            "known_devices",
            "sign_in_challenges",
            "totp_factors",
            "recovery_codes",
            "passkeys",
            "webauthn_ceremonies",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE {of_users}"
            )))
            .bind(m.tenant_id)
            .execute(&mut *tx)
            .await?;
        }
        for sql in [
            "DELETE FROM smart_queue_drafts WHERE tenant_id = $1",
            "DELETE FROM users WHERE tenant_id = $1",
            "DELETE FROM smart_queue_parameters WHERE tenant_id = $1",
            "DELETE FROM tenant_objects WHERE tenant_id = $1",
            "DELETE FROM package_change_items WHERE change_id IN \
             (SELECT id FROM package_changes WHERE tenant_id = $1)",
            "DELETE FROM reserved_names WHERE request_id = (SELECT request_id FROM tenants WHERE id = $1)",
        ] {
            sqlx::query(sql).bind(m.tenant_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_tenant(&self, id: &str) -> Result<TenantRow, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// Tenants, newest first; only `only_id` when given (a tenant administrator's own).
    pub async fn list_tenants(&self, only_id: Option<&str>) -> Result<Vec<TenantRow>, StoreError> {
        let rows = match only_id {
            Some(id) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"
                )))
                .bind(id)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id DESC"
                )))
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows)
    }

    /// How many tenants and users exist with a request's id, for checks that nothing doubled.
    pub async fn count_tenants_for_request(&self, request_id: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM tenants WHERE request_id = $1")
                .bind(request_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// Moves a tenant inside the caller's transaction (see `Store::move_tenant`).
async fn move_in(tx: &mut crate::WriteTx, m: &TenantMove<'_>, now: i64) -> Result<(), StoreError> {
    // A closed tenant whose purge has begun can only be purged (and only that one): a
    // reopening racing the purge finds it moved.
    let moved = sqlx::query(
        "UPDATE tenants SET status = $1, status_reason = $2, status_changed_at = $3, \
         status_changed_by = $4, purge_after = $5 WHERE id = $6 AND status = $7 \
         AND (CASE WHEN $1 = $9 THEN purge_started_at IS NOT NULL \
         ELSE status <> $8 OR (purge_started_at IS NULL AND purge_after > $3) END)",
    )
    .bind(m.to.as_str())
    .bind(m.reason)
    .bind(now)
    .bind(m.changed_by)
    .bind(m.purge_after)
    .bind(m.tenant_id)
    .bind(m.from.as_str())
    .bind(TenantStatus::Closed.as_str())
    .bind(TenantStatus::Purged.as_str())
    .execute(&mut **tx)
    .await?;
    if moved.rows_affected() == 0 {
        let current: Option<String> =
            sqlx::query_scalar("SELECT status FROM tenants WHERE id = $1")
                .bind(m.tenant_id)
                .fetch_optional(&mut **tx)
                .await?;
        return match current {
            None => Err(StoreError::NotFound),
            Some(status) => Err(Conflict::TenantStatusMoved(
                TenantStatus::try_from(status).map_err(anyhow::Error::from)?,
            )
            .into()),
        };
    }
    if !m.to.is_open() {
        end_access(tx, m.tenant_id).await?;
    }
    crate::audit::insert(&mut **tx, m.audit, now).await?;
    if let Some(mail) = m.mail {
        put_in_outbox(tx, mail, now).await?;
    }
    tell(tx, m, now).await?;
    // A tenant no longer closed has no purge ahead.
    if m.from == TenantStatus::Closed {
        crate::job::cancel_queued_jobs(tx, m.tenant_id).await?;
    }
    if let Some(job) = m.job {
        crate::job::enqueue_in(tx, job, now).await?;
    }
    Ok(())
}

/// The move's event for the provider's other systems (`tenant.suspended`, …).
async fn tell(tx: &mut crate::WriteTx, m: &TenantMove<'_>, now: i64) -> Result<(), StoreError> {
    let action = portal_domain::TenantAction::ALL
        .iter()
        .find(|a| m.from.act(**a) == Ok(m.to));
    match action {
        Some(action) => {
            let told = portal_domain::EventType::of_tenant(*action);
            crate::webhook::emit(tx, told, (m.tenant_id, Some(m.to.as_str())), now).await
        }
        None => Ok(()),
    }
}

/// Ends the sessions, tokens and waiting sign-ins of a tenant's users.
async fn end_access(tx: &mut crate::WriteTx, tenant_id: &str) -> Result<(), StoreError> {
    for table in ["sessions", "api_tokens", "sign_in_challenges"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE user_id IN (SELECT id FROM users WHERE tenant_id = $1)"
        )))
        .bind(tenant_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
