//! Webhook endpoints: landlord administrators add, change, disable, remove them and rotate
//! their secrets; a secret is shown once; URLs that point at the portal's own network, or are
//! not http(s), are refused. Each test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::receiver::Receiver;
use common::{
    ADMIN, ADMIN_PASSWORD, Db, TestApp, call, page, post, spawn_app, spawn_app_with, submission,
};
use portal::service::webhook::WebhookSettings;
use reqwest::Method;
use serde_json::{Value, json};

on_both_db!(
    landlord_admins_add_change_rotate_and_remove_endpoints_and_a_secret_is_shown_once,
    urls_to_the_portals_own_network_or_not_http_and_unknown_events_are_refused,
    a_receiver_answering_500_then_nothing_then_200_gets_the_event_verified_with_one_id,
    a_receiver_down_at_first_gets_every_event_once_it_is_up,
    a_rotated_secret_signs_beside_the_new_one_during_the_overlap,
    a_name_that_resolves_to_a_private_address_is_refused_at_delivery,
    an_endpoint_failing_for_five_days_is_disabled_its_admins_told_and_its_failures_replayed,
    the_pages_add_an_endpoint_show_its_secret_once_and_its_deliveries,
    a_change_refused_and_rolled_back_tells_nothing_and_each_event_its_own_state,
);

/// A portal whose webhooks may go to this machine, with delays a thousandth of the real ones.
async fn app_for_receivers(db: Db) -> Option<TestApp> {
    spawn_app_with(db, |services| {
        services.webhooks = WebhookSettings {
            allow_private: true,
            retry_scale: 0.001,
        };
    })
    .await
}

