//! The staff's dashboard: per-day figures kept by triggers (see migration 0024), and the
//! counts of what needs attention.

use portal_domain::glance::{TimeBucket, TimeHistogram, UtcDay};
use portal_domain::import::ImportStatus;
use portal_domain::{EndpointStatus, NotificationStatus};

use crate::{Store, StoreError};

/// One UTC day's requests: submitted that day, and completed or failed that day (while they
/// stay so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayCounts {
    pub day: UtcDay,
    pub submitted: i64,
    pub completed: i64,
    pub failed: i64,
}

/// What may need someone on the provider's staff, beside the requests' own statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attention {
    /// Requests whose outcome email ran out of attempts (and was not sent again since).
    pub outcome_emails_failed: i64,
    /// Webhook endpoints failing now, or disabled by the portal after days of failures.
    pub webhooks_failing: i64,
    /// Imports previewed in the last week, not yet submitted, that have rows to correct.
    pub imports_with_invalid_rows: i64,
}

/// A previewed import with invalid rows needs attention for a week; one left longer was given
/// up (a corrected file makes an import of its own).
const IMPORTS_WATCHED_MS: i64 = 7 * 86_400_000;

/// The queue as the dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueNow {
    /// Jobs whose time has come and that no worker has taken yet.
    pub due: i64,
    /// When the oldest of them became due.
    pub oldest_due_at: Option<i64>,
}

impl Store {
    /// The days from `days.start()` to `days.end()` (UTC day numbers), oldest first; a day
    /// without requests is given as zeros.
    pub async fn day_counts(
        &self,
        days: std::ops::RangeInclusive<i64>,
    ) -> Result<Vec<DayCounts>, StoreError> {
        let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT day, submitted, completed, failed FROM request_days \
             WHERE day >= $1 AND day <= $2 ORDER BY day",
        )
        .bind(days.start())
        .bind(days.end())
        .fetch_all(&self.pool)
        .await?;
        let mut stored = rows.into_iter().peekable();
        Ok(days
            .map(|day| match stored.next_if(|r| r.0 == day) {
                Some((_, submitted, completed, failed)) => DayCounts {
                    day: UtcDay(day),
                    submitted,
                    completed,
                    failed,
                },
                None => DayCounts {
                    day: UtcDay(day),
                    ..DayCounts::default()
                },
            })
            .collect())
    }

    /// The times to a working tenant of the requests completed on each day of `days` that has
    /// any, oldest day first, each day's as its histogram. One read of the day rows in their
    /// key's order serves both the whole range's figures and each day's (summing them is the
    /// caller's): a day has at most a hundred-odd buckets, and reading them is cheaper than
    /// having the database rank them.
    pub async fn day_tenant_times(
        &self,
        days: std::ops::RangeInclusive<i64>,
    ) -> Result<Vec<(UtcDay, TimeHistogram)>, StoreError> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT day, bucket, requests FROM tenant_time_days \
             WHERE day >= $1 AND day <= $2 AND requests > 0 ORDER BY day, bucket",
        )
        .bind(days.start())
        .bind(days.end())
        .fetch_all(&self.pool)
        .await?;
        let mut by_day: Vec<(UtcDay, TimeHistogram)> = Vec::new();
        for (day, bucket, n) in rows {
            match by_day.last_mut() {
                Some((last, histogram)) if last.0 == day => histogram.add(TimeBucket(bucket), n),
                _ => {
                    let mut histogram = TimeHistogram::default();
                    histogram.add(TimeBucket(bucket), n);
                    by_day.push((UtcDay(day), histogram));
                }
            }
        }
        Ok(by_day)
    }

    /// The counts of what may need attention at `now`.
    pub async fn attention(&self, now: i64) -> Result<Attention, StoreError> {
        let (outcome_emails_failed, webhooks_failing, imports_with_invalid_rows): (i64, i64, i64) =
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM subscription_requests WHERE notification_status = $1), \
                 (SELECT COUNT(*) FROM webhook_endpoints \
                   WHERE failing_since IS NOT NULL OR (disabled_reason IS NOT NULL AND status = $2)), \
                 (SELECT COUNT(*) FROM bulk_imports \
                   WHERE status = $3 AND rows_valid < rows_total AND created_at >= $4)",
            )
            .bind(NotificationStatus::Failed.as_str())
            .bind(EndpointStatus::Disabled.as_str())
            .bind(ImportStatus::Previewed.as_str())
            .bind(now - IMPORTS_WATCHED_MS)
            .fetch_one(&self.pool)
            .await?;
        Ok(Attention {
            outcome_emails_failed,
            webhooks_failing,
            imports_with_invalid_rows,
        })
    }

    /// The jobs due at `now` and not taken, and when the oldest became due.
    pub async fn queue_now(&self, now: i64) -> Result<QueueNow, StoreError> {
        let (due, oldest_due_at): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(run_at) FROM jobs WHERE status = 'queued' AND run_at <= $1",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueNow { due, oldest_due_at })
    }
}
