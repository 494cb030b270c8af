//! A tenant's life after creation: the provider's staff suspend, resume, close and reopen it,
//! each with its audit entry and an email to its contact; its users are shut out while it is
//! suspended or closed, at once; a closed tenant shows when its data is purged, from the
//! retention policy. Actions its status does not allow are refused naming the status. Each
//! test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{Db, TENANT_PASSWORD, TestApp, call, page, post, spawn_app, submission};
use reqwest::Method;
use serde_json::{Value, json};

on_both!(
    staff_suspend_resume_close_and_reopen_a_tenant_and_its_users_are_shut_out_meanwhile,
    actions_its_status_does_not_allow_are_refused_naming_it,
    the_retention_policy_sets_when_a_closed_tenant_is_purged,
    the_pages_suspend_resume_close_and_set_the_retention,
    a_closed_tenant_is_purged_after_its_retention_leaving_a_tombstone_and_its_names_free,
    bulk_actions_do_what_each_request_allows_and_report_the_rest,
    the_management_page_acts_on_ticked_requests_or_every_failed_one_matching_its_filter,
    landlord_admins_get_a_daily_digest_of_failures_and_nothing_on_quiet_days,
);

/// A completed tenant of `name`, and its administrator's token (password settled).
async fn tenant(app: &TestApp, name: &str) -> (String, String, String) {
    let r = app.submit(&submission(name)).await;
    assert_eq!(r.status(), 202);
    let request: Value = r.json().await.unwrap();
    app.run_pending_jobs().await;
    let (_, done) = call(
        app,
        Method::GET,
        &format!(
            "/api/v1/subscription-requests/{}",
            request["id"].as_str().unwrap()
        ),
        &app.token,
        None,
    )
    .await;
    let tenant_id = done["tenant_id"].as_str().unwrap().to_owned();
    let login = format!("prpkeAdmin@{}.example.com", name.to_lowercase());
    app.settle_password(&login).await;
    let token = app.login_token(&login, TENANT_PASSWORD).await;
    (tenant_id, login, token)
}

async fn act(app: &TestApp, tenant_id: &str, action: &str, reason: Option<&str>) -> (u16, Value) {
    let body = reason.map(|r| json!({ "reason": r }));
    call(
        app,
        Method::POST,
        &format!("/api/v1/tenants/{tenant_id}/{action}"),
        &app.token,
        body,
    )
    .await
}

async fn sign_in(app: &TestApp, login: &str) -> (u16, Value) {
    let body = json!({"username": login, "password": TENANT_PASSWORD});
    call(app, Method::POST, "/api/v1/auth/login", "", Some(body)).await
}

/// The subjects of the emails sent to the tenant's contact about the tenant, oldest first.
async fn tenant_mail(app: &TestApp) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = app
        .store
        .list_mail(200)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind.starts_with("tenant_"))
        .map(|m| (m.subject, m.body_text))
        .collect();
    found.reverse();
    found
}

/// Milliseconds from now until an RFC 3339 time.
fn ms_until(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond() - portal_store::now_ms()
}

const DAY_MS: i64 = 24 * 60 * 60_000;

