//! Outcome emails: one per outcome, through the outbox, delivered over real SMTP to a server
//! started by the test (mailin-embedded), or written to the local spool.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use portal_domain::MailStatus;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use common::smtp::{Received, smtp_mailer, smtp_server};
use common::{Db, TENANT_PASSWORD, TestApp, eventually, spawn_app_with, submission};
use portal::mail::Mailer;
use serde_json::{Value, json};

on_both_db!(
    the_success_and_the_failure_email_each_arrive_once_over_smtp,
    a_mail_outage_delays_the_email_and_it_arrives_once_when_the_server_is_back,
    a_worker_killed_while_sending_sends_the_email_at_most_twice_with_one_message_id,
    without_smtp_the_email_is_written_to_the_spool_and_listed,
    a_message_given_up_keeps_no_link_in_the_outbox,
    staff_send_a_finished_requests_outcome_email_again_once_per_ask,
);

async fn request(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/subscription-requests/{id}"), &app.token)
        .await
        .json()
        .await
        .unwrap()
}

async fn submit(app: &TestApp, body: &Value) -> String {
    let r = app.submit(body).await;
    assert_eq!(r.status(), 202);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn the_success_and_the_failure_email_each_arrive_once_over_smtp(db: Db) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = smtp_server(listener);
    let Some(app) = spawn_app_with(db, |s| s.mailer = Arc::new(smtp_mailer(port))).await else {
        return;
    };

    let mut ok = submission("KentonElectronics");
    ok["contact"]["email"] = json!("jo@kenton.example");
    let ok_id = submit(&app, &ok).await;
    // Another user already has the login the second request needs, so it fails.
    app.store
        .create_user(&portal_store::user::NewUser {
            id: portal_store::new_id(),
            username: "prpkeAdmin@clash.example.com".into(),
            password_hash: "x".into(),
            role: portal_domain::Role::TenantAdmin,
            tenant_id: None,
            email: None,
            status: portal_domain::AccountStatus::Active,
            must_change_password: false,
        })
        .await
        .unwrap();
    let mut bad = submission("Clash");
    bad["contact"]["email"] = json!("sam@clash.example");
    let bad_id = submit(&app, &bad).await;
    app.run_pending_jobs().await;
    app.run_pending_jobs().await;

    let messages = inbox.lock().unwrap().clone();
    assert_eq!(messages.len(), 2, "{messages:?}");
    let to = |who: &str| {
        messages
            .iter()
            .find(|m| m.to.iter().any(|t| t.contains(who)))
            .unwrap()
            .data
            .clone()
    };
    let success = to("jo@kenton.example");
    assert!(
        success.contains("Subject: Your tenant KentonElectronics is ready"),
        "{success}"
    );
    assert!(success.contains("prpkeAdmin@kentonelectronics.example.com"));
    assert!(success.contains("https://portal.provider.example/"));
    // Voice Essentials has no Smart Queues: no Callback Folder to set.
    assert!(!success.contains("Callback Folder"), "{success}");
    assert!(
        success.contains("multipart/alternative")
            && success.contains("text/plain")
            && success.contains("text/html")
    );
    assert!(
        success.contains(&format!(
            "<{}",
            app.store.mail_for_request(&ok_id).await.unwrap()[0].id
        )),
        "Message-ID from the outbox id"
    );
    let failure = to("sam@clash.example");
    assert!(
        failure.contains("Subject: We could not create your tenant Clash"),
        "{failure}"
    );
    assert!(failure.contains("already in use") && failure.contains(&bad_id));
    for m in &messages {
        assert!(
            !m.data.contains(TENANT_PASSWORD),
            "no password in any email"
        );
    }
    let ok_req = request(&app, &ok_id).await;
    assert_eq!(ok_req["notification"]["status"], "sent");
    assert!(ok_req["notification"]["sent_at"].is_string());
    assert_eq!(
        request(&app, &bad_id).await["notification"]["status"],
        "sent"
    );
    // Nothing is sent again.
    app.run_pending_jobs().await;
    assert_eq!(inbox.lock().unwrap().len(), 2);
    app.finish().await;
}

