//! The staff's view at a glance: the dashboard, `GET /api/v1/stats`, the status counts of
//! Tenant Creation Management and its CSV export, on both databases.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{ADMIN, ADMIN_PASSWORD, Db, TENANT_PASSWORD, TestApp, page, spawn_app, submission};
use serde_json::Value;
use std::time::Duration;

const DAY: i64 = 86_400_000;

/// Submits a request for `name` through the API; its id.
async fn submit(app: &TestApp, name: &str) -> String {
    let r = app.submit(&submission(name)).await;
    assert_eq!(r.status(), 202, "submission of {name}");
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Moves a request in time, as if the database's clock had said `submitted` and `finished`
/// (and, when given, sets its status).
async fn move_request(
    app: &TestApp,
    id: &str,
    submitted: i64,
    finished: Option<i64>,
    status: Option<&str>,
) {
    let finished = finished.map_or("finished_at".to_owned(), |f| f.to_string());
    let status = status.map_or("status".to_owned(), |s| format!("'{s}'"));
    app.execute_sql(&format!(
        "UPDATE subscription_requests SET submitted_at = {submitted}, finished_at = {finished}, \
         status = {status} WHERE id = '{id}'"
    ))
    .await;
}

async fn stats(app: &TestApp, query: &str) -> (u16, Value) {
    let r = app.get(&format!("/api/v1/stats{query}"), &app.token).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Requests made at known times (the database's clock moved for each) add up day by day, in
/// UTC, with the empty days as zeros; the counts by status are the list's; the times to a
/// working tenant come out within a bucket of what they were.
async fn the_figures_match_the_requests_made_at_known_times(app: &TestApp) {
    let ids = [
        submit(app, "GlanceAlpha").await,
        submit(app, "GlanceBravo").await,
        submit(app, "GlanceCharlie").await,
        submit(app, "GlanceDelta").await,
    ];
    app.run_pending_jobs().await;
    let today = portal_store::now_ms() / DAY * DAY;
    // Alpha: submitted three days ago, working 2 s later.
    move_request(
        app,
        &ids[0],
        today - 3 * DAY + 36_000_000,
        Some(today - 3 * DAY + 36_002_000),
        None,
    )
    .await;
    // Bravo: submitted a millisecond before midnight two days ago, completed 4 s later, the
    // next UTC day.
    move_request(
        app,
        &ids[1],
        today - DAY - 1,
        Some(today - DAY + 3_999),
        None,
    )
    .await;
    // Charlie: failed yesterday.
    move_request(
        app,
        &ids[2],
        today - DAY + 1_000,
        Some(today - DAY + 60_000),
        Some("failed"),
    )
    .await;
    // Delta: submitted and completed today, in a second.
    move_request(app, &ids[3], today + 1, Some(today + 1_001), None).await;

    let (status, body) = stats(app, "?days=7").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["days"], 7);
    let days = body["per_day"].as_array().unwrap();
    assert_eq!(days.len(), 7, "{body}");
    let date = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .unwrap()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date()
            .to_string()
    };
    let expected = [
        // (days ago, submitted, completed, failed)
        (6, 0, 0, 0),
        (5, 0, 0, 0),
        (4, 0, 0, 0),
        (3, 1, 1, 0),
        (2, 1, 0, 0),
        (1, 1, 1, 1),
        (0, 1, 1, 0),
    ];
    for (day, (ago, submitted, completed, failed)) in days.iter().zip(expected) {
        assert_eq!(day["date"], date(today - ago * DAY), "{body}");
        assert_eq!(
            (&day["submitted"], &day["completed"], &day["failed"]),
            (&submitted.into(), &completed.into(), &failed.into()),
            "{ago} days ago: {day}"
        );
    }
    // Alpha took 2 s (its day's median); Bravo 4 s.
    let within = |got: &Value, ms: i64| {
        let got = got.as_i64().unwrap_or(-1);
        (got - ms).abs() * 10 <= ms
    };
    assert!(
        within(&days[3]["time_to_tenant_ms"]["p50"], 2_000),
        "{body}"
    );
    assert!(
        within(&days[5]["time_to_tenant_ms"]["p90"], 3_999),
        "{body}"
    );
    assert_eq!(days[4]["time_to_tenant_ms"]["p50"], Value::Null);
    // Over the week: 2 s, 4 s and Delta's (under a minute): the 90th percentile is Bravo's.
    assert!(within(&body["time_to_tenant_ms"]["p90"], 3_999), "{body}");

    // By status: the list's own counts.
    let by_status = body["by_status"].as_object().unwrap();
    assert_eq!(by_status.len(), 10, "every status: {body}");
    for (status, n) in by_status {
        let list: Value = app
            .get(
                &format!("/api/v1/subscription-requests?status={status}&limit=200"),
                &app.token,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            list["items"].as_array().unwrap().len() as i64,
            n.as_i64().unwrap(),
            "{status}"
        );
    }
    assert_eq!(by_status["completed"], 3);
    assert_eq!(by_status["failed"], 1);
    assert_eq!(body["attention"]["failed_requests"], 1);
    assert_eq!(body["queue"]["due"], 0);
    assert_eq!(body["off_peak_windows"], Value::Null);

    // A request moved out of the range, and back: the days follow it.
    move_request(
        app,
        &ids[0],
        today - 30 * DAY,
        Some(today - 30 * DAY + 2_000),
        None,
    )
    .await;
    let (_, week) = stats(app, "?days=7").await;
    assert_eq!(week["per_day"][3]["submitted"], 0, "{week}");
    let (_, month) = stats(app, "?days=31").await;
    assert_eq!(month["per_day"][0]["submitted"], 1, "{month}");
    assert_eq!(month["per_day"][0]["completed"], 1, "{month}");
    // Removing a request takes it off its days too.
    insert_requests(app, 1, today + 1_000).await;
    let (_, added) = stats(app, "?days=1").await;
    assert_eq!(added["per_day"][0]["submitted"], 2, "{added}");
    app.execute_sql("DELETE FROM subscription_requests WHERE tenant_name_key LIKE '%export000000'")
        .await;
    let (_, removed) = stats(app, "?days=1").await;
    assert_eq!(removed["per_day"][0]["submitted"], 1, "{removed}");
}

/// `days` outside 1–366, not a whole number or empty: a 422 naming it; missing: 30 days.
async fn days_out_of_range_are_refused_by_name(app: &TestApp) {
    for bad in ["0", "367", "-1", "1.5", "abc", "", "99999999999999999999"] {
        let (status, body) = stats(app, &format!("?days={bad}")).await;
        assert_eq!(status, 422, "days={bad}: {body}");
        assert_eq!(
            body["error"]["fields"][0]["field"], "days",
            "days={bad}: {body}"
        );
    }
    let (status, body) = stats(app, "").await;
    assert_eq!(status, 200);
    assert_eq!(body["per_day"].as_array().unwrap().len(), 30);
    let (_, body) = stats(app, "?days=366").await;
    assert_eq!(body["per_day"].as_array().unwrap().len(), 366);
    let days = body["per_day"].as_array().unwrap();
    assert!(
        days.iter().all(|d| d["submitted"] == 0),
        "no request yet: zeros, not gaps"
    );
    let (status, page) = page(
        app,
        "/dashboard?days=0",
        &app.page_session(ADMIN, ADMIN_PASSWORD).await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        page.contains("days must be a whole number from 1 to 366."),
        "{page}"
    );
}

/// To a tenant's user, the dashboard, the figures and the export do not exist.
async fn a_tenant_user_finds_none_of_it(app: &TestApp) {
    submit(app, "GlanceTenant").await;
    app.run_pending_jobs().await;
    let login = "prpkeAdmin@glancetenant.example.com";
    app.settle_password(login).await;
    let token = app.login_token(login, TENANT_PASSWORD).await;
    for path in [
        "/api/v1/stats",
        "/api/v1/stats?days=0",
        "/api/v1/subscription-requests/export",
        "/api/v1/subscription-requests/export?status=nonsense",
    ] {
        let r = app.get(path, &token).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    let cookie = app.page_session(login, TENANT_PASSWORD).await;
    for path in [
        "/dashboard",
        "/dashboard?days=0",
        "/requests/export.csv",
        "/requests/export.csv?status=x",
    ] {
        let (status, _) = page(app, path, &cookie).await;
        assert_eq!(status, 404, "{path}");
    }
    // Their home is their tenant's.
    let (status, home) = page(app, "/", &cookie).await;
    assert_eq!(status, 200);
    assert!(
        home.contains("Your tenant") && !home.contains("status-counts"),
        "{home}"
    );
}

/// Adds `n` requests straight into the database, named `Export000000`…, one a millisecond
/// from `first`; every seventh's name starts a formula.
async fn insert_requests(app: &TestApp, n: usize, first: i64) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        app.execute_sql(&requests_sql(chunk, first, "")).await;
    }
}

