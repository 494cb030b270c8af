//! The intake's front door: every field rule with its exact error, normalisation, no
//! duplicates under concurrency, idempotent retries and a bounded hasher. Each test runs on
//! SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{Db, TestApp, spawn_app, submission};
use serde_json::{Value, json};

on_both!(
    each_bad_input_gets_its_field_and_code_and_nothing_is_stored,
    input_is_normalised_before_it_is_stored,
    twenty_simultaneous_identical_submissions_give_one_202_and_nineteen_409,
    a_retry_with_the_same_idempotency_key_returns_the_first_answer,
    an_overloaded_hasher_answers_503_with_retry_after_and_keeps_nothing,
    a_name_under_four_characters_may_appear_in_the_password,
    a_password_is_kept_as_typed_and_signs_in_only_as_typed,
);

/// Sets `path` (`tenant.name`) of a JSON object.
fn set(body: &mut Value, path: &str, value: Value) {
    let mut at = body;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        at = &mut at[*part];
    }
    at[parts[parts.len() - 1]] = value;
}

/// (field, value, expected code). Passwords set both Password and Confirm Password.
fn bad_inputs() -> Vec<(&'static str, Value, &'static str)> {
    let s = |v: &str| json!(v);
    vec![
        // Name
        ("tenant.name", s(""), "required"),
        ("tenant.name", s("   "), "required"),
        ("tenant.name", Value::Null, "required"),
        ("tenant.name", s("Kenton Electronics"), "invalid_characters"),
        ("tenant.name", s("Kenton_Electronics"), "invalid_characters"),
        ("tenant.name", s("Kenton-Electronics"), "invalid_characters"),
        ("tenant.name", s("Kenton.Electronics"), "invalid_characters"),
        ("tenant.name", s("Kenton&Co"), "invalid_characters"),
        ("tenant.name", s("Köln"), "invalid_characters"),
        ("tenant.name", s("Kenton😀"), "invalid_characters"),
        ("tenant.name", s("Kenton\u{0}Co"), "invalid_characters"),
        ("tenant.name", s("Kenton\tCo"), "invalid_characters"),
        ("tenant.name", s("K"), "too_short"),
        ("tenant.name", json!("A".repeat(65)), "too_long"),
        // Short Name
        ("tenant.short_name", s(""), "required"),
        ("tenant.short_name", s("  "), "required"),
        ("tenant.short_name", s("k e"), "invalid_characters"),
        ("tenant.short_name", s("k_e"), "invalid_characters"),
        ("tenant.short_name", s("ke!"), "invalid_characters"),
        ("tenant.short_name", s("kë"), "invalid_characters"),
        ("tenant.short_name", s("k"), "too_short"),
        ("tenant.short_name", json!("k".repeat(17)), "too_long"),
        // UPN Suffix
        ("tenant.upn_suffix", s(""), "required"),
        ("tenant.upn_suffix", s("localhost"), "not_a_domain"),
        ("tenant.upn_suffix", s("-kenton.com"), "not_a_domain"),
        ("tenant.upn_suffix", s("kenton-.com"), "not_a_domain"),
        ("tenant.upn_suffix", s("kenton.123"), "not_a_domain"),
        ("tenant.upn_suffix", s("admin@kenton.com"), "not_a_domain"),
        ("tenant.upn_suffix", s("kenton..com"), "not_a_domain"),
        ("tenant.upn_suffix", s(".kenton.com"), "not_a_domain"),
        (
            "tenant.upn_suffix",
            s("kenton_electronics.com"),
            "not_a_domain",
        ),
        (
            "tenant.upn_suffix",
            s("kenton electronics.com"),
            "not_a_domain",
        ),
        ("tenant.upn_suffix", s("😀.com"), "not_a_domain"),
        (
            "tenant.upn_suffix",
            json!(format!("{}.com", "a".repeat(64))),
            "not_a_domain",
        ),
        (
            "tenant.upn_suffix",
            json!(format!("{}.com", ["abcdefghij"; 25].join("."))),
            "too_long",
        ),
        ("tenant.upn_suffix", s("kenton.com\n"), "required").with_value_of_trimmed(),
        // User Name
        ("tenant.admin_user_name", s(""), "required"),
        (
            "tenant.admin_user_name",
            s("ke Admin"),
            "invalid_characters",
        ),
        (
            "tenant.admin_user_name",
            s("ke_admin"),
            "invalid_characters",
        ),
        (
            "tenant.admin_user_name",
            s("ke.admin"),
            "invalid_characters",
        ),
        ("tenant.admin_user_name", s("kéadmin"), "invalid_characters"),
        ("tenant.admin_user_name", s("prpkeAdmin"), "invalid"),
        ("tenant.admin_user_name", json!("a".repeat(18)), "too_long"),
        // Password (Confirm set to the same)
        ("tenant.password", s(""), "required"),
        ("tenant.password", s("short"), "too_short"),
        ("tenant.password", s("elevenchars"), "too_short"),
        ("tenant.password", s("password1234"), "weak_password"),
        ("tenant.password", s("qwertyuiop123"), "weak_password"),
        ("tenant.password", s("iloveyou1234"), "weak_password"),
        ("tenant.password", s("aaaaaaaaaaaaaaaa"), "weak_password"),
        ("tenant.password", s("123456789012"), "weak_password"),
        (
            "tenant.password",
            s("keAdmin-Harbour-Lantern"),
            "weak_password",
        ),
        (
            "tenant.password",
            s("Blue\u{7}Harbour-Lantern-42"),
            "invalid_characters",
        ),
        ("tenant.password", json!("x".repeat(129)), "too_long"),
        // ANI
        ("tenant.ani", s(""), "required"),
        ("tenant.ani", s("call me maybe"), "not_a_phone_number"),
        ("tenant.ani", s("+44 KENTON"), "not_a_phone_number"),
        ("tenant.ani", s("020 7946 0000"), "not_a_phone_number"),
        ("tenant.ani", s("+44 20"), "not_a_phone_number"),
        (
            "tenant.ani",
            s("+44 20 7946 0000 1234 5678"),
            "not_a_phone_number",
        ),
        ("tenant.ani", s("+1 555"), "not_a_phone_number"),
        (
            "tenant.ani",
            s("+44 20 7946 0000 ext 5"),
            "not_a_phone_number",
        ),
        ("tenant.ani", s("+44_20_7946_0000"), "not_a_phone_number"),
        // Contact
        ("contact.first_name", s(""), "required"),
        ("contact.first_name", s("   "), "required"),
        ("contact.first_name", json!("J".repeat(101)), "too_long"),
        ("contact.first_name", s("Jo\u{1b}"), "invalid_characters"),
        ("contact.last_name", Value::Null, "required"),
        ("contact.last_name", json!("K".repeat(101)), "too_long"),
        ("contact.email", s(""), "required"),
        ("contact.email", s("jo"), "not_an_email"),
        ("contact.email", s("jo@"), "not_an_email"),
        ("contact.email", s("@example.com"), "not_an_email"),
        ("contact.email", s("jo@localhost"), "not_an_email"),
        ("contact.email", s("jo smith@example.com"), "not_an_email"),
        ("contact.email", s("jo..smith@example.com"), "not_an_email"),
        ("contact.email", s("jo@exa mple.com"), "not_an_email"),
        ("contact.phone", s("not a phone"), "not_a_phone_number"),
        ("contact.company", json!("C".repeat(201)), "too_long"),
        ("contact.address", s("1 High St\u{0}"), "invalid_characters"),
        // Template
        ("template_id", s(""), "required"),
        ("template_id", s("no-such-template"), "not_found"),
    ]
}

