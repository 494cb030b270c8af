//! The dashboard's figures for scripts.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::routing::get;
use portal_domain::glance::DayCount;
use portal_domain::submission::FieldProblem;
use portal_domain::{FieldError, FieldErrorCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::service::glance::{self, Glance, Quantiles};
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::Auth;
use crate::web::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new().route("/api/v1/stats", get(stats))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// How many UTC days up to and including today, 1–366 (default 30).
    pub days: Option<String>,
}

/// The median and the 90th percentile, in milliseconds (null without a completed request),
/// each the middle of a bucket at most a tenth wide.
#[derive(Serialize, ToSchema)]
pub struct QuantilesView {
    pub p50: Option<i64>,
    pub p90: Option<i64>,
}

impl From<Quantiles> for QuantilesView {
    fn from(q: Quantiles) -> Self {
        Self {
            p50: q.p50,
            p90: q.p90,
        }
    }
}

/// One UTC day.
#[derive(Serialize, ToSchema)]
pub struct DayView {
    /// The UTC date, e.g. `2026-11-29`.
    pub date: String,
    /// Requests submitted that day.
    pub submitted: i64,
    /// Requests that completed that day.
    pub completed: i64,
    /// Requests that failed that day and are failed still.
    pub failed: i64,
    /// Submission to working tenant, of the requests completed that day.
    pub time_to_tenant_ms: QuantilesView,
}

#[derive(Serialize, ToSchema)]
pub struct QueueView {
    /// Jobs due and not yet taken by a worker.
    pub due: i64,
    /// Seconds since the oldest of them became due (0 when none is).
    pub oldest_due_age_s: i64,
    /// Workers that said they were alive within the last three heartbeats.
    pub workers_running: usize,
    /// Workers seen in the last hour, running or not.
    pub workers_seen: usize,
}

#[derive(Serialize, ToSchema)]
pub struct AttentionView {
    pub failed_requests: i64,
    pub awaiting_approval: i64,
    /// Requests whose outcome email ran out of attempts (and was not sent again since).
    pub outcome_emails_failed: i64,
    pub webhooks_failing: i64,
    /// Imports previewed in the last week, not yet submitted, with rows to correct.
    pub imports_with_invalid_rows: i64,
}

/// A coming off-peak window.
#[derive(Serialize, ToSchema)]
pub struct WindowView {
    pub start: String,
    pub end: String,
    /// Requests that start in it.
    pub taken: i64,
    /// At most this many may (null: no cap).
    pub cap: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct Stats {
    /// The days covered.
    pub days: u16,
    /// Every status with its count.
    pub by_status: BTreeMap<String, i64>,
    /// Each UTC day of the range, oldest first; a day without requests is zeros.
    pub per_day: Vec<DayView>,
    /// Submission to working tenant over the whole range.
    pub time_to_tenant_ms: QuantilesView,
    pub queue: QueueView,
    pub attention: AttentionView,
    /// The next off-peak windows; null when requests are provisioned at once.
    pub off_peak_windows: Option<Vec<WindowView>>,
}

/// The staff's figures at a glance: requests by status, per UTC day, the time to a working
/// tenant, the queue and what needs attention. Only the provider's staff see them.
#[utoipa::path(
    get, path = "/api/v1/stats", tag = "operations",
    security(("bearer" = [])),
    params(StatsQuery),
    responses(
        (status = 200, body = Stats),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "Not one of the provider's staff", body = ErrorBody),
        (status = 422, description = "days is not a whole number from 1 to 366", body = ErrorBody),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    Auth(actor): Auth,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Stats>, ApiError> {
    // Someone not on the staff learns nothing of the figures, not even their rules.
    if !actor.is_landlord() {
        return Err(crate::service::ServiceError::NotFound.into());
    }
    let days = match query {
        Ok(Query(StatsQuery { days: None })) => DayCount::default(),
        Ok(Query(StatsQuery { days: Some(text) })) => text.parse().map_err(bad_days)?,
        Err(_) => return Err(bad_days(portal_domain::glance::BadDayCount)),
    };
    Ok(Json(view(
        glance::glance(&state.services, &actor, days).await?,
    )))
}

fn bad_days(e: portal_domain::glance::BadDayCount) -> ApiError {
    ApiError::Invalid(vec![FieldProblem {
        field: "days",
        error: FieldError::new(FieldErrorCode::Invalid, e.to_string()),
    }])
}

fn view(g: Glance) -> Stats {
    let rfc3339 = super::rfc3339;
    Stats {
        days: g.days.get(),
        by_status: g
            .by_status
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect(),
        per_day: g
            .per_day
            .iter()
            .map(|d| DayView {
                date: d.counts.day.date(),
                submitted: d.counts.submitted,
                completed: d.counts.completed,
                failed: d.counts.failed,
                time_to_tenant_ms: d.time_to_tenant.into(),
            })
            .collect(),
        time_to_tenant_ms: g.time_to_tenant.into(),
        queue: QueueView {
            due: g.queue.due,
            oldest_due_age_s: g
                .queue
                .oldest_due_at
                .map_or(0, |at| (g.now - at).max(0) / 1000),
            workers_running: g.workers_running,
            workers_seen: g.workers_seen,
        },
        attention: AttentionView {
            failed_requests: g.count(portal_domain::RequestStatus::Failed),
            awaiting_approval: g.count(portal_domain::RequestStatus::PendingApproval),
            outcome_emails_failed: g.attention.outcome_emails_failed,
            webhooks_failing: g.attention.webhooks_failing,
            imports_with_invalid_rows: g.attention.imports_with_invalid_rows,
        },
        off_peak_windows: g.windows.map(|ws| {
            ws.iter()
                .map(|w| WindowView {
                    start: rfc3339(w.start),
                    end: rfc3339(w.end),
                    taken: w.taken,
                    cap: w.cap,
                })
                .collect()
        }),
    }
}