/// An INSERT of the requests numbered `numbers` (see `insert_requests`), their names padded
/// with `padding`.
fn requests_sql(numbers: &[usize], first: i64, padding: &str) -> String {
    let rows = numbers
        .iter()
        .map(|i| {
            let ms = first + *i as i64;
            let hex = format!("{ms:012x}");
            let id = format!("{}-{}-7000-8000-{i:012x}", &hex[..8], &hex[8..]);
            let name = match i % 7 {
                0 => format!("=HYPERLINK(\"x\") Export{i:06}{padding}"),
                1 => format!("-Export{i:06}{padding}"),
                _ => format!("Export{i:06}{padding}"),
            };
            format!(
                "('{id}', 'completed', 'voice-essentials', 1, '{name}', '{key}', 's{i}', \
                 's{i}.example.com', 'keAdmin', 'prpkeAdmin', '+442079460000', 'Jo', 'Kenton', \
                 '@jo{i}@example.com', {ms}, 'sent')",
                key = name.to_lowercase()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO subscription_requests (id, status, template_id, template_version, \
         tenant_name, tenant_name_key, short_name, upn_suffix, admin_user_name, \
         admin_personnel_id, ani, contact_first_name, contact_last_name, contact_email, \
         submitted_at, notification_status) VALUES {rows}"
    )
}

/// The export holds every matching request (not a page), newest first, with the list's
/// columns and the contact's email and the tenant's id; no cell starts a formula.
async fn the_export_holds_every_match_and_no_formula(app: &TestApp) {
    let made = submit(app, "GlanceExport").await;
    app.run_pending_jobs().await;
    insert_requests(app, 1_203, portal_store::now_ms() - 10 * DAY).await;
    let r = app
        .get("/api/v1/subscription-requests/export", &app.token)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let text = r.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "request_id",
            "tenant_name",
            "template",
            "status",
            "submitted_at",
            "scheduled_for",
            "contact_email",
            "tenant_id"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1_204, "every request, over several pages");
    let ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(ids, sorted, "newest first, each once");
    // The one made through the portal is the newest, with its tenant and the contact.
    assert_eq!(&rows[0][0], made);
    assert_eq!(&rows[0][1], "GlanceExport");
    assert_eq!(&rows[0][2], "Voice Essentials v1");
    assert_eq!(&rows[0][3], "completed");
    assert_eq!(&rows[0][6], "jo@example.com");
    assert!(!rows[0][7].is_empty(), "its tenant id");
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "a cell starts a formula: {row:?}"
            );
        }
    }
    assert!(
        rows.iter().any(|r| r[1].starts_with("'=HYPERLINK")),
        "kept, made safe"
    );
    assert!(rows.iter().any(|r| r[6].starts_with("'@jo")));

    // The list's filters: a name, a status, both.
    let count = |query: &'static str| async move {
        let r = app
            .get(
                &format!("/api/v1/subscription-requests/export{query}"),
                &app.token,
            )
            .await;
        assert_eq!(r.status(), 200, "{query}");
        let text = r.text().await.unwrap();
        csv::Reader::from_reader(text.as_bytes()).records().count()
    };
    assert_eq!(
        count("?q=export00110").await,
        10,
        "Export001100 to Export001109"
    );
    // A name many match: the search walks page after page.
    assert_eq!(count("?q=export").await, 1_204);
    assert_eq!(count("?status=failed").await, 0);
    assert_eq!(count("?status=completed&q=glanceexport").await, 1);
    let r = app
        .get(
            "/api/v1/subscription-requests/export?status=nonsense",
            &app.token,
        )
        .await;
    assert_eq!(r.status(), 400);

    // The page's link gives the same file.
    let cookie = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    let (status, list) = page(app, "/requests?q=export00110", &cookie).await;
    assert_eq!(status, 200);
    assert!(
        list.contains(r#"href="/requests/export.csv?q=export00110""#),
        "{list}"
    );
    let (status, file) = page(app, "/requests/export.csv?q=export00110", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(
        csv::Reader::from_reader(file.as_bytes()).records().count(),
        10
    );
    let (status, _) = page(app, "/requests/export.csv?status=nonsense", &cookie).await;
    assert_eq!(status, 400);
}

/// The dashboard and the list show the same counts, each linked to its filtered list.
async fn the_pages_show_the_counts_linked(app: &TestApp) {
    submit(app, "GlancePageOne").await;
    submit(app, "GlancePageTwo").await;
    app.run_pending_jobs().await;
    submit(app, "GlancePageThree").await;
    let cookie = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    for path in ["/", "/dashboard", "/dashboard?days=7", "/dashboard?days=90"] {
        let (status, home) = page(app, path, &cookie).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            home.contains(
                r#"<a id="status-completed" href="/requests?status=completed"><strong>2</strong>"#
            ),
            "{path}: {home}"
        );
        assert!(home.contains(
            r#"<a id="status-accepted" href="/requests?status=accepted"><strong>1</strong>"#
        ));
        assert_eq!(
            home.matches(r#"<svg role="img" aria-labelledby="#).count(),
            2,
            "two charts"
        );
        assert!(home.contains("Nothing needs attention"));
        assert!(home.contains("Days are UTC days."));
    }
    let (_, week) = page(app, "/dashboard?days=7", &cookie).await;
    assert_eq!(
        week.matches("<tr><th scope=\"row\">").count(),
        7,
        "a line per day"
    );
    assert!(
        week.contains("Over the last 7 days: 3 submitted, 2 completed, 0 failed."),
        "{week}"
    );
    let (_, list) = page(app, "/requests", &cookie).await;
    assert!(
        list.contains(
            r#"<a href="/requests?status=completed"><strong>2</strong> <span>completed</span></a>"#
        ),
        "{list}"
    );
    assert!(list.contains("completed (2)</option>"), "{list}");

    // Something failing appears under "needs attention", linked.
    app.execute_sql(
        "UPDATE subscription_requests SET status = 'failed' WHERE tenant_name = 'GlancePageThree'",
    )
    .await;
    let (_, home) = page(app, "/", &cookie).await;
    assert!(
        home.contains(r#"<a id="attention-failed" href="/requests?status=failed"><strong>1</strong> failed request</a>"#),
        "{home}"
    );
}

/// An off-peak policy with a cap: the next windows, with how full each is.
async fn the_coming_windows_show_how_full_they_are(app: &TestApp) {
    let r = app
        .client
        .put(app.url("/api/v1/settings/provisioning"))
        .bearer_auth(&app.token)
        .json(&serde_json::json!({"mode": "off_peak", "off_peak": {"start": "23:00", "end": "23:30", "time_zone": "UTC", "max_per_window": 4}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for name in ["GlanceWinOne", "GlanceWinTwo", "GlanceWinThree"] {
        submit(app, name).await;
    }
    let (_, body) = stats(app, "").await;
    let windows = body["off_peak_windows"].as_array().unwrap();
    assert_eq!(windows.len(), 3, "{body}");
    let taken: Vec<i64> = windows
        .iter()
        .map(|w| w["taken"].as_i64().unwrap())
        .collect();
    assert_eq!(taken.iter().sum::<i64>(), 3, "{body}");
    assert_eq!(windows[0]["cap"], 4);
    let cookie = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    let (_, home) = page(app, "/", &cookie).await;
    assert!(home.contains("of 4 ("), "{home}");
}

/// Rows of `sql` on the test's database, each as its cells in text.
async fn rows(app: &TestApp, sql: &str) -> Vec<Vec<String>> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::AnyConnection::connect(app.database_url())
        .await
        .unwrap();
    let found = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    found
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    row.try_get::<i64, _>(i)
                        .map(|n| n.to_string())
                        .or_else(|_| row.try_get::<String, _>(i))
                        .unwrap()
                })
                .collect()
        })
        .collect()
}

