//! Browser tests: the real binary, Debian's Chromium driven through chromedriver with
//! fantoccini, doing what a person does. Every page visited is checked with axe-core (no
//! serious or critical violations), and the main screens are saved to `target/screenshots/`.
//!
//! Needs `chromium`, `chromedriver` and `tests/browser/node_modules/axe-core`, which
//! `scripts/test` installs.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{ADMIN, ADMIN_PASSWORD, Portal, TENANT_PASSWORD};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A headless Chromium session through its own chromedriver; both end with it.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Self {
        // Port 0: chromedriver takes a free port as it listens and says which, so that no
        // other test's driver can take it between choosing and listening.
        let mut driver = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed; scripts/test installs it (chromium-driver)");
        let port = driver_port(&mut driver);
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,1100",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "args": args, "binary": "/usr/bin/chromium" }),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        driver,
                        _profile: profile,
                    };
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no browser session: {last:?}");
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The port a chromedriver started with `--port=0` listens on, from its line "ChromeDriver
/// was started successfully on port N.".
fn driver_port(driver: &mut Child) -> u16 {
    const SAID: &str = "started successfully on port ";
    let stdout = driver.stdout.take().expect("its output");
    common::announced(stdout, SAID, Duration::from_secs(60))
        .and_then(|line| {
            line.split(SAID)
                .nth(1)?
                .trim()
                .trim_end_matches('.')
                .parse()
                .ok()
        })
        .expect("chromedriver said which port it listens on within a minute")
}

/// The portal binary with a fresh data folder and a known landlord password.
fn start_portal(dir: &tempfile::TempDir, extra: &[(&str, &str)]) -> (Portal, String) {
    let portal = start_portal_unready(dir, extra);
    let base = portal.base_url();
    (portal, base)
}

/// [`start_portal`] without waiting for it to listen.
fn start_portal_unready(dir: &tempfile::TempDir, extra: &[(&str, &str)]) -> Portal {
    let data = dir.path().join("data");
    let mut envs = vec![
        ("PORTAL_LISTEN", "127.0.0.1:0"),
        ("PORTAL_DATA_DIR", data.to_str().unwrap()),
        ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ];
    envs.extend_from_slice(extra);
    Portal::start(&[], &envs)
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// Runs axe-core on the current page, its experimental rules too, and fails on any serious or
/// critical violation.
async fn check_accessibility(c: &Client, page: &str) {
    let axe = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/browser/node_modules/axe-core/axe.min.js"),
    )
    .expect("axe-core is not installed; scripts/test installs it with npm");
    c.execute(&axe, Vec::new()).await.unwrap();
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const experimental = axe.getRules(['experimental']).map((r) => r.ruleId);
             const rules = Object.fromEntries(experimental.map((id) => [id, { enabled: true }]));
             axe.run(document, { rules }).then(
               (r) => done(r.violations
                 .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                 .map((v) => v.impact + ' ' + v.id + ': ' + v.help + ' at '
                   + v.nodes.map((n) => n.target.join(' ')).join(', '))),
               (e) => done(['axe failed: ' + e]));",
            Vec::new(),
        )
        .await
        .unwrap();
    let violations: Vec<String> = serde_json::from_value(found).unwrap();
    assert!(
        violations.is_empty(),
        "accessibility violations on {page}: {violations:#?}"
    );
    check_security(c, page).await;
}

