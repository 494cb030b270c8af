//! Template service packages through the API: create, version, retire, with typed properties.
//! Each test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{Db, TestApp, spawn_app, submission};
use serde_json::{Value, json};

on_both!(
    a_template_is_created_versioned_and_retired_while_accepted_requests_keep_their_version,
    a_bad_template_names_every_problem_by_path_and_nothing_is_stored,
    a_large_template_uploads_and_clones_whole,
);

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.token);
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.unwrap()
}

fn doc(priority: i64) -> Value {
    json!({
        "id": "compact",
        "name": "Compact",
        "description": "A small package",
        "services": ["voice", "smart_queues"],
        "objects": [
            {"kind": "queue", "name": "Sales", "properties": {"priority": priority}},
            {"kind": "queue", "name": "Support"},
            {"kind": "smart_queue", "name": "Callback", "properties": {"queue": "Support"}},
            {"kind": "mailbox_folder", "name": "Callbacks", "properties": {"address": "cb@{tenant.upn_suffix}"}}
        ]
    })
}

async fn a_template_is_created_versioned_and_retired_while_accepted_requests_keep_their_version(
    app: &TestApp,
) {
    let r = send(
        app,
        reqwest::Method::POST,
        "/api/v1/templates",
        Some(&doc(60)),
    )
    .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["version"], 1);
    assert_eq!(
        created["objects"][1]["properties"]["priority"], 49,
        "the default priority"
    );
    assert_eq!(
        created["objects"][2]["properties"]["target_answer_seconds"],
        120
    );
    assert_eq!(
        send(
            app,
            reqwest::Method::POST,
            "/api/v1/templates",
            Some(&doc(60))
        )
        .await
        .status(),
        409
    );

    let mut body = submission("EarlyBird");
    body["template_id"] = json!("compact");
    let early: Value = app.submit(&body).await.json().await.unwrap();
    assert_eq!(early["template"], json!({"id": "compact", "version": 1}));

    let r = send(
        app,
        reqwest::Method::PUT,
        "/api/v1/templates/compact",
        Some(&doc(70)),
    )
    .await;
    assert_eq!(r.status(), 200);
    let edited: Value = r.json().await.unwrap();
    assert_eq!(edited["version"], 2);
    assert_eq!(edited["objects"][0]["properties"]["priority"], 70);
    let mut body = submission("LateBird");
    body["template_id"] = json!("compact");
    let late: Value = app.submit(&body).await.json().await.unwrap();
    assert_eq!(late["template"]["version"], 2);

    app.run_pending_jobs().await;
    let early: Value = app
        .get(
            &format!(
                "/api/v1/subscription-requests/{}",
                early["id"].as_str().unwrap()
            ),
            &app.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let config: Value = app
        .get(
            &format!(
                "/api/v1/tenants/{}/configuration",
                early["tenant_id"].as_str().unwrap()
            ),
            &app.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["objects"][0]["properties"]["priority"], 60,
        "cloned from version 1"
    );
    assert_eq!(
        config["objects"][3]["properties"]["address"],
        "cb@earlybird.example.com"
    );

    let r = send(
        app,
        reqwest::Method::DELETE,
        "/api/v1/templates/compact",
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "retired");
    let list: Value = app
        .get("/api/v1/templates", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != "compact")
    );
    let mut body = submission("TooLate");
    body["template_id"] = json!("compact");
    let r = app.submit(&body).await;
    assert_eq!(r.status(), 422);
    let err: Value = r.json().await.unwrap();
    assert_eq!(
        (
            err["error"]["fields"][0]["field"].as_str(),
            err["error"]["fields"][0]["code"].as_str()
        ),
        (Some("template_id"), Some("retired"))
    );
    assert_eq!(
        send(
            app,
            reqwest::Method::PUT,
            "/api/v1/templates/compact",
            Some(&doc(1))
        )
        .await
        .status(),
        409
    );
    assert_eq!(
        send(
            app,
            reqwest::Method::DELETE,
            "/api/v1/templates/nothing",
            None
        )
        .await
        .status(),
        404
    );
}

async fn a_bad_template_names_every_problem_by_path_and_nothing_is_stored(app: &TestApp) {
    let bad = json!({
        "name": "Broken",
        "services": ["voice", "telepathy"],
        "objects": [
            {"kind": "queue", "name": "Sales", "properties": {"priority": 100}},
            {"kind": "smart_queue", "name": "Callback", "properties": {}},
            {"kind": "hologram", "name": "Princess"}
        ]
    });
    let r = send(app, reqwest::Method::POST, "/api/v1/templates", Some(&bad)).await;
    assert_eq!(r.status(), 422);
    let err: Value = r.json().await.unwrap();
    let paths: Vec<&str> = err["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "services[1]",
            "objects[0].properties.priority",
            "objects[1].properties.queue",
            "objects[2].kind"
        ]
    );
    assert_eq!(
        app.get("/api/v1/templates/broken", &app.token)
            .await
            .status(),
        404
    );
    let r = send(
        app,
        reqwest::Method::POST,
        "/api/v1/templates",
        Some(&json!({"name": "NoServices"})),
    )
    .await;
    assert_eq!(r.status(), 400, "services is required");
}

async fn a_large_template_uploads_and_clones_whole(app: &TestApp) {
    let objects: Vec<Value> = (0..3_000)
        .map(|i| json!({"kind": "skill", "name": format!("Skill {i} of {{tenant.short_name}}"), "properties": {"description": "x".repeat(40)}}))
        .collect();
    let big = json!({"id": "big", "name": "Big", "services": ["voice"], "objects": objects});
    assert!(
        big.to_string().len() > 64 * 1024,
        "larger than the default body bound"
    );
    let r = send(app, reqwest::Method::POST, "/api/v1/templates", Some(&big)).await;
    assert_eq!(r.status(), 201);
    let mut body = submission("Bigco");
    body["template_id"] = json!("big");
    let id = app.submit(&body).await.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_pending_jobs().await;
    let done: Value = app
        .get(&format!("/api/v1/subscription-requests/{id}"), &app.token)
        .await
        .json()
        .await
        .unwrap();
    let config: Value = app
        .get(
            &format!(
                "/api/v1/tenants/{}/configuration",
                done["tenant_id"].as_str().unwrap()
            ),
            &app.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let objects = config["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 3_000);
    assert_eq!(objects[2_999]["name"], "Skill 2999 of bigco");
}
