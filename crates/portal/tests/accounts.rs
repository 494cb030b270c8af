//! People and credentials through the API: invitations emailed over real SMTP (a server of the
//! test's own, mailin-embedded) and accepted once, what each role may invite, passwords typed
//! by staff changed first, passwords changed and reset by single-use links, accounts disabled
//! and enabled, the last landlord administrator kept, sessions and personal tokens listed and
//! ended, and the audit entries naming who did it. Each test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::smtp::{Received, smtp_mailer, smtp_server};
use common::{
    ADMIN, ADMIN_PASSWORD, Db, TENANT_PASSWORD, TestApp, call, eventually, spawn_app_with,
    submission,
};
use reqwest::Method;
use serde_json::{Value, json};

// Every test needs the emails of its own portal, so each starts a portal whose mail goes to an
// SMTP server of its own (`on_both_db!` rather than `on_both!`, whose portal writes a spool).
on_both_db!(
    an_operator_is_invited_by_email_accepts_once_and_works_within_its_role,
    inviting_a_taken_address_or_beyond_ones_role_stores_nothing,
    a_tenant_admin_invites_only_its_own_tenants_people,
    a_password_typed_by_staff_must_be_changed_before_anything_else,
    changing_ones_password_checks_both_and_ends_the_other_sign_ins,
    a_reset_answers_alike_for_anyone_and_emails_only_a_real_active_account,
    an_expired_reset_link_is_refused_and_changes_nothing,
    a_disabled_account_is_shut_out_at_once_and_can_be_enabled_again,
    the_last_landlord_admin_can_be_neither_disabled_nor_demoted,
    two_admins_disabling_each_other_at_once_leave_one_active,
    sessions_are_listed_and_ended_one_by_one_and_by_signing_out,
    personal_tokens_act_as_their_owner_until_revoked,
    invitations_and_role_changes_are_in_the_audit_log_with_their_actor,
    an_administrator_given_by_address_is_invited_when_the_tenant_is_ready,
    a_tenant_admin_cannot_leave_its_tenant_without_an_administrator,
    asking_often_cannot_keep_anothers_reset_from_working,
    wrong_current_passwords_are_held_back_like_failed_sign_ins,
    no_second_factor_is_skipped_by_an_invitation_a_reset_or_a_new_password,
);

type Inbox = Arc<Mutex<Vec<Received>>>;

/// The password invited people choose (and tenant admins change to), and another one.
const PASSWORD: &str = "Copper-Meadow-Violin-77";
const NEW_PASSWORD: &str = "Silent-Orchard-Kettle-93";
const INVITATION: &str = "Subject: You are invited to the Provisioning Portal";
const RESET: &str = "Subject: Reset your Provisioning Portal password";
/// The public address in the links of emails sent through `smtp_mailer`.
const BASE: &str = "https://portal.provider.example";

/// A portal whose mail goes over SMTP to a server of the test's own, and that server's inbox.
async fn portal(db: Db) -> Option<(TestApp, Inbox)> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = smtp_server(listener);
    let app = spawn_app_with(db, |s| s.mailer = Arc::new(smtp_mailer(port))).await?;
    Some((app, inbox))
}

async fn get_json(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    call(app, Method::GET, path, token, None).await
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, Method::POST, path, token, Some(body)).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> u16 {
    call(app, Method::DELETE, path, token, None).await.0
}

async fn patch_user(app: &TestApp, token: &str, id: &str, body: Value) -> (u16, Value) {
    let path = format!("/api/v1/users/{id}");
    call(app, Method::PATCH, &path, token, Some(body)).await
}

/// The status of `GET /api/v1/me` with `token`: 200 while it works, 401 once it has ended.
async fn me_status(app: &TestApp, token: &str) -> u16 {
    get_json(app, "/api/v1/me", token).await.0
}

async fn my_id(app: &TestApp, token: &str) -> String {
    let (status, me) = get_json(app, "/api/v1/me", token).await;
    assert_eq!(status, 200, "{me}");
    me["id"].as_str().unwrap().to_owned()
}

/// The error code of an answer.
fn code(answer: &Value) -> Value {
    answer["error"]["code"].clone()
}