/// Runs the jobs due, again and again, until `done` says so (at most 40 seconds).
async fn run_until(app: &TestApp, what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "waited for {what}"
        );
        app.run_pending_jobs().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn deliveries(app: &TestApp, endpoint: &str) -> Vec<Value> {
    let path = format!("/api/v1/webhooks/{endpoint}/deliveries");
    let (status, list) = call(app, Method::GET, &path, &app.token, None).await;
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

/// The tenant a completed request made.
async fn tenant_of(app: &TestApp, request: &str) -> String {
    let path = format!("/api/v1/subscription-requests/{request}");
    let (_, r) = call(app, Method::GET, &path, &app.token, None).await;
    r["tenant_id"].as_str().unwrap().to_owned()
}

/// A completed request, and its id.
async fn completed_request(app: &TestApp, name: &str) -> String {
    let r: Value = app.submit(&submission(name)).await.json().await.unwrap();
    app.run_pending_jobs().await;
    r["id"].as_str().unwrap().to_owned()
}

async fn a_receiver_answering_500_then_nothing_then_200_gets_the_event_verified_with_one_id(
    db: Db,
) {
    let Some(app) = app_for_receivers(db).await else {
        return;
    };
    let receiver = Receiver::start("500,timeout,200", None);
    let (status, endpoint) = create(
        &app,
        json!({"url": receiver.url(), "events": ["request.completed"]}),
    )
    .await;
    assert_eq!(status, 201, "{endpoint}");
    receiver.know(&[endpoint["secret"].as_str().unwrap()]);
    let id = endpoint["id"].as_str().unwrap();
    let request = completed_request(&app, "Hooked").await;

    run_until(&app, "three attempts", || receiver.requests().len() >= 3).await;
    let mut delivered = Vec::new();
    for _ in 0..200 {
        app.run_pending_jobs().await;
        delivered = deliveries(&app, id).await;
        if delivered[0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered.len(), 1, "one event wanted: {delivered:?}");
    let d = &delivered[0];
    assert_eq!(d["status"], "delivered", "{d}");
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["event"], "request.completed");
    let seen = receiver.requests();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for r in &seen {
        assert_eq!(
            r["verified"],
            json!([true]),
            "verified by the reference library: {r}"
        );
        assert_eq!(
            r["webhook_id"], d["event_id"],
            "the same id on every attempt"
        );
        assert_eq!(r["body"]["type"], "request.completed");
        assert_eq!(r["body"]["data"]["id"], request.as_str());
        assert_eq!(r["body"]["data"]["status"], "completed");
    }
    assert_eq!(seen[0]["body"], seen[2]["body"], "the same body every time");
    let path = format!(
        "/api/v1/webhooks/{id}/deliveries/{}",
        d["id"].as_str().unwrap()
    );
    let (_, one) = call(&app, Method::GET, &path, &app.token, None).await;
    let log = one["attempt_log"].as_array().unwrap();
    assert_eq!(log[0]["status_code"], 500);
    assert_eq!(log[0]["excerpt"], "answered 500");
    assert!(
        log[1]["status_code"].is_null() && log[1]["error"].as_str().unwrap().contains("10 seconds"),
        "{one}"
    );
    assert_eq!(log[2]["status_code"], 200);
    app.finish().await;
}

async fn a_receiver_down_at_first_gets_every_event_once_it_is_up(db: Db) {
    let Some(app) = app_for_receivers(db).await else {
        return;
    };
    // A port nobody listens on, for now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let (status, endpoint) = create(&app, json!({"url": url, "events": ["*"]})).await;
    assert_eq!(status, 201, "{endpoint}");
    let id = endpoint["id"].as_str().unwrap().to_owned();
    completed_request(&app, "Patient").await;
    let mut before = Vec::new();
    for _ in 0..200 {
        app.run_pending_jobs().await;
        before = deliveries(&app, &id).await;
        if before.len() >= 3 && before.iter().all(|d| d["attempts"].as_i64() >= Some(2)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        before.len() >= 3,
        "submitted, provisioning, completed: {before:?}"
    );
    assert!(
        before
            .iter()
            .all(|d| d["status"] == "pending" && d["attempts"].as_i64().unwrap() >= 1),
        "{before:?}"
    );

    let receiver = Receiver::start("200", Some(port));
    receiver.know(&[endpoint["secret"].as_str().unwrap()]);
    let mut after = Vec::new();
    for _ in 0..400 {
        app.run_pending_jobs().await;
        after = deliveries(&app, &id).await;
        if after.iter().all(|d| d["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        after.iter().all(|d| d["status"] == "delivered"),
        "{after:?}"
    );
    let seen = receiver.requests();
    let mut ids: Vec<&str> = seen
        .iter()
        .map(|r| r["webhook_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        after.len(),
        "each event arrived, duplicates only with one id"
    );
    assert!(seen.iter().all(|r| r["verified"] == json!([true])));
    let types: Vec<&str> = seen
        .iter()
        .map(|r| r["body"]["type"].as_str().unwrap())
        .collect();
    for wanted in [
        "request.submitted",
        "request.provisioning",
        "request.completed",
    ] {
        assert!(types.contains(&wanted), "{wanted} in {types:?}");
    }
    app.finish().await;
}

async fn a_rotated_secret_signs_beside_the_new_one_during_the_overlap(db: Db) {
    let Some(app) = app_for_receivers(db).await else {
        return;
    };
    let receiver = Receiver::start("200", None);
    let (_, endpoint) = create(
        &app,
        json!({"url": receiver.url(), "events": ["tenant.suspended"]}),
    )
    .await;
    let id = endpoint["id"].as_str().unwrap();
    let old = endpoint["secret"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/webhooks/{id}/rotate-secret");
    let (_, rotated) = call(&app, Method::POST, &path, &app.token, None).await;
    let new = rotated["secret"].as_str().unwrap().to_owned();
    receiver.know(&[&old, &new, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);

    let request = completed_request(&app, "Rotated").await;
    let tenant = tenant_of(&app, &request).await;
    let suspend = format!("/api/v1/tenants/{tenant}/suspend");
    let (status, _) = call(
        &app,
        Method::POST,
        &suspend,
        &app.token,
        Some(json!({"reason": "Unpaid"})),
    )
    .await;
    assert_eq!(status, 200);
    run_until(&app, "the suspension's event", || {
        !receiver.requests().is_empty()
    })
    .await;
    let seen = receiver.requests();
    assert_eq!(seen[0]["body"]["type"], "tenant.suspended");
    assert_eq!(seen[0]["body"]["data"]["status"], "suspended");
    assert_eq!(
        seen[0]["verified"],
        json!([true, true, false]),
        "both secrets verify it, and no other"
    );
    app.finish().await;
}

async fn a_name_that_resolves_to_a_private_address_is_refused_at_delivery(db: Db) {
    // Private addresses not allowed: an endpoint that was accepted as a name which now
    // resolves to this machine gets nothing.
    let Some(app) = spawn_app_with(db, |services| {
        services.webhooks.retry_scale = 0.001;
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::start("200", None);
    let audit = portal_store::audit::AuditEntry {
        actor_id: None,
        actor_name: None,
        tenant_id: None,
        action: portal_domain::AuditAction::WebhookCreated,
        subject: None,
        detail: None,
        client: None,
    };
    let url = format!("http://localhost:{}/hook", receiver.port);
    app.store
        .create_endpoint(
            &portal_store::webhook::NewEndpoint {
                id: "rebound",
                url: &url,
                events: "[\"*\"]",
                description: "",
                secret: &portal::service::webhook::new_secret(),
                created_by: None,
            },
            &audit,
        )
        .await
        .unwrap();
    completed_request(&app, "Rebound").await;
    app.run_pending_jobs().await;
    let list = deliveries(&app, "rebound").await;
    assert!(!list.is_empty());
    let path = format!(
        "/api/v1/webhooks/rebound/deliveries/{}",
        list[0]["id"].as_str().unwrap()
    );
    let (_, one) = call(&app, Method::GET, &path, &app.token, None).await;
    let error = one["attempt_log"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("no address webhooks may go to"), "{one}");
    assert!(
        receiver.requests().is_empty(),
        "nothing reached this machine"
    );
    app.finish().await;
}

async fn create(app: &TestApp, body: Value) -> (u16, Value) {
    call(
        app,
        Method::POST,
        "/api/v1/webhooks",
        &app.token,
        Some(body),
    )
    .await
}

async fn landlord_admins_add_change_rotate_and_remove_endpoints_and_a_secret_is_shown_once(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    endpoints_managed(&app).await;
    app.finish().await;
}

async fn urls_to_the_portals_own_network_or_not_http_and_unknown_events_are_refused(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    refusals(&app).await;
    app.finish().await;
}

async fn endpoints_managed(app: &TestApp) {
    let (status, made) = create(
        app,
        json!({"url": "https://billing.provider.example/hooks", "events": ["request.completed", "tenant.closed"],
               "description": "Billing"}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["status"], "enabled");
    assert_eq!(
        made["events"],
        json!(["request.completed", "tenant.closed"])
    );
    let secret = made["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{made}");
    let id = made["id"].as_str().unwrap();
    let path = format!("/api/v1/webhooks/{id}");

    // Never shown again.
    let (_, one) = call(app, Method::GET, &path, &app.token, None).await;
    assert!(one.get("secret").is_none(), "{one}");
    let (_, list) = call(app, Method::GET, "/api/v1/webhooks", &app.token, None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(secret));

    // Changed: all events, then disabled and enabled again.
    let body = json!({"events": ["*"], "status": "disabled"});
    let (status, changed) = call(app, Method::PATCH, &path, &app.token, Some(body)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["events"], json!(["*"]));
    assert_eq!(changed["status"], "disabled");
    assert_eq!(changed["url"], "https://billing.provider.example/hooks");

    // A rotation gives a new secret; the old one still signs for a day.
    let rotate = format!("{path}/rotate-secret");
    let before = portal_store::now_ms();
    let (status, rotated) = call(app, Method::POST, &rotate, &app.token, None).await;
    let after = portal_store::now_ms();
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let (status, again) = call(app, Method::POST, &rotate, &app.token, None).await;
    assert_eq!(status, 409, "a second rotation within the overlap: {again}");
    assert_eq!(again["error"]["code"], "rotation_overlap");
    // A day from the moment of the rotation, which lies between the two readings of the
    // clock around its call (a fast call can end in the millisecond it began).
    let until = rotated["previous_secret_valid_until"].as_str().unwrap();
    let until_ms = until.parse::<jiff::Timestamp>().unwrap().as_millisecond();
    let day = 24 * 3_600_000;
    assert!(
        (before + day..=after + day).contains(&until_ms),
        "{until} is not a day after the rotation"
    );

    let (status, _) = call(app, Method::DELETE, &path, &app.token, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(app, Method::GET, &path, &app.token, None).await;
    assert_eq!(status, 404);
    let (_, log) = call(app, Method::GET, "/api/v1/audit?limit=20", &app.token, None).await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "webhook_created",
        "webhook_changed",
        "webhook_secret_rotated",
        "webhook_removed",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert!(
        !log.to_string().contains(new_secret),
        "no secret in the log"
    );
}

async fn refusals(app: &TestApp) {
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:9000/hook",
        "http://[::ffff:192.168.1.1]/hook",
        "file:///etc/passwd",
        "ftp://files.provider.example/hook",
        "https://user:secret@billing.provider.example/hook",
        "not a url",
        "",
    ] {
        let (status, answer) = create(app, json!({"url": url, "events": ["*"]})).await;
        assert_eq!(status, 422, "{url}: {answer}");
        assert_eq!(
            answer["error"]["fields"][0]["field"], "url",
            "{url}: {answer}"
        );
    }
    for events in [
        json!([]),
        json!(["tenant.exploded"]),
        json!(["*", "tenant.closed"]),
    ] {
        let body = json!({"url": "https://crm.provider.example/in", "events": events});
        let (status, answer) = create(app, body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["fields"][0]["field"], "events", "{answer}");
    }
    let body = json!({"url": "https://crm.provider.example/in", "events": ["*"], "colour": "red"});
    let (status, _) = create(app, body).await;
    assert_eq!(status, 400, "an unknown field");
    let (_, list) = call(app, Method::GET, "/api/v1/webhooks", &app.token, None).await;
    assert_eq!(list["items"], json!([]), "nothing was added");
}

async fn an_endpoint_failing_for_five_days_is_disabled_its_admins_told_and_its_failures_replayed(
    db: Db,
) {
    let Some(app) = app_for_receivers(db).await else {
        return;
    };
    app.landlord_admin_with_address("ops", "ops@provider.example")
        .await;
    let receiver = Receiver::start("503,503,503,200", None);
    let (_, endpoint) = create(
        &app,
        json!({"url": receiver.url(), "events": ["request.completed"]}),
    )
    .await;
    receiver.know(&[endpoint["secret"].as_str().unwrap()]);
    let id = endpoint["id"].as_str().unwrap().to_owned();
    // It has failed every delivery for five days already.
    let since = portal_store::now_ms() - 5 * 24 * 3_600_000 - 1;
    app.execute_sql(&format!(
        "UPDATE webhook_endpoints SET failing_since = {since}"
    ))
    .await;
    completed_request(&app, "Silent").await;
    run_until(&app, "the first attempt", || {
        !receiver.requests().is_empty()
    })
    .await;
    app.run_pending_jobs().await;

    let path = format!("/api/v1/webhooks/{id}");
    let (_, now) = call(&app, Method::GET, &path, &app.token, None).await;
    assert_eq!(now["status"], "disabled", "{now}");
    assert!(
        now["disabled_reason"].as_str().unwrap().contains("5 days"),
        "{now}"
    );
    let told: Vec<_> = app
        .store
        .list_mail(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == "webhook_disabled")
        .collect();
    assert_eq!(told.len(), 1, "one landlord administrator with an address");
    assert!(
        told[0].body_text.contains(&receiver.port.to_string()),
        "{}",
        told[0].body_text
    );
    let list = deliveries(&app, &id).await;
    assert_eq!(
        list[0]["status"], "failed",
        "a disabled endpoint's pending delivery fails: {list:?}"
    );

    let replay = format!("{path}/deliveries/replay");
    let body = json!({"since": "2000-01-01T00:00:00Z"});
    let (status, refused) = call(&app, Method::POST, &replay, &app.token, Some(body)).await;
    assert_eq!(
        status, 409,
        "nothing is sent to a disabled endpoint: {refused}"
    );
    assert_eq!(refused["error"]["code"], "endpoint_disabled");

    // Enabled again, its failed deliveries since a time are sent again, with the same id.
    let (status, _) = call(
        &app,
        Method::PATCH,
        &path,
        &app.token,
        Some(json!({"status": "enabled"})),
    )
    .await;
    assert_eq!(status, 200);
    let replay = format!("{path}/deliveries/replay");
    let body = json!({"since": "2000-01-01T00:00:00Z"});
    let (status, replayed) = call(&app, Method::POST, &replay, &app.token, Some(body)).await;
    assert_eq!(status, 202, "{replayed}");
    assert_eq!(replayed["replayed"], 1);
    let body = json!({"since": "last week"});
    let (status, _) = call(&app, Method::POST, &replay, &app.token, Some(body)).await;
    assert_eq!(status, 422);
    let mut last = Vec::new();
    for _ in 0..400 {
        app.run_pending_jobs().await;
        last = deliveries(&app, &id).await;
        if last[0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last[0]["status"], "delivered", "{last:?}");
    let seen = receiver.requests();
    assert!(
        seen.iter()
            .all(|r| r["webhook_id"] == seen[0]["webhook_id"])
    );
    let (_, again) = call(&app, Method::GET, &path, &app.token, None).await;
    assert!(again.get("disabled_reason").is_none(), "{again}");
    app.finish().await;
}

async fn the_pages_add_an_endpoint_show_its_secret_once_and_its_deliveries(db: Db) {
    let Some(app) = app_for_receivers(db).await else {
        return;
    };
    let receiver = Receiver::start("200", None);
    let cookie = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    let (status, empty) = page(&app, "/settings/webhooks", &cookie).await;
    assert_eq!(status, 200);
    assert!(empty.contains("No endpoints yet."));

    // Refused, with what was typed kept.
    let form = [
        ("url", "ftp://files.provider.example/hook"),
        ("events", "tenant.closed"),
        ("description", "CRM"),
    ];
    let (status, refused) = post(&app, "/settings/webhooks", &cookie, &form).await;
    assert_eq!(status, 422);
    assert!(refused.contains("must start with https://"), "{refused}");
    assert!(
        refused.contains("value=\"tenant.closed\" checked"),
        "{refused}"
    );

    let url = receiver.url();
    let form = [
        ("url", url.as_str()),
        ("events", "request.completed"),
        ("description", "Billing"),
    ];
    let (status, added) = post(&app, "/settings/webhooks", &cookie, &form).await;
    assert_eq!(status, 200, "{added}");
    let secret = added
        .split("<code class=\"secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{added}");
    let (_, again) = page(&app, "/settings/webhooks", &cookie).await;
    assert!(!again.contains(&secret), "shown once");
    receiver.know(&[&secret]);

    let (_, api) = call(&app, Method::GET, "/api/v1/webhooks", &app.token, None).await;
    let id = api["items"][0]["id"].as_str().unwrap().to_owned();
    completed_request(&app, "Paged").await;
    run_until(&app, "the delivery", || !receiver.requests().is_empty()).await;
    app.run_pending_jobs().await;
    let (status, shown) = page(&app, &format!("/settings/webhooks/{id}"), &cookie).await;
    assert_eq!(status, 200);
    assert!(
        shown.contains("<code>request.completed</code></td><td>delivered</td>"),
        "{shown}"
    );
    assert_eq!(receiver.requests()[0]["verified"], json!([true]));

    // Sent again from the page: the receiver gets it twice, with one id.
    let delivery = deliveries(&app, &id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let retry = format!("/settings/webhooks/{id}/deliveries/{delivery}/retry");
    let (status, retried) = post(&app, &retry, &cookie, &[]).await;
    assert_eq!(status, 200, "{retried}");
    run_until(&app, "the second delivery", || {
        receiver.requests().len() >= 2
    })
    .await;
    let seen = receiver.requests();
    assert_eq!(seen[0]["webhook_id"], seen[1]["webhook_id"]);
    let (status, _) = post(
        &app,
        &format!("/settings/webhooks/{id}/replay"),
        &cookie,
        &[("since", "soon")],
    )
    .await;
    assert_eq!(status, 422);

    // Disabled, enabled, given a new secret, removed.
    let status_path = format!("/settings/webhooks/{id}/status");
    let (status, to) = post(&app, &status_path, &cookie, &[("status", "disabled")]).await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("/settings/webhooks/{id}").as_str())
    );
    let (_, api) = call(
        &app,
        Method::GET,
        &format!("/api/v1/webhooks/{id}"),
        &app.token,
        None,
    )
    .await;
    assert_eq!(api["status"], "disabled");
    let (_, rotated) = post(
        &app,
        &format!("/settings/webhooks/{id}/rotate"),
        &cookie,
        &[],
    )
    .await;
    assert!(
        rotated.contains("the previous one signs too for 24 hours"),
        "{rotated}"
    );
    assert!(!rotated.contains(&secret));
    let removal = format!("/settings/webhooks/{id}/remove");
    let (status, confirm) = page(&app, &removal, &cookie).await;
    assert_eq!(status, 200);
    assert!(
        confirm.contains("the log of its deliveries goes with it"),
        "{confirm}"
    );
    let (status, removed) = post(
        &app,
        &format!("/settings/webhooks/{id}/remove"),
        &cookie,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert!(removed.contains("No endpoints yet."), "{removed}");
    app.finish().await;
}

async fn a_change_refused_and_rolled_back_tells_nothing_and_each_event_its_own_state(db: Db) {
    let Some(app) = app_for_receivers(db).await else {
        return;
    };
    let receiver = Receiver::start("200", None);
    let (_, endpoint) = create(&app, json!({"url": receiver.url(), "events": ["*"]})).await;
    receiver.know(&[endpoint["secret"].as_str().unwrap()]);
    let request = completed_request(&app, "Stale").await;
    let tenant = tenant_of(&app, &request).await;
    let login = "prpkeAdmin@stale.example.com";
    app.settle_password(login).await;
    let own = app.login_token(login, common::TENANT_PASSWORD).await;

    // Two drafts from version 1: the first published wins, the second is refused and its
    // transaction rolled back, with no event.
    let params = format!("/api/v1/tenants/{tenant}/smart-queues/general-parameters");
    for (token, priority) in [(&own, 10), (&app.token, 20)] {
        let body = json!({"parameters": {"default_priority": priority}});
        let (status, draft) = call(
            &app,
            Method::PUT,
            &format!("{params}/draft"),
            token,
            Some(body),
        )
        .await;
        assert_eq!(status, 200, "{draft}");
    }
    let (status, _) = call(&app, Method::POST, &format!("{params}/publish"), &own, None).await;
    assert_eq!(status, 200);
    let (status, stale) = call(
        &app,
        Method::POST,
        &format!("{params}/publish"),
        &app.token,
        None,
    )
    .await;
    assert_eq!(status, 409, "{stale}");

    let expected = 4; // submitted, provisioning, completed, published once
    run_until(&app, "every event", || {
        receiver.requests().len() >= expected
    })
    .await;
    app.run_pending_jobs().await;
    let seen = receiver.requests();
    let published: Vec<&Value> = seen
        .iter()
        .filter(|r| r["body"]["type"] == "parameters.published")
        .collect();
    assert_eq!(published.len(), 1, "{seen:?}");
    assert_eq!(published[0]["body"]["data"]["published"]["version"], 2);
    // Each request event says the status it tells of, though the request completed since.
    for (event, status) in [
        ("request.submitted", "accepted"),
        ("request.provisioning", "provisioning"),
        ("request.completed", "completed"),
    ] {
        let told = seen.iter().find(|r| r["body"]["type"] == event).unwrap();
        assert_eq!(told["body"]["data"]["status"], status, "{told}");
        assert_eq!(told["verified"], json!([true]));
    }
    app.finish().await;
}
