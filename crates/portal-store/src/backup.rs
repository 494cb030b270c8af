//! Copies of the embedded database and their checks: a consistent copy taken while the portal
//! serves and writes, and what a copy must pass before it is put back.

use std::path::Path;

use crate::{Backend, Store, StoreError};

/// What a database holds, as a check of a copy reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contents {
    pub requests: i64,
    pub tenants: i64,
    /// Completed requests without their tenant: 0 in a consistent copy.
    pub completed_without_tenant: i64,
}

impl Store {
    /// Writes a consistent copy of this SQLite database into `file`, which must not exist:
    /// `VACUUM INTO` reads one snapshot while writers go on, and writes a compact file.
    pub async fn copy_into(&self, file: &Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Other(anyhow::anyhow!(
                "only the embedded database is copied this way"
            )));
        }
        let target = file.to_str().ok_or_else(|| {
            StoreError::Other(anyhow::anyhow!("the path {} is not UTF-8", file.display()))
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Writes what the SQLite log holds into the database file and empties the log.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// What SQLite's integrity check finds wrong (nothing: an empty list).
    pub async fn integrity_problems(&self) -> Result<Vec<String>, StoreError> {
        if self.backend != Backend::Sqlite {
            return Ok(Vec::new());
        }
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(line,)| line)
            .filter(|line| line != "ok")
            .collect())
    }

    /// The newest migration applied to this database (0 for none).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let (applied,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok(applied.unwrap_or(0))
    }

    /// The newest migration this build knows.
    pub fn latest_schema_version(&self) -> i64 {
        self.migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The counts a check of a copy reports.
    pub async fn contents(&self) -> Result<Contents, StoreError> {
        let (requests, tenants, completed_without_tenant): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM subscription_requests), (SELECT COUNT(*) FROM tenants), \
             (SELECT COUNT(*) FROM subscription_requests r WHERE r.status = 'completed' \
              AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = r.tenant_id))",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Contents {
            requests,
            tenants,
            completed_without_tenant,
        })
    }
}
