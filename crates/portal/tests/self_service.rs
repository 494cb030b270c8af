//! Self-service registration from the open internet: a prospect registers without signing
//! in, confirms the contact address with the link emailed over real SMTP, and is approved or
//! rejected; links expire and are used once; floods, bots and refused domains are turned
//! away; the answers never tell whether a name is taken.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};

use common::smtp::{Received, smtp_mailer, smtp_server};
use common::{Db, TENANT_PASSWORD, TestApp, spawn_app_with, submission};
use serde_json::{Value, json};

on_both_db!(
    a_prospect_confirms_is_approved_and_receives_the_tenant_over_smtp,
    a_rejected_request_frees_its_names_and_its_reason_is_emailed,
    an_expired_link_and_an_unknown_one_are_refused_and_the_request_frees_its_names,
    public_answers_are_the_same_whether_a_name_is_free_or_taken,
    the_public_entrance_turns_away_floods_bots_refused_domains_and_private_templates,
    the_public_pages_register_and_staff_approve_and_reject_on_pages,
    a_prospect_has_the_link_sent_again_and_corrects_the_address,
    an_unconfirmed_registration_holds_no_names_and_staff_are_told_what_holds_one,
    links_leave_the_outbox_once_sent_and_names_in_mail_are_not_links,
    contact_details_of_closed_self_service_requests_are_erased_after_their_retention,
);

type Inbox = Arc<Mutex<Vec<Received>>>;

/// A portal whose mail goes over SMTP to a server of the test's own, with `voice-essentials`
/// offered publicly.
async fn portal(db: Db) -> Option<(TestApp, Inbox)> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = smtp_server(listener);
    let app = spawn_app_with(db, |s| s.mailer = Arc::new(smtp_mailer(port))).await?;
    let r = app
        .client
        .put(app.url("/api/v1/templates/voice-essentials/public"))
        .bearer_auth(&app.token)
        .json(&json!({"public": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["public"], true);
    Some((app, inbox))
}

/// A prospect's registration of `name` with `email` as the contact.
fn prospect(name: &str, email: &str) -> Value {
    let mut body = submission(name);
    body["contact"]["email"] = json!(email);
    body
}

/// A client whose requests come from `ip` (a loopback address).
fn from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(ip))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn register(app: &TestApp, client: &reqwest::Client, body: &Value) -> reqwest::Response {
    client
        .post(app.url("/api/v1/public/registrations"))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Registers and returns the new request's id.
async fn registered(app: &TestApp, ip: [u8; 4], body: &Value) -> String {
    let r = register(app, &from(ip), body).await;
    let status = r.status();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "pending_verification");
    answer["id"].as_str().unwrap().to_owned()
}

/// Sends what is due (the outbox) and returns the messages received for `to` so far.
/// A prospect's request with its contact address confirmed: its id and its status link.
async fn confirmed(app: &TestApp, inbox: &Inbox, name: &str, email: &str) -> (String, String) {
    let id = registered(app, [127, 0, 0, 1], &prospect(name, email)).await;
    let (verify, status) = links_for(app, inbox, email).await;
    assert_eq!(post_page(app, &verify).await.0, 200);
    (id, status)
}

async fn mail_for(app: &TestApp, inbox: &Inbox, to: &str) -> Vec<Received> {
    app.run_pending_jobs().await;
    inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.to.iter().any(|t| t.contains(to)))
        .cloned()
        .collect()
}

/// The confirmation and status links of the one confirmation email to `to`.
async fn links_for(app: &TestApp, inbox: &Inbox, to: &str) -> (String, String) {
    let mails = mail_for(app, inbox, to).await;
    let verify: Vec<_> = mails
        .iter()
        .filter(|m| m.data.contains("Subject: Confirm your email address"))
        .collect();
    assert_eq!(verify.len(), 1, "one confirmation email to {to}");
    let m = verify[0];
    assert!(!m.data.contains(TENANT_PASSWORD), "no password in an email");
    (
        m.link("/registrations/verify/").unwrap(),
        m.link("/registrations/status/").unwrap(),
    )
}

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let r = from([127, 0, 0, 1])
        .get(app.url(path))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Posts the form of a page (no fields) and follows a redirect, as a browser does.
