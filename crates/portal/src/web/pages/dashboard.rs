//! The provider's staff's home: requests by status, what needs attention, the requests of
//! each day and how long a tenant takes (charts with their numbers), the coming off-peak
//! windows and the queue.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use portal_domain::glance::{DAY_RANGES, DayCount};
use portal_domain::{Permission, RequestStatus};
use serde::Deserialize;

use super::charts::{self, Marker, Series};
use super::{Nav, PageUser, failure, message, render, when};
use crate::service::Actor;
use crate::service::glance::{self, Glance};
use crate::web::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new().route("/dashboard", get(show))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RangeQuery {
    days: String,
}

/// One figure linked to the list that holds it.
struct Count {
    /// The element's id in the page.
    id: String,
    href: String,
    label: String,
    n: i64,
}

/// One thing that needs attention, and where it is dealt with (when the actor may go there).
struct Notice {
    id: &'static str,
    link: Option<&'static str>,
    n: i64,
    label: &'static str,
}

/// One day's line of the tables beside the charts.
struct DayLine {
    date: String,
    submitted: i64,
    completed: i64,
    failed: i64,
    p50: String,
    p90: String,
}

struct WindowLine {
    opens: String,
    closes: String,
    taken: i64,
    /// "of 50 (84%)", or "no cap".
    room: String,
    full: bool,
}

#[derive(Template)]
#[template(path = "pages/dashboard.html")]
struct Page {
    nav: Nav,
    days: u16,
    ranges: Vec<(u16, bool)>,
    statuses: Vec<Count>,
    attention: Vec<Notice>,
    requests_chart: String,
    requests_summary: String,
    times_chart: String,
    times_summary: String,
    lines: Vec<DayLine>,
    windows: Option<Vec<WindowLine>>,
    due: i64,
    oldest_due: String,
    workers_running: usize,
    workers_seen: usize,
}

async fn show(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Response {
    let days = match query {
        Ok(Query(q)) if q.days.trim().is_empty() => Ok(DayCount::default()),
        Ok(Query(q)) => q.days.parse::<DayCount>(),
        Err(_) => Err(portal_domain::glance::BadDayCount),
    };
    match days {
        Ok(days) => dashboard(&state, &actor, days, "/dashboard").await,
        // Someone not on the staff learns nothing of the dashboard, not even its rules.
        Err(_) if !actor.is_landlord() => super::not_found(Some(&actor)),
        Err(e) => message(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&actor),
            "Not a range of days",
            &e.to_string(),
            Some(("/dashboard", "The last 30 days")),
        ),
    }
}

/// The dashboard over the last `days` days, as the page at `here`.
pub async fn dashboard(
    state: &AppState,
    actor: &Actor,
    days: DayCount,
    here: &'static str,
) -> Response {
    let g = match glance::glance(&state.services, actor, days).await {
        Ok(g) => g,
        Err(e) => return failure(&e, Some(actor)),
    };
    let (requests_chart, times_chart) = charts_of(&g);
    let page = Page {
        nav: Nav::for_actor(actor, here),
        days: days.get(),
        ranges: DAY_RANGES.iter().map(|d| (*d, *d == days.get())).collect(),
        statuses: g
            .by_status
            .iter()
            .map(|(s, n)| Count {
                id: format!("status-{s}"),
                href: format!("/requests?status={s}"),
                label: s.label(),
                n: *n,
            })
            .collect(),
        attention: attention(&g, actor),
        requests_chart,
        requests_summary: requests_summary(&g),
        times_chart,
        times_summary: times_summary(&g),
        lines: g.per_day.iter().rev().map(day_line).collect(),
        windows: g
            .windows
            .as_ref()
            .map(|ws| ws.iter().map(window_line).collect()),
        due: g.queue.due,
        oldest_due: g
            .queue
            .oldest_due_at
            .map(|at| duration((g.now - at).max(0)))
            .unwrap_or_default(),
        workers_running: g.workers_running,
        workers_seen: g.workers_seen,
    };
    render(StatusCode::OK, &page)
}

/// What may need someone, only what is there, each linked to where it is dealt with when the
/// actor's role may go there.
fn attention(g: &Glance, actor: &Actor) -> Vec<Notice> {
    let a = g.attention;
    let items = [
        (
            "attention-failed",
            "/requests?status=failed",
            Permission::ReadRequests,
            ("failed request", "failed requests"),
            g.count(RequestStatus::Failed),
        ),
        (
            "awaiting-approval",
            "/requests?status=pending_approval",
            Permission::ReadRequests,
            (
                "request waiting for approval",
                "requests waiting for approval",
            ),
            g.count(RequestStatus::PendingApproval),
        ),
        (
            "attention-mail",
            "/mail",
            Permission::ReadMail,
            ("outcome email that gave up", "outcome emails that gave up"),
            a.outcome_emails_failed,
        ),
        (
            "attention-webhooks",
            "/settings/webhooks",
            Permission::ManageWebhooks,
            ("webhook endpoint failing", "webhook endpoints failing"),
            a.webhooks_failing,
        ),
        (
            "attention-imports",
            "/imports",
            Permission::SubmitRequests,
            ("import with invalid rows", "imports with invalid rows"),
            a.imports_with_invalid_rows,
        ),
    ];
    items
        .into_iter()
        .filter(|item| item.4 > 0)
        .map(|(id, href, permission, (one, many), n)| Notice {
            id,
            link: actor.may(permission).then_some(href),
            n,
            label: if n == 1 { one } else { many },
        })
        .collect()
}

