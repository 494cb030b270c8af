//! The browser pages over HTTP: sign-in with a session cookie, sign-out, cross-site posts
//! refused, and the mail spool page. Each test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{ADMIN, ADMIN_PASSWORD, Db, TENANT_PASSWORD, TestApp, spawn_app, submission};
use serde_json::Value;

on_both!(
    a_landlord_signs_in_reads_the_mail_spool_and_signs_out,
    cross_site_posts_are_refused_and_a_tenant_administrator_sees_no_mail,
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
    assert_eq!(r.headers()["location"], "/sign-in");
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
    let tenant_cookie = sign_in(
        app,
        "prpkeAdmin@kentonelectronics.example.com",
        TENANT_PASSWORD,
    )
    .await;
    assert_eq!(
        get_page(app, "/mail", Some(&tenant_cookie)).await.status(),
        404
    );
    let home = get_page(app, "/", Some(&tenant_cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(home.contains("Your tenant") && !home.contains("href=\"/mail\""));
}
