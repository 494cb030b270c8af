//! Tenant subscription requests as stored: their rows, reading and listing them, locking one
//! for a move, and the check of a capped off-peak window. Storing a new one is `intake`.

use portal_domain::{ErrorNote, NotificationStatus, ProvisioningStep, RequestStatus, StepStatus};
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::error::Conflict;
use crate::names::Names;
use crate::row::{inconsistent, parsed, parsed_opt};
use crate::{Backend, Store, StoreError};

/// A capped off-peak window a request takes a place in: `[start, end)` and how many requests
/// it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCap {
    pub start: i64,
    pub end: i64,
    pub cap: i64,
}

/// A stored request; never carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRow {
    pub id: String,
    pub status: RequestStatus,
    pub template_id: String,
    pub template_version: i64,
    pub tenant_name: String,
    pub short_name: String,
    pub upn_suffix: String,
    pub admin_user_name: String,
    pub admin_personnel_id: String,
    pub ani: String,
    pub contact_first_name: String,
    pub contact_last_name: String,
    pub contact_email: String,
    pub contact_phone: Option<String>,
    pub contact_company: Option<String>,
    pub contact_address: Option<String>,
    pub submitted_by: Option<String>,
    pub submitted_at: i64,
    pub scheduled_for: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub tenant_id: Option<String>,
    pub error: Option<ErrorNote>,
    pub notification_status: NotificationStatus,
    pub notification_sent_at: Option<i64>,
}

impl RequestRow {
    /// The names it holds, for good.
    pub fn names(&self) -> Names<'_> {
        Names {
            request_id: &self.id,
            tenant_name: &self.tenant_name,
            short_name: &self.short_name,
            upn_suffix: &self.upn_suffix,
        }
    }

    /// The login ID its tenant administrator signs in with.
    pub fn admin_login(&self) -> String {
        format!("{}@{}", self.admin_personnel_id, self.upn_suffix)
    }
}

