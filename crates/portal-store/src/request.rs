//! Tenant subscription requests: intake (with its names reserved and its job enqueued in the
//! same transaction), reading and listing, and locking one for a move.

use portal_domain::{
    ErrorNote, NotificationStatus, ProvisioningStep, RequestEvent, RequestStatus, StepStatus,
};
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

use crate::error::{Conflict, is_unique_violation};
use crate::event::{NewEvent, record_event};
use crate::job::{NewJob, enqueue_in};
use crate::link::{NewLink, insert_link};
use crate::names::{NameHold, Names, reserve_names};
use crate::row::{inconsistent, parsed, parsed_opt};
use crate::{Backend, Store, StoreError};

/// A request that passed every field rule, ready to store.
#[derive(Clone)]
pub struct NewRequest {
    pub id: String,
    pub status: RequestStatus,
    pub template_id: String,
    pub template_version: i64,
    pub tenant_name: String,
    pub short_name: String,
    pub upn_suffix: String,
    pub admin_user_name: String,
    pub admin_personnel_id: String,
    pub admin_password_hash: String,
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
    /// For a request placed in an off-peak window with a cap: the window and its cap. The
    /// store refuses with `Conflict::WindowFull` if the window filled meanwhile.
    pub window_cap: Option<WindowCap>,
    /// The audit entry of the submission, written in the same transaction.
    pub audit: Option<crate::audit::AuditEntry>,
    /// How the request holds its names.
    pub names: NameHold,
    /// Links emailed to a self-service prospect, stored with the request.
    pub links: Vec<NewLink>,
    /// A message to its contact, put in the outbox with it.
    pub mail: Option<crate::mail::NewMail>,
}

/// A capped off-peak window a request takes a place in: `[start, end)` and how many requests
/// it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCap {
    pub start: i64,
    pub end: i64,
    pub cap: i64,
}

impl std::fmt::Debug for NewRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewRequest")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("tenant_name", &self.tenant_name)
            .finish_non_exhaustive()
    }
}

/// An `Idempotency-Key` to record with a submission.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub actor_id: String,
    pub key: String,
    /// A digest of the submission without its passwords.
    pub fingerprint: String,
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

pub(crate) const REQUEST_COLUMNS: &str = "id, status, template_id, template_version, tenant_name, short_name, \
     upn_suffix, admin_user_name, admin_personnel_id, ani, contact_first_name, contact_last_name, \
     contact_email, contact_phone, contact_company, contact_address, submitted_by, submitted_at, \
     scheduled_for, started_at, finished_at, tenant_id, error, error_kind, notification_status, \
     notification_sent_at";

