//! Checks whether a self-service request's domain owner published its DNS record; queues the
//! next check while the request waits.

use serde::{Deserialize, Serialize};

use super::Job;
use crate::service::{ServiceError, Services};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckDomain {
    pub request_id: String,
}

impl Job for CheckDomain {
    const KIND: &'static str = "check_domain";

    // No subject: a request's queued jobs are its provisioning, which a move (re)times by
    // subject; a check finding the request no longer waiting does nothing.

    async fn run(self, services: &Services) -> Result<(), ServiceError> {
        crate::service::domain::check_scheduled(services, &self.request_id).await
    }

    /// Out of attempts: the next check is queued anyway, so the request is not forgotten.
    async fn give_up(
        self,
        _services: &Services,
        burial: &mut portal_store::job::Burial,
        _error: &str,
    ) -> Result<(), ServiceError> {
        let next = crate::service::domain::check_after_failure(&self.request_id)?;
        Ok(burial.enqueue_next(&next).await?)
    }
}
