//! The staff's view at a glance: requests by status, what needs attention, the requests of
//! each day and how long a tenant takes, the coming off-peak windows, and the queue.

use portal_domain::glance::{DayCount, TimeHistogram, UtcDay};
use portal_domain::{Permission, RequestStatus};
use portal_store::glance::{Attention, DayCounts, QueueNow};

use super::operations::WorkerState;
use super::{Actor, ServiceError, Services};

/// How many of the coming off-peak windows are shown.
const WINDOWS_SHOWN: usize = 3;
/// Workers count as seen recently within this long.
const RECENTLY_MS: i64 = 60 * 60_000;

/// The median and the 90th percentile of the time to a working tenant, in milliseconds;
/// `None` without a completed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quantiles {
    pub p50: Option<i64>,
    pub p90: Option<i64>,
}

impl Quantiles {
    fn of(histogram: &TimeHistogram) -> Self {
        Self {
            p50: histogram.percentile(50),
            p90: histogram.percentile(90),
        }
    }
}

/// One day: its requests and how long its completed ones took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    pub counts: DayCounts,
    pub time_to_tenant: Quantiles,
}

/// A coming off-peak window and how full it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowFill {
    pub start: i64,
    pub end: i64,
    /// Requests that start in it.
    pub taken: i64,
    /// At most this many may; `None` without a cap.
    pub cap: Option<u32>,
}

/// Everything the dashboard shows.
#[derive(Debug, Clone)]
pub struct Glance {
    pub days: DayCount,
    /// Every status with its count, zeros included, in the lifecycle's order.
    pub by_status: Vec<(RequestStatus, i64)>,
    /// Each day of the range, oldest first, days without requests as zeros.
    pub per_day: Vec<Day>,
    /// Over the whole range.
    pub time_to_tenant: Quantiles,
    pub attention: Attention,
    pub queue: QueueNow,
    /// Workers that said they were alive within the last three heartbeats, and all seen in
    /// the last hour.
    pub workers_running: usize,
    pub workers_seen: usize,
    /// The coming windows when requests are provisioned off-peak; `None` when at once.
    pub windows: Option<Vec<WindowFill>>,
    pub now: i64,
}

impl Glance {
    pub fn count(&self, status: RequestStatus) -> i64 {
        self.by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }
}

/// The dashboard's figures over the last `days` UTC days (today included). Only the
/// provider's staff see them; to anyone else they do not exist.
pub async fn glance(
    services: &Services,
    actor: &Actor,
    days: DayCount,
) -> Result<Glance, ServiceError> {
    if !actor.is_landlord() {
        return Err(ServiceError::NotFound);
    }
    actor.require(Permission::ReadRequests)?;
    let now = portal_store::now_ms();
    let range = UtcDay::last(days, now);
    let store = &services.store;
    let by_status = store.count_every_status().await?;
    let times = store.day_tenant_times(range.clone()).await?;
    let mut whole = TimeHistogram::default();
    for (_, histogram) in &times {
        whole.merge(histogram);
    }
    let mut times = times.into_iter().peekable();
    let per_day = store
        .day_counts(range)
        .await?
        .into_iter()
        .map(|counts| Day {
            time_to_tenant: times
                .next_if(|(day, _)| *day == counts.day)
                .map(|(_, histogram)| Quantiles::of(&histogram))
                .unwrap_or_default(),
            counts,
        })
        .collect();
    let workers = store.workers(now - RECENTLY_MS).await?;
    Ok(Glance {
        days,
        by_status,
        per_day,
        time_to_tenant: Quantiles::of(&whole),
        attention: store.attention(now).await?,
        queue: store.queue_now(now).await?,
        workers_running: workers
            .iter()
            .filter(|w| WorkerState::of(w, now) == WorkerState::Running)
            .count(),
        workers_seen: workers.len(),
        windows: windows(services, now).await?,
        now,
    })
}

/// The coming off-peak windows with how many requests start in each, when the policy
/// provisions off-peak.
async fn windows(services: &Services, now: i64) -> Result<Option<Vec<WindowFill>>, ServiceError> {
    let policy = super::policy::current(services).await?;
    let Some(off_peak) = policy.check().ok().flatten() else {
        return Ok(None);
    };
    let now_ts =
        jiff::Timestamp::from_millisecond(now).map_err(|e| ServiceError::Internal(e.into()))?;
    let mut window = off_peak.current_or_next(now_ts);
    let mut fills = Vec::with_capacity(WINDOWS_SHOWN);
    for _ in 0..WINDOWS_SHOWN {
        let (start, end) = (window.start.as_millisecond(), window.end.as_millisecond());
        fills.push(WindowFill {
            start,
            end,
            taken: services.store.count_starting_in(start, end).await?,
            cap: off_peak.max_per_window,
        });
        window = off_peak.next_after(window);
    }
    Ok(Some(fills))
}
