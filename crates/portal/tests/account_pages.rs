//! The account pages over HTTP, as a browser that follows no redirect sees them: the pages of
//! set-password links saying why a link does nothing, asking for a reset alike for anyone, a
//! password typed by staff changed before any other page, the staff's Accounts page and a
//! tenant's People page offering only what the role may do, and My account's sessions and
//! personal tokens. Each test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use std::time::Duration;

use common::{
    ADMIN, ADMIN_PASSWORD, Db, TENANT_PASSWORD, TestApp, eventually, spawn_app, submission,
};
use serde_json::{Value, json};

on_both!(
    link_pages_say_whether_a_link_is_unknown_used_or_expired,
    an_invitation_page_checks_the_password_then_sets_it_once,
    asking_for_a_reset_answers_alike_and_emails_only_a_real_account,
    a_password_typed_by_staff_is_changed_before_any_other_page,
    the_accounts_page_invites_and_keeps_the_last_landlord_administrator,
    the_accounts_page_offers_each_role_only_what_it_may_do,
    a_tenant_administrator_invites_its_own_tenants_people_on_the_people_page,
    my_account_lists_the_sessions_and_ends_another_one,
    a_personal_token_is_shown_once_works_and_is_revoked,
    a_reading_role_is_offered_no_change_on_any_page,
);

/// The password invited people choose (and tenant admins change to), and another one.
const PASSWORD: &str = "Copper-Meadow-Violin-77";
const NEW_PASSWORD: &str = "Silent-Orchard-Kettle-93";
const OPS: &str = "olive.ops@provider.example";
const VERA: &str = "vera.viewer@provider.example";
const SAM: &str = "sam.super@kenton.example";
/// Where every page sends a user whose password must be changed first.
const CHANGE_FIRST: &str = "/account?done=change-required";

