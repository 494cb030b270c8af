//! Staff single sign-on against a real OpenID provider: the certified `oidc-provider` package
//! from npm (`tests/browser/oidc-provider.mjs`, installed by `scripts/test`), started by each
//! test on loopback. A person signs in there and comes back with the role their groups give,
//! at every sign-in; an answer that does not verify (a wrong state, a replayed code, a wrong
//! nonce, another issuer, another key, an expired token) signs nobody in and makes nothing;
//! the second factor is still asked for. Each test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::oidc::{Provider, person};
use common::{Db, TestApp, spawn_app_with, totp_now};
use portal::service::oidc::OidcSettings;
use portal_domain::Role;
use serde_json::json;

on_both_db!(
    a_person_gets_the_role_of_their_groups_at_every_sign_in,
    an_answer_that_does_not_verify_signs_nobody_in_and_makes_nothing,
    single_sign_on_still_asks_for_the_second_factor,
);

/// What the portal's spool mailer calls its public address: the redirect address registered at
/// the provider starts with it.
const PORTAL: &str = "http://127.0.0.1:8080";

async fn portal(db: Db, provider: &Provider) -> Option<TestApp> {
    let settings = OidcSettings {
        issuer: provider.issuer.clone(),
        client_id: "portal".into(),
        client_secret: Some("portal-client-secret".into()),
        role_claim: "groups".into(),
        roles: vec![
            ("portal-admins".into(), Role::LandlordAdmin),
            ("portal-viewers".into(), Role::LandlordViewer),
        ],
    };
    spawn_app_with(db, |s| s.oidc = Some(std::sync::Arc::new(settings))).await
}

/// A browser of the test's own: it keeps cookies and follows no redirect. A request to the
/// provider or the portal that has no answer within a minute fails the test, naming it,
/// rather than leaving it hanging.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Starts a sign-in at the portal and signs in at the provider as `who`: the path and query of
/// the provider's answer to the portal's callback.
async fn through_provider(
    b: &reqwest::Client,
    app: &TestApp,
    provider: &Provider,
    who: &str,
) -> String {
    let started = b
        .get(app.url("/auth/oidc/start?next=/tenants"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 303);
    let mut url = format!("{}&login_hint={who}", location(&started));
    assert!(url.starts_with(&provider.issuer), "{url}");
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("nonce="),
        "{url}"
    );
    for _ in 0..10 {
        let r = b.get(&url).send().await.unwrap();
        let to = location(&r);
        assert!(
            !to.is_empty(),
            "{url} answered {} without a redirect",
            r.status()
        );
        if let Some(callback) = to.strip_prefix(PORTAL) {
            return callback.to_owned();
        }
        url = if to.starts_with('/') {
            format!("{}{to}", provider.issuer)
        } else {
            to
        };
    }
    panic!("the provider never sent the browser back");
}

/// Calls the portal's callback: the status, where it sends the browser, the page, and whether
/// a session cookie was set.
async fn callback(b: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String, String, bool) {
    let r = b.get(app.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    let to = location(&r);
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("portal_session="));
    (status, to, r.text().await.unwrap(), session)
}

async fn account(app: &TestApp, email: &str) -> Option<portal_store::user::UserRow> {
    app.store.find_user_by_login(email).await.unwrap()
}

