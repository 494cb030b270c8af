//! Process metrics in the Prometheus text format: HTTP requests, jobs by outcome, and the
//! queue depth read from the database at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use portal_store::workers::Gauges;

#[derive(Debug, Default)]
pub struct Metrics {
    /// (method, route, status) → count.
    http: Mutex<BTreeMap<(String, String, u16), u64>>,
    jobs_completed: AtomicU64,
    jobs_retried: AtomicU64,
    jobs_dead: AtomicU64,
    jobs_lost: AtomicU64,
    /// How long jobs waited past their due time before they started: a count per bucket of
    /// `START_LAG_BUCKETS_MS` (the last counts the rest), and the sum in milliseconds.
    start_lag: [AtomicU64; START_LAG_BUCKETS_MS.len() + 1],
    start_lag_sum_ms: AtomicU64,
}

/// Upper bounds of the start-lag histogram's buckets, in milliseconds: fine where the
/// targets are (a few milliseconds), coarse beyond.
pub const START_LAG_BUCKETS_MS: [u64; 20] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 30, 50, 100, 250, 500, 1_000, 5_000, 30_000,
];

/// How a job attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Completed,
    Retried,
    Dead,
    /// The lease had been taken over; the result was discarded.
    Lost,
}

impl Metrics {
    pub fn record_http(&self, method: &str, route: &str, status: u16) {
        if let Ok(mut map) = self.http.lock() {
            *map.entry((method.to_owned(), route.to_owned(), status))
                .or_default() += 1;
        }
    }