/// What a browser that follows no redirect gets: the status, where it is sent, the page.
struct Answer {
    status: u16,
    location: String,
    text: String,
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn answer(request: reqwest::RequestBuilder, cookie: Option<&str>) -> Answer {
    let request = match cookie {
        Some(c) => request.header("cookie", c),
        None => request,
    };
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    Answer {
        status,
        location,
        text,
    }
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Answer {
    answer(browser().get(app.url(path)), cookie).await
}

async fn post(app: &TestApp, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Answer {
    answer(browser().post(app.url(path)).form(form), cookie).await
}

/// Invites someone through the API as the landlord admin; the new account's id.
async fn api_invite(app: &TestApp, body: Value) -> String {
    let r = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let user: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{user}");
    user["id"].as_str().unwrap().to_owned()
}

/// The token of the link at `path` (`/invitation/`) in the newest `kind` email to `to` in
/// the outbox, if there is one.
async fn mailed_token(app: &TestApp, to: &str, kind: &str, path: &str) -> Option<String> {
    let mail = app
        .store
        .list_mail(1000)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.kind == kind && m.recipient.eq_ignore_ascii_case(to))?;
    let at = mail.body_text.find(path)? + path.len();
    let token: String = mail.body_text[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(token.len(), 64, "{}", mail.body_text);
    Some(token)
}

async fn invitation_token(app: &TestApp, to: &str) -> String {
    mailed_token(app, to, "invitation", "/invitation/")
        .await
        .unwrap_or_else(|| panic!("an invitation to {to} in the outbox"))
}

/// Accepts an invitation through the API.
async fn accept(app: &TestApp, token: &str, password: &str) {
    let r = app
        .client
        .post(app.url("/api/v1/auth/invitations/accept"))
        .json(&json!({"token": token, "password": password}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(status, 204, "{}", r.text().await.unwrap());
}

/// Invites `email` with the landlord role `role` and accepts with `PASSWORD`: the account's id.
async fn invited_and_accepted(app: &TestApp, email: &str, role: &str) -> String {
    let id = api_invite(app, json!({"email": email, "role": role})).await;
    accept(app, &invitation_token(app, email).await, PASSWORD).await;
    id
}

/// A tenant called `name` provisioned from a staff request, so that its administrator's
/// password was typed by staff: the tenant's id and the administrator's login.
async fn provisioned(app: &TestApp, name: &str) -> (String, String) {
    let r = app.submit(&submission(name)).await;
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_pending_jobs().await;
    let path = format!("/api/v1/subscription-requests/{id}");
    let request: Value = app.get(&path, &app.token).await.json().await.unwrap();
    assert_eq!(request["status"], "completed", "{request}");
    let login = format!("prpkeAdmin@{}.example.com", name.to_lowercase());
    (request["tenant_id"].as_str().unwrap().to_owned(), login)
}

/// How many accounts there are.
async fn user_count(app: &TestApp) -> usize {
    let list: Value = app
        .get("/api/v1/users", &app.token)
        .await
        .json()
        .await
        .unwrap();
    list["items"].as_array().unwrap().len()
}

/// The ids in the page's form actions `{prefix}{id}{suffix}`.
fn ids_in(page: &str, prefix: &str, suffix: &str) -> Vec<String> {
    page.match_indices(prefix)
        .filter_map(|(at, _)| {
            let rest = &page[at + prefix.len()..];
            let end = rest.find('"')?;
            rest[..end].strip_suffix(suffix).map(str::to_owned)
        })
        .collect()
}

/// The table row of the account `username` on an Accounts or People page.
fn row_of<'a>(page: &'a str, username: &str) -> &'a str {
    let start = page
        .find(&format!("<tr><td><bdi>{username}</bdi>"))
        .unwrap_or_else(|| panic!("a row for {username} in {page}"));
    let end = page[start..]
        .find("</tr>")
        .map_or(page.len(), |e| start + e);
    &page[start..end]
}

/// The text between `start` and the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {text}"))
        + start.len();
    let to = from + text[from..].find(end).unwrap();
    &text[from..to]
}

/// Checks an answer's status, and that its page says `words`.
fn says(answer: &Answer, status: u16, words: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert!(answer.text.contains(words), "{words:?} in {}", answer.text);
}

/// The form of a set-password page.
fn passwords<'a>(password: &'a str, confirm: &'a str) -> [(&'static str, &'a str); 2] {
    [("password", password), ("confirm_password", confirm)]
}

async fn link_pages_say_whether_a_link_is_unknown_used_or_expired(app: &TestApp) {
    let unknown = "0".repeat(64);
    for path in [
        format!("/invitation/{unknown}"),
        format!("/password-reset/{unknown}"),
    ] {
        says(&get(app, &path, None).await, 404, "This link is not known");
    }

    api_invite(app, json!({"email": OPS, "role": "landlord_operator"})).await;
    let used = invitation_token(app, OPS).await;
    accept(app, &used, PASSWORD).await;
    let path = format!("/invitation/{used}");
    says(&get(app, &path, None).await, 410, "This link has been used");
    let form = passwords(NEW_PASSWORD, NEW_PASSWORD);
    let again = post(app, &path, None, &form).await;
    says(&again, 410, "This link has been used");
    assert_eq!(app.login(OPS, NEW_PASSWORD).await.status(), 401);

    let vera = api_invite(app, json!({"email": VERA, "role": "landlord_viewer"})).await;
    let expired = invitation_token(app, VERA).await;
    let path = format!("/invitation/{expired}");
    says(&get(app, &path, None).await, 200, "Choose your password");
    app.execute_sql(&format!(
        "UPDATE account_links SET expires_at = 1 WHERE user_id = '{vera}'"
    ))
    .await;
    says(&get(app, &path, None).await, 410, "This link has expired");
    let late = post(app, &path, None, &form).await;
    says(&late, 410, "This link has expired");
    assert_eq!(app.login(VERA, NEW_PASSWORD).await.status(), 401);
    // An invitation's link is no reset link.
    let reset = get(app, &format!("/password-reset/{expired}"), None).await;
    says(&reset, 404, "This link is not known");
}

async fn an_invitation_page_checks_the_password_then_sets_it_once(app: &TestApp) {
    api_invite(app, json!({"email": OPS, "role": "landlord_operator"})).await;
    let path = format!("/invitation/{}", invitation_token(app, OPS).await);
    let form = get(app, &path, None).await;
    says(&form, 200, "Choose your password");
    says(&form, 200, &format!("value=\"{OPS}\""));
    says(
        &form,
        200,
        &format!("<form method=\"post\" action=\"{path}\""),
    );
    says(&form, 200, "name=\"confirm_password\"");

    let mismatched = post(app, &path, None, &passwords(PASSWORD, NEW_PASSWORD)).await;
    says(&mismatched, 422, "The password was not set");
    says(&mismatched, 422, "the two do not match");
    let weak = post(app, &path, None, &passwords("password1234", "password1234")).await;
    says(&weak, 422, "The password was not set");
    says(&weak, 422, "too common or too easy to guess");
    assert!(!weak.text.contains("password1234"), "not echoed");

    let good = passwords(PASSWORD, PASSWORD);
    let set = post(app, &path, None, &good).await;
    says(&set, 200, "Your password is set");
    says(&set, 200, &format!("Sign in as {OPS}"));
    let cookie = app.page_session(OPS, PASSWORD).await;
    says(
        &get(app, "/account", Some(&cookie)).await,
        200,
        "Landlord operator",
    );
    let again = post(app, &path, None, &good).await;
    says(&again, 410, "has been used");
}

async fn asking_for_a_reset_answers_alike_and_emails_only_a_real_account(app: &TestApp) {
    invited_and_accepted(app, OPS, "landlord_operator").await;
    let form = get(app, "/password-reset", None).await;
    says(&form, 200, "Forgot your password");
    says(
        &form,
        200,
        "<form method=\"post\" action=\"/password-reset\">",
    );
    says(&form, 200, "name=\"login\"");

    let nobody = [("login", "nobody@provider.example")];
    let nobody = post(app, "/password-reset", None, &nobody).await;
    let real = post(app, "/password-reset", None, &[("login", OPS)]).await;
    says(&real, 202, "Check your email");
    assert_eq!(nobody.status, real.status);
    assert_eq!(nobody.text, real.text, "the same page for anyone");
    let token = eventually(Duration::from_secs(20), "the reset email", || async move {
        mailed_token(app, OPS, "password_reset", "/password-reset/").await
    })
    .await;
    // A grace for the unknown login, also looked up after the answer.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mail = app.store.list_mail(1000).await.unwrap();
    let resets = mail.iter().filter(|m| m.kind == "password_reset").count();
    assert_eq!(resets, 1, "only the real account gets a reset email");

    let path = format!("/password-reset/{token}");
    says(&get(app, &path, None).await, 200, "Choose a new password");
    let set = post(app, &path, None, &passwords(NEW_PASSWORD, NEW_PASSWORD)).await;
    says(&set, 200, "Your password is set");
    assert_eq!(app.login(OPS, PASSWORD).await.status(), 401);
    app.login_token(OPS, NEW_PASSWORD).await;
}

/// Posts the form that changes one's own password.
async fn change(app: &TestApp, cookie: &str, current: &str, new: &str, confirm: &str) -> Answer {
    let form = [
        ("current_password", current),
        ("new_password", new),
        ("confirm_password", confirm),
    ];
    post(app, "/account/password", Some(cookie), &form).await
}

async fn a_password_typed_by_staff_is_changed_before_any_other_page(app: &TestApp) {
    let (_, login) = provisioned(app, "KentonElectronics").await;
    let cookie = app.page_session(&login, TENANT_PASSWORD).await;
    for path in ["/", "/tenants", "/audit"] {
        let page = get(app, path, Some(&cookie)).await;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.location, CHANGE_FIRST, "{path}");
    }
    let account = get(app, CHANGE_FIRST, Some(&cookie)).await;
    says(&account, 200, "Your password was set by someone else");
    says(&account, 200, "action=\"/account/password\"");

