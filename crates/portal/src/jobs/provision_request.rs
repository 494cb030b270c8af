//! Provisions one request; when it runs out of attempts the half-made tenant is removed and
//! the request is failed, in the transaction that buries the job.

use portal_store::job::Burial;
use serde::{Deserialize, Serialize};

use super::Job;
use crate::service::{ServiceError, Services};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProvisionRequest {
    pub request_id: String,
}

impl Job for ProvisionRequest {
    const KIND: &'static str = "provision_request";

    fn subject(&self) -> Option<&str> {
        Some(&self.request_id)
    }

    async fn run(self, services: &Services) -> Result<(), ServiceError> {
        crate::service::provision::provision(services, &self.request_id).await
    }

    async fn give_up(
        self,
        services: &Services,
        burial: &mut Burial,
        error: &str,
    ) -> Result<(), ServiceError> {
        crate::service::provision::give_up(services, burial, &self.request_id, error).await
    }
}
