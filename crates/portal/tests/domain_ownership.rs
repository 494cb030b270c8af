//! Domain ownership for self-service requests: with the policy requiring it, a confirmed
//! request waits until a TXT record with its token is published at
//! `_portal-verify.<upn suffix>`, looked up through a real DNS server on loopback (dnslib's,
//! answering from a zone the test rewrites). No record, a wrong token and an unreachable
//! resolver leave it waiting and say why; the record added later (through a CNAME) lets it go
//! on; staff may vouch for a domain by hand. Each test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::smtp::{Received, smtp_mailer, smtp_server};
use common::{Db, TestApp, spawn_app_with, submission};
use portal::service::domain::DnsSettings;
use serde_json::{Value, json};

on_both_db!(
    a_prospect_proves_the_domain_by_dns_and_the_request_goes_on,
    staff_vouch_for_a_domain_by_hand_and_it_is_audited,
);

/// The test's DNS server (`tests/dns/server.py`), answering from `zone`.
struct Dns {
    child: Child,
    port: u16,
    zone: PathBuf,
    _dir: tempfile::TempDir,
}

impl Dns {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let zone = dir.path().join("zone.json");
        std::fs::write(&zone, "{}").unwrap();
        let (child, port) = Self::spawn(&zone, None);
        Self {
            child,
            port,
            zone,
            _dir: dir,
        }
    }

    fn spawn(zone: &PathBuf, port: Option<u16>) -> (Child, u16) {
        // scripts/test installs dnslib and says where its Python is.
        let python = std::env::var("PORTAL_TEST_DNS_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dns/server.py");
        let mut command = Command::new(&python);
        command.arg(script).arg(zone);
        if let Some(port) = port {
            command.arg(port.to_string());
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{python} could not start (run scripts/test, which installs dnslib): {e}")
            });
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let port = first
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!("the DNS server did not start; is dnslib installed for {python}?")
            });
        (child, port)
    }

    fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn publish(&self, zone: Value) {
        std::fs::write(&self.zone, zone.to_string()).unwrap();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn start_again(&mut self) {
        let (child, _) = Self::spawn(&self.zone, Some(self.port));
        self.child = child;
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop();
    }
}

type Inbox = Arc<Mutex<Vec<Received>>>;