    let wrong = change(app, &cookie, "Not-The-Password-11", PASSWORD, PASSWORD).await;
    says(&wrong, 422, "The current password is wrong.");
    let mismatched = change(app, &cookie, TENANT_PASSWORD, PASSWORD, NEW_PASSWORD).await;
    says(&mismatched, 422, "the two do not match");
    let still = get(app, "/", Some(&cookie)).await;
    assert_eq!((still.status, still.location.as_str()), (303, CHANGE_FIRST));

    let changed = change(app, &cookie, TENANT_PASSWORD, PASSWORD, PASSWORD).await;
    assert_eq!(changed.status, 303, "{}", changed.text);
    assert_eq!(changed.location, "/account?done=password");
    let account = get(app, "/account?done=password", Some(&cookie)).await;
    says(&account, 200, "Your password is changed.");
    says(&get(app, "/", Some(&cookie)).await, 200, "Your tenant");
    assert_eq!(app.login(&login, TENANT_PASSWORD).await.status(), 401);
    app.login_token(&login, PASSWORD).await;
}

async fn the_accounts_page_invites_and_keeps_the_last_landlord_administrator(app: &TestApp) {
    let cookie = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    let page = get(app, "/accounts", Some(&cookie)).await;
    says(&page, 200, "Invite someone");
    says(&page, 200, "action=\"/accounts/invite\"");
    assert!(row_of(&page.text, ADMIN).contains("value=\"disabled\""));

    let before = user_count(app).await;
    let bad = [("email", "not-an-address"), ("role", "landlord_viewer")];
    let refused = post(app, "/accounts/invite", Some(&cookie), &bad).await;
    says(&refused, 422, "Nobody was invited");
    says(&refused, 422, "id=\"error-summary\"");
    says(&refused, 422, "id=\"email-error\"");
    says(&refused, 422, "value=\"not-an-address\"");
    assert_eq!(user_count(app).await, before, "nothing stored");

    let good = [("email", VERA), ("role", "landlord_viewer")];
    let invited = post(app, "/accounts/invite", Some(&cookie), &good).await;
    assert_eq!(invited.status, 303, "{}", invited.text);
    assert_eq!(invited.location, "/accounts?done=invited");
    let list = get(app, "/accounts", Some(&cookie)).await.text;
    let row = row_of(&list, VERA);
    assert!(row.contains(">Invited</td>"), "{row}");
    assert!(row.contains("Send invitation again"), "{row}");
    assert_eq!(user_count(app).await, before + 1);
    invitation_token(app, VERA).await;

    let me: Value = app
        .get("/api/v1/me", &app.token)
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/accounts/{}", me["id"].as_str().unwrap());
    let disable = [("status", "disabled"), ("back", "/accounts")];
    let kept = post(app, &path, Some(&cookie), &disable).await;
    says(&kept, 409, "last active landlord administrator");
    assert_eq!(app.get("/api/v1/me", &app.token).await.status(), 200);
    assert_eq!(get(app, "/accounts", Some(&cookie)).await.status, 200);
}

