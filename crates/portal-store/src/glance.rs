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
    /// any, oldest day first, each day's as its histogram. One read serves both the whole
    /// range's figures and each day's (summing them is the caller's). A day's buckets come as
    /// one list (`bucket:requests,…`), a row per day: ninety days hold some nine thousand
    /// buckets, and a row is a hand-over between the database's thread and the portal's on
    /// SQLite, dearer than the text; ranking them in the database costs more than reading them.
    pub async fn day_tenant_times(
        &self,
        days: std::ops::RangeInclusive<i64>,
    ) -> Result<Vec<(UtcDay, TimeHistogram)>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT day, string_agg(CAST(bucket AS TEXT) || ':' || CAST(requests AS TEXT), ',') \
             FROM tenant_time_days WHERE day >= $1 AND day <= $2 AND requests > 0 \
             GROUP BY day ORDER BY day",
        )
        .bind(days.start())
        .bind(days.end())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(day, buckets)| Ok((UtcDay(day), histogram_of(&buckets)?)))
            .collect()
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

/// A day's histogram from its list of `bucket:requests` pairs.
fn histogram_of(list: &str) -> Result<TimeHistogram, StoreError> {
    let mut histogram = TimeHistogram::default();
    for pair in list.split(',') {
        let parsed = pair
            .split_once(':')
            .and_then(|(bucket, n)| Some((bucket.parse().ok()?, n.parse().ok()?)));
        let Some((bucket, n)) = parsed else {
            return Err(anyhow::anyhow!("a day's time buckets read as {pair:?}").into());
        };
        histogram.add(TimeBucket(bucket), n);
    }
    Ok(histogram)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_days_list_reads_back_as_its_histogram() {
        let histogram = histogram_of("1203:2,402:1").expect("a well-formed list");
        let mut expected = TimeHistogram::default();
        expected.add(TimeBucket(402), 1);
        expected.add(TimeBucket(1203), 2);
        assert_eq!(histogram, expected);
        for bad in ["", "402", "402:", "x:1", "402:1,", "402:1:2"] {
            assert!(histogram_of(bad).is_err(), "{bad:?}");
        }
    }
}