/// The fields an error names, in order.
fn fields(answer: &Value) -> Vec<&str> {
    answer["error"]["fields"]
        .as_array()
        .map(|f| f.iter().map(|f| f["field"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

/// The accounts `token` sees (one page, enough for a test).
async fn users(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, list) = get_json(app, "/api/v1/users", token).await;
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

async fn invite(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    post(app, "/api/v1/users", token, body).await
}

async fn accept(app: &TestApp, token: &str, password: &str) -> (u16, Value) {
    let body = json!({"token": token, "password": password});
    post(app, "/api/v1/auth/invitations/accept", "", body).await
}

async fn change_password(app: &TestApp, token: &str, current: &str, new: &str) -> (u16, Value) {
    let body = json!({"current_password": current, "new_password": new});
    post(app, "/api/v1/me/password", token, body).await
}

/// Asks for a password reset: the status and the body as text.
async fn ask_reset(app: &TestApp, login: &str) -> (u16, String) {
    let r = app
        .client
        .post(app.url("/api/v1/auth/password-reset"))
        .json(&json!({ "login": login }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> (u16, Value) {
    let body = json!({"token": token, "new_password": password});
    post(app, "/api/v1/auth/password-reset/confirm", "", body).await
}

/// Sends what is due (the outbox) and returns the messages with `subject` received for `to`.
async fn mail_for(app: &TestApp, inbox: &Inbox, to: &str, subject: &str) -> Vec<Received> {
    app.run_pending_jobs().await;
    let to = to.to_lowercase();
    inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.to.iter().any(|t| t.to_lowercase().contains(&to)))
        .filter(|m| m.data.contains(subject))
        .cloned()
        .collect()
}

/// Waits for the `n`th message with `subject` to `to` (a reset's is prepared after the
/// answer) and returns it.
async fn nth_mail(app: &TestApp, inbox: &Inbox, to: &str, subject: &str, n: usize) -> Received {
    let what = format!("email {n} {subject:?} to {to}");
    eventually(Duration::from_secs(20), &what, || async move {
        mail_for(app, inbox, to, subject).await.get(n - 1).cloned()
    })
    .await
}

/// The token of the link in `mail` whose path begins with `path` (`/invitation/`), after
/// checking that the link points at the portal's public address.
fn link_token(mail: &Received, path: &str) -> String {
    let text = mail.text();
    let link = mail
        .link(path)
        .unwrap_or_else(|| panic!("a {path} link in {text}"));
    assert!(text.contains(&format!("{BASE}{link}")), "{text}");
    let token = link[path.len()..].to_owned();
    assert!(!token.is_empty(), "{link}");
    token
}

/// The token of the `n`th reset link emailed to `to`.
async fn reset_link(app: &TestApp, inbox: &Inbox, to: &str, n: usize) -> String {
    link_token(
        &nth_mail(app, inbox, to, RESET, n).await,
        "/password-reset/",
    )
}

/// Invites `email` with the landlord role `role` as the landlord admin, accepts the emailed
/// invitation with `PASSWORD` and signs in: the account's id and a token.
async fn invited_and_accepted(
    app: &TestApp,
    inbox: &Inbox,
    email: &str,
    role: &str,
) -> (String, String) {
    let (status, user) = invite(app, &app.token, json!({"email": email, "role": role})).await;
    assert_eq!(status, 201, "{user}");
    let mail = nth_mail(app, inbox, email, INVITATION, 1).await;
    let (status, answer) = accept(app, &link_token(&mail, "/invitation/"), PASSWORD).await;
    assert_eq!(status, 204, "{answer}");
    let token = app.login_token(email, PASSWORD).await;
    (user["id"].as_str().unwrap().to_owned(), token)
}

/// A tenant called `name` provisioned from a staff request: its id and its admin's login.
async fn provisioned(app: &TestApp, name: &str) -> (String, String) {
    let r = app.submit(&submission(name)).await;
    assert_eq!(r.status(), 202);
    let request = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_pending_jobs().await;
    let path = format!("/api/v1/subscription-requests/{request}");
    let (_, request) = get_json(app, &path, &app.token).await;
    assert_eq!(request["status"], "completed", "{request}");
    let login = format!("prpkeAdmin@{}.example.com", name.to_lowercase());
    (request["tenant_id"].as_str().unwrap().to_owned(), login)
}

/// The same, with its admin signed in and the password typed by staff changed to `PASSWORD`:
/// the tenant's id, the admin's login and token.
async fn tenant_admin(app: &TestApp, name: &str) -> (String, String, String) {
    let (tenant, login) = provisioned(app, name).await;
    let token = app.login_token(&login, TENANT_PASSWORD).await;
    let (status, answer) = change_password(app, &token, TENANT_PASSWORD, PASSWORD).await;
    assert_eq!(status, 204, "{answer}");
    (tenant, login, token)
}

async fn an_operator_is_invited_by_email_accepts_once_and_works_within_its_role(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let email = "olive.ops@provider.example";
    let body = json!({"email": email, "role": "landlord_operator"});
    let (status, user) = invite(&app, &app.token, body).await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["status"], "invited");
    assert_eq!(user["role"], "landlord_operator");
    assert_eq!(user["username"], email);
    assert_eq!(user["email"], email);
    assert!(user["tenant_id"].is_null());
    assert_eq!(
        app.login(email, PASSWORD).await.status(),
        401,
        "no password yet"
    );

    let mail = nth_mail(&app, &inbox, email, INVITATION, 1).await;
    assert!(mail.text().contains("admin invited you"), "{}", mail.text());
    let token = link_token(&mail, "/invitation/");
    // Staff reading the outbox see the message, never the link's secret.
    let (_, outbox) = get_json(&app, "/api/v1/mail", &app.token).await;
    let id = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "invitation")
        .expect("the invitation in the outbox")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, shown) = get_json(&app, &format!("/api/v1/mail/{id}"), &app.token).await;
    let text = shown["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("/invitation/(hidden)") && !text.contains(&token),
        "{shown}"
    );
    let (status, answer) = accept(&app, &token, PASSWORD).await;
    assert_eq!(status, 204, "{answer}");
    let listed = users(&app, &app.token).await;
    let olive = listed.iter().find(|u| u["id"] == user["id"]).unwrap();
    assert_eq!(olive["status"], "active");

    let operator = app.login_token(email, PASSWORD).await;
    let path = "/api/v1/subscription-requests";
    let (status, submitted) = post(&app, path, &operator, submission("OliveTenant")).await;
    assert_eq!(status, 202, "{submitted}");
    let (status, refused) = get_json(&app, "/api/v1/settings/provisioning", &operator).await;
    assert_eq!((status, code(&refused)), (403, json!("forbidden")));

    let (status, again) = accept(&app, &token, NEW_PASSWORD).await;
    assert_eq!((status, code(&again)), (410, json!("link_used")));
    assert_eq!(app.login(email, NEW_PASSWORD).await.status(), 401);
    let (status, unknown) = accept(&app, &"0".repeat(64), PASSWORD).await;
    assert_eq!((status, code(&unknown)), (404, json!("not_found")));
    app.finish().await;
}

async fn inviting_a_taken_address_or_beyond_ones_role_stores_nothing(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let email = "olive.ops@provider.example";
    let (_, operator) = invited_and_accepted(&app, &inbox, email, "landlord_operator").await;
    let before = users(&app, &app.token).await.len();
    // The address is taken whatever its case.
    for taken in [email, "Olive.Ops@Provider.Example"] {
        let body = json!({"email": taken, "role": "landlord_viewer"});
        let (status, refused) = invite(&app, &app.token, body).await;
        assert_eq!(status, 409, "{refused}");
        assert_eq!(fields(&refused), ["email"]);
        assert_eq!(refused["error"]["fields"][0]["code"], "email_taken");
    }
    // An operator invites nobody.
    let body = json!({"email": "nina@provider.example", "role": "landlord_viewer"});
    let (status, refused) = invite(&app, &operator, body).await;
    assert_eq!((status, code(&refused)), (403, json!("forbidden")));

    assert_eq!(
        users(&app, &app.token).await.len(),
        before,
        "nothing stored"
    );
    let invitations = mail_for(&app, &inbox, email, INVITATION).await;
    assert_eq!(invitations.len(), 1, "no second invitation");
    let nina = mail_for(&app, &inbox, "nina@provider.example", INVITATION).await;
    assert!(nina.is_empty());
    app.finish().await;
}

async fn a_tenant_admin_invites_only_its_own_tenants_people(db: Db) {
    let Some((app, _inbox)) = portal(db).await else {
        return;
    };
    let (own, _, token) = tenant_admin(&app, "KentonElectronics").await;
    let (other, _) = provisioned(&app, "HarbourLights").await;
    let before = users(&app, &app.token).await.len();

    let body = json!({"email": "lou@kenton.example", "role": "landlord_admin"});
    let (status, refused) = invite(&app, &token, body).await;
    assert_eq!((status, code(&refused)), (403, json!("forbidden")));
    let email = "sam.super@kenton.example";
    let body = json!({"email": email, "role": "tenant_supervisor", "tenant_id": other});
    let (status, refused) = invite(&app, &token, body).await;
    assert_eq!((status, code(&refused)), (404, json!("not_found")));
    assert_eq!(
        users(&app, &app.token).await.len(),
        before,
        "nothing stored"
    );

    let body = json!({"email": email, "role": "tenant_supervisor"});
    let (status, sam) = invite(&app, &token, body).await;
    assert_eq!(status, 201, "{sam}");
    assert_eq!(sam["username"], "prpsamsuper@kentonelectronics.example.com");
    assert_eq!(sam["email"], email);
    assert_eq!(sam["role"], "tenant_supervisor");
    assert_eq!(sam["tenant_id"], own.as_str());
    assert_eq!(sam["status"], "invited");
    // The tenant's admin sees its own tenant's people only: itself and Sam.
    let people = users(&app, &token).await;
    assert_eq!(people.len(), 2, "{people:?}");
    assert!(people.iter().all(|u| u["tenant_id"] == own.as_str()));
    app.finish().await;
}

async fn a_password_typed_by_staff_must_be_changed_before_anything_else(db: Db) {
    let Some((app, _inbox)) = portal(db).await else {
        return;
    };
    let (tenant, login) = provisioned(&app, "KentonElectronics").await;
    let signed_in: Value = app
        .login(&login, TENANT_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        signed_in["user"]["must_change_password"], true,
        "{signed_in}"
    );
    let token = app.login_token(&login, TENANT_PASSWORD).await;
    let earlier = app.login_token(&login, TENANT_PASSWORD).await;
    let (status, me) = get_json(&app, "/api/v1/me", &token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["must_change_password"], true);
    assert_eq!(me["role"], "tenant_admin");
    assert_eq!(me["tenant_id"], tenant.as_str());
    let one = format!("/api/v1/tenants/{tenant}");
    for path in ["/api/v1/tenants", one.as_str(), "/api/v1/users"] {
        let (status, refused) = get_json(&app, path, &token).await;
        assert_eq!(status, 403, "{path}: {refused}");
        assert_eq!(code(&refused), "password_change_required", "{path}");
    }

    let (status, answer) = change_password(&app, &token, TENANT_PASSWORD, PASSWORD).await;
    assert_eq!(status, 204, "{answer}");
    let (_, me) = get_json(&app, "/api/v1/me", &token).await;
    assert_eq!(me["must_change_password"], false);
    let (status, tenants) = get_json(&app, "/api/v1/tenants", &token).await;
    assert_eq!(status, 200, "the token used goes on: {tenants}");
    assert_eq!(tenants["items"][0]["id"], tenant.as_str());
    assert_eq!(
        me_status(&app, &earlier).await,
        401,
        "signed in before the change"
    );
    assert_eq!(app.login(&login, TENANT_PASSWORD).await.status(), 401);
    app.login_token(&login, PASSWORD).await;
    // The landlord admin's own password was not typed by someone else.
    let (_, landlord) = get_json(&app, "/api/v1/me", &app.token).await;
    assert_eq!(landlord["must_change_password"], false);
    app.finish().await;
}

async fn changing_ones_password_checks_both_and_ends_the_other_sign_ins(db: Db) {
    let Some((app, _inbox)) = portal(db).await else {
        return;
    };
    let other = app.login_token(ADMIN, ADMIN_PASSWORD).await;
    let (status, wrong) = change_password(&app, &app.token, "not-the-password", PASSWORD).await;
    assert_eq!(status, 422, "{wrong}");
    assert_eq!(fields(&wrong), ["current_password"]);
    // The user name is `admin`.
    let named = "Admin-Copper-Meadow-Violin-77";
    let (status, refused) = change_password(&app, &app.token, ADMIN_PASSWORD, named).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(fields(&refused), ["new_password"]);
    assert_eq!(refused["error"]["fields"][0]["code"], "weak_password");
    assert_eq!(
        me_status(&app, &other).await,
        200,
        "a refused change ends nothing"
    );
    app.login_token(ADMIN, ADMIN_PASSWORD).await;

    let (status, answer) = change_password(&app, &app.token, ADMIN_PASSWORD, PASSWORD).await;
    assert_eq!(status, 204, "{answer}");
    assert_eq!(me_status(&app, &other).await, 401);
    let (status, listed) = get_json(&app, "/api/v1/users", &app.token).await;
    assert_eq!(status, 200, "the token used goes on: {listed}");
    assert_eq!(app.login(ADMIN, ADMIN_PASSWORD).await.status(), 401);
    app.login_token(ADMIN, PASSWORD).await;
    app.finish().await;
}

const RITA: &str = "rita@provider.example";
const DORA: &str = "dora@provider.example";
const NOBODY: &str = "nobody@provider.example";

async fn a_reset_answers_alike_for_anyone_and_emails_only_a_real_active_account(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let (_, rita) = invited_and_accepted(&app, &inbox, RITA, "landlord_operator").await;
    let (dora, _) = invited_and_accepted(&app, &inbox, DORA, "landlord_viewer").await;
    let (status, _) = patch_user(&app, &app.token, &dora, json!({"status": "disabled"})).await;
    assert_eq!(status, 200);
    let second = app.login_token(RITA, PASSWORD).await;
    // A tenant's administrator made by provisioning has no address to send a link to.
    let (_, tenant_login) = provisioned(&app, "KentonElectronics").await;

    let unknown = ask_reset(&app, NOBODY).await;
    let disabled = ask_reset(&app, DORA).await;
    let tenant_user = ask_reset(&app, &tenant_login).await;
    let real = ask_reset(&app, RITA).await;
    assert_eq!(real.0, 202, "{}", real.1);
    assert_eq!(unknown, real);
    assert_eq!(disabled, real);
    assert_eq!(tenant_user, real);
    let token = reset_link(&app, &inbox, RITA, 1).await;
    // A grace for the other two to be handled (after the answer, like the real one).
    tokio::time::sleep(Duration::from_millis(500)).await;
    for nobody in [NOBODY, DORA, tenant_login.as_str()] {
        let mails = mail_for(&app, &inbox, nobody, RESET).await;
        assert!(mails.is_empty(), "no reset email to {nobody}");
    }

    let (status, answer) = confirm_reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(status, 204, "{answer}");
    assert_eq!(me_status(&app, &rita).await, 401);
    assert_eq!(me_status(&app, &second).await, 401);
    assert_eq!(app.login(RITA, PASSWORD).await.status(), 401);
    app.login_token(RITA, NEW_PASSWORD).await;
    let (status, again) = confirm_reset(&app, &token, "Quiet-Lantern-Harvest-58").await;
    assert_eq!((status, code(&again)), (410, json!("link_used")));
    assert_eq!(mail_for(&app, &inbox, RITA, RESET).await.len(), 1);
    app.finish().await;
}

/// Moves the database's clock past the hour of every unused reset link.
const EXPIRE_RESET_LINKS: &str =
    "UPDATE account_links SET expires_at = 1 WHERE purpose = 'reset' AND used_at IS NULL";

async fn an_expired_reset_link_is_refused_and_changes_nothing(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let (_, rita) = invited_and_accepted(&app, &inbox, RITA, "landlord_viewer").await;
    // A first link is used; a second one is left to expire.
    assert_eq!(ask_reset(&app, RITA).await.0, 202);
    let first = reset_link(&app, &inbox, RITA, 1).await;
    let (status, answer) = confirm_reset(&app, &first, NEW_PASSWORD).await;
    assert_eq!(status, 204, "{answer}");
    assert_eq!(me_status(&app, &rita).await, 401);
    let signed_in = app.login_token(RITA, NEW_PASSWORD).await;

    assert_eq!(ask_reset(&app, RITA).await.0, 202);
    let second = reset_link(&app, &inbox, RITA, 2).await;
    assert_ne!(first, second);
    app.execute_sql(EXPIRE_RESET_LINKS).await;
    let (status, expired) = confirm_reset(&app, &second, PASSWORD).await;
    assert_eq!((status, code(&expired)), (410, json!("link_expired")));
    assert_eq!(me_status(&app, &signed_in).await, 200, "nothing ended");
    assert_eq!(app.login(RITA, PASSWORD).await.status(), 401, "nothing set");
    app.login_token(RITA, NEW_PASSWORD).await;
    app.finish().await;
}

async fn a_disabled_account_is_shut_out_at_once_and_can_be_enabled_again(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let email = "vera@provider.example";
    let (id, token) = invited_and_accepted(&app, &inbox, email, "landlord_viewer").await;
    assert_eq!(ask_reset(&app, email).await.0, 202);
    let link = reset_link(&app, &inbox, email, 1).await;

    let (status, user) = patch_user(&app, &app.token, &id, json!({"status": "disabled"})).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["status"], "disabled");
    assert_eq!(me_status(&app, &token).await, 401);
    assert_eq!(app.login(email, PASSWORD).await.status(), 401);
    let (status, refused) = confirm_reset(&app, &link, NEW_PASSWORD).await;
    assert!(matches!(status, 404 | 410), "{status} {refused}");
    let listed = users(&app, &app.token).await;
    let vera = listed.iter().find(|u| u["id"] == id.as_str()).unwrap();
    assert_eq!(vera["status"], "disabled");

    let (status, user) = patch_user(&app, &app.token, &id, json!({"status": "active"})).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["status"], "active");
    // The refused link set nothing: the password is the one chosen at the invitation.
    let again = app.login_token(email, PASSWORD).await;
    assert_eq!(me_status(&app, &again).await, 200);
    assert_eq!(
        me_status(&app, &token).await,
        401,
        "the old token ended for good"
    );
    let (status, refused) = confirm_reset(&app, &link, NEW_PASSWORD).await;
    assert!(
        matches!(status, 404 | 410),
        "the link ended too: {status} {refused}"
    );
    app.finish().await;
}

async fn the_last_landlord_admin_can_be_neither_disabled_nor_demoted(db: Db) {
    let Some((app, _inbox)) = portal(db).await else {
        return;
    };
    let id = my_id(&app, &app.token).await;
    for change in [
        json!({"status": "disabled"}),
        json!({"role": "landlord_viewer"}),
        json!({"role": "landlord_operator", "status": "disabled"}),
    ] {
        let (status, refused) = patch_user(&app, &app.token, &id, change.clone()).await;
        assert_eq!(status, 409, "{change}: {refused}");
        assert_eq!(code(&refused), "last_landlord_admin", "{change}");
    }
    let (status, me) = get_json(&app, "/api/v1/me", &app.token).await;
    assert_eq!(status, 200, "nothing changed, not even its token");
    assert_eq!(me["role"], "landlord_admin");
    let listed = users(&app, &app.token).await;
    let admin = listed.iter().find(|u| u["id"] == id.as_str()).unwrap();
    assert_eq!(admin["status"], "active");
    app.finish().await;
}

async fn two_admins_disabling_each_other_at_once_leave_one_active(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let ada_email = "ada@provider.example";
    let (ada, ada_token) = invited_and_accepted(&app, &inbox, ada_email, "landlord_admin").await;
    let admin = my_id(&app, &app.token).await;
    let off = json!({"status": "disabled"});
    let (a, b) = tokio::join!(
        patch_user(&app, &app.token, &ada, off.clone()),
        patch_user(&app, &ada_token, &admin, off),
    );
    let wins = [a.0, b.0].iter().filter(|s| **s == 200).count();
    assert_eq!(wins, 1, "exactly one wins: {a:?} {b:?}");
    let (survivor, lost) = if a.0 == 200 {
        (&app.token, &b)
    } else {
        (&ada_token, &a)
    };
    match lost.0 {
        409 => assert_eq!(code(&lost.1), "last_landlord_admin"),
        // The winner had already ended the loser's own token.
        401 => {}
        other => panic!("the loser got {other}: {lost:?}"),
    }
    let active_admins = users(&app, survivor)
        .await
        .iter()
        .filter(|u| u["role"] == "landlord_admin" && u["status"] == "active")
        .count();
    assert_eq!(active_admins, 1);
    app.finish().await;
}

/// The sessions and sign-in tokens `token` lists.
async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, list) = get_json(app, "/api/v1/me/sessions", token).await;
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

