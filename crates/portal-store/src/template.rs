//! Template service packages: versions, their services and configuration objects.

use crate::error::is_unique_violation;
use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: String,
    pub status: String,
    pub version: i64,
    pub name: String,
    pub description: String,
    /// JSON array of service names.
    pub services: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TemplateObjectRow {
    pub kind: String,
    pub name: String,
    /// JSON object.
    pub properties: String,
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

const TEMPLATE_SELECT: &str = "SELECT t.id, t.status, v.version, v.name, v.description, v.services \
     FROM templates t JOIN template_versions v \
     ON v.template_id = t.id AND v.version = t.current_version";

impl Store {
    /// Stores a new template as version 1 with all its objects, or nothing.
    pub async fn create_template(&self, template: &NewTemplate) -> Result<(), StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO templates (id, status, current_version, created_at) VALUES ($1, 'active', 1, $2)",
        )
        .bind(&template.id)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict { what: "id".into() });
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
        for (position, object) in template.objects.iter().enumerate() {
            sqlx::query(
                "INSERT INTO template_objects (template_id, version, position, kind, name, properties) \
                 VALUES ($1, 1, $2, $3, $4, $5)",
            )
            .bind(&template.id)
            .bind(i64::try_from(position).map_err(|e| StoreError::Other(e.into()))?)
            .bind(&object.kind)
            .bind(&object.name)
            .bind(&object.properties)
            .execute(&mut *tx)
            .await?;
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
            "{TEMPLATE_SELECT} WHERE t.status = 'active' ORDER BY v.name, t.id"
        )))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The current version of a template, active or retired.
    pub async fn get_template(&self, id: &str) -> Result<TemplateRow, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{TEMPLATE_SELECT} WHERE t.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
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