/// What the three tables kept by triggers hold, beside what they must hold, worked out here
/// from the requests themselves (the time buckets by `TimeBucket`, not by SQL).
async fn kept_and_recounted(app: &TestApp) -> Vec<(Vec<Vec<String>>, Vec<Vec<String>>)> {
    use std::collections::BTreeMap;
    let requests = rows(
        app,
        "SELECT status, submitted_at, COALESCE(finished_at, -1) FROM subscription_requests",
    )
    .await;
    let mut statuses = BTreeMap::<String, i64>::new();
    let mut days = BTreeMap::<i64, [i64; 3]>::new();
    let mut times = BTreeMap::<(i64, i64), i64>::new();
    for r in &requests {
        let status = r[0].as_str();
        let (submitted, finished): (i64, i64) = (r[1].parse().unwrap(), r[2].parse().unwrap());
        *statuses.entry(status.to_owned()).or_default() += 1;
        days.entry(submitted / DAY).or_default()[0] += 1;
        let finished_as = match status {
            "completed" => Some(1),
            "failed" => Some(2),
            _ => None,
        };
        if let Some(column) = finished_as.filter(|_| finished >= 0) {
            days.entry(finished / DAY).or_default()[column] += 1;
        }
        if finished >= 0 && status == "completed" {
            let bucket = portal_domain::glance::TimeBucket::of(finished - submitted).0;
            *times.entry((finished / DAY, bucket)).or_default() += 1;
        }
    }
    let text = |cells: &[i64]| cells.iter().map(i64::to_string).collect::<Vec<_>>();
    vec![
        (
            rows(
                app,
                "SELECT status, requests FROM request_statuses WHERE requests <> 0 ORDER BY status",
            )
            .await,
            statuses
                .into_iter()
                .map(|(s, n)| vec![s, n.to_string()])
                .collect(),
        ),
        (
            rows(
                app,
                "SELECT day, submitted, completed, failed FROM request_days \
                 WHERE submitted <> 0 OR completed <> 0 OR failed <> 0 ORDER BY day",
            )
            .await,
            days.into_iter()
                .map(|(d, [s, c, f])| text(&[d, s, c, f]))
                .collect(),
        ),
        (
            rows(
                app,
                "SELECT day, bucket, requests FROM tenant_time_days WHERE requests <> 0 \
                 ORDER BY day, bucket",
            )
            .await,
            times
                .into_iter()
                .map(|((d, b), n)| text(&[d, b, n]))
                .collect(),
        ),
    ]
}

