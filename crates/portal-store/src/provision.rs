//! The steps of provisioning, each one transaction that also marks its step done, so that a
//! step either happened with its record or not at all, and a repeated step changes nothing.
//! Also the rollback of a half-made tenant, staff actions on requests, and request events.

use sqlx::{Any, Transaction};

use crate::error::is_unique_violation;
use crate::job::{NewJob, enqueue_in};
use crate::request::{Names, RequestRow, reserve_names};
use crate::{Backend, Store, StoreError};

/// Whether a step ran now, had run before, or cannot run because the request moved on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    Done,
    AlreadyDone,
    /// The request is no longer provisioning (cancelled, failed, completed).
    NotProvisioning,
}

/// An event in a request's history.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    pub at: i64,
    pub actor_id: Option<String>,
    /// The acting user's name, while the user exists.
    pub actor_name: Option<String>,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub detail: Option<String>,
}

/// An event to record with a change.
#[derive(Debug, Clone, Default)]
pub struct NewEvent<'a> {
    pub actor_id: Option<&'a str>,
    pub action: &'a str,
    pub from_status: Option<&'a str>,
    pub to_status: Option<&'a str>,
    pub detail: Option<&'a str>,
}

pub(crate) async fn record_event(
    tx: &mut Transaction<'static, Any>,
    request_id: &str,
    event: &NewEvent<'_>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO request_events (id, request_id, at, actor_id, action, from_status, to_status, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(crate::new_id())
    .bind(request_id)
    .bind(now)
    .bind(event.actor_id)
    .bind(event.action)
    .bind(event.from_status)
    .bind(event.to_status)
    .bind(event.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const REQUEST_COLUMNS: &str = "id, status, template_id, template_version, tenant_name, short_name, \
     upn_suffix, admin_user_name, admin_personnel_id, ani, contact_first_name, contact_last_name, \
     contact_email, contact_phone, contact_company, contact_address, submitted_by, submitted_at, \
     scheduled_for, started_at, finished_at, tenant_id, error, notification_status, \
     notification_sent_at";

/// Copies the template objects at positions `from..to` into the tenant, placeholders filled
/// in (only objects marked as holding one are rewritten), in one `INSERT … SELECT`; positions already
/// copied are skipped. Returns how many rows
/// were copied.
async fn copy_objects(
    tx: &mut Transaction<'static, Any>,
    request: &RequestRow,
    tenant_id: &str,
    from: i64,
    to: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "INSERT INTO tenant_objects (tenant_id, position, kind, name, properties) \
         SELECT $1, o.position, o.kind, \
           CASE WHEN o.has_placeholders = 1 THEN \
             REPLACE(REPLACE(REPLACE(o.name, '{tenant.name}', $2), '{tenant.short_name}', $3), '{tenant.upn_suffix}', $4) \
             ELSE o.name END, \
           CASE WHEN o.has_placeholders = 1 THEN \
             REPLACE(REPLACE(REPLACE(o.properties, '{tenant.name}', $2), '{tenant.short_name}', $3), '{tenant.upn_suffix}', $4) \
             ELSE o.properties END \
         FROM template_objects o WHERE o.template_id = $5 AND o.version = $6 \
         AND o.position >= $7 AND o.position < $8 \
         ON CONFLICT (tenant_id, position) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(&request.tenant_name)
    .bind(&request.short_name)
    .bind(&request.upn_suffix)
    .bind(&request.template_id)
    .bind(request.template_version)
    .bind(from)
    .bind(to)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// The tenant an earlier step made for the request.
fn tenant_of(request: &RequestRow) -> Result<String, StoreError> {
    request.tenant_id.clone().ok_or_else(|| {
        StoreError::Other(anyhow::anyhow!("no tenant yet for request {}", request.id))
    })
}

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

    /// Opens a step: the request is locked and must be provisioning; `None` when the step is
    /// already done (the transaction is then committed as is).
    async fn open_step(
        &self,
        request_id: &str,
        step: &str,
    ) -> Result<Result<(Transaction<'static, Any>, RequestRow), StepOutcome>, StoreError> {
        let mut tx = self.begin_write().await?;
        let request = self.lock_request(&mut tx, request_id).await?;
        if request.status != "provisioning" {
            return Ok(Err(StepOutcome::NotProvisioning));
        }
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM request_steps WHERE request_id = $1 AND name = $2",
        )
        .bind(request_id)
        .bind(step)
        .fetch_optional(&mut *tx)
        .await?;
        if status.as_deref() == Some("done") {
            return Ok(Err(StepOutcome::AlreadyDone));
        }
        Ok(Ok((tx, request)))
    }

    async fn close_step(
        &self,
        mut tx: Transaction<'static, Any>,
        request_id: &str,
        step: &str,
        started: i64,
    ) -> Result<StepOutcome, StoreError> {
        // The step began at `started`; it ends now, when its work is done.
        let now = crate::now_ms().max(started);
        sqlx::query(
            "UPDATE request_steps SET status = 'done', started_at = COALESCE(started_at, $1), \
             finished_at = $1 WHERE request_id = $2 AND name = $3",
        )
        .bind(now)
        .bind(request_id)
        .bind(step)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(StepOutcome::Done)
    }

    /// Records that a step started (shown while it runs).
    pub async fn mark_step_running(
        &self,
        request_id: &str,
        step: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE request_steps SET status = 'running', started_at = COALESCE(started_at, $1) \
             WHERE request_id = $2 AND name = $3 AND status <> 'done'",
        )
        .bind(now)
        .bind(request_id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Confirms that the request's names are its own (they were reserved at intake).
    pub async fn step_reserve_names(
        &self,
        request_id: &str,
        step: &str,
        now: i64,
    ) -> Result<StepOutcome, StoreError> {
        let (mut tx, request) = match self.open_step(request_id, step).await? {
            Ok(open) => open,
            Err(outcome) => return Ok(outcome),
        };
        let names = Names {
            request_id: &request.id,
            tenant_name: &request.tenant_name,
            short_name: &request.short_name,
            upn_suffix: &request.upn_suffix,
            hold_key: None,
        };
        reserve_names(&mut tx, &names, None, now).await?;
        self.close_step(tx, request_id, step, now).await
    }

    /// Creates the tenant (not yet active) and links it to the request.
    pub async fn step_create_tenant(
        &self,
        request_id: &str,
        step: &str,
        tenant_id: &str,
        now: i64,
    ) -> Result<StepOutcome, StoreError> {
        let (mut tx, request) = match self.open_step(request_id, step).await? {
            Ok(open) => open,
            Err(outcome) => return Ok(outcome),
        };
        if request.tenant_id.is_none() {
            let login = format!("{}@{}", request.admin_personnel_id, request.upn_suffix);
            sqlx::query(
                "INSERT INTO tenants (id, request_id, name, short_name, upn_suffix, ani, status, template_id, \
                 template_version, admin_personnel_id, admin_login, created_at) \
                 VALUES ($1, $2, $3, $4, '', '', 'provisioning', $5, $6, $7, $8, $9)",
            )
            .bind(tenant_id)
            .bind(&request.id)
            .bind(&request.tenant_name)
            .bind(&request.short_name)
            .bind(&request.template_id)
            .bind(request.template_version)
            .bind(&request.admin_personnel_id)
            .bind(login)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE subscription_requests SET tenant_id = $1 WHERE id = $2")
                .bind(tenant_id)
                .bind(&request.id)
                .execute(&mut *tx)
                .await?;
        }
        self.close_step(tx, request_id, step, now).await
    }

    /// Creates the tenant's administrator, moving the request's password hash to the user and
    /// erasing it from the request. `Conflict` when the login is taken by another user.
    pub async fn step_create_administrator(
        &self,
        request_id: &str,
        step: &str,
        user_id: &str,
        now: i64,
    ) -> Result<StepOutcome, StoreError> {
        let (mut tx, request) = match self.open_step(request_id, step).await? {
            Ok(open) => open,
            Err(outcome) => return Ok(outcome),
        };
        let tenant_id = tenant_of(&request)?;
        let login = format!("{}@{}", request.admin_personnel_id, request.upn_suffix);
        let inserted = sqlx::query(
            "INSERT INTO users (id, username, username_key, password_hash, role, tenant_id, created_at) \
             SELECT $1, $2, $3, admin_password_hash, 'tenant_admin', $4, $5 \
             FROM subscription_requests WHERE id = $6 AND admin_password_hash IS NOT NULL",
        )
        .bind(user_id)
        .bind(&login)
        .bind(login.to_lowercase())
        .bind(&tenant_id)
        .bind(now)
        .bind(&request.id)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(r) if r.rows_affected() == 1 => {}
            Ok(_) => {
                return Err(StoreError::Other(anyhow::anyhow!(
                    "request {} has no administrator password left to move",
                    request.id
                )));
            }
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict {
                    what: "tenant.admin_user_name".into(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query("UPDATE subscription_requests SET admin_password_hash = NULL WHERE id = $1")
            .bind(&request.id)
            .execute(&mut *tx)
            .await?;
        self.close_step(tx, request_id, step, now).await
    }

    /// Ends the cloning: the objects the batches copied are counted, and should any of the
    /// template's `expected` be missing they are copied now (placeholders filled in, one
    /// `INSERT … SELECT`); version 1 of the Smart Queues general parameters is stored.
    pub async fn step_clone_configuration(
        &self,
        request_id: &str,
        step: &str,
        parameters_v1: &str,
        expected: i64,
        now: i64,
    ) -> Result<StepOutcome, StoreError> {
        let (mut tx, request) = match self.open_step(request_id, step).await? {
            Ok(open) => open,
            Err(outcome) => return Ok(outcome),
        };
        let tenant_id = tenant_of(&request)?;
        let copied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM tenant_objects WHERE tenant_id = $1")
                .bind(&tenant_id)
                .fetch_one(&mut *tx)
                .await?;
        if copied < expected {
            copy_objects(&mut tx, &request, &tenant_id, 0, i64::MAX).await?;
        }
        sqlx::query(
            "INSERT INTO smart_queue_parameters (tenant_id, version, parameters, published_at, published_by) \
             VALUES ($1, 1, $2, $3, NULL) ON CONFLICT (tenant_id, version) DO NOTHING",
        )
        .bind(&tenant_id)
        .bind(parameters_v1)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.close_step(tx, request_id, step, now).await
    }

    /// Copies the template objects at positions `from..to` into the tenant, in one
    /// transaction; already copied ones are skipped. Returns how many were copied, or `None`
    /// when the request is no longer provisioning.
    pub async fn clone_objects_batch(
        &self,
        request_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let request = self.lock_request(&mut tx, request_id).await?;
        if request.status != "provisioning" {
            return Ok(None);
        }
        let tenant_id = tenant_of(&request)?;
        let done = copy_objects(&mut tx, &request, &tenant_id, from, to).await?;
        tx.commit().await?;
        Ok(Some(done))
    }

    /// The first object of `kind` in a template version, if it has one.
    pub async fn first_template_object_of_kind(
        &self,
        template_id: &str,
        version: i64,
        kind: &str,
    ) -> Result<Option<crate::template::TemplateObjectRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kind, name, properties FROM template_objects \
             WHERE template_id = $1 AND version = $2 AND kind = $3 ORDER BY position LIMIT 1",
        )
        .bind(template_id)
        .bind(version)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// How many objects a template version has.
    pub async fn count_template_objects(
        &self,
        template_id: &str,
        version: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM template_objects WHERE template_id = $1 AND version = $2",
        )
        .bind(template_id)
        .bind(version)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Gives the tenant its ANI and UPN suffix.
    pub async fn step_assign_ani_and_upn_suffix(
        &self,
        request_id: &str,
        step: &str,
        now: i64,
    ) -> Result<StepOutcome, StoreError> {
        let (mut tx, request) = match self.open_step(request_id, step).await? {
            Ok(open) => open,
            Err(outcome) => return Ok(outcome),
        };
        sqlx::query("UPDATE tenants SET ani = $1, upn_suffix = $2 WHERE request_id = $3")
            .bind(&request.ani)
            .bind(&request.upn_suffix)
            .bind(&request.id)
            .execute(&mut *tx)
            .await?;
        self.close_step(tx, request_id, step, now).await
    }

    /// Activates the tenant and completes the request.
    pub async fn step_activate(
        &self,
        request_id: &str,
        step: &str,
        mail: Option<&crate::mail::NewMail>,
        now: i64,
    ) -> Result<StepOutcome, StoreError> {
        let (mut tx, request) = match self.open_step(request_id, step).await? {
            Ok(open) => open,
            Err(outcome) => return Ok(outcome),
        };
        sqlx::query("UPDATE tenants SET status = 'active' WHERE request_id = $1")
            .bind(&request.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE subscription_requests SET status = 'completed', finished_at = $1, error = NULL WHERE id = $2",
        )
        .bind(now)
        .bind(&request.id)
        .execute(&mut *tx)
        .await?;
        if let Some(mail) = mail {
            crate::mail::put_in_outbox(&mut tx, mail, now).await?;
        }
        record_event(
            &mut tx,
            &request.id,
            &NewEvent {
                action: "completed",
                from_status: Some("provisioning"),
                to_status: Some("completed"),
                ..Default::default()
            },
            now,
        )
        .await?;
        self.close_step(tx, request_id, step, now).await
    }

    /// Gives up on a request: a half-made tenant is removed whole (its administrator's hash
    /// goes back to the request so that a retry can create it again), the request is `failed`
    /// with `error`, and its names are freed. False when the request was not in progress.
    pub async fn fail_and_roll_back(
        &self,
        request_id: &str,
        error: &str,
        mail: Option<&crate::mail::NewMail>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let request = self.lock_request(&mut tx, request_id).await?;
        if !matches!(
            request.status.as_str(),
            "accepted" | "scheduled" | "provisioning"
        ) {
            return Ok(false);
        }
        if let Some(tenant_id) = &request.tenant_id {
            sqlx::query(
                "UPDATE subscription_requests SET admin_password_hash = \
                 (SELECT password_hash FROM users WHERE tenant_id = $1 AND role = 'tenant_admin') \
                 WHERE id = $2 AND admin_password_hash IS NULL",
            )
            .bind(tenant_id)
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
            for sql in [
                "DELETE FROM api_tokens WHERE user_id IN (SELECT id FROM users WHERE tenant_id = $1)",
                "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE tenant_id = $1)",
                "DELETE FROM smart_queue_drafts WHERE tenant_id = $1",
                "DELETE FROM users WHERE tenant_id = $1",
                "DELETE FROM smart_queue_parameters WHERE tenant_id = $1",
                "DELETE FROM tenant_objects WHERE tenant_id = $1",
                "DELETE FROM tenants WHERE id = $1",
            ] {
                sqlx::query(sql).bind(tenant_id).execute(&mut *tx).await?;
            }
        }
        sqlx::query(
            "UPDATE request_steps SET status = CASE WHEN status = 'running' THEN 'failed' ELSE 'pending' END, \
             started_at = CASE WHEN status = 'running' THEN started_at ELSE NULL END, \
             finished_at = CASE WHEN status = 'running' THEN $1 ELSE NULL END WHERE request_id = $2",
        )
        .bind(now)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE subscription_requests SET status = 'failed', error = $1, finished_at = $2, tenant_id = NULL \
             WHERE id = $3",
        )
        .bind(error)
        .bind(now)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM reserved_names WHERE request_id = $1")
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        if let Some(mail) = mail {
            crate::mail::put_in_outbox(&mut tx, mail, now).await?;
        }
        record_event(
            &mut tx,
            request_id,
            &NewEvent {
                action: "failed",
                from_status: Some(&request.status),
                to_status: Some("failed"),
                detail: Some(error),
                ..Default::default()
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Moves a request between statuses for a staff action, only if it is in one of `from`;
    /// records the event; optionally re-reserves its names and enqueues or re-times its job.
    /// Returns the status it was in, or `Err(Conflict { what: status })` naming the status
    /// that did not allow it.
    pub async fn act_on_request(&self, change: &RequestChange<'_>) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        let request = self.lock_request(&mut tx, change.request_id).await?;
        if !change.from.contains(&request.status.as_str()) {
            return Err(StoreError::Conflict {
                what: request.status,
            });
        }
        if let Some(cap) = change.window_cap {
            self.check_window(&mut tx, cap).await?;
        }
        if change.reserve_names {
            let names = Names {
                request_id: &request.id,
                tenant_name: &request.tenant_name,
                short_name: &request.short_name,
                upn_suffix: &request.upn_suffix,
                hold_key: None,
            };
            reserve_names(&mut tx, &names, None, change.now).await?;
            sqlx::query(
                "UPDATE request_steps SET status = 'pending', started_at = NULL, finished_at = NULL \
                 WHERE request_id = $1",
            )
            .bind(&request.id)
            .execute(&mut *tx)
            .await?;
        }
        if change.reserve_names {
            // A new attempt will have its own outcome email.
            sqlx::query(
                "UPDATE subscription_requests SET notification_status = 'none', notification_sent_at = NULL \
                 WHERE id = $1",
            )
            .bind(&request.id)
            .execute(&mut *tx)
            .await?;
        }
        if change.release_names {
            sqlx::query("DELETE FROM reserved_names WHERE request_id = $1")
                .bind(&request.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM jobs WHERE subject = $1 AND status = 'queued'")
                .bind(&request.id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE subscription_requests SET status = $1, scheduled_for = $2, \
             error = COALESCE($5, CASE WHEN $1 = 'accepted' THEN NULL ELSE error END), \
             started_at = CASE WHEN $1 = 'provisioning' THEN COALESCE(started_at, $3) ELSE started_at END, \
             finished_at = CASE WHEN $1 IN ('cancelled', 'rejected') THEN $3 \
                                WHEN $1 = 'accepted' THEN NULL ELSE finished_at END \
             WHERE id = $4",
        )
        .bind(change.to)
        .bind(change.scheduled_for.or(request.scheduled_for))
        .bind(change.now)
        .bind(&request.id)
        .bind(change.error)
        .execute(&mut *tx)
        .await?;
        if let Some(mail) = change.mail {
            crate::mail::put_in_outbox(&mut tx, mail, change.now).await?;
        }
        if let Some(run_at) = change.run_job_at {
            let moved =
                sqlx::query("UPDATE jobs SET run_at = $1 WHERE subject = $2 AND status = 'queued'")
                    .bind(run_at)
                    .bind(&request.id)
                    .execute(&mut *tx)
                    .await?;
            if moved.rows_affected() == 0
                && let Some(job) = change.new_job
            {
                enqueue_in(
                    &mut tx,
                    &NewJob {
                        run_at,
                        ..job.clone()
                    },
                    change.now,
                )
                .await?;
            }
        }
        record_event(
            &mut tx,
            &request.id,
            &NewEvent {
                actor_id: change.actor_id,
                action: change.action,
                from_status: Some(&request.status),
                to_status: Some(change.to),
                detail: change.detail,
            },
            change.now,
        )
        .await?;
        if let Some(entry) = change.audit {
            let entry = crate::audit::AuditEntry {
                tenant_id: request.tenant_id.clone(),
                ..entry.clone()
            };
            crate::audit::insert(&mut *tx, &entry, change.now).await?;
        }
        tx.commit().await?;
        Ok(request.status)
    }

    /// A request's history, oldest first.
    pub async fn request_events(&self, request_id: &str) -> Result<Vec<EventRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT e.at, e.actor_id, u.username AS actor_name, e.action, e.from_status, \
             e.to_status, e.detail FROM request_events e LEFT JOIN users u ON u.id = e.actor_id \
             WHERE e.request_id = $1 ORDER BY e.at, e.id",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The configuration objects of a tenant, in template order.
    pub async fn tenant_objects(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<crate::template::TemplateObjectRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kind, name, properties FROM tenant_objects WHERE tenant_id = $1 ORDER BY position",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many objects a tenant holds, and how many distinct positions: equal when nothing
    /// was copied twice.
    pub async fn count_tenant_objects(&self, tenant_id: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM tenant_objects WHERE tenant_id = $1")
                .bind(tenant_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// A staff action's effect on a request.
#[derive(Debug, Clone)]
pub struct RequestChange<'a> {
    pub request_id: &'a str,
    pub actor_id: Option<&'a str>,
    pub action: &'a str,
    pub from: &'a [&'a str],
    pub to: &'a str,
    pub now: i64,
    pub scheduled_for: Option<i64>,
    /// Move the request's queued job to run at this time (or enqueue `new_job` then).
    pub run_job_at: Option<i64>,
    pub new_job: Option<&'a NewJob>,
    pub reserve_names: bool,
    pub release_names: bool,
    pub detail: Option<&'a str>,
    /// The audit entry of a person's action, written in the same transaction (its tenant is
    /// the request's).
    pub audit: Option<&'a crate::audit::AuditEntry>,
    /// The capped off-peak window the request takes a place in, checked here.
    pub window_cap: Option<(i64, i64, i64)>,
    /// The request's error (a rejection's reason, say), when the change sets one.
    pub error: Option<&'a str>,
    /// A message to its contact, sent with the change.
    pub mail: Option<&'a crate::mail::NewMail>,
}