impl FromRow<'_, AnyRow> for RequestRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let error = match parsed_opt(row, "error_kind")? {
            None => None,
            Some(kind) => Some(
                ErrorNote::from_parts(kind, row.try_get("error")?)
                    .ok_or_else(|| inconsistent("error", "the error does not fit its kind"))?,
            ),
        };
        Ok(Self {
            id: row.try_get("id")?,
            status: parsed(row, "status")?,
            template_id: row.try_get("template_id")?,
            template_version: row.try_get("template_version")?,
            tenant_name: row.try_get("tenant_name")?,
            short_name: row.try_get("short_name")?,
            upn_suffix: row.try_get("upn_suffix")?,
            admin_user_name: row.try_get("admin_user_name")?,
            admin_personnel_id: row.try_get("admin_personnel_id")?,
            ani: row.try_get("ani")?,
            contact_first_name: row.try_get("contact_first_name")?,
            contact_last_name: row.try_get("contact_last_name")?,
            contact_email: row.try_get("contact_email")?,
            contact_phone: row.try_get("contact_phone")?,
            contact_company: row.try_get("contact_company")?,
            contact_address: row.try_get("contact_address")?,
            submitted_by: row.try_get("submitted_by")?,
            submitted_at: row.try_get("submitted_at")?,
            scheduled_for: row.try_get("scheduled_for")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
            tenant_id: row.try_get("tenant_id")?,
            error,
            notification_status: parsed(row, "notification_status")?,
            notification_sent_at: row.try_get("notification_sent_at")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StepRow {
    #[sqlx(try_from = "String")]
    pub name: ProvisioningStep,
    #[sqlx(try_from = "String")]
    pub status: StepStatus,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// Which requests to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
    /// Part of the tenant name, compared ignoring case.
    pub query: Option<String>,
    pub template_id: Option<String>,
    /// Submitted at or after this time (epoch milliseconds).
    pub submitted_from: Option<i64>,
    /// Submitted before this time (epoch milliseconds).
    pub submitted_before: Option<i64>,
    /// Only requests older than this id (the previous page's last).
    pub before_id: Option<String>,
    pub limit: i64,
}

const STEPS_OF_REQUEST: &str = "SELECT name, status, started_at, finished_at FROM request_steps \
     WHERE request_id = $1 ORDER BY position";

pub(crate) const REQUEST_COLUMNS: &str = "id, status, template_id, template_version, tenant_name, short_name, \
     upn_suffix, admin_user_name, admin_personnel_id, ani, contact_first_name, contact_last_name, \
     contact_email, contact_phone, contact_company, contact_address, submitted_by, submitted_at, \
     scheduled_for, started_at, finished_at, tenant_id, error, error_kind, notification_status, \
     notification_sent_at";

impl Store {
    /// Reads a request inside a write transaction, locking its row on PostgreSQL.
    pub(crate) async fn lock_request(
        &self,
        tx: &mut crate::WriteTx,
        id: &str,
    ) -> Result<RequestRow, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM subscription_requests WHERE id = $1{lock}"
        )))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// Refuses with `Conflict::WindowFull` when the capped off-peak window has no room left.
    /// PostgreSQL locks the policy's row to serialise placements; SQLite already has one
    /// writer at a time.
    pub(crate) async fn check_window(
        &self,
        tx: &mut crate::WriteTx,
        window: WindowCap,
    ) -> Result<(), StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT key FROM settings WHERE key = 'provisioning'{}",
            self.lock_clause()
        )))
        .fetch_optional(&mut **tx)
        .await?;
        let taken: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM subscription_requests WHERE scheduled_for >= $1 AND scheduled_for < $2 \
             AND status IN ({})",
            RequestStatus::in_a_window_sql()
        )))
        .bind(window.start)
        .bind(window.end)
        .fetch_one(&mut **tx)
        .await?;
        if taken >= window.cap {
            return Err(Conflict::WindowFull.into());
        }
        Ok(())
    }

    pub async fn get_request(&self, id: &str) -> Result<RequestRow, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM subscription_requests WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    pub async fn request_steps(&self, id: &str) -> Result<Vec<StepRow>, StoreError> {
        Ok(sqlx::query_as(STEPS_OF_REQUEST)
            .bind(id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// How many requests are in each status (those with none left out), from the counts the
    /// database keeps beside the requests (migration 0024): one row per status, however many
    /// requests there are.
    pub async fn count_requests_by_status(&self) -> Result<Vec<(RequestStatus, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, requests FROM request_statuses WHERE requests <> 0 ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(status, n)| Ok((status.parse().map_err(anyhow::Error::from)?, n)))
            .collect()
    }

    /// Every status with how many requests are in it, zeros included, in the lifecycle's order.
    pub async fn count_every_status(&self) -> Result<Vec<(RequestStatus, i64)>, StoreError> {
        let counts = self.count_requests_by_status().await?;
        Ok(RequestStatus::ALL
            .iter()
            .map(|s| {
                let n = counts.iter().find(|(c, _)| c == s).map_or(0, |(_, n)| *n);
                (*s, n)
            })
            .collect())
    }

    /// Requests newest first, filtered, one page of at most `limit`.
    pub async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<RequestRow>, StoreError> {
        // First the page's ids, then their rows: selecting only ids lets the search by name
        // walk an index of (id, name) newest first and read no row that does not match, and
        // keeps the plan the same whatever the planner guesses about the pattern.
        let ids = match &filter.query {
            None => {
                let (conditions, values) = filter.conditions(None);
                let source = format!("subscription_requests WHERE 1 = 1{conditions}");
                self.page_ids(&source, values, filter.limit).await?
            }
            Some(q) => self.searched_ids(filter, q).await?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = (1..=ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM subscription_requests WHERE id IN ({placeholders}) \
             ORDER BY id DESC"
        )));
        for id in ids {
            rows = rows.bind(id);
        }
        Ok(rows.fetch_all(&self.pool).await?)
    }

    /// The newest `limit` ids of `source` (`table WHERE …` with numbered placeholders for
    /// `values`).
    pub(crate) async fn page_ids(
        &self,
        source: &str,
        values: Vec<Value>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let sql = format!(
            "SELECT id FROM {source} ORDER BY id DESC LIMIT ${}",
            values.len() + 1
        );
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for value in values {
            query = match value {
                Value::Text(text) => query.bind(text),
                Value::Int(n) => query.bind(n),
            };
        }
        Ok(query.bind(limit).fetch_all(&self.pool).await?)
    }
}