/// The id of the one entry of a list marked `current`.
fn current_id(list: &[Value]) -> String {
    let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{list:?}");
    current[0]["id"].as_str().unwrap().to_owned()
}

async fn sessions_are_listed_and_ended_one_by_one_and_by_signing_out(db: Db) {
    let Some((app, _inbox)) = portal(db).await else {
        return;
    };
    let first = app.login_token(ADMIN, ADMIN_PASSWORD).await;
    let second = app.login_token(ADMIN, ADMIN_PASSWORD).await;
    let listed = sessions(&app, &first).await;
    // The harness's own sign-in and these two.
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.iter().all(|s| s["kind"] == "api"));
    let first_id = current_id(&listed);
    let second_id = current_id(&sessions(&app, &second).await);
    assert_ne!(first_id, second_id);
    assert!(listed.iter().any(|s| s["id"] == second_id.as_str()));

    let path = format!("/api/v1/me/sessions/{second_id}");
    assert_eq!(delete(&app, &path, &first).await, 204);
    assert_eq!(me_status(&app, &second).await, 401);
    assert_eq!(me_status(&app, &first).await, 200);
    let left = sessions(&app, &first).await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|s| s["id"] != second_id.as_str()));
    assert_eq!(delete(&app, &path, &first).await, 404, "already ended");

    let (status, _) = call(&app, Method::POST, "/api/v1/auth/logout", &first, None).await;
    assert_eq!(status, 204);
    assert_eq!(me_status(&app, &first).await, 401);
    assert_eq!(me_status(&app, &app.token).await, 200, "the others go on");
    app.finish().await;
}

