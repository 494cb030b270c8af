//! Bulk onboarding: a CSV file of requests is checked row by row (every invalid row with its
//! line, column and reason; nothing submitted), then submitted once, each valid row a request
//! whose administrator is invited, placed by the provisioning policy. And name availability
//! as staff type. Each test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{
    ADMIN, ADMIN_PASSWORD, Db, TENANT_PASSWORD, TestApp, browser, call, page, post, spawn_app,
    submission,
};
use reqwest::Method;
use serde_json::{Value, json};

on_both!(
    a_file_is_checked_row_by_row_and_nothing_is_submitted_until_asked,
    whole_files_are_refused_with_one_clear_reason,
    each_valid_row_becomes_one_request_with_an_invited_administrator,
    ten_thousand_rows_report_exactly_their_invalid_ones_and_submit_the_rest_once,
    two_workers_submitting_one_import_make_each_request_once,
    imported_requests_fill_capped_off_peak_windows_and_roll_over,
    availability_says_which_names_are_free_and_who_holds_the_others,
    the_pages_upload_show_invalid_rows_submit_and_follow_the_progress,
);

const HEADER: &str = "template_id,name,short_name,upn_suffix,admin_user_name,admin_email,ani,\
contact_first_name,contact_last_name,contact_email";

/// A valid row for tenant `name`.
fn row(name: &str) -> String {
    let lower = name.to_lowercase();
    let short: String = lower.chars().take(12).collect();
    format!(
        "voice-essentials,{name},{short},{lower}.example.com,keAdmin,admin@{lower}.example.com,\
         +44 20 7946 0000,Jo,Kenton,jo@{lower}.example.com"
    )
}

async fn upload(app: &TestApp, body: impl Into<Vec<u8>>) -> (u16, Value) {
    let r = app
        .client
        .post(app.url("/api/v1/bulk-imports?file_name=tenants.csv"))
        .bearer_auth(&app.token)
        .header("content-type", "text/csv")
        .body(body.into())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn download(app: &TestApp, path: &str) -> String {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    r.text().await.unwrap()
}

/// (row, fields) of every invalid row of an upload's answer.
fn invalid(answer: &Value) -> Vec<(u64, Vec<String>)> {
    answer["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let fields = r["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["field"].as_str().unwrap().to_owned())
                .collect();
            (r["row"].as_u64().unwrap(), fields)
        })
        .collect()
}

async fn submit_import(app: &TestApp, id: &str) -> (u16, Value) {
    call(
        app,
        Method::POST,
        &format!("/api/v1/bulk-imports/{id}/submit"),
        &app.token,
        None,
    )
    .await
}

async fn get_import(app: &TestApp, id: &str) -> Value {
    let (status, body) = call(
        app,
        Method::GET,
        &format!("/api/v1/bulk-imports/{id}"),
        &app.token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    body
}

fn no_formula_cells(csv: &str) {
    for line in csv.lines() {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "a cell starts a formula: {line}"
            );
        }
    }
}

async fn a_file_is_checked_row_by_row_and_nothing_is_submitted_until_asked(app: &TestApp) {
    assert_eq!(app.submit(&submission("Heldname")).await.status(), 202);
    let before = app.request_count().await;
    let rows = [
        format!("{},notes", HEADER),
        format!("{},first row", row("Alpha")),
        // 3: a name breaking its rule, and a formula in it
        format!(
            "{},x",
            row("Beta").replacen("Beta", "=cmd|' /C calc'!A0", 1)
        ),
        // 4: the same name as line 2, another case
        format!(
            "{},",
            row("ALPHA")
                .replacen("alpha,", "alpha2,", 1)
                .replace("alpha.example", "alpha2.example")
        ),
        // 5: a name already held by a request
        format!(
            "{},",
            row("Heldname").replace("heldname.example", "held2.example")
        ),
        // 6: an unknown template and no administrator's address
        format!(
            "{},",
            row("Gamma")
                .replacen("voice-essentials", "no-such-template", 1)
                .replace("admin@gamma.example.com", "")
        ),
        // 7: fewer cells than the header
        "voice-essentials,Delta,delta".to_owned(),
        // 8-9: quoted cells with a comma and a line inside (valid)
        format!(
            "{},\"a note, with a comma\nand a second line\"",
            row("Epsilon")
        ),
        // 10: more cells than the header
        format!("{},note,extra", row("Zeta")),
    ];
    let (status, answer) = upload(app, rows.join("\r\n")).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["status"], "previewed");
    assert_eq!(answer["rows"], 8);
    assert_eq!(answer["valid"], 2, "{answer}");
    assert_eq!(answer["ignored_columns"], json!(["notes"]));
    let found = invalid(&answer);
    let lines: Vec<u64> = found.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 10], "{answer}");
    assert!(found[0].1.contains(&"name".to_owned()));
    assert_eq!(
        found[1].1,
        vec!["name".to_owned()],
        "only the repeat of line 2"
    );
    assert!(
        answer["invalid"][1]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 2")
    );
    assert_eq!(answer["invalid"][1]["fields"][0]["code"], "repeated");
    assert_eq!(found[2].1, vec!["name".to_owned(), "short_name".to_owned()]);
    assert_eq!(answer["invalid"][2]["fields"][0]["code"], "taken");
    assert!(
        found[3].1.contains(&"template_id".to_owned())
            && found[3].1.contains(&"admin_email".to_owned())
    );
    assert_eq!(found[4].1[0], "row");
    assert_eq!(found[5].1, vec!["row".to_owned()]);
    assert_eq!(
        app.request_count().await,
        before,
        "nothing is submitted by a preview"
    );

    let id = answer["id"].as_str().unwrap();
    let errors = download(app, &format!("/api/v1/bulk-imports/{id}/errors")).await;
    assert!(errors.starts_with("row,column,code,message\n"), "{errors}");
    assert!(errors.contains("4,name,repeated,"), "{errors}");
    no_formula_cells(&errors);
    let again = get_import(app, id).await;
    assert_eq!(again["submitted"], 0);
    assert_eq!(again["request_ids"], json!([]));
}

