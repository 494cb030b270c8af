//! Tenant administration after provisioning: the Smart Queues general parameters (draft,
//! publish, history, copy, concurrent publishes), the audit log, and strict isolation of one
//! tenant from another in every route. Each test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{ADMIN, ADMIN_PASSWORD, Db, TENANT_PASSWORD, TestApp, spawn_app, submission};
use serde_json::{Value, json};

on_both!(
    a_draft_is_checked_published_copied_back_and_published_again,
    two_administrators_publishing_at_once_lose_nothing,
    the_audit_log_says_who_did_what_from_where_and_tenants_read_only_their_own,
    a_second_tenants_administrator_finds_nothing_of_the_first,
    the_parameters_page_keeps_what_was_typed_and_explains_each_refusal,
);

const PARAMS: &str = "/smart-queues/general-parameters";

/// A request as the landlord reads it through the API.
async fn request_json(app: &TestApp, request: &str) -> Value {
    app.get(
        &format!("/api/v1/subscription-requests/{request}"),
        &app.token,
    )
    .await
    .json()
    .await
    .unwrap()
}

/// A provisioned tenant called `name`: (tenant id, request id, its administrator's login).
async fn tenant(app: &TestApp, name: &str) -> (String, String, String) {
    tenant_from(app, name, "voice-essentials").await
}