async fn the_accounts_page_offers_each_role_only_what_it_may_do(app: &TestApp) {
    invited_and_accepted(app, OPS, "landlord_operator").await;
    api_invite(app, json!({"email": VERA, "role": "landlord_viewer"})).await;
    let cookie = app.page_session(OPS, PASSWORD).await;
    let page = get(app, "/accounts", Some(&cookie)).await;
    assert_eq!(page.status, 200);
    assert!(row_of(&page.text, ADMIN).contains("Landlord administrator"));
    assert!(row_of(&page.text, VERA).contains(">Invited</td>"));
    for offer in [
        "Invite someone",
        "action=\"/accounts/invite\"",
        "value=\"disabled\"",
        ">Disable<",
        "Send invitation again",
        "Change role",
    ] {
        assert!(
            !page.text.contains(offer),
            "an operator is offered {offer:?}"
        );
    }
    let before = user_count(app).await;
    let nina = [
        ("email", "nina@provider.example"),
        ("role", "landlord_viewer"),
    ];
    let refused = post(app, "/accounts/invite", Some(&cookie), &nina).await;
    says(&refused, 403, "Not allowed");
    assert_eq!(user_count(app).await, before, "nothing stored");

    let (_, login) = provisioned(app, "KentonElectronics").await;
    app.settle_password(&login).await;
    let tenant = app.page_session(&login, TENANT_PASSWORD).await;
    says(
        &get(app, "/accounts", Some(&tenant)).await,
        403,
        "Not allowed",
    );
}

