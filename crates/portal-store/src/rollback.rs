//! Giving up on a request: a half-made tenant is removed whole and the request is `failed`,
//! in one transaction, so that it can be retried from the start.

use portal_domain::{ErrorNote, Role, StepStatus};

use crate::event::{NewEvent, record_event};
use crate::mail::NewMail;
use crate::names::free_names;
use crate::{Store, StoreError};

/// What a request that failed keeps: its error, and the email that tells its contact.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    pub request_id: &'a str,
    /// What a person can do about it.
    pub message: &'a str,
    pub mail: Option<&'a NewMail>,
}

impl Store {
    /// Gives up on a request: a half-made tenant is removed whole (its administrator's hash
    /// goes back to the request so that a retry can create it again), the request is `failed`
    /// with the failure's message, and its names are freed. False when the request was not in
    /// progress.
    pub async fn fail_and_roll_back(
        &self,
        failure: &Failure<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let failed = self.fail_and_roll_back_in(&mut tx, failure, now).await?;
        if failed {
            tx.commit().await?;
        }
        Ok(failed)
    }

    /// `fail_and_roll_back` inside the caller's transaction.
    pub(crate) async fn fail_and_roll_back_in(
        &self,
        tx: &mut crate::WriteTx,
        failure: &Failure<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let request_id = failure.request_id;
        let request = self.lock_request(tx, request_id).await?;
        let Ok(give_up) = request.status.give_up() else {
            return Ok(false);
        };
        if let Some(tenant_id) = &request.tenant_id {
            remove_tenant(tx, request_id, tenant_id).await?;
        }
        reset_steps_after_failure(tx, request_id, now).await?;
        let note = ErrorNote::Failed(failure.message.to_owned());
        sqlx::query(
            "UPDATE subscription_requests SET status = $1, error = $2, error_kind = $3, \
             finished_at = $4, tenant_id = NULL WHERE id = $5",
        )
        .bind(give_up.to.as_str())
        .bind(note.words())
        .bind(note.kind().as_str())
        .bind(now)
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
        free_names(tx, request_id).await?;
        if let Some(mail) = failure.mail {
            crate::mail::put_in_outbox(tx, mail, now).await?;
        }
        let event = NewEvent::of(&give_up).saying(Some(failure.message));
        record_event(tx, request_id, &event, now).await?;
        Ok(true)
    }
}

/// Removes a half-made tenant with everything it holds; its administrator's password hash
/// goes back to the request first.
async fn remove_tenant(
    tx: &mut crate::WriteTx,
    request_id: &str,
    tenant_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE subscription_requests SET admin_password_hash = \
         (SELECT password_hash FROM users WHERE tenant_id = $1 AND role = $3) \
         WHERE id = $2 AND admin_password_hash IS NULL",
    )
    .bind(tenant_id)
    .bind(request_id)
    .bind(Role::TenantAdmin.as_str())
    .execute(&mut **tx)
    .await?;
    for sql in [
        "DELETE FROM api_tokens WHERE user_id IN (SELECT id FROM users WHERE tenant_id = $1)",
        "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE tenant_id = $1)",
        "DELETE FROM account_links WHERE user_id IN (SELECT id FROM users WHERE tenant_id = $1)",
        "DELETE FROM known_devices WHERE user_id IN (SELECT id FROM users WHERE tenant_id = $1)",
        "DELETE FROM smart_queue_drafts WHERE tenant_id = $1",
        "DELETE FROM users WHERE tenant_id = $1",
        "DELETE FROM smart_queue_parameters WHERE tenant_id = $1",
        "DELETE FROM tenant_objects WHERE tenant_id = $1",
        "DELETE FROM tenants WHERE id = $1",
    ] {
        sqlx::query(sql).bind(tenant_id).execute(&mut **tx).await?;
    }
    Ok(())
}

/// The step that was running is marked failed (with its end); the others are pending again.
async fn reset_steps_after_failure(
    tx: &mut crate::WriteTx,
    request_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE request_steps SET \
         started_at = CASE WHEN status = $3 THEN started_at ELSE NULL END, \
         finished_at = CASE WHEN status = $3 THEN $1 ELSE NULL END, \
         status = CASE WHEN status = $3 THEN $4 ELSE $5 END \
         WHERE request_id = $2",
    )
    .bind(now)
    .bind(request_id)
    .bind(StepStatus::Running.as_str())
    .bind(StepStatus::Failed.as_str())
    .bind(StepStatus::Pending.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl crate::job::Burial {
    /// `Store::fail_and_roll_back` in the transaction that buries the provisioning job.
    pub async fn fail_request(
        &mut self,
        failure: &Failure<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.store
            .fail_and_roll_back_in(&mut self.tx, failure, now)
            .await
    }
}
