//! Two-step sign-in: an authenticator app (TOTP) set up with a first code, asked for at every
//! sign-in of the API and the browser, each code once; recovery codes once each; removal with
//! the password; the security policy that leads a user without one to set it up first, and
//! its session lifetimes. The codes are computed by the tests' own HOTP (see `common`), not by
//! the portal's. Each test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{
    ADMIN, ADMIN_PASSWORD, Db, TestApp, call, enrol_totp, spawn_app, totp_code, totp_next,
    totp_now, unix_now,
};
use reqwest::Method;
use serde_json::{Value, json};

on_both!(
    an_app_is_confirmed_by_its_first_code_and_then_asked_for_at_every_sign_in,
    each_code_works_once_and_stale_or_foreign_codes_never,
    recovery_codes_work_once_each_and_can_be_renewed,
    removing_the_app_needs_the_password_and_is_refused_for_the_last_required_factor,
    the_policy_leads_a_user_without_a_second_factor_to_set_one_up_first,
    a_browser_sign_in_asks_for_the_code_on_a_page_of_its_own,
    sessions_follow_the_policys_lifetimes_and_polls_do_not_keep_them,
    passkeys_are_renamed_and_removed_but_never_the_last_required_factor,
    the_security_policy_page_saves_roles_and_lifetimes_and_names_bad_values,
    asking_which_names_have_passkeys_is_held_back,
);

/// Signs in through the API with the landlord admin's password and `extra` fields.
async fn login(app: &TestApp, extra: Value) -> (u16, Value) {
    let mut body = json!({"username": ADMIN, "password": ADMIN_PASSWORD});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    call(app, Method::POST, "/api/v1/auth/login", "", Some(body)).await
}

fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or_default()
}

async fn me(app: &TestApp, token: &str) -> Value {
    let (status, me) = call(app, Method::GET, "/api/v1/me", token, None).await;
    assert_eq!(status, 200, "{me}");
    me
}

