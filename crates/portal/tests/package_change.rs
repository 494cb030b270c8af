//! Change of a tenant's service package: the preview compares the tenant's objects with the
//! target version (add, update, remove, and keep what the tenant changed), the change runs as
//! a job with steps and switches the tenant's template at its end, a failed one is undone
//! whole, and every refusal names its reason. Each test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use common::{
    ADMIN, ADMIN_PASSWORD, Db, TENANT_PASSWORD, TestApp, call, page, post, spawn_app, submission,
};
use reqwest::Method;
use serde_json::{Value, json};

on_both!(
    a_change_adds_updates_removes_and_keeps_what_the_tenant_changed,
    changes_that_cannot_be_made_are_refused_with_their_reason,
    a_change_that_fails_for_good_is_undone_whole,
    a_tenant_changes_its_objects_within_their_kinds_rules,
    the_pages_preview_confirm_and_follow_a_change,
    landlord_staff_act_in_a_tenant_under_a_banner_and_as_themselves_in_its_log,
);

/// A completed tenant of `name`, and its administrator's token.
async fn tenant(app: &TestApp, name: &str) -> (String, String) {
    let r = app.submit(&submission(name)).await;
    assert_eq!(r.status(), 202);
    let request: Value = r.json().await.unwrap();
    app.run_pending_jobs().await;
    let path = format!(
        "/api/v1/subscription-requests/{}",
        request["id"].as_str().unwrap()
    );
    let (_, done) = call(app, Method::GET, &path, &app.token, None).await;
    let tenant_id = done["tenant_id"].as_str().unwrap().to_owned();
    let login = format!("prpkeAdmin@{}.example.com", name.to_lowercase());
    app.settle_password(&login).await;
    (tenant_id, app.login_token(&login, TENANT_PASSWORD).await)
}

