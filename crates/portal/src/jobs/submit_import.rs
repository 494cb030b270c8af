//! Submits a bulk onboarding file's valid rows, a batch per transaction. Resumed after a crash
//! from the first row left: a submitted row is marked in its request's own transaction.

use serde::{Deserialize, Serialize};

use super::Job;
use crate::service::import::{Submitter, submit_rows};
use crate::service::{ServiceError, Services};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitImport {
    pub import_id: String,
    /// Who submitted it: its requests and their audit entries are theirs.
    pub actor_id: String,
    pub actor_name: String,
}

impl Job for SubmitImport {
    const KIND: &'static str = "submit_import";

    fn subject(&self) -> Option<&str> {
        Some(&self.import_id)
    }

    async fn run(self, services: &Services) -> Result<(), ServiceError> {
        let submitter = Submitter {
            id: self.actor_id,
            name: self.actor_name,
        };
        submit_rows(services, &self.import_id, &submitter).await
    }

    /// Out of attempts (the database down for long, or no off-peak window with room): the
    /// rows left are refused, saying so, and the import ends instead of waiting for ever.
    async fn give_up(
        self,
        _services: &Services,
        burial: &mut portal_store::job::Burial,
        error: &str,
    ) -> Result<(), ServiceError> {
        let reason = format!("The portal gave up submitting it ({error}); upload it again.");
        Ok(burial.give_up_import(&self.import_id, &reason).await?)
    }
}
