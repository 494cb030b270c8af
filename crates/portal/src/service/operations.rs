//! What operators watch: the worker processes and what they hold, and the queue.

use portal_domain::Permission;
use portal_store::workers::WorkerRow;

use super::{Actor, ServiceError, Services};
use crate::worker::ALIVE_EVERY;

/// Workers shown: those seen within this long.
const SHOWN_FOR_MS: i64 = 24 * 60 * 60_000;

/// Where a worker stands, as its heartbeats say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// It said it was alive within the last three heartbeats.
    Running,
    /// It said it stopped.
    Stopped,
    /// It stopped saying anything without saying it stopped (killed, or cut off).
    Silent,
}

impl WorkerState {
    pub fn label(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Silent => "silent",
        }
    }
}

/// One worker, with the jobs it holds.
#[derive(Debug, Clone)]
pub struct WorkerView {
    pub row: WorkerRow,
    pub state: WorkerState,
    /// (job id, kind) of the jobs it holds a lease on.
    pub holding: Vec<(i64, String)>,
}

impl WorkerState {
    /// Where a worker stands at `now`: running while it said it was alive within the last
    /// three heartbeats.
    pub fn of(row: &WorkerRow, now: i64) -> Self {
        let alive_since = now - 3 * i64::try_from(ALIVE_EVERY.as_millis()).unwrap_or(i64::MAX);
        match row.stopped_at {
            Some(_) => Self::Stopped,
            None if row.seen_at >= alive_since => Self::Running,
            None => Self::Silent,
        }
    }
}

/// The workers seen in the last day, running ones first, for those who watch operations.
pub async fn workers(services: &Services, actor: &Actor) -> Result<Vec<WorkerView>, ServiceError> {
    actor.require(Permission::WatchOperations)?;
    let now = portal_store::now_ms();
    let mut views = Vec::new();
    for row in services.store.workers(now - SHOWN_FOR_MS).await? {
        let state = WorkerState::of(&row, now);
        let holding = if row.holding > 0 {
            services.store.jobs_held_by(&row.id).await?
        } else {
            Vec::new()
        };
        views.push(WorkerView {
            row,
            state,
            holding,
        });
    }
    views.sort_by_key(|v| v.state != WorkerState::Running);
    Ok(views)
}
