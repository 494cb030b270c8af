//! Provider-wide settings, each a JSON document under a key.

use crate::{Backend, Store, StoreError};

/// The statement that reads the setting under a key (`$1`): its value, if set.
pub(crate) const SETTING: &str = "SELECT value FROM settings WHERE key = $1";

/// The setting under `key`, as `executor` (the pool, or a transaction) sees it.
pub(crate) async fn setting<'e, E>(executor: E, key: &str) -> Result<Option<String>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    Ok(sqlx::query_scalar(SETTING)
        .bind(key)
        .fetch_optional(executor)
        .await?)
}

impl Store {
    pub async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        setting(&self.pool, key).await
    }

    pub async fn put_setting(
        &self,
        key: &str,
        value: &str,
        actor_id: Option<&str>,
        now: i64,
        audit: Option<&crate::audit::AuditEntry>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, \
             updated_by = excluded.updated_by",
        )
        .bind(key)
        .bind(value)
        .bind(now)
        .bind(actor_id)
        .execute(&mut *tx)
        .await?;
        if let Some(entry) = audit {
            crate::audit::insert(&mut *tx, entry, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// How many requests start within `[start, end)` (epoch milliseconds): those scheduled
    /// there and those already run there.
    pub async fn count_starting_in(&self, start: i64, end: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM subscription_requests WHERE scheduled_for >= $1 AND scheduled_for < $2 \
             AND status IN ({})",
            portal_domain::RequestStatus::in_a_window_sql()
        )))
        .bind(start)
        .bind(end)
        .fetch_one(&self.pool)
        .await?)
    }

    pub(crate) fn lock_clause(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }
}
