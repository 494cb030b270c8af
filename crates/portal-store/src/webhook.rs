//! Webhook endpoints: where the provider's other systems receive the portal's events, each with
//! the secret that signs its deliveries.

use portal_domain::EndpointStatus;

use crate::audit::AuditEntry;
use crate::{Store, StoreError};

#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    /// JSON array of event types, or `["*"]`.
    pub events: String,
    pub description: String,
    #[sqlx(try_from = "String")]
    pub status: EndpointStatus,
    /// `whsec_…`: signs every delivery.
    pub secret: String,
    /// The secret before the last rotation, signing too until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<i64>,
    pub disabled_reason: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for EndpointRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointRow")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, url, events, description, status, secret, previous_secret, \
     previous_until, disabled_reason, created_by, created_at, updated_at";

/// An endpoint to add.
#[derive(Clone)]
pub struct NewEndpoint<'a> {
    pub id: &'a str,
    pub url: &'a str,
    pub events: &'a str,
    pub description: &'a str,
    pub secret: &'a str,
    pub created_by: Option<&'a str>,
}

/// What a change of an endpoint sets; `None` keeps a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub events: Option<String>,
    pub description: Option<String>,
    pub status: Option<EndpointStatus>,
}

impl Store {
    pub async fn create_endpoint(
        &self,
        new: &NewEndpoint<'_>,
        audit: &AuditEntry,
    ) -> Result<EndpointRow, StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, url, events, description, status, secret, \
             created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(new.id)
        .bind(new.url)
        .bind(new.events)
        .bind(new.description)
        .bind(EndpointStatus::Enabled.as_str())
        .bind(new.secret)
        .bind(new.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        self.get_endpoint(new.id).await
    }

    /// Every endpoint, oldest first.
    pub async fn list_endpoints(&self) -> Result<Vec<EndpointRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn get_endpoint(&self, id: &str) -> Result<EndpointRow, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// Changes what `change` sets, with its audit entry. An endpoint enabled again forgets why
    /// the portal disabled it.
    pub async fn update_endpoint(
        &self,
        id: &str,
        change: &EndpointChange,
        audit: &AuditEntry,
    ) -> Result<EndpointRow, StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET url = COALESCE($1, url), events = COALESCE($2, events), \
             description = COALESCE($3, description), status = COALESCE($4, status), \
             disabled_reason = CASE WHEN $4 = $5 THEN NULL ELSE disabled_reason END, \
             updated_at = $6 WHERE id = $7",
        )
        .bind(change.url.as_deref())
        .bind(change.events.as_deref())
        .bind(change.description.as_deref())
        .bind(change.status.map(EndpointStatus::as_str))
        .bind(EndpointStatus::Enabled.as_str())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        self.get_endpoint(id).await
    }

    pub async fn delete_endpoint(&self, id: &str, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::insert(&mut *tx, audit, crate::now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives the endpoint `secret`; the one it had signs too until `overlap_until`.
    pub async fn rotate_endpoint_secret(
        &self,
        id: &str,
        secret: &str,
        overlap_until: i64,
        audit: &AuditEntry,
    ) -> Result<EndpointRow, StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_until = $1, \
             secret = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(overlap_until)
        .bind(secret)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        self.get_endpoint(id).await
    }
}