async fn staff_suspend_resume_close_and_reopen_a_tenant_and_its_users_are_shut_out_meanwhile(
    app: &TestApp,
) {
    let (id, login, tenant_token) = tenant(app, "Lifecycle").await;

    // Suspending needs a reason, which is kept and emailed.
    let (status, answer) = act(app, &id, "suspend", None).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["fields"][0]["field"], "reason");
    let (status, suspended) = act(app, &id, "suspend", Some("Invoices unpaid since May")).await;
    assert_eq!(status, 200, "{suspended}");
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(suspended["status_reason"], "Invoices unpaid since May");
    assert!(suspended.get("purge_after").is_none());

    // The administrator signed in at that moment is out at the next request, and cannot sign
    // in again; the parameters cannot change.
    let (status, _) = call(app, Method::GET, "/api/v1/me", &tenant_token, None).await;
    assert_eq!(status, 401, "the tenant's tokens ended with the suspension");
    let (status, refused) = sign_in(app, &login).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "tenant_suspended");
    let (_, audit) = call(app, Method::GET, "/api/v1/audit?limit=20", &app.token, None).await;
    assert!(
        audit["items"].as_array().unwrap().iter().any(|e| {
            e["action"] == "sign_in_failed"
                && e["tenant_id"] == id.as_str()
                && e["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("the tenant is suspended"))
        }),
        "the refused sign-in is in the tenant's log: {audit}"
    );
    // Nobody is invited to it meanwhile.
    let (status, refused) = call(
        app,
        Method::POST,
        "/api/v1/users",
        &app.token,
        Some(
            json!({"email": "new@lifecycle.example", "role": "tenant_supervisor", "tenant_id": id}),
        ),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "tenant_not_active");
    let (status, answer) = call(
        app,
        Method::PUT,
        &format!("/api/v1/tenants/{id}/smart-queues/general-parameters/draft"),
        &app.token,
        Some(json!({"parameters": {"callback_folder_email": "cb@lifecycle.example"}})),
    )
    .await;
    assert_eq!(status, 409, "{answer}");

    // Resumed, its users come back.
    let (status, resumed) = act(app, &id, "resume", None).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["status"], "active");
    assert_eq!(sign_in(app, &login).await.0, 200);

    // Closed: shut out too, and the data is kept for the retention (30 days by default).
    let (status, closed) = act(app, &id, "close", Some("The customer left")).await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["status"], "closed");
    let left = ms_until(closed["purge_after"].as_str().unwrap());
    assert!((29 * DAY_MS..=30 * DAY_MS).contains(&left), "{closed}");
    let (status, refused) = sign_in(app, &login).await;
    assert_eq!(status, 403);
    assert_eq!(refused["error"]["code"], "tenant_closed");
    // Reopened within the retention: active again, no purge ahead.
    let (status, reopened) = act(app, &id, "reopen", None).await;
    assert_eq!(status, 200, "{reopened}");
    assert_eq!(reopened["status"], "active");
    assert!(reopened.get("purge_after").is_none(), "{reopened}");
    let (status, again) = sign_in(app, &login).await;
    assert_eq!(status, 200);
    // A token made while the tenant was open stops working the moment it is not, even where
    // its ending did not come with the move (a sign-in racing a suspension).
    let token = again["token"].as_str().unwrap();
    app.execute_sql(&format!(
        "UPDATE tenants SET status = 'suspended' WHERE id = '{id}'"
    ))
    .await;
    assert_eq!(
        call(app, Method::GET, "/api/v1/me", token, None).await.0,
        401
    );
    app.execute_sql(&format!(
        "UPDATE tenants SET status = 'active' WHERE id = '{id}'"
    ))
    .await;
    assert_eq!(
        call(app, Method::GET, "/api/v1/me", token, None).await.0,
        200
    );

    // Each change is in the audit log with who and why, and was emailed to the contact.
    let (_, audit) = call(app, Method::GET, "/api/v1/audit?limit=50", &app.token, None).await;
    let entries: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("tenant_"))
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let actions: Vec<&str> = entries.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "tenant_reopened",
            "tenant_closed",
            "tenant_resumed",
            "tenant_suspended"
        ],
        "{audit}"
    );
    assert!(
        entries[3].1.contains("Invoices unpaid since May"),
        "{entries:?}"
    );
    let mail = tenant_mail(app).await;
    let subjects: Vec<&str> = mail.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "Your tenant Lifecycle is suspended",
            "Your tenant Lifecycle is resumed",
            "Your tenant Lifecycle is closed",
            "Your tenant Lifecycle is reopened",
        ]
    );
    assert!(
        mail[0].1.contains("Reason: Invoices unpaid since May"),
        "{}",
        mail[0].1
    );
    assert!(
        mail[2].1.contains("Its data is kept until"),
        "{}",
        mail[2].1
    );
    assert!(!mail[1].1.contains("Reason:"), "{}", mail[1].1);
}

