//! The daily digest to landlord administrators of the day ending at `until`.

use serde::{Deserialize, Serialize};

use super::Job;
use crate::service::{ServiceError, Services};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DailyDigest {
    /// The end of the day it covers (epoch milliseconds).
    pub until: i64,
}

impl Job for DailyDigest {
    const KIND: &'static str = "daily_digest";

    async fn run(self, services: &Services) -> Result<(), ServiceError> {
        crate::service::digest::send(services, self.until).await
    }

    /// A day that could not be told is skipped; the next one is still queued.
    async fn give_up(
        self,
        _services: &Services,
        burial: &mut portal_store::job::Burial,
        _error: &str,
    ) -> Result<(), ServiceError> {
        crate::service::digest::schedule_after(burial, self.until).await
    }
}
