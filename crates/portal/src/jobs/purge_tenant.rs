//! Purges a closed tenant once its retention is over: its configuration in slices, then its
//! users, parameters and drafts, leaving a tombstone. Resumed after a crash from where it was.

use serde::{Deserialize, Serialize};

use super::Job;
use crate::service::{ServiceError, Services};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeTenant {
    pub tenant_id: String,
}

impl Job for PurgeTenant {
    const KIND: &'static str = "purge_tenant";

    fn subject(&self) -> Option<&str> {
        Some(&self.tenant_id)
    }

    async fn run(self, services: &Services) -> Result<(), ServiceError> {
        crate::service::tenant::purge(services, &self.tenant_id).await
    }
}
