//! Sends one outbox message; when it runs out of attempts the message and its request's
//! notification are marked failed.

use portal_store::job::Burial;
use serde::{Deserialize, Serialize};

use super::Job;
use crate::service::{ServiceError, Services};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendMail {
    pub mail_id: String,
}

impl Job for SendMail {
    const KIND: &'static str = "send_mail";

    fn subject(&self) -> Option<&str> {
        Some(&self.mail_id)
    }

    async fn run(self, services: &Services) -> Result<(), ServiceError> {
        crate::service::mail::send(services, &self.mail_id).await
    }

    async fn give_up(
        self,
        _services: &Services,
        burial: &mut Burial,
        error: &str,
    ) -> Result<(), ServiceError> {
        tracing::warn!(mail.id = %self.mail_id, %error, "gave up sending a message");
        Ok(burial
            .give_up_mail(&self.mail_id, crate::service::mail::hide_tokens)
            .await?)
    }
}