/// The actions of the audit log, newest first.
async fn audit_actions(app: &TestApp) -> Vec<String> {
    let (status, list) = call(
        app,
        Method::GET,
        "/api/v1/audit?limit=200",
        &app.token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn set_policy(
    app: &TestApp,
    token: &str,
    roles: &[&str],
    idle: i64,
    max: i64,
) -> (u16, Value) {
    let body =
        json!({"mfa_required_for": roles, "session_idle_minutes": idle, "session_max_hours": max});
    call(
        app,
        Method::PUT,
        "/api/v1/settings/security",
        token,
        Some(body),
    )
    .await
}

async fn an_app_is_confirmed_by_its_first_code_and_then_asked_for_at_every_sign_in(app: &TestApp) {
    assert_eq!(me(app, &app.token).await["mfa"]["totp"], false);
    let (status, started) = call(app, Method::POST, "/api/v1/me/mfa/totp", &app.token, None).await;
    assert_eq!(status, 200, "{started}");
    let secret = started["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32, "a 160-bit key in base32: {secret}");
    let uri = started["otpauth_uri"].as_str().unwrap();
    assert_eq!(
        uri,
        format!(
            "otpauth://totp/Provisioning%20Portal:{ADMIN}?secret={secret}&issuer=Provisioning%20Portal"
        )
    );
    // Until it is confirmed, the password alone signs in.
    assert_eq!(login(app, json!({})).await.0, 200);
    let (status, wrong) = call(
        app,
        Method::POST,
        "/api/v1/me/mfa/totp/confirm",
        &app.token,
        Some(json!({"code": "123"})),
    )
    .await;
    assert_eq!(status, 422, "{wrong}");
    assert_eq!(wrong["error"]["fields"][0]["field"], "code");

    let confirm = json!({"code": totp_now(&secret)});
    let (status, confirmed) = call(
        app,
        Method::POST,
        "/api/v1/me/mfa/totp/confirm",
        &app.token,
        Some(confirm.clone()),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    let codes = confirmed["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let mut distinct: Vec<_> = codes.iter().map(|c| c.as_str().unwrap()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "{codes:?}");
    // Confirming twice is not possible.
    let (status, again) = call(
        app,
        Method::POST,
        "/api/v1/me/mfa/totp/confirm",
        &app.token,
        Some(confirm),
    )
    .await;
    assert_eq!((status, code(&again)), (409, "totp_not_started"), "{again}");
    let (status, again) = call(app, Method::POST, "/api/v1/me/mfa/totp", &app.token, None).await;
    assert_eq!((status, code(&again)), (409, "totp_exists"), "{again}");
    let mine = me(app, &app.token).await;
    assert_eq!(mine["mfa"]["totp"], true, "{mine}");
    assert_eq!(mine["mfa"]["recovery_codes_left"], 10, "{mine}");

    let (status, asked) = login(app, json!({})).await;
    assert_eq!((status, code(&asked)), (401, "mfa_required"), "{asked}");
    assert!(asked.get("token").is_none());
    let (status, wrong_password) = call(
        app,
        Method::POST,
        "/api/v1/auth/login",
        "",
        Some(json!({
            "username": ADMIN, "password": "not-the-password", "totp": totp_next(&secret)
        })),
    )
    .await;
    assert_eq!(
        (status, code(&wrong_password)),
        (401, "unauthorized"),
        "{wrong_password}"
    );
    let (status, signed_in) = login(app, json!({"totp": totp_next(&secret)})).await;
    assert_eq!(status, 200, "{signed_in}");
    assert!(signed_in["token"].is_string());
    let actions = audit_actions(app).await;
    assert!(actions.contains(&"totp_enrolled".to_owned()), "{actions:?}");
}

async fn each_code_works_once_and_stale_or_foreign_codes_never(app: &TestApp) {
    // A key replaced before it was confirmed: its codes confirm nothing and sign in nowhere.
    let (_, first) = call(app, Method::POST, "/api/v1/me/mfa/totp", &app.token, None).await;
    let first = first["secret"].as_str().unwrap().to_owned();
    let enrolled = enrol_totp(&app.client, &app.base, &app.token).await;
    let secret = enrolled.secret;
    assert_ne!(first, secret);
    let (status, refused) = login(app, json!({"totp": totp_next(&first)})).await;
    assert_eq!((status, code(&refused)), (401, "mfa_invalid"), "{refused}");
    // The confirming code was used: it does not sign in.
    let (status, refused) = login(app, json!({"totp": enrolled.confirmed_with})).await;
    assert_eq!((status, code(&refused)), (401, "mfa_invalid"), "{refused}");
    // Stale (three steps ago) and early (three steps ahead). (Five failures in a row are what
    // one client gets before it is held back.)
    let now = unix_now();
    for stale in [totp_code(&secret, now - 90), totp_code(&secret, now + 90)] {
        let (status, refused) = login(app, json!({"totp": stale})).await;
        assert_eq!(
            (status, code(&refused)),
            (401, "mfa_invalid"),
            "{stale}: {refused}"
        );
    }
    let next = totp_next(&secret);
    assert_eq!(login(app, json!({"totp": next})).await.0, 200);
    // The same code again, from anywhere: refused.
    let (status, replayed) = login(app, json!({"totp": next})).await;
    assert_eq!(
        (status, code(&replayed)),
        (401, "mfa_invalid"),
        "{replayed}"
    );
    let actions = audit_actions(app).await;
    assert!(
        actions
            .iter()
            .filter(|a| *a == "second_factor_failed")
            .count()
            >= 5,
        "{actions:?}"
    );
}

async fn recovery_codes_work_once_each_and_can_be_renewed(app: &TestApp) {
    let enrolled = enrol_totp(&app.client, &app.base, &app.token).await;
    let first = &enrolled.recovery_codes[0];
    // Typed in capitals with a space in place of the dash, as people copy them.
    let typed = first.to_uppercase().replace('-', " ");
    let (status, signed_in) = login(app, json!({"recovery_code": typed})).await;
    assert_eq!(status, 200, "{signed_in}");
    let (status, again) = login(app, json!({"recovery_code": first})).await;
    assert_eq!((status, code(&again)), (401, "mfa_invalid"), "{again}");
    assert_eq!(me(app, &app.token).await["mfa"]["recovery_codes_left"], 9);
    let actions = audit_actions(app).await;
    assert!(
        actions.contains(&"recovery_code_used".to_owned()),
        "{actions:?}"
    );

    let (status, refused) = call(
        app,
        Method::POST,
        "/api/v1/me/mfa/recovery-codes",
        &app.token,
        Some(json!({"password": "not-it"})),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    let (status, renewed) = call(
        app,
        Method::POST,
        "/api/v1/me/mfa/recovery-codes",
        &app.token,
        Some(json!({"password": ADMIN_PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(renewed["recovery_codes"].as_array().unwrap().len(), 10);
    // The old ones no longer work; a new one does.
    let (status, _) = login(app, json!({"recovery_code": enrolled.recovery_codes[1]})).await;
    assert_eq!(status, 401);
    let (status, _) = login(app, json!({"recovery_code": renewed["recovery_codes"][0]})).await;
    assert_eq!(status, 200);
}

async fn removing_the_app_needs_the_password_and_is_refused_for_the_last_required_factor(
    app: &TestApp,
) {
    let (status, none) = call(
        app,
        Method::DELETE,
        "/api/v1/me/mfa/totp",
        &app.token,
        Some(json!({"password": ADMIN_PASSWORD})),
    )
    .await;
    assert_eq!((status, code(&none)), (409, "totp_not_started"), "{none}");
    enrol_totp(&app.client, &app.base, &app.token).await;
    let (status, refused) = call(
        app,
        Method::DELETE,
        "/api/v1/me/mfa/totp",
        &app.token,
        Some(json!({"password": "not-it"})),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["fields"][0]["field"], "password");
    // Landlord admins must have one: the last cannot go.
    assert_eq!(
        set_policy(app, &app.token, &["landlord_admin"], 30, 12)
            .await
            .0,
        200
    );
    let (status, refused) = call(
        app,
        Method::DELETE,
        "/api/v1/me/mfa/totp",
        &app.token,
        Some(json!({"password": ADMIN_PASSWORD})),
    )
    .await;
    assert_eq!(
        (status, code(&refused)),
        (409, "last_second_factor"),
        "{refused}"
    );
    assert_eq!(me(app, &app.token).await["mfa"]["totp"], true);
    assert_eq!(set_policy(app, &app.token, &[], 30, 12).await.0, 200);
    let (status, _) = call(
        app,
        Method::DELETE,
        "/api/v1/me/mfa/totp",
        &app.token,
        Some(json!({"password": ADMIN_PASSWORD})),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(me(app, &app.token).await["mfa"]["totp"], false);
    assert_eq!(me(app, &app.token).await["mfa"]["recovery_codes_left"], 0);
    assert_eq!(
        login(app, json!({})).await.0,
        200,
        "the password alone again"
    );
    assert!(
        audit_actions(app)
            .await
            .contains(&"totp_removed".to_owned())
    );
}

async fn the_policy_leads_a_user_without_a_second_factor_to_set_one_up_first(app: &TestApp) {
    let (status, policy) = call(
        app,
        Method::GET,
        "/api/v1/settings/security",
        &app.token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{policy}");
    assert_eq!(policy["session_idle_minutes"], 30);
    let (status, refused) = set_policy(app, &app.token, &["root"], 4, 0).await;
    assert_eq!(status, 422, "{refused}");
    let fields: Vec<_> = refused["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "mfa_required_for",
            "session_idle_minutes",
            "session_max_hours"
        ]
    );
    let (status, set) =
        set_policy(app, &app.token, &["tenant_admin", "landlord_admin"], 30, 12).await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(
        set["mfa_required_for"],
        json!(["landlord_admin", "tenant_admin"])
    );

    // The admin has none: everything but their own account answers 403.
    for path in [
        "/api/v1/tenants",
        "/api/v1/settings/security",
        "/api/v1/subscription-requests",
    ] {
        let (status, refused) = call(app, Method::GET, path, &app.token, None).await;
        assert_eq!(
            (status, code(&refused)),
            (403, "mfa_enrolment_required"),
            "{path}: {refused}"
        );
    }
    assert_eq!(me(app, &app.token).await["mfa"]["required"], true);
    // The pages lead to the set-up page.
    let cookie = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let home = browser
        .get(app.url("/tenants"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 303);
    assert_eq!(home.headers()["location"], "/account/two-factor");
    let setup = app.page_with("/account/two-factor", &cookie).await;
    assert!(
        setup.contains("Your role requires two-step sign-in"),
        "{setup}"
    );

    enrol_totp(&app.client, &app.base, &app.token).await;
    let (status, _) = call(app, Method::GET, "/api/v1/tenants", &app.token, None).await;
    assert_eq!(status, 200);
    let home = browser
        .get(app.url("/tenants"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        home.status(),
        200,
        "the policy is for enrolment; this session may go on"
    );
    let actions = audit_actions(app).await;
    assert!(
        actions.contains(&"security_policy_changed".to_owned()),
        "{actions:?}"
    );
}

/// Posts the sign-in form without following redirects: status, location, the page's text and
/// the session cookie set (empty when none).
async fn sign_in_form(app: &TestApp, form: &[(&str, &str)]) -> (u16, String, String, String) {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser
        .post(app.url("/sign-in"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let header = |name: &str| {
        r.headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let location = header("location").join("");
    let cookie = header("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("portal_session="))
        .unwrap_or_default();
    (status, location, cookie, r.text().await.unwrap())
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let from = page
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {page}"))
        + marker.len();
    page[from..].split('"').next().unwrap().to_owned()
}

async fn a_browser_sign_in_asks_for_the_code_on_a_page_of_its_own(app: &TestApp) {
    let enrolled = enrol_totp(&app.client, &app.base, &app.token).await;
    let password = [
        ("username", ADMIN),
        ("password", ADMIN_PASSWORD),
        ("next", "/tenants"),
    ];
    let (status, _, cookie, page) = sign_in_form(app, &password).await;
    assert_eq!(status, 200, "{page}");
    assert!(cookie.is_empty(), "no session before the code");
    assert!(page.contains("autocomplete=\"one-time-code\""), "{page}");
    assert!(
        !page.contains(ADMIN_PASSWORD),
        "the password is not carried"
    );
    let challenge = hidden(&page, "challenge");
    assert_eq!(hidden(&page, "next"), "/tenants");

    let wrong = [
        ("challenge", challenge.as_str()),
        ("code", "000000"),
        ("next", "/tenants"),
    ];
    let (status, _, cookie, page) = sign_in_form(app, &wrong).await;
    assert_eq!(status, 401, "{page}");
    assert!(cookie.is_empty());
    assert!(
        page.contains("The code is wrong or was used already"),
        "{page}"
    );
    let code = totp_next(&enrolled.secret);
    let right = [
        ("challenge", challenge.as_str()),
        ("code", code.as_str()),
        ("next", "/tenants"),
    ];
    let (status, location, cookie, _) = sign_in_form(app, &right).await;
    assert_eq!((status, location.as_str()), (303, "/tenants"));
    assert!(!cookie.is_empty());
    // The waiting sign-in is used up.
    let (status, _, _, page) = sign_in_form(app, &right).await;
    assert_eq!(status, 401);
    assert!(page.contains("sign in again"), "{page}");
    // This session passed a second factor: it may make a personal token.
    let session = cookie.split(';').next().unwrap();
    let account = app.page_with("/account", session).await;
    assert!(account.contains("action=\"/account/tokens\""), "{account}");

    // Three wrong codes end a waiting sign-in, even with a right code after them.
    let (_, _, _, page) = sign_in_form(app, &password).await;
    let challenge = hidden(&page, "challenge");
    for _ in 0..3 {
        let wrong = [("challenge", challenge.as_str()), ("code", "999999")];
        assert_eq!(sign_in_form(app, &wrong).await.0, 401);
    }
    let recovery = [
        ("challenge", challenge.as_str()),
        ("code", enrolled.recovery_codes[0].as_str()),
    ];
    let (status, _, cookie, page) = sign_in_form(app, &recovery).await;
    assert_eq!(status, 401, "{page}");
    assert!(cookie.is_empty());
    assert!(page.contains("too many wrong codes"), "{page}");
    // A made-up waiting sign-in is no way in.
    let made_up = [
        ("challenge", "0".repeat(64)),
        ("code", enrolled.recovery_codes[0].clone()),
    ];
    let made_up: Vec<(&str, &str)> = made_up.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(sign_in_form(app, &made_up).await.0, 401);
    // The recovery code was not spent by the refused tries. (The password step and three
    // wrong codes were counted against this client: one more try is all it has now.)
    let (status, signed_in) =
        login(app, json!({"recovery_code": enrolled.recovery_codes[0]})).await;
    assert_eq!(status, 200, "{signed_in}");
}

async fn sessions_follow_the_policys_lifetimes_and_polls_do_not_keep_them(app: &TestApp) {
    assert_eq!(set_policy(app, &app.token, &[], 5, 1).await.0, 200);
    let (status, _, cookie, _) =
        sign_in_form(app, &[("username", ADMIN), ("password", ADMIN_PASSWORD)]).await;
    assert_eq!(status, 303);
    assert!(cookie.contains("Max-Age=3600"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    assert!(
        app.page_with("/account", &session)
            .await
            .contains("My account")
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A page polling by itself is answered, but does not count as activity: four minutes
    // after the person's last view and two more minutes of polls, the session is over.
    idle_for(app, 240_000).await;
    for _ in 0..3 {
        assert_eq!(
            view(app, &browser, &session, true).await,
            200,
            "a poll within the idle time"
        );
    }
    idle_for(app, 120_000).await;
    assert_eq!(
        view(app, &browser, &session, true).await,
        303,
        "polls kept the session alive"
    );
    // A person's view does count: signed in again, four idle minutes, a view, four more.
    let (_, _, cookie, _) =
        sign_in_form(app, &[("username", ADMIN), ("password", ADMIN_PASSWORD)]).await;
    let session = cookie.split(';').next().unwrap().to_owned();
    idle_for(app, 240_000).await;
    assert_eq!(view(app, &browser, &session, false).await, 200);
    idle_for(app, 240_000).await;
    assert_eq!(
        view(app, &browser, &session, true).await,
        200,
        "the person's view counted"
    );
    // Six minutes without use: over.
    idle_for(app, 360_000).await;
    let r = browser
        .get(app.url("/account"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "an idle session ends");
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/sign-in")
    );
}

/// The status of `/account` for the session `cookie`, asked by a person or, with `poll`, by
/// the page's own script polling for progress (what it sends then).
async fn view(app: &TestApp, browser: &reqwest::Client, cookie: &str, poll: bool) -> u16 {
    let mut r = browser.get(app.url("/account")).header("cookie", cookie);
    if poll {
        r = r.header("x-portal-poll", "1");
    }
    r.send().await.unwrap().status().as_u16()
}

/// Moves every session's last sight `ms` milliseconds into the past.
async fn idle_for(app: &TestApp, ms: i64) {
    let pool = sqlx::AnyPool::connect(app.database_url()).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sessions SET last_seen_at = last_seen_at - {ms}"
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

/// A passkey as the store keeps it, for the pages that rename and remove one (signing in with
/// one is the browser tests' part).
async fn stored_passkey(app: &TestApp, name: &str) -> String {
    let me = me(app, &app.token).await;
    let row = portal_store::passkey::PasskeyRow {
        id: portal_store::new_id(),
        user_id: me["id"].as_str().unwrap().to_owned(),
        credential_id: format!("credential-of-{name}"),
        name: name.to_owned(),
        passkey: "{}".to_owned(),
        created_at: portal_store::now_ms(),
        last_used_at: None,
    };
    let audit = portal_store::audit::AuditEntry {
        actor_id: None,
        actor_name: None,
        tenant_id: None,
        action: portal_domain::AuditAction::PasskeyAdded,
        subject: None,
        detail: None,
        client: None,
    };
    assert!(app.store.add_passkey(&row, None, &audit).await.unwrap());
    assert!(
        !app.store.add_passkey(&row, None, &audit).await.unwrap(),
        "once per credential"
    );
    row.id
}

async fn passkeys_are_renamed_and_removed_but_never_the_last_required_factor(app: &TestApp) {
    // A session that set up an authenticator app has passed a second factor; one that has
    // not may manage no factor once the account has one.
    let cookie = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    let other = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |cookie: &str, path: String, form: Vec<(&'static str, String)>| {
        browser
            .post(app.url(&path))
            .header("cookie", cookie.to_owned())
            .form(&form)
            .send()
    };
    assert_eq!(
        post(&cookie, "/account/two-factor/totp".into(), vec![])
            .await
            .unwrap()
            .status(),
        303
    );
    let setup = app.page_with("/account/two-factor", &cookie).await;
    let from = setup.find("<code id=\"totp-secret\">").unwrap() + "<code id=\"totp-secret\">".len();
    let secret = setup[from..].split('<').next().unwrap().to_owned();
    let confirm = vec![("code", totp_now(&secret))];
    let confirmed = post(&cookie, "/account/two-factor/totp/confirm".into(), confirm)
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    let id = stored_passkey(app, "Work laptop").await;

    let refused = post(
        &other,
        format!("/account/passkeys/{id}/rename"),
        vec![("name", "Mine".into())],
    )
    .await
    .unwrap();
    assert_eq!(
        refused.status(),
        403,
        "a session that passed no second factor"
    );
    let r = post(
        &cookie,
        format!("/account/passkeys/{id}/rename"),
        vec![("name", " ".into())],
    )
    .await
    .unwrap();
    assert_eq!(
        r.headers()["location"],
        "/account/two-factor?done=passkey-name-refused"
    );
    let r = post(
        &cookie,
        format!("/account/passkeys/{id}/rename"),
        vec![("name", "Home desktop".into())],
    )
    .await
    .unwrap();
    assert_eq!(
        r.headers()["location"],
        "/account/two-factor?done=passkey-renamed"
    );
    let page = app.page_with("/account/two-factor", &cookie).await;
    assert!(
        page.contains("Home desktop") && !page.contains("Work laptop"),
        "{page}"
    );
    let r = post(
        &cookie,
        "/account/passkeys/no-such-passkey/remove".into(),
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 404);

    // Required for landlord admins: with the app beside it, the app may go; then the passkey,
    // the last factor, stays.
    assert_eq!(
        set_policy(app, &app.token, &["landlord_admin"], 30, 12)
            .await
            .0,
        200
    );
    let remove_app = vec![("password", ADMIN_PASSWORD.to_owned())];
    let r = post(
        &cookie,
        "/account/two-factor/totp/remove".into(),
        remove_app,
    )
    .await
    .unwrap();
    assert_eq!(r.headers()["location"], "/account/two-factor?done=removed");
    let r = post(&cookie, format!("/account/passkeys/{id}/remove"), vec![])
        .await
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        "/account/two-factor?done=passkey-last"
    );
    assert_eq!(set_policy(app, &app.token, &[], 30, 12).await.0, 200);
    let r = post(&cookie, format!("/account/passkeys/{id}/remove"), vec![])
        .await
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        "/account/two-factor?done=passkey-removed"
    );
    let page = app.page_with("/account/two-factor", &cookie).await;
    assert!(page.contains("You have no passkeys."), "{page}");
    let actions = audit_actions(app).await;
    assert!(
        actions.contains(&"passkey_removed".to_owned()),
        "{actions:?}"
    );
}

async fn the_security_policy_page_saves_roles_and_lifetimes_and_names_bad_values(app: &TestApp) {
    let cookie = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    let page = app.page_with("/settings/security", &cookie).await;
    assert!(page.contains("value=\"landlord_admin\""), "{page}");
    assert!(page.contains("value=\"30\""), "{page}");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let send = |form: &'static [(&'static str, &'static str)]| {
        browser
            .post(app.url("/settings/security"))
            .header("cookie", &cookie)
            .form(form)
            .send()
    };
    let bad = send(&[
        ("mfa_required_for", "tenant_admin"),
        ("session_idle_minutes", "soon"),
        ("session_max_hours", "0"),
    ])
    .await
    .unwrap();
    assert_eq!(bad.status(), 422);
    let text = bad.text().await.unwrap();
    assert!(
        text.contains("Minutes a session lasts without use must be a whole number."),
        "{text}"
    );
    assert!(
        text.contains("checked"),
        "what was ticked stays ticked: {text}"
    );
    let saved = send(&[
        ("mfa_required_for", "tenant_admin"),
        ("mfa_required_for", "landlord_operator"),
        ("session_idle_minutes", "45"),
        ("session_max_hours", "8"),
    ])
    .await
    .unwrap();
    assert_eq!(saved.status(), 303);
    let (_, policy) = call(
        app,
        Method::GET,
        "/api/v1/settings/security",
        &app.token,
        None,
    )
    .await;
    assert_eq!(
        policy,
        json!({"mfa_required_for": ["landlord_operator", "tenant_admin"], "session_idle_minutes": 45, "session_max_hours": 8})
    );
}

/// Starting passkey sign-ins by user name tells whether a name has passkeys, so one client
/// may start only thirty in ten minutes.
async fn asking_which_names_have_passkeys_is_held_back(app: &TestApp) {
    let ask = || {
        app.client
            .post(app.url("/sign-in/passkey/options"))
            .json(&json!({"username": "someone@provider.example"}))
            .send()
    };
    for _ in 0..30 {
        assert_ne!(ask().await.unwrap().status(), 429);
    }
    let held = ask().await.unwrap();
    assert_eq!(held.status(), 429);
    assert!(held.headers().contains_key("retry-after"));
}
