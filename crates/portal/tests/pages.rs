//! The browser pages over HTTP: sign-in with a session cookie, sign-out, cross-site posts
//! refused, Tenant Registration, Tenant Creation Management and its actions, the policy,
//! template, tenant and mail pages. Each test runs on SQLite and on PostgreSQL; the browser
//! tests (`browser.rs`) drive the same pages in Chromium.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{ADMIN, ADMIN_PASSWORD, Db, TENANT_PASSWORD, TestApp, spawn_app, submission};
use serde_json::Value;

on_both!(
    a_landlord_signs_in_reads_the_mail_spool_and_signs_out,
    cross_site_posts_are_refused_and_a_tenant_administrator_sees_no_mail,
    the_registration_form_keeps_what_was_typed_except_the_passwords_and_one_form_makes_one_request,
    a_tenant_administrator_reaches_only_their_own_tenant,
    tenant_creation_management_filters_pages_and_explains_bad_filters,
    staff_actions_are_confirmed_first_and_refused_when_the_status_does_not_allow_them,
    the_policy_and_template_pages_save_good_input_and_explain_bad_input,
    the_accepted_page_names_the_template_and_speaks_in_the_tense_of_the_request,
    a_refused_bare_user_name_is_told_the_shape_of_a_login_id,
    an_ended_request_shows_only_what_happened,
    text_people_typed_is_isolated_so_right_to_left_controls_cannot_reorder_the_page,
    the_passwords_note_appears_only_when_passwords_were_typed,
    over_long_fields_get_their_own_errors_and_only_an_over_large_form_is_refused_whole,
    the_audit_log_speaks_in_words_offers_every_action_and_names_tenants,
    signing_in_returns_to_the_local_page_asked_for_and_nowhere_else,
    a_form_sent_after_the_session_ended_comes_back_after_signing_in_without_its_passwords,
);

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in through the form; returns the session cookie (`name=value`).
async fn sign_in(app: &TestApp, username: &str, password: &str) -> String {
    let r = browser()
        .post(app.url("/sign-in"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );
    set.split(';').next().unwrap().to_owned()
}

async fn get_page(app: &TestApp, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = browser().get(app.url(path));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

async fn a_landlord_signs_in_reads_the_mail_spool_and_signs_out(app: &TestApp) {
    let r = get_page(app, "/mail", None).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/sign-in?next=/mail",
        "back to the page asked for"
    );
    let form = get_page(app, "/sign-in", None).await.text().await.unwrap();
    assert!(form.contains("<label for=\"username\">") && form.contains("<label for=\"password\">"));

    let wrong = browser()
        .post(app.url("/sign-in"))
        .form(&[("username", ADMIN), ("password", "not-the-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let text = wrong.text().await.unwrap();
    assert!(
        text.contains("The user name or password is wrong.") && text.contains("value=\"admin\"")
    );
    assert!(
        !text.contains("not-the-password"),
        "the password is not echoed"
    );

    let cookie = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
    assert_ne!(
        cookie,
        sign_in(app, ADMIN, ADMIN_PASSWORD).await,
        "a new session id at every sign-in"
    );

    let id = app
        .submit(&submission("KentonElectronics"))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_pending_jobs().await;
    let list = get_page(app, "/mail", Some(&cookie)).await;
    assert_eq!(list.status(), 200);
    let list = list.text().await.unwrap();
    assert!(
        list.contains("Your tenant KentonElectronics is ready"),
        "{list}"
    );
    let mail_id = app.store.mail_for_request(&id).await.unwrap()[0].id.clone();
    let one = get_page(app, &format!("/mail/{mail_id}"), Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(one.contains("prpkeAdmin@kentonelectronics.example.com"));
    assert!(
        one.contains("sandbox srcdoc=\"&#60;!doctype html&#62;"),
        "the HTML part is shown escaped in a sandbox: {one}"
    );
    assert_eq!(
        get_page(app, "/mail/nothing", Some(&cookie)).await.status(),
        404
    );

    let out = browser()
        .post(app.url("/sign-out"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        get_page(app, "/mail", Some(&cookie)).await.status(),
        303,
        "the session has ended"
    );
}

async fn cross_site_posts_are_refused_and_a_tenant_administrator_sees_no_mail(app: &TestApp) {
    let host = app.base.trim_start_matches("http://").to_owned();
    let evil = browser()
        .post(app.url("/sign-in"))
        .header("origin", "http://evil.example")
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 403);
    assert!(evil.headers().get("set-cookie").is_none());
    let fetch = browser()
        .post(app.url("/sign-in"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(fetch.status(), 403);
    let same = browser()
        .post(app.url("/sign-in"))
        .header("origin", format!("http://{host}"))
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 303, "the portal's own origin is fine");

    app.submit(&submission("KentonElectronics")).await;
    app.run_pending_jobs().await;
    app.settle_password("prpkeAdmin@kentonelectronics.example.com")
        .await;
    let tenant_cookie = sign_in(
        app,
        "prpkeAdmin@kentonelectronics.example.com",
        TENANT_PASSWORD,
    )
    .await;
    assert_eq!(
        get_page(app, "/mail", Some(&tenant_cookie)).await.status(),
        403
    );
    let home = get_page(app, "/", Some(&tenant_cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(home.contains("Your tenant") && !home.contains("href=\"/mail\""));
}

async fn post_form(
    app: &TestApp,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser()
        .post(app.url(path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn page_text(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
    let r = get_page(app, path, Some(cookie)).await;
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// A filled Tenant Registration form for `name`, with `key` as the form's key.
fn registration<'a>(name: &'a str, upn: &'a str, key: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("form_key", key),
        ("template_id", "voice-essentials"),
        ("name", name),
        ("short_name", "ke"),
        ("upn_suffix", upn),
        ("admin_user_name", "keAdmin"),
        ("password", TENANT_PASSWORD),
        ("confirm_password", TENANT_PASSWORD),
        ("ani", "+44 20 7946 0000"),
        ("first_name", "Jo"),
        ("last_name", "Kenton"),
        ("email", "jo@example.com"),
        ("phone", ""),
        ("company", "Kenton Electronics"),
        ("address", ""),
    ]
}

async fn the_registration_form_keeps_what_was_typed_except_the_passwords_and_one_form_makes_one_request(
    app: &TestApp,
) {
    let cookie = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
    let (status, form) = page_text(app, "/register", &cookie).await;
    assert_eq!(status, 200);
    for shown in [
        "Voice Essentials",
        "Omnichannel with Smart Queues",
        "id=\"admin_user_name\"",
        "Create Tenant",
    ] {
        assert!(form.contains(shown), "{shown}");
    }

    let mut bad = registration("Kenton_Electronics", "kenton-electronics.com", "form-1");
    bad.retain(|(k, _)| *k != "template_id");
    bad.push(("email", "jo@"));
    bad.retain(|(k, v)| *k != "email" || *v == "jo@");
    let r = post_form(app, "/register", &cookie, &bad).await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("There are 3 problems"), "{page}");
    for link in ["href=\"#template_id\"", "href=\"#name\"", "href=\"#email\""] {
        assert!(page.contains(link), "{link}");
    }
    assert!(page.contains("value=\"Kenton_Electronics\""));
    assert!(
        page.contains("value=\"Kenton Electronics\""),
        "the company is kept"
    );
    assert!(page.contains("aria-invalid=\"true\""));
    assert!(
        !page.contains(TENANT_PASSWORD),
        "a password is never sent back"
    );
    assert_eq!(app.request_count().await, 0);

    // The same form sent twice (a double click) makes one request.
    let good = registration("KentonElectronics", "kenton-electronics.com", "form-2");
    let first = post_form(app, "/register", &cookie, &good).await;
    assert_eq!(first.status(), 303);
    let again = post_form(app, "/register", &cookie, &good).await;
    assert_eq!(again.status(), 303);
    assert_eq!(location(&first), location(&again));
    assert_eq!(app.request_count().await, 1);
    let id = location(&first).rsplit('/').next().unwrap().to_owned();
    let (status, accepted) = page_text(app, &location(&first), &cookie).await;
    assert_eq!(status, 200);
    assert!(accepted.contains(&id) && accepted.contains("Provisioning has started"));

    // Another form with the same names is told which one is taken.
    let twin = registration("KENTONELECTRONICS", "other.example.com", "form-3");
    let r = post_form(app, "/register", &cookie, &twin).await;
    assert_eq!(r.status(), 409);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("href=\"#name\"") && page.contains("already used"),
        "{page}"
    );
    // Staff are linked to what holds the name.
    assert!(
        page.contains(&format!(
            "<a href=\"/requests/{id}\">See the request that holds it</a>"
        )),
        "{page}"
    );
    assert_eq!(app.request_count().await, 1);

    // A body that is not the form is refused without a trace.
    let r = browser()
        .post(app.url("/register"))
        .header("cookie", &cookie)
        .header("content-type", "application/json")
        .body("{\"name\": \"KentonElectronics\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(app.request_count().await, 1);
}

async fn a_tenant_administrator_reaches_only_their_own_tenant(app: &TestApp) {
    let submitted = |name: &'static str| async move {
        let r: Value = app.submit(&submission(name)).await.json().await.unwrap();
        r["id"].as_str().unwrap().to_owned()
    };
    let own_request = submitted("KentonElectronics").await;
    submitted("HarbourLights").await;
    app.run_pending_jobs().await;
    let landlord = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
    let (_, tenants) = page_text(app, "/tenants", &landlord).await;
    assert!(tenants.contains("KentonElectronics") && tenants.contains("HarbourLights"));
    let tenant_id = |name: &'static str| async move {
        let list: Value = app
            .get("/api/v1/tenants", &app.token)
            .await
            .json()
            .await
            .unwrap();
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let own = tenant_id("KentonElectronics").await;
    let other = tenant_id("HarbourLights").await;

    app.settle_password("prpkeAdmin@kentonelectronics.example.com")
        .await;
    let cookie = sign_in(
        app,
        "prpkeAdmin@kentonelectronics.example.com",
        TENANT_PASSWORD,
    )
    .await;
    for path in [
        "/register".to_owned(),
        "/requests".to_owned(),
        format!("/requests/{own_request}"),
        "/settings".to_owned(),
        "/templates".to_owned(),
        "/mail".to_owned(),
    ] {
        assert_eq!(page_text(app, &path, &cookie).await.0, 403, "{path}");
    }
    let other_tenant = format!("/tenants/{other}");
    assert_eq!(page_text(app, &other_tenant, &cookie).await.0, 404);
    let (_, list) = page_text(app, "/tenants", &cookie).await;
    assert!(list.contains("KentonElectronics") && !list.contains("HarbourLights"));
    let (status, detail) = page_text(app, &format!("/tenants/{own}"), &cookie).await;
    assert_eq!(status, 200);
    assert!(detail.contains("Configuration (32 objects)"), "{detail}");
    assert!(
        !detail.contains("/requests/"),
        "no link to what they cannot open"
    );
    let (_, home) = page_text(app, "/", &cookie).await;
    assert!(home.contains(&format!("/tenants/{own}")));
}

async fn tenant_creation_management_filters_pages_and_explains_bad_filters(app: &TestApp) {
    let mut ids = Vec::new();
    for i in 0..52 {
        let r: Value = app
            .submit(&submission(&format!("Tenant{i:02}")))
            .await
            .json()
            .await
            .unwrap();
        ids.push(r["id"].as_str().unwrap().to_owned());
    }
    let cookie = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
    let cancelled = &ids[3];
    let r = post_form(app, &format!("/requests/{cancelled}/cancel"), &cookie, &[]).await;
    assert_eq!(r.status(), 303);

    let rows = |page: &str| page.matches("<td><a href=\"/requests/").count();
    let (status, first) = page_text(app, "/requests", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(rows(&first), 50);
    assert!(
        first.find("Tenant51").unwrap() < first.find("Tenant50").unwrap(),
        "newest first"
    );
    let next = first
        .split("rel=\"next\"")
        .next()
        .unwrap()
        .rsplit("href=\"")
        .next()
        .unwrap()
        .trim_end_matches("\" ")
        .replace("&#38;", "&");
    let (_, second) = page_text(app, &next, &cookie).await;
    assert_eq!(rows(&second), 2);
    assert!(
        second.contains("Tenant01") && second.contains("Tenant00") && !second.contains("Tenant02")
    );
    assert!(second.contains("First page") && !second.contains("rel=\"next\""));

    let (_, only) = page_text(app, "/requests?status=cancelled", &cookie).await;
    assert_eq!(rows(&only), 1);
    assert!(only.contains("Tenant03"));
    let (_, found) = page_text(app, "/requests?q=ant5", &cookie).await;
    assert_eq!(rows(&found), 2, "Tenant50 and Tenant51");
    let (_, none) = page_text(app, "/requests?template=omnichannel-smart-queues", &cookie).await;
    assert_eq!(rows(&none), 0);
    let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let (_, today_only) = page_text(
        app,
        &format!("/requests?from={today}&to={today}&q=tenant0"),
        &cookie,
    )
    .await;
    assert_eq!(rows(&today_only), 10);
    let (_, earlier) = page_text(app, "/requests?to=2020-01-01", &cookie).await;
    assert_eq!(rows(&earlier), 0);

    let (status, bad) = page_text(app, "/requests?status=done", &cookie).await;
    assert_eq!(status, 400);
    assert!(bad.contains("There is no status called done."));
    let (status, bad) = page_text(app, "/requests?from=2026-13-01", &cookie).await;
    assert_eq!(status, 400);
    assert!(bad.contains("Submitted from must be a date like 2026-11-29."));
}

async fn staff_actions_are_confirmed_first_and_refused_when_the_status_does_not_allow_them(
    app: &TestApp,
) {
    let r: Value = app
        .submit(&submission("KentonElectronics"))
        .await
        .json()
        .await
        .unwrap();
    let id = r["id"].as_str().unwrap().to_owned();
    let cookie = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
    let (_, detail) = page_text(app, &format!("/requests/{id}"), &cookie).await;
    assert!(detail.contains(&format!("href=\"/requests/{id}/cancel\"")));
    assert!(
        !detail.contains(&format!("href=\"/requests/{id}/retry\"")),
        "only what the status allows"
    );
    assert!(
        detail.contains("data-live"),
        "an accepted request is followed live"
    );

    // Asking is not doing.
    let (status, confirm) = page_text(app, &format!("/requests/{id}/cancel"), &cookie).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Cancel the request for KentonElectronics?"));
    let (_, still) = page_text(app, &format!("/requests/{id}"), &cookie).await;
    assert!(still.contains("data-status>accepted<"));

    let r = post_form(app, &format!("/requests/{id}/cancel"), &cookie, &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("/requests/{id}?done=cancel"));
    let (_, after) = page_text(app, &location(&r), &cookie).await;
    assert!(after.contains("Cancel request: done.") && after.contains("data-status>cancelled<"));
    assert!(
        after.contains("accepted → cancelled") && after.contains(">admin<"),
        "{after}"
    );
    assert!(!after.contains("data-live"));

    let r = post_form(app, &format!("/requests/{id}/retry"), &cookie, &[]).await;
    assert_eq!(r.status(), 409);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Retry is not possible: the request is cancelled now.")
    );
    assert_eq!(
        page_text(app, &format!("/requests/{id}/explode"), &cookie)
            .await
            .0,
        404
    );

    // A scheduled request can be moved; a time that is not one is explained.
    let utc = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let hhmm = |hours| {
        let t = utc
            .checked_add(jiff::SignedDuration::from_hours(hours))
            .unwrap()
            .time();
        format!("{:02}:{:02}", t.hour(), t.minute())
    };
    let policy = serde_json::json!({"mode": "off_peak", "off_peak": {
        "start": hhmm(2), "end": hhmm(3), "time_zone": "UTC", "max_per_window": null}});
    let r = app
        .client
        .put(app.url("/api/v1/settings/provisioning"))
        .bearer_auth(&app.token)
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r: Value = app
        .submit(&submission("HarbourLights"))
        .await
        .json()
        .await
        .unwrap();
    let later = r["id"].as_str().unwrap().to_owned();
    assert_eq!(r["status"], "scheduled");
    let r = post_form(
        app,
        &format!("/requests/{later}/reschedule"),
        &cookie,
        &[("at", "someday")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Enter the new time as a date and a time, in UTC.")
    );
    let r = post_form(
        app,
        &format!("/requests/{later}/reschedule"),
        &cookie,
        &[("at", "2099-01-02T03:04")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, moved) = page_text(app, &format!("/requests/{later}"), &cookie).await;
    assert!(
        moved.contains("Scheduled for 2099-01-02 03:04 UTC."),
        "{moved}"
    );
}

async fn the_policy_and_template_pages_save_good_input_and_explain_bad_input(app: &TestApp) {
    let cookie = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
    let policy = |zone: &'static str| {
        vec![
            ("mode", "off_peak"),
            ("start", "22:00"),
            ("end", "06:00"),
            ("time_zone", zone),
            ("max_per_window", ""),
        ]
    };
    let r = post_form(app, "/settings", &cookie, &policy("Mars/Olympus")).await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Time zone must be an IANA time zone"),
        "{page}"
    );
    assert!(page.contains("value=\"Mars/Olympus\""));
    let stored: Value = app
        .get("/api/v1/settings/provisioning", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["mode"], "immediate", "nothing saved");
    let r = post_form(app, "/settings", &cookie, &policy("Europe/London")).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/settings?saved=1");
    let stored: Value = app
        .get("/api/v1/settings/provisioning", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["off_peak"]["time_zone"], "Europe/London");
    let (_, saved) = page_text(app, "/settings?saved=1", &cookie).await;
    assert!(saved.contains("Saved.") && saved.contains("A request accepted now starts at"));

    let count = || async { app.store.count_templates().await.unwrap() };
    let before = count().await;
    let r = post_form(
        app,
        "/templates/new",
        &cookie,
        &[("document", "{\n  \"name\": \"Broken\",\n  oops\n}")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Line 3, column"));
    let doc = r#"{"name": "Chat Starter", "services": ["chat"], "objects": [{"kind": "queue", "name": "Web chat", "properties": {"priority": 120}}]}"#;
    let r = post_form(app, "/templates/new", &cookie, &[("document", doc)]).await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("objects[0].properties.priority")
    );
    assert_eq!(count().await, before);
    let doc = doc.replace("120", "60");
    let r = post_form(app, "/templates/new", &cookie, &[("document", &doc)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/templates/chat-starter");
    let (_, shown) = page_text(app, "/templates/chat-starter", &cookie).await;
    assert!(
        shown.contains("Chat Starter") && shown.contains("Web chat") && shown.contains("1 queue")
    );

    let (_, edit) = page_text(app, "/templates/chat-starter/edit", &cookie).await;
    assert!(edit.contains("Web chat"));
    let r = post_form(
        app,
        "/templates/chat-starter/edit",
        &cookie,
        &[("document", &doc.replace("Web chat", "Live chat"))],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, v2) = page_text(app, "/templates/chat-starter", &cookie).await;
    assert!(
        v2.contains("<dt>Version</dt><dd>2</dd>") && v2.contains("Live chat"),
        "{v2}"
    );

    let r = post_form(app, "/templates/chat-starter/retire", &cookie, &[]).await;
    assert_eq!(r.status(), 303);
    let (_, retired) = page_text(app, "/templates/chat-starter", &cookie).await;
    assert!(retired.contains("This template is retired"));
    let (_, register) = page_text(app, "/register", &cookie).await;
    assert!(!register.contains("Chat Starter"));

    let huge = format!(
        "{{\"name\": \"Huge\", \"description\": \"{}\"}}",
        "x".repeat(200_000)
    );
    let r = post_form(app, "/templates/new", &cookie, &[("document", &huge)]).await;
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("larger than 48 KiB"));
    let r = post_form(
        app,
        "/templates/new",
        &cookie,
        &[("document", &doc.replace("Chat Starter", "New"))],
    )
    .await;
    assert_eq!(
        r.status(),
        422,
        "new is the page that makes templates, not an id"
    );

    // Immediately, with the window left empty, is saved without a window; a bad cap and a bad
    // zone are reported together.
    let r = post_form(
        app,
        "/settings",
        &cookie,
        &[
            ("mode", "off_peak"),
            ("start", "22:00"),
            ("end", "06:00"),
            ("time_zone", "Nowhere/Else"),
            ("max_per_window", "lots"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Most requests per window must be a whole number")
            && page.contains("Time zone must be"),
        "{page}"
    );
    let r = post_form(
        app,
        "/settings",
        &cookie,
        &[
            ("mode", "immediate"),
            ("start", ""),
            ("end", ""),
            ("time_zone", "UTC"),
            ("max_per_window", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let stored: Value = app
        .get("/api/v1/settings/provisioning", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["mode"], "immediate");
    assert!(stored["off_peak"].is_null());

    let css = get_page(app, "/assets/portal.css", None).await;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
}

async fn the_accepted_page_names_the_template_and_speaks_in_the_tense_of_the_request(
    app: &TestApp,
) {
    let cookie = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
    // The password's hint says the rule of spaces and of short names; each name's hint says
    // its rule in the words of its error.
    let (_, form) = page_text(app, "/register", &cookie).await;
    // Services by their names, not their ids.
    assert!(
        form.contains("Smart Queues") && !form.contains("smart_queues"),
        "{form}"
    );
    for rule in [
        portal_domain::field::NAME_RULE,
        portal_domain::field::SHORT_NAME_RULE,
        portal_domain::field::USER_NAME_RULE,
    ] {
        assert!(form.contains(&format!("It must be {rule}.")), "{rule}");
    }
    let mut bad = registration("Kenton_Electronics", "kenton-electronics.com", "form-rule");
    for (key, value) in bad.iter_mut() {
        if *key == "admin_user_name" {
            *value = "prpkeAdmin";
        }
    }
    let page = post_form(app, "/register", &cookie, &bad)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!(
            "Name must be {}.",
            portal_domain::field::NAME_RULE
        )),
        "{page}"
    );
    assert!(page.contains("keAdmin becomes prpkeAdmin"), "{page}");
    assert!(form.contains("kept exactly as typed"), "{form}");
    assert!(form.contains("those of 4 characters or more"));

    let r = app.submit(&submission("TenseTenant")).await;
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/register/accepted/{id}");
    let (code, before) = page_text(app, &path, &cookie).await;
    assert_eq!(code, 200);
    assert!(before.contains("Voice Essentials (version 1)"), "{before}");
    assert!(
        !before.contains("voice-essentials"),
        "no template id: {before}"
    );
    assert!(before.contains("Provisioning has started."));
    assert!(before.contains("Sent to jo@example.com when provisioning ends."));

    app.run_pending_jobs().await;
    let (_, after) = page_text(app, &path, &cookie).await;
    assert!(
        after.contains("Provisioning is done: the tenant is ready."),
        "{after}"
    );
    assert!(after.contains("Sent to jo@example.com."), "{after}");
    assert!(!after.contains("when provisioning ends"));
    assert!(!after.contains("has started"));
}

async fn a_refused_bare_user_name_is_told_the_shape_of_a_login_id(app: &TestApp) {
    let form = get_page(app, "/sign-in", None).await.text().await.unwrap();
    assert!(form.contains("such as prpkeAdmin@your-domain"), "{form}");
    let refused = |username: &'static str| async move {
        let r = browser()
            .post(app.url("/sign-in"))
            .form(&[("username", username), ("password", "not-the-password")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        r.text().await.unwrap()
    };
    let bare = refused("keAdmin").await;
    assert!(
        bare.contains("Tenant users sign in with their login ID")
            && bare.contains("prpkeAdmin@your-domain"),
        "{bare}"
    );
    let login_id = refused("prpkeAdmin@kenton.example").await;
    assert!(login_id.contains("The user name or password is wrong."));
    assert!(!login_id.contains("Tenant users sign in with"));
}

async fn an_ended_request_shows_only_what_happened(app: &TestApp) {
    // An off-peak window two hours away: the request waits for it, scheduled.
    let hour = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .hour();
    let policy = serde_json::json!({"mode": "off_peak", "off_peak": {
        "start": format!("{:02}:00", (hour + 2) % 24), "end": format!("{:02}:00", (hour + 3) % 24),
        "time_zone": "UTC", "max_per_window": null}});
    let r = app
        .client
        .put(app.url("/api/v1/settings/provisioning"))
        .bearer_auth(&app.token)
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app.submit(&submission("EndedEarly")).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "scheduled");
    let id = body["id"].as_str().unwrap().to_owned();
    let cookie = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
    let (_, waiting) = page_text(app, &format!("/requests/{id}"), &cookie).await;
    assert!(waiting.contains("Scheduled for") && waiting.contains("when provisioning ends"));

    let r = app
        .client
        .post(app.url(&format!("/api/v1/subscription-requests/{id}/cancel")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, ended) = page_text(app, &format!("/requests/{id}"), &cookie).await;
    assert!(ended.contains("cancelled"), "{ended}");
    assert!(!ended.contains("Scheduled for"), "{ended}");
    assert!(
        !ended.contains("class=\"timeline\""),
        "no steps that never ran: {ended}"
    );
    assert!(!ended.contains("when provisioning ends"));
    assert!(ended.contains("No email was sent: the request ended before provisioning."));
}

async fn text_people_typed_is_isolated_so_right_to_left_controls_cannot_reorder_the_page(
    app: &TestApp,
) {
    // A right-to-left override in the company would turn the text after it around. It is
    // refused now at the door...
    let tricky = "Kenton \u{202e}gpj.exe";
    let mut body = submission("BidiTenant");
    body["contact"]["company"] = serde_json::json!(tricky);
    let r = app.submit(&body).await;
    assert_eq!(r.status(), 422);
    let refused: Value = r.json().await.unwrap();
    assert_eq!(refused["error"]["fields"][0]["field"], "contact.company");
    assert_eq!(refused["error"]["fields"][0]["code"], "invalid_characters");
    // ...and text kept from before that is still isolated where it is shown.
    let r = app.submit(&submission("BidiTenant")).await;
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.execute_sql(&format!(
        "UPDATE subscription_requests SET contact_company = '{tricky}' WHERE id = '{id}'"
    ))
    .await;
    let cookie = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
    let (_, page) = page_text(app, &format!("/requests/{id}"), &cookie).await;
    assert!(page.contains(&format!("<bdi>{tricky}</bdi>")), "{page}");
    assert!(page.contains("<h1>Request for <bdi>BidiTenant</bdi></h1>"));
    let (_, list) = page_text(app, "/requests", &cookie).await;
    assert!(list.contains("<bdi>BidiTenant</bdi>"), "{list}");
}

async fn the_passwords_note_appears_only_when_passwords_were_typed(app: &TestApp) {
    let cookie = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
    let typed = registration("Kenton_Electronics", "kenton-electronics.com", "form-typed");
    let r = post_form(app, "/register", &cookie, &typed).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"retype-note\""));

    let mut untyped = registration("Kenton_Electronics", "kenton-electronics.com", "form-empty");
    for (key, value) in untyped.iter_mut() {
        if *key == "password" || *key == "confirm_password" {
            *value = "";
        }
    }
    let r = post_form(app, "/register", &cookie, &untyped).await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("Password is required."), "{page}");
    assert!(
        !page.contains("id=\"retype-note\""),
        "no passwords were typed: {page}"
    );
}

async fn over_long_fields_get_their_own_errors_and_only_an_over_large_form_is_refused_whole(
    app: &TestApp,
) {
    let cookie = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
    // Ten thousand characters pasted into every field: each says what is wrong with it.
    let pasted = "x".repeat(10_000);
    let mut long = registration("Kenton", "kenton.example.com", "form-long");
    for (key, value) in long.iter_mut() {
        if *key != "form_key" && *key != "template_id" {
            *value = &pasted;
        }
    }
    let r = post_form(app, "/register", &cookie, &long).await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(!page.contains("could not be read"), "{page}");
    for field in ["href=\"#name\"", "href=\"#short_name\"", "href=\"#email\""] {
        assert!(page.contains(field), "{field} in {page}");
    }
    assert_eq!(app.request_count().await, 0);

    // Past the limit of the whole form, the page says the form was too large.
    let huge = "x".repeat(300 * 1024);
    let mut over = registration("Kenton", "kenton.example.com", "form-huge");
    over.push(("address", &huge));
    let r = post_form(app, "/register", &cookie, &over).await;
    assert_eq!(r.status(), 413);
    let page = r.text().await.unwrap();
    assert!(page.contains("The form was too large"), "{page}");
    assert_eq!(app.request_count().await, 0);
}

async fn the_audit_log_speaks_in_words_offers_every_action_and_names_tenants(app: &TestApp) {
    let r = app.submit(&submission("AuditedTenant")).await;
    assert_eq!(r.status(), 202);
    app.run_pending_jobs().await;
    // The tenant's administrator signs in: an entry of that tenant.
    app.login_token("prpkeAdmin@auditedtenant.example.com", TENANT_PASSWORD)
        .await;
    let policy = serde_json::json!({"mode": "off_peak", "off_peak": {"start": "22:00",
        "end": "06:00", "time_zone": "Europe/London", "max_per_window": 5}});
    let r = app
        .client
        .put(app.url("/api/v1/settings/provisioning"))
        .bearer_auth(&app.token)
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let cookie = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
    let (_, log) = page_text(app, "/audit", &cookie).await;
    for words in [
        "Request submitted",
        "Provisioning policy changed",
        "provision in the off-peak window 22:00–06:00 (Europe/London), at most 5 per window",
        "<bdi>AuditedTenant</bdi></a>",
    ] {
        assert!(log.contains(words), "{words} in {log}");
    }
    for raw in ["request_submitted", "policy_changed</td>", "{&quot;mode"] {
        assert!(!log.contains(&format!(">{raw}")), "{raw} shown raw");
    }
    let offered = log.matches("<option value=\"").count();
    assert_eq!(
        offered,
        portal_domain::AuditAction::ALL.len() + 1,
        "every action in the filter, and Anything"
    );
}

fn location_of(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

async fn signing_in_returns_to_the_local_page_asked_for_and_nowhere_else(app: &TestApp) {
    let r = get_page(app, "/requests?status=failed", None).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location_of(&r), "/sign-in?next=/requests%3Fstatus%3Dfailed");
    let page = get_page(app, "/sign-in?next=/requests%3Fstatus%3Dfailed", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in to continue."), "{page}");
    assert!(
        page.contains("name=\"next\" value=\"/requests?status=failed\""),
        "{page}"
    );

    for (next, back) in [
        ("/requests?status=failed", "/requests?status=failed"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ] {
        let r = browser()
            .post(app.url("/sign-in"))
            .form(&[
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{next}");
        assert_eq!(location_of(&r), back, "{next}");
    }
}

async fn a_form_sent_after_the_session_ended_comes_back_after_signing_in_without_its_passwords(
    app: &TestApp,
) {
    // A cookie of a session that is over, as a browser keeps sending it.
    let ended = "portal_session=0123456789abcdef0123456789abcdef";
    let typed = registration("KentonElectronics", "kenton-electronics.com", "form-ended");
    let r = post_form(app, "/register", ended, &typed).await;
    assert_eq!(r.status(), 401);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Your session ended; sign in to continue."),
        "{page}"
    );
    assert!(
        page.contains("name=\"name\" value=\"KentonElectronics\""),
        "{page}"
    );
    assert!(!page.contains(TENANT_PASSWORD), "no password carried");
    assert_eq!(app.request_count().await, 0);

    // Signing in from that page brings the form back as it was typed, passwords aside.
    let mut sign_in: Vec<(&str, &str)> = typed
        .iter()
        .filter(|(k, _)| *k != "password" && *k != "confirm_password")
        .copied()
        .collect();
    sign_in.extend([
        ("username", ADMIN),
        ("password", ADMIN_PASSWORD),
        ("next", "/register"),
    ]);
    let r = browser()
        .post(app.url("/sign-in"))
        .form(&sign_in)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("portal_session=")
    );
    let form = r.text().await.unwrap();
    assert!(form.contains("what you typed is back"), "{form}");
    for shown in [
        "id=\"name\" name=\"name\" type=\"text\" value=\"KentonElectronics\"",
        "value=\"kenton-electronics.com\"",
        "value=\"Kenton Electronics\"",
    ] {
        assert!(form.contains(shown), "{shown} in {form}");
    }
    assert!(!form.contains(TENANT_PASSWORD));
    assert_eq!(app.request_count().await, 0, "nothing sent yet");
}