/// A trailing newline is trimmed like any whitespace: the case checks it is accepted.
trait Trimmed {
    fn with_value_of_trimmed(self) -> Self;
}

impl Trimmed for (&'static str, Value, &'static str) {
    fn with_value_of_trimmed(self) -> Self {
        (self.0, self.1, "")
    }
}

async fn each_bad_input_gets_its_field_and_code_and_nothing_is_stored(app: &TestApp) {
    let cases = bad_inputs();
    let refused = cases.iter().filter(|c| !c.2.is_empty()).count();
    assert!(refused >= 60, "at least 60 bad inputs, have {refused}");
    for (i, (field, value, code)) in cases.into_iter().enumerate() {
        let mut body = submission(&format!("Tenant{i}"));
        set(&mut body, field, value.clone());
        if field == "tenant.password" {
            set(&mut body, "tenant.confirm_password", value.clone());
        }
        let r = app.submit(&body).await;
        if code.is_empty() {
            assert_eq!(r.status(), 202, "{field} = {value} is fine once trimmed");
            continue;
        }
        assert_eq!(r.status(), 422, "{field} = {value}");
        let err: Value = r.json().await.unwrap();
        let got: Vec<(String, String)> = err["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["field"].as_str().unwrap().to_owned(),
                    f["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [(field.to_owned(), code.to_owned())],
            "{field} = {value}"
        );
        if let Some(p) = value.as_str().filter(|p| p.len() >= 8) {
            assert!(
                !err.to_string().contains(p) || field != "tenant.password",
                "password echoed"
            );
        }
    }
    let mut mismatch = submission("Mismatch");
    mismatch["tenant"]["confirm_password"] = json!("Blue-Harbour-Lantern-43");
    let err: Value = app.submit(&mismatch).await.json().await.unwrap();
    assert_eq!(
        err["error"]["fields"],
        json!([{"field": "tenant.confirm_password", "code": "mismatch",
        "message": "Confirm Password must be the same as Password."}])
    );
    // A password may not contain the tenant's name or short name, in any case; the message
    // says which.
    for (password, named) in [
        (
            "KENTONelectronics-2026!",
            "the tenant name (KentonElectronics)",
        ),
        ("my-KENT-harbour-lantern-9", "the short name (kent)"),
    ] {
        let mut body = submission("KentonElectronics");
        body["tenant"]["short_name"] = json!("kent");
        body["tenant"]["password"] = json!(password);
        body["tenant"]["confirm_password"] = json!(password);
        let err: Value = app.submit(&body).await.json().await.unwrap();
        assert_eq!(
            err["error"]["fields"][0]["field"], "tenant.password",
            "{password}"
        );
        assert_eq!(
            err["error"]["fields"][0]["code"], "weak_password",
            "{password}"
        );
        assert_eq!(
            err["error"]["fields"][0]["message"],
            format!("Password must not contain {named}."),
        );
    }
    // Only the one good (trimmed) case was stored.
    assert_eq!(app.request_count().await, 1);
    assert_eq!(app.store.queue_depth().await.unwrap().queued, 1);
}

async fn input_is_normalised_before_it_is_stored(app: &TestApp) {
    let mut body = submission("Kenton");
    body["tenant"]["name"] = json!("  KentonElectronics  ");
    body["tenant"]["upn_suffix"] = json!(" Bücher-Kenton.EXAMPLE ");
    body["tenant"]["ani"] = json!("+1 (415) 555-2671");
    body["contact"]["email"] = json!("Jo.Kenton@Example.COM");
    body["contact"]["phone"] = json!("+44 20 7946 0000");
    let r = app.submit(&body).await;
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tenant"]["name"], "KentonElectronics");
    assert_eq!(v["tenant"]["upn_suffix"], "xn--bcher-kenton-dlb.example");
    assert_eq!(v["tenant"]["ani"], "+14155552671");
    assert_eq!(v["tenant"]["admin_personnel_id"], "prpkeAdmin");
    assert_eq!(v["contact"]["email"], "Jo.Kenton@example.com");
    assert_eq!(v["contact"]["phone"], "+442079460000");
    // The same domain typed in its Unicode or ASCII form is the same name.
    let mut again = submission("Other");
    again["tenant"]["upn_suffix"] = json!("xn--bcher-kenton-dlb.example");
    let r = app.submit(&again).await;
    assert_eq!(r.status(), 409);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["fields"][0]["field"], "tenant.upn_suffix");
}