    pub fn record_job(&self, outcome: JobOutcome) {
        let counter = match outcome {
            JobOutcome::Completed => &self.jobs_completed,
            JobOutcome::Retried => &self.jobs_retried,
            JobOutcome::Dead => &self.jobs_dead,
            JobOutcome::Lost => &self.jobs_lost,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records that a job started `lag_ms` after it was due (a clock step back counts as 0).
    pub fn record_start_lag(&self, lag_ms: i64) {
        let lag = u64::try_from(lag_ms).unwrap_or(0);
        let bucket = START_LAG_BUCKETS_MS
            .iter()
            .position(|&bound| lag <= bound)
            .unwrap_or(START_LAG_BUCKETS_MS.len());
        self.start_lag[bucket].fetch_add(1, Ordering::Relaxed);
        self.start_lag_sum_ms.fetch_add(lag, Ordering::Relaxed);
    }

    /// The start lag's count per bucket (the last: beyond every bound).
    pub fn start_lag_counts(&self) -> Vec<u64> {
        self.start_lag
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// The bucket bound at or below which the fraction `q` of recorded start lags fall (the
    /// bound of the bucket holding that quantile), or `None` before any job started.
    pub fn start_lag_quantile_ms(&self, q: f64) -> Option<u64> {
        let counts = self.start_lag_counts();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let wanted = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in counts.iter().enumerate() {
            seen += n;
            if seen >= wanted {
                return Some(START_LAG_BUCKETS_MS.get(i).copied().unwrap_or(u64::MAX));
            }
        }
        None
    }

    pub fn jobs(&self, outcome: JobOutcome) -> u64 {
        match outcome {
            JobOutcome::Completed => &self.jobs_completed,
            JobOutcome::Retried => &self.jobs_retried,
            JobOutcome::Dead => &self.jobs_dead,
            JobOutcome::Lost => &self.jobs_lost,
        }
        .load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of every metric: this process's counters, and the
    /// database's gauges when they could be read.
    pub fn render(&self, database: Option<&DatabaseGauges>) -> String {
        let mut out = String::new();
        self.write_http(&mut out);
        self.write_jobs(&mut out);
        self.write_start_lag(&mut out);
        if let Some(database) = database {
            database.write(&mut out);
        }
        out
    }

    /// The HTTP requests counter, one line per method, route and status.
    fn write_http(&self, out: &mut String) {
        out.push_str("# HELP portal_http_requests_total HTTP requests answered, by method, route and status.\n");
        out.push_str("# TYPE portal_http_requests_total counter\n");
        if let Ok(map) = self.http.lock() {
            for ((method, route, status), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "portal_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    label(route)
                );
            }
        }
    }

    /// The job attempts counter, one line per outcome.
    fn write_jobs(&self, out: &mut String) {
        out.push_str(
            "# HELP portal_jobs_total Job attempts finished by this process, by outcome.\n",
        );
        out.push_str("# TYPE portal_jobs_total counter\n");
        for (name, outcome) in [
            ("completed", JobOutcome::Completed),
            ("retried", JobOutcome::Retried),
            ("dead", JobOutcome::Dead),
            ("lost_lease", JobOutcome::Lost),
        ] {
            let _ = writeln!(
                out,
                "portal_jobs_total{{outcome=\"{name}\"}} {}",
                self.jobs(outcome)
            );
        }
    }

    /// The start-lag histogram: cumulative buckets in seconds, then the sum and the count.
    fn write_start_lag(&self, out: &mut String) {
        out.push_str("# HELP portal_job_start_lag_seconds How long jobs waited past their due time before they started.\n");
        out.push_str("# TYPE portal_job_start_lag_seconds histogram\n");
        let counts = self.start_lag_counts();
        let mut cumulative = 0;
        for (i, n) in counts.iter().enumerate() {
            cumulative += n;
            let le = START_LAG_BUCKETS_MS.get(i).map_or_else(
                || "+Inf".to_owned(),
                |ms| format!("{}", *ms as f64 / 1000.0),
            );
            let _ = writeln!(
                out,
                "portal_job_start_lag_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "portal_job_start_lag_seconds_sum {}",
            self.start_lag_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(out, "portal_job_start_lag_seconds_count {cumulative}");
    }
}

/// What the database holds at a scrape: the queue, the requests, what waits to be sent, and
/// the workers alive.
#[derive(Debug, Clone, Default)]
pub struct DatabaseGauges {
    pub gauges: Gauges,
    /// When they were read, in milliseconds since the epoch.
    pub now: i64,
    /// Workers that said they were alive within the last three heartbeats and did not stop.
    pub workers_alive: usize,
}

impl DatabaseGauges {
    fn write(&self, out: &mut String) {
        let mut depth = BTreeMap::<&str, i64>::new();
        for (_, status, n) in &self.gauges.jobs {
            *depth.entry(status.as_str()).or_default() += n;
        }
        gauge_header(out, "portal_queue_jobs", "Jobs in the queue, by status.");
        for status in ["queued", "running", "dead"] {
            let n = depth.get(status).copied().unwrap_or(0);
            let _ = writeln!(out, "portal_queue_jobs{{status=\"{status}\"}} {n}");
        }
        gauge_header(
            out,
            "portal_queue_jobs_by_kind",
            "Jobs in the queue, by kind and status (dead ones are out of attempts).",
        );
        for (kind, status, n) in &self.gauges.jobs {
            let _ = writeln!(
                out,
                "portal_queue_jobs_by_kind{{kind=\"{}\",status=\"{}\"}} {n}",
                label(kind),
                label(status)
            );
        }
        gauge_header(
            out,
            "portal_queue_oldest_due_age_seconds",
            "How long the oldest job due now has waited (0 when none waits).",
        );
        let age = self
            .gauges
            .oldest_due_at
            .map_or(0, |due| (self.now - due).max(0));
        let _ = writeln!(
            out,
            "portal_queue_oldest_due_age_seconds {}",
            age as f64 / 1000.0
        );
        gauge_header(out, "portal_requests", "Subscription requests, by status.");
        for (status, n) in &self.gauges.requests {
            let _ = writeln!(out, "portal_requests{{status=\"{status}\"}} {n}");
        }
        gauge_header(out, "portal_mail_pending", "Outbox messages not yet sent.");
        let _ = writeln!(out, "portal_mail_pending {}", self.gauges.mail_pending);
        gauge_header(
            out,
            "portal_webhook_deliveries_pending",
            "Webhook deliveries not yet answered with success.",
        );
        let _ = writeln!(
            out,
            "portal_webhook_deliveries_pending {}",
            self.gauges.webhooks_pending
        );
        gauge_header(out, "portal_workers_alive", "Worker processes alive.");
        let _ = writeln!(out, "portal_workers_alive {}", self.workers_alive);
    }
}

fn gauge_header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// A label value with its backslashes and quotes escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_lags_fall_into_buckets_and_quantiles_name_their_bucket() {
        let m = Metrics::default();
        assert_eq!(m.start_lag_quantile_ms(0.5), None);
        for lag in [0, 1, 2, 2, 3, 12, -5, 40_000] {
            m.record_start_lag(lag);
        }
        let counts = m.start_lag_counts();
        assert_eq!(counts[0], 3, "0, 1 and a clock step back");
        assert_eq!(counts[1], 2);
        assert_eq!(counts[START_LAG_BUCKETS_MS.len()], 1, "beyond every bound");
        assert_eq!(m.start_lag_quantile_ms(0.5), Some(2));
        assert_eq!(m.start_lag_quantile_ms(0.8), Some(15));
        assert_eq!(m.start_lag_quantile_ms(1.0), Some(u64::MAX));
        let text = m.render(None);
        assert!(text.contains("portal_job_start_lag_seconds_bucket{le=\"0.002\"} 5"));
        assert!(text.contains("portal_job_start_lag_seconds_count 8"));
    }
}