/// Says whether the tables kept by triggers are what a recount gives, `when`.
async fn check_kept(app: &TestApp, when: &str) {
    for (i, (kept, recounted)) in kept_and_recounted(app).await.into_iter().enumerate() {
        assert_eq!(kept, recounted, "table {i} {when}");
    }
}

async fn act(app: &TestApp, id: &str, action: &str) {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/subscription-requests/{id}/{action}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "{action}: {}",
        r.text().await.unwrap()
    );
}

/// Whatever happens to requests (made, provisioned, failed, retried, cancelled, moved in time,
/// deleted), the counts by status, the days and the time histograms the triggers keep are what
/// counting the requests themselves gives.
async fn the_kept_figures_always_equal_a_recount(app: &TestApp) {
    check_kept(app, "at first").await;
    let ids = [
        submit(app, "KeptOne").await,
        submit(app, "KeptTwo").await,
        submit(app, "KeptThree").await,
        submit(app, "KeptFour").await,
    ];
    act(app, &ids[3], "cancel").await;
    check_kept(app, "after submissions and a cancellation").await;
    app.run_pending_jobs().await;
    check_kept(app, "after provisioning").await;
    let today = portal_store::now_ms() / DAY * DAY;
    move_request(
        app,
        &ids[0],
        today - 5 * DAY,
        Some(today - 5 * DAY + 123_456),
        None,
    )
    .await;
    move_request(
        app,
        &ids[1],
        today - 2 * DAY,
        Some(today - DAY),
        Some("failed"),
    )
    .await;
    check_kept(app, "after moves in time and a failure").await;
    act(app, &ids[1], "retry").await;
    check_kept(app, "after a retry").await;
    app.run_pending_jobs().await;
    check_kept(app, "after the retry completed").await;
    insert_requests(app, 20, today - 3 * DAY).await;
    app.execute_sql(
        "UPDATE subscription_requests SET finished_at = submitted_at + 5000 \
         WHERE tenant_name_key LIKE '%export0000%'",
    )
    .await;
    check_kept(app, "after inserted requests finished").await;
    app.execute_sql("DELETE FROM subscription_requests WHERE tenant_name_key LIKE '%export00001%'")
        .await;
    check_kept(app, "after completed requests were deleted").await;
}

