//! Ends a self-service request whose contact address was not confirmed in time.

use serde::{Deserialize, Serialize};

use super::Job;
use crate::service::{ServiceError, Services};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpireRegistration {
    pub request_id: String,
}

impl Job for ExpireRegistration {
    const KIND: &'static str = "expire_registration";

    fn subject(&self) -> Option<&str> {
        Some(&self.request_id)
    }

    async fn run(self, services: &Services) -> Result<(), ServiceError> {
        crate::service::registration::expire(services, &self.request_id).await
    }
}
