//! Tenants made by provisioning.

use portal_domain::TenantStatus;

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
}

const TENANT_COLUMNS: &str = "id, request_id, name, short_name, upn_suffix, ani, status, template_id, \
     template_version, admin_personnel_id, admin_login, created_at";

impl Store {
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