/// The two charts: requests per day, and the time to a working tenant per day.
fn charts_of(g: &Glance) -> (String, String) {
    let dates: Vec<String> = g
        .per_day
        .iter()
        .map(|d| d.counts.day.date().get(5..).unwrap_or_default().to_owned())
        .collect();
    (requests_chart(g, &dates), times_chart(g, &dates))
}

fn requests_chart(g: &Glance, dates: &[String]) -> String {
    let counts = |f: fn(&glance::Day) -> i64| g.per_day.iter().map(|d| Some(f(d) as f64)).collect();
    charts::line_chart(
        "requests-chart",
        dates,
        "requests",
        &[
            Series {
                label: "Submitted",
                colour: charts::BLUE,
                dashed: false,
                marker: Marker::Circle,
                values: counts(|d| d.counts.submitted),
            },
            Series {
                label: "Completed",
                colour: charts::GREEN,
                dashed: true,
                marker: Marker::Triangle,
                values: counts(|d| d.counts.completed),
            },
            Series {
                label: "Failed",
                colour: charts::VERMILION,
                dashed: false,
                marker: Marker::Cross,
                values: counts(|d| d.counts.failed),
            },
        ],
    )
}

fn times_chart(g: &Glance, dates: &[String]) -> String {
    let seconds = |f: fn(&glance::Day) -> Option<i64>| {
        g.per_day
            .iter()
            .map(|d| f(d).map(|ms| ms as f64 / 1000.0))
            .collect()
    };
    charts::line_chart(
        "times-chart",
        dates,
        "seconds",
        &[
            Series {
                label: "Median (p50)",
                colour: charts::BLUE,
                dashed: false,
                marker: Marker::Circle,
                values: seconds(|d| d.time_to_tenant.p50),
            },
            Series {
                label: "p90",
                colour: charts::VERMILION,
                dashed: true,
                marker: Marker::Triangle,
                values: seconds(|d| d.time_to_tenant.p90),
            },
        ],
    )
}

/// The range in words: "the last day", "the last 30 days".
fn the_last(g: &Glance) -> String {
    match g.days.get() {
        1 => "the last day".to_owned(),
        n => format!("the last {n} days"),
    }
}

fn requests_summary(g: &Glance) -> String {
    let sum = |f: fn(&glance::Day) -> i64| g.per_day.iter().map(f).sum::<i64>();
    let busiest = g
        .per_day
        .iter()
        .filter(|d| d.counts.submitted > 0)
        .max_by_key(|d| (d.counts.submitted, d.counts.day));
    let mut text = format!(
        "Over {}: {} submitted, {} completed, {} failed.",
        the_last(g),
        sum(|d| d.counts.submitted),
        sum(|d| d.counts.completed),
        sum(|d| d.counts.failed)
    );
    if let Some(d) = busiest {
        text.push_str(&format!(
            " The busiest day was {} with {} submitted.",
            d.counts.day.date(),
            d.counts.submitted
        ));
    }
    text
}

fn times_summary(g: &Glance) -> String {
    match (g.time_to_tenant.p50, g.time_to_tenant.p90) {
        (Some(p50), Some(p90)) => format!(
            "Over {}, half the tenants were working within {} of submission, and nine in ten within {}.",
            the_last(g),
            duration(p50),
            duration(p90)
        ),
        _ => format!("No request completed in the last {} days.", g.days.get()),
    }
}

fn day_line(d: &glance::Day) -> DayLine {
    let time = |ms: Option<i64>| ms.map(duration).unwrap_or_else(|| "–".to_owned());
    DayLine {
        date: d.counts.day.date(),
        submitted: d.counts.submitted,
        completed: d.counts.completed,
        failed: d.counts.failed,
        p50: time(d.time_to_tenant.p50),
        p90: time(d.time_to_tenant.p90),
    }
}

fn window_line(w: &glance::WindowFill) -> WindowLine {
    let (room, full) = match w.cap {
        None => ("no cap".to_owned(), false),
        Some(cap) => (
            format!("of {cap} ({}%)", (w.taken * 100) / i64::from(cap.max(1))),
            w.taken >= i64::from(cap),
        ),
    };
    WindowLine {
        opens: when(w.start),
        closes: when(w.end),
        taken: w.taken,
        room,
        full,
    }
}

/// A length of time as people read it: 850 ms, 4.2 s, 3 min 5 s, 2 h 10 min, 3 d 4 h.
pub fn duration(ms: i64) -> String {
    // Rounded to the tenth of a second below a minute, to the second above.
    let s = (ms + 500) / 1000;
    match ms {
        i64::MIN..1_000 => format!("{ms} ms"),
        1_000..59_950 => format!("{:.1} s", ms as f64 / 1000.0),
        59_950..3_599_500 => format!("{} min {} s", s / 60, s % 60),
        3_599_500..86_399_500 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(4_249), "4.2 s");
        assert_eq!(duration(185_000), "3 min 5 s");
        assert_eq!(duration(7_800_000), "2 h 10 min");
        assert_eq!(duration(273_600_000), "3 d 4 h");
        assert_eq!(duration(59_950), "1 min 0 s");
        assert_eq!(duration(3_599_700), "1 h 0 min");
    }
}
