//! Sending outbox messages, and the mail a landlord administrator may read.

use portal_domain::MailStatus;
use portal_store::StoreError;
use portal_store::mail::MailRow;
use tracing::{info, warn};

use super::{Actor, ServiceError, Services};

/// Sends one outbox message and records it. An `Err` means "try again later".
#[tracing::instrument(skip_all, fields(mail.id = %id))]
pub async fn send(services: &Services, id: &str) -> Result<(), ServiceError> {
    let row = match services.store.get_mail(id).await {
        Ok(row) => row,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if row.status != MailStatus::Pending {
        return Ok(());
    }
    match services.mailer.send(&row).await {
        Ok(()) => {
            // The message is out: try hard to record it, since a failure here means sending
            // it again.
            let mut last = None;
            for pause_ms in [0u64, 200, 1_000, 3_000] {
                tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
                match services
                    .store
                    .mark_mail_sent(id, portal_store::now_ms())
                    .await
                {
                    Ok(()) => {
                        info!(mail.kind = %row.kind, "mail sent");
                        return Ok(());
                    }
                    Err(e) => last = Some(e),
                }
            }
            let e = last
                .map(ServiceError::from)
                .unwrap_or(ServiceError::Unavailable);
            warn!(error = %e, "mail sent but not recorded; it may be sent once more");
            Err(e)
        }
        Err(error) => {
            warn!(%error, "mail not sent; it will be tried again");
            services
                .store
                .mark_mail_attempt_failed(id, &error, portal_store::now_ms())
                .await?;
            Err(ServiceError::Internal(anyhow::anyhow!(error)))
        }
    }
}

/// The outbox, newest first (landlord administrators).
pub async fn list(
    services: &Services,
    actor: &Actor,
    limit: i64,
) -> Result<Vec<MailRow>, ServiceError> {
    actor.require(portal_domain::Permission::ReadMail)?;
    Ok(services.store.list_mail(limit).await?)
}

pub async fn get(services: &Services, actor: &Actor, id: &str) -> Result<MailRow, ServiceError> {
    actor.require(portal_domain::Permission::ReadMail)?;
    Ok(services.store.get_mail(id).await?)
}