/// The same, from another template.
async fn tenant_from(app: &TestApp, name: &str, template: &str) -> (String, String, String) {
    let mut body = submission(name);
    body["template_id"] = json!(template);
    let r: Value = app.submit(&body).await.json().await.unwrap();
    let request = r["id"].as_str().unwrap().to_owned();
    app.run_pending_jobs().await;
    let r = request_json(app, &request).await;
    assert_eq!(r["status"], "completed");
    let login = format!("prpkeAdmin@{}.example.com", name.to_lowercase());
    app.settle_password(&login).await;
    (r["tenant_id"].as_str().unwrap().to_owned(), request, login)
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn put_draft(app: &TestApp, tenant: &str, token: &str, parameters: Value) -> (u16, Value) {
    call(
        app,
        reqwest::Method::PUT,
        &format!("/api/v1/tenants/{tenant}{PARAMS}/draft"),
        token,
        Some(json!({ "parameters": parameters })),
    )
    .await
}

async fn publish(app: &TestApp, tenant: &str, token: &str) -> (u16, Value) {
    call(
        app,
        reqwest::Method::POST,
        &format!("/api/v1/tenants/{tenant}{PARAMS}/publish"),
        token,
        None,
    )
    .await
}

async fn state(app: &TestApp, tenant: &str, token: &str) -> Value {
    let (status, body) = call(
        app,
        reqwest::Method::GET,
        &format!("/api/v1/tenants/{tenant}{PARAMS}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn a_draft_is_checked_published_copied_back_and_published_again(app: &TestApp) {
    let (tenant, _, login) = tenant(app, "KentonElectronics").await;
    let token = app.login_token(&login, TENANT_PASSWORD).await;
    let v1 = state(app, &tenant, &token).await;
    assert_eq!(v1["published"]["version"], 1);
    assert_eq!(v1["published"]["parameters"]["callback_folder_email"], "");
    assert_eq!(v1["published"]["parameters"]["callback_enabled"], false);
    assert!(v1["draft"].is_null());

    // Callback on, but no folder address: the draft saves, the publish is refused.
    let (status, draft) = put_draft(app, &tenant, &token, json!({"callback_enabled": true})).await;
    assert_eq!(status, 200, "{draft}");
    assert_eq!(draft["base_version"], 1);
    let (status, refused) = publish(app, &tenant, &token).await;
    assert_eq!(status, 422);
    assert_eq!(
        refused["error"]["fields"][0]["field"],
        "parameters.callback_folder_email"
    );
    assert_eq!(refused["error"]["fields"][0]["code"], "required");
    let after = state(app, &tenant, &token).await;
    assert_eq!(after["published"]["version"], 1, "nothing changes");
    assert_eq!(
        after["draft"]["parameters"]["callback_enabled"], true,
        "the draft stays"
    );

    // A bad value is refused when saved, with its field named, and the draft is unchanged.
    let (status, refused) = put_draft(
        app,
        &tenant,
        &token,
        json!({"default_priority": 120, "colour": "blue"}),
    )
    .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = refused["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["parameters.colour", "parameters.default_priority"]);
    assert_eq!(
        state(app, &tenant, &token).await["draft"]["parameters"]["default_priority"],
        49
    );

    let (status, _) = put_draft(
        app,
        &tenant,
        &token,
        json!({"callback_folder_email": "Callbacks@Kenton-Electronics.com"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, v2) = publish(app, &tenant, &token).await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["published_by"], login.as_str());
    assert_eq!(
        v2["parameters"]["callback_folder_email"],
        "Callbacks@kenton-electronics.com"
    );
    assert!(state(app, &tenant, &token).await["draft"].is_null());
    let (status, again) = publish(app, &tenant, &token).await;
    assert_eq!(
        (status, again["error"]["code"].clone()),
        (422, json!("no_draft"))
    );

    // Version 1 back as a draft, published as version 3.
    let (status, copied) = call(
        app,
        reqwest::Method::POST,
        &format!("/api/v1/tenants/{tenant}{PARAMS}/versions/1/copy-to-draft"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{copied}");
    assert_eq!(copied["base_version"], 2);
    let (status, v3) = publish(app, &tenant, &token).await;
    assert_eq!(status, 200, "{v3}");
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["parameters"], v1["published"]["parameters"]);
    let (_, history) = call(
        app,
        reqwest::Method::GET,
        &format!("/api/v1/tenants/{tenant}{PARAMS}/versions"),
        &token,
        None,
    )
    .await;
    let versions: Vec<i64> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    let (status, _) = call(
        app,
        reqwest::Method::POST,
        &format!("/api/v1/tenants/{tenant}{PARAMS}/versions/9/copy-to-draft"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        app,
        reqwest::Method::DELETE,
        &format!("/api/v1/tenants/{tenant}{PARAMS}/draft"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 404, "no draft to discard");
}

async fn two_administrators_publishing_at_once_lose_nothing(app: &TestApp) {
    let (tenant, _, login) = tenant(app, "KentonElectronics").await;
    let theirs = app.login_token(&login, TENANT_PASSWORD).await;
    let ours = app.token.clone();
    let (status, _) = put_draft(app, &tenant, &ours, json!({"default_priority": 10})).await;
    assert_eq!(status, 200);
    let (status, _) = put_draft(
        app,
        &tenant,
        &theirs,
        json!({"callback_folder_email": "callbacks@kenton-electronics.com"}),
    )
    .await;
    assert_eq!(status, 200);
    // Each sees the other's draft.
    let seen = state(app, &tenant, &theirs).await;
    assert_eq!(seen["other_drafts"][0]["author"], ADMIN);
    assert_eq!(
        seen["other_drafts"][0]["parameters"]["default_priority"],
        10
    );

    let (a, b) = tokio::join!(publish(app, &tenant, &ours), publish(app, &tenant, &theirs));
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let (loser, lost) = if a.0 == 409 {
        (&ours, &a.1)
    } else {
        (&theirs, &b.1)
    };
    assert_eq!(lost["error"]["code"], "stale_draft");
    assert!(
        lost["error"]["message"]
            .as_str()
            .unwrap()
            .contains("The draft is kept")
    );
    let kept = state(app, &tenant, loser).await;
    assert_eq!(kept["published"]["version"], 2);
    assert_eq!(
        kept["draft"]["base_version"], 1,
        "the loser keeps its draft"
    );

    // Saving again lays the loser's own change over version 2; publishing keeps both.
    let (status, rebased) = put_draft(app, &tenant, loser, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(rebased["base_version"], 2);
    let (status, v3) = publish(app, &tenant, loser).await;
    assert_eq!(status, 200, "{v3}");
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["parameters"]["default_priority"], 10);
    assert_eq!(
        v3["parameters"]["callback_folder_email"],
        "callbacks@kenton-electronics.com"
    );
}

async fn audit(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = call(
        app,
        reqwest::Method::GET,
        &format!("/api/v1/audit{query}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn the_audit_log_says_who_did_what_from_where_and_tenants_read_only_their_own(app: &TestApp) {
    assert_eq!(app.login("admin", "not-the-password").await.status(), 401);
    // A password typed into the name box is not kept.
    assert_eq!(
        app.login("Secret-Typed-As-Name-77", "x").await.status(),
        401
    );
    let (tenant, request, login) = tenant(app, "KentonElectronics").await;
    let token = app.login_token(&login, TENANT_PASSWORD).await;
    put_draft(
        app,
        &tenant,
        &token,
        json!({"callback_folder_email": "cb@kenton-electronics.com"}),
    )
    .await;
    assert_eq!(publish(app, &tenant, &token).await.0, 200);
    let (other, _, _) = self::tenant(app, "HarbourLights").await;
    let r = app
        .client
        .post(app.url("/api/v1/templates"))
        .bearer_auth(&app.token)
        .json(&json!({"name": "Chat Starter", "services": ["chat"], "objects": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let waiting: Value = app
        .submit(&submission("NightOwls"))
        .await
        .json()
        .await
        .unwrap();
    let waiting = waiting["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        app,
        reqwest::Method::POST,
        &format!("/api/v1/subscription-requests/{waiting}/cancel"),
        &app.token,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    let r = app
        .client
        .delete(app.url("/api/v1/templates/chat-starter"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let all = audit(app, &app.token, "").await;
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in [
        "sign_in_failed",
        "sign_in",
        "request_submitted",
        "parameters_draft_saved",
        "parameters_published",
        "template_created",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    assert_eq!(actions[0], "template_retired", "newest first");
    let cancelled = all
        .iter()
        .find(|e| e["action"] == "request_cancel")
        .unwrap();
    assert_eq!(cancelled["subject"], waiting.as_str());
    assert_eq!(cancelled["detail"], "accepted → cancelled");
    let failed = all
        .iter()
        .find(|e| e["action"] == "sign_in_failed" && e["actor_id"].is_string())
        .unwrap();
    assert_eq!(failed["actor_name"], "admin");
    assert!(!failed.to_string().contains("not-the-password"));
    let unknown = all
        .iter()
        .find(|e| e["action"] == "sign_in_failed" && e["actor_id"].is_null())
        .unwrap();
    assert_eq!(unknown["detail"], "api, unknown user name");
    assert!(
        !serde_json::to_string(&all)
            .unwrap()
            .contains("Secret-Typed-As-Name-77")
    );
    let published = audit(app, &app.token, "?action=parameters_published").await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["actor_name"], login.as_str());
    assert_eq!(published[0]["tenant_id"], tenant.as_str());
    assert_eq!(published[0]["detail"], "version 2");
    assert_eq!(published[0]["client"], "127.0.0.1");
    let submitted = all
        .iter()
        .find(|e| e["subject"] == request.as_str())
        .unwrap();
    assert_eq!(submitted["action"], "request_submitted");
    assert_eq!(submitted["actor_name"], ADMIN);

    // The tenant's administrator reads only entries about their tenant, whatever they ask.
    for query in ["", &format!("?tenant={other}")] {
        let own = audit(app, &token, query).await;
        assert!(!own.is_empty());
        assert!(
            own.iter().all(|e| e["tenant_id"] == tenant.as_str()),
            "{own:?}"
        );
    }
    let paged = audit(app, &app.token, "?limit=2").await;
    assert_eq!(paged.len(), 2);
    let (status, _) = call(
        app,
        reqwest::Method::GET,
        "/api/v1/audit?limit=0",
        &app.token,
        None,
    )
    .await;
    assert_eq!(status, 400);
}

/// A browser session of `username`: the cookie.
async fn session(app: &TestApp, username: &str, password: &str) -> String {
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/sign-in"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn a_second_tenants_administrator_finds_nothing_of_the_first(app: &TestApp) {
    use reqwest::Method;
    let (first, request, _) = tenant(app, "KentonElectronics").await;
    let (second, _, second_login) = tenant(app, "HarbourLights").await;
    let token = app.login_token(&second_login, TENANT_PASSWORD).await;
    let mail = app.store.mail_for_request(&request).await.unwrap()[0]
        .id
        .clone();
    let draft = json!({"parameters": {"default_priority": 1}});

    let api: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/tenants/{first}"), None),
        (
            Method::GET,
            format!("/api/v1/tenants/{first}/configuration"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/tenants/{first}{PARAMS}"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/tenants/{first}{PARAMS}/draft"),
            Some(draft.clone()),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{first}{PARAMS}/draft"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/{first}{PARAMS}/publish"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/tenants/{first}{PARAMS}/versions"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/{first}{PARAMS}/versions/1/copy-to-draft"),
            None,
        ),
    ];
    for (method, path, body) in api {
        let (status, answer) = call(app, method.clone(), &path, &token, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "not_found", "{method} {path}");
    }
    // Requests and mail are the provider's: the role does not allow them at all.
    let forbidden: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::GET,
            format!("/api/v1/subscription-requests/{request}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/subscription-requests/{request}/cancel"),
            Some(json!({})),
        ),
        (Method::GET, format!("/api/v1/mail/{mail}"), None),
        (
            Method::GET,
            "/api/v1/subscription-requests".to_owned(),
            None,
        ),
    ];
    for (method, path, body) in forbidden {
        let (status, answer) = call(app, method.clone(), &path, &token, body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "forbidden", "{method} {path}");
    }
    // Lists hold only their own.
    let (_, tenants) = call(app, Method::GET, "/api/v1/tenants", &token, None).await;
    let ids: Vec<&str> = tenants["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str()]);
    let entries = audit(app, &token, &format!("?tenant={first}")).await;
    assert!(entries.iter().all(|e| e["tenant_id"] == second.as_str()));

    // The same through the pages, with a browser session.
    let cookie = session(app, &second_login, TENANT_PASSWORD).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let pages: Vec<(Method, String)> = vec![
        (Method::GET, format!("/tenants/{first}")),
        (Method::GET, format!("/tenants/{first}/smart-queues")),
        (Method::POST, format!("/tenants/{first}/smart-queues/draft")),
        (
            Method::POST,
            format!("/tenants/{first}/smart-queues/publish"),
        ),
        (
            Method::POST,
            format!("/tenants/{first}/smart-queues/discard"),
        ),
        (
            Method::POST,
            format!("/tenants/{first}/smart-queues/versions/1/copy"),
        ),
        (Method::GET, format!("/requests/{request}")),
        (Method::GET, format!("/requests/{request}/cancel")),
        (Method::POST, format!("/requests/{request}/cancel")),
        (Method::GET, format!("/register/accepted/{request}")),
        (Method::GET, format!("/mail/{mail}")),
    ];
    for (method, path) in pages {
        let r = browser
            .request(method.clone(), app.url(&path))
            .header("cookie", &cookie)
            .form(&[("default_priority", "1")])
            .send()
            .await
            .unwrap();
        // Another tenant's is not found; the provider's pages are not for this role.
        let expected = if path.starts_with("/tenants/") {
            404
        } else {
            403
        };
        assert_eq!(r.status(), expected, "{method} {path}");
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("KentonElectronics"),
            "{method} {path} leaks the name"
        );
    }
    let list = browser
        .get(app.url("/tenants"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("HarbourLights") && !list.contains("KentonElectronics"));
    let log = browser
        .get(app.url("/audit"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains(&second_login) && !log.contains("prpkeAdmin@kentonelectronics"));

    // Nothing of the first tenant changed.
    let untouched = state(app, &first, &app.token).await;
    assert_eq!(untouched["published"]["version"], 1);
    assert!(untouched["draft"].is_null() && untouched["other_drafts"] == json!([]));
    assert_eq!(request_json(app, &request).await["status"], "completed");
}

async fn the_parameters_page_keeps_what_was_typed_and_explains_each_refusal(app: &TestApp) {
    // A tenant without Smart Queues has nothing left to set up.
    let (_, _, voice_login) = tenant(app, "VoiceOnly").await;
    let voice = app.page_session(&voice_login, TENANT_PASSWORD).await;
    let voice_home = app.page_with("/", &voice).await;
    assert!(
        voice_home.contains("nothing is left to set up") && !voice_home.contains("Callback Folder"),
        "{voice_home}"
    );
    let (tenant, request, login) =
        tenant_from(app, "KentonElectronics", "omnichannel-smart-queues").await;
    // Its outcome email names the next step, the Callback Folder address.
    let mails = app.store.mail_for_request(&request).await.unwrap();
    assert!(
        mails.iter().any(|m| m
            .body_text
            .contains("set the Callback Folder email address")),
        "{mails:?}"
    );
    let theirs = session(app, &login, TENANT_PASSWORD).await;
    let ours = session(app, ADMIN, ADMIN_PASSWORD).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = |cookie: &str, path: String| {
        let req = browser.get(app.url(&path)).header("cookie", cookie);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let post = |cookie: &str, path: String, form: Vec<(&'static str, &'static str)>| {
        let req = browser
            .post(app.url(&path))
            .header("cookie", cookie)
            .form(&form);
        async move {
            let r = req.send().await.unwrap();
            let location = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            (r.status().as_u16(), location, r.text().await.unwrap())
        }
    };
    let base = format!("/tenants/{tenant}/smart-queues");
    let (_, home) = page(&theirs, "/".into()).await;
    assert!(home.contains("To do:") && home.contains(&format!("{base}#callback_folder_email")));
    let (status, shown) = page(&theirs, base.clone()).await;
    assert_eq!(status, 200);
    // A history button's name begins with its visible words (speech users say what they see).
    assert!(
        shown.contains(">Copy into my draft<span class=\"visually-hidden\">: version 1</span>")
            && !shown.contains("aria-label=\"Copy"),
        "{shown}"
    );
    assert!(shown.contains("Live: version 1") && shown.contains("value=\"49\""));

    let typed = vec![
        ("callback_folder_email", "callbacks@kenton-electronics.com"),
        ("default_priority", "abc"),
        ("target_answer_seconds", "120"),
        ("max_wait_seconds", "900"),
        ("callback_retry_limit", "3"),
        ("business_hours_time_zone", "Mars/Base"),
    ];
    let (status, _, refused) = post(&theirs, format!("{base}/draft"), typed.clone()).await;
    assert_eq!(status, 422);
    for shown in [
        "href=\"#default_priority\"",
        "href=\"#business_hours_time_zone\"",
        "value=\"abc\"",
        "value=\"Mars/Base\"",
        "aria-invalid=\"true\"",
    ] {
        assert!(refused.contains(shown), "{shown}");
    }
    let mut good = typed.clone();
    good[1] = ("default_priority", "20");
    good[5] = ("business_hours_time_zone", "Europe/London");
    good.push(("callback_enabled", "on"));
    let (status, location, _) = post(&theirs, format!("{base}/draft"), good.clone()).await;
    assert_eq!(status, 303);
    assert_eq!(location.unwrap(), format!("{base}?done=saved"));
    // The landlord saves a draft too, and each sees the other's.
    let mut landlords = good.clone();
    landlords[2] = ("target_answer_seconds", "60");
    assert_eq!(post(&ours, format!("{base}/draft"), landlords).await.0, 303);
    let (_, with_drafts) = page(&theirs, base.clone()).await;
    assert!(with_drafts.contains("Other administrators' drafts") && with_drafts.contains(ADMIN));

    let (status, location, _) = post(&theirs, format!("{base}/publish"), vec![]).await;
    assert_eq!(status, 303);
    assert_eq!(location.unwrap(), format!("{base}?done=published"));
    let (status, _, stale) = post(&ours, format!("{base}/publish"), vec![]).await;
    assert_eq!(status, 409);
    assert!(stale.contains("The draft is kept"), "{stale}");
    let (_, home) = page(&theirs, "/".into()).await;
    assert!(home.contains("Done:") && home.contains("callbacks@kenton-electronics.com"));

    let (status, location, _) = post(&ours, format!("{base}/versions/1/copy"), vec![]).await;
    assert_eq!(
        (status, location.unwrap()),
        (303, format!("{base}?done=copied"))
    );
    let (status, _, _) = post(&ours, format!("{base}/versions/x/copy"), vec![]).await;
    assert_eq!(status, 404);
    let (status, location, _) = post(&ours, format!("{base}/discard"), vec![]).await;
    assert_eq!(
        (status, location.unwrap()),
        (303, format!("{base}?done=discarded"))
    );
    let after = state(app, &tenant, &app.token).await;
    assert!(after["draft"].is_null());
    assert_eq!(after["published"]["version"], 2);
    assert_eq!(after["published"]["parameters"]["default_priority"], 20);

    // The form saves only what was changed in it: a value published by someone else after
    // the page was opened is not undone by an old copy of it in the form.
    let (_, opened) = page(&theirs, base.clone()).await;
    let started = hidden_value(&opened, "started");
    let (status, _) = put_draft(app, &tenant, &app.token, json!({"default_priority": 70})).await;
    assert_eq!(status, 200);
    assert_eq!(publish(app, &tenant, &app.token).await.0, 200);
    let form = vec![
        ("started", started.as_str()),
        ("callback_folder_email", "queue@kenton-electronics.com"),
        ("default_priority", "20"),
        ("target_answer_seconds", "120"),
        ("max_wait_seconds", "900"),
        ("callback_retry_limit", "3"),
        ("business_hours_time_zone", "Europe/London"),
        ("callback_enabled", "on"),
    ];
    let r = browser
        .post(app.url(&format!("{base}/draft")))
        .header("cookie", &theirs)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        post(&theirs, format!("{base}/publish"), vec![]).await.0,
        303
    );
    let v4 = state(app, &tenant, &app.token).await["published"].clone();
    assert_eq!(v4["version"], 4);
    assert_eq!(
        v4["parameters"]["default_priority"], 70,
        "the other change stays"
    );
    assert_eq!(
        v4["parameters"]["callback_folder_email"],
        "queue@kenton-electronics.com"
    );
}

/// The value of the hidden input `name` in a page, unescaped.
fn hidden_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap() + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end]
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}