async fn twenty_simultaneous_identical_submissions_give_one_202_and_nineteen_409(app: &TestApp) {
    let body = submission("KentonElectronics");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/api/v1/subscription-requests");
            let token = app.token.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == 409 {
            assert_eq!(body["error"]["fields"][0]["code"], "taken");
            assert!(
                body["error"]["fields"][0]["field"]
                    .as_str()
                    .unwrap()
                    .starts_with("tenant.")
            );
        }
        statuses.push(status);
    }
    statuses.sort();
    let mut expected = vec![202];
    expected.extend([409; 19]);
    assert_eq!(statuses, expected);
    assert_eq!(app.request_count().await, 1);
}

async fn a_retry_with_the_same_idempotency_key_returns_the_first_answer(app: &TestApp) {
    let post = |key: &'static str, body: Value| {
        app.client
            .post(app.url("/api/v1/subscription-requests"))
            .bearer_auth(&app.token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = post("order-17", submission("KentonElectronics"))
        .await
        .unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let retry = post("order-17", submission("KentonElectronics"))
        .await
        .unwrap();
    assert_eq!(retry.status(), 202);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);
    let other = post("order-17", submission("SomethingElse")).await.unwrap();
    assert_eq!(other.status(), 422);
    let err: Value = other.json().await.unwrap();
    assert_eq!(err["error"]["code"], "idempotency_key_reused");
    // Without the key, the same body is a duplicate.
    assert_eq!(
        app.submit(&submission("KentonElectronics")).await.status(),
        409
    );
    let bad = app
        .client
        .post(app.url("/api/v1/subscription-requests"))
        .bearer_auth(&app.token)
        .header("Idempotency-Key", "")
        .json(&submission("Third"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(app.request_count().await, 1);
}

async fn an_overloaded_hasher_answers_503_with_retry_after_and_keeps_nothing(app: &TestApp) {
    // One hash at a time and one waiting, so that a burst certainly overflows it.
    let app = &app.with_hasher(portal::password::Hasher::new(1, 1)).await;
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let client = app.client.clone();
            let url = app.url("/api/v1/subscription-requests");
            let token = app.token.clone();
            let body = submission(&format!("Flood{i}"));
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                (i, r.status().as_u16(), retry_after)
            })
        })
        .collect();
    let mut accepted = 0;
    let mut refused = Vec::new();
    for t in tasks {
        let (i, status, retry_after) = t.await.unwrap();
        match status {
            202 => accepted += 1,
            503 => {
                assert_eq!(retry_after.as_deref(), Some("1"));
                refused.push(i);
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        !refused.is_empty(),
        "60 hashes at once exceed the running and waiting ones"
    );
    assert!(accepted > 0);
    assert_eq!(app.request_count().await, accepted);
    // A refused submission kept nothing, not even its names: it goes through when retried.
    let r = app
        .submit(&submission(&format!("Flood{}", refused[0])))
        .await;
    assert_eq!(r.status(), 202);
}

async fn a_name_under_four_characters_may_appear_in_the_password(app: &TestApp) {
    // "Blue-Harbour-Lantern-42" holds "ue": too short a name to count.
    let mut body = submission("Uebersee");
    body["tenant"]["short_name"] = json!("ue");
    let r = app.submit(&body).await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
}

async fn a_password_is_kept_as_typed_and_signs_in_only_as_typed(app: &TestApp) {
    let spaced = format!("  {}  ", common::TENANT_PASSWORD);
    let mut body = submission("Spacious");
    body["tenant"]["password"] = json!(spaced);
    body["tenant"]["confirm_password"] = json!(spaced);
    let r = app.submit(&body).await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_pending_jobs().await;
    let login = app.store.get_request(&id).await.unwrap().admin_login();
    assert_eq!(
        app.login(&login, common::TENANT_PASSWORD).await.status(),
        401
    );
    assert_eq!(app.login(&login, &spaced).await.status(), 200);
}