/// The template's current definition, as `PUT /api/v1/templates/{id}` takes it.
async fn definition(app: &TestApp, id: &str) -> Value {
    let (status, t) = call(
        app,
        Method::GET,
        &format!("/api/v1/templates/{id}"),
        &app.token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{t}");
    json!({
        "name": t["name"], "description": t["description"],
        "services": t["services"], "objects": t["objects"],
    })
}

/// Stores `definition` as the template's next version; its number.
async fn new_version(app: &TestApp, id: &str, definition: &Value) -> i64 {
    let (status, t) = call(
        app,
        Method::PUT,
        &format!("/api/v1/templates/{id}"),
        &app.token,
        Some(definition.clone()),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    t["version"].as_i64().unwrap()
}

async fn configuration(app: &TestApp, tenant_id: &str) -> Vec<Value> {
    let path = format!("/api/v1/tenants/{tenant_id}/configuration");
    let (status, c) = call(app, Method::GET, &path, &app.token, None).await;
    assert_eq!(status, 200, "{c}");
    c["objects"].as_array().unwrap().clone()
}

async fn set_description(
    app: &TestApp,
    token: &str,
    tenant_id: &str,
    object: &Value,
    description: &str,
) -> (u16, Value) {
    let mut properties = object["properties"].clone();
    properties["description"] = json!(description);
    let path = format!(
        "/api/v1/tenants/{tenant_id}/configuration/{}/{}",
        object["kind"].as_str().unwrap(),
        object["name"].as_str().unwrap()
    );
    call(
        app,
        Method::PUT,
        &path,
        token,
        Some(json!({ "properties": properties })),
    )
    .await
}

async fn package(app: &TestApp, tenant_id: &str, tail: &str, body: Value) -> (u16, Value) {
    let path = format!("/api/v1/tenants/{tenant_id}/package-changes{tail}");
    call(app, Method::POST, &path, &app.token, Some(body)).await
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o["kind"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["name"] == name)
}

/// Version 2 of voice-essentials for `objects`: the first object's and second's descriptions
/// changed, the third dropped, a skill added.
fn second_version(mut definition: Value) -> Value {
    let objects = definition["objects"].as_array_mut().unwrap();
    objects[0]["properties"]["description"] = json!("The template's new words");
    objects[1]["properties"]["description"] = json!("Updated by the template");
    objects.remove(2);
    objects.push(json!({"kind": "skill", "name": "Escalations", "properties": {}}));
    definition
}

async fn a_change_adds_updates_removes_and_keeps_what_the_tenant_changed(app: &TestApp) {
    let (id, tenant_token) = tenant(app, "Upgrader").await;
    let before = configuration(app, &id).await;
    let v1 = definition(app, "voice-essentials").await;
    let v1_objects = v1["objects"].as_array().unwrap().clone();
    // The tenant changes its first object; the template changes it too, later.
    let (status, changed) = set_description(
        app,
        &tenant_token,
        &id,
        &before[0],
        "Ours, not the template's",
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    let v2 = new_version(app, "voice-essentials", &second_version(v1)).await;
    assert_eq!(v2, 2);

    let target = json!({"template_id": "voice-essentials"});
    let (status, preview) = package(app, &id, "/preview", target.clone()).await;
    assert_eq!(status, 200, "{preview}");
    let label = |o: &Value| {
        format!(
            "{} {}",
            o["kind"].as_str().unwrap(),
            o["name"].as_str().unwrap()
        )
    };
    assert_eq!(
        preview["template"],
        json!({"id": "voice-essentials", "version": 2})
    );
    assert_eq!(names(&preview["kept"]), [label(&before[0])]);
    assert_eq!(names(&preview["update"]), [label(&before[1])]);
    assert_eq!(names(&preview["remove"]), [label(&v1_objects[2])]);
    assert_eq!(names(&preview["add"]), ["skill Escalations"]);
    assert_eq!(
        configuration(app, &id).await[1],
        before[1],
        "a preview changes nothing"
    );

    let (status, started) = package(app, &id, "", target.clone()).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["status"], "queued");
    let steps: Vec<&str> = started["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "remove_objects",
            "update_objects",
            "add_objects",
            "switch_template"
        ]
    );
    // While it is open, neither a second change nor an edit of the objects is taken.
    let (status, again) = package(app, &id, "", target.clone()).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "package_change_in_progress");
    let (status, edit) = set_description(app, &tenant_token, &id, &before[3], "Late").await;
    assert_eq!(status, 409, "{edit}");

    app.run_pending_jobs().await;
    let path = format!(
        "/api/v1/tenants/{id}/package-changes/{}",
        started["id"].as_str().unwrap()
    );
    let (_, done) = call(app, Method::GET, &path, &app.token, None).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        done["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "done")
    );
    let (_, t) = call(
        app,
        Method::GET,
        &format!("/api/v1/tenants/{id}"),
        &app.token,
        None,
    )
    .await;
    assert_eq!(
        t["template"],
        json!({"id": "voice-essentials", "version": 2})
    );

    let after = configuration(app, &id).await;
    assert_eq!(after.len(), before.len(), "one removed, one added");
    let kept = find(
        &after,
        before[0]["kind"].as_str().unwrap(),
        before[0]["name"].as_str().unwrap(),
    );
    assert_eq!(
        kept.unwrap()["properties"]["description"],
        "Ours, not the template's"
    );
    let updated = find(
        &after,
        before[1]["kind"].as_str().unwrap(),
        before[1]["name"].as_str().unwrap(),
    );
    assert_eq!(
        updated.unwrap()["properties"]["description"],
        "Updated by the template"
    );
    let removed = &v1_objects[2];
    assert!(
        find(
            &after,
            removed["kind"].as_str().unwrap(),
            removed["name"].as_str().unwrap()
        )
        .is_none()
    );
    assert!(find(&after, "skill", "Escalations").is_some());
    for untouched in &before[3..] {
        assert!(after.contains(untouched), "{untouched} is as it was");
    }

    // Already there: the same version is refused; the audit log has the change's start and end.
    let (status, same) = package(app, &id, "/preview", target).await;
    assert_eq!(status, 422, "{same}");
    assert_eq!(same["error"]["fields"][0]["field"], "version");
    let (_, audit) = call(app, Method::GET, "/api/v1/audit?limit=50", &app.token, None).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["tenant_id"] == id.as_str())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "configuration_object_changed",
        "package_change_started",
        "package_changed",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