/// A `LIKE … ESCAPE '\'` pattern for names containing `key`.
pub(crate) fn like_pattern(key: &str) -> String {
    let escaped = key
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A value bound to a list's query.
pub(crate) enum Value {
    Text(String),
    Int(i64),
}

impl RequestFilter {
    /// The filter as `AND …` conditions with numbered placeholders, and their values in order;
    /// the name search among `candidates` when they are known.
    pub(crate) fn conditions(&self, candidates: Option<Vec<String>>) -> (String, Vec<Value>) {
        let mut sql = String::new();
        let mut values = Vec::new();
        let mut add = |condition: &str, value: Value| {
            values.push(value);
            sql.push_str(&condition.replace('?', &format!("${}", values.len())));
        };
        if let Some(status) = self.status {
            add(" AND status = ?", Value::Text(status.as_str().to_owned()));
        }
        if let Some(q) = &self.query {
            add(
                " AND tenant_name_key LIKE ? ESCAPE '\\'",
                Value::Text(like_pattern(&q.to_lowercase())),
            );
        }
        if let Some(id) = &self.template_id {
            add(" AND template_id = ?", Value::Text(id.clone()));
        }
        // Ids begin with their creation time (UUIDv7), so a time range is also a range of ids
        // that the primary key finds at once; the exact time is checked beside it.
        if let Some(from) = self.submitted_from {
            // An id is made before the password is hashed, so it may be a little older than
            // its request's submission time: the id range starts earlier by a wide margin.
            let earliest = id_prefix_at(from - ID_BEFORE_SUBMISSION_MS);
            add(" AND id >= ?", Value::Text(earliest));
            add(" AND submitted_at >= ?", Value::Int(from));
        }
        if let Some(before) = self.submitted_before {
            // An id is never younger than its submission, so this bound loses nothing.
            add(" AND id < ?", Value::Text(id_prefix_at(before)));
            add(" AND submitted_at < ?", Value::Int(before));
        }
        if let Some(before) = &self.before_id {
            add(" AND id < ?", Value::Text(before.clone()));
        }
        if let Some(ids) = candidates {
            let first = values.len() + 1;
            let list = (first..first + ids.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            sql.push_str(&format!(" AND id IN ({list})"));
            values.extend(ids.into_iter().map(Value::Text));
        }
        (sql, values)
    }
}

impl crate::job::Burial {
    /// A request as the burial's transaction sees it, locked: what is written in the burial
    /// is decided from it without a second connection.
    pub async fn request(&mut self, id: &str) -> Result<RequestRow, StoreError> {
        self.store.lock_request(&mut self.tx, id).await
    }

    /// A request's steps as the burial's transaction sees them.
    pub async fn request_steps(&mut self, id: &str) -> Result<Vec<StepRow>, StoreError> {
        Ok(sqlx::query_as(STEPS_OF_REQUEST)
            .bind(id)
            .fetch_all(&mut *self.tx)
            .await?)
    }
}

/// How much older than its submission time a request's id may be, at most (it is made before
/// the password is hashed; names are held for a minute meanwhile).
pub(crate) const ID_BEFORE_SUBMISSION_MS: i64 = 3_600_000;

/// The start of every UUIDv7 id made at `ms` (epoch milliseconds): ids of that millisecond and
/// later sort at or above it, earlier ones below.
pub(crate) fn id_prefix_at(ms: i64) -> String {
    let ms = ms.clamp(0, (1 << 48) - 1);
    format!("{:08x}-{:04x}", ms >> 16, ms & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::id_prefix_at;

    #[test]
    fn an_id_prefix_sorts_ids_by_the_millisecond_they_were_made() {
        let ms = 1_780_000_000_123_i64;
        let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            (ms / 1000) as u64,
            ((ms % 1000) * 1_000_000) as u32,
        ))
        .to_string();
        assert!(id.as_str() >= id_prefix_at(ms).as_str());
        assert!(id.as_str() < id_prefix_at(ms + 1).as_str());
        assert_eq!(id_prefix_at(ms).len(), 13);
    }
}
