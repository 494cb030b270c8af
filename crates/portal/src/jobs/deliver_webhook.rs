//! One attempt to deliver one event to one webhook endpoint. The store queues it, with the
//! event, in the transaction of the change the event reports (`portal_store::webhook`).

use serde::{Deserialize, Serialize};

use super::Job;
use crate::service::{ServiceError, Services};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub delivery_id: String,
}

impl Job for DeliverWebhook {
    const KIND: &'static str = portal_store::webhook::DELIVER_KIND;

    fn subject(&self) -> Option<&str> {
        Some(&self.delivery_id)
    }

    async fn run(self, services: &Services) -> Result<(), ServiceError> {
        crate::service::delivery::deliver(services, &self.delivery_id).await
    }

    /// A delivery whose job kept failing (the portal's own trouble, not the receiver's) is
    /// marked failed, to be replayed, in the transaction that buries the job.
    async fn give_up(
        self,
        _services: &Services,
        burial: &mut portal_store::job::Burial,
        _error: &str,
    ) -> Result<(), ServiceError> {
        Ok(burial.fail_delivery(&self.delivery_id).await?)
    }
}
