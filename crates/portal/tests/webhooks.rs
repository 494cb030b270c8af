//! Webhook endpoints: landlord administrators add, change, disable, remove them and rotate
//! their secrets; a secret is shown once; URLs that point at the portal's own network, or are
//! not http(s), are refused. Each test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{Db, TestApp, call, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

on_both!(
    landlord_admins_add_change_rotate_and_remove_endpoints_and_a_secret_is_shown_once,
    urls_to_the_portals_own_network_or_not_http_and_unknown_events_are_refused,
);

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

async fn landlord_admins_add_change_rotate_and_remove_endpoints_and_a_secret_is_shown_once(
    app: &TestApp,
) {
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
    let (status, rotated) = call(app, Method::POST, &rotate, &app.token, None).await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let until = rotated["previous_secret_valid_until"].as_str().unwrap();
    let hours = (until.parse::<jiff::Timestamp>().unwrap().as_millisecond()
        - portal_store::now_ms())
        / 3_600_000;
    assert_eq!(hours, 23, "{until}");

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

async fn urls_to_the_portals_own_network_or_not_http_and_unknown_events_are_refused(app: &TestApp) {
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