async fn whole_files_are_refused_with_one_clear_reason(app: &TestApp) {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "empty_file"),
        (HEADER.into(), "no_rows"),
        (format!("{HEADER}\n\n,,,\n").into(), "no_rows"),
        ("name,short_name\nA,B\n".into(), "missing_columns"),
        (
            format!("{HEADER}\n{}\n\"{}\n{}\n", row("Okay"), row("Open"), row("Lost")).into(),
            "malformed_csv",
        ),
        (format!("{HEADER},admin_password\n{},x\n", row("Pw")).into(), "password_column"),
        (
            [format!("{HEADER}\n").as_bytes(), b"voice-essentials,Caf\xe9,cafe,cafe.example.com,keAdmin,a@cafe.example.com,+44 20 7946 0000,Jo,K,jo@cafe.example.com\n"].concat(),
            "not_utf8",
        ),
    ];
    for (body, code) in cases {
        let (status, answer) = upload(app, body).await;
        assert_eq!(status, 422, "{code}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
    }
    let (_, missing) = upload(app, "name,short_name,whatever\nA,B,C\n").await;
    let said = missing["error"]["message"].as_str().unwrap();
    assert!(
        said.contains("template_id") && said.contains("contact_email"),
        "{said}"
    );

    let many: String = std::iter::once(HEADER.to_owned())
        .chain((0..10_001).map(|n| row(&format!("Many{n}"))))
        .collect::<Vec<_>>()
        .join("\n");
    let (status, answer) = upload(app, many).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("too_many_rows"))
    );
    let huge = vec![b'a'; 5 * 1024 * 1024 + 1];
    let (status, answer) = upload(app, huge).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{answer}"
    );

    // Semicolons and a byte order mark are fine.
    let semicolons = format!(
        "\u{feff}{}\n{}\n",
        HEADER.replace(',', ";"),
        row("Semi").replace(',', ";")
    );
    let (status, answer) = upload(app, semicolons).await;
    assert_eq!(
        (status, answer["valid"].as_i64()),
        (201, Some(1)),
        "{answer}"
    );

    let r = app
        .client
        .post(app.url("/api/v1/bulk-imports"))
        .bearer_auth(&app.token)
        .json(&json!({"rows": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = app
        .client
        .post(app.url("/api/v1/bulk-imports"))
        .header("content-type", "text/csv")
        .body(format!("{HEADER}\n{}\n", row("Anon")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(app.request_count().await, 0);
}

async fn each_valid_row_becomes_one_request_with_an_invited_administrator(app: &TestApp) {
    let file = format!(
        "{HEADER}\n{}\n{}\n{}\n",
        row("Onea"),
        row("Bad!"),
        row("Twob")
    );
    let (_, answer) = upload(app, file).await;
    let id = answer["id"].as_str().unwrap().to_owned();
    let (status, started) = submit_import(app, &id).await;
    assert_eq!(status, 202);
    assert_eq!(started["status"], "submitting");
    assert_eq!(submit_import(app, &id).await.0, 202, "a double click");
    app.run_pending_jobs().await;
    let done = get_import(app, &id).await;
    assert_eq!(done["status"], "submitted", "{done}");
    assert_eq!(done["submitted"], 2);
    assert_eq!(done["progress"]["completed"], 2, "{done}");
    let ids: Vec<String> = done["request_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    let (_, first) = call(
        app,
        Method::GET,
        &format!("/api/v1/subscription-requests/{}", ids[0]),
        &app.token,
        None,
    )
    .await;
    assert_eq!(first["tenant"]["name"], "Onea", "{first}");
    assert_eq!(first["status"], "completed");
    // The administrator was invited: the invitation is in the outbox, to the row's address.
    let mail = app.store.list_mail(100).await.unwrap();
    assert!(
        mail.iter().any(|m| m.recipient == "admin@onea.example.com"),
        "the administrator of row 2 is invited"
    );
    assert_eq!(submit_import(app, &id).await.0, 202);
    app.run_pending_jobs().await;
    assert_eq!(
        app.request_count().await,
        2,
        "submitting again makes nothing twice"
    );

    let results = download(app, &format!("/api/v1/bulk-imports/{id}/results")).await;
    let lines: Vec<&str> = results.lines().collect();
    assert_eq!(lines[0], "row,request_id,status,login_id");
    assert_eq!(
        lines[1],
        format!("2,{},completed,prpkeAdmin@onea.example.com", ids[0])
    );
    assert_eq!(lines[2], "3,,invalid,");
    assert_eq!(
        lines[3],
        format!("4,{},completed,prpkeAdmin@twob.example.com", ids[1])
    );
    no_formula_cells(&results);
    let filter = portal_store::audit::AuditFilter {
        limit: 500,
        ..Default::default()
    };
    let audit = app.store.list_audit(&filter).await.unwrap();
    let actions: Vec<String> = audit.iter().map(|a| a.action.to_string()).collect();
    assert!(actions.contains(&"import_previewed".to_owned()));
    assert_eq!(
        actions.iter().filter(|a| *a == "import_submitted").count(),
        1
    );
}

/// 10,000 rows of which 300 are invalid, 50 in each of six ways.
fn big_file() -> (String, Vec<u64>) {
    let mut lines = vec![HEADER.to_owned()];
    let mut bad = Vec::new();
    for n in 0..10_000u32 {
        let line = u64::from(n) + 2;
        let name = format!("Bulk{n}");
        let text = if n % 33 == 0 && bad.len() < 300 {
            bad.push(line);
            match bad.len() % 6 {
                0 => row(&name).replacen(&name, "Bad Name", 1),
                1 => {
                    row(&name).replace(&format!("admin@{}", name.to_lowercase()), "not-an-address")
                }
                2 => row(&name).replace("+44 20 7946 0000", "12"),
                3 => row(&name).replacen("voice-essentials", "unknown-template", 1),
                4 => row("Bulk1"),
                _ => row(&name).replace(
                    &format!("{}.example.com,", name.to_lowercase()),
                    "-bad-.example,",
                ),
            }
        } else {
            row(&name)
        };
        lines.push(text);
    }
    (lines.join("\n"), bad)
}

async fn ten_thousand_rows_report_exactly_their_invalid_ones_and_submit_the_rest_once(
    app: &TestApp,
) {
    // Nothing provisions now: the window opens in twelve hours.
    off_peak(app, 12 * 60, None).await;
    let (file, bad) = big_file();
    assert_eq!(bad.len(), 300);
    let (status, answer) = upload(app, file).await;
    assert_eq!(status, 201);
    assert_eq!(answer["rows"], 10_000);
    assert_eq!(answer["valid"], 9_700);
    let lines: Vec<u64> = invalid(&answer).iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, bad);
    assert_eq!(app.request_count().await, 0);
    let id = answer["id"].as_str().unwrap().to_owned();
    submit_import(app, &id).await;
    app.run_pending_jobs().await;
    submit_import(app, &id).await;
    app.run_pending_jobs().await;
    let done = get_import(app, &id).await;
    assert_eq!(done["status"], "submitted");
    assert_eq!(done["submitted"], 9_700);
    assert_eq!(done["progress"]["waiting"], 9_700, "{}", done["progress"]);
    assert_eq!(app.request_count().await, 9_700);
}

/// Sets the off-peak policy: a daily window opening `opens_in_minutes` from now, an hour long.
async fn off_peak(app: &TestApp, opens_in_minutes: i64, cap: Option<i64>) {
    let now = jiff::Timestamp::now().in_tz("UTC").unwrap();
    let start = now
        .checked_add(jiff::Span::new().minutes(opens_in_minutes))
        .unwrap();
    let end = start.checked_add(jiff::Span::new().hours(1)).unwrap();
    let body = json!({
        "mode": "off_peak",
        "off_peak": {
            "start": start.strftime("%H:%M").to_string(),
            "end": end.strftime("%H:%M").to_string(),
            "time_zone": "UTC",
            "max_per_window": cap,
        }
    });
    let (status, answer) = call(
        app,
        Method::PUT,
        "/api/v1/settings/provisioning",
        &app.token,
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
}

async fn two_workers_submitting_one_import_make_each_request_once(app: &TestApp) {
    off_peak(app, 12 * 60, None).await;
    let file: String = std::iter::once(HEADER.to_owned())
        .chain((0..450).map(|n| row(&format!("Race{n}"))))
        .collect::<Vec<_>>()
        .join("\n");
    let (_, answer) = upload(app, file).await;
    let id = answer["id"].as_str().unwrap().to_owned();
    submit_import(app, &id).await;
    let submitter = portal::service::import::Submitter {
        id: "worker-test".into(),
        name: "admin".into(),
    };
    let (a, b) = tokio::join!(
        portal::service::import::submit_rows(&app.services, &id, &submitter),
        portal::service::import::submit_rows(&app.services, &id, &submitter),
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(app.request_count().await, 450);
    let done = get_import(app, &id).await;
    assert_eq!(done["status"], "submitted");
    assert_eq!(done["request_ids"].as_array().unwrap().len(), 450);
}

async fn imported_requests_fill_capped_off_peak_windows_and_roll_over(app: &TestApp) {
    off_peak(app, 6 * 60, Some(2)).await;
    let file: String = std::iter::once(HEADER.to_owned())
        .chain((0..5).map(|n| row(&format!("Capped{n}"))))
        .collect::<Vec<_>>()
        .join("\n");
    let (_, answer) = upload(app, file).await;
    let id = answer["id"].as_str().unwrap().to_owned();
    submit_import(app, &id).await;
    app.run_pending_jobs().await;
    let done = get_import(app, &id).await;
    let mut starts = Vec::new();
    for request in done["request_ids"].as_array().unwrap() {
        let (_, r) = call(
            app,
            Method::GET,
            &format!(
                "/api/v1/subscription-requests/{}",
                request.as_str().unwrap()
            ),
            &app.token,
            None,
        )
        .await;
        assert_eq!(r["status"], "scheduled", "{r}");
        starts.push(r["scheduled_for"].as_str().unwrap().to_owned());
    }
    assert_eq!(starts.len(), 5);
    assert_eq!(starts[0], starts[1]);
    assert_ne!(starts[1], starts[2], "the third waits for the next window");
    assert_eq!(starts[2], starts[3]);
    assert_ne!(starts[3], starts[4]);
}

async fn availability_says_which_names_are_free_and_who_holds_the_others(app: &TestApp) {
    let r = app.submit(&submission("Takenco")).await;
    let request: Value = r.json().await.unwrap();
    let path = "/api/v1/availability?name=takenco&short_name=freeshort&upn_suffix=bad..domain";
    let (status, answer) = call(app, Method::GET, path, &app.token, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["name"]["available"], false);
    assert_eq!(answer["name"]["code"], "taken");
    assert_eq!(answer["name"]["held_by"]["kind"], "subscription_request");
    assert_eq!(answer["name"]["held_by"]["id"], request["id"]);
    assert_eq!(answer["name"]["held_by"]["name"], "Takenco");
    assert_eq!(answer["short_name"], json!({"available": true}));
    assert_eq!(answer["upn_suffix"]["available"], false);
    assert_eq!(answer["upn_suffix"]["code"], "not_a_domain");
    let (_, only) = call(
        app,
        Method::GET,
        "/api/v1/availability?upn_suffix=TAKENCO.example.com",
        &app.token,
        None,
    )
    .await;
    assert_eq!(only["upn_suffix"]["code"], "taken", "{only}");
    assert!(only.get("name").is_none());

    // Once a tenant, the holder is the tenant; its own people may not ask.
    app.run_pending_jobs().await;
    let (_, answer) = call(
        app,
        Method::GET,
        "/api/v1/availability?name=TakenCo",
        &app.token,
        None,
    )
    .await;
    assert_eq!(answer["name"]["held_by"]["kind"], "tenant", "{answer}");
    let login = "prpkeAdmin@takenco.example.com";
    app.settle_password(login).await;
    let tenant_token = app.login_token(login, TENANT_PASSWORD).await;
    let (status, _) = call(
        app,
        Method::GET,
        "/api/v1/availability?name=x",
        &tenant_token,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(app, Method::GET, "/api/v1/availability?name=x", "", None).await;
    assert_eq!(status, 401);
}

/// A file sent from the upload page's form: the status and where it leads, or the page.
async fn upload_page(
    app: &TestApp,
    cookie: &str,
    file_name: &str,
    content: &[u8],
) -> (u16, String) {
    let boundary = "portal-test-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = browser()
        .post(app.url("/imports"))
        .header("cookie", cookie)
        .header("origin", &app.base)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    match r.headers().get("location") {
        Some(to) => (status, to.to_str().unwrap().to_owned()),
        None => (status, r.text().await.unwrap()),
    }
}

async fn the_pages_upload_show_invalid_rows_submit_and_follow_the_progress(app: &TestApp) {
    let cookie = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    let (status, list) = page(app, "/imports", &cookie).await;
    assert_eq!(status, 200);
    assert!(list.contains("enctype=\"multipart/form-data\""));
    let (_, management) = page(app, "/requests", &cookie).await;
    assert!(management.contains("href=\"/imports\""));

    let (status, refused) = upload_page(app, &cookie, "empty.csv", b"").await;
    assert_eq!(status, 422);
    assert!(refused.contains("id=\"error-summary\"") && refused.contains("The file is empty"));
    let (status, refused) = upload_page(app, &cookie, "cols.csv", b"name,short_name\nA,B\n").await;
    assert_eq!(status, 422);
    assert!(
        refused.contains("The header lacks the columns"),
        "{refused}"
    );

    let file = format!(
        "{HEADER}\n{}\n{}\n{}\n",
        row("Pageone"),
        row("Bad Name"),
        row("Pagetwo")
    );
    let (status, to) = upload_page(app, &cookie, "first.csv", file.as_bytes()).await;
    assert_eq!(status, 303, "{to}");
    let (_, preview) = page(app, &to, &cookie).await;
    assert!(preview.contains("<bdi>first.csv</bdi>"));
    assert!(
        preview.contains("data-line=\"3\""),
        "the invalid row by its line"
    );
    assert!(!preview.contains("data-line=\"2\""));
    assert!(preview.contains("Submit 2 requests"));
    assert!(preview.contains("errors.csv"));
    assert_eq!(app.request_count().await, 0);

    let id = to.trim_start_matches("/imports/");
    let (status, at) = post(app, &format!("/imports/{id}/submit"), &cookie, &[]).await;
    assert_eq!((status, at.as_str()), (303, to.as_str()));
    let (_, submitting) = page(app, &to, &cookie).await;
    assert!(
        submitting.contains("data-live"),
        "it follows itself while it runs"
    );
    app.run_pending_jobs().await;
    let (_, finished) = page(app, &to, &cookie).await;
    assert!(!finished.contains("data-live"));
    assert!(finished.contains("id=\"count-completed\">2<"), "{finished}");
    assert!(finished.contains("value=\"2\""));
    let (status, results) = page(app, &format!("/imports/{id}/results.csv"), &cookie).await;
    assert_eq!(status, 200);
    assert!(results.contains("prpkeAdmin@pageone.example.com"));
    let (status, errors) = page(app, &format!("/imports/{id}/errors.csv"), &cookie).await;
    assert_eq!(status, 200);
    assert!(errors.starts_with("row,column,code,message"));
    assert_eq!(app.request_count().await, 2);

    // The staff's registration form asks for availability as they type; the public one never.
    let (_, register) = page(app, "/register", &cookie).await;
    assert!(register.contains("data-availability"));
    let (_, public) = page(app, "/join", "").await;
    assert!(!public.contains("data-availability"));
    // The availability is read with the page's session too.
    let (status, answer) = page(app, "/api/v1/availability?name=Pageone", &cookie).await;
    assert_eq!(status, 200);
    assert!(answer.contains("\"taken\""), "{answer}");

    // A tenant's own people may not onboard others (an imported administrator has no
    // password yet: a tenant made by the form stands in).
    assert_eq!(app.submit(&submission("Ownco")).await.status(), 202);
    app.run_pending_jobs().await;
    let login = "prpkeAdmin@ownco.example.com";
    app.settle_password(login).await;
    let tenant = app.page_session(login, TENANT_PASSWORD).await;
    assert_eq!(page(app, "/imports", &tenant).await.0, 403);
    assert_eq!(page(app, &to, &tenant).await.0, 403);
}