async fn personal_tokens_act_as_their_owner_until_revoked(db: Db) {
    let Some((app, _inbox)) = portal(db).await else {
        return;
    };
    let body = json!({"name": "nightly export", "expires_in_days": 30});
    // Only a sign-in that passed a second factor makes one.
    let (status, refused) = post(&app, "/api/v1/tokens", &app.token, body.clone()).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "second_factor_required");
    common::enrol_totp(&app.client, &app.base, &app.token).await;
    let (status, made) = post(&app, "/api/v1/tokens", &app.token, body.clone()).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["name"], "nightly export");
    assert!(made["expires_at"].is_string());
    let secret = made["token"].as_str().unwrap().to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    let (status, me) = get_json(&app, "/api/v1/me", &secret).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["username"], ADMIN);
    assert_eq!(me["role"], "landlord_admin");
    let (status, _) = get_json(&app, "/api/v1/settings/provisioning", &secret).await;
    assert_eq!(status, 200, "it does what its owner may do");
    // But it makes no more tokens and manages no second factor: a leaked token cannot breed.
    let (status, refused) = post(&app, "/api/v1/tokens", &secret, body).await;
    assert_eq!(status, 403, "{refused}");
    let path = "/api/v1/me/mfa/recovery-codes";
    let (status, refused) = post(&app, path, &secret, json!({"password": ADMIN_PASSWORD})).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(code(&refused), json!("second_factor_required"));

    let (status, list) = get_json(&app, "/api/v1/tokens", &app.token).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["name"], "nightly export");
    assert!(
        !list.to_string().contains(&secret),
        "the secret is shown once"
    );
    let signed_in = sessions(&app, &app.token).await;
    assert!(
        signed_in.iter().all(|s| s["id"] != id.as_str()),
        "not a sign-in"
    );

    let path = format!("/api/v1/tokens/{id}");
    assert_eq!(delete(&app, &path, &app.token).await, 204);
    assert_eq!(me_status(&app, &secret).await, 401);
    assert_eq!(delete(&app, &path, &app.token).await, 404);
    let (_, list) = get_json(&app, "/api/v1/tokens", &app.token).await;
    assert_eq!(list["items"], json!([]));

    for (body, expected) in [
        (
            json!({"name": "", "expires_in_days": 0}),
            vec!["name", "expires_in_days"],
        ),
        (
            json!({"name": "ci", "expires_in_days": 1000}),
            vec!["expires_in_days"],
        ),
    ] {
        let (status, refused) = post(&app, "/api/v1/tokens", &app.token, body).await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(fields(&refused), expected);
    }
    app.finish().await;
}