async fn a_person_gets_the_role_of_their_groups_at_every_sign_in(db: Db) {
    let provider = Provider::start(&format!("{PORTAL}/auth/oidc/callback"));
    let Some(app) = portal(db, &provider).await else {
        return;
    };
    let alice = "alice@provider.example";
    provider.people(&json!({"alice": person(alice, &["portal-admins"]), "bob": person("bob@provider.example", &["sales"])}));
    let b = browser();
    // An answer brought by another browser (a link someone was sent) signs nobody in.
    let answer = through_provider(&b, &app, &provider, "alice").await;
    let (status, _, _, session) = callback(&browser(), &app, &answer).await;
    assert_eq!((status, session), (400, false));
    assert!(account(&app, alice).await.is_none());
    let answer = through_provider(&b, &app, &provider, "alice").await;
    let (status, to, _, session) = callback(&b, &app, &answer).await;
    assert_eq!((status, to.as_str(), session), (303, "/tenants", true));
    let made = account(&app, alice)
        .await
        .expect("made at the first sign-in");
    assert_eq!(made.role, Role::LandlordAdmin);
    assert!(
        made.sso && !made.has_password(),
        "marked, and without a password"
    );
    // Nor does it get one: the machine's operator is told so, and no link is made.
    let refused = portal::service::account::reset_on_command_line(&app.services, alice).await;
    assert!(
        matches!(
            refused,
            Err(portal::service::account::AccountError::Conflict(
                portal::service::account::AccountConflict::SingleSignOn
            ))
        ),
        "{refused:?}"
    );
    let tenants = b.get(app.url("/tenants")).send().await.unwrap();
    assert_eq!(tenants.status(), 200);

    // The same answer again: its sign-in is over.
    let (status, _, page, session) = callback(&b, &app, &answer).await;
    assert_eq!((status, session), (400, false), "{page}");
    assert!(page.contains("Start again"), "{page}");
    let (status, _, _, session) =
        callback(&b, &app, "/auth/oidc/callback?code=x&state=made-up").await;
    assert_eq!((status, session), (400, false));

    // A group taken away at the provider changes the role at the next sign-in.
    provider.people(&json!({"alice": person(alice, &["portal-viewers"])}));
    let answer = through_provider(&b, &app, &provider, "alice").await;
    assert_eq!(callback(&b, &app, &answer).await.0, 303);
    assert_eq!(
        account(&app, alice).await.unwrap().role,
        Role::LandlordViewer
    );
    provider.people(
        &json!({"alice": person(alice, &[]), "bob": person("bob@provider.example", &["sales"])}),
    );
    let answer = through_provider(&b, &app, &provider, "alice").await;
    let (status, _, page, session) = callback(&b, &app, &answer).await;
    assert_eq!((status, session), (403, false), "{page}");
    assert!(page.contains("in no group that gives a role"), "{page}");
    // Someone whose groups give no role gets no account.
    let answer = through_provider(&b, &app, &provider, "bob").await;
    assert_eq!(callback(&b, &app, &answer).await.0, 403);
    assert!(account(&app, "bob@provider.example").await.is_none());
    // The provider's own refusal.
    let (status, _, page, _) =
        callback(&b, &app, "/auth/oidc/callback?error=access_denied&state=x").await;
    assert_eq!(status, 401, "{page}");
    app.finish().await;
}

async fn an_answer_that_does_not_verify_signs_nobody_in_and_makes_nothing(db: Db) {
    let provider = Provider::start(&format!("{PORTAL}/auth/oidc/callback"));
    let Some(app) = portal(db, &provider).await else {
        return;
    };
    let carol = "carol@provider.example";
    provider.people(&json!({"carol": person(carol, &["portal-admins"])}));
    let b = browser();
    for fault in ["nonce", "issuer", "expired", "other-key"] {
        provider.fault(fault);
        let answer = through_provider(&b, &app, &provider, "carol").await;
        let (status, _, page, session) = callback(&b, &app, &answer).await;
        assert_eq!((status, session), (401, false), "{fault}: {page}");
        assert!(page.contains("could not be verified"), "{fault}: {page}");
        assert!(
            account(&app, carol).await.is_none(),
            "{fault}: nothing made"
        );
    }
    provider.fault("");
    let answer = through_provider(&b, &app, &provider, "carol").await;
    assert_eq!(
        callback(&b, &app, &answer).await.0,
        303,
        "the same provider, answering right"
    );
    app.finish().await;
}

async fn single_sign_on_still_asks_for_the_second_factor(db: Db) {
    let provider = Provider::start(&format!("{PORTAL}/auth/oidc/callback"));
    let Some(app) = portal(db, &provider).await else {
        return;
    };
    let policy = json!({"mfa_required_for": ["landlord_admin"], "session_idle_minutes": 30, "session_max_hours": 12});
    let set = app
        .client
        .put(app.url("/api/v1/settings/security"))
        .bearer_auth(&app.token)
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let dave = "dave@provider.example";
    provider.people(&json!({"dave": person(dave, &["portal-admins"])}));
    let b = browser();
    let answer = through_provider(&b, &app, &provider, "dave").await;
    assert_eq!(callback(&b, &app, &answer).await.0, 303);
    // No second factor yet: led to set one up first.
    let tenants = b.get(app.url("/tenants")).send().await.unwrap();
    assert_eq!(location(&tenants), "/account/two-factor");
    assert_eq!(
        b.post(app.url("/account/two-factor/totp"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    let page = b
        .get(app.url("/account/two-factor"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let from = page.find("<code id=\"totp-secret\">").unwrap() + "<code id=\"totp-secret\">".len();
    let secret = page[from..].split('<').next().unwrap().to_owned();
    let code = totp_now(&secret);
    let confirmed = b
        .post(app.url("/account/two-factor/totp/confirm"))
        .form(&[("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);

    // The next single sign-on asks for the code before any session.
    let answer = through_provider(&b, &app, &provider, "dave").await;
    let (status, _, page, session) = callback(&b, &app, &answer).await;
    assert_eq!((status, session), (200, false), "{page}");
    assert!(page.contains("autocomplete=\"one-time-code\""), "{page}");
    app.finish().await;
}
