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
                    .mark_mail_sent(id, portal_store::now_ms(), hide_tokens)
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

/// The outbox, newest first (landlord staff), its links' secrets hidden.
pub async fn list(
    services: &Services,
    actor: &Actor,
    limit: i64,
) -> Result<Vec<MailRow>, ServiceError> {
    actor.require(portal_domain::Permission::ReadMail)?;
    let rows = services.store.list_mail(limit).await?;
    Ok(rows.into_iter().map(masked).collect())
}

pub async fn get(services: &Services, actor: &Actor, id: &str) -> Result<MailRow, ServiceError> {
    actor.require(portal_domain::Permission::ReadMail)?;
    Ok(masked(services.store.get_mail(id).await?))
}

/// The paths of the links whose token lets its holder act: confirm an address, follow a
/// request, choose a password.
const SECRET_LINKS: [&str; 4] = [
    "/invitation/",
    "/password-reset/",
    "/registrations/verify/",
    "/registrations/status/",
];

/// A message as staff read it: the token of every secret link replaced, so that reading the
/// outbox never lets anyone set another's password or confirm another's address.
fn masked(mut row: MailRow) -> MailRow {
    row.body_text = hide_tokens(&row.body_text);
    row.body_html = hide_tokens(&row.body_html);
    row
}

/// The body with the token of every secret link replaced by `(hidden)`: what staff read, and
/// what the outbox keeps once a message is sent.
pub fn hide_tokens(body: &str) -> String {
    let mut out = body.to_owned();
    for path in SECRET_LINKS {
        let mut from = 0;
        while let Some(at) = out[from..].find(path).map(|i| from + i + path.len()) {
            let end = out[at..]
                .find(|c: char| !c.is_ascii_alphanumeric())
                .map_or(out.len(), |i| at + i);
            out.replace_range(at..end, "(hidden)");
            from = at + "(hidden)".len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_secret_link_is_hidden_and_the_rest_kept() {
        let body = "Set it: https://p.example/invitation/abc123DEF.\n\
                    <a href=\"https://p.example/password-reset/ff00\">x</a> \
                    https://p.example/password-reset/ee11 https://p.example/requests/42";
        let shown = super::hide_tokens(body);
        assert!(!shown.contains("abc123DEF") && !shown.contains("ff00") && !shown.contains("ee11"));
        assert!(shown.contains("/invitation/(hidden)."));
        assert!(shown.contains("/password-reset/(hidden)\""));
        assert!(shown.contains("/requests/42"));
    }
}
