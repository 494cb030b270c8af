//! Tenant subscription requests: intake (with its names reserved and its job enqueued in the
//! same transaction), reading, listing, and the moves of provisioning.

use sqlx::{Any, Transaction};

use crate::error::is_unique_violation;
use crate::job::{NewJob, enqueue_in};
use crate::{Store, StoreError};

/// A request that passed every field rule, ready to store.
#[derive(Clone)]
pub struct NewRequest {
    pub id: String,
    pub status: String,
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
    /// store refuses with `Conflict { what: "window_full" }` if the window filled meanwhile.
    pub window_cap: Option<(i64, i64, i64)>,
    /// The names of the provisioning steps, in order, recorded as pending.
    pub steps: Vec<String>,
    /// The audit entry of the submission, written in the same transaction.
    pub audit: Option<crate::audit::AuditEntry>,
    /// How the request holds its names.
    pub names: NameHold,
    /// Links emailed to a self-service prospect, stored with the request.
    pub links: Vec<crate::registration::NewLink>,
    /// A message to its contact, put in the outbox with it.
    pub mail: Option<crate::mail::NewMail>,
}

/// How a stored request holds its tenant's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameHold {
    /// For as long as the request is open (staff submissions).
    Open,
    /// Until this time unless confirmed (a self-service request waiting for its contact
    /// address to be confirmed: the hold lapses with the link).
    Until(i64),
    /// Not at all: the names were taken when it came in, which its contact learns only once
    /// the address is confirmed.
    None,
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
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RequestRow {
    pub id: String,
    pub status: String,
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
    pub error: Option<String>,
    pub notification_status: String,
    pub notification_sent_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StepRow {
    pub name: String,
    pub status: String,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// Which requests to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub status: Option<String>,
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

const REQUEST_COLUMNS: &str = "id, status, template_id, template_version, tenant_name, short_name, \
     upn_suffix, admin_user_name, admin_personnel_id, ani, contact_first_name, contact_last_name, \
     contact_email, contact_phone, contact_company, contact_address, submitted_by, submitted_at, \
     scheduled_for, started_at, finished_at, tenant_id, error, notification_status, \
     notification_sent_at";

/// The kinds of names a request reserves, with the field each one comes from.
const RESERVATIONS: [(&str, &str); 3] = [
    ("name", "tenant.name"),
    ("short_name", "tenant.short_name"),
    ("upn_suffix", "tenant.upn_suffix"),
];

/// The three names a request holds.
#[derive(Debug, Clone)]
pub struct Names<'a> {
    pub request_id: &'a str,
    pub tenant_name: &'a str,
    pub short_name: &'a str,
    pub upn_suffix: &'a str,
    /// For a hold taken while a submission is hashed: the submission's idempotency key (and
    /// sender). A lapsing hold with the same key is taken over, so that the submission sent
    /// again after a failure does not find its own names taken.
    pub hold_key: Option<&'a str>,
}

/// Takes or confirms the request's names: a lapsed hold of anyone is cleared first, then each
/// name is inserted, or, when this request already holds it, its hold is set to `held_until`
/// (`None`: for good). `Conflict` names the first field another request or tenant holds.
pub(crate) async fn reserve_names(
    tx: &mut Transaction<'static, Any>,
    names: &Names<'_>,
    held_until: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    let keys = [
        names.tenant_name.to_lowercase(),
        names.short_name.to_lowercase(),
        names.upn_suffix.to_lowercase(),
    ];
    for ((kind, field), key) in RESERVATIONS.iter().zip(keys) {
        sqlx::query(
            "DELETE FROM reserved_names WHERE kind = $1 AND name_key = $2 \
             AND held_until IS NOT NULL AND held_until < $3",
        )
        .bind(*kind)
        .bind(&key)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let result = sqlx::query(
            "INSERT INTO reserved_names (kind, name_key, request_id, held_until, hold_key) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (kind, name_key) DO UPDATE SET held_until = excluded.held_until, \
             request_id = excluded.request_id, hold_key = excluded.hold_key \
             WHERE reserved_names.request_id = excluded.request_id \
             OR (reserved_names.held_until IS NOT NULL AND reserved_names.hold_key = excluded.hold_key)",
        )
        .bind(*kind)
        .bind(key)
        .bind(names.request_id)
        .bind(held_until)
        .bind(names.hold_key)
        .execute(&mut **tx)
        .await;
        match result {
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) => {
                return Err(StoreError::Conflict {
                    what: (*field).to_owned(),
                });
            }
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict {
                    what: (*field).to_owned(),
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

impl Store {
    /// Refuses with `Conflict { what: "window_full" }` when the capped off-peak window
    /// `(start, end, cap)` has no room left. PostgreSQL locks the policy's row to serialise
    /// placements; SQLite already has one writer at a time.
    pub(crate) async fn check_window(
        &self,
        tx: &mut Transaction<'static, Any>,
        (start, end, cap): (i64, i64, i64),
    ) -> Result<(), StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT key FROM settings WHERE key = 'provisioning'{}",
            self.lock_clause()
        )))
        .fetch_optional(&mut **tx)
        .await?;
        let taken: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM subscription_requests WHERE scheduled_for >= $1 AND scheduled_for < $2 \
             AND status IN ('scheduled', 'accepted', 'provisioning', 'completed')",
        )
        .bind(start)
        .bind(end)
        .fetch_one(&mut **tx)
        .await?;
        if taken >= cap {
            return Err(StoreError::Conflict {
                what: "window_full".into(),
            });
        }
        Ok(())
    }

    /// Holds a request's names until `until`, before the costly part of intake, so that a
    /// duplicate is refused at once. `Conflict` names the field that is taken.
    pub async fn hold_names(&self, names: &Names<'_>, until: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        reserve_names(&mut tx, names, Some(until), crate::now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lets go of names held for a request that was not stored.
    pub async fn release_names(&self, request_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM reserved_names WHERE request_id = $1 AND held_until IS NOT NULL")
            .bind(request_id)
            .execute(&self.pool)
            .await?;
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
    /// in one transaction. `Conflict` names the field whose name is already held.
    pub async fn submit_request(
        &self,
        request: &NewRequest,
        job: &NewJob,
        idempotency: Option<&Idempotency>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(cap) = request.window_cap {
            self.check_window(&mut tx, cap).await?;
        }
        sqlx::query(
            "INSERT INTO subscription_requests (id, status, template_id, template_version, tenant_name, \
             tenant_name_key, short_name, upn_suffix, admin_user_name, admin_personnel_id, \
             admin_password_hash, ani, contact_first_name, contact_last_name, contact_email, \
             contact_phone, contact_company, contact_address, submitted_by, submitted_at, \
             scheduled_for, notification_status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             $19, $20, $21, 'none')",
        )
        .bind(&request.id)
        .bind(&request.status)
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
        .execute(&mut *tx)
        .await?;
        let names = Names {
            request_id: &request.id,
            tenant_name: &request.tenant_name,
            short_name: &request.short_name,
            upn_suffix: &request.upn_suffix,
            hold_key: None,
        };
        match request.names {
            NameHold::Open => reserve_names(&mut tx, &names, None, request.submitted_at).await?,
            NameHold::Until(until) => {
                reserve_names(&mut tx, &names, Some(until), request.submitted_at).await?;
            }
            NameHold::None => {}
        }
        for link in &request.links {
            crate::registration::insert_link(&mut tx, &request.id, link).await?;
        }
        if let Some(mail) = &request.mail {
            crate::mail::put_in_outbox(&mut tx, mail, request.submitted_at).await?;
        }
        if let Some(idem) = idempotency {
            let result = sqlx::query(
                "INSERT INTO idempotency_keys (actor_id, idem_key, fingerprint, request_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&idem.actor_id)
            .bind(&idem.key)
            .bind(&idem.fingerprint)
            .bind(&request.id)
            .bind(request.submitted_at)
            .execute(&mut *tx)
            .await;
            match result {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Conflict {
                        what: "idempotency_key".into(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        for (position, name) in request.steps.iter().enumerate() {
            sqlx::query(
                "INSERT INTO request_steps (request_id, position, name, status) VALUES ($1, $2, $3, 'pending')",
            )
            .bind(&request.id)
            .bind(i64::try_from(position).map_err(|e| StoreError::Other(e.into()))?)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        enqueue_in(&mut tx, job, request.submitted_at).await?;
        crate::provision::record_event(
            &mut tx,
            &request.id,
            &crate::provision::NewEvent {
                actor_id: request.submitted_by.as_deref(),
                action: "submitted",
                from_status: None,
                to_status: Some(&request.status),
                detail: None,
            },
            request.submitted_at,
        )
        .await?;
        if let Some(entry) = &request.audit {
            crate::audit::insert(&mut *tx, entry, request.submitted_at).await?;
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
    pub async fn count_requests_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT status, COUNT(*) FROM subscription_requests GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Requests newest first, filtered, one page of at most `limit`.
    pub async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<RequestRow>, StoreError> {
        // First the page's ids, then their rows: selecting only ids lets the search by name
        // walk an index of (id, name) newest first and read no row that does not match, and
        // keeps the plan the same whatever the planner guesses about the pattern.
        let mut sql = "SELECT id FROM subscription_requests WHERE 1 = 1".to_owned();
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if filter.status.is_some() {
            sql.push_str(&format!(" AND status = ${}", next()));
        }
        if filter.query.is_some() {
            sql.push_str(&format!(
                " AND tenant_name_key LIKE ${} ESCAPE '\\'",
                next()
            ));
        }
        if filter.template_id.is_some() {
            sql.push_str(&format!(" AND template_id = ${}", next()));
        }
        // Ids begin with their creation time (UUIDv7), so a time range is also a range of ids
        // that the primary key finds at once; the exact time is checked beside it.
        if filter.submitted_from.is_some() {
            sql.push_str(&format!(
                " AND id >= ${} AND submitted_at >= ${}",
                next(),
                next()
            ));
        }
        if filter.submitted_before.is_some() {
            sql.push_str(&format!(
                " AND id < ${} AND submitted_at < ${}",
                next(),
                next()
            ));
        }
        if filter.before_id.is_some() {
            sql.push_str(&format!(" AND id < ${}", next()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", next()));
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        if let Some(status) = &filter.status {
            query = query.bind(status.clone());
        }
        if let Some(q) = &filter.query {
            let escaped = q
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            query = query.bind(format!("%{escaped}%"));
        }
        if let Some(id) = &filter.template_id {
            query = query.bind(id.clone());
        }
        if let Some(from) = filter.submitted_from {
            // An id is made before the password is hashed, so it may be a little older than
            // its request's submission time: the id range starts earlier by a wide margin.
            query = query
                .bind(id_prefix_at(from - ID_BEFORE_SUBMISSION_MS))
                .bind(from);
        }
        if let Some(before) = filter.submitted_before {
            // An id is never younger than its submission, so this bound loses nothing.
            query = query.bind(id_prefix_at(before)).bind(before);
        }
        if let Some(before) = &filter.before_id {
            query = query.bind(before.clone());
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