async fn actions_its_status_does_not_allow_are_refused_naming_it(app: &TestApp) {
    let (id, _, _) = tenant(app, "Refusals").await;
    for action in ["resume", "reopen"] {
        let (status, answer) = act(app, &id, action, None).await;
        assert_eq!(status, 409, "{action}: {answer}");
        assert_eq!(answer["error"]["code"], "tenant_status");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("A tenant that is active cannot be"),
            "{answer}"
        );
    }
    // Purging is the retention's, and other words are no action.
    for action in ["purge", "delete"] {
        assert_eq!(act(app, &id, action, None).await.0, 404, "{action}");
    }
    // A reason that hides text, or is too long.
    for reason in ["Unpaid\u{202E}", &"x".repeat(501)] {
        let (status, answer) = act(app, &id, "suspend", Some(reason)).await;
        assert_eq!(status, 422, "{answer}");
    }
    // A malformed body.
    let r = app
        .client
        .post(app.url(&format!("/api/v1/tenants/{id}/close")))
        .bearer_auth(&app.token)
        .body("reason=gone")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Suspended, it is suspended once; closed, it is neither suspended nor resumed.
    assert_eq!(act(app, &id, "suspend", Some("Unpaid")).await.0, 200);
    let (status, answer) = act(app, &id, "suspend", Some("Unpaid")).await;
    assert_eq!(status, 409);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("A tenant that is suspended cannot be suspended"),
        "{answer}"
    );
    assert_eq!(act(app, &id, "close", Some("Gone")).await.0, 200);
    for action in ["suspend", "resume", "close"] {
        assert_eq!(
            act(app, &id, action, Some("Again")).await.0,
            409,
            "{action}"
        );
    }
    // A tenant still provisioning has nothing to suspend yet.
    app.execute_sql(&format!(
        "UPDATE tenants SET status = 'provisioning' WHERE id = '{id}'"
    ))
    .await;
    let (status, answer) = act(app, &id, "suspend", Some("Too early")).await;
    assert_eq!(status, 409);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("provisioning"),
        "{answer}"
    );
    // Nobody else's tenant: an unknown id.
    assert_eq!(
        act(app, "no-such-tenant", "suspend", Some("x")).await.0,
        404
    );
}

async fn the_retention_policy_sets_when_a_closed_tenant_is_purged(app: &TestApp) {
    let (status, policy) = call(
        app,
        Method::GET,
        "/api/v1/settings/retention",
        &app.token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        policy,
        json!({"closed_tenant_days": 30, "self_service_contact_days": 90})
    );
    for bad in [
        json!({"closed_tenant_days": 0}),
        json!({"closed_tenant_days": 3651}),
    ] {
        let (status, answer) = call(
            app,
            Method::PUT,
            "/api/v1/settings/retention",
            &app.token,
            Some(bad),
        )
        .await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["fields"][0]["field"], "closed_tenant_days");
    }
    let (status, _) = call(
        app,
        Method::PUT,
        "/api/v1/settings/retention",
        &app.token,
        Some(json!({"closed_tenant_days": 7})),
    )
    .await;
    assert_eq!(status, 200);
    let (id, _, _) = tenant(app, "Retained").await;
    let (_, closed) = act(app, &id, "close", Some("Moved to another provider")).await;
    let left = ms_until(closed["purge_after"].as_str().unwrap());
    assert!((6 * DAY_MS..=7 * DAY_MS).contains(&left), "{closed}");
    // Read back as any reader of tenants sees it.
    let (_, shown) = call(
        app,
        Method::GET,
        &format!("/api/v1/tenants/{id}"),
        &app.token,
        None,
    )
    .await;
    assert_eq!(shown["purge_after"], closed["purge_after"]);
    assert_eq!(shown["status_reason"], "Moved to another provider");
}

