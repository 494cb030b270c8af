//! The provisioning policy, off-peak scheduling and the staff actions on requests, through the
//! API, each test on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{Db, TestApp, spawn_app, submission};
use serde_json::{Value, json};

on_both!(
    the_policy_round_trips_and_a_bad_one_names_every_field,
    off_peak_requests_wait_for_their_window_and_staff_can_steer_them,
    a_full_window_rolls_the_next_request_to_the_following_window,
);

async fn put_policy(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .put(app.url("/api/v1/settings/provisioning"))
        .bearer_auth(&app.token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn act(app: &TestApp, id: &str, action: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(&format!("/api/v1/subscription-requests/{id}/{action}")))
        .bearer_auth(&app.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// A one-hour UTC window that opens two hours from now, so that now is outside it.
fn window_later() -> (Value, jiff::Timestamp) {
    let now = jiff::Timestamp::now();
    let hour = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).hour();
    let start = (hour + 2) % 24;
    let end = (hour + 3) % 24;
    let policy = json!({"mode": "off_peak", "off_peak": {
        "start": format!("{start:02}:00"), "end": format!("{end:02}:00"), "time_zone": "UTC", "max_per_window": null}});
    let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let day = if start < hour {
        today.tomorrow().unwrap()
    } else {
        today
    };
    let opens = jiff::tz::TimeZone::UTC
        .to_timestamp(day.at(start, 0, 0, 0))
        .unwrap();
    (policy, opens)
}

async fn the_policy_round_trips_and_a_bad_one_names_every_field(app: &TestApp) {
    let current: Value = app
        .get("/api/v1/settings/provisioning", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(current["mode"], "immediate");
    let policy = json!({"mode": "off_peak", "off_peak": {
        "start": "22:00", "end": "06:00", "time_zone": "Europe/London", "max_per_window": 50}});
    let r = put_policy(app, &policy).await;
    assert_eq!(r.status(), 200);
    let read: Value = app
        .get("/api/v1/settings/provisioning", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, policy);
    let bad = json!({"mode": "off_peak", "off_peak": {
        "start": "24:00", "end": "6pm", "time_zone": "Europe/Londres", "max_per_window": -1}});
    let r = put_policy(app, &bad).await;
    assert_eq!(r.status(), 422);
    let err: Value = r.json().await.unwrap();
    let fields: Vec<&str> = err["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "off_peak.start",
            "off_peak.end",
            "off_peak.time_zone",
            "off_peak.max_per_window"
        ]
    );
    assert_eq!(
        put_policy(app, &json!({"mode": "sometimes", "off_peak": null}))
            .await
            .status(),
        422
    );
    assert_eq!(
        put_policy(app, &json!({"mode": "off_peak"})).await.status(),
        422,
        "off_peak key missing"
    );
    let read: Value = app
        .get("/api/v1/settings/provisioning", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, policy, "a refused policy changed nothing");
}

async fn off_peak_requests_wait_for_their_window_and_staff_can_steer_them(app: &TestApp) {
    let (policy, opens) = window_later();
    assert_eq!(put_policy(app, &policy).await.status(), 200);
    let mut ids = Vec::new();
    for name in ["Alpha", "Bravo", "Charlie"] {
        let r = app.submit(&submission(name)).await;
        assert_eq!(r.status(), 202);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "scheduled");
        assert_eq!(
            v["scheduled_for"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap(),
            opens
        );
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        app.run_pending_jobs().await,
        0,
        "nothing runs before its window"
    );

    let r = act(app, &ids[0], "run-now", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "accepted");
    assert_eq!(
        app.run_pending_jobs().await,
        2,
        "provisioning and its email"
    );
    let done: Value = app
        .get(
            &format!("/api/v1/subscription-requests/{}", ids[0]),
            &app.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "completed");
    let run_now = done["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "run-now")
        .unwrap();
    assert_eq!(
        (
            run_now["from_status"].as_str(),
            run_now["to_status"].as_str()
        ),
        (Some("scheduled"), Some("accepted"))
    );
    assert!(run_now["actor_id"].is_string(), "who acted is kept");

    let later =
        jiff::Timestamp::from_millisecond(jiff::Timestamp::now().as_millisecond() + 30 * 3_600_000)
            .unwrap()
            .to_string();
    let r = act(app, &ids[1], "reschedule", Some(json!({"at": later}))).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "scheduled");
    assert_eq!(
        v["scheduled_for"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap(),
        later.parse().unwrap()
    );
    assert_eq!(
        act(
            app,
            &ids[1],
            "reschedule",
            Some(json!({"at": "2001-01-01T00:00:00Z"}))
        )
        .await
        .status(),
        422
    );
    assert_eq!(
        act(app, &ids[1], "reschedule", Some(json!({"at": "tomorrow"})))
            .await
            .status(),
        422
    );
    assert_eq!(act(app, &ids[1], "reschedule", None).await.status(), 422);

    let r = act(app, &ids[2], "cancel", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "cancelled");
    assert_eq!(
        app.submit(&submission("Charlie")).await.status(),
        202,
        "a cancelled request frees its names"
    );

    for (id, action, status) in [
        (&ids[0], "retry", "completed"),
        (&ids[0], "cancel", "completed"),
        (&ids[2], "run-now", "cancelled"),
        (&ids[2], "reschedule", "cancelled"),
    ] {
        let body = (action == "reschedule").then(|| json!({"at": later}));
        let r = act(app, id, action, body).await;
        assert_eq!(r.status(), 409, "{action} on {status}");
        let err: Value = r.json().await.unwrap();
        assert!(
            err["error"]["message"].as_str().unwrap().contains(status),
            "{err}"
        );
    }
    assert_eq!(act(app, &ids[1], "explode", None).await.status(), 404);
    assert_eq!(
        act(app, "no-such-request", "cancel", None).await.status(),
        404
    );
    assert_eq!(
        app.run_pending_jobs().await,
        0,
        "the cancelled request's job is gone"
    );
}

async fn a_full_window_rolls_the_next_request_to_the_following_window(app: &TestApp) {
    let (mut policy, opens) = window_later();
    policy["off_peak"]["max_per_window"] = json!(1);
    assert_eq!(put_policy(app, &policy).await.status(), 200);
    let mut starts = Vec::new();
    for name in ["Alpha", "Bravo", "Charlie"] {
        let v: Value = app.submit(&submission(name)).await.json().await.unwrap();
        starts.push(
            v["scheduled_for"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap(),
        );
    }
    let day = jiff::SignedDuration::from_hours(24);
    assert_eq!(starts, [opens, opens + day, opens + day + day]);
}