/// The page's answer carries the security headers, and nothing on it broke its content
/// security policy (an inline script or style, a foreign source): the browser's own
/// reports of violations, kept from the page's start, are read back.
async fn check_security(c: &Client, page: &str) {
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const reports = [];
             const observer = new ReportingObserver((list) => reports.push(...list),
               { types: ['csp-violation'], buffered: true });
             observer.observe();
             const headers = fetch(location.href, { headers: { 'X-Portal-Poll': '1' } })
               .then((r) => Object.fromEntries(['content-security-policy', 'x-content-type-options',
                 'referrer-policy', 'cache-control', 'x-frame-options'].map((h) => [h, r.headers.get(h)])));
             setTimeout(() => headers.then((h) => {
               reports.push(...observer.takeRecords());
               done({ headers: h, violations: reports.map((r) =>
                 r.body.effectiveDirective + ' ' + (r.body.blockedURL || '') + ' ' + (r.body.sample || '')) });
             }, (e) => done({ headers: {}, violations: ['fetch failed: ' + e] })), 100);",
            Vec::new(),
        )
        .await
        .unwrap();
    let violations: Vec<String> = serde_json::from_value(found["violations"].clone()).unwrap();
    assert!(
        violations.is_empty(),
        "content security policy broken on {page}: {violations:#?}"
    );
    let header = |name: &str| {
        found["headers"][name]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let csp = header("content-security-policy");
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{page}: {csp:?}"
    );
    assert!(!csp.contains("unsafe-inline"), "{page}: {csp:?}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{page}");
    assert_eq!(header("referrer-policy"), "same-origin", "{page}");
    assert_eq!(header("x-frame-options"), "DENY", "{page}");
    assert!(header("cache-control").contains("no-store"), "{page}");
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn value_of(c: &Client, id: &str) -> String {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

async fn type_into(c: &Client, id: &str, text: &str) {
    let field = c.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Submits a request for `name` through the JSON API as the landlord; returns its id.
/// A landlord administrator's API token.
async fn admin_token(client: &reqwest::Client, base: &str) -> String {
    let signed_in: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    signed_in["token"].as_str().unwrap().to_owned()
}

async fn submit_by_api(base: &str, name: &str, upn_suffix: &str) -> String {
    let client = reqwest::Client::new();
    let token = &admin_token(&client, base).await;
    let body = json!({"template_id": "voice-essentials",
        "tenant": {"name": name, "short_name": "long", "upn_suffix": upn_suffix,
            "admin_user_name": "lkAdmin", "password": TENANT_PASSWORD,
            "confirm_password": TENANT_PASSWORD, "ani": "+44 20 7946 0000"},
        "contact": {"first_name": "Lee", "last_name": "Long", "email": "lee@lakeside.example.com"}});
    let accepted: serde_json::Value = client
        .post(format!("{base}/api/v1/subscription-requests"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    accepted["id"].as_str().expect("accepted").to_owned()
}

/// Stores a version 2 of voice-essentials through the API: one object's description changed,
/// one dropped, a skill added.
async fn second_template_version_by_api(base: &str) {
    let client = reqwest::Client::new();
    let token = &admin_token(&client, base).await;
    let url = format!("{base}/api/v1/templates/voice-essentials");
    let t: serde_json::Value = client
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut objects = t["objects"].as_array().unwrap().clone();
    objects[1]["properties"]["description"] = json!("Updated by the template");
    objects.remove(2);
    objects.push(json!({"kind": "skill", "name": "Escalations", "properties": {}}));
    let r = client
        .put(&url)
        .bearer_auth(token)
        .json(&json!({"name": t["name"], "description": t["description"],
            "services": t["services"], "objects": objects}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Fails unless the button `button` sits under the last of the fields `fields`, not beside
/// it.
async fn under(c: &Client, button: &str, fields: &str) {
    let found = c
        .execute(
            "const b = document.querySelector(arguments[0]).getBoundingClientRect();
             const all = document.querySelectorAll(arguments[1]);
             const f = all[all.length - 1].getBoundingClientRect();
             return [b.top, f.bottom];",
            vec![button.into(), fields.into()],
        )
        .await
        .unwrap();
    let [top, bottom]: [f64; 2] = serde_json::from_value(found).unwrap();
    assert!(
        top >= bottom,
        "{button} (top {top}) sits beside {fields} (bottom {bottom}) instead of under it"
    );
}

async fn sign_in(c: &Client, base: &str) {
    c.goto(&format!("{base}/sign-in")).await.unwrap();
    check_accessibility(c, "sign in").await;
    under(c, "main button[type=submit]", "main input").await;
    type_into(c, "username", ADMIN).await;
    type_into(c, "password", ADMIN_PASSWORD).await;
    click(c, "main button[type=submit]").await;
    wait_for(c, Locator::Css("a[href='/register']")).await;
}

/// What a person types into the three tabs of Tenant Registration (the passwords are the
/// tests' tenant password).
struct Typed<'a> {
    template: &'a str,
    name: &'a str,
    short_name: &'a str,
    upn_suffix: &'a str,
    user_name: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    email: &'a str,
}

/// Chooses the template and fills the Tenant and Contact tabs with `t`, going from tab to tab
/// with the Next buttons; the Contact tab is open after.
async fn fill_tabs(c: &Client, t: &Typed<'_>) {
    click(c, &format!("input[value='{}']", t.template)).await;
    click(c, "[data-next-tab=tenant]").await;
    type_into(c, "name", t.name).await;
    type_into(c, "short_name", t.short_name).await;
    type_into(c, "upn_suffix", t.upn_suffix).await;
    type_into(c, "admin_user_name", t.user_name).await;
    type_into(c, "password", TENANT_PASSWORD).await;
    type_into(c, "confirm_password", TENANT_PASSWORD).await;
    type_into(c, "ani", "+44 20 7946 0000").await;
    click(c, "[data-next-tab=contact]").await;
    type_into(c, "first_name", t.first_name).await;
    type_into(c, "last_name", t.last_name).await;
    type_into(c, "email", t.email).await;
}

/// Fills the three tabs correctly for `name` and clicks Create Tenant; returns the reference.
async fn register(c: &Client, base: &str, name: &str) -> String {
    c.goto(&format!("{base}/register")).await.unwrap();
    let upn_suffix = format!("{}.example.com", name.to_lowercase());
    fill_tabs(
        c,
        &Typed {
            template: "omnichannel-smart-queues",
            name,
            short_name: &name[..4],
            upn_suffix: &upn_suffix,
            user_name: "keAdmin",
            first_name: "Jo",
            last_name: "Kenton",
            email: "jo@example.com",
        },
    )
    .await;
    under(c, "#create-tenant", "#contact input, #contact textarea").await;
    click(c, "#create-tenant").await;
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Id("reference"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits on a request's page, without reloading it, until its progress stops being live.
async fn wait_until_settled(c: &Client) -> String {
    c.wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css("#progress:not([data-live])"))
        .await
        .unwrap();
    text_of(c, "#progress [data-status]").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_registers_a_tenant_with_a_mistake_on_each_tab_and_follows_it_to_completed() {
    let dir = tempfile::tempdir().unwrap();
    let (_portal, base) = start_portal(&dir, &[]);
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &base).await;
    check_accessibility(c, "home").await;

    c.goto(&format!("{base}/register")).await.unwrap();
    check_accessibility(c, "tenant registration").await;
    screenshot(c, "registration-template-tab").await;
    // Template tab: nothing chosen. Tenant tab: an underscore in the name, passwords that
    // differ. Contact tab: an email without a domain.
    click(c, "[data-next-tab=tenant]").await;
    type_into(c, "name", "Kenton_Electronics").await;
    type_into(c, "short_name", "ke").await;
    type_into(c, "upn_suffix", "kenton-electronics.com").await;
    // The personnel ID shown as it is typed is only ever what the portal would make.
    type_into(c, "admin_user_name", "ke Admin").await;
    assert_eq!(
        text_of(c, "#personnel-id").await,
        "letters A-Z and digits only"
    );
    type_into(c, "admin_user_name", "prpkeAdmin").await;
    assert_eq!(
        text_of(c, "#personnel-id").await,
        "type it without prp: the portal adds prp"
    );
    type_into(c, "admin_user_name", "keAdmin").await;
    assert_eq!(text_of(c, "#personnel-id").await, "prpkeAdmin");
    type_into(c, "password", TENANT_PASSWORD).await;
    type_into(c, "confirm_password", "Another-Password-99").await;
    type_into(c, "ani", "+44 20 7946 0000").await;
    screenshot(c, "registration-tenant-tab").await;
    check_accessibility(c, "tenant registration, Tenant tab").await;
    // Enter in a field of the Tenant tab goes on to the Contact tab, as Next does: nothing
    // is sent yet.
    c.find(Locator::Id("ani"))
        .await
        .unwrap()
        .send_keys("\u{e007}")
        .await
        .unwrap();
    wait_for(c, Locator::Css("#contact-tab[aria-selected=true]")).await;
    assert!(
        c.find(Locator::Id("error-summary")).await.is_err(),
        "not sent"
    );
    let focused = c
        .execute("return document.activeElement.id;", Vec::new())
        .await
        .unwrap();
    assert_eq!(focused, json!("first_name"));
    type_into(c, "first_name", "Jo").await;
    type_into(c, "last_name", "Kenton").await;
    type_into(c, "email", "jo@").await;
    screenshot(c, "registration-contact-tab").await;
    check_accessibility(c, "tenant registration, Contact tab").await;
    click(c, "#create-tenant").await;

    let summary = wait_for(c, Locator::Id("error-summary"))
        .await
        .text()
        .await
        .unwrap();
    for expected in ["Template:", "Name:", "Confirm Password:", "Email:"] {
        assert!(summary.contains(expected), "{expected} in {summary}");
    }
    assert_eq!(
        c.find_all(Locator::Css("#error-summary li"))
            .await
            .unwrap()
            .len(),
        4,
        "{summary}"
    );
    // Every tab is marked, and the first with an error is open.
    for (tab, note) in [
        ("template-tab", "(1 error)"),
        ("tenant-tab", "(2 errors)"),
        ("contact-tab", "(1 error)"),
    ] {
        let text = text_of(c, &format!("#{tab}")).await;
        assert!(text.ends_with(note), "{tab}: {text}");
    }
    let open = c.find(Locator::Id("template-tab")).await.unwrap();
    assert_eq!(
        open.attr("aria-selected").await.unwrap().as_deref(),
        Some("true")
    );
    screenshot(c, "registration-errors").await;
    check_accessibility(c, "tenant registration with errors").await;

    // Following the summary's link to the name opens the Tenant tab at the field.
    click(c, "#error-summary a[href='#name']").await;
    let tenant_tab = c.find(Locator::Id("tenant-tab")).await.unwrap();
    assert_eq!(
        tenant_tab.attr("aria-selected").await.unwrap().as_deref(),
        Some("true")
    );
    let name_error = text_of(c, "#name-error").await;
    assert!(
        name_error.contains("no spaces, underscores"),
        "{name_error}"
    );
    let focused = c.active_element().await.unwrap().attr("id").await.unwrap();
    assert_eq!(focused.as_deref(), Some("name"));
    // What was typed is kept, except the passwords.
    assert_eq!(value_of(c, "name").await, "Kenton_Electronics");
    assert_eq!(value_of(c, "upn_suffix").await, "kenton-electronics.com");
    assert_eq!(value_of(c, "password").await, "");
    assert_eq!(value_of(c, "confirm_password").await, "");
    assert_eq!(value_of(c, "email").await, "jo@");
    assert_eq!(text_of(c, "#personnel-id").await, "prpkeAdmin");

    // Fix each mistake.
    click(c, "#template-tab").await;
    click(c, "input[value='omnichannel-smart-queues']").await;
    click(c, "#tenant-tab").await;
    type_into(c, "name", "KentonElectronics").await;
    type_into(c, "password", TENANT_PASSWORD).await;
    type_into(c, "confirm_password", TENANT_PASSWORD).await;
    click(c, "#contact-tab").await;
    type_into(c, "email", "jo@kenton-electronics.com").await;
    click(c, "#create-tenant").await;

    let reference = c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Id("reference"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // A fast worker may have finished by the time the page is shown: it says so then.
    let accepted = text_of(c, "main").await;
    assert!(
        accepted.contains("Provisioning has started")
            || accepted.contains("Provisioning is done: the tenant is ready."),
        "{accepted}"
    );
    check_accessibility(c, "request accepted").await;

    // Its page follows the provisioning live until it completes.
    click(c, "a[href^='/requests/']").await;
    assert_eq!(wait_until_settled(c).await, "completed");
    assert_eq!(
        c.find_all(Locator::Css(".timeline .step-done"))
            .await
            .unwrap()
            .len(),
        6
    );
    assert!(
        text_of(c, "#progress")
            .await
            .contains("Email sent to jo@kenton-electronics.com")
    );
    assert!(text_of(c, "#history").await.contains("admin"));
    check_accessibility(c, "request").await;

    // Tenant Creation Management lists it; its row leads back to its page.
    c.goto(&format!("{base}/requests")).await.unwrap();
    let row = text_of(c, "#requests tbody tr").await;
    assert!(
        row.contains("KentonElectronics") && row.contains("completed"),
        "{row}"
    );
    screenshot(c, "tenant-creation-management").await;
    check_accessibility(c, "tenant creation management").await;
    c.goto(&format!("{base}/requests?status=failed"))
        .await
        .unwrap();
    assert!(
        c.find_all(Locator::Css("#requests"))
            .await
            .unwrap()
            .is_empty()
    );
    c.goto(&format!("{base}/requests?q=kenton")).await.unwrap();
    click(c, "#requests tbody a").await;
    assert!(c.current_url().await.unwrap().path().ends_with(&reference));
    screenshot(c, "request-completed").await;

    // The tenant it made, with its configuration by kind.
    click(c, "#progress a[href^='/tenants/']").await;
    let tenant = text_of(c, "main").await;
    assert!(
        tenant.contains("prpkeAdmin@kenton-electronics.com"),
        "{tenant}"
    );
    assert!(tenant.contains("Configuration (46 objects)"), "{tenant}");
    check_accessibility(c, "tenant").await;
    c.goto(&format!("{base}/tenants")).await.unwrap();
    check_accessibility(c, "tenants").await;

    // The other pages of the menu.
    for (path, name) in [
        ("/templates", "templates"),
        ("/templates/omnichannel-smart-queues", "template"),
        ("/templates/new", "new template"),
        ("/templates/voice-essentials/edit", "new template version"),
        ("/templates/voice-essentials/retire", "retire template"),
        ("/settings", "provisioning policy"),
        ("/mail", "mail"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        check_accessibility(c, name).await;
    }
    click(c, "main tbody a").await;
    assert!(
        text_of(c, "main")
            .await
            .contains("KentonElectronics is ready")
    );
    check_accessibility(c, "one email").await;

    // On a phone's width nothing needs sideways scrolling, not even a name of the longest
    // allowed length, and no table is wider than the page; the header stays short.
    let longest = submit_by_api(&base, &"Lakeside".repeat(8), "lakeside.example.com").await;
    c.set_window_size(390, 844).await.unwrap();
    for (path, name) in [
        ("/register".to_owned(), "registration"),
        ("/requests".to_owned(), "tenant-creation-management"),
        (format!("/requests/{reference}"), "request"),
        (format!("/requests/{longest}"), "request-longest-name"),
        ("/audit".to_owned(), "audit"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        let fits = c
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth
                   && [...document.querySelectorAll('.table-wrap')]
                        .every((w) => w.scrollWidth <= w.clientWidth);",
                Vec::new(),
            )
            .await
            .unwrap();
        assert_eq!(fits, json!(true), "{path} is wider than a phone");
        let header = c
            .execute(
                "return document.querySelector('header').getBoundingClientRect().height;",
                Vec::new(),
            )
            .await
            .unwrap();
        let header: f64 = serde_json::from_value(header).unwrap();
        assert!(header <= 120.0, "the header of {path} takes {header} px");
        screenshot(c, &format!("phone-{name}")).await;
    }

    // The tenant's administrator signs in with the login ID and sees their tenant.
    c.set_window_size(1280, 1100).await.unwrap();
    click(c, "header form button").await;
    wait_for(c, Locator::Id("username")).await;
    type_into(c, "username", "prpkeAdmin@kenton-electronics.com").await;
    type_into(c, "password", TENANT_PASSWORD).await;
    click(c, "main button[type=submit]").await;
    change_typed_password(c, &base).await;
    let home = wait_for(c, Locator::Css("main > p > a[href^='/tenants/']")).await;
    assert!(text_of(c, "main").await.contains("KentonElectronics"));
    check_accessibility(c, "a tenant administrator's home").await;
    home.click().await.unwrap();
    assert!(
        text_of(c, "main")
            .await
            .contains("Configuration (46 objects)")
    );
    check_accessibility(c, "a tenant administrator's tenant").await;
    c.goto(&format!("{base}/requests")).await.unwrap();
    assert!(
        text_of(c, "main")
            .await
            .contains("Your role does not allow this.")
    );
    check_accessibility(c, "a page the role may not use").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_ends_while_the_form_is_filled_signs_in_again_and_keeps_what_was_typed() {
    let dir = tempfile::tempdir().unwrap();
    let (_portal, base) = start_portal(&dir, &[]);
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &base).await;
    c.goto(&format!("{base}/register")).await.unwrap();
    fill_tabs(
        c,
        &Typed {
            template: "voice-essentials",
            name: "HarbourLights",
            short_name: "hlts",
            upn_suffix: "harbour-lights.example.com",
            user_name: "hlAdmin",
            first_name: "Hal",
            last_name: "Harbour",
            email: "hal@harbour-lights.example.com",
        },
    )
    .await;

    // Meanwhile the session ends on the portal's side; the browser still sends its cookie.
    let session = c.get_named_cookie("portal_session").await.unwrap();
    let ended = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{base}/sign-out"))
        .header("cookie", format!("portal_session={}", session.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 303);
    click(c, "#create-tenant").await;
    wait_for_text(
        c,
        "#sign-in-notice",
        "Your session ended; sign in to continue.",
    )
    .await;
    check_accessibility(c, "sign in after the session ended").await;
    type_into(c, "username", ADMIN).await;
    type_into(c, "password", ADMIN_PASSWORD).await;
    click(c, "main button[type=submit]").await;

    // Back on the form with what was typed, the passwords aside.
    wait_for(c, Locator::Id("name")).await;
    assert_eq!(value_of(c, "name").await, "HarbourLights");
    assert_eq!(value_of(c, "email").await, "hal@harbour-lights.example.com");
    assert_eq!(value_of(c, "password").await, "");
    assert!(text_of(c, "main").await.contains("what you typed is back"));
    click(c, "#tenant-tab").await;
    type_into(c, "password", TENANT_PASSWORD).await;
    type_into(c, "confirm_password", TENANT_PASSWORD).await;
    click(c, "#contact-tab").await;
    click(c, "#create-tenant").await;
    wait_for_text(c, "main", "Request accepted").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_is_retried_from_its_page_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let fault = dir.path().join("fault");
    std::fs::write(&fault, "clone_configuration").unwrap();
    let (_portal, base) = start_portal(
        &dir,
        &[
            ("PORTAL_PROVISION_ATTEMPTS", "1"),
            ("PORTAL_FAULT_STEP_FILE", fault.to_str().unwrap()),
        ],
    );
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &base).await;
    register(c, &base, "NorthwindTraders").await;
    click(c, "a[href^='/requests/']").await;
    assert_eq!(wait_until_settled(c).await, "failed");
    let progress = text_of(c, "#progress").await;
    assert!(progress.contains("What went wrong"), "{progress}");
    screenshot(c, "request-failed").await;

    std::fs::remove_file(&fault).unwrap();
    click(c, "#progress a[href$='/retry']").await;
    assert!(
        text_of(c, "main")
            .await
            .contains("Provision NorthwindTraders again")
    );
    check_accessibility(c, "confirm retry").await;
    click(c, "main button[type=submit]").await;
    wait_for(c, Locator::Css("p.notice")).await;
    assert_eq!(wait_until_settled(c).await, "completed");
    let history = text_of(c, "#history").await;
    assert!(
        history.contains("retry") && history.contains("failed → accepted"),
        "{history}"
    );

    // From the list, its outcome email is sent again as a bulk action of one.
    c.goto(&format!("{base}/requests")).await.unwrap();
    wait_for(c, Locator::Id("bulk-form")).await;
    check_accessibility(c, "Tenant Creation Management with its bulk actions").await;
    click(c, "#requests input[name=ids]").await;
    c.execute(
        "document.getElementById('bulk-action').value = 'resend'",
        Vec::new(),
    )
    .await
    .unwrap();
    click(c, "#bulk-selected").await;
    wait_for_text(c, "h1", "Send the outcome email again: 1 done, 0 refused").await;
    assert!(text_of(c, "#done").await.contains("NorthwindTraders"));
    check_accessibility(c, "the answer of a bulk action").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_off_peak_policy_the_next_request_is_scheduled_at_the_window_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_portal, base) = start_portal(&dir, &[]);
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &base).await;

    // A window that opens two hours from now, in UTC, for an hour.
    let now = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let opens = now
        .checked_add(jiff::SignedDuration::from_hours(2))
        .unwrap()
        .time();
    let closes = now
        .checked_add(jiff::SignedDuration::from_hours(3))
        .unwrap()
        .time();
    let hhmm = |t: jiff::civil::Time| format!("{:02}:{:02}", t.hour(), t.minute());
    c.goto(&format!("{base}/settings")).await.unwrap();
    click(c, "#mode-off-peak").await;
    // A mistake first: a time that is not one.
    type_into(c, "start", "25:00").await;
    type_into(c, "end", &hhmm(closes)).await;
    type_into(c, "time_zone", "UTC").await;
    click(c, "main button[type=submit]").await;
    let summary = wait_for(c, Locator::Id("error-summary"))
        .await
        .text()
        .await
        .unwrap();
    assert!(summary.contains("Window opens"), "{summary}");
    check_accessibility(c, "provisioning policy with an error").await;
    type_into(c, "start", &hhmm(opens)).await;
    click(c, "main button[type=submit]").await;
    wait_for(c, Locator::Css("p.notice")).await;

    // The window's start: today or tomorrow at the opening minute.
    let start = {
        let today = now
            .date()
            .to_datetime(opens)
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .unwrap();
        if today.timestamp() > now.timestamp() {
            today
        } else {
            today.tomorrow().unwrap()
        }
    };
    let expected = start.strftime("%Y-%m-%d %H:%M UTC").to_string();
    assert!(text_of(c, "#next-start").await.contains(&expected));

    c.goto(&format!("{base}/register")).await.unwrap();
    assert!(text_of(c, "main").await.contains(&expected));
    register(c, &base, "NightOwls").await;
    let next = text_of(c, "main dl").await;
    assert!(next.contains(&format!("it starts at {expected}")), "{next}");
    click(c, "a[href^='/requests/']").await;
    assert_eq!(text_of(c, "#progress [data-status]").await, "scheduled");
    assert!(
        text_of(c, "#progress")
            .await
            .contains(&format!("Scheduled for {expected}"))
    );
    c.goto(&format!("{base}/requests?status=scheduled"))
        .await
        .unwrap();
    let row = text_of(c, "#requests tbody tr").await;
    assert!(
        row.contains("NightOwls") && row.contains(&expected),
        "{row}"
    );
    browser.close().await;
}

/// The element `at`, once the page shows it (within ten seconds).
async fn wait_for(c: &Client, at: Locator<'_>) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(at)
        .await
        .unwrap()
}

/// Waits until the element at `css` holds `needle` (the page may be changing meanwhile).
async fn wait_for_text(c: &Client, css: &str, needle: &str) {
    for _ in 0..100 {
        if let Ok(element) = c.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
            && text.contains(needle)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shown = match c.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    panic!("{css} never held {needle:?}; it holds {shown:?}");
}

async fn sign_out(c: &Client) {
    click(c, "header form button").await;
    wait_for(c, Locator::Id("username")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_administrator_sets_and_publishes_the_callback_folder_address_and_the_landlord_sees_it()
 {
    let dir = tempfile::tempdir().unwrap();
    let (_portal, base) = start_portal(&dir, &[]);
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &base).await;
    register(c, &base, "LakesideOptics").await;
    click(c, "a[href^='/requests/']").await;
    assert_eq!(wait_until_settled(c).await, "completed");
    sign_out(c).await;

    // The tenant's administrator signs in with the login ID and sees what is left to do.
    type_into(c, "username", "prpkeAdmin@lakesideoptics.example.com").await;
    type_into(c, "password", TENANT_PASSWORD).await;
    click(c, "main button[type=submit]").await;
    change_typed_password(c, &base).await;
    let checklist = wait_for(c, Locator::Id("checklist"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        checklist.contains("To do: Set the Callback Folder email address"),
        "{checklist}"
    );
    screenshot(c, "tenant-home-checklist").await;
    click(c, "#checklist a").await;
    let field = c.find(Locator::Id("callback_folder_email")).await.unwrap();
    assert_eq!(field.prop("value").await.unwrap().as_deref(), Some(""));
    check_accessibility(c, "Smart Queues general parameters").await;

    under(
        c,
        "#save-draft",
        "form:has(#save-draft) input:not([type=hidden]), form:has(#save-draft) select",
    )
    .await;
    // Publishing without the address is refused at the field; with it, it goes live.
    click(c, "#save-draft").await;
    // Publish stands on the page before and after saving: wait for the saved page first.
    wait_for_text(c, "p.notice", "Draft saved").await;
    click(c, "#publish").await;
    let summary = wait_for(c, Locator::Id("error-summary"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        summary.contains("required while callback is enabled"),
        "{summary}"
    );
    check_accessibility(c, "Smart Queues general parameters with an error").await;
    type_into(c, "callback_folder_email", "callbacks@lakeside-optics.com").await;
    click(c, "#save-draft").await;
    wait_for(c, Locator::Css("p.notice")).await;
    // Before publishing, the draft is shown beside the live version: what will change.
    let changes = text_of(c, "#changes").await;
    assert!(
        changes.contains("Callback Folder email address")
            && changes.contains("callbacks@lakeside-optics.com"),
        "{changes}"
    );
    click(c, "#publish").await;
    wait_for_text(c, "p.notice", "Published").await;
    assert!(text_of(c, "#published-heading").await.contains("version 2"));
    assert!(
        text_of(c, "#published")
            .await
            .contains("callbacks@lakeside-optics.com")
    );
    // A value changed on the screen and published without saving is what is published.
    type_into(c, "default_priority", "61").await;
    click(c, "#publish").await;
    wait_for_text(c, "#published-heading", "version 3").await;
    assert!(text_of(c, "#published").await.contains("61"));
    screenshot(c, "smart-queues-general-parameters").await;
    c.goto(&format!("{base}/")).await.unwrap();
    assert!(text_of(c, "#checklist").await.contains("Done"));
    c.goto(&format!("{base}/audit")).await.unwrap();
    check_accessibility(c, "a tenant's audit log").await;
    sign_out(c).await;

    // The landlord finds the publish in the audit log.
    type_into(c, "username", ADMIN).await;
    type_into(c, "password", ADMIN_PASSWORD).await;
    click(c, "main button[type=submit]").await;
    wait_for(c, Locator::Css("a[href='/audit']"))
        .await
        .click()
        .await
        .unwrap();
    wait_for(c, Locator::Id("action"))
        .await
        .select_by_value("parameters_published")
        .await
        .unwrap();
    click(c, "form.filters button[type=submit]").await;
    // The unfiltered list is on screen until the filtered one replaces it.
    wait_for_text(c, "#audit tbody tr", "Smart Queues parameters published").await;
    let row = text_of(c, "#audit tbody tr").await;
    assert!(
        row.contains("prpkeAdmin@lakesideoptics.example.com")
            && row.contains("Smart Queues parameters published")
            && row.contains("LakesideOptics")
            && row.contains("version 3")
            && row.contains("127.0.0.1"),
        "{row}"
    );
    assert_eq!(
        c.find_all(Locator::Css("#audit tbody tr"))
            .await
            .unwrap()
            .len(),
        2,
        "the two publishes"
    );
    check_accessibility(c, "audit log").await;
    screenshot(c, "audit-log").await;
    browser.close().await;
}

/// The path of the first link under `path` in the newest spooled email whose text holds
/// `subject` (quoted-printable soft breaks undone).
fn link_in_spool(data: &std::path::Path, subject: &str, path: &str) -> String {
    let mut mails: Vec<_> = std::fs::read_dir(data.join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .map(|t| {
            t.replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=")
        })
        .filter(|t| t.contains(subject))
        .collect();
    let text = mails
        .pop()
        .unwrap_or_else(|| panic!("no email with {subject:?}"));
    let at = text.find(path).unwrap();
    let token: String = text[at + path.len()..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    format!("{path}{token}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prospect_registers_on_the_public_page_confirms_the_address_and_is_approved() {
    let dir = tempfile::tempdir().unwrap();
    let (_portal, base) = start_portal(&dir, &[]);
    let browser = Browser::start().await;
    let c = &browser.client;
    // The landlord offers a template to prospects.
    sign_in(c, &base).await;
    c.goto(&format!("{base}/templates/voice-essentials"))
        .await
        .unwrap();
    click(c, "#toggle-public").await;
    wait_for_text(c, "#public-state", "Offered to prospects").await;
    check_accessibility(c, "template offered publicly").await;
    c.goto(&format!("{base}/settings/self-service"))
        .await
        .unwrap();
    check_accessibility(c, "self-service policy").await;
    sign_out(c).await;

    // A prospect, not signed in, comes in from the sign-in page.
    click(c, "a[href='/join']").await;
    wait_for(c, Locator::Css("form[action='/join']")).await;
    check_accessibility(c, "public registration").await;
    assert!(
        c.find(Locator::Css("input[value='omnichannel-smart-queues']"))
            .await
            .is_err(),
        "only templates on offer"
    );
    fill_tabs(
        c,
        &Typed {
            template: "voice-essentials",
            name: "OpenDoorTravel",
            short_name: "odt",
            upn_suffix: "opendoortravel.example.com",
            user_name: "odAdmin",
            first_name: "Ola",
            last_name: "Door",
            email: "ola@opendoor.example",
        },
    )
    .await;
    screenshot(c, "public-registration").await;
    click(c, "#create-tenant").await;
    wait_for_text(c, "main h1", "Check your email").await;
    check_accessibility(c, "registration sent").await;

    let data = dir.path().join("data");
    let mut verify = None;
    for _ in 0..100 {
        if std::fs::read_dir(data.join("mail")).is_ok_and(|mut d| d.next().is_some()) {
            verify = Some(link_in_spool(
                &data,
                "Confirm your email address",
                "/registrations/verify/",
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let verify = verify.expect("the confirmation email was spooled");
    let status = link_in_spool(
        &data,
        "Confirm your email address",
        "/registrations/status/",
    );
    c.goto(&format!("{base}{verify}")).await.unwrap();
    check_accessibility(c, "confirm the address").await;
    click(c, "#confirm-email").await;
    wait_for_text(c, "#progress [data-status]", "pending approval").await;
    check_accessibility(c, "request status").await;
    screenshot(c, "registration-status").await;

    // The landlord approves it from the home page's list of waiting requests.
    c.goto(&format!("{base}/sign-in")).await.unwrap();
    type_into(c, "username", ADMIN).await;
    type_into(c, "password", ADMIN_PASSWORD).await;
    click(c, "main button[type=submit]").await;
    wait_for(c, Locator::Id("awaiting-approval"))
        .await
        .click()
        .await
        .unwrap();
    wait_for_text(c, "#requests tbody", "OpenDoorTravel").await;
    click(c, "#requests tbody a").await;
    wait_for(c, Locator::Css("a.button[href$='/approve']"))
        .await
        .click()
        .await
        .unwrap();
    wait_for_text(c, "main h1", "Approve").await;
    check_accessibility(c, "confirm approval").await;
    click(c, "main button[type=submit]").await;
    wait_for(c, Locator::Id("progress")).await;
    assert_eq!(wait_until_settled(c).await, "completed");

    // The prospect's status page follows it to the end.
    c.goto(&format!("{base}{status}")).await.unwrap();
    wait_for_text(c, "#progress [data-status]", "completed").await;
    assert!(
        c.find(Locator::Css("a.button[href='/sign-in']"))
            .await
            .is_ok()
    );
    browser.close().await;
}

/// A tenant administrator whose password was typed on the registration form is led to the
/// password form at the first sign-in, and nothing else opens until it is changed; this
/// changes it and goes on to the home page.
async fn change_typed_password(c: &Client, base: &str) {
    wait_for(c, Locator::Id("current_password")).await;
    assert!(
        text_of(c, "main")
            .await
            .contains("Your password was set by someone else"),
        "the form says why"
    );
    c.goto(&format!("{base}/tenants")).await.unwrap();
    wait_for(c, Locator::Id("current_password")).await;
    check_accessibility(c, "the password change asked at the first sign-in").await;
    screenshot(c, "change-password").await;
    type_into(c, "current_password", TENANT_PASSWORD).await;
    type_into(c, "new_password", "Quiet-Meadow-Compass-73").await;
    type_into(c, "confirm_password", "Quiet-Meadow-Compass-73").await;
    click(c, "form[action='/account/password'] button").await;
    wait_for_text(c, "#account-notice", "Your password is changed").await;
    check_accessibility(c, "my account").await;
    c.goto(&format!("{base}/")).await.unwrap();
}

/// Waits for the newest spooled email holding `subject` and returns its link under `path`.
async fn spooled_link(data: &std::path::Path, subject: &str, path: &str) -> String {
    for _ in 0..100 {
        let spooled = std::fs::read_dir(data.join("mail")).is_ok_and(|d| {
            d.filter_map(Result::ok)
                .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(subject)))
        });
        if spooled {
            return link_in_spool(data, subject, path);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no email with {subject:?} was spooled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_landlord_admin_invites_an_operator_who_accepts_from_the_email_and_works_within_the_role()
{
    let dir = tempfile::tempdir().unwrap();
    let (_portal, base) = start_portal(&dir, &[]);
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &base).await;
    click(c, "a[href='/accounts']").await;
    wait_for(c, Locator::Css("form[action='/accounts/invite']")).await;
    check_accessibility(c, "accounts").await;
    // An address that is not one is refused in place; nothing is sent.
    type_into(c, "email", "olive.operator").await;
    click(c, "form[action='/accounts/invite'] button").await;
    wait_for(c, Locator::Id("error-summary")).await;
    check_accessibility(c, "accounts with an invitation refused").await;
    type_into(c, "email", "olive.operator@provider.example").await;
    c.find(Locator::Css("#role option[value='landlord_operator']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(c, "form[action='/accounts/invite'] button").await;
    wait_for_text(c, "#accounts-notice", "Invited").await;
    assert!(text_of(c, "main table").await.contains("Invited"));
    screenshot(c, "accounts").await;
    sign_out(c).await;

    // The operator follows the link in the email and chooses a password.
    let data = dir.path().join("data");
    let link = spooled_link(&data, "You are invited", "/invitation/").await;
    c.goto(&format!("{base}{link}")).await.unwrap();
    wait_for(c, Locator::Id("confirm_password")).await;
    check_accessibility(c, "invitation").await;
    type_into(c, "password", "olive").await;
    type_into(c, "confirm_password", "olive").await;
    click(c, "main form button").await;
    wait_for(c, Locator::Id("error-summary")).await;
    type_into(c, "password", "Copper-Kettle-Horizon-58").await;
    type_into(c, "confirm_password", "Copper-Kettle-Horizon-58").await;
    click(c, "main form button").await;
    wait_for_text(c, "main h1", "Your password is set").await;
    // The link worked once.
    c.goto(&format!("{base}{link}")).await.unwrap();
    wait_for_text(c, "main h1", "This link has been used").await;

    // The operator signs in, submits a request, and is offered no settings.
    c.goto(&format!("{base}/sign-in")).await.unwrap();
    type_into(c, "username", "olive.operator@provider.example").await;
    type_into(c, "password", "Copper-Kettle-Horizon-58").await;
    click(c, "main button[type=submit]").await;
    wait_for(c, Locator::Css("a[href='/register']")).await;
    let menu = text_of(c, "header nav").await;
    assert!(
        !menu.contains("Policy") && menu.contains("Accounts"),
        "{menu}"
    );
    register(c, &base, "OliveGrove").await;
    c.goto(&format!("{base}/settings")).await.unwrap();
    wait_for_text(c, "main h1", "Not allowed").await;
    c.goto(&format!("{base}/accounts")).await.unwrap();
    wait_for(c, Locator::Css("main table")).await;
    assert!(
        c.find(Locator::Css("form[action='/accounts/invite']"))
            .await
            .is_err(),
        "an operator is offered no invitation"
    );
    check_accessibility(c, "accounts as an operator").await;
    browser.close().await;
}

/// A WebDriver extension command of the WebAuthn specification (§11.x, "Add Virtual
/// Authenticator" and friends), sent to the session's own path.
#[derive(Debug)]
struct WebAuthnCommand {
    /// The path after `/session/{id}/`.
    path: String,
    body: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for WebAuthnCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// Gives the browser a virtual platform authenticator that holds passkeys and verifies its
/// user at once (no real device needed).
async fn add_virtual_authenticator(c: &Client) -> String {
    let added = c
        .issue_cmd(WebAuthnCommand {
            path: "webauthn/authenticator".to_owned(),
            body: json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
                "automaticPresenceSimulation": true
            }),
        })
        .await
        .expect("the virtual authenticator of the WebAuthn WebDriver extension");
    added.as_str().expect("an authenticator id").to_owned()
}

/// The credentials the virtual authenticator holds.
async fn passkeys_held(c: &Client, authenticator: &str) -> usize {
    #[derive(Debug)]
    struct GetCredentials(String);
    impl fantoccini::wd::WebDriverCompatibleCommand for GetCredentials {
        fn endpoint(
            &self,
            base_url: &url::Url,
            session_id: Option<&str>,
        ) -> Result<url::Url, url::ParseError> {
            base_url.join(&format!(
                "session/{}/webauthn/authenticator/{}/credentials",
                session_id.unwrap_or_default(),
                self.0
            ))
        }
        fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
            (http::Method::GET, None)
        }
    }
    let held = c
        .issue_cmd(GetCredentials(authenticator.to_owned()))
        .await
        .unwrap();
    held.as_array().map_or(0, Vec::len)
}

/// As shipped (landlord administrators must use two-step sign-in), the first administrator is
/// led to Two-step sign-in, adds a passkey through the browser's WebAuthn prompt (a virtual
/// authenticator), then signs in with it alone, and with a password and the passkey as its
/// second factor. The portal is reached at `localhost`: a passkey's relying party is a domain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_adds_a_passkey_and_signs_in_with_it_as_first_and_as_second_factor() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (portal, base, _) = Portal::on_a_free_port(|port| {
        let base = format!("http://localhost:{port}");
        let portal = Portal::start_as_shipped(
            &[],
            &[
                ("PORTAL_LISTEN", &format!("127.0.0.1:{port}")),
                ("PORTAL_BASE_URL", &base),
                ("PORTAL_DATA_DIR", data.to_str().unwrap()),
                ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ],
        );
        (portal, base)
    });
    let browser = Browser::start().await;
    let c = &browser.client;
    let authenticator = add_virtual_authenticator(c).await;

    c.goto(&format!("{base}/sign-in")).await.unwrap();
    type_into(c, "username", ADMIN).await;
    type_into(c, "password", ADMIN_PASSWORD).await;
    click(c, "main form button[type=submit]").await;
    wait_for(c, Locator::Id("enrol-required")).await;
    assert!(c.current_url().await.unwrap().path() == "/account/two-factor");
    check_accessibility(c, "two-step sign-in, required").await;
    screenshot(c, "two-step-sign-in").await;
    type_into(c, "passkey_name", "Test laptop").await;
    click(c, "#passkey-add button[type=submit]").await;
    wait_for_text(c, "#two-factor-notice", "The passkey was added").await;
    wait_for_text(c, "main table", "Test laptop").await;
    assert_eq!(passkeys_held(c, &authenticator).await, 1);
    check_accessibility(c, "two-step sign-in with a passkey").await;
    c.goto(&format!("{base}/tenants")).await.unwrap();
    wait_for(c, Locator::Css("main h1")).await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/tenants",
        "enrolled now"
    );
    sign_out(c).await;

    // The passkey alone, after the user name.
    check_accessibility(c, "sign in with a passkey offered").await;
    type_into(c, "username", ADMIN).await;
    click(c, "#passkey-sign-in").await;
    wait_for(c, Locator::Css("a[href='/register']")).await;
    sign_out(c).await;

    // A password, then the passkey as the second factor.
    type_into(c, "username", ADMIN).await;
    type_into(c, "password", ADMIN_PASSWORD).await;
    click(c, "main form button[type=submit]").await;
    wait_for(c, Locator::Id("passkey-second-factor")).await;
    check_accessibility(c, "second factor").await;
    screenshot(c, "second-factor").await;
    click(c, "#passkey-second-factor").await;
    wait_for(c, Locator::Css("a[href='/register']")).await;

    // Another user name's passkey prompt is no way in: that account has none.
    sign_out(c).await;
    type_into(c, "username", "somebody-else").await;
    click(c, "#passkey-sign-in").await;
    wait_for_text(
        c,
        "#passkey-status",
        "No passkey is set up for this user name",
    )
    .await;
    browser.close().await;
    drop(portal);
}

/// A member of staff signs in with their company account: the portal's sign-in page sends
/// them to the OpenID provider, they sign in there, and come back signed in with the role
/// their group gives (operator), on pages that pass axe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_staff_signs_in_with_their_company_account() {
    let dir = tempfile::tempdir().unwrap();
    // The provider is told the portal's address before the portal listens there.
    let (portal, (provider, base), _) = Portal::on_a_free_port(|port| {
        let base = format!("http://127.0.0.1:{port}");
        let provider = common::oidc::Provider::start(&format!("{base}/auth/oidc/callback"));
        let portal = start_portal_unready(
            &dir,
            &[
                ("PORTAL_LISTEN", &format!("127.0.0.1:{port}")),
                ("PORTAL_BASE_URL", &base),
                ("PORTAL_OIDC_ISSUER", &provider.issuer),
                ("PORTAL_OIDC_CLIENT_ID", "portal"),
                ("PORTAL_OIDC_CLIENT_SECRET", "portal-client-secret"),
                (
                    "PORTAL_OIDC_ROLES",
                    "portal-admins=landlord_admin,portal-operators=landlord_operator",
                ),
            ],
        );
        (portal, (provider, base))
    });
    provider.people(
        &json!({"erin": common::oidc::person("erin@provider.example", &["portal-operators"])}),
    );
    let issuer = provider.issuer.clone();
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{base}/sign-in")).await.unwrap();
    check_accessibility(c, "sign in with single sign-on offered").await;
    screenshot(c, "sign-in-with-company-account").await;
    click(c, "#sso-sign-in button").await;
    wait_for(c, Locator::Id("login")).await;
    assert!(c.current_url().await.unwrap().as_str().starts_with(&issuer));
    type_into(c, "login", "erin").await;
    click(c, "button[type=submit]").await;
    wait_for(c, Locator::Css("header form button")).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    check_accessibility(c, "home after single sign-on").await;
    c.goto(&format!("{base}/account")).await.unwrap();
    wait_for_text(c, "main dl", "erin@provider.example").await;
    wait_for_text(c, "main dl", "Landlord operator").await;
    browser.close().await;
    drop(provider);
    drop(portal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_suspend_a_tenant_whose_administrator_is_then_refused_and_resume_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_portal, base) = start_portal(&dir, &[]);
    submit_by_api(&base, "HarbourLights", "harbourlights.example.com").await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &base).await;
    // The provider's billing listens to every event (a name this machine cannot resolve: its
    // deliveries wait in the log).
    c.goto(&format!("{base}/settings/webhooks")).await.unwrap();
    wait_for(c, Locator::Id("url")).await;
    check_accessibility(c, "the webhooks").await;
    type_into(c, "url", "https://billing.provider.example/hooks").await;
    click(c, "#event-all").await;
    type_into(c, "description", "Billing").await;
    click(c, "#add-endpoint").await;
    wait_for(c, Locator::Id("new-secret")).await;
    assert!(text_of(c, "#new-secret").await.contains("whsec_"));
    check_accessibility(c, "a new webhook endpoint and its secret").await;
    // The tenant is made by the worker; its page offers the staff's actions.
    let mut found = None;
    for _ in 0..100 {
        c.goto(&format!("{base}/tenants")).await.unwrap();
        if let Ok(link) = c.find(Locator::Css("main a[href^='/tenants/']")).await {
            found = Some(link);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let link = found.expect("the tenant is made");
    let tenant_path = link.attr("href").await.unwrap().unwrap();
    link.click().await.unwrap();
    wait_for(c, Locator::Css(&format!("a[href='{tenant_path}/suspend']"))).await;
    assert!(
        text_of(c, "#acting-in")
            .await
            .contains("Acting in tenant HarbourLights")
    );
    check_accessibility(c, "a tenant with its actions").await;
    click(c, &format!("a[href='{tenant_path}/suspend']")).await;
    wait_for(c, Locator::Id("reason")).await;
    check_accessibility(c, "suspending a tenant").await;
    // Without a reason the form says so; with one, the tenant is suspended.
    c.execute(
        "document.getElementById('reason').removeAttribute('required')",
        Vec::new(),
    )
    .await
    .unwrap();
    click(c, "main button[type=submit]").await;
    wait_for_text(c, "#reason-error", "Give a reason").await;
    check_accessibility(c, "suspending a tenant without a reason").await;
    type_into(c, "reason", "Invoices unpaid since May").await;
    click(c, "main button[type=submit]").await;
    wait_for_text(c, "p.notice", "The tenant is suspended.").await;
    assert!(
        text_of(c, "main dl")
            .await
            .contains("Invoices unpaid since May")
    );
    screenshot(c, "tenant-suspended").await;
    sign_out(c).await;

    // Its administrator is told, at the sign-in form.
    type_into(c, "username", "prplkAdmin@harbourlights.example.com").await;
    type_into(c, "password", TENANT_PASSWORD).await;
    click(c, "main button[type=submit]").await;
    wait_for_text(c, "main", "Your tenant is suspended").await;
    check_accessibility(c, "a sign-in refused for a suspended tenant").await;

    // Resumed, the administrator gets in.
    type_into(c, "username", ADMIN).await;
    type_into(c, "password", ADMIN_PASSWORD).await;
    click(c, "main button[type=submit]").await;
    wait_for(c, Locator::Css("a[href='/register']")).await;
    c.goto(&format!("{base}{tenant_path}/resume"))
        .await
        .unwrap();
    click(c, "main button[type=submit]").await;
    wait_for_text(c, "p.notice", "The tenant is resumed.").await;
    c.goto(&format!("{base}/settings/retention")).await.unwrap();
    wait_for(c, Locator::Id("closed_tenant_days")).await;
    wait_for(c, Locator::Id("self_service_contact_days")).await;
    check_accessibility(c, "the retention policy").await;
    // The worker of this portal (serve runs one) is listed as running.
    c.goto(&format!("{base}/workers")).await.unwrap();
    wait_for_text(c, "main p[role=status]", "1 running.").await;
    check_accessibility(c, "the workers").await;

    // Its package changes to the template's new version: chosen, previewed, confirmed, and
    // followed live to its end.
    second_template_version_by_api(&base).await;
    c.goto(&format!("{base}{tenant_path}")).await.unwrap();
    wait_for(c, Locator::Id("change-package")).await;
    screenshot(c, "tenant-actions").await;
    click(c, "#change-package").await;
    wait_for(c, Locator::Id("template_id")).await;
    check_accessibility(c, "choosing a service package").await;
    c.execute(
        "document.getElementById('template_id').value = 'voice-essentials'",
        Vec::new(),
    )
    .await
    .unwrap();
    click(c, "#preview-button").await;
    wait_for(c, Locator::Id("confirm-change")).await;
    assert!(text_of(c, "#add-list").await.contains("Escalations"));
    // voice-essentials' second object is the Sales skill, its third the Support skill.
    assert!(text_of(c, "#update-list").await.contains("Sales"));
    assert!(text_of(c, "#remove-list").await.contains("Support"));
    check_accessibility(c, "the package-change preview").await;
    screenshot(c, "package-change-preview").await;
    click(c, "#confirm-change").await;
    wait_for(c, Locator::Css("#progress")).await;
    check_accessibility(c, "a change of package under way").await;
    wait_for_text(c, "[data-status]", "completed").await;
    assert!(
        text_of(c, "#progress")
            .await
            .contains("Switch the template: done")
    );
    c.goto(&format!("{base}{tenant_path}")).await.unwrap();
    wait_for_text(c, "main dl", "version 2").await;
    // Each of those changes is an event in the endpoint's log.
    c.goto(&format!("{base}/settings/webhooks")).await.unwrap();
    click(c, "#endpoints a").await;
    wait_for(c, Locator::Id("deliveries")).await;
    let log = text_of(c, "#deliveries").await;
    for event in [
        "tenant.suspended",
        "tenant.resumed",
        "tenant.package_changed",
    ] {
        assert!(log.contains(event), "{event} in {log}");
    }
    check_accessibility(c, "a webhook endpoint and its deliveries").await;
    sign_out(c).await;
    type_into(c, "username", "prplkAdmin@harbourlights.example.com").await;
    type_into(c, "password", TENANT_PASSWORD).await;
    click(c, "main button[type=submit]").await;
    wait_for(c, Locator::Id("current_password")).await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_onboard_tenants_from_a_csv_file_fix_its_errors_and_follow_the_progress() {
    let dir = tempfile::tempdir().unwrap();
    let (_portal, base) = start_portal(&dir, &[]);
    submit_by_api(&base, "Heldfirst", "heldfirst.example.com").await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &base).await;

    // Tenant Registration says whether a name is free as it is typed.
    c.goto(&format!("{base}/register")).await.unwrap();
    click(c, "input[value='voice-essentials']").await;
    click(c, "[data-next-tab=tenant]").await;
    type_into(c, "name", "heldfirst").await;
    // Held by the request, or by its tenant once the worker has made it.
    wait_for_text(c, "#name-availability", "already used by").await;
    let held = text_of(c, "#name-availability").await;
    assert!(held.ends_with("Heldfirst"), "{held}");
    let link = c
        .find(Locator::Css("#name-availability a"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        link.starts_with("/tenants/") || link.starts_with("/requests/"),
        "{link}"
    );
    type_into(c, "short_name", "freeshort").await;
    wait_for_text(c, "#short_name-availability", "available").await;
    check_accessibility(c, "Tenant Registration with availability").await;

    // A file with a mistake: the invalid row is shown by its line, nothing is submitted.
    let header = "template_id,name,short_name,upn_suffix,admin_user_name,admin_email,ani,\
                  contact_first_name,contact_last_name,contact_email";
    let line = |name: &str| {
        let lower = name.to_lowercase();
        format!(
            "voice-essentials,{name},{},{lower}.example.com,keAdmin,admin@{lower}.example.com,\
             +44 20 7946 0000,Jo,Kenton,jo@{lower}.example.com",
            &lower[..lower.len().min(12)]
        )
    };
    let first = dir.path().join("tenants.csv");
    let rows = [line("Filealpha"), line("Bad Name"), line("Filegamma")];
    std::fs::write(&first, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    c.goto(&format!("{base}/requests")).await.unwrap();
    click(c, "#bulk-onboarding").await;
    wait_for(c, Locator::Id("file")).await;
    check_accessibility(c, "bulk onboarding").await;
    let input = c.find(Locator::Id("file")).await.unwrap();
    input.send_keys(first.to_str().unwrap()).await.unwrap();
    click(c, "#check-file").await;
    wait_for(c, Locator::Id("invalid-rows")).await;
    assert!(text_of(c, "tr[data-line='3']").await.contains("Name"));
    assert_eq!(text_of(c, "#invalid-count").await, "1 invalid");
    check_accessibility(c, "an import's invalid rows").await;
    screenshot(c, "import-preview").await;

    // The corrected file, submitted, followed to the end.
    let fixed = dir.path().join("tenants-fixed.csv");
    let rows = [line("Filealpha"), line("Filebeta"), line("Filegamma")];
    std::fs::write(&fixed, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    c.goto(&format!("{base}/imports")).await.unwrap();
    let input = wait_for(c, Locator::Id("file")).await;
    input.send_keys(fixed.to_str().unwrap()).await.unwrap();
    click(c, "#check-file").await;
    wait_for(c, Locator::Id("submit-import")).await;
    assert_eq!(text_of(c, "#invalid-count").await, "0 invalid");
    click(c, "#submit-import").await;
    wait_for(c, Locator::Id("import-progress")).await;
    assert_eq!(wait_until_settled(c).await, "finished");
    assert_eq!(text_of(c, "#count-completed").await, "3");
    assert_eq!(text_of(c, "#count-failed").await, "0");
    check_accessibility(c, "an import's progress").await;
    screenshot(c, "import-progress").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_read_the_dashboard_follow_a_count_to_its_list_and_download_it_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (_portal, base) = start_portal(&dir, &[]);
    let client = reqwest::Client::new();
    let token = admin_token(&client, &base).await;
    for name in ["NorthwindGlance", "ContosoGlance", "FabrikamGlance"] {
        let r = client
            .post(format!("{base}/api/v1/subscription-requests"))
            .bearer_auth(&token)
            .json(&common::submission(name))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{name}");
    }
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &base).await;
    // The staff's home is the dashboard; the three requests complete meanwhile.
    for _ in 0..50 {
        c.goto(&format!("{base}/")).await.unwrap();
        if text_of(c, "#status-completed").await.starts_with('3') {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for_text(c, "#status-completed", "3").await;
    wait_for_text(
        c,
        "#requests-chart-summary",
        "3 submitted, 3 completed, 0 failed",
    )
    .await;
    let labels = c
        .find_all(Locator::Css("figure.chart svg[role=img] text"))
        .await;
    assert!(
        labels.unwrap().len() > 10,
        "the charts have their axes' labels"
    );
    check_accessibility(c, "the dashboard").await;
    screenshot(c, "dashboard").await;
    // The numbers behind the charts, opened; then a shorter range.
    click(c, "details.chart-numbers summary").await;
    wait_for(c, Locator::Css("#per-day tbody tr")).await;
    check_accessibility(c, "the dashboard's numbers").await;
    click(c, "a[href='/dashboard?days=7']").await;
    wait_for(
        c,
        Locator::Css("a[href='/dashboard?days=7'][aria-current=page]"),
    )
    .await;
    assert_eq!(
        c.find_all(Locator::Css("#per-day tbody tr"))
            .await
            .unwrap()
            .len(),
        7
    );

    // A count leads to its list.
    click(c, "#status-completed").await;
    wait_for_text(c, "#requests tbody", "FabrikamGlance").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("/requests?status=completed")
    );
    wait_for_text(c, "#status-counts", "3 completed").await;
    check_accessibility(c, "the list with its counts").await;
    // The list's CSV, fetched as the browser downloads it (with its session).
    let csv: String = c
        .execute(
            "return fetch(document.getElementById('export-csv').href).then(r => r.text())",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "request_id,tenant_name,template,status,submitted_at,scheduled_for,contact_email,tenant_id"
        )
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows.iter().all(|r| r.contains(",completed,")), "{csv}");
    browser.close().await;
}