/// Each kind of thing needing attention shows on the dashboard, linked to a page that answers,
/// and in the stats; an import left for more than a week is no longer counted.
async fn each_thing_needing_attention_shows_linked(app: &TestApp) {
    let ids = [
        submit(app, "AttentionOne").await,
        submit(app, "AttentionTwo").await,
        submit(app, "AttentionThree").await,
    ];
    app.run_pending_jobs().await;
    let now = portal_store::now_ms();
    for (id, change) in [
        (&ids[0], "notification_status = 'failed'"),
        (&ids[1], "status = 'failed'"),
        (&ids[2], "status = 'pending_approval'"),
    ] {
        app.execute_sql(&format!(
            "UPDATE subscription_requests SET {change} WHERE id = '{id}'"
        ))
        .await;
    }
    app.execute_sql(&format!(
        "INSERT INTO webhook_endpoints (id, url, events, description, status, secret, \
         failing_since, created_at, updated_at) VALUES ('we1', 'https://hooks.example.com/a', \
         '[\"*\"]', 'Billing', 'enabled', 'whsec_x', {now}, {now}, {now})"
    ))
    .await;
    for (id, age) in [("imp-new", DAY), ("imp-old", 8 * DAY)] {
        app.execute_sql(&format!(
            "INSERT INTO bulk_imports (id, status, file_name, rows_total, rows_valid, \
             ignored_columns, created_by, created_at) \
             VALUES ('{id}', 'previewed', 'tenants.csv', 10, 7, '[]', 'someone', {})",
            now - age
        ))
        .await;
    }
    let (_, body) = stats(app, "").await;
    let a = &body["attention"];
    for field in [
        "failed_requests",
        "awaiting_approval",
        "outcome_emails_failed",
        "webhooks_failing",
        "imports_with_invalid_rows",
    ] {
        assert_eq!(a[field], 1, "{field}: {body}");
    }
    let cookie = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    let (_, home) = page(app, "/", &cookie).await;
    for (id, href, text) in [
        (
            "attention-failed",
            "/requests?status=failed",
            "failed request",
        ),
        (
            "awaiting-approval",
            "/requests?status=pending_approval",
            "request waiting for approval",
        ),
        ("attention-mail", "/mail", "outcome email that gave up"),
        (
            "attention-webhooks",
            "/settings/webhooks",
            "webhook endpoint failing",
        ),
        ("attention-imports", "/imports", "import with invalid rows"),
    ] {
        let link = format!(r#"<a id="{id}" href="{href}"><strong>1</strong> {text}</a>"#);
        assert!(home.contains(&link), "{link} in {home}");
        let (status, _) = page(app, href, &cookie).await;
        assert_eq!(status, 200, "{href}");
    }
    assert!(!home.contains("Nothing needs attention"));
}

on_both!(
    the_kept_figures_always_equal_a_recount,
    each_thing_needing_attention_shows_linked,
    the_figures_match_the_requests_made_at_known_times,
    days_out_of_range_are_refused_by_name,
    a_tenant_user_finds_none_of_it,
    the_export_holds_every_match_and_no_formula,
    the_pages_show_the_counts_linked,
    the_coming_windows_show_how_full_they_are,
);

/// The resident memory of process `pid`, in bytes.
fn resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// 100,000 requests (33 MB of CSV) are exported a page at a time: the portal's memory grows by
/// far less than the file while it is read; a client that goes away part way stops the
/// export, and the portal serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_100000_requests_streams_in_bounded_memory_and_stops_when_the_client_goes() {
    use sqlx::{Connection, Executor};
    const N: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let portal = common::Portal::serving(
        &[],
        ADMIN_PASSWORD,
        &[
            ("PORTAL_DATA_DIR", data.to_str().unwrap()),
            ("PORTAL_LOG", "info"),
        ],
    );
    let base = portal.base_url();
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", data.join("portal.db").display());
    let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
    let padding = "x".repeat(200);
    let first = portal_store::now_ms() - 30 * DAY;
    db.execute("BEGIN").await.unwrap();
    for chunk in (0..N).collect::<Vec<_>>().chunks(500) {
        db.execute(sqlx::AssertSqlSafe(requests_sql(chunk, first, &padding)))
            .await
            .unwrap();
    }
    db.execute("COMMIT").await.unwrap();
    db.close().await.unwrap();

    let client = reqwest::Client::new();
    let token = common::remote::sign_in(&client, &base, ADMIN, ADMIN_PASSWORD).await;
    let export = || {
        client
            .get(format!("{base}/api/v1/subscription-requests/export"))
            .bearer_auth(&token)
            .send()
    };
    let pid = portal.child.id();
    // Once through, so that what the first export allocates for good (pools, caches) is there.
    let warm = export().await.unwrap().bytes().await.unwrap();
    let before = resident(pid);
    let mut body = export().await.unwrap();
    let (mut size, mut lines, mut peak) = (0_usize, 0_usize, before);
    while let Some(chunk) = body.chunk().await.unwrap() {
        size += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
        peak = peak.max(resident(pid));
    }
    assert_eq!(size, warm.len(), "the same file twice");
    assert_eq!(lines, N + 1, "a header and every request");
    let grown = peak.saturating_sub(before);
    println!("exported {size} bytes; the portal's memory grew by {grown} bytes at most");
    assert!(size > 30_000_000, "{size}");
    assert!(
        grown < 16_000_000,
        "memory grew by {grown} bytes exporting {size}"
    );

    // A client that reads the beginning and goes away.
    let mut body = export().await.unwrap();
    let _first = body.chunk().await.unwrap();
    drop(body);
    let stopped = portal.wait_for_stderr(
        "CSV export stopped before its last row",
        Duration::from_secs(30),
    );
    let rows: u64 = stopped
        .split("rows=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(rows < N as u64, "stopped after {rows} rows: {stopped}");
    let health = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}