async fn a_mail_outage_delays_the_email_and_it_arrives_once_when_the_server_is_back(db: Db) {
    let reserved = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = reserved.local_addr().unwrap().port();
    drop(reserved);
    let Some(app) = spawn_app_with(db, |s| s.mailer = Arc::new(smtp_mailer(port))).await else {
        return;
    };
    let id = submit(&app, &submission("KentonElectronics")).await;
    app.run_pending_jobs().await;
    let r = request(&app, &id).await;
    assert_eq!(
        r["status"], "completed",
        "the outage does not touch provisioning"
    );
    assert_eq!(r["notification"]["status"], "pending");
    let mail = app.store.mail_for_request(&id).await.unwrap().remove(0);
    let attempts = app.store.mail_attempts(&mail.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].0, MailStatus::Failed);

    let inbox = smtp_server(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let sent = eventually(
        Duration::from_secs(20),
        "the email to be sent after the outage",
        || async {
            app.run_pending_jobs().await;
            let r = request(&app, &id).await;
            (r["notification"]["status"] == "sent").then_some(r)
        },
    )
    .await;
    assert!(sent["notification"]["sent_at"].is_string());
    assert_eq!(inbox.lock().unwrap().len(), 1);
    app.run_pending_jobs().await;
    assert_eq!(inbox.lock().unwrap().len(), 1, "exactly once");
    let outcomes: Vec<MailStatus> = app
        .store
        .mail_attempts(&mail.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.0)
        .collect();
    assert_eq!(outcomes.last(), Some(&MailStatus::Sent));
    assert!(
        outcomes
            .iter()
            .filter(|o| **o == MailStatus::Failed)
            .count()
            >= 1
    );
    app.finish().await;
}

/// The design sends at least once: a worker that dies after the SMTP server accepted the
/// message but before recording it leaves the job to be run again, so the message goes out a
/// second time, with the same Message-ID so that mail systems can drop the copy. It never goes
/// out three times for one death, and never zero times.
async fn a_worker_killed_while_sending_sends_the_email_at_most_twice_with_one_message_id(db: Db) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = smtp_server(listener);
    let Some(app) = spawn_app_with(db, |s| s.mailer = Arc::new(smtp_mailer(port))).await else {
        return;
    };
    let id = submit(&app, &submission("KentonElectronics")).await;
    // Provision only: claim the provisioning job and run it, leaving the mail job queued.
    let now = portal_store::now_ms();
    let provision = app
        .store
        .claim_jobs("w", 1, 60_000, now)
        .await
        .unwrap()
        .remove(0);
    portal::service::provision::provision(&app.services, &id)
        .await
        .unwrap();
    assert!(app.store.complete_job(&provision).await.unwrap());

    // A worker takes the mail job, the message is delivered, and the worker dies before it
    // records the sending.
    let mail_job = app
        .store
        .claim_jobs("doomed", 1, 1_000, portal_store::now_ms())
        .await
        .unwrap()
        .remove(0);
    let send: portal::jobs::SendMail = serde_json::from_str(&mail_job.payload).unwrap();
    let row = app.store.get_mail(&send.mail_id).await.unwrap();
    app.services.mailer.send(&row).await.unwrap();
    assert_eq!(inbox.lock().unwrap().len(), 1);
    assert_eq!(
        request(&app, &id).await["notification"]["status"],
        "pending"
    );

    // Its lease lapses; another worker rescues the job and sends again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (rescued, _) = app
        .store
        .rescue_expired_jobs(
            portal_store::now_ms(),
            "the worker stopped renewing its lease",
        )
        .await
        .unwrap();
    assert_eq!(rescued, 1);
    app.run_pending_jobs().await;
    let messages = inbox.lock().unwrap().clone();
    assert_eq!(messages.len(), 2, "sent twice, no more");
    let message_id = |m: &Received| {
        m.data
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(message_id(&messages[0]), message_id(&messages[1]));
    assert_eq!(request(&app, &id).await["notification"]["status"], "sent");
    app.run_pending_jobs().await;
    assert_eq!(inbox.lock().unwrap().len(), 2);
    app.finish().await;
}

async fn without_smtp_the_email_is_written_to_the_spool_and_listed(db: Db) {
    let spool = tempfile::tempdir().unwrap();
    let folder = spool.path().join("mail");
    let Some(app) =
        spawn_app_with(db, |s| s.mailer = Arc::new(Mailer::spool(folder.clone()))).await
    else {
        return;
    };
    let id = submit(&app, &submission("KentonElectronics")).await;
    app.run_pending_jobs().await;
    let files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().unwrap(), "eml");
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(eml.contains("Subject: Your tenant KentonElectronics is ready"));
    assert_eq!(request(&app, &id).await["notification"]["status"], "sent");
    let list: Value = app
        .get("/api/v1/mail", &app.token)
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "sent");
    let one: Value = app
        .get(
            &format!("/api/v1/mail/{}", items[0]["id"].as_str().unwrap()),
            &app.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        one["text"]
            .as_str()
            .unwrap()
            .contains("prpkeAdmin@kentonelectronics.example.com")
    );
    assert!(
        one["html"]
            .as_str()
            .unwrap()
            .contains("<strong>KentonElectronics</strong>")
    );
    app.finish().await;
}

