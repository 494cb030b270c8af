//! Black-box API tests: the portal served in-process over a fresh database, each test on
//! SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{Db, TENANT_PASSWORD, TestApp, spawn_app, submission};
use serde_json::{Value, json};

on_both!(
    a_landlord_submits_a_request_and_the_worker_completes_it_with_a_tenant,
    the_tenant_administrator_signs_in_with_the_chosen_password_and_sees_only_its_tenant,
    wrong_credentials_get_401_and_the_same_answer_for_an_unknown_user,
    a_missing_or_bad_token_gets_401_in_the_error_shape,
    malformed_bodies_are_refused_in_the_error_shape_and_nothing_is_written,
    every_field_error_is_reported_at_once_and_nothing_is_stored,
    a_taken_name_is_a_conflict_naming_the_field,
    unknown_routes_and_methods_answer_in_the_error_shape,
    requests_are_listed_newest_first_and_paged_by_cursor,
    templates_are_listed_with_their_objects,
    operations_endpoints_answer,
    hostile_text_in_paths_queries_and_sign_in_gets_a_4xx_in_the_error_shape,
);

async fn json_of(r: reqwest::Response) -> Value {
    r.json().await.expect("a JSON body")
}

fn assert_error_shape(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

async fn a_landlord_submits_a_request_and_the_worker_completes_it_with_a_tenant(app: &TestApp) {
    let r = app.submit(&submission("KentonElectronics")).await;
    assert_eq!(r.status(), 202);
    let accepted = json_of(r).await;
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(
        accepted["template"],
        json!({"id": "voice-essentials", "version": 1})
    );
    assert_eq!(accepted["tenant"]["ani"], "+442079460000");
    assert_eq!(accepted["tenant"]["admin_personnel_id"], "prpkeAdmin");
    assert_eq!(accepted["notification"]["status"], "none");
    let text = accepted.to_string();
    assert!(
        !text.contains(TENANT_PASSWORD) && !text.contains("argon2"),
        "no password or hash: {text}"
    );

    assert_eq!(
        app.run_pending_jobs().await,
        2,
        "provisioning, then its outcome email"
    );
    let done = json_of(
        app.get(&format!("/api/v1/subscription-requests/{id}"), &app.token)
            .await,
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["finished_at"].is_string());
    let steps: Vec<(&str, &str)> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("reserve_names", "done"),
            ("create_tenant", "done"),
            ("create_administrator", "done"),
            ("clone_configuration", "done"),
            ("assign_ani_and_upn_suffix", "done"),
            ("activate", "done")
        ]
    );
    let tenant_id = done["tenant_id"].as_str().unwrap();
    let tenant = json_of(
        app.get(&format!("/api/v1/tenants/{tenant_id}"), &app.token)
            .await,
    )
    .await;
    assert_eq!(tenant["name"], "KentonElectronics");
    assert_eq!(tenant["status"], "active");
    assert_eq!(tenant["template"]["id"], "voice-essentials");
    assert_eq!(tenant["admin"]["personnel_id"], "prpkeAdmin");
    assert_eq!(
        tenant["admin"]["login"],
        "prpkeAdmin@kentonelectronics.example.com"
    );
    let config = json_of(
        app.get(
            &format!("/api/v1/tenants/{tenant_id}/configuration"),
            &app.token,
        )
        .await,
    )
    .await;
    let objects = config["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 32, "every object of the voice template");
    assert!(objects.iter().any(|o| o["kind"] == "group"
        && o["properties"]["description"] == "Every agent of KentonElectronics"));
    // Running the queue again does nothing more: the job is gone and the tenant single.
    assert_eq!(app.run_pending_jobs().await, 0);
    assert_eq!(app.store.count_tenants_for_request(&id).await.unwrap(), 1);
}