async fn changes_that_cannot_be_made_are_refused_with_their_reason(app: &TestApp) {
    let (id, tenant_token) = tenant(app, "Refusals").await;
    let v2 = second_version(definition(app, "voice-essentials").await);
    new_version(app, "voice-essentials", &v2).await;
    let expect = |status: u16, answer: &Value, want: u16, what: &str| {
        assert_eq!(status, want, "{what}: {answer}");
    };

    let (s, a) = package(
        app,
        &id,
        "/preview",
        json!({"template_id": "no-such-template"}),
    )
    .await;
    expect(s, &a, 422, "an unknown template");
    assert_eq!(a["error"]["fields"][0]["field"], "template_id");
    let body = json!({"template_id": "voice-essentials", "version": 9});
    let (s, a) = package(app, &id, "", body).await;
    expect(s, &a, 422, "an unknown version");
    assert_eq!(a["error"]["fields"][0]["field"], "version");
    let body = json!({"template_id": "voice-essentials", "version": 1});
    let (s, a) = package(app, &id, "", body).await;
    expect(s, &a, 422, "the version it has");
    let (s, a) = package(app, &id, "", json!({"template": "voice-essentials"})).await;
    expect(s, &a, 400, "a body of the wrong shape");
    let path = format!("/api/v1/tenants/{id}/package-changes/preview");
    let body = json!({"template_id": "voice-essentials"});
    let (s, a) = call(app, Method::POST, &path, &tenant_token, Some(body.clone())).await;
    expect(s, &a, 403, "the tenant's own administrator");
    let (s, a) = package(app, "no-such-tenant", "/preview", body.clone()).await;
    expect(s, &a, 404, "an unknown tenant");

    // A retired template takes no tenants.
    let (s, a) = call(
        app,
        Method::DELETE,
        "/api/v1/templates/omnichannel-smart-queues",
        &app.token,
        None,
    )
    .await;
    assert!(s == 200 || s == 204, "{a}");
    let retired = json!({"template_id": "omnichannel-smart-queues"});
    let (s, a) = package(app, &id, "", retired).await;
    expect(s, &a, 422, "a retired template");
    assert_eq!(a["error"]["fields"][0]["field"], "template_id");

    // A suspended tenant's package does not change.
    let suspend = format!("/api/v1/tenants/{id}/suspend");
    let reason = json!({"reason": "Unpaid"});
    let (s, _) = call(app, Method::POST, &suspend, &app.token, Some(reason)).await;
    assert_eq!(s, 200);
    let (s, a) = package(app, &id, "", body.clone()).await;
    expect(s, &a, 409, "a suspended tenant");
    assert_eq!(a["error"]["code"], "tenant_not_active");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("suspended"),
        "{a}"
    );
    let changes = format!("/api/v1/tenants/{id}/package-changes");
    let (_, list) = call(app, Method::GET, &changes, &app.token, None).await;
    assert_eq!(list["items"], json!([]), "nothing was started");
}

async fn a_change_that_fails_for_good_is_undone_whole(app: &TestApp) {
    let (id, _) = tenant(app, "Undone").await;
    let before = configuration(app, &id).await;
    let v2 = second_version(definition(app, "voice-essentials").await);
    new_version(app, "voice-essentials", &v2).await;
    let (status, started) = package(app, &id, "", json!({"template_id": "voice-essentials"})).await;
    assert_eq!(status, 202, "{started}");
    let change_id = started["id"].as_str().unwrap().to_owned();

    // Its job is claimed, three of its four steps are done, and then it runs out of attempts.
    let store = &app.store;
    let now = portal_store::now_ms();
    let claimed = store.claim_jobs("test", 10, 60_000, now).await.unwrap();
    let job = claimed.iter().find(|j| j.kind == "change_package").unwrap();
    let entry = portal_store::audit::AuditEntry {
        actor_id: None,
        actor_name: None,
        tenant_id: Some(id.clone()),
        action: portal_domain::AuditAction::PackageChanged,
        subject: None,
        detail: None,
        client: None,
    };
    let audits = portal_store::package::ChangeAudits {
        completed: &entry,
        failed: &entry,
    };
    let exact_before = store.tenant_objects_with_origins(&id).await.unwrap();
    for _ in 0..3 {
        store
            .run_package_change_step(&change_id, &audits, now)
            .await
            .unwrap();
    }
    assert_ne!(
        configuration(app, &id).await,
        before,
        "the steps changed the objects"
    );
    let mut burial = store.bury_job(job, "gave up").await.unwrap().unwrap();
    portal::service::package::give_up(&app.services, &mut burial, &change_id, "gave up")
        .await
        .unwrap();
    burial.commit().await.unwrap();

    let path = format!("/api/v1/tenants/{id}/package-changes/{change_id}");
    let (_, failed) = call(app, Method::GET, &path, &app.token, None).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"], "gave up");
    let statuses: Vec<&str> = failed["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["done", "done", "done", "failed"]);
    assert_eq!(configuration(app, &id).await, before, "everything undone");
    assert_eq!(
        store.tenant_objects_with_origins(&id).await.unwrap(),
        exact_before,
        "positions, origins and fingerprints too"
    );
    let tenant_path = format!("/api/v1/tenants/{id}");
    let (_, t) = call(app, Method::GET, &tenant_path, &app.token, None).await;
    assert_eq!(t["template"]["version"], 1);

    // The tenant can change again: the same plan as before (nothing counts as the tenant's
    // change), and a tenant suspended while it runs has it undone too.
    let (status, again) = package(app, &id, "", json!({"template_id": "voice-essentials"})).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["update"], started["update"]);
    assert_eq!(again["kept"], json!([]));
    let change_id = again["id"].as_str().unwrap();
    store
        .run_package_change_step(change_id, &audits, portal_store::now_ms())
        .await
        .unwrap();
    let suspend = format!("/api/v1/tenants/{id}/suspend");
    let reason = json!({"reason": "Unpaid"});
    let (s, _) = call(app, Method::POST, &suspend, &app.token, Some(reason)).await;
    assert_eq!(s, 200);
    app.run_pending_jobs().await;
    let path = format!("/api/v1/tenants/{id}/package-changes/{change_id}");
    let (_, undone) = call(app, Method::GET, &path, &app.token, None).await;
    assert_eq!(undone["status"], "failed", "{undone}");
    assert!(
        undone["error"].as_str().unwrap().contains("suspended"),
        "{undone}"
    );
    assert_eq!(
        store.tenant_objects_with_origins(&id).await.unwrap(),
        exact_before
    );
    let (_, t) = call(app, Method::GET, &tenant_path, &app.token, None).await;
    assert_eq!(t["template"]["version"], 1);
}