/// Checks what a tenant administrator's People page offers: its tenant's two roles only.
fn offers_the_tenant_roles(page: &Answer, login: &str) {
    says(page, 200, "People of KentonElectronics");
    assert!(row_of(&page.text, login).contains("Tenant administrator"));
    let form = &page.text[page.text.find("Invite someone").unwrap()..];
    assert!(form.contains("<option value=\"tenant_admin\">Tenant administrator</option>"));
    assert!(form.contains("<option value=\"tenant_supervisor\">Tenant supervisor</option>"));
    assert!(form.contains("name=\"user_name\""));
    assert!(!page.text.contains("value=\"landlord_"), "no landlord role");
}

async fn a_tenant_administrator_invites_its_own_tenants_people_on_the_people_page(app: &TestApp) {
    let (own, login) = provisioned(app, "KentonElectronics").await;
    let (other, _) = provisioned(app, "HarbourLights").await;
    app.settle_password(&login).await;
    let cookie = app.page_session(&login, TENANT_PASSWORD).await;
    let path = format!("/tenants/{own}/people");
    offers_the_tenant_roles(&get(app, &path, Some(&cookie)).await, &login);

    let sam = [
        ("email", SAM),
        ("role", "tenant_supervisor"),
        ("user_name", "keSuper"),
    ];
    let elsewhere = format!("/tenants/{other}/people");
    assert_eq!(get(app, &elsewhere, Some(&cookie)).await.status, 404);
    let refused = post(app, &format!("{elsewhere}/invite"), Some(&cookie), &sam).await;
    assert_eq!(refused.status, 404);
    let invited = post(app, &format!("{path}/invite"), Some(&cookie), &sam).await;
    assert_eq!(invited.status, 303, "{}", invited.text);
    assert_eq!(invited.location, format!("{path}?done=invited"));
    let supervisor = "prpkeSuper@kentonelectronics.example.com";
    let list = get(app, &path, Some(&cookie)).await.text;
    let row = row_of(&list, supervisor);
    assert!(row.contains("Tenant supervisor"), "{row}");
    assert!(row.contains(">Invited</td>"), "{row}");

    accept(app, &invitation_token(app, SAM).await, PASSWORD).await;
    let theirs = app.page_session(supervisor, PASSWORD).await;
    let page = get(app, &path, Some(&theirs)).await;
    says(&page, 200, "People of KentonElectronics");
    assert!(row_of(&page.text, &login).contains("Tenant administrator"));
    assert!(row_of(&page.text, supervisor).contains("<td>Active</td>"));
    assert!(!page.text.contains("Invite someone"));
    assert!(!page.text.contains("/people/invite"));
    let refused = post(app, &format!("{path}/invite"), Some(&theirs), &sam).await;
    says(&refused, 403, "Not allowed");
}

/// The rows of browser sessions on My account.
fn browser_rows(page: &str) -> usize {
    page.matches("<tr><td>Browser</td>").count()
}

