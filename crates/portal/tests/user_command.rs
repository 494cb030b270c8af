//! `portal user …` as the machine's operator runs it (the real binary, on SQLite): a landlord
//! account created with a printed set-password link that the running portal accepts, the
//! seeded administrator's password reset by a printed link, and bad input refused with one
//! `error:` line, a non-zero exit and nothing stored. No password is typed on the command line.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

mod common;

use std::time::Duration;

use common::Portal;
use common::remote::sign_in;
use serde_json::Value;

/// The seeded administrator's password (`PORTAL_ADMIN_PASSWORD`), which passes the password
/// rule (it must not contain the user name `admin`).
const ADMIN_PASSWORD: &str = "Granite-Willow-Beacon-64";
const PASSWORD: &str = "Copper-Meadow-Violin-77";
const NEW_PASSWORD: &str = "Silent-Orchard-Kettle-93";
/// The public address the printed links start with.
const BASE: &str = "https://portal.provider.example";
const OPS: &str = "ops@provider.example";

/// Runs `portal ARGS` on the data folder `data` to its end: the exit code, stdout, stderr.
fn run(data: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Portal::start(
        args,
        &[
            ("PORTAL_DATA_DIR", data),
            ("PORTAL_BASE_URL", BASE),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    let code = command.wait_exit(Duration::from_secs(30));
    (code, command.stdout_text(), command.stderr_text())
}

/// Serves the portal on the data folder `data`: the child and its address.
fn serve(data: &str) -> (Portal, String) {
    let portal = Portal::start(
        &["serve"],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATA_DIR", data),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    let base = portal.base_url();
    (portal, base)
}

fn stop(mut portal: Portal) {
    portal.signal("TERM");
    assert_eq!(
        portal.wait_exit(Duration::from_secs(15)),
        Some(0),
        "{}",
        portal.stderr_text()
    );
}

/// The token of the one line printed: a link to `BASE` + `path` (`/invitation/`).
fn printed_token(stdout: &str, path: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stdout:?}");
    let prefix = format!("{BASE}{path}");
    let token = lines[0]
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("a {prefix} link: {stdout:?}"));
    assert!(
        token.len() == 64 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );
    token.to_owned()
}

/// The `error:` line of a command that failed; checks that it exited non-zero and printed
/// no link.
fn refusal(code: Option<i32>, stdout: &str, stderr: &str) -> String {
    assert!(matches!(code, Some(c) if c != 0), "{code:?}: {stderr}");
    assert!(!stdout.contains("://"), "no link: {stdout}");
    stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("an error line: {stderr}"))
        .to_owned()
}

