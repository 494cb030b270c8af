//! The job that does nothing: it measures the queue itself (`examples/bench.rs`).

use serde::{Deserialize, Serialize};

use super::Job;
use crate::service::{ServiceError, Services};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Noop {}

impl Job for Noop {
    const KIND: &'static str = "noop";

    async fn run(self, _services: &Services) -> Result<(), ServiceError> {
        Ok(())
    }
}