/// The audit entries of `action`, newest first, as the landlord admin reads them.
async fn audit(app: &TestApp, action: &str) -> Vec<Value> {
    let path = format!("/api/v1/audit?action={action}");
    let (status, list) = get_json(app, &path, &app.token).await;
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

async fn invitations_and_role_changes_are_in_the_audit_log_with_their_actor(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let email = "olive.ops@provider.example";
    let (id, _) = invited_and_accepted(&app, &inbox, email, "landlord_operator").await;
    let body = json!({"role": "landlord_viewer"});
    let (status, changed) = patch_user(&app, &app.token, &id, body).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["role"], "landlord_viewer");

    let invited = audit(&app, "user_invited").await;
    assert_eq!(invited.len(), 1, "{invited:?}");
    assert_eq!(invited[0]["actor_name"], ADMIN);
    assert_eq!(invited[0]["subject"], id.as_str());
    let detail = invited[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(email) && detail.contains("landlord_operator"),
        "{detail}"
    );

    let role_changes = audit(&app, "user_role_changed").await;
    assert_eq!(role_changes.len(), 1, "{role_changes:?}");
    assert_eq!(role_changes[0]["actor_name"], ADMIN);
    assert_eq!(role_changes[0]["subject"], id.as_str());
    let detail = role_changes[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("landlord_operator to landlord_viewer"),
        "{detail}"
    );

    // Accepting is the invited person's own deed, done without signing in.
    let accepted = audit(&app, "invitation_accepted").await;
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0]["actor_name"], email);
    app.finish().await;
}

