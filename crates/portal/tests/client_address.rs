//! The client's address behind proxies, with the real binary: forwarding headers are
//! believed only from `PORTAL_TRUSTED_PROXIES`, so a spoofed `X-Forwarded-For` changes
//! nothing, while behind a trusted proxy each client is counted and logged as itself.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

mod common;

use common::Portal;
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "client-address-landlord-pw";

fn portal(trusted: &str) -> (Portal, String) {
    let portal = Portal::start(
        &["serve"],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("PORTAL_TRUSTED_PROXIES", trusted),
            ("PORTAL_LOG", "warn"),
        ],
    );
    let base = portal.base_url();
    (portal, base)
}

/// A wrong password for an account that does not exist (so no account counter locks), sent
/// as if forwarded for `client`; the answer's status.
async fn failed_sign_in(http: &reqwest::Client, base: &str, n: usize, client: &str) -> u16 {
    http.post(format!("{base}/api/v1/auth/login"))
        .header("x-forwarded-for", client)
        .json(&json!({"username": format!("nobody{n}"), "password": "not the password"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The landlord admin's token, taken before any failure (a locked client gets none).
async fn admin_token(http: &reqwest::Client, base: &str) -> String {
    http.post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The client addresses of the newest failed sign-ins in the audit log.
async fn logged_clients(http: &reqwest::Client, base: &str, token: &str) -> Vec<String> {
    let log: Value = http
        .get(format!(
            "{base}/api/v1/audit?action=sign_in_failed&limit=200"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["client"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarding_header_from_an_untrusted_client_changes_nothing() {
    let (mut portal, base) = portal("");
    let http = reqwest::Client::new();
    let token = admin_token(&http, &base).await;
    // Each attempt claims another address; all are the one peer, whose count locks.
    let mut statuses = Vec::new();
    for n in 0..21 {
        statuses.push(failed_sign_in(&http, &base, n, &format!("198.51.100.{n}")).await);
    }
    assert!(statuses[..20].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[20], 429, "the one client is refused after 20");
    assert!(
        logged_clients(&http, &base, &token)
            .await
            .iter()
            .all(|c| c == "127.0.0.1")
    );
    portal.signal("TERM");
    portal.wait_exit(std::time::Duration::from_secs(15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_is_counted_and_logged_as_itself() {
    let (mut portal, base) = portal("127.0.0.1/32");
    let http = reqwest::Client::new();
    let token = admin_token(&http, &base).await;
    // Thirty clients, one failure each: none is refused.
    for n in 0..30 {
        let status = failed_sign_in(&http, &base, n, &format!("198.51.100.{n}")).await;
        assert_eq!(status, 401, "client {n}");
    }
    let clients = logged_clients(&http, &base, &token).await;
    assert!(clients.contains(&"198.51.100.7".to_owned()), "{clients:?}");
    assert!(!clients.contains(&"127.0.0.1".to_owned()), "{clients:?}");
    // One IPv6 subscriber's /64 is one client, however many addresses it uses.
    let mut statuses = Vec::new();
    for n in 0..21 {
        let address = format!("2001:db8:aa:bb:{n:x}::1");
        statuses.push(failed_sign_in(&http, &base, 100 + n, &address).await);
    }
    assert_eq!(statuses[20], 429, "{statuses:?}");
    // Another /64 is not held back.
    assert_eq!(
        failed_sign_in(&http, &base, 200, "2001:db8:aa:cc::1").await,
        401
    );
    portal.signal("TERM");
    portal.wait_exit(std::time::Duration::from_secs(15));
}

/// A sign-in of `username` with `password`, as if forwarded for `client`: the status.
async fn sign_in_from(
    http: &reqwest::Client,
    base: &str,
    client: &str,
    username: &str,
    password: &str,
) -> u16 {
    http.post(format!("{base}/api/v1/auth/login"))
        .header("x-forwarded-for", client)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_wrong_passwords_from_one_client_never_keep_the_owner_out() {
    let (mut portal, base) = portal("127.0.0.1/32");
    let http = reqwest::Client::new();
    let token = admin_token(&http, &base).await;
    let attacker = "203.0.113.66";
    let owner = "198.51.100.10";
    let mut refused = 0;
    for n in 0..200 {
        let status = sign_in_from(&http, &base, attacker, "admin", "guess-number-one").await;
        assert!(status == 401 || status == 429, "attempt {n}: {status}");
        if n < 5 {
            assert_eq!(status, 401, "the first guesses are only wrong");
        }
        if status == 429 {
            refused += 1;
        }
        if n % 20 == 0 {
            let status = sign_in_from(&http, &base, owner, "admin", ADMIN_PASSWORD).await;
            assert_eq!(status, 200, "the owner after {n} guesses");
        }
    }
    assert!(refused >= 190, "the attacker is refused: {refused} of 200");
    let log: Value = http
        .get(format!(
            "{base}/api/v1/audit?action=sign_in_refused&limit=5"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = &log["items"][0];
    assert_eq!(entry["actor_name"], "admin", "{log}");
    assert_eq!(entry["client"], attacker, "{log}");
    portal.signal("TERM");
    portal.wait_exit(std::time::Duration::from_secs(15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_guessing_one_account_lock_it_at_last_and_its_owner_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let mut create = Portal::start(
        &[
            "user",
            "create",
            "--role",
            "landlord_admin",
            "--email",
            "owner@provider.example",
        ],
        &[
            ("PORTAL_DATA_DIR", data),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    assert_eq!(
        create.wait_exit(std::time::Duration::from_secs(30)),
        Some(0)
    );
    let link = create.stdout_text();
    let token = link.trim().rsplit('/').next().unwrap().to_owned();
    let mut portal = Portal::start(
        &["serve"],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATA_DIR", data),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("PORTAL_TRUSTED_PROXIES", "127.0.0.1"),
            ("PORTAL_LOG", "warn"),
        ],
    );
    let base = portal.base_url();
    let http = reqwest::Client::new();
    let owner_password = "Copper-Meadow-Violin-77";
    let accepted = http
        .post(format!("{base}/api/v1/auth/invitations/accept"))
        .json(&json!({"token": token, "password": owner_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 204);
    let owner = "owner@provider.example";
    // The owner's browser signs in once and is given a device cookie.
    let (status, device) = page_sign_in(&base, "198.51.100.9", owner, owner_password, None).await;
    assert_eq!(status, 303);
    let device = device.expect("a device cookie");
    // Twenty clients, five guesses each: a hundred failures in all.
    for c in 0..20 {
        for _ in 0..5 {
            let client = format!("203.0.113.{c}");
            let status = sign_in_from(&http, &base, &client, owner, "guess-number-one").await;
            assert_eq!(status, 401, "client {c}");
        }
    }
    // Now the account is locked everywhere, its owner too, and the owner is told; but the
    // browser that signed in before still gets in, from wherever it is now.
    assert_eq!(
        sign_in_from(&http, &base, "198.51.100.10", owner, owner_password).await,
        429
    );
    let fresh = page_sign_in(&base, "198.51.100.11", owner, owner_password, None).await;
    assert_eq!(fresh.0, 429, "a browser never seen before is held back");
    let known = page_sign_in(&base, "198.51.100.12", owner, owner_password, Some(&device)).await;
    assert_eq!(known.0, 303, "the browser that signed in before");
    let guessing = page_sign_in(
        &base,
        "198.51.100.13",
        owner,
        "guess-number-two",
        Some(&device),
    )
    .await;
    assert_eq!(
        guessing.0, 401,
        "the cookie lets the password be checked, nothing more"
    );
    let spool = std::path::Path::new(data).join("mail");
    let told = common::eventually(
        std::time::Duration::from_secs(10),
        "the owner's email",
        || {
            let spool = spool.clone();
            async move {
                std::fs::read_dir(&spool).ok()?.find_map(|e| {
                    let text = std::fs::read_to_string(e.ok()?.path()).ok()?;
                    (text.contains("Many failed sign-ins") && text.contains(owner)).then_some(text)
                })
            }
        },
    )
    .await;
    assert!(told.contains("paused for 15"), "{told}");
    portal.signal("TERM");
    portal.wait_exit(std::time::Duration::from_secs(15));
}

/// Signs in on the sign-in page from `client`, with a device cookie or none: the status and
/// the device cookie the answer sets, if any.
async fn page_sign_in(
    base: &str,
    client: &str,
    username: &str,
    password: &str,
    device: Option<&str>,
) -> (u16, Option<String>) {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = browser
        .post(format!("{base}/sign-in"))
        .header("x-forwarded-for", client)
        .form(&[("username", username), ("password", password)]);
    if let Some(d) = device {
        request = request.header("cookie", format!("portal_device={d}"));
    }
    let answer = request.send().await.unwrap();
    let device = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("portal_device="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned());
    (answer.status().as_u16(), device)
}