async fn a_tenant_changes_its_objects_within_their_kinds_rules(app: &TestApp) {
    let (id, tenant_token) = tenant(app, "Editor").await;
    let (other, other_token) = tenant(app, "Neighbour").await;
    let objects = configuration(app, &id).await;
    let queue = objects.iter().find(|o| o["kind"] == "queue").unwrap();
    let path = format!(
        "/api/v1/tenants/{id}/configuration/queue/{}",
        queue["name"].as_str().unwrap()
    );
    let put = |token: &str, body: Value| {
        let path = path.clone();
        let token = token.to_owned();
        async move { call(app, Method::PUT, &path, &token, Some(body)).await }
    };
    let (s, a) = put(&tenant_token, json!({"properties": {"priority": 100}})).await;
    assert_eq!(s, 422, "{a}");
    assert_eq!(a["error"]["fields"][0]["field"], "properties.priority");
    let (s, a) = put(&tenant_token, json!({"properties": {"colour": "red"}})).await;
    assert_eq!(s, 422, "{a}");
    assert_eq!(a["error"]["fields"][0]["field"], "properties.colour");
    let (s, a) = put(&other_token, json!({"properties": {"priority": 5}})).await;
    assert_eq!(s, 404, "another tenant's object: {a}");
    let (s, a) = put(&tenant_token, json!({"properties": {"priority": 5}})).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["properties"]["priority"], 5);
    let missing = format!("/api/v1/tenants/{id}/configuration/queue/No%20such%20queue");
    let body = json!({"properties": {}});
    let (s, _) = call(app, Method::PUT, &missing, &tenant_token, Some(body)).await;
    assert_eq!(s, 404);
    let after = configuration(app, &id).await;
    let edited = find(&after, "queue", queue["name"].as_str().unwrap()).unwrap();
    assert_eq!(edited["properties"]["priority"], 5);
    assert_eq!(configuration(app, &other).await.len(), after.len());

    // A suspended tenant's objects do not change, not even by the provider's staff.
    let suspend = format!("/api/v1/tenants/{id}/suspend");
    let reason = json!({"reason": "Unpaid"});
    let (s, _) = call(app, Method::POST, &suspend, &app.token, Some(reason)).await;
    assert_eq!(s, 200);
    let (s, a) = put(&app.token, json!({"properties": {"priority": 7}})).await;
    assert_eq!(s, 409, "{a}");
    assert_eq!(a["error"]["code"], "tenant_not_active");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("configuration"),
        "{a}"
    );
}