/// A request that names the administrator's address and no password: nothing to change at
/// the first sign-in; the invitation goes out with the outcome, which says to look for it.
async fn an_administrator_given_by_address_is_invited_when_the_tenant_is_ready(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let mut body = submission("InvitedAdmins");
    let tenant = body["tenant"].as_object_mut().unwrap();
    tenant.remove("password");
    tenant.remove("confirm_password");
    // Without a password or an address: the password is required.
    let (status, answer) = post(
        &app,
        "/api/v1/subscription-requests",
        &app.token,
        body.clone(),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(fields(&answer), ["tenant.password"]);
    body["tenant"]["admin_email"] = json!("not an address");
    let (status, answer) = post(
        &app,
        "/api/v1/subscription-requests",
        &app.token,
        body.clone(),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(fields(&answer), ["tenant.admin_email"]);
    body["tenant"]["admin_email"] = json!("ivy.admin@invitedadmins.example.com");
    let (status, answer) = post(&app, "/api/v1/subscription-requests", &app.token, body).await;
    assert_eq!(status, 202, "{answer}");
    app.run_pending_jobs().await;
    let login = "prpkeAdmin@invitedadmins.example.com";
    // Until the invitation is accepted there is no password to sign in with.
    assert_eq!(app.login(login, TENANT_PASSWORD).await.status(), 401);
    let outcome = nth_mail(&app, &inbox, "jo@example.com", "is ready", 1).await;
    assert!(
        outcome
            .text()
            .contains("look for the invitation sent to ivy.admin@invitedadmins.example.com"),
        "{}",
        outcome.text()
    );
    let invitation = nth_mail(
        &app,
        &inbox,
        "ivy.admin@invitedadmins.example.com",
        INVITATION,
        1,
    )
    .await;
    assert!(invitation.text().contains(login), "{}", invitation.text());
    let (status, answer) = accept(&app, &link_token(&invitation, "/invitation/"), PASSWORD).await;
    assert_eq!(status, 204, "{answer}");
    let token = app.login_token(login, PASSWORD).await;
    let (status, me) = get_json(&app, "/api/v1/me", &token).await;
    assert_eq!(status, 200);
    assert_eq!(me["must_change_password"], false);
    assert_eq!(me["email"], "ivy.admin@invitedadmins.example.com");
    assert_eq!(get_json(&app, "/api/v1/tenants", &token).await.0, 200);
    app.finish().await;
}

/// A tenant's administrator cannot disable or demote the tenant's last active administrator
/// (itself included); a landlord administrator, who can always manage the tenant, may.
async fn a_tenant_admin_cannot_leave_its_tenant_without_an_administrator(db: Db) {
    let Some((app, _inbox)) = portal(db).await else {
        return;
    };
    let (_, _, token) = tenant_admin(&app, "KentonElectronics").await;
    let own = my_id(&app, &token).await;
    for body in [
        json!({"status": "disabled"}),
        json!({"role": "tenant_supervisor"}),
    ] {
        let (status, answer) = patch_user(&app, &token, &own, body).await;
        assert_eq!(status, 409, "{answer}");
        assert_eq!(code(&answer), "last_tenant_admin");
    }
    assert_eq!(me_status(&app, &token).await, 200, "nothing changed");
    let (status, answer) = patch_user(&app, &app.token, &own, json!({"status": "disabled"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(me_status(&app, &token).await, 401);
    app.finish().await;
}

/// Asking for one login's reset again and again answers the same each time (nobody can turn
/// the limit into a 429 for another's resets); past the limit no more emails go.
async fn asking_often_cannot_keep_anothers_reset_from_working(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    invited_and_accepted(&app, &inbox, RITA, "landlord_operator").await;
    for n in 0..8 {
        let (status, _) = ask_reset(&app, RITA).await;
        assert_eq!(status, 202, "ask {n}");
    }
    nth_mail(&app, &inbox, RITA, RESET, 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mail_for(&app, &inbox, RITA, RESET).await.len(), 5);
    app.finish().await;
}

/// A session that guesses its own account's current password is held back after five tries,
/// as a sign-in would be.
async fn wrong_current_passwords_are_held_back_like_failed_sign_ins(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let (_, token) = invited_and_accepted(&app, &inbox, RITA, "landlord_operator").await;
    for n in 0..5 {
        let (status, answer) =
            change_password(&app, &token, "Wrong-Guess-Number-1", NEW_PASSWORD).await;
        assert_eq!(status, 422, "try {n}: {answer}");
    }
    let (status, answer) = change_password(&app, &token, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 429, "even the right one waits now: {answer}");
    app.finish().await;
}

/// ASVS 6.3.4 and 6.4.3: an accepted invitation, a password reset and a changed password all
/// still need the second factor; a reset keeps the app in place.
async fn no_second_factor_is_skipped_by_an_invitation_a_reset_or_a_new_password(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let policy = json!({
        "mfa_required_for": ["landlord_operator"], "session_idle_minutes": 30, "session_max_hours": 12
    });
    let (status, set) = call(
        &app,
        Method::PUT,
        "/api/v1/settings/security",
        &app.token,
        Some(policy),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    let email = "olive.ops@provider.example";
    let (_, token) = invited_and_accepted(&app, &inbox, email, "landlord_operator").await;
    let (status, refused) = get_json(&app, "/api/v1/subscription-requests", &token).await;
    assert_eq!(
        (status, code(&refused)),
        (403, json!("mfa_enrolment_required")),
        "{refused}"
    );
    let enrolled = common::enrol_totp(&app.client, &app.base, &token).await;
    let (status, _) = get_json(&app, "/api/v1/subscription-requests", &token).await;
    assert_eq!(status, 200);

    // A reset sets a new password and keeps the app: signing in still asks for a code.
    let (status, _) = ask_reset(&app, email).await;
    assert_eq!(status, 202);
    let link = reset_link(&app, &inbox, email, 1).await;
    let (status, answer) = confirm_reset(&app, &link, NEW_PASSWORD).await;
    assert_eq!(status, 204, "{answer}");
    let password_only = json!({"username": email, "password": NEW_PASSWORD});
    let (status, asked) = post(&app, "/api/v1/auth/login", "", password_only.clone()).await;
    assert_eq!(
        (status, code(&asked)),
        (401, json!("mfa_required")),
        "{asked}"
    );
    let mut with_code = password_only.clone();
    with_code["totp"] = json!(common::totp_next(&enrolled.secret));
    let (status, signed_in) = post(&app, "/api/v1/auth/login", "", with_code).await;
    assert_eq!(status, 200, "{signed_in}");
    let token = signed_in["token"].as_str().unwrap().to_owned();

    // A changed password: the same.
    let (status, answer) = change_password(&app, &token, NEW_PASSWORD, PASSWORD).await;
    assert_eq!(status, 204, "{answer}");
    let password_only = json!({"username": email, "password": PASSWORD});
    let (status, asked) = post(&app, "/api/v1/auth/login", "", password_only).await;
    assert_eq!(
        (status, code(&asked)),
        (401, json!("mfa_required")),
        "{asked}"
    );
    app.finish().await;
}