async fn the_tenant_administrator_signs_in_with_the_chosen_password_and_sees_only_its_tenant(
    app: &TestApp,
) {
    for name in ["KentonElectronics", "OtherCompany"] {
        assert_eq!(app.submit(&submission(name)).await.status(), 202);
    }
    app.run_pending_jobs().await;
    app.settle_password("prpkeAdmin@kentonelectronics.example.com")
        .await;
    let r = app
        .login("prpkeAdmin@kentonelectronics.example.com", TENANT_PASSWORD)
        .await;
    assert_eq!(r.status(), 200);
    let signed_in = json_of(r).await;
    assert_eq!(signed_in["user"]["role"], "tenant_admin");
    let own = signed_in["user"]["tenant_id"].as_str().unwrap().to_owned();
    let token = signed_in["token"].as_str().unwrap();
    let list = json_of(app.get("/api/v1/tenants", token).await).await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [own.as_str()]);
    let all = json_of(app.get("/api/v1/tenants", &app.token).await).await;
    let other = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] != own.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.get(&format!("/api/v1/tenants/{other}"), token).await;
    assert_eq!(
        r.status(),
        404,
        "another tenant does not exist for this administrator"
    );
    assert_error_shape(&json_of(r).await, "not_found");
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{own}"), token)
            .await
            .status(),
        200
    );
    // A tenant administrator cannot submit requests.
    let r = app
        .client
        .post(app.url("/api/v1/subscription-requests"))
        .bearer_auth(token)
        .json(&submission("ThirdCompany"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

async fn wrong_credentials_get_401_and_the_same_answer_for_an_unknown_user(app: &TestApp) {
    let wrong = app.login(common::ADMIN, "not-the-password").await;
    assert_eq!(wrong.status(), 401);
    let wrong = json_of(wrong).await;
    let unknown = app.login("nobody-here", "not-the-password").await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(wrong, json_of(unknown).await);
    assert_error_shape(&wrong, "unauthorized");
    // Case does not matter for the user name.
    assert_eq!(
        app.login("ADMIN", common::ADMIN_PASSWORD).await.status(),
        200
    );
}

async fn a_missing_or_bad_token_gets_401_in_the_error_shape(app: &TestApp) {
    for auth in [
        None,
        Some("Bearer nonsense"),
        Some("Basic YWRtaW46eA=="),
        Some("Bearer "),
    ] {
        let mut req = app.client.get(app.url("/api/v1/subscription-requests"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_error_shape(&json_of(r).await, "unauthorized");
    }
    let before = app.request_count().await;
    let r = app
        .client
        .post(app.url("/api/v1/subscription-requests"))
        .bearer_auth("forged")
        .json(&submission("KentonElectronics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(app.request_count().await, before);
}

async fn malformed_bodies_are_refused_in_the_error_shape_and_nothing_is_written(app: &TestApp) {
    let url = app.url("/api/v1/subscription-requests");
    let post = || app.client.post(&url).bearer_auth(&app.token);
    let mut huge = submission("KentonElectronics");
    huge["contact"]["address"] = json!("x".repeat(70 * 1024));
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            post()
                .header("content-type", "application/json")
                .body("{\"template_id\": "),
            400,
            "malformed_json",
        ),
        (
            post()
                .header("content-type", "text/plain")
                .body(submission("KentonElectronics").to_string()),
            415,
            "unsupported_media_type",
        ),
        (
            post().body(submission("KentonElectronics").to_string()),
            415,
            "unsupported_media_type",
        ),
        (post().json(&huge), 413, "payload_too_large"),
        (
            post().json(&json!({"template_id": 5})),
            400,
            "unexpected_body",
        ),
        (post().json(&json!([1, 2])), 400, "unexpected_body"),
        (
            post().json(&json!({"template_id": "voice-essentials", "surprise": true})),
            400,
            "unexpected_body",
        ),
    ];
    for (request, status, code) in cases {
        let r = request.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{code}");
        assert_error_shape(&json_of(r).await, code);
    }
    assert_eq!(app.request_count().await, 0);
    assert_eq!(app.store.queue_depth().await.unwrap().queued, 0);
}

async fn every_field_error_is_reported_at_once_and_nothing_is_stored(app: &TestApp) {
    let mut body = submission("KentonElectronics");
    body["tenant"]["name"] = json!("Kenton Electronics");
    body["tenant"]["short_name"] = json!("k_e");
    body["tenant"]["upn_suffix"] = json!("localhost");
    body["tenant"]["confirm_password"] = json!("something different");
    body["tenant"]["ani"] = json!("call me");
    body["contact"] = json!({"first_name": "Jo"});
    let r = app.submit(&body).await;
    assert_eq!(r.status(), 422);
    let err = json_of(r).await;
    assert_error_shape(&err, "invalid_fields");
    let fields: Vec<(&str, &str)> = err["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["field"].as_str().unwrap(), f["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("tenant.name", "invalid_characters"),
            ("tenant.short_name", "invalid_characters"),
            ("tenant.upn_suffix", "not_a_domain"),
            ("tenant.confirm_password", "mismatch"),
            ("tenant.ani", "not_a_phone_number"),
            ("contact.last_name", "required"),
            ("contact.email", "required"),
        ]
    );
    assert!(!err.to_string().contains(TENANT_PASSWORD));
    let mut unknown_template = submission("KentonElectronics");
    unknown_template["template_id"] = json!("no-such-template");
    let r = app.submit(&unknown_template).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        json_of(r).await["error"]["fields"][0]["field"],
        "template_id"
    );
    assert_eq!(app.request_count().await, 0);
}

async fn a_taken_name_is_a_conflict_naming_the_field(app: &TestApp) {
    assert_eq!(
        app.submit(&submission("KentonElectronics")).await.status(),
        202
    );
    let mut same_name = submission("Other");
    same_name["tenant"]["name"] = json!("KENTONELECTRONICS");
    let r = app.submit(&same_name).await;
    assert_eq!(r.status(), 409);
    let err = json_of(r).await;
    assert_error_shape(&err, "conflict");
    assert_eq!(err["error"]["fields"][0]["field"], "tenant.name");
    assert_eq!(err["error"]["fields"][0]["code"], "taken");
    assert_eq!(app.request_count().await, 1);
}

async fn unknown_routes_and_methods_answer_in_the_error_shape(app: &TestApp) {
    let r = app.get("/api/v1/nothing-here", &app.token).await;
    assert_eq!(r.status(), 404);
    assert_error_shape(&json_of(r).await, "not_found");
    let r = app
        .get("/api/v1/subscription-requests/no-such-id", &app.token)
        .await;
    assert_eq!(r.status(), 404);
    let r = app
        .client
        .delete(app.url("/api/v1/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_error_shape(&json_of(r).await, "method_not_allowed");
}

async fn requests_are_listed_newest_first_and_paged_by_cursor(app: &TestApp) {
    for name in ["Alpha", "Bravo", "Charlie", "Delta", "Echo"] {
        assert_eq!(app.submit(&submission(name)).await.status(), 202);
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/subscription-requests?limit=2&cursor={c}"),
            None => "/api/v1/subscription-requests?limit=2".to_owned(),
        };
        let page = json_of(app.get(&path, &app.token).await).await;
        for item in page["items"].as_array().unwrap() {
            names.push(item["tenant"]["name"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["Echo", "Delta", "Charlie", "Bravo", "Alpha"]);
    let found = json_of(
        app.get("/api/v1/subscription-requests?q=harl", &app.token)
            .await,
    )
    .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let accepted = json_of(
        app.get("/api/v1/subscription-requests?status=accepted", &app.token)
            .await,
    )
    .await;
    assert_eq!(accepted["items"].as_array().unwrap().len(), 5);
    let count = |query: String| async move {
        let page = json_of(
            app.get(
                &format!("/api/v1/subscription-requests?{query}"),
                &app.token,
            )
            .await,
        )
        .await;
        page["items"].as_array().unwrap().len()
    };
    assert_eq!(count("template=voice-essentials".into()).await, 5);
    assert_eq!(count("template=omnichannel-smart-queues".into()).await, 0);
    let hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    assert_eq!(count(format!("submitted_from={hour_ago}")).await, 5);
    assert_eq!(count(format!("submitted_before={hour_ago}")).await, 0);
    for bad in [
        "status=done",
        "limit=0",
        "limit=abc",
        "submitted_from=yesterday",
    ] {
        let r = app
            .get(&format!("/api/v1/subscription-requests?{bad}"), &app.token)
            .await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_error_shape(&json_of(r).await, "bad_query");
    }
}

async fn templates_are_listed_with_their_objects(app: &TestApp) {
    let list = json_of(app.get("/api/v1/templates", &app.token).await).await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["omnichannel-smart-queues", "voice-essentials"]);
    let one = json_of(
        app.get("/api/v1/templates/omnichannel-smart-queues", &app.token)
            .await,
    )
    .await;
    assert_eq!(one["version"], 1);
    assert!(
        one["services"]
            .as_array()
            .unwrap()
            .contains(&json!("smart_queues"))
    );
    let objects = one["objects"].as_array().unwrap();
    assert!(objects.len() >= 20);
    assert!(
        objects.iter().any(
            |o| o["kind"] == "smart_queue" && o["properties"]["callback_folder"] == "Callbacks"
        )
    );
    assert_eq!(
        app.get("/api/v1/templates/none", &app.token).await.status(),
        404
    );
}

async fn operations_endpoints_answer(app: &TestApp) {
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(json_of(ready).await["status"], "ok");
    assert_eq!(
        app.submit(&submission("KentonElectronics")).await.status(),
        202
    );
    app.run_pending_jobs().await;
    let metrics = app.metrics().await;
    assert!(metrics.contains(
        "portal_http_requests_total{method=\"POST\",route=\"/api/v1/subscription-requests\",status=\"202\"} 1"
    ), "{metrics}");
    assert!(
        metrics.contains("portal_jobs_total{outcome=\"completed\"} 2"),
        "{metrics}"
    );
    for line in [
        "portal_queue_jobs{status=\"queued\"} 0",
        "portal_requests{status=\"completed\"} 1",
        "portal_queue_oldest_due_age_seconds 0",
        "portal_mail_pending 0",
        "portal_webhook_deliveries_pending 0",
        "portal_workers_alive 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    // A job due a minute ago and not started: its kind counted, its age shown.
    app.execute_sql(&format!(
        "INSERT INTO jobs (kind, payload, status, run_at, attempts, max_attempts, created_at) \
         VALUES ('send_mail', '{{}}', 'queued', {due}, 0, 3, {due})",
        due = portal_store::now_ms() - 60_000
    ))
    .await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("portal_queue_jobs_by_kind{kind=\"send_mail\",status=\"queued\"} 1"),
        "{metrics}"
    );
    let age: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("portal_queue_oldest_due_age_seconds "))
        .unwrap()
        .parse()
        .unwrap();
    assert!((60.0..120.0).contains(&age), "{age}");
    let doc = json_of(
        app.client
            .get(app.url("/api/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/api/v1/auth/login",
        "/api/v1/subscription-requests",
        "/api/v1/subscription-requests/{id}",
        "/api/v1/tenants",
        "/api/v1/tenants/{id}",
        "/api/v1/templates",
        "/api/v1/templates/{id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    request_ids_are_kept_or_given(app).await;
    // A schema older than the build: not ready, and saying why.
    app.execute_sql(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(json_of(ready).await["status"], "migrations_behind");
    // No database at all: not ready either, and the process still answers.
    app.store.close().await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(json_of(ready).await["status"], "unavailable");
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// Every answer carries an `x-request-id`: the caller's when usable, else a new one each time.
async fn request_ids_are_kept_or_given(app: &TestApp) {
    let id_of = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let sent = "edge-7f3a9c-0001";
    let kept = app
        .client
        .get(app.url("/api/v1/templates"))
        .bearer_auth(&app.token)
        .header("x-request-id", sent)
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&kept).as_deref(), Some(sent));
    let missing = app.get("/api/v1/nothing-here", &app.token).await;
    assert_eq!(missing.status(), 404);
    let first = id_of(&missing).expect("an id on an error too");
    let second = id_of(&app.client.get(app.url("/healthz")).send().await.unwrap()).unwrap();
    assert_ne!(first, second);
    for unusable in ["x".repeat(129), "two words".to_owned()] {
        let r = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", &unusable)
            .send()
            .await
            .unwrap();
        let given = id_of(&r).unwrap();
        assert!(!given.is_empty() && given != unusable, "{given}");
    }
}

async fn hostile_text_in_paths_queries_and_sign_in_gets_a_4xx_in_the_error_shape(app: &TestApp) {
    for (path, status, code) in [
        ("/api/v1/subscription-requests/%00", 404, "not_found"),
        ("/api/v1/tenants/abc%00def", 404, "not_found"),
        ("/api/v1/templates/%0A", 404, "not_found"),
        ("/api/v1/tenants/%FF%FE", 400, "bad_path"),
        ("/api/v1/subscription-requests?q=a%00b", 400, "bad_query"),
        ("/api/v1/subscription-requests?cursor=%00", 400, "bad_query"),
    ] {
        let r = app.get(path, &app.token).await;
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert_error_shape(&json_of(r).await, code);
    }
    let r = app.login("admin\u{0}", "whatever-it-is").await;
    assert_eq!(r.status(), 401);
    let mut body = submission("KentonElectronics");
    body["template_id"] = json!("voice\u{0}");
    let r = app.submit(&body).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        json_of(r).await["error"]["fields"][0]["field"],
        "template_id"
    );
    // The auth scheme's name is case-insensitive.
    let r = app
        .client
        .get(app.url("/api/v1/templates"))
        .header("authorization", format!("bearer {}", app.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