async fn my_account_lists_the_sessions_and_ends_another_one(app: &TestApp) {
    invited_and_accepted(app, OPS, "landlord_operator").await;
    let first = app.page_session(OPS, PASSWORD).await;
    let second = app.page_session(OPS, PASSWORD).await;
    assert_ne!(first, second);
    let page = get(app, "/account", Some(&first)).await;
    says(&page, 200, "Where you are signed in");
    assert_eq!(browser_rows(&page.text), 2, "{}", page.text);
    assert_eq!(page.text.matches("This session").count(), 1);
    assert_eq!(page.text.matches("Sign out this one").count(), 1);
    let others = ids_in(&page.text, "action=\"/account/sessions/", "/end");
    assert_eq!(others.len(), 1, "{}", page.text);

    let path = format!("/account/sessions/{}/end", others[0]);
    let ended = post(app, &path, Some(&first), &[]).await;
    assert_eq!(ended.status, 303, "{}", ended.text);
    assert_eq!(ended.location, "/account?done=ended");
    let gone = get(app, "/account", Some(&second)).await;
    assert_eq!(gone.status, 303);
    assert!(gone.location.starts_with("/sign-in"), "{}", gone.location);
    let kept = get(app, "/account?done=ended", Some(&first)).await;
    says(&kept, 200, "That session has ended.");
    says(&kept, 200, "This session");
    assert_eq!(browser_rows(&kept.text), 1, "{}", kept.text);
}

async fn a_personal_token_is_shown_once_works_and_is_revoked(app: &TestApp) {
    let cookie = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    // A sign-in without a second factor makes no token: the page says how to get one.
    let page = get(app, "/account", Some(&cookie)).await;
    says(
        &page,
        200,
        "Tokens are made only from a sign-in with two-step sign-in",
    );
    assert!(
        !page.text.contains("action=\"/account/tokens\""),
        "{}",
        page.text
    );
    let good = [("name", "deploy script"), ("days", "30")];
    let refused = post(app, "/account/tokens", Some(&cookie), &good).await;
    says(
        &refused,
        403,
        "Only a sign-in that passed a second factor may do this.",
    );
    // Setting up an authenticator app on its page: the key and its QR code, then a first code.
    let started = post(app, "/account/two-factor/totp", Some(&cookie), &[]).await;
    assert_eq!(started.status, 303, "{}", started.text);
    let setup = get(app, "/account/two-factor", Some(&cookie)).await;
    says(
        &setup,
        200,
        "<svg role=\"img\" aria-label=\"QR code of the authenticator app's key\"",
    );
    let secret = between(&setup.text, "<code id=\"totp-secret\">", "</code>").to_owned();
    let wrong = post(
        app,
        "/account/two-factor/totp/confirm",
        Some(&cookie),
        &[("code", "000000")],
    )
    .await;
    says(&wrong, 422, "The code is wrong or was used already");
    let code = common::totp_now(&secret);
    let confirmed = post(
        app,
        "/account/two-factor/totp/confirm",
        Some(&cookie),
        &[("code", &code)],
    )
    .await;
    says(&confirmed, 200, "Your recovery codes");
    assert_eq!(
        confirmed.text.matches("<li><code>").count(),
        10,
        "{}",
        confirmed.text
    );
    let page = get(app, "/account", Some(&cookie)).await;
    says(
        &page,
        200,
        "On: signing in asks for a code from your authenticator app.",
    );

    let zero = [("name", "deploy script"), ("days", "0")];
    let refused = post(app, "/account/tokens", Some(&cookie), &zero).await;
    says(
        &refused,
        422,
        "Days the token works must be a whole number from 1 to 366.",
    );
    says(&refused, 422, "You have no personal tokens.");
    // What was typed is kept for the next try.
    says(&refused, 422, "value=\"deploy script\"");
    says(&refused, 422, "value=\"0\"");

    let made = post(app, "/account/tokens", Some(&cookie), &good).await;
    says(&made, 201, "it is shown this once");
    let token = between(&made.text, "<code id=\"new-token-value\">", "</code>").to_owned();
    assert_eq!(token.len(), 64, "{token}");
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<Value>().await.unwrap()["username"], ADMIN);

    let page = get(app, "/account", Some(&cookie)).await;
    says(&page, 200, "deploy script");
    assert!(!page.text.contains(&token), "shown once only");
    let ids = ids_in(&page.text, "action=\"/account/tokens/", "/revoke");
    assert_eq!(ids.len(), 1, "{}", page.text);
    let path = format!("/account/tokens/{}/revoke", ids[0]);
    let revoked = post(app, &path, Some(&cookie), &[]).await;
    assert_eq!(revoked.status, 303, "{}", revoked.text);
    assert_eq!(revoked.location, "/account?done=revoked");
    assert_eq!(app.get("/api/v1/me", &token).await.status(), 401);
    let page = get(app, "/account?done=revoked", Some(&cookie)).await;
    says(&page, 200, "The token is revoked");
    says(&page, 200, "You have no personal tokens.");
}