/// A portal looking domains up through `dns`, its mail over SMTP to the test, with
/// `voice-essentials` offered publicly and the self-service policy requiring domains.
async fn portal(db: Db, dns: &Dns, approval: &str) -> Option<(TestApp, Inbox)> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = smtp_server(listener);
    let server = dns.address();
    let app = spawn_app_with(db, |s| {
        s.mailer = Arc::new(smtp_mailer(port));
        s.dns = DnsSettings {
            server: Some(server),
        };
    })
    .await?;
    let r = app
        .client
        .put(app.url("/api/v1/templates/voice-essentials/public"))
        .bearer_auth(&app.token)
        .json(&json!({"public": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let policy = |domain: &str| {
        json!({
            "approval": approval,
            "verification_hours": 24,
            "refused_email_domains": [],
            "domain_verification": domain,
        })
    };
    let r = app
        .client
        .put(app.url("/api/v1/settings/self-service"))
        .bearer_auth(&app.token)
        .json(&policy("sometimes"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "an unknown setting is refused");
    let r = app
        .client
        .put(app.url("/api/v1/settings/self-service"))
        .bearer_auth(&app.token)
        .json(&policy("required"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A client that does not know the setting leaves it as it is.
    let mut older = policy("");
    older.as_object_mut().unwrap().remove("domain_verification");
    let r = app
        .client
        .put(app.url("/api/v1/settings/self-service"))
        .bearer_auth(&app.token)
        .json(&older)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["domain_verification"],
        "required"
    );
    Some((app, inbox))
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn page(app: &TestApp, path: &str) -> String {
    let r = browser().get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

/// Posts a page's form (no fields) and reads where it leads.
async fn post_page(app: &TestApp, path: &str) -> String {
    let r = browser()
        .post(app.url(path))
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{path}");
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    page(app, &to).await
}

/// Registers `name` as a prospect and confirms its address; returns the request's id and
/// its status page's path.
async fn registered_and_confirmed(app: &TestApp, inbox: &Inbox, name: &str) -> (String, String) {
    let email = format!("owner@{}.example.com", name.to_lowercase());
    let mut body = submission(name);
    body["contact"]["email"] = json!(email);
    let r = app
        .client
        .post(app.url("/api/v1/public/registrations"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_pending_jobs().await;
    let mail = inbox
        .lock()
        .unwrap()
        .iter()
        .find(|m| m.to.iter().any(|t| t.contains(&email)))
        .cloned()
        .unwrap();
    let verify = mail.link("/registrations/verify/").unwrap();
    let path = verify
        .split_once("/registrations/")
        .map(|(_, p)| format!("/registrations/{p}"))
        .unwrap();
    let r = browser()
        .post(app.url(&path))
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let status = r.headers()["location"].to_str().unwrap();
    let status = status.split('?').next().unwrap().to_owned();
    (id, status)
}

async fn status_of(app: &TestApp, id: &str) -> String {
    let r: Value = app
        .get(&format!("/api/v1/subscription-requests/{id}"), &app.token)
        .await
        .json()
        .await
        .unwrap();
    r["status"].as_str().unwrap().to_owned()
}

/// The TXT record's value the status page asks for.
fn record_value(status_page: &str) -> String {
    let start = status_page.find("id=\"record-value\">").unwrap() + "id=\"record-value\">".len();
    let rest = &status_page[start..];
    rest[..rest.find('<').unwrap()].to_owned()
}

async fn a_prospect_proves_the_domain_by_dns_and_the_request_goes_on(db: Db) {
    let mut dns = Dns::start();
    let Some((app, inbox)) = portal(db, &dns, "automatic").await else {
        return;
    };
    let (id, status_path) = registered_and_confirmed(&app, &inbox, "Dnsco").await;
    assert_eq!(status_of(&app, &id).await, "pending_domain");
    let shown = page(&app, &status_path).await;
    assert!(
        shown.contains("<code id=\"record-name\">_portal-verify.dnsco.example.com</code>"),
        "{shown}"
    );
    let value = record_value(&shown);
    assert!(
        value.starts_with("portal-verify=") && value.len() > 30,
        "{value}"
    );

    // No record: the scheduled check says so, and the request waits.
    app.run_pending_jobs().await;
    let shown = page(&app, &status_path).await;
    assert!(
        shown.contains("No TXT record is published at _portal-verify.dnsco.example.com yet"),
        "{shown}"
    );
    assert_eq!(status_of(&app, &id).await, "pending_domain");

    // A record with another value.
    dns.publish(
        json!({"txt": {"_portal-verify.dnsco.example.com": ["portal-verify=someone-else"]}}),
    );
    let shown = post_page(&app, &format!("{status_path}/check-domain")).await;
    assert!(shown.contains("but not with this request"), "{shown}");
    assert_eq!(status_of(&app, &id).await, "pending_domain");

    // The resolver unreachable: the request waits and says why; nothing fails.
    dns.stop();
    let shown = post_page(&app, &format!("{status_path}/check-domain")).await;
    assert!(shown.contains("The DNS could not be asked"), "{shown}");
    assert_eq!(status_of(&app, &id).await, "pending_domain");
    dns.start_again();

    // The record added later, through a CNAME to the DNS host's name: the request goes on.
    dns.publish(json!({
        "cname": {"_portal-verify.dnsco.example.com": "dnsco.verify.dns-host.example"},
        "txt": {"dnsco.verify.dns-host.example": ["unrelated", value]},
    }));
    let shown = post_page(&app, &format!("{status_path}/check-domain")).await;
    assert!(shown.contains("id=\"domain-verified\""), "{shown}");
    assert_eq!(status_of(&app, &id).await, "accepted");
    app.run_pending_jobs().await;
    assert_eq!(status_of(&app, &id).await, "completed");
    let check = app.store.domain_check(&id).await.unwrap().unwrap();
    assert!(check.verified_at.is_some() && check.verified_by.is_none());
    let events: Value = app
        .get(&format!("/api/v1/subscription-requests/{id}"), &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(events.to_string().contains("verify-domain"), "{events}");
    app.finish().await;
}

async fn staff_vouch_for_a_domain_by_hand_and_it_is_audited(db: Db) {
    let dns = Dns::start();
    let Some((app, inbox)) = portal(db, &dns, "manual").await else {
        return;
    };
    let (id, _) = registered_and_confirmed(&app, &inbox, "Handco").await;
    assert_eq!(status_of(&app, &id).await, "pending_domain");
    let act = |action: &'static str| {
        app.client
            .post(app.url(&format!("/api/v1/subscription-requests/{id}/{action}")))
            .bearer_auth(&app.token)
            .json(&json!({}))
            .send()
    };
    assert_eq!(
        act("approve").await.unwrap().status(),
        409,
        "not before its domain"
    );
    assert_eq!(act("verify-domain").await.unwrap().status(), 200);
    assert_eq!(
        status_of(&app, &id).await,
        "pending_approval",
        "then the approval"
    );
    assert_eq!(act("verify-domain").await.unwrap().status(), 409, "once");
    let check = app.store.domain_check(&id).await.unwrap().unwrap();
    assert!(check.verified_by.is_some());
    let filter = portal_store::audit::AuditFilter {
        action: Some(portal_domain::AuditAction::DomainVerified),
        limit: 10,
        ..Default::default()
    };
    let audit = app.store.list_audit(&filter).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].subject.as_deref(), Some(id.as_str()));
    // The scheduled check of a request no longer waiting does nothing.
    app.run_pending_jobs().await;
    assert_eq!(status_of(&app, &id).await, "pending_approval");

    // A record not seen within 30 days: the request ends and frees its names.
    let (late, _) = registered_and_confirmed(&app, &inbox, "Lateco").await;
    let month_ago = portal_store::now_ms() - 31 * 24 * 60 * 60_000;
    app.execute_sql(&format!(
        "UPDATE domain_checks SET created_at = {month_ago} WHERE request_id = '{late}'"
    ))
    .await;
    portal::service::domain::check_scheduled(&app.services, &late)
        .await
        .unwrap();
    let r: Value = app
        .get(&format!("/api/v1/subscription-requests/{late}"), &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "cancelled", "{r}");
    assert!(r.to_string().contains("not seen within 30 days"), "{r}");
    assert_eq!(
        app.submit(&submission("Lateco")).await.status(),
        202,
        "its names are free"
    );
    app.finish().await;
}