/// A message that could never be sent is given up; its single-use link leaves the outbox then,
/// as it does when a message is sent.
async fn a_message_given_up_keeps_no_link_in_the_outbox(db: Db) {
    let reserved = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = reserved.local_addr().unwrap().port();
    drop(reserved);
    let Some(app) = spawn_app_with(db, |s| s.mailer = Arc::new(smtp_mailer(port))).await else {
        return;
    };
    let r = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&app.token)
        .json(&json!({"email": "new.operator@example.com", "role": "landlord_operator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let job = app
        .store
        .claim_jobs("w", 1, 60_000, portal_store::now_ms())
        .await
        .unwrap()
        .remove(0);
    let send: portal::jobs::SendMail = serde_json::from_str(&job.payload).unwrap();
    let before = app.store.get_mail(&send.mail_id).await.unwrap();
    let token_at = before.body_text.find("/invitation/").unwrap() + "/invitation/".len();
    let token: String = before.body_text[token_at..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    assert!(token.len() >= 32, "a token waits in the outbox until sent");
    // Its last attempt fails: the job is buried, and the message given up.
    let registry = portal::jobs::Registry::standard();
    assert!(
        registry
            .bury(&app.services, &job, "SMTP: connection refused")
            .await
            .unwrap()
    );
    let after = app.store.get_mail(&send.mail_id).await.unwrap();
    assert_eq!(after.status, MailStatus::Failed);
    for body in [&after.body_text, &after.body_html] {
        assert!(!body.contains(&token), "{body}");
        assert!(body.contains("/invitation/(hidden)"), "{body}");
    }
    app.finish().await;
}

/// Staff send a finished request's outcome email again: one new message per ask, recorded;
/// a request without an outcome yet has none to send.
async fn staff_send_a_finished_requests_outcome_email_again_once_per_ask(db: Db) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = smtp_server(listener);
    let Some(app) = spawn_app_with(db, |s| s.mailer = Arc::new(smtp_mailer(port))).await else {
        return;
    };
    let mut body = submission("Resent");
    body["contact"]["email"] = json!("jo@resent.example");
    let id = submit(&app, &body).await;
    let resend = |id: String| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(app.url(&format!("/api/v1/subscription-requests/{id}/resend-email")))
                .bearer_auth(&app.token)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // Not provisioned yet: nothing to send again.
    let (status, answer) = resend(id.clone()).await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be sent its outcome email again"),
        "{answer}"
    );
    app.run_pending_jobs().await;
    assert_eq!(inbox.lock().unwrap().len(), 1);

    let (status, queued) = resend(id.clone()).await;
    assert_eq!(status, 202, "{queued}");
    let mail_id = queued["mail_id"].as_str().unwrap().to_owned();
    app.run_pending_jobs().await;
    let messages = inbox.lock().unwrap().clone();
    assert_eq!(messages.len(), 2, "exactly one more");
    assert!(
        messages[1]
            .data
            .contains("Subject: Your tenant Resent is ready"),
        "{}",
        messages[1].data
    );
    assert!(messages[1].data.contains(&format!("<{mail_id}@")));
    let r = request(&app, &id).await;
    assert_eq!(r["notification"]["status"], "sent");
    // Again: one more each time, and each is in the audit log.
    assert_eq!(resend(id.clone()).await.0, 202);
    app.run_pending_jobs().await;
    assert_eq!(inbox.lock().unwrap().len(), 3);
    let audit: Value = app
        .get("/api/v1/audit?limit=50", &app.token)
        .await
        .json()
        .await
        .unwrap();
    let resent = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "outcome_email_resent" && e["subject"] == id.as_str())
        .count();
    assert_eq!(resent, 2);
    // From the request's page too.
    let cookie = app
        .page_session(common::ADMIN, common::ADMIN_PASSWORD)
        .await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser
        .get(app.url(&format!("/requests/{id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"resend-email\""), "{page}");
    let r = browser
        .post(app.url(&format!("/requests/{id}/resend-email")))
        .header("cookie", &cookie)
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let page = browser
        .get(app.url(&to))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("The outcome email is on its way again."),
        "{page}"
    );
    app.run_pending_jobs().await;
    assert_eq!(inbox.lock().unwrap().len(), 4);
    app.finish().await;
}
