//! Carries out a change of a tenant's service package, step after step; when it runs out of
//! attempts, everything it did is undone in the transaction that buries it.

use portal_store::job::Burial;
use serde::{Deserialize, Serialize};

use super::Job;
use crate::service::{ServiceError, Services};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangePackage {
    pub change_id: String,
}

impl Job for ChangePackage {
    const KIND: &'static str = "change_package";

    fn subject(&self) -> Option<&str> {
        Some(&self.change_id)
    }

    async fn run(self, services: &Services) -> Result<(), ServiceError> {
        crate::service::package::run(services, &self.change_id).await
    }

    async fn give_up(
        self,
        services: &Services,
        burial: &mut Burial,
        error: &str,
    ) -> Result<(), ServiceError> {
        crate::service::package::give_up(services, burial, &self.change_id, error).await
    }
}
