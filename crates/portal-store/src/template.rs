//! Template service packages: versions, their services and configuration objects.

use std::sync::LazyLock;

use portal_domain::template::TemplateStatus;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::audit::AuditEntry;
use crate::error::{Conflict, is_unique_violation};
use crate::row::{flag, parsed};
use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRow {
    pub id: String,
    pub status: TemplateStatus,
    pub version: i64,
    pub name: String,
    pub description: String,
    /// JSON array of service names.
    pub services: String,
    /// Offered on the public registration page.
    pub public: bool,
}

impl FromRow<'_, AnyRow> for TemplateRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            status: parsed(row, "status")?,
            version: row.try_get("version")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            services: row.try_get("services")?,
            public: flag(row, "public")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TemplateObjectRow {
    pub kind: String,
    pub name: String,
    /// JSON object.
    pub properties: String,
}

impl TemplateRow {
    /// Whether the template includes `service` (`smart_queues`).
    pub fn offers(&self, service: &str) -> bool {
        serde_json::from_str::<Vec<String>>(&self.services)
            .is_ok_and(|services| services.iter().any(|s| s == service))
    }
}

impl TemplateObjectRow {
    /// Whether the name or the properties name the tenant (`{tenant.…}`), so that cloning
    /// must fill them in.
    pub fn has_placeholders(&self) -> bool {
        self.name.contains("{tenant.") || self.properties.contains("{tenant.")
    }
}

/// A template version to store, objects in order.
#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub id: String,
    pub name: String,
    pub description: String,
    pub services: String,
    pub objects: Vec<TemplateObjectRow>,
}

const TEMPLATE_SELECT: &str = "SELECT t.id, t.status, v.version, v.name, v.description, v.services, \
     t.public \
     FROM templates t JOIN template_versions v \
     ON v.template_id = t.id AND v.version = t.current_version";

/// Inserts a version's objects, many rows per statement.
async fn insert_objects(
    tx: &mut crate::WriteTx,
    id: &str,
    version: i64,
    objects: &[TemplateObjectRow],
) -> Result<(), StoreError> {
    const ROWS: usize = 500;
    for (chunk_no, chunk) in objects.chunks(ROWS).enumerate() {
        let sql = format!(
            "INSERT INTO template_objects (template_id, version, position, kind, name, properties, \
             has_placeholders) VALUES {}",
            crate::placeholder_rows(chunk.len(), 7)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, object) in chunk.iter().enumerate() {
            let position =
                i64::try_from(chunk_no * ROWS + i).map_err(|e| StoreError::Other(e.into()))?;
            query = query
                .bind(id.to_owned())
                .bind(version)
                .bind(position)
                .bind(object.kind.clone())
                .bind(object.name.clone())
                .bind(object.properties.clone())
                .bind(i64::from(object.has_placeholders()));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Store {
    /// Stores a new version of a template with all its objects, or nothing. Requests already
    /// accepted keep the version they pinned. `Conflict::TemplateRetired` when retired.
    pub async fn add_template_version(
        &self,
        template: &NewTemplate,
        audit: Option<&AuditEntry>,
    ) -> Result<i64, StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let row: Option<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT status, current_version FROM templates WHERE id = $1{}",
            self.lock_clause()
        )))
        .bind(&template.id)
        .fetch_optional(&mut *tx)
        .await?;
        let (status, current) = row.ok_or(StoreError::NotFound)?;
        if status
            .parse::<TemplateStatus>()
            .map_err(anyhow::Error::from)?
            != TemplateStatus::Active
        {
            return Err(Conflict::TemplateRetired.into());
        }
        let version = current + 1;
        sqlx::query(
            "INSERT INTO template_versions (template_id, version, name, description, services, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&template.id)
        .bind(version)
        .bind(&template.name)
        .bind(&template.description)
        .bind(&template.services)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_objects(&mut tx, &template.id, version, &template.objects).await?;
        sqlx::query("UPDATE templates SET current_version = $1 WHERE id = $2")
            .bind(version)
            .bind(&template.id)
            .execute(&mut *tx)
            .await?;
        if let Some(entry) = audit {
            let entry = AuditEntry {
                detail: Some(match &entry.detail {
                    Some(d) => format!("version {version}, {d}"),
                    None => format!("version {version}"),
                }),
                ..entry.clone()
            };
            crate::audit::insert(&mut *tx, &entry, now).await?;
        }
        tx.commit().await?;
        Ok(version)
    }

    /// Retires a template: no new requests; its versions stay for the requests that use them.
    pub async fn retire_template(&self, id: &str, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE templates SET status = $1 WHERE id = $2")
            .bind(TemplateStatus::Retired.as_str())
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

    /// Offers a template on the public registration page, or stops offering it.
    pub async fn set_template_public(
        &self,
        id: &str,
        public: bool,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE templates SET public = $1 WHERE id = $2")
            .bind(i64::from(public))
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

    /// Stores a new template as version 1 with all its objects, or nothing.
    pub async fn create_template(
        &self,
        template: &NewTemplate,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO templates (id, status, current_version, created_at) VALUES ($1, $3, 1, $2)",
        )
        .bind(&template.id)
        .bind(now)
        .bind(TemplateStatus::Active.as_str())
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(Conflict::TemplateIdTaken.into());
            }
            other => other?,
        };
        sqlx::query(
            "INSERT INTO template_versions (template_id, version, name, description, services, created_at) \
             VALUES ($1, 1, $2, $3, $4, $5)",
        )
        .bind(&template.id)
        .bind(&template.name)
        .bind(&template.description)
        .bind(&template.services)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_objects(&mut tx, &template.id, 1, &template.objects).await?;
        if let Some(entry) = audit {
            crate::audit::insert(&mut *tx, entry, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn count_templates(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM templates")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The current version of every active template, by name.
    pub async fn list_active_templates(&self) -> Result<Vec<TemplateRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{TEMPLATE_SELECT} WHERE t.status = $1 ORDER BY v.name, t.id"
        )))
        .bind(TemplateStatus::Active.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// The current version of a template, active or retired.
    pub async fn get_template(&self, id: &str) -> Result<TemplateRow, StoreError> {
        template(&self.pool, id).await
    }

    /// The objects of one template version, in order.
    pub async fn template_objects(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Vec<TemplateObjectRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kind, name, properties FROM template_objects \
             WHERE template_id = $1 AND version = $2 ORDER BY position",
        )
        .bind(id)
        .bind(version)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// The statement that reads the template of an id (`$1`), current version.
pub(crate) static TEMPLATE_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("{TEMPLATE_SELECT} WHERE t.id = $1"));

/// The template of this id, as `executor` (the pool, or a transaction) sees it.
pub(crate) async fn template<'e, E>(executor: E, id: &str) -> Result<TemplateRow, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_as(sqlx::AssertSqlSafe(TEMPLATE_BY_ID.as_str()))
        .bind(id)
        .fetch_optional(executor)
        .await?
        .ok_or(StoreError::NotFound)
}
