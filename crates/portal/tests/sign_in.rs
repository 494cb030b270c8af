//! Sign-in protection: failed attempts counted per account and per client address before the
//! password is checked, so parallel guesses cannot pass the limit; locked accounts and
//! flooding addresses get 429 with Retry-After while others are served. On SQLite and
//! PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{ADMIN, ADMIN_PASSWORD, Db, TENANT_PASSWORD, TestApp, spawn_app, submission};
use serde_json::json;

on_both!(
    a_hundred_parallel_wrong_passwords_for_one_account_are_checked_no_more_than_the_limit,
    a_success_forgets_the_accounts_failures,
    an_address_that_floods_sign_in_is_refused_while_other_addresses_are_served,
    a_login_id_signs_in_with_its_domain_as_typed_or_in_ascii_and_pages_show_both,
);

async fn a_hundred_parallel_wrong_passwords_for_one_account_are_checked_no_more_than_the_limit(
    app: &TestApp,
) {
    let attempts = (0..100).map(|i| {
        let client = app.client.clone();
        let url = app.url("/api/v1/auth/login");
        async move {
            let r = client
                .post(url)
                .json(&json!({"username": ADMIN, "password": format!("guess-{i}")}))
                .send()
                .await
                .unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), retry)
        }
    });
    let answers = futures_join_all(attempts).await;
    let checked = answers.iter().filter(|(s, _)| *s == 401).count();
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(checked, 5, "{answers:?}");
    assert_eq!(refused.len(), 95, "{answers:?}");
    assert!(refused.iter().all(|(_, retry)| {
        retry
            .as_deref()
            .is_some_and(|v| v.parse::<u64>().unwrap() >= 1)
    }));
    // Even the right password waits for the lock to pass, unchecked.
    let r = app.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
}

async fn a_success_forgets_the_accounts_failures(app: &TestApp) {
    for _ in 0..4 {
        assert_eq!(app.login(ADMIN, "wrong-password").await.status(), 401);
    }
    assert_eq!(app.login(ADMIN, ADMIN_PASSWORD).await.status(), 200);
    for _ in 0..4 {
        assert_eq!(app.login(ADMIN, "wrong-password").await.status(), 401);
    }
    assert_eq!(app.login(ADMIN, ADMIN_PASSWORD).await.status(), 200);
}

async fn an_address_that_floods_sign_in_is_refused_while_other_addresses_are_served(app: &TestApp) {
    // Twenty failures from this address over many names pass; the next is refused.
    for i in 0..20 {
        let r = app.login(&format!("nobody{i}"), "wrong-password").await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let r = app.login("nobody-else", "wrong-password").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let page = reqwest::Client::new()
        .post(app.url("/sign-in"))
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Too many failed sign-ins")
    );

    // Another address is served as usual.
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let r = elsewhere
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Runs the futures at once and returns their outputs in order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn a_login_id_signs_in_with_its_domain_as_typed_or_in_ascii_and_pages_show_both(
    app: &TestApp,
) {
    let mut body = submission("Buecher");
    body["tenant"]["upn_suffix"] = json!("bücher.example");
    body["tenant"]["admin_user_name"] = json!("bcAdmin");
    let r = app.submit(&body).await;
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_pending_jobs().await;
    for typed in [
        "prpbcAdmin@bücher.example",
        "prpbcAdmin@xn--bcher-kva.example",
        " PRPbcAdmin@Bücher.Example ",
    ] {
        assert_eq!(
            app.login(typed, TENANT_PASSWORD).await.status(),
            200,
            "{typed}"
        );
    }
    assert_eq!(
        app.login("prpbcAdmin@bücher.example", "not-the-password")
            .await
            .status(),
        401
    );

    // The outcome email gives the login ID as typed, the ASCII form beside it.
    let mails = app.store.mail_for_request(&id).await.unwrap();
    assert!(
        mails.iter().any(|m| m
            .body_text
            .contains("prpbcAdmin@bücher.example (prpbcAdmin@xn--bcher-kva.example)")),
        "{mails:?}"
    );

    // The landlord's page of the request shows the domain as typed, the ASCII form beside.
    let cookie = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    let page = app.page_with(&format!("/requests/{id}"), &cookie).await;
    assert!(
        page.contains("bücher.example (xn--bcher-kva.example)")
            && page.contains("prpbcAdmin@bücher.example (prpbcAdmin@xn--bcher-kva.example)"),
        "{page}"
    );
}