/// A viewer and a tenant's supervisor read the same pages as those who change things, without
/// a button or link that would end in "Not allowed".
async fn a_reading_role_is_offered_no_change_on_any_page(app: &TestApp) {
    let (tenant, login) = provisioned(app, "KentonElectronics").await;
    let request: Value = app
        .get("/api/v1/subscription-requests?limit=1", &app.token)
        .await
        .json()
        .await
        .unwrap();
    let request = request["items"][0]["id"].as_str().unwrap().to_owned();
    invited_and_accepted(app, VERA, "landlord_viewer").await;
    let viewer = app.page_session(VERA, PASSWORD).await;
    let pages = [
        (
            "/".to_owned(),
            vec!["href=\"/register\"", "href=\"/settings\""],
        ),
        (format!("/requests/{request}"), vec!["class=\"actions\""]),
        ("/templates".to_owned(), vec!["/templates/new"]),
        (
            "/templates/voice-essentials".to_owned(),
            vec!["/edit", "/retire", "toggle-public"],
        ),
        (
            format!("/tenants/{tenant}/smart-queues"),
            vec!["save-draft", "/copy"],
        ),
        (
            "/accounts".to_owned(),
            vec!["/accounts/invite", ">Disable<"],
        ),
    ];
    for (path, offers) in &pages {
        let page = get(app, path, Some(&viewer)).await;
        assert_eq!(page.status, 200, "{path}");
        for offer in offers {
            assert!(
                !page.text.contains(offer),
                "a viewer is offered {offer:?} on {path}"
            );
        }
    }
    // The landlord admin is offered them, so the test looks where the offers are.
    let admin = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    let template = get(app, "/templates/voice-essentials", Some(&admin)).await;
    assert!(template.text.contains("toggle-public"));

    app.settle_password(&login).await;
    let own_admin = app.page_session(&login, TENANT_PASSWORD).await;
    let people = format!("/tenants/{tenant}/people/invite");
    let invited = post(
        app,
        &people,
        Some(&own_admin),
        &[
            ("email", SAM),
            ("role", "tenant_supervisor"),
            ("user_name", "keSam"),
        ],
    )
    .await;
    assert_eq!(invited.status, 303);
    accept(app, &invitation_token(app, SAM).await, PASSWORD).await;
    let supervisor = app
        .page_session("prpkeSam@kentonelectronics.example.com", PASSWORD)
        .await;
    let home = get(app, "/", Some(&supervisor)).await;
    assert!(
        home.text.contains("signed in as tenant supervisor"),
        "{}",
        home.text
    );
    let parameters = get(
        app,
        &format!("/tenants/{tenant}/smart-queues"),
        Some(&supervisor),
    )
    .await;
    assert_eq!(parameters.status, 200);
    assert!(!parameters.text.contains("save-draft") && !parameters.text.contains("/copy"));
    let refused = post(
        app,
        &format!("/tenants/{tenant}/smart-queues/draft"),
        Some(&supervisor),
        &[("callback_folder_email", "cb@kenton.example")],
    )
    .await;
    says(&refused, 403, "Not allowed");
}