impl Store {
    /// Reads a request inside a write transaction, locking its row on PostgreSQL.
    pub(crate) async fn lock_request(
        &self,
        tx: &mut Transaction<'static, Any>,
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
        tx: &mut Transaction<'static, Any>,
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

    /// The fingerprint and request of an idempotency key already used by this actor.
    pub async fn find_idempotency_key(
        &self,
        actor_id: &str,
        key: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT fingerprint, request_id FROM idempotency_keys WHERE actor_id = $1 AND idem_key = $2",
        )
        .bind(actor_id)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores an accepted request, reserves its names and enqueues its provisioning job, all
    /// in one transaction. `Conflict::NameTaken` names the name already held.
    pub async fn submit_request(
        &self,
        request: &NewRequest,
        job: &NewJob,
        idempotency: Option<&Idempotency>,
    ) -> Result<(), StoreError> {
        let now = request.submitted_at;
        let mut tx = self.begin_write().await?;
        if let Some(window) = request.window_cap {
            self.check_window(&mut tx, window).await?;
        }
        insert_request(&mut tx, request).await?;
        let names = Names {
            request_id: &request.id,
            tenant_name: &request.tenant_name,
            short_name: &request.short_name,
            upn_suffix: &request.upn_suffix,
            hold_key: None,
        };
        match request.names {
            NameHold::Open => reserve_names(&mut tx, &names, None, now).await?,
            NameHold::Until(until) => reserve_names(&mut tx, &names, Some(until), now).await?,
            NameHold::None => {}
        }
        for link in &request.links {
            insert_link(&mut tx, &request.id, link).await?;
        }
        if let Some(mail) = &request.mail {
            crate::mail::put_in_outbox(&mut tx, mail, now).await?;
        }
        if let Some(idem) = idempotency {
            insert_idempotency_key(&mut tx, idem, &request.id, now).await?;
        }
        insert_pending_steps(&mut tx, &request.id).await?;
        enqueue_in(&mut tx, job, now).await?;
        let submitted = NewEvent {
            actor_id: request.submitted_by.as_deref(),
            action: RequestEvent::Submitted,
            from_status: None,
            to_status: Some(request.status),
            detail: None,
        };
        record_event(&mut tx, &request.id, &submitted, now).await?;
        if let Some(entry) = &request.audit {
            crate::audit::insert(&mut *tx, entry, now).await?;
        }
        tx.commit().await?;
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
        Ok(sqlx::query_as(
            "SELECT name, status, started_at, finished_at FROM request_steps \
             WHERE request_id = $1 ORDER BY position",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many requests are in each status.
    pub async fn count_requests_by_status(&self) -> Result<Vec<(RequestStatus, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM subscription_requests GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(status, n)| Ok((status.parse().map_err(anyhow::Error::from)?, n)))
            .collect()
    }

    /// Requests newest first, filtered, one page of at most `limit`.
    pub async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<RequestRow>, StoreError> {
        // First the page's ids, then their rows: selecting only ids lets the search by name
        // walk an index of (id, name) newest first and read no row that does not match, and
        // keeps the plan the same whatever the planner guesses about the pattern.
        let (conditions, values) = filter.conditions();
        let sql = format!(
            "SELECT id FROM subscription_requests WHERE 1 = 1{conditions} ORDER BY id DESC LIMIT ${}",
            values.len() + 1
        );
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for value in values {
            query = match value {
                Value::Text(text) => query.bind(text),
                Value::Int(n) => query.bind(n),
            };
        }
        let ids = query.bind(filter.limit).fetch_all(&self.pool).await?;
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
}

/// A value bound to a list's query.
enum Value {
    Text(String),
    Int(i64),
}

impl RequestFilter {
    /// The filter as `AND …` conditions with numbered placeholders, and their values in order.
    fn conditions(&self) -> (String, Vec<Value>) {
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
            let escaped = q
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            add(
                " AND tenant_name_key LIKE ? ESCAPE '\\'",
                Value::Text(format!("%{escaped}%")),
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
        (sql, values)
    }
}

async fn insert_request(
    tx: &mut Transaction<'static, Any>,
    request: &NewRequest,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO subscription_requests (id, status, template_id, template_version, tenant_name, \
         tenant_name_key, short_name, upn_suffix, admin_user_name, admin_personnel_id, \
         admin_password_hash, ani, contact_first_name, contact_last_name, contact_email, \
         contact_phone, contact_company, contact_address, submitted_by, submitted_at, \
         scheduled_for, notification_status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22)",
    )
    .bind(&request.id)
    .bind(request.status.as_str())
    .bind(&request.template_id)
    .bind(request.template_version)
    .bind(&request.tenant_name)
    .bind(request.tenant_name.to_lowercase())
    .bind(&request.short_name)
    .bind(&request.upn_suffix)
    .bind(&request.admin_user_name)
    .bind(&request.admin_personnel_id)
    .bind(&request.admin_password_hash)
    .bind(&request.ani)
    .bind(&request.contact_first_name)
    .bind(&request.contact_last_name)
    .bind(&request.contact_email)
    .bind(&request.contact_phone)
    .bind(&request.contact_company)
    .bind(&request.contact_address)
    .bind(&request.submitted_by)
    .bind(request.submitted_at)
    .bind(request.scheduled_for)
    .bind(NotificationStatus::None.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_idempotency_key(
    tx: &mut Transaction<'static, Any>,
    idem: &Idempotency,
    request_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    let result = sqlx::query(
        "INSERT INTO idempotency_keys (actor_id, idem_key, fingerprint, request_id, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&idem.actor_id)
    .bind(&idem.key)
    .bind(&idem.fingerprint)
    .bind(request_id)
    .bind(now)
    .execute(&mut **tx)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(Conflict::IdempotencyKeyReused.into()),
        Err(e) => Err(e.into()),
    }
}

/// Records every provisioning step of a request as pending, in the order they run.
async fn insert_pending_steps(
    tx: &mut Transaction<'static, Any>,
    request_id: &str,
) -> Result<(), StoreError> {
    for (position, step) in ProvisioningStep::ALL.iter().enumerate() {
        sqlx::query(
            "INSERT INTO request_steps (request_id, position, name, status) VALUES ($1, $2, $3, $4)",
        )
        .bind(request_id)
        .bind(i64::try_from(position).map_err(|e| StoreError::Other(e.into()))?)
        .bind(step.as_str())
        .bind(StepStatus::Pending.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// How much older than its submission time a request's id may be, at most (it is made before
/// the password is hashed; names are held for a minute meanwhile).
const ID_BEFORE_SUBMISSION_MS: i64 = 3_600_000;

/// The start of every UUIDv7 id made at `ms` (epoch milliseconds): ids of that millisecond and
/// later sort at or above it, earlier ones below.
fn id_prefix_at(ms: i64) -> String {
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
