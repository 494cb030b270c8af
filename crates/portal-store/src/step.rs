//! The steps of provisioning, each one transaction that also marks its step done, so that a
//! step either happened with its record or not at all, and a repeated step changes nothing.

use portal_domain::{
    AccountStatus, ProvisioningStep, RequestStatus, Role, StepStatus, TenantStatus,
};

use crate::error::{Conflict, is_unique_violation};
use crate::event::{NewEvent, record_event};
use crate::names::reserve_names;
use crate::request::RequestRow;
use crate::{Store, StoreError};

/// Whether a step ran now, had run before, or cannot run because the request moved on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    Done,
    AlreadyDone,
    /// The request is no longer provisioning (cancelled, failed, completed).
    NotProvisioning,
}

/// Copies the template objects at positions `from..to` into the tenant, placeholders filled
/// in (only objects marked as holding one are rewritten), each with its origin (its name in
/// the template) and its fingerprint (the properties the template gave it), in one
/// `INSERT … SELECT`; positions already copied are skipped. Returns how many rows
/// were copied.
async fn copy_objects(
    tx: &mut crate::WriteTx,
    request: &RequestRow,
    tenant_id: &str,
    from: i64,
    to: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "INSERT INTO tenant_objects (tenant_id, position, kind, name, properties, origin, \
         template_properties) \
         SELECT $1, position, kind, name, properties, origin, properties FROM ( \
         SELECT o.position, o.kind, o.name AS origin, \
           CASE WHEN o.has_placeholders = 1 THEN \
             REPLACE(REPLACE(REPLACE(o.name, '{tenant.name}', $2), '{tenant.short_name}', $3), '{tenant.upn_suffix}', $4) \
             ELSE o.name END AS name, \
           CASE WHEN o.has_placeholders = 1 THEN \
             REPLACE(REPLACE(REPLACE(o.properties, '{tenant.name}', $2), '{tenant.short_name}', $3), '{tenant.upn_suffix}', $4) \
             ELSE o.properties END AS properties \
         FROM template_objects o WHERE o.template_id = $5 AND o.version = $6 \
         AND o.position >= $7 AND o.position < $8) AS filled WHERE true \
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
    /// Opens a step: the request is locked and must be provisioning; `None` when the step is
    /// already done (the transaction is then committed as is).
    async fn open_step(
        &self,
        request_id: &str,
        step: ProvisioningStep,
    ) -> Result<Result<(crate::WriteTx, RequestRow), StepOutcome>, StoreError> {
        let mut tx = self.begin_write().await?;
        let request = self.lock_request(&mut tx, request_id).await?;
        if request.status != RequestStatus::Provisioning {
            return Ok(Err(StepOutcome::NotProvisioning));
        }
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM request_steps WHERE request_id = $1 AND name = $2",
        )
        .bind(request_id)
        .bind(step.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let status = status
            .map(|s| s.parse::<StepStatus>())
            .transpose()
            .map_err(anyhow::Error::from)?;
        if status == Some(StepStatus::Done) {
            return Ok(Err(StepOutcome::AlreadyDone));
        }
        Ok(Ok((tx, request)))
    }

    async fn close_step(
        &self,
        mut tx: crate::WriteTx,
        request_id: &str,
        step: ProvisioningStep,
        started: i64,
    ) -> Result<StepOutcome, StoreError> {
        // The step began at `started`; it ends now, when its work is done.
        let now = crate::now_ms().max(started);
        sqlx::query(
            "UPDATE request_steps SET status = $4, started_at = COALESCE(started_at, $1), \
             finished_at = $1 WHERE request_id = $2 AND name = $3",
        )
        .bind(now)
        .bind(request_id)
        .bind(step.as_str())
        .bind(StepStatus::Done.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(StepOutcome::Done)
    }

    /// Records that a step started (shown while it runs).
    pub async fn mark_step_running(
        &self,
        request_id: &str,
        step: ProvisioningStep,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE request_steps SET status = $4, started_at = COALESCE(started_at, $1) \
             WHERE request_id = $2 AND name = $3 AND status <> $5",
        )
        .bind(now)
        .bind(request_id)
        .bind(step.as_str())
        .bind(StepStatus::Running.as_str())
        .bind(StepStatus::Done.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Confirms that the request's names are its own (they were reserved at intake).
    pub async fn step_reserve_names(
        &self,
        request_id: &str,
        now: i64,
    ) -> Result<StepOutcome, StoreError> {
        let step = ProvisioningStep::ReserveNames;
        let (mut tx, request) = match self.open_step(request_id, step).await? {
            Ok(open) => open,
            Err(outcome) => return Ok(outcome),
        };
        let names = request.names();
        reserve_names(&mut tx, &names, None, now).await?;
        self.close_step(tx, request_id, step, now).await
    }

    /// Creates the tenant (not yet active) and links it to the request.
    pub async fn step_create_tenant(
        &self,
        request_id: &str,
        tenant_id: &str,
        now: i64,
    ) -> Result<StepOutcome, StoreError> {
        let step = ProvisioningStep::CreateTenant;
        let (mut tx, request) = match self.open_step(request_id, step).await? {
            Ok(open) => open,
            Err(outcome) => return Ok(outcome),
        };
        if request.tenant_id.is_none() {
            let login = request.admin_login();
            sqlx::query(
                "INSERT INTO tenants (id, request_id, name, short_name, upn_suffix, ani, status, template_id, \
                 template_version, admin_personnel_id, admin_login, created_at) \
                 VALUES ($1, $2, $3, $4, '', '', $10, $5, $6, $7, $8, $9)",
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
            .bind(TenantStatus::Provisioning.as_str())
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
    /// erasing it from the request. `Conflict::AdminLoginTaken` when the login is taken by another user.
    pub async fn step_create_administrator(
        &self,
        request_id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<StepOutcome, StoreError> {
        let step = ProvisioningStep::CreateAdministrator;
        let (mut tx, request) = match self.open_step(request_id, step).await? {
            Ok(open) => open,
            Err(outcome) => return Ok(outcome),
        };
        let tenant_id = tenant_of(&request)?;
        let login = request.admin_login();
        let inserted = sqlx::query(
            // A password typed on the staff's form is changed at its owner's first sign-in;
            // a request with an address instead of a password makes an invited account (its
            // address left out should another account have it).
            "INSERT INTO users (id, username, username_key, password_hash, role, tenant_id, created_at, \
             email, email_key, status, must_change_password) \
             SELECT $1, $2, $3, admin_password_hash, $7, $4, $5, \
             CASE WHEN EXISTS (SELECT 1 FROM users WHERE email_key = LOWER(r.admin_email)) THEN NULL ELSE r.admin_email END, \
             CASE WHEN EXISTS (SELECT 1 FROM users WHERE email_key = LOWER(r.admin_email)) THEN NULL ELSE LOWER(r.admin_email) END, \
             CASE WHEN admin_password_hash = '' THEN $8 ELSE $9 END, \
             CASE WHEN submitted_by IS NOT NULL AND admin_password_hash <> '' THEN 1 ELSE 0 END \
             FROM subscription_requests r WHERE id = $6 AND admin_password_hash IS NOT NULL",
        )
        .bind(user_id)
        .bind(&login)
        .bind(login.to_lowercase())
        .bind(&tenant_id)
        .bind(now)
        .bind(&request.id)
        .bind(Role::TenantAdmin.as_str())
        .bind(AccountStatus::Invited.as_str())
        .bind(AccountStatus::Active.as_str())
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
            Err(e) if is_unique_violation(&e) => return Err(Conflict::AdminLoginTaken.into()),
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
        parameters_v1: &str,
        expected: i64,
        now: i64,
    ) -> Result<StepOutcome, StoreError> {
        let step = ProvisioningStep::CloneConfiguration;
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
        if request.status != RequestStatus::Provisioning {
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
        now: i64,
    ) -> Result<StepOutcome, StoreError> {
        let step = ProvisioningStep::AssignAniAndUpnSuffix;
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
        mail: Option<&crate::mail::NewMail>,
        invitation: Option<(&str, &crate::user::NewAccountLink, &crate::mail::NewMail)>,
        now: i64,
    ) -> Result<StepOutcome, StoreError> {
        let step = ProvisioningStep::Activate;
        let (mut tx, request) = match self.open_step(request_id, step).await? {
            Ok(open) => open,
            Err(outcome) => return Ok(outcome),
        };
        let finish = request.status.finish().map_err(anyhow::Error::from)?;
        sqlx::query("UPDATE tenants SET status = $1 WHERE request_id = $2")
            .bind(TenantStatus::Active.as_str())
            .bind(&request.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE subscription_requests SET status = $1, finished_at = $2, error = NULL, \
             error_kind = NULL WHERE id = $3",
        )
        .bind(finish.to.as_str())
        .bind(now)
        .bind(&request.id)
        .execute(&mut *tx)
        .await?;
        if let Some(mail) = mail {
            crate::mail::put_in_outbox(&mut tx, mail, now).await?;
        }
        if let Some((user_id, link, mail)) = invitation {
            crate::user::insert_account_link(&mut tx, user_id, link, now).await?;
            crate::mail::put_in_outbox(&mut tx, mail, now).await?;
        }
        record_event(&mut tx, &request.id, &NewEvent::of(&finish), now).await?;
        self.close_step(tx, request_id, step, now).await
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