async fn the_pages_preview_confirm_and_follow_a_change(app: &TestApp) {
    let (id, tenant_token) = tenant(app, "Paged").await;
    let objects = configuration(app, &id).await;
    set_description(app, &tenant_token, &id, &objects[0], "Ours").await;
    let v2 = second_version(definition(app, "voice-essentials").await);
    new_version(app, "voice-essentials", &v2).await;
    let cookie = app.page_session(ADMIN, ADMIN_PASSWORD).await;

    let (status, tenant_page) = page(app, &format!("/tenants/{id}"), &cookie).await;
    assert_eq!(status, 200);
    assert!(tenant_page.contains(&format!("href=\"/tenants/{id}/package\"")));
    let (status, form) = page(app, &format!("/tenants/{id}/package"), &cookie).await;
    assert_eq!(status, 200);
    assert!(form.contains("<select id=\"template_id\""), "{form}");
    assert!(
        !form.contains("confirm-change"),
        "no preview before a choice"
    );

    let bad = format!("/tenants/{id}/package?template_id=voice-essentials&version=two");
    let (status, refused) = page(app, &bad, &cookie).await;
    assert_eq!(status, 422);
    assert!(refused.contains("whole number"), "{refused}");
    let same = format!("/tenants/{id}/package?template_id=voice-essentials&version=1");
    let (status, refused) = page(app, &same, &cookie).await;
    assert_eq!(status, 422);
    assert!(
        refused.contains("already has this template version"),
        "{refused}"
    );

    let wanted = format!("/tenants/{id}/package?template_id=voice-essentials&version=");
    let (status, preview) = page(app, &wanted, &cookie).await;
    assert_eq!(status, 200, "{preview}");
    assert!(
        preview.contains("Preview: voice-essentials, version 2"),
        "{preview}"
    );
    assert!(
        preview.contains("Kept as the tenant made them (1)"),
        "{preview}"
    );
    assert!(preview.contains("Added (1)") && preview.contains("<bdi>Escalations</bdi>"));
    assert_eq!(
        configuration(app, &id).await,
        {
            let mut now = objects.clone();
            now[0]["properties"]["description"] = json!("Ours");
            now
        },
        "the preview changed nothing"
    );

    let form = [("template_id", "voice-essentials"), ("version", "2")];
    let (status, to) = post(
        app,
        &format!("/tenants/{id}/package-changes"),
        &cookie,
        &form,
    )
    .await;
    assert_eq!(status, 303, "{to}");
    assert!(
        to.starts_with(&format!("/tenants/{id}/package-changes/")),
        "{to}"
    );
    let (_, waiting) = page(app, &to, &cookie).await;
    assert!(waiting.contains("data-live"), "followed live while it runs");
    // A second one while it is open is refused, with the reason.
    let (status, again) = post(
        app,
        &format!("/tenants/{id}/package-changes"),
        &cookie,
        &form,
    )
    .await;
    assert_eq!(status, 409);
    assert!(again.contains("not finished yet"), "{again}");

    app.run_pending_jobs().await;
    let (status, done) = page(app, &to, &cookie).await;
    assert_eq!(status, 200);
    assert!(done.contains("data-status>completed<"), "{done}");
    assert!(!done.contains("data-live"), "no longer followed");
    let (_, tenant_page) = page(app, &format!("/tenants/{id}"), &cookie).await;
    assert!(
        tenant_page.contains("voice-essentials</a>, version 2"),
        "{tenant_page}"
    );
    assert!(
        tenant_page.contains(&to),
        "the change is listed on the tenant's page"
    );
}

async fn landlord_staff_act_in_a_tenant_under_a_banner_and_as_themselves_in_its_log(app: &TestApp) {
    let (id, tenant_token) = tenant(app, "Helped").await;
    let staff = app.page_session(ADMIN, ADMIN_PASSWORD).await;
    let login = "prpkeAdmin@helped.example.com";
    let own = app.page_session(login, TENANT_PASSWORD).await;
    for path in [
        format!("/tenants/{id}"),
        format!("/tenants/{id}/smart-queues"),
        format!("/tenants/{id}/people"),
        format!("/tenants/{id}/package"),
    ] {
        let (status, text) = page(app, &path, &staff).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            text.contains("Acting in tenant <strong><bdi>Helped</bdi></strong> as landlord staff"),
            "{path}: {text}"
        );
    }
    for path in [
        format!("/tenants/{id}"),
        format!("/tenants/{id}/smart-queues"),
    ] {
        let (status, text) = page(app, &path, &own).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            !text.contains("acting-in"),
            "the tenant's own user acts in no other"
        );
    }

    // A change the staff make there is theirs, in the tenant's own log.
    let objects = configuration(app, &id).await;
    let (status, _) = set_description(app, &app.token, &id, &objects[0], "Fixed by support").await;
    assert_eq!(status, 200);
    let (_, log) = call(
        app,
        Method::GET,
        "/api/v1/audit?limit=20",
        &tenant_token,
        None,
    )
    .await;
    let entry = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "configuration_object_changed")
        .unwrap_or_else(|| panic!("the tenant sees the change: {log}"));
    assert_eq!(entry["actor_name"], ADMIN, "{entry}");
    assert_eq!(entry["tenant_id"], id.as_str());
}
