//! The audit log: who did what, when and from where.

use portal_domain::AuditAction;

use crate::batch::Binds;
use crate::{Store, StoreError};

/// One thing that happened.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor_id: Option<String>,
    /// The acting user's name, or the name given at a failed sign-in.
    pub actor_name: Option<String>,
    /// The tenant it concerns, when it concerns one (its administrators may read it).
    pub tenant_id: Option<String>,
    /// What happened.
    pub action: AuditAction,
    /// What it happened to (a request, template or tenant id).
    pub subject: Option<String>,
    pub detail: Option<String>,
    /// The client's address.
    pub client: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub id: String,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub tenant_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub action: AuditAction,
    pub subject: Option<String>,
    pub detail: Option<String>,
    pub client: Option<String>,
}

/// Which entries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this tenant's entries (a tenant administrator never sees others).
    pub tenant_id: Option<String>,
    pub action: Option<AuditAction>,
    /// Only entries older than this id (the previous page's last).
    pub before_id: Option<String>,
    pub limit: i64,
}

pub(crate) async fn insert<'e, E>(
    executor: E,
    entry: &AuditEntry,
    at: i64,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    audit_values(sqlx::query(INSERT_AUDIT), entry, at)
        .execute(executor)
        .await?;
    Ok(())
}

/// The statement that writes an audit entry, with [`audit_values`].
pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_log (id, at, actor_id, actor_name, tenant_id, \
     action, subject, detail, client) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// The values of [`INSERT_AUDIT`].
pub(crate) fn audit_values<B: Binds>(values: B, entry: &AuditEntry, at: i64) -> B {
    values
        .with(crate::new_id())
        .with(at)
        .with(entry.actor_id.as_deref())
        .with(entry.actor_name.as_deref())
        .with(entry.tenant_id.as_deref())
        .with(entry.action.as_str())
        .with(entry.subject.as_deref())
        .with(entry.detail.as_deref())
        .with(entry.client.as_deref())
}

impl Store {
    pub async fn record_audit(&self, entry: &AuditEntry, at: i64) -> Result<(), StoreError> {
        insert(&self.pool, entry, at).await
    }

    /// Entries newest first, one page of at most `limit`.
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
        let mut sql =
            "SELECT id, at, actor_id, actor_name, tenant_id, action, subject, detail, client \
                       FROM audit_log WHERE 1 = 1"
                .to_owned();
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if filter.tenant_id.is_some() {
            sql.push_str(&format!(" AND tenant_id = ${}", next()));
        }
        if filter.action.is_some() {
            sql.push_str(&format!(" AND action = ${}", next()));
        }
        if filter.before_id.is_some() {
            sql.push_str(&format!(" AND id < ${}", next()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", next()));
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        let action = filter.action.map(|a| a.as_str().to_owned());
        for value in [&filter.tenant_id, &action, &filter.before_id]
            .into_iter()
            .flatten()
        {
            query = query.bind(value.clone());
        }
        Ok(query.bind(filter.limit).fetch_all(&self.pool).await?)
    }
}