async fn post_page(app: &TestApp, path: &str) -> (u16, String) {
    let r = from([127, 0, 0, 1])
        .post(app.url(path))
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    if r.status() == 303 {
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        return page(app, &to).await;
    }
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn request(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/subscription-requests/{id}"), &app.token)
        .await
        .json()
        .await
        .unwrap()
}

async fn act(app: &TestApp, id: &str, action: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/subscription-requests/{id}/{action}")))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn set_approval(app: &TestApp, approval: &str) {
    let r = app
        .client
        .put(app.url("/api/v1/settings/self-service"))
        .bearer_auth(&app.token)
        .json(&json!({
            "approval": approval,
            "verification_hours": 24,
            "refused_email_domains": ["mailinator.com"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn a_prospect_confirms_is_approved_and_receives_the_tenant_over_smtp(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let id = registered(
        &app,
        [127, 0, 0, 1],
        &prospect("KentonElectronics", "jo@kenton.example"),
    )
    .await;
    let (verify, status) = links_for(&app, &inbox, "jo@kenton.example").await;

    let (code, text) = page(&app, &status).await;
    assert_eq!(code, 200);
    assert!(text.contains("pending verification") && text.contains("jo@kenton.example"));
    // Opening the link shows a button and changes nothing (mail scanners open links too).
    let (code, text) = page(&app, &verify).await;
    assert_eq!(code, 200);
    assert!(text.contains("Confirm my address"), "{text}");
    assert_eq!(request(&app, &id).await["status"], "pending_verification");

    let (code, text) = post_page(&app, &verify).await;
    assert_eq!(code, 200);
    assert!(text.contains("your address is confirmed") && text.contains("pending approval"));
    // The link works once.
    let (code, text) = post_page(&app, &verify).await;
    assert_eq!(code, 410);
    assert!(text.contains("This link was already used"), "{text}");
    let (code, _) = page(&app, &verify).await;
    assert_eq!(code, 410);

    let r = request(&app, &id).await;
    assert_eq!(r["status"], "pending_approval");
    // Nothing starts before approval.
    app.run_pending_jobs().await;
    assert_eq!(request(&app, &id).await["status"], "pending_approval");

    let r = act(&app, &id, "approve", json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "accepted");
    let r = act(&app, &id, "approve", json!({})).await;
    assert_eq!(r.status(), 409, "approved once");
    app.run_pending_jobs().await;
    let r = request(&app, &id).await;
    assert_eq!(r["status"], "completed", "{r}");
    let mails = mail_for(&app, &inbox, "jo@kenton.example").await;
    let ready: Vec<_> = mails
        .iter()
        .filter(|m| {
            m.data
                .contains("Subject: Your tenant KentonElectronics is ready")
        })
        .collect();
    assert_eq!(ready.len(), 1, "one outcome email");
    assert!(mails.iter().all(|m| !m.data.contains(TENANT_PASSWORD)));

    let (code, text) = page(&app, &status).await;
    assert_eq!(code, 200);
    assert!(text.contains("completed") && text.contains("Sign in to your tenant"));
    assert!(text.contains("prpkeAdmin@kentonelectronics.example.com"));
    // The new tenant's administrator signs in through the same public entrance.
    let r = app
        .login("prpkeAdmin@kentonelectronics.example.com", TENANT_PASSWORD)
        .await;
    assert_eq!(r.status(), 200);

    let audit: Value = app
        .get("/api/v1/audit?limit=200", &app.token)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject"] == id.as_str())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for wanted in [
        "registration_submitted",
        "registration_confirmed",
        "request_approve",
    ] {
        assert!(actions.contains(&wanted), "{wanted} in {actions:?}");
    }
    app.finish().await;
}

async fn a_rejected_request_frees_its_names_and_its_reason_is_emailed(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let (id, status) = confirmed(&app, &inbox, "Seaside", "sam@seaside.example").await;

    let r = act(&app, &id, "reject", json!({})).await;
    assert_eq!(r.status(), 422, "a reason is needed");
    let r = act(&app, &id, "reject", json!({"reason": "   "})).await;
    assert_eq!(r.status(), 422);
    assert_eq!(request(&app, &id).await["status"], "pending_approval");
    let reason = "We serve companies in the EU only & yours is elsewhere.";
    let r = act(&app, &id, "reject", json!({ "reason": reason })).await;
    assert_eq!(r.status(), 200);
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["status"], "rejected");
    assert_eq!(r["error"], reason);
    assert_eq!(act(&app, &id, "approve", json!({})).await.status(), 409);

    let mails = mail_for(&app, &inbox, "sam@seaside.example").await;
    let rejected: Vec<_> = mails
        .iter()
        .filter(|m| m.data.contains("was not approved"))
        .collect();
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0]
            .text()
            .contains("We serve companies in the EU only")
    );
    let (code, text) = page(&app, &status).await;
    assert_eq!(code, 200);
    assert!(
        text.contains("rejected")
            && text.contains("Reason:")
            && text.contains("We serve companies in the EU only")
    );
    // Staff read it as the reason given, not as something that went wrong.
    let cookie = sign_in(&app).await;
    let staff = app.page_with(&format!("/requests/{id}"), &cookie).await;
    assert!(
        staff.contains("Reason given:</strong> <bdi>We serve companies in the EU only"),
        "{staff}"
    );
    assert!(!staff.contains("What went wrong"));

    // Its names are free again.
    let r = app.submit(&submission("Seaside")).await;
    assert_eq!(r.status(), 202);

    // Staff may turn down a request before its address is confirmed; its link then says so.
    let spam = registered(
        &app,
        [127, 0, 0, 1],
        &prospect("Spammy", "s@spammy.example"),
    )
    .await;
    let (spam_verify, _) = links_for(&app, &inbox, "s@spammy.example").await;
    let r = act(
        &app,
        &spam,
        "reject",
        json!({"reason": "Not a real company."}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let (code, text) = post_page(&app, &spam_verify).await;
    assert_eq!(code, 410);
    assert!(text.contains("This request is closed"), "{text}");
    assert_eq!(app.submit(&submission("Spammy")).await.status(), 202);
    app.finish().await;
}

async fn an_expired_link_and_an_unknown_one_are_refused_and_the_request_frees_its_names(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let id = registered(
        &app,
        [127, 0, 0, 1],
        &prospect("Beacon", "ann@beacon.example"),
    )
    .await;
    let (verify, _) = links_for(&app, &inbox, "ann@beacon.example").await;

    // A day goes by.
    portal_store::test_support::age_registration(&app.store, &id, 25 * 60 * 60 * 1000).await;
    let (code, text) = page(&app, &verify).await;
    assert_eq!(code, 410);
    assert!(text.contains("This link has expired"), "{text}");
    let (code, _) = post_page(&app, &verify).await;
    assert_eq!(code, 410);
    assert_eq!(request(&app, &id).await["status"], "pending_verification");

    // The expiry job ends it.
    app.run_pending_jobs().await;
    let r = request(&app, &id).await;
    assert_eq!(r["status"], "cancelled");
    assert_eq!(r["error"], "The contact address was not confirmed in time.");
    assert_eq!(post_page(&app, &verify).await.0, 410);
    assert_eq!(app.submit(&submission("Beacon")).await.status(), 202);

    let (code, text) = page(&app, &format!("/registrations/verify/{}", "ab".repeat(32))).await;
    assert_eq!(code, 404);
    assert!(text.contains("This link does not work"));
    assert_eq!(page(&app, "/registrations/status/not-a-token").await.0, 404);
    app.finish().await;
}

async fn public_answers_are_the_same_whether_a_name_is_free_or_taken(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    assert_eq!(app.submit(&submission("TakenName")).await.status(), 202);

    let taken = register(
        &app,
        &from([127, 0, 0, 2]),
        &prospect("TakenName", "a@taken.example"),
    )
    .await;
    let free = register(
        &app,
        &from([127, 0, 0, 3]),
        &prospect("FreeName", "b@free.example"),
    )
    .await;
    assert_eq!(taken.status(), free.status());
    assert_eq!(taken.status(), 202);
    let header_names = |r: &reqwest::Response| {
        let mut names: Vec<String> = r
            .headers()
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| k != "date")
            .collect();
        names.sort();
        names
    };
    assert_eq!(header_names(&taken), header_names(&free));
    let taken: Value = taken.json().await.unwrap();
    let free: Value = free.json().await.unwrap();
    let taken_id = taken["id"].as_str().unwrap().to_owned();
    let free_id = free["id"].as_str().unwrap().to_owned();
    assert_eq!(taken_id.len(), free_id.len());
    let without_id = |mut v: Value| {
        v["id"] = json!("…");
        v
    };
    assert_eq!(without_id(taken), without_id(free));

    // Both get a confirmation link; the taken name is reported once the address is confirmed.
    let (taken_verify, taken_status) = links_for(&app, &inbox, "a@taken.example").await;
    let (free_verify, _) = links_for(&app, &inbox, "b@free.example").await;
    let (code, text) = post_page(&app, &taken_verify).await;
    assert_eq!(code, 200);
    assert!(
        text.contains("rejected") && text.contains("already used"),
        "{text}"
    );
    let conflict: Vec<_> = mail_for(&app, &inbox, "a@taken.example")
        .await
        .into_iter()
        .filter(|m| {
            m.data
                .contains("Subject: We cannot create the tenant TakenName")
        })
        .collect();
    assert_eq!(conflict.len(), 1);
    assert!(
        conflict[0]
            .text()
            .contains("its tenant name is already used")
    );
    assert_eq!(request(&app, &taken_id).await["status"], "rejected");
    assert!(page(&app, &taken_status).await.1.contains("rejected"));

    // With automatic approval the free one goes straight on to its tenant.
    set_approval(&app, "automatic").await;
    let (code, text) = post_page(&app, &free_verify).await;
    assert_eq!(code, 200);
    assert!(
        text.contains("accepted") || text.contains("provisioning") || text.contains("completed")
    );
    app.run_pending_jobs().await;
    assert_eq!(request(&app, &free_id).await["status"], "completed");
    app.finish().await;
}

async fn the_public_entrance_turns_away_floods_bots_refused_domains_and_private_templates(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    // A flood from one address: each attempt counts, even a malformed one.
    let flood = from([127, 0, 0, 9]);
    let mut answers = Vec::new();
    for _ in 0..25 {
        let r = register(&app, &flood, &json!({})).await;
        answers.push((r.status().as_u16(), r.headers().get("retry-after").cloned()));
    }
    assert!(answers[..20].iter().all(|(s, _)| *s == 422), "{answers:?}");
    assert!(
        answers[20..]
            .iter()
            .all(|(s, retry)| *s == 429 && retry.is_some()),
        "{answers:?}"
    );
    // Other addresses are still served.
    registered(
        &app,
        [127, 0, 0, 10],
        &prospect("Elsewhere", "x@elsewhere.example"),
    )
    .await;

    // A contact address is limited wherever the requests come from.
    for (i, ip) in [11u8, 12, 13].into_iter().enumerate() {
        let name = format!("Repeat{i}");
        registered(
            &app,
            [127, 0, 0, ip],
            &prospect(&name, "same@repeat.example"),
        )
        .await;
    }
    let r = register(
        &app,
        &from([127, 0, 0, 14]),
        &prospect("Repeat9", "SAME@repeat.example"),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // One mailbox counts once, however its address is written: a sub-address tag at any
    // domain, dots where the domain ignores them.
    for (i, email) in [
        "victim+1@tagged.example",
        "victim+2@tagged.example",
        "Victim+news@tagged.example",
    ]
    .into_iter()
    .enumerate()
    {
        registered(
            &app,
            [127, 0, 0, 20 + i as u8],
            &prospect(&format!("Tagged{i}"), email),
        )
        .await;
    }
    let r = register(
        &app,
        &from([127, 0, 0, 24]),
        &prospect("Tagged9", "victim@tagged.example"),
    )
    .await;
    assert_eq!(r.status(), 429, "sub-address tags walked around the limit");
    for (i, email) in [
        "v.i.c.t.i.m@gmail.com",
        "vic.tim+a@gmail.com",
        "victim@googlemail.com",
    ]
    .into_iter()
    .enumerate()
    {
        registered(
            &app,
            [127, 0, 0, 25 + i as u8],
            &prospect(&format!("Dotted{i}"), email),
        )
        .await;
    }
    let r = register(
        &app,
        &from([127, 0, 0, 29]),
        &prospect("Dotted9", "victim@gmail.com"),
    )
    .await;
    assert_eq!(r.status(), 429, "dots walked around the limit");
    // Where dots count, they make another mailbox.
    registered(
        &app,
        [127, 0, 0, 30],
        &prospect("Dotted8", "vic.tim@tagged.example"),
    )
    .await;

    // A filled honeypot gets the usual answer, and nothing is kept or sent.
    let before = app.request_count().await;
    let mut bot = prospect("BotCompany", "bot@bots.example");
    bot["website"] = json!("http://spam.example");
    let r = register(&app, &from([127, 0, 0, 15]), &bot).await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.json::<Value>().await.unwrap()["status"],
        "pending_verification"
    );
    assert_eq!(app.request_count().await, before);
    assert!(mail_for(&app, &inbox, "bot@bots.example").await.is_empty());

    // Refused domains, subdomains included.
    for email in ["jo@mailinator.com", "jo@eu.mailinator.com"] {
        let r = register(&app, &from([127, 0, 0, 16]), &prospect("Disposable", email)).await;
        assert_eq!(r.status(), 422);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error"]["fields"][0]["field"], "contact.email",
            "{body}"
        );
    }

    // A template not offered publicly is the same as none.
    let mut private = prospect("Private", "p@private.example");
    private["template_id"] = json!("omnichannel-smart-queues");
    let r = register(&app, &from([127, 0, 0, 17]), &private).await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["fields"][0]["field"], "template_id", "{body}");
    let offered: Value = from([127, 0, 0, 17])
        .get(app.url("/api/v1/public/templates"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = offered["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["voice-essentials"]);
    assert_eq!(app.request_count().await, before);
    app.finish().await;
}

/// The landlord's session cookie, from the sign-in form.
async fn sign_in(app: &TestApp) -> String {
    let r = from([127, 0, 0, 1])
        .post(app.url("/sign-in"))
        .form(&[
            ("username", common::ADMIN),
            ("password", common::ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

async fn form_post(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = from([127, 0, 0, 1]).post(app.url(path)).form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

async fn the_public_pages_register_and_staff_approve_and_reject_on_pages(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let (code, text) = page(&app, "/join").await;
    assert_eq!(code, 200);
    assert!(text.contains("action=\"/join\"") && text.contains("name=\"website\""));
    assert!(
        text.contains("Voice Essentials") && !text.contains("value=\"omnichannel-smart-queues\"")
    );
    assert!(text.contains("href=\"/sign-in\""));

    let mut form = vec![
        ("template_id", "voice-essentials"),
        ("name", "PageProspect"),
        ("short_name", "pagep"),
        ("upn_suffix", "pageprospect.example.com"),
        ("admin_user_name", "ppAdmin"),
        ("password", TENANT_PASSWORD),
        ("confirm_password", TENANT_PASSWORD),
        ("ani", "+44 20 7946 0000"),
        ("first_name", "Pat"),
        ("last_name", "Page"),
        ("email", "pat@page.example"),
        ("website", ""),
    ];
    // A mistake comes back on the form, with what was typed.
    form[2].1 = "bad short name!";
    let r = form_post(&app, "/join", None, &form).await;
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(text.contains("There is a problem") && text.contains("value=\"PageProspect\""));
    form[2].1 = "pagep";
    let r = form_post(&app, "/join", None, &form).await;
    assert_eq!(r.status(), 303);
    let sent = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(sent.starts_with("/join/sent?link="), "{sent}");
    assert!(page(&app, &sent).await.1.contains("Check your email"));
    let (verify, _) = links_for(&app, &inbox, "pat@page.example").await;
    let (_, confirm) = page(&app, &verify).await;
    assert!(
        confirm.contains("Voice Essentials") && !confirm.contains("voice-essentials"),
        "the template by its name: {confirm}"
    );
    assert_eq!(post_page(&app, &verify).await.0, 200);

    let cookie = sign_in(&app).await;
    let list: Value = app
        .get(
            "/api/v1/subscription-requests?status=pending_approval",
            &app.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let r = from([127, 0, 0, 1])
        .get(app.url(&format!("/requests/{id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(
        text.contains(&format!("/requests/{id}/approve"))
            && text.contains(&format!("/requests/{id}/reject"))
    );
    // Its history names the prospect who sent it and confirmed the address; its template is
    // named as people know it; Reject is set apart from Approve.
    assert!(text.contains("the prospect (pat@page.example)"), "{text}");
    assert!(!text.contains("<bdi>the portal</bdi>"), "{text}");
    assert!(
        text.contains(">Voice Essentials</bdi></a>, version 1"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "class=\"button secondary\" href=\"/requests/{id}/reject\""
        )) && text.contains(&format!("class=\"button\" href=\"/requests/{id}/approve\"")),
        "{text}"
    );
    // Rejecting asks for the reason, and refuses an empty one.
    let r = from([127, 0, 0, 1])
        .get(app.url(&format!("/requests/{id}/reject")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("name=\"reason\""));
    let r = form_post(
        &app,
        &format!("/requests/{id}/reject"),
        Some(&cookie),
        &[("reason", "")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("Give a reason for turning the request down"),
        "{text}"
    );
    assert!(
        !text.contains("reject needs"),
        "plain words, not a field name"
    );
    let r = form_post(&app, &format!("/requests/{id}/approve"), Some(&cookie), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(request(&app, &id).await["status"], "accepted");

    // The self-service policy page saves good input and explains bad input.
    let r = form_post(
        &app,
        "/settings/self-service",
        Some(&cookie),
        &[
            ("approval", "sometimes"),
            ("verification_hours", "0"),
            ("refused_email_domains", "spam.example"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(text.contains("The policy was not saved") && text.contains("1 to 168"));
    let r = form_post(
        &app,
        "/settings/self-service",
        Some(&cookie),
        &[
            ("approval", "automatic"),
            ("verification_hours", "48"),
            ("refused_email_domains", "Spam.Example\n\nother.example"),
            ("domain_verification", "required"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let doc: Value = app
        .get("/api/v1/settings/self-service", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc,
        json!({"approval": "automatic", "verification_hours": 48, "refused_email_domains": ["spam.example", "other.example"], "domain_verification": "required"})
    );
    // A template's offer is switched on its page.
    let r = form_post(
        &app,
        "/templates/voice-essentials/public",
        Some(&cookie),
        &[("public", "false")],
    )
    .await;
    assert_eq!(r.status(), 303);
    // With nothing on offer, the page says so at the top and offers no form to fill.
    let (_, join) = page(&app, "/join").await;
    assert!(
        join.contains("No template service package is open for registration now"),
        "{join}"
    );
    assert!(!join.contains("name=\"password\"") && !join.contains("Create Tenant"));
    app.finish().await;
}

/// The public form of a prospect for `name` with `email` as the contact address.
fn join_form<'a>(name: &'a str, short: &'a str, email: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("template_id", "voice-essentials"),
        ("name", name),
        ("short_name", short),
        ("upn_suffix", "resent-prospect.example.com"),
        ("admin_user_name", "rpAdmin"),
        ("password", TENANT_PASSWORD),
        ("confirm_password", TENANT_PASSWORD),
        ("ani", "+44 20 7946 0000"),
        ("first_name", "Sam"),
        ("last_name", "Sender"),
        ("email", email),
        ("website", ""),
    ]
}

/// The confirmation links in the emails to `to`, oldest first.
async fn verify_links(app: &TestApp, inbox: &Inbox, to: &str) -> Vec<String> {
    mail_for(app, inbox, to)
        .await
        .iter()
        .filter(|m| m.data.contains("Subject: Confirm your email address"))
        .map(|m| m.link("/registrations/verify/").unwrap())
        .collect()
}

async fn a_prospect_has_the_link_sent_again_and_corrects_the_address(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let r = form_post(
        &app,
        "/join",
        None,
        &join_form("ResentProspect", "resp", "sam@wrong.example"),
    )
    .await;
    assert_eq!(r.status(), 303);
    let sent = r.headers()["location"].to_str().unwrap().to_owned();
    let token = sent.trim_start_matches("/join/sent?link=").to_owned();
    let (_, page_text) = page(&app, &sent).await;
    assert!(
        page_text.contains(&format!("href=\"/registrations/status/{token}\""))
            && page_text.contains("Send the link again")
            && page_text.contains("Correct my address"),
        "{page_text}"
    );

    // Sent again: a second email; the first link no longer works.
    let r = form_post(&app, "/join/resend", None, &[("link", &token)]).await;
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("done=resent")
    );
    let wrong = verify_links(&app, &inbox, "sam@wrong.example").await;
    assert_eq!(wrong.len(), 2, "{wrong:?}");
    assert_eq!(
        page(&app, &wrong[0]).await.0,
        410,
        "the first link is spent"
    );

    // A mistyped correction is said at the field; a good one goes to the new address.
    let r = form_post(
        &app,
        "/join/correct",
        None,
        &[("link", &token), ("email", "not an address")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let refused = r.text().await.unwrap();
    assert!(refused.contains("id=\"email-error\""), "{refused}");
    let r = form_post(
        &app,
        "/join/correct",
        None,
        &[("link", &token), ("email", "sam@right.example")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let right = verify_links(&app, &inbox, "sam@right.example").await;
    assert_eq!(right.len(), 1);
    assert_eq!(
        page(&app, &wrong[1]).await.0,
        410,
        "the links before no longer work"
    );
    assert_eq!(post_page(&app, &right[0]).await.0, 200);
    let list: Value = app
        .get("/api/v1/subscription-requests?q=ResentProspect", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["contact"]["email"], "sam@right.example");
    assert_eq!(list["items"][0]["status"], "pending_approval");

    // Once confirmed, nothing more is sent.
    let r = form_post(&app, "/join/resend", None, &[("link", &token)]).await;
    assert_eq!(r.status(), 410);
    // A link that is no request's is refused, and so is one that is not a link at all.
    for bad in ["unknown-token", "<script>", ""] {
        let r = form_post(&app, "/join/resend", None, &[("link", bad)]).await;
        assert_eq!(r.status(), 404, "{bad:?}");
        let r = form_post(
            &app,
            "/join/correct",
            None,
            &[("link", bad), ("email", "a@b.example")],
        )
        .await;
        assert_eq!(r.status(), 404, "{bad:?}");
    }
    let (code, plain) = page(&app, "/join/sent?link=%3Cscript%3E").await;
    assert_eq!(code, 200);
    assert!(!plain.contains("Send the link again") && !plain.contains("<script>"));
    app.finish().await;
}

async fn an_unconfirmed_registration_holds_no_names_and_staff_are_told_what_holds_one(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    // An anonymous registration whose address nobody confirmed holds nothing: staff take
    // the same names at once.
    let squatter = registered(
        &app,
        [127, 0, 0, 2],
        &prospect("Microsoft", "squat@squatter.example"),
    )
    .await;
    let (verify, _) = links_for(&app, &inbox, "squat@squatter.example").await;
    let staff = app.submit(&submission("Microsoft")).await;
    assert_eq!(
        staff.status(),
        202,
        "an unconfirmed registration held the names"
    );
    let staff: Value = staff.json().await.unwrap();
    let staff_id = staff["id"].as_str().unwrap().to_owned();
    // Staff who submit the names again are told what holds them: the request, then its
    // tenant once there is one.
    let again = app.submit(&submission("Microsoft")).await;
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.unwrap();
    let field = &body["error"]["fields"][0];
    assert_eq!(field["field"], "tenant.name", "{body}");
    assert_eq!(field["held_by"]["kind"], "subscription_request", "{body}");
    assert_eq!(field["held_by"]["id"], staff_id.as_str(), "{body}");

    // The prospect's confirmation then meets the names taken: turned down, told by email.
    let (code, text) = post_page(&app, &verify).await;
    assert_eq!(code, 200);
    assert!(text.contains("already used"), "{text}");
    assert_eq!(request(&app, &squatter).await["status"], "rejected");
    let told = mail_for(&app, &inbox, "squat@squatter.example").await;
    assert!(told.iter().any(|m| {
        m.data
            .contains("Subject: We cannot create the tenant Microsoft")
    }));

    app.run_pending_jobs().await;
    let tenant_id = request(&app, &staff_id).await["tenant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body: Value = app
        .submit(&submission("Microsoft"))
        .await
        .json()
        .await
        .unwrap();
    let field = &body["error"]["fields"][0];
    assert_eq!(field["held_by"]["kind"], "tenant", "{body}");
    assert_eq!(field["held_by"]["id"], tenant_id.as_str(), "{body}");
    // The staff form links to it.
    let cookie = sign_in(&app).await;
    let form = join_form("Microsoft", "othershort", "x@staff.example");
    let page = form_post(&app, "/register", Some(&cookie), &form)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("href=\"/tenants/{tenant_id}\"")),
        "{page}"
    );
    assert!(page.contains("See the tenant that holds it"), "{page}");
    // The public is never told: a registration of the same names is answered as any other.
    registered(
        &app,
        [127, 0, 0, 3],
        &prospect("Microsoft", "again@squatter.example"),
    )
    .await;
    app.finish().await;
}

async fn links_leave_the_outbox_once_sent_and_names_in_mail_are_not_links(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    // Text that reads otherwise than it is written is refused in every text field.
    for (field, value) in [
        ("first_name", "Ann\u{202E}nnA"),
        ("last_name", "Zero\u{200B}Width"),
        ("company", "Acme\u{2066}Corp"),
    ] {
        let mut body = prospect("Bidi", "bidi@bidi.example");
        body["contact"][field] = json!(value);
        let r = register(&app, &from([127, 0, 0, 2]), &body).await;
        assert_eq!(r.status(), 422, "{field}");
        let answer: Value = r.json().await.unwrap();
        let problem = &answer["error"]["fields"][0];
        assert_eq!(problem["field"], format!("contact.{field}"), "{answer}");
        assert_eq!(problem["code"], "invalid_characters", "{answer}");
    }

    // A web address typed as a name reaches the inbox as text, not as a link.
    let mut body = prospect("Linked", "ann@linked.example");
    body["contact"]["first_name"] = json!("https://evil.example/pay");
    let id = registered(&app, [127, 0, 0, 3], &body).await;
    let (verify, status) = links_for(&app, &inbox, "ann@linked.example").await;
    let mail = &mail_for(&app, &inbox, "ann@linked.example").await[0];
    let text = mail.text();
    assert!(text.contains("https[:]//evil[.]example/pay"), "{text}");
    assert!(!text.contains("https://evil.example"), "{text}");

    // Sent, the message keeps no token in the database; the mail view shows none either.
    let verify_token = verify.rsplit('/').next().unwrap().to_owned();
    let status_token = status.rsplit('/').next().unwrap().to_owned();
    let stored = app.store.mail_for_request(&id).await.unwrap();
    assert_eq!(stored.len(), 1);
    for body in [&stored[0].body_text, &stored[0].body_html] {
        assert!(!body.contains(&verify_token) && !body.contains(&status_token));
        assert!(body.contains("/registrations/verify/(hidden)"), "{body}");
    }
    let shown: Value = app
        .get(&format!("/api/v1/mail/{}", stored[0].id), &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(!shown.to_string().contains(&verify_token), "{shown}");
    // The link itself still works: the prospect had it by email.
    assert_eq!(post_page(&app, &verify).await.0, 200);

    // Messages sent before links were erased lose them at the next start.
    app.execute_sql(&format!(
        "UPDATE outbox SET links_erased = 0, body_text = 'old /registrations/status/{status_token} link' \
         WHERE id = '{}'",
        stored[0].id
    ))
    .await;
    let erased = app
        .store
        .erase_finished_mail_links(portal::service::mail::hide_tokens)
        .await
        .unwrap();
    assert_eq!(erased, 1);
    let again = app.store.get_mail(&stored[0].id).await.unwrap();
    assert_eq!(again.body_text, "old /registrations/status/(hidden) link");
    assert_eq!(
        app.store
            .erase_finished_mail_links(portal::service::mail::hide_tokens)
            .await
            .unwrap(),
        0,
        "each message is erased once"
    );
    app.finish().await;
}

async fn put_retention(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .put(app.url("/api/v1/settings/retention"))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn contact_details_of_closed_self_service_requests_are_erased_after_their_retention(db: Db) {
    let Some((app, inbox)) = portal(db).await else {
        return;
    };
    let (gone, _) = confirmed(&app, &inbox, "Erasable", "erin@erasable.example").await;
    let reason = json!({"reason": "Outside our market."});
    assert_eq!(act(&app, &gone, "reject", reason).await.status(), 200);
    let waiting = registered(
        &app,
        [127, 0, 0, 1],
        &prospect("Waiting", "wes@waiting.example"),
    )
    .await;
    let r = app.submit(&submission("StaffMade")).await;
    let staff = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(act(&app, &staff, "cancel", json!({})).await.status(), 200);

    // The policy: 90 days unless set; a value out of range is refused; left out, it stays.
    let policy: Value = app
        .get("/api/v1/settings/retention", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(policy["self_service_contact_days"], 90);
    for bad in [json!(0), json!(3651)] {
        let r = put_retention(
            &app,
            json!({"closed_tenant_days": 30, "self_service_contact_days": bad}),
        )
        .await;
        assert_eq!(r.status(), 422, "{bad}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(
            answer["error"]["fields"][0]["field"],
            "self_service_contact_days"
        );
    }
    let r = put_retention(
        &app,
        json!({"closed_tenant_days": 30, "self_service_contact_days": 30}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = put_retention(&app, json!({"closed_tenant_days": 31})).await;
    assert_eq!(r.status(), 200);
    let policy: Value = app
        .get("/api/v1/settings/retention", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(policy["self_service_contact_days"], 30, "{policy}");

    let erase = || portal::service::retention::erase_closed_contacts(&app.services);
    assert_eq!(erase().await.unwrap(), 0, "closed today: kept");
    app.execute_sql(&format!(
        "UPDATE subscription_requests SET finished_at = finished_at - {} WHERE id IN ('{gone}', '{staff}')",
        31_i64 * 24 * 60 * 60_000
    ))
    .await;
    // The worker erases them at its start, and then every hour.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(portal::worker::run(
        app.services.clone(),
        portal::worker::WorkerConfig::default(),
        stopped,
    ));
    common::eventually(
        std::time::Duration::from_secs(10),
        "the worker to erase",
        || async { (request(&app, &gone).await["contact"]["email"] == "").then_some(()) },
    )
    .await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert_eq!(erase().await.unwrap(), 0, "once");

    let erased = request(&app, &gone).await;
    assert_eq!(erased["status"], "rejected");
    assert_eq!(erased["tenant"]["name"], "Erasable", "the skeleton stays");
    for field in ["first_name", "last_name", "email"] {
        assert_eq!(erased["contact"][field], "", "{erased}");
    }
    assert!(erased["contact"]["phone"].is_null(), "{erased}");
    assert!(
        !erased.to_string().contains("erin@erasable.example"),
        "{erased}"
    );
    let mail = app.store.list_mail(500).await.unwrap();
    let about = |id: &str| {
        mail.iter()
            .filter(|m| m.request_id.as_deref() == Some(id))
            .collect::<Vec<_>>()
    };
    assert!(!about(&gone).is_empty());
    assert!(
        about(&gone)
            .iter()
            .all(|m| m.recipient.is_empty() && m.body_text.is_empty())
    );
    assert!(
        about(&waiting)
            .iter()
            .all(|m| m.recipient == "wes@waiting.example")
    );
    // A staff request and an open one keep theirs.
    assert_eq!(request(&app, &staff).await["status"], "cancelled");
    assert_ne!(request(&app, &staff).await["contact"]["email"], "");
    assert_eq!(
        request(&app, &waiting).await["contact"]["email"],
        "wes@waiting.example"
    );
    app.finish().await;
}
