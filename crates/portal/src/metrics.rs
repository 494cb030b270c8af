//! Process metrics in the Prometheus text format: HTTP requests, jobs by outcome, and the
//! queue depth read from the database at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use portal_store::job::QueueDepth;

#[derive(Debug, Default)]
pub struct Metrics {
    /// (method, route, status) → count.
    http: Mutex<BTreeMap<(String, String, u16), u64>>,
    jobs_completed: AtomicU64,
    jobs_retried: AtomicU64,
    jobs_dead: AtomicU64,
    jobs_lost: AtomicU64,
}

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

    pub fn jobs(&self, outcome: JobOutcome) -> u64 {
        match outcome {
            JobOutcome::Completed => &self.jobs_completed,
            JobOutcome::Retried => &self.jobs_retried,
            JobOutcome::Dead => &self.jobs_dead,
            JobOutcome::Lost => &self.jobs_lost,
        }
        .load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, depth: Option<QueueDepth>) -> String {
        let mut out = String::new();
        out.push_str("# HELP portal_http_requests_total HTTP requests answered, by method, route and status.\n");
        out.push_str("# TYPE portal_http_requests_total counter\n");
        if let Ok(map) = self.http.lock() {
            for ((method, route, status), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "portal_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    route.replace('\\', "\\\\").replace('"', "\\\"")
                );
            }
        }
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
        if let Some(depth) = depth {
            out.push_str("# HELP portal_queue_jobs Jobs in the queue, by status.\n");
            out.push_str("# TYPE portal_queue_jobs gauge\n");
            for (name, n) in [
                ("queued", depth.queued),
                ("running", depth.running),
                ("dead", depth.dead),
            ] {
                let _ = writeln!(out, "portal_queue_jobs{{status=\"{name}\"}} {n}");
            }
        }
        out
    }
}