/// The status and page of a set-password link's page at `base` + `path`: shown, or sent
/// with `password` typed twice.
async fn link_page(base: &str, path: &str, password: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::new();
    let url = format!("{base}{path}");
    let request = match password {
        Some(p) => client
            .post(url)
            .form(&[("password", p), ("confirm_password", p)]),
        None => client.get(url),
    };
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn login_status(base: &str, username: &str, password: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn me(base: &str, token: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[test]
fn the_user_commands_take_no_password_on_the_command_line() {
    for (args, needles) in [
        (
            &["user", "create", "--help"][..],
            &["--role", "--email"][..],
        ),
        (&["user", "reset-password", "--help"][..], &["<LOGIN>"][..]),
    ] {
        let mut help = Portal::start(args, &[]);
        assert_eq!(help.wait_exit(Duration::from_secs(10)), Some(0), "{args:?}");
        let text = help.stdout_text();
        for needle in needles {
            assert!(text.contains(needle), "{args:?}: {text}");
        }
        assert!(!text.contains("--password"), "{args:?}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_landlord_account_sets_its_password_from_the_printed_link_and_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let create = [
        "user",
        "create",
        "--role",
        "landlord_operator",
        "--email",
        OPS,
    ];
    let (code, stdout, stderr) = run(data, &create);
    assert_eq!(code, Some(0), "{stderr}");
    let token = printed_token(&stdout, "/invitation/");

    let (portal, base) = serve(data);
    let path = format!("/invitation/{token}");
    let (status, page) = link_page(&base, &path, None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&format!("value=\"{OPS}\"")), "{page}");
    assert_eq!(
        login_status(&base, OPS, PASSWORD).await,
        401,
        "no password yet"
    );
    let (status, page) = link_page(&base, &path, Some(PASSWORD)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Your password is set"), "{page}");

    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, OPS, PASSWORD).await;
    let (status, account) = me(&base, &token).await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["username"], OPS);
    assert_eq!(account["role"], "landlord_operator");
    assert_eq!(account["must_change_password"], false);
    let (status, _) = link_page(&base, &path, Some(NEW_PASSWORD)).await;
    assert_eq!(status, 410, "the link works once");
    assert_eq!(login_status(&base, OPS, NEW_PASSWORD).await, 401);
    stop(portal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_role_or_address_is_refused_with_one_line_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for (role, email, names) in [
        ("superuser", OPS, &["--role", "superuser"][..]),
        ("tenant_admin", OPS, &["role: ", "landlord"][..]),
        ("landlord_viewer", "not-an-address", &["email: "][..]),
    ] {
        let (code, stdout, stderr) =
            run(data, &["user", "create", "--role", role, "--email", email]);
        let line = refusal(code, &stdout, &stderr);
        for name in names {
            assert!(line.contains(name), "{role} {email}: {line}");
        }
    }

    let (portal, base) = serve(data);
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let users: Value = client
        .get(format!("{base}/api/v1/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = users["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the seeded administrator: {users}");
    assert_eq!(items[0]["username"], "admin");
    stop(portal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_prints_a_link_that_sets_the_administrators_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    // The portal seeds its administrator at its first start, and goes on serving meanwhile.
    let (portal, base) = serve(data);
    let client = reqwest::Client::new();
    let earlier = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;

    let (code, stdout, stderr) = run(data, &["user", "reset-password", "admin"]);
    assert_eq!(code, Some(0), "{stderr}");
    let token = printed_token(&stdout, "/password-reset/");
    let path = format!("/password-reset/{token}");
    let (status, page) = link_page(&base, &path, None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Choose a new password") && page.contains("value=\"admin\""));
    let (status, page) = link_page(&base, &path, Some(NEW_PASSWORD)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Your password is set"), "{page}");

    assert_eq!(me(&base, &earlier).await.0, 401, "signed out everywhere");
    assert_eq!(login_status(&base, "admin", ADMIN_PASSWORD).await, 401);
    let token = sign_in(&client, &base, "admin", NEW_PASSWORD).await;
    assert_eq!(me(&base, &token).await.1["role"], "landlord_admin");
    let (status, _) = link_page(&base, &path, Some(PASSWORD)).await;
    assert_eq!(status, 410, "the link works once");

    let unknown = ["user", "reset-password", "nobody@provider.example"];
    let (code, stdout, stderr) = run(data, &unknown);
    let line = refusal(code, &stdout, &stderr);
    assert!(line.contains("there is no account"), "{line}");
    stop(portal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_authenticator_app_is_removed_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (portal, base) = serve(data);
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    common::enrol_totp(&client, &base, &token).await;
    assert_eq!(login_status(&base, "admin", ADMIN_PASSWORD).await, 401);

    let (code, stdout, stderr) = run(data, &["user", "reset-second-factors", "ADMIN"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("the second factors of admin were removed"),
        "{stdout}"
    );
    assert_eq!(login_status(&base, "admin", ADMIN_PASSWORD).await, 200);
    let (code, stdout, stderr) = run(data, &["user", "reset-second-factors", "admin"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("has no second factor"), "{stdout}");
    let (code, stdout, stderr) = run(data, &["user", "reset-second-factors", "nobody"]);
    let line = refusal(code, &stdout, &stderr);
    assert!(line.contains("no account"), "{line}");
    stop(portal);
}

/// As shipped, landlord administrators must use two-step sign-in: the first one is led to set
/// it up before anything else, and then works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_administrator_sets_up_two_step_sign_in_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let portal = Portal::start_as_shipped(
        &["serve"],
        &[
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_DATA_DIR", data.to_str().unwrap()),
            ("PORTAL_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    let base = portal.base_url();
    let client = reqwest::Client::new();
    let token = sign_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let tenants = format!("{base}/api/v1/tenants");
    let refused = client
        .get(&tenants)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "mfa_enrolment_required");
    let (status, account) = me(&base, &token).await;
    assert_eq!(
        (status, &account["mfa"]["required"]),
        (200, &Value::Bool(true))
    );
    common::enrol_totp(&client, &base, &token).await;
    let allowed = client
        .get(&tenants)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    stop(portal);
}