/// A page as a browser signed in with `cookie` gets it: the status and the text.
async fn the_pages_suspend_resume_close_and_set_the_retention(app: &TestApp) {
    let (id, _, _) = tenant(app, "Paged").await;
    let cookie = app
        .page_session(common::ADMIN, common::ADMIN_PASSWORD)
        .await;
    let (status, shown) = page(app, &format!("/tenants/{id}"), &cookie).await;
    assert_eq!(status, 200);
    for offered in ["suspend", "close"] {
        assert!(
            shown.contains(&format!("href=\"/tenants/{id}/{offered}\"")),
            "{shown}"
        );
    }
    assert!(!shown.contains(&format!("href=\"/tenants/{id}/resume\"")));
    let (status, form) = page(app, &format!("/tenants/{id}/suspend"), &cookie).await;
    assert_eq!(status, 200);
    assert!(form.contains("id=\"reason\""), "{form}");
    // No reason: the form again, saying so; nothing changed.
    let (status, again) = post(
        app,
        &format!("/tenants/{id}/suspend"),
        &cookie,
        &[("reason", " ")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(again.contains("Give a reason"), "{again}");
    let (status, to) = post(
        app,
        &format!("/tenants/{id}/suspend"),
        &cookie,
        &[("reason", "Invoices unpaid")],
    )
    .await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("/tenants/{id}?done=suspend").as_str())
    );
    let (_, shown) = page(app, &to, &cookie).await;
    assert!(shown.contains("The tenant is suspended."), "{shown}");
    assert!(
        shown.contains("suspended: <bdi>Invoices unpaid</bdi>"),
        "{shown}"
    );
    assert!(shown.contains(&format!("href=\"/tenants/{id}/resume\"")));
    // Twice is refused with a page that says where it stands.
    let (status, refused) = post(
        app,
        &format!("/tenants/{id}/suspend"),
        &cookie,
        &[("reason", "Again")],
    )
    .await;
    assert_eq!(status, 409);
    assert!(refused.contains("the tenant is suspended now"), "{refused}");
    // Closed from the page: the date its data goes is shown.
    let (status, _) = post(
        app,
        &format!("/tenants/{id}/close"),
        &cookie,
        &[("reason", "Left")],
    )
    .await;
    assert_eq!(status, 303);
    let (_, shown) = page(app, &format!("/tenants/{id}"), &cookie).await;
    assert!(shown.contains("Data kept until"), "{shown}");
    assert!(shown.contains(&format!("href=\"/tenants/{id}/reopen\"")));

    // The retention page.
    let (status, shown) = page(app, "/settings/retention", &cookie).await;
    assert_eq!(status, 200);
    assert!(shown.contains("value=\"30\""), "{shown}");
    let (status, again) = post(
        app,
        "/settings/retention",
        &cookie,
        &[
            ("closed_tenant_days", "forever"),
            ("self_service_contact_days", "90"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(again.contains("whole number from 1 to 3650"), "{again}");
    // A wrong number of days for contact details: named, kept as typed, nothing saved.
    let (status, again) = post(
        app,
        "/settings/retention",
        &cookie,
        &[
            ("closed_tenant_days", "60"),
            ("self_service_contact_days", "0"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        again.contains("id=\"self_service_contact_days-error\"")
            && again.contains("href=\"#self_service_contact_days\"")
            && again.contains("value=\"60\""),
        "{again}"
    );
    let (_, shown) = page(app, "/settings/retention", &cookie).await;
    assert!(
        shown.contains("value=\"30\"") && shown.contains("value=\"90\""),
        "{shown}"
    );
    let (status, to) = post(
        app,
        "/settings/retention",
        &cookie,
        &[
            ("closed_tenant_days", "90"),
            ("self_service_contact_days", "45"),
        ],
    )
    .await;
    assert_eq!((status, to.as_str()), (303, "/settings/retention?saved=1"));
    let (_, policy) = call(
        app,
        Method::GET,
        "/api/v1/settings/retention",
        &app.token,
        None,
    )
    .await;
    assert_eq!(policy["closed_tenant_days"], 90);
    assert_eq!(policy["self_service_contact_days"], 45);
}

/// Moves a closed tenant's purge time, and its purge job, `days` days into the past.
async fn retention_over(app: &TestApp, tenant_id: &str, days: i64) {
    let ms = days * DAY_MS;
    app.execute_sql(&format!(
        "UPDATE tenants SET purge_after = purge_after - {ms} WHERE id = '{tenant_id}'"
    ))
    .await;
    app.execute_sql(&format!(
        "UPDATE jobs SET run_at = run_at - {ms} WHERE kind = 'purge_tenant'"
    ))
    .await;
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let pool = sqlx::AnyPool::connect(app.database_url()).await.unwrap();
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

async fn a_closed_tenant_is_purged_after_its_retention_leaving_a_tombstone_and_its_names_free(
    app: &TestApp,
) {
    let (id, login, _) = tenant(app, "Purgeable").await;
    let objects = format!("SELECT COUNT(*) FROM tenant_objects WHERE tenant_id = '{id}'");
    let users = format!("SELECT COUNT(*) FROM users WHERE tenant_id = '{id}'");
    let parameters =
        format!("SELECT COUNT(*) FROM smart_queue_parameters WHERE tenant_id = '{id}'");
    assert!(count(app, &objects).await > 0);
    let (status, _) = act(app, &id, "close", Some("Left for another provider")).await;
    assert_eq!(status, 200);
    // Within the retention nothing goes.
    app.run_pending_jobs().await;
    assert!(count(app, &objects).await > 0);
    assert_eq!(count(app, &users).await, 1);

    // Once it is over: not to be reopened, and purged by its job.
    retention_over(app, &id, 31).await;
    let (status, answer) = act(app, &id, "reopen", None).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "retention_over");
    // Once its purge has begun, no clock (another instance's, set back) reopens it.
    assert!(
        app.store
            .claim_purge(&id, portal_store::now_ms())
            .await
            .unwrap()
    );
    app.execute_sql(&format!(
        "UPDATE tenants SET purge_after = purge_after + {} WHERE id = '{id}'",
        40 * DAY_MS
    ))
    .await;
    let (status, answer) = act(app, &id, "reopen", None).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "retention_over");
    retention_over(app, &id, 40).await;
    app.run_pending_jobs().await;
    let (_, tombstone) = call(
        app,
        Method::GET,
        &format!("/api/v1/tenants/{id}"),
        &app.token,
        None,
    )
    .await;
    assert_eq!(tombstone["status"], "purged", "{tombstone}");
    assert_eq!(tombstone["name"], "Purgeable");
    assert_eq!(tombstone["status_reason"], "Left for another provider");
    for (what, sql) in [
        ("objects", &objects),
        ("users", &users),
        ("parameters", &parameters),
    ] {
        assert_eq!(count(app, sql).await, 0, "{what} left after the purge");
    }
    assert_eq!(
        sign_in(app, &login).await.0,
        401,
        "its administrator is gone"
    );
    // Its names are free again, and the audit log keeps everything.
    assert_eq!(app.submit(&submission("Purgeable")).await.status(), 202);
    let purged_entries = format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'tenant_purged' AND tenant_id = '{id}'"
    );
    assert_eq!(count(app, &purged_entries).await, 1);
    assert!(
        count(
            app,
            &format!("SELECT COUNT(*) FROM audit_log WHERE tenant_id = '{id}'")
        )
        .await
            > 2
    );
    let told: Vec<_> = tenant_mail(app)
        .await
        .into_iter()
        .filter(|(subject, _)| subject == "Your tenant Purgeable is deleted")
        .collect();
    assert_eq!(told.len(), 1);

    // Purged once: a purge run again changes nothing, and nothing moves a tombstone.
    portal::service::tenant::purge(&app.services, &id)
        .await
        .unwrap();
    assert_eq!(count(app, &purged_entries).await, 1);
    for action in ["reopen", "resume", "suspend", "close"] {
        let (status, _) = act(app, &id, action, Some("Again")).await;
        assert_eq!(status, 409, "{action}");
    }
}

/// A request whose provisioning fails: its administrator's login is another user's.
async fn failing_request(app: &TestApp, name: &str) -> String {
    app.store
        .create_user(&portal_store::user::NewUser {
            id: portal_store::new_id(),
            username: format!("prpkeAdmin@{}.example.com", name.to_lowercase()),
            password_hash: "x".into(),
            role: portal_domain::Role::TenantAdmin,
            tenant_id: None,
            email: None,
            status: portal_domain::AccountStatus::Active,
            must_change_password: false,
        })
        .await
        .unwrap();
    let r = app.submit(&submission(name)).await;
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn bulk(app: &TestApp, body: Value) -> (u16, Value) {
    call(
        app,
        Method::POST,
        "/api/v1/subscription-requests/bulk",
        &app.token,
        Some(body),
    )
    .await
}

async fn bulk_actions_do_what_each_request_allows_and_report_the_rest(app: &TestApp) {
    let failed = [
        failing_request(app, "BulkOne").await,
        failing_request(app, "BulkTwo").await,
        failing_request(app, "BulkThree").await,
    ];
    let r = app.submit(&submission("BulkDone")).await;
    let completed = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_pending_jobs().await;
    let r = app.submit(&submission("BulkWaiting")).await;
    let waiting = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another member of staff retried one of them a moment before.
    let (status, _) = call(
        app,
        Method::POST,
        &format!("/api/v1/subscription-requests/{}/retry", failed[1]),
        &app.token,
        None,
    )
    .await;
    assert_eq!(status, 200);

    let ids = json!([
        failed[0],
        failed[1],
        failed[2],
        completed,
        "no-such-request",
        failed[0]
    ]);
    let (status, answer) = bulk(app, json!({"action": "retry", "ids": ids})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["done"], json!([failed[0], failed[2]]), "{answer}");
    assert_eq!(
        answer["refused"],
        json!([
            {"id": failed[1], "code": "status"},
            {"id": completed, "code": "status"},
            {"id": "no-such-request", "code": "not_found"},
        ])
    );
    let (_, audit) = call(
        app,
        Method::GET,
        "/api/v1/audit?limit=100",
        &app.token,
        None,
    )
    .await;
    let retried: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "request_retry")
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        retried.len(),
        3,
        "one entry per request retried: {retried:?}"
    );

    // Resend: the finished one is sent again, the one still waiting refused.
    let (status, answer) = bulk(
        app,
        json!({"action": "resend", "ids": [completed, waiting]}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["done"], json!([completed]));
    assert_eq!(answer["refused"][0]["id"], waiting.as_str());
    // Cancel: the waiting one.
    let (_, answer) = bulk(app, json!({"action": "cancel", "ids": [waiting]})).await;
    assert_eq!(answer["done"], json!([waiting]), "{answer}");

    // What cannot be a bulk action.
    let many: Vec<String> = (0..501).map(|i| format!("id-{i}")).collect();
    for (body, field) in [
        (json!({"action": "retry", "ids": []}), "ids"),
        (json!({"action": "retry", "ids": many}), "ids"),
        (json!({"action": "delete", "ids": [waiting]}), "action"),
        // One bad id refuses the whole action before anything is done.
        (
            json!({"action": "cancel", "ids": [waiting, "\u{0}"]}),
            "ids",
        ),
        (json!({"action": "cancel", "ids": [waiting, ""]}), "ids"),
        (
            json!({"action": "cancel", "ids": [waiting, "x".repeat(200)]}),
            "ids",
        ),
    ] {
        let (status, answer) = bulk(app, body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["fields"][0]["field"], field, "{answer}");
    }
}

async fn the_management_page_acts_on_ticked_requests_or_every_failed_one_matching_its_filter(
    app: &TestApp,
) {
    let a = failing_request(app, "PageBulkA").await;
    let b = failing_request(app, "PageBulkB").await;
    let c = failing_request(app, "PageBulkC").await;
    let other = failing_request(app, "Elsewhere").await;
    let r = app.submit(&submission("PageBulkDone")).await;
    let completed = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_pending_jobs().await;
    let cookie = app
        .page_session(common::ADMIN, common::ADMIN_PASSWORD)
        .await;
    let (status, list) = page(app, "/requests?q=PageBulk", &cookie).await;
    assert_eq!(status, 200);
    for id in [&a, &b, &c, &completed] {
        assert!(
            list.contains(&format!("name=\"ids\" value=\"{id}\"")),
            "{list}"
        );
    }
    assert!(list.contains("id=\"bulk-all-failed\""));

    // Ticked: the failed one is retried, the completed one refused with why.
    let form = [
        ("q", "PageBulk"),
        ("action", "retry"),
        ("scope", "selected"),
        ("ids", a.as_str()),
        ("ids", completed.as_str()),
    ];
    let (status, result) = post(app, "/requests/bulk", &cookie, &form).await;
    assert_eq!(status, 200, "{result}");
    assert!(result.contains("Retry: 1 done, 1 refused"), "{result}");
    assert!(result.contains("its status does not allow it"), "{result}");
    assert!(
        result.contains("href=\"/requests?q=PageBulk\""),
        "back to the same filter"
    );

    // Every failed one matching the filter: B and C (A is being retried), not the other.
    let form = [
        ("q", "PageBulk"),
        ("action", "retry"),
        ("scope", "all_failed"),
    ];
    let (status, result) = post(app, "/requests/bulk", &cookie, &form).await;
    assert_eq!(status, 200, "{result}");
    assert!(result.contains("Retry: 2 done, 0 refused"), "{result}");
    for id in [&b, &c] {
        assert!(result.contains(&format!("/requests/{id}")), "{result}");
    }
    assert!(!result.contains(&other), "outside the filter");

    // Nothing ticked, or no action: said, and nothing done.
    let (status, refused) = post(app, "/requests/bulk", &cookie, &[("action", "retry")]).await;
    assert_eq!(status, 422);
    assert!(refused.contains("No request was chosen"), "{refused}");
    let (status, _) = post(app, "/requests/bulk", &cookie, &[("action", "drop")]).await;
    assert_eq!(status, 422);
    let (_, log) = call(app, Method::GET, "/api/v1/audit?limit=50", &app.token, None).await;
    let retries = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "request_retry")
        .count();
    assert_eq!(retries, 3, "one entry per request retried");
}

async fn landlord_admins_get_a_daily_digest_of_failures_and_nothing_on_quiet_days(app: &TestApp) {
    app.landlord_admin_with_address("ops", "ops@provider.example")
        .await;
    let digests = || async {
        app.store
            .list_mail(200)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == "daily_digest")
            .collect::<Vec<_>>()
    };
    let now = portal_store::now_ms();

    // A quiet day: nothing is sent, and the next digest is queued.
    portal::service::digest::send(&app.services, now - 2 * DAY_MS)
        .await
        .unwrap();
    assert!(digests().await.is_empty(), "nothing on a quiet day");
    let queued = count(
        app,
        "SELECT COUNT(*) FROM jobs WHERE kind = 'daily_digest' AND status = 'queued'",
    )
    .await;
    assert_eq!(queued, 1);

    // A request fails, and an email is given up (its last attempt within the day).
    let failed = failing_request(app, "Digested").await;
    app.run_pending_jobs().await;
    let (_, r) = call(
        app,
        Method::GET,
        &format!("/api/v1/subscription-requests/{failed}"),
        &app.token,
        None,
    )
    .await;
    assert_eq!(r["status"], "failed", "{r}");
    let given_up = app.store.list_mail(200).await.unwrap()[0].id.clone();
    app.execute_sql(&format!(
        "UPDATE outbox SET status = 'failed', failed_at = {} WHERE id = '{given_up}'",
        portal_store::now_ms()
    ))
    .await;

    // The day ends after the failure (now, for the test).
    let first_until = portal_store::now_ms() + 1;
    portal::service::digest::send(&app.services, first_until)
        .await
        .unwrap();
    let sent = digests().await;
    assert_eq!(
        sent.len(),
        1,
        "one per landlord administrator with an address"
    );
    let digest = &sent[0];
    assert_eq!(digest.recipient, "ops@provider.example");
    assert_eq!(
        digest.subject,
        "Provisioning Portal: 1 failed request, 1 email given up"
    );
    assert!(
        digest.body_text.contains(&format!("/requests/{failed}")),
        "{}",
        digest.body_text
    );
    assert!(
        digest.body_text.contains(&format!("/mail/{given_up}")),
        "{}",
        digest.body_text
    );
    assert!(digest.body_text.contains("/requests?status=failed"));
    assert!(
        digest
            .body_html
            .contains(&format!("/requests/{failed}\">Digested</a>")),
        "{}",
        digest.body_html
    );

    // The same day again (a second worker, a retried job): nothing more.
    portal::service::digest::send(&app.services, first_until)
        .await
        .unwrap();
    assert_eq!(digests().await.len(), 1, "each day is told once");

    // Run as its job, the next digest starts where the last one ended (so the first failure
    // is not told twice), and queues the one after it.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.execute_sql("DELETE FROM jobs WHERE kind = 'daily_digest'")
        .await;
    let again = failing_request(app, "DigestedToo").await;
    app.run_pending_jobs().await;
    let until = portal_store::now_ms() + 60_000;
    let job = portal::jobs::new_job(&portal::jobs::DailyDigest { until }, now, 1).unwrap();
    app.store.enqueue(&job).await.unwrap();
    app.run_pending_jobs().await;
    let sent = digests().await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    let latest = sent.iter().find(|m| m.body_text.contains(&again)).unwrap();
    assert!(
        !latest.body_text.contains(&failed),
        "told once, in its own day"
    );
    let next = count(
        app,
        &format!(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'daily_digest' AND status = 'queued' \
             AND run_at = {}",
            portal::service::digest::next_digest_at(until)
        ),
    )
    .await;
    assert_eq!(next, 1, "the next digest is queued by this one");
}
