//! The store conformance suite: every test runs on SQLite and on PostgreSQL, each on a fresh
//! database, so both backends keep the same behaviour.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

use std::collections::HashSet;

use portal_domain::{
    AccountStatus, AuditAction, ErrorNote, NameKind, ProvisioningStep, RequestEvent, RequestStatus,
    Role, StaffAction, StepStatus, TenantStatus,
};
use portal_store::action::{RequestMove, Run};
use portal_store::audit::{AuditEntry, AuditFilter, AuditRow};
use portal_store::credential::{AccountLinkPurpose, LinkRefusal, NewAccountLink, NewCredential};
use portal_store::intake::{Idempotency, NewRequest};
use portal_store::job::{JobStatus, NewJob};
use portal_store::mail::NewMail;
use portal_store::names::{NameHold, Names};
use portal_store::request::RequestFilter;
use portal_store::rollback::Failure;
use portal_store::step::StepOutcome;
use portal_store::template::{NewTemplate, TemplateObjectRow};
use portal_store::test_support::{
    TestDatabase, corrupt_request, execute, name_segments_unmerged, name_suffixes, name_trigrams,
    names_unindexed,
};
use portal_store::user::{NewUser, UserChange};
use portal_store::webhook::NewEndpoint;
use portal_store::{Backend, Conflict, Store, StoreError, new_id, now_ms};

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::TestDatabase::sqlite();
                    super::$name(super::open(&db).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::TestDatabase::postgres().await else { return };
                    let store = super::open(&db).await;
                    super::$name(store.clone()).await;
                    store.close().await;
                    db.drop_database().await;
                }
            )*
        }
    };
}

conformance!(
    migrations_run_twice_without_harm,
    a_submitted_request_is_stored_with_its_steps_and_its_job,
    a_name_held_by_another_request_in_any_case_is_a_conflict_and_nothing_is_stored,
    concurrent_claims_never_hand_out_the_same_job_twice,
    an_expired_lease_is_rescued_and_its_old_holder_can_no_longer_finish_it,
    a_failing_job_is_retried_at_its_backoff_and_dies_after_its_last_attempt,
    every_step_runs_once_and_a_repeat_changes_nothing,
    giving_up_removes_the_half_made_tenant_and_keeps_the_hash_for_a_retry,
    a_failed_request_frees_its_names,
    tokens_work_until_they_expire,
    a_token_is_marked_used_at_most_once_a_minute,
    the_stored_answer_is_what_reading_the_request_back_gives,
    a_totp_step_and_a_recovery_code_work_once_even_when_raced,
    the_last_landlord_admin_is_never_disabled,
    a_set_password_link_works_once,
    requests_are_listed_newest_first_by_page_and_filter,
    a_name_search_reads_few_matches_from_trigrams_and_walks_for_many,
    a_name_search_finds_what_a_scan_finds_for_every_kind_of_pattern,
    a_common_name_is_found_by_walking_the_trigram_lists,
    a_rare_name_is_read_from_the_index_of_exact_matches,
    a_name_held_twice_by_many_never_hides_a_rarer_match,
    the_trigram_lists_follow_every_insert_rename_and_delete,
    names_are_found_before_they_are_indexed_and_indexed_once,
    a_backlog_of_names_is_indexed_and_left_in_one_segment,
    requests_are_filtered_by_template_and_by_submission_time,
    failed_sign_ins_lock_after_the_free_ones_and_each_lock_grows,
    a_name_is_taken_by_an_open_request_or_a_live_hold_and_not_by_a_lapsed_one,
    a_stored_request_keeps_its_names_for_good,
    an_idempotency_key_is_recorded_once_per_actor,
    a_lease_that_lapses_on_the_last_attempt_kills_the_job_and_says_so,
    a_claim_never_hands_out_more_jobs_than_asked,
    a_value_the_types_do_not_know_is_an_error_naming_its_column,
    intake_reads_see_the_template_setting_and_names_the_store_holds,
    a_submission_writes_its_event_audit_entry_and_deliveries_and_a_refused_one_none,
);

async fn open(db: &TestDatabase) -> Store {
    let store = Store::connect(&db.url, 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
        .create_template(
            &NewTemplate {
                id: "voice".into(),
                name: "Voice".into(),
                description: "Voice only".into(),
                services: r#"["voice"]"#.into(),
                objects: vec![TemplateObjectRow {
                    kind: "queue".into(),
                    name: "Sales".into(),
                    properties: r#"{"priority":49}"#.into(),
                }],
            },
            None,
        )
        .await
        .expect("template");
    store
}

fn request(name: &str, short: &str, upn: &str) -> NewRequest {
    NewRequest {
        id: new_id(),
        status: RequestStatus::Accepted,
        template_id: "voice".into(),
        template_version: 1,
        tenant_name: name.into(),
        short_name: short.into(),
        upn_suffix: upn.into(),
        admin_user_name: "keAdmin".into(),
        admin_personnel_id: "prpkeAdmin".into(),
        admin_password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        admin_email: None,
        ani: "+442079460000".into(),
        contact_first_name: "Jo".into(),
        contact_last_name: "Kenton".into(),
        contact_email: "jo@example.com".into(),
        contact_phone: None,
        contact_company: Some("Kenton".into()),
        contact_address: None,
        submitted_by: None,
        submitted_at: now_ms(),
        scheduled_for: None,
        window_cap: None,
        audit: None,
        names: NameHold::Open,
        links: Vec::new(),
        mail: None,
    }
}

/// The last error of a job whose lease lapsed.
const LAPSED: &str = "the worker stopped renewing its lease";

fn job(kind: &'static str, payload: &str) -> NewJob {
    NewJob {
        kind,
        subject: None,
        payload: payload.into(),
        run_at: now_ms(),
        max_attempts: 3,
    }
}

async fn migrations_run_twice_without_harm(store: Store) {
    store.migrate().await.unwrap();
    assert_eq!(store.count_templates().await.unwrap(), 1);
    store.ping().await.unwrap();
}

async fn a_submitted_request_is_stored_with_its_steps_and_its_job(store: Store) {
    let r = request("KentonElectronics", "ke", "kenton-electronics.com");
    store
        .submit_request(&r, &job("provision", &r.id), None)
        .await
        .unwrap();
    let row = store.get_request(&r.id).await.unwrap();
    assert_eq!(row.status, RequestStatus::Accepted);
    assert_eq!(row.tenant_name, "KentonElectronics");
    assert_eq!(
        row.notification_status,
        portal_domain::NotificationStatus::None
    );
    let steps = store.request_steps(&r.id).await.unwrap();
    let names: Vec<ProvisioningStep> = steps.iter().map(|s| s.name).collect();
    assert_eq!(names, ProvisioningStep::ALL);
    assert!(steps.iter().all(|s| s.status == StepStatus::Pending));
    assert_eq!(store.queue_depth().await.unwrap().queued, 1);
    assert!(matches!(
        store.get_request("nope").await,
        Err(StoreError::NotFound)
    ));
}

async fn a_name_held_by_another_request_in_any_case_is_a_conflict_and_nothing_is_stored(
    store: Store,
) {
    let first = request("KentonElectronics", "ke", "kenton-electronics.com");
    store
        .submit_request(&first, &job("provision", &first.id), None)
        .await
        .unwrap();
    for (other, field) in [
        (
            request("KENTONELECTRONICS", "k2", "k2.com"),
            NameKind::TenantName,
        ),
        (request("Other", "KE", "k3.com"), NameKind::ShortName),
        (
            request("Other", "k4", "Kenton-Electronics.COM"),
            NameKind::UpnSuffix,
        ),
    ] {
        match store
            .submit_request(&other, &job("provision", &other.id), None)
            .await
        {
            Err(StoreError::Conflict(Conflict::NameTaken(kind))) => assert_eq!(kind, field),
            other => panic!("expected a conflict on {field}, got {other:?}"),
        }
        assert!(matches!(
            store.get_request(&other.id).await,
            Err(StoreError::NotFound)
        ));
    }
    let all = store
        .list_requests(&RequestFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        store.queue_depth().await.unwrap().queued,
        1,
        "no job of a refused request"
    );
}

/// The rows a submission writes besides the request, its names, steps and job (on SQLite in
/// the same text as those): its event, its audit entry, and a delivery with its job for each
/// enabled endpoint that wants the event. A submission refused for a name leaves none of them.
async fn a_submission_writes_its_event_audit_entry_and_deliveries_and_a_refused_one_none(
    store: Store,
) {
    let audit = |subject: &str| AuditEntry {
        actor_id: None,
        actor_name: Some("admin".into()),
        tenant_id: None,
        action: AuditAction::RequestSubmitted,
        subject: Some(subject.to_owned()),
        detail: Some("from template voice".into()),
        client: Some("192.0.2.1".into()),
    };
    let endpoint = |id: &'static str, events: &'static str| NewEndpoint {
        id,
        url: "https://hooks.example.com/in",
        events,
        description: "",
        secret: "whsec_c2VjcmV0",
        created_by: None,
    };
    let wanting = store
        .create_endpoint(
            &endpoint("ep-wants", r#"["request.submitted"]"#),
            &audit("ep"),
        )
        .await
        .unwrap();
    let other = store
        .create_endpoint(
            &endpoint("ep-other", r#"["request.completed"]"#),
            &audit("ep"),
        )
        .await
        .unwrap();

    let mut first = request("KentonElectronics", "ke", "kenton-electronics.com");
    first.audit = Some(audit(&first.id));
    store
        .submit_request(&first, &job("provision", &first.id), None)
        .await
        .unwrap();
    let events = store.request_events(&first.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, RequestEvent::Submitted);
    assert_eq!(events[0].to_status, Some(RequestStatus::Accepted));
    let delivered = store.list_deliveries(&wanting.id, 10).await.unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].event_type, "request.submitted");
    assert!(
        store
            .list_deliveries(&other.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The provisioning job and the delivery's.
    assert_eq!(store.queue_depth().await.unwrap().queued, 2);
    let submitted = |entries: Vec<AuditRow>, id: &str| -> Vec<AuditRow> {
        entries
            .into_iter()
            .filter(|e| e.subject.as_deref() == Some(id))
            .collect()
    };
    let filter = AuditFilter {
        action: Some(AuditAction::RequestSubmitted),
        limit: 50,
        ..Default::default()
    };
    let entries = submitted(store.list_audit(&filter).await.unwrap(), &first.id);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].client.as_deref(), Some("192.0.2.1"));

    // The same short name: refused, and nothing of it stays.
    let mut second = request("Other", "KE", "other.example.com");
    second.audit = Some(audit(&second.id));
    let refused = store
        .submit_request(&second, &job("provision", &second.id), None)
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::Conflict(Conflict::NameTaken(
            NameKind::ShortName
        )))
    ));
    assert!(store.request_events(&second.id).await.unwrap().is_empty());
    assert_eq!(
        store.list_deliveries(&wanting.id, 10).await.unwrap().len(),
        1
    );
    assert_eq!(store.queue_depth().await.unwrap().queued, 2);
    let entries = store.list_audit(&filter).await.unwrap();
    assert!(submitted(entries, &second.id).is_empty());
    assert!(
        store
            .name_holder(NameKind::TenantName, "other", now_ms())
            .await
            .unwrap()
            .is_none()
    );
}

async fn concurrent_claims_never_hand_out_the_same_job_twice(store: Store) {
    for i in 0..200 {
        store.enqueue(&job("noop", &i.to_string())).await.unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let jobs = store
                    .claim_jobs(&format!("w{w}"), 7, 60_000, now_ms())
                    .await
                    .unwrap();
                if jobs.is_empty() {
                    break;
                }
                for j in jobs {
                    assert!(store.complete_job(&j).await.unwrap());
                    mine.push(j.id);
                }
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for t in tasks {
        for id in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "job {id} was claimed twice");
        }
    }
    assert_eq!(total, 200);
    assert_eq!(store.queue_depth().await.unwrap(), Default::default());
}

async fn an_expired_lease_is_rescued_and_its_old_holder_can_no_longer_finish_it(store: Store) {
    store.enqueue(&job("noop", "1")).await.unwrap();
    let now = now_ms();
    let first = store
        .claim_jobs("dead-worker", 10, 1_000, now)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(first.attempts, 1);
    assert!(
        store
            .claim_jobs("other", 10, 1_000, now)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    assert_eq!(
        store
            .rescue_expired_jobs(now + 500, LAPSED)
            .await
            .unwrap()
            .0,
        0,
        "lease still valid"
    );
    assert!(store.heartbeat_job(&first, now + 2_000).await.unwrap());
    assert_eq!(
        store
            .rescue_expired_jobs(now + 1_500, LAPSED)
            .await
            .unwrap()
            .0,
        0,
        "heartbeat extended it"
    );
    assert_eq!(
        store
            .rescue_expired_jobs(now + 2_500, LAPSED)
            .await
            .unwrap()
            .0,
        1
    );
    let second = store
        .claim_jobs("other", 10, 1_000, now + 2_500)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((second.id, second.attempts), (first.id, 2));
    assert!(!store.heartbeat_job(&first, now + 9_000).await.unwrap());
    assert!(
        !store.complete_job(&first).await.unwrap(),
        "the old holder lost the job"
    );
    assert!(
        !store.retry_job(&first, "late", now).await.unwrap(),
        "the old holder cannot fail it either"
    );
    assert!(
        store.bury_job(&first, "late").await.unwrap().is_none(),
        "nor bury it"
    );
    assert!(store.complete_job(&second).await.unwrap());
    assert!(matches!(
        store.get_job(first.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn a_failing_job_is_retried_at_its_backoff_and_dies_after_its_last_attempt(store: Store) {
    let id = store.enqueue(&job("flaky", "x")).await.unwrap();
    let mut now = now_ms();
    for attempt in 1..=3 {
        let claimed = store
            .claim_jobs("w", 1, 60_000, now)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(claimed.attempts, attempt);
        if attempt < claimed.max_attempts {
            assert!(
                store
                    .retry_job(&claimed, "boom", now + 1_000)
                    .await
                    .unwrap()
            );
            let row = store.get_job(id).await.unwrap();
            assert_eq!(row.last_error.as_deref(), Some("boom"));
            assert!(
                store
                    .claim_jobs("w", 1, 60_000, now + 999)
                    .await
                    .unwrap()
                    .is_empty(),
                "not before its time"
            );
            now += 1_000;
        } else {
            let burial = store.bury_job(&claimed, "boom").await.unwrap().unwrap();
            burial.commit().await.unwrap();
            let row = store.get_job(id).await.unwrap();
            assert_eq!(row.last_error.as_deref(), Some("boom"));
            assert_eq!(row.status, JobStatus::Dead);
        }
    }
    assert!(
        store
            .claim_jobs("w", 1, 60_000, now + 1_000_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.queue_depth().await.unwrap().dead, 1);
}

async fn every_step_runs_once_and_a_repeat_changes_nothing(store: Store) {
    let r = request("KentonElectronics", "ke", "kenton-electronics.com");
    store
        .submit_request(&r, &job("provision", &r.id), None)
        .await
        .unwrap();
    let now = now_ms();
    let begin = RequestStatus::Accepted.begin_provisioning().unwrap();
    let start = RequestMove::new(&r.id, begin, now);
    store.move_request(&start).await.unwrap();
    assert!(matches!(
        store.move_request(&start).await,
        Err(StoreError::Conflict(Conflict::StatusMoved(
            RequestStatus::Provisioning
        )))
    ));
    for round in 0..2 {
        let expect = if round == 0 {
            StepOutcome::Done
        } else {
            StepOutcome::AlreadyDone
        };
        assert_eq!(
            store
                .step_create_tenant(&r.id, &new_id(), now)
                .await
                .unwrap(),
            expect
        );
        assert_eq!(
            store
                .step_create_administrator(&r.id, &new_id(), now)
                .await
                .unwrap(),
            expect
        );
        assert_eq!(
            store.clone_objects_batch(&r.id, 0, 10).await.unwrap(),
            Some(if round == 0 { 1 } else { 0 })
        );
        assert_eq!(
            store
                .step_clone_configuration(&r.id, "{}", 1, now)
                .await
                .unwrap(),
            expect
        );
        assert_eq!(
            store
                .step_assign_ani_and_upn_suffix(&r.id, now)
                .await
                .unwrap(),
            expect
        );
    }
    let row = store.get_request(&r.id).await.unwrap();
    let tenant_id = row.tenant_id.clone().unwrap();
    assert_eq!(store.count_tenants_for_request(&r.id).await.unwrap(), 1);
    assert_eq!(store.count_tenant_objects(&tenant_id).await.unwrap(), 1);
    let admin = store
        .find_user_by_username("PRPKEADMIN@kenton-electronics.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        admin.password_hash, r.admin_password_hash,
        "the hash moved to the user"
    );
    assert_eq!(row.status, RequestStatus::Provisioning);
    assert_eq!(row.started_at, Some(now));
    assert_eq!(
        store.get_tenant(&tenant_id).await.unwrap().status,
        TenantStatus::Provisioning
    );
    assert_eq!(
        store.step_activate(&r.id, None, None, now).await.unwrap(),
        StepOutcome::Done
    );
    assert_eq!(
        store.step_activate(&r.id, None, None, now).await.unwrap(),
        StepOutcome::NotProvisioning
    );
    let row = store.get_request(&r.id).await.unwrap();
    assert_eq!(row.status, RequestStatus::Completed);
    let steps = store.request_steps(&r.id).await.unwrap();
    assert!(
        steps
            .iter()
            .filter(|s| s.name != ProvisioningStep::ReserveNames)
            .all(|s| s.status == StepStatus::Done),
        "{steps:?}"
    );
    let tenant = store.get_tenant(&tenant_id).await.unwrap();
    assert_eq!(tenant.status, TenantStatus::Active);
    assert_eq!(
        (tenant.ani.as_str(), tenant.upn_suffix.as_str()),
        ("+442079460000", "kenton-electronics.com")
    );
    // The names stay taken by the tenant.
    let clash = request("kentonelectronics", "zz", "zz.com");
    assert!(matches!(
        store
            .submit_request(&clash, &job("provision", &clash.id), None)
            .await,
        Err(StoreError::Conflict(Conflict::NameTaken(
            NameKind::TenantName
        )))
    ));
}

async fn giving_up_removes_the_half_made_tenant_and_keeps_the_hash_for_a_retry(store: Store) {
    let r = request("KentonElectronics", "ke", "kenton-electronics.com");
    store
        .submit_request(&r, &job("provision", &r.id), None)
        .await
        .unwrap();
    let now = now_ms();
    let begin = RequestStatus::Accepted.begin_provisioning().unwrap();
    store
        .move_request(&RequestMove::new(&r.id, begin, now))
        .await
        .unwrap();
    store
        .step_create_tenant(&r.id, &new_id(), now)
        .await
        .unwrap();
    store
        .step_create_administrator(&r.id, &new_id(), now)
        .await
        .unwrap();
    let tenant_id = store.get_request(&r.id).await.unwrap().tenant_id.unwrap();
    assert!(
        store
            .fail_and_roll_back(&failure(&r.id, "it broke"), now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .fail_and_roll_back(&failure(&r.id, "again"), now)
            .await
            .unwrap(),
        "only once"
    );
    assert!(matches!(
        store.get_tenant(&tenant_id).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .find_user_by_username("prpkeadmin@kenton-electronics.com")
            .await
            .unwrap()
            .is_none()
    );
    let failed = store.get_request(&r.id).await.unwrap();
    assert_eq!(
        (failed.status, failed.error, failed.tenant_id),
        (
            RequestStatus::Failed,
            Some(ErrorNote::Failed("it broke".into())),
            None
        )
    );
    // A retry takes the names again and provisions from the start with the same password.
    let retry_job = job("provision", &r.id);
    let retry = RequestStatus::Failed.act(StaffAction::Retry).unwrap();
    let retried = RequestMove {
        run: Some(Run {
            at: now,
            scheduled_for: None,
            window_cap: None,
            job: &retry_job,
        }),
        ..RequestMove::new(&r.id, retry, now)
    };
    store.move_request(&retried).await.unwrap();
    assert!(matches!(
        store.move_request(&retried).await,
        Err(StoreError::Conflict(Conflict::StatusMoved(
            RequestStatus::Accepted
        )))
    ));
    store
        .move_request(&RequestMove::new(&r.id, begin, now))
        .await
        .unwrap();
    store
        .step_create_tenant(&r.id, &new_id(), now)
        .await
        .unwrap();
    assert_eq!(
        store
            .step_create_administrator(&r.id, &new_id(), now)
            .await
            .unwrap(),
        StepOutcome::Done
    );
    let admin = store
        .find_user_by_username("prpkeadmin@kenton-electronics.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(admin.password_hash, r.admin_password_hash);
    let actions: Vec<RequestEvent> = store
        .request_events(&r.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            RequestEvent::Submitted,
            RequestEvent::ProvisioningStarted,
            RequestEvent::Failed,
            RequestEvent::Retried,
            RequestEvent::ProvisioningStarted
        ]
    );
}

async fn a_failed_request_frees_its_names(store: Store) {
    let r = request("KentonElectronics", "ke", "kenton-electronics.com");
    store
        .submit_request(&r, &job("provision", &r.id), None)
        .await
        .unwrap();
    assert!(
        store
            .fail_and_roll_back(&failure(&r.id, "it broke"), now_ms())
            .await
            .unwrap()
    );
    assert!(
        !store
            .fail_and_roll_back(&failure(&r.id, "again"), now_ms())
            .await
            .unwrap(),
        "only once"
    );
    let row = store.get_request(&r.id).await.unwrap();
    assert_eq!(
        (row.status, row.error),
        (
            RequestStatus::Failed,
            Some(ErrorNote::Failed("it broke".into()))
        )
    );
    let again = request("KentonElectronics", "ke", "kenton-electronics.com");
    store
        .submit_request(&again, &job("provision", &again.id), None)
        .await
        .unwrap();
}

fn landlord(username: &str, email: Option<&str>) -> NewUser {
    NewUser {
        id: new_id(),
        username: username.into(),
        password_hash: "h".into(),
        role: Role::LandlordAdmin,
        tenant_id: None,
        email: email.map(str::to_owned),
        status: AccountStatus::Active,
        must_change_password: false,
    }
}

fn credential(user_id: &str, secret_hash: &str, now: i64, expires_at: i64) -> NewCredential {
    NewCredential {
        id: new_id(),
        secret_hash: secret_hash.into(),
        user_id: user_id.into(),
        created_at: now,
        expires_at,
        name: None,
        client: None,
        user_agent: None,
        second_factor: false,
    }
}

async fn a_token_is_marked_used_at_most_once_a_minute(store: Store) {
    let user = landlord("admin", None);
    store.create_user(&user).await.unwrap();
    let t0 = now_ms();
    store
        .create_token(&NewCredential {
            name: Some("ci".into()),
            ..credential(&user.id, "hash-t", t0, t0 + 3_600_000)
        })
        .await
        .unwrap();
    let marked =
        || async { store.list_personal_tokens(&user.id, t0).await.unwrap()[0].last_used_at };
    assert_eq!(marked().await, None);
    for (at, mark) in [(t0, t0), (t0 + 30_000, t0), (t0 + 61_000, t0 + 61_000)] {
        store.user_for_token("hash-t", at).await.unwrap().unwrap();
        assert_eq!(marked().await, Some(mark), "used at {at}");
    }
}

async fn the_stored_answer_is_what_reading_the_request_back_gives(store: Store) {
    let plain = request("Plain", "plain", "plain.com");
    let mut mailed = request("Mailed", "mailed", "mailed.com");
    mailed.mail = Some(NewMail {
        id: new_id(),
        request_id: Some(mailed.id.clone()),
        kind: "confirm".into(),
        sender: "portal@example.com".into(),
        recipient: "jo@example.com".into(),
        subject: "Confirm".into(),
        body_text: "Confirm".into(),
        body_html: "<p>Confirm</p>".into(),
        job: job("send_mail", "{}"),
    });
    for r in [plain, mailed] {
        store
            .submit_request(&r, &job("provision", &r.id), None)
            .await
            .unwrap();
        assert_eq!(r.as_stored(), store.get_request(&r.id).await.unwrap());
        assert_eq!(
            NewRequest::stored_steps(),
            store.request_steps(&r.id).await.unwrap()
        );
    }
}

async fn a_totp_step_and_a_recovery_code_work_once_even_when_raced(store: Store) {
    let user = landlord("otp", Some("otp@example.com"));
    store.create_user(&user).await.unwrap();
    let now = now_ms();
    assert!(store.start_totp(&user.id, "KEY1", now).await.unwrap());
    // Not confirmed: neither a step nor a code works, and the account has no second factor.
    assert!(!store.use_totp_step(&user.id, 10).await.unwrap());
    assert_eq!(store.get_user(&user.id).await.unwrap().second_factors, 0);
    let audit = portal_store::audit::AuditEntry {
        actor_id: Some(user.id.clone()),
        actor_name: Some(user.username.clone()),
        tenant_id: None,
        action: portal_domain::AuditAction::TotpEnrolled,
        subject: None,
        detail: None,
        client: None,
    };
    let codes = vec!["code-a".to_owned(), "code-b".to_owned()];
    store
        .confirm_totp(&user.id, 10, &codes, None, &audit, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.get_user(&user.id).await.unwrap().second_factors, 1);
    // A confirmed app is not replaced by starting again.
    assert!(!store.start_totp(&user.id, "KEY2", now).await.unwrap());
    // The confirming step, and any before it, are used.
    assert!(!store.use_totp_step(&user.id, 10).await.unwrap());
    assert!(!store.use_totp_step(&user.id, 9).await.unwrap());
    // Eight requests with the same next step, or the same recovery code: one wins each.
    let steps = (0..8).map(|_| {
        let store = store.clone();
        let id = user.id.clone();
        tokio::spawn(async move { store.use_totp_step(&id, 11).await.unwrap() })
    });
    let codes = (0..8).map(|_| {
        let store = store.clone();
        let id = user.id.clone();
        tokio::spawn(async move { store.use_recovery_code(&id, "code-a", now).await.unwrap() })
    });
    let mut step_wins = 0;
    for s in steps {
        step_wins += usize::from(s.await.unwrap());
    }
    let mut code_wins = 0;
    for c in codes {
        code_wins += usize::from(c.await.unwrap());
    }
    assert_eq!((step_wins, code_wins), (1, 1));
    assert_eq!(store.recovery_codes_left(&user.id).await.unwrap(), 1);
    assert!(
        !store
            .use_recovery_code(&user.id, "unknown", now)
            .await
            .unwrap()
    );
    // Removing the app removes its codes; the account has no second factor again.
    assert_eq!(
        store
            .remove_totp(&user.id, true, &audit, now)
            .await
            .unwrap(),
        portal_store::factor::Removal::LastKept,
        "the last factor stays when it must"
    );
    assert_eq!(
        store
            .remove_totp(&user.id, false, &audit, now)
            .await
            .unwrap(),
        portal_store::factor::Removal::Removed
    );
    assert_eq!(store.recovery_codes_left(&user.id).await.unwrap(), 0);
    assert_eq!(store.get_user(&user.id).await.unwrap().second_factors, 0);
    assert!(
        !store
            .use_recovery_code(&user.id, "code-b", now)
            .await
            .unwrap()
    );
}

async fn tokens_work_until_they_expire(store: Store) {
    let user = landlord("admin", Some("admin@example.com"));
    store.create_user(&user).await.unwrap();
    assert!(matches!(
        store
            .create_user(&NewUser {
                id: new_id(),
                username: "ADMIN".into(),
                email: None,
                ..user.clone()
            })
            .await,
        Err(StoreError::Conflict(Conflict::UserNameTaken))
    ));
    assert!(matches!(
        store
            .create_user(&landlord("other", Some("Admin@Example.com")))
            .await,
        Err(StoreError::Conflict(Conflict::EmailTaken))
    ));
    assert!(store.landlord_exists().await.unwrap());
    let now = now_ms();
    store
        .create_token(&credential(&user.id, "hash-a", now, now + 1_000))
        .await
        .unwrap();
    let found = store
        .user_for_token("hash-a", now + 999)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user.id, user.id);
    assert!(!found.second_factor);
    assert!(
        store
            .user_for_token("hash-a", now + 1_000)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.user_for_token("hash-b", now).await.unwrap().is_none());
    store
        .change_user(
            &user.id,
            UserChange {
                role: None,
                status: Some(AccountStatus::Disabled),
                keep_tenant_admin: false,
            },
        )
        .await
        .map(|_| ())
        .expect_err("the only landlord admin cannot be disabled");
}

/// Two landlord admins disabling each other at the same moment: one wins, one is refused,
/// and one active landlord admin is left; the last one can be neither demoted nor disabled.
async fn the_last_landlord_admin_is_never_disabled(store: Store) {
    let disable = UserChange {
        role: None,
        status: Some(AccountStatus::Disabled),
        keep_tenant_admin: false,
    };
    let mut survivor: Option<NewUser> = None;
    for round in 0..10 {
        let a = landlord(&format!("a{round}"), None);
        let b = landlord(&format!("b{round}"), None);
        store.create_user(&a).await.unwrap();
        store.create_user(&b).await.unwrap();
        if let Some(s) = &survivor {
            store.change_user(&s.id, disable).await.unwrap();
        }
        let now = now_ms();
        let token = format!("b-token-{round}");
        store
            .create_token(&credential(&b.id, &token, now, now + 60_000))
            .await
            .unwrap();
        let (one, two) = tokio::join!(
            store.change_user(&a.id, disable),
            store.change_user(&b.id, disable)
        );
        let refused = [&one, &two]
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict(Conflict::LastLandlordAdmin))))
            .count();
        assert_eq!(refused, 1, "round {round}: {one:?} {two:?}");
        if two.is_ok() {
            let found = store.user_for_token(&token, now).await.unwrap();
            assert!(found.is_none(), "a disabled account's token ends");
        }
        let last = if one.is_ok() { b } else { a };
        let demote = UserChange {
            role: Some(Role::LandlordViewer),
            status: None,
            keep_tenant_admin: false,
        };
        assert!(matches!(
            store.change_user(&last.id, demote).await,
            Err(StoreError::Conflict(Conflict::LastLandlordAdmin))
        ));
        assert!(matches!(
            store.change_user(&last.id, disable).await,
            Err(StoreError::Conflict(Conflict::LastLandlordAdmin))
        ));
        survivor = Some(last);
    }
}

/// A set-password link works once, never after it expires, never for a disabled account.
async fn a_set_password_link_works_once(store: Store) {
    let admin = landlord("keeper", None);
    store.create_user(&admin).await.unwrap();
    let user = NewUser {
        password_hash: String::new(),
        status: AccountStatus::Invited,
        role: Role::LandlordOperator,
        ..landlord("op@example.com", Some("op@example.com"))
    };
    let now = now_ms();
    let link = |hash: &str, expires_at| NewAccountLink {
        token_hash: hash.into(),
        purpose: AccountLinkPurpose::Invitation,
        expires_at,
    };
    store
        .invite_user(&user, &link("invite-1", now + 60_000), None)
        .await
        .unwrap();
    let purpose = AccountLinkPurpose::Invitation;
    assert_eq!(
        store
            .use_account_link("invite-1", AccountLinkPurpose::Reset, "x", now)
            .await
            .unwrap(),
        Err(LinkRefusal::Unknown),
        "a link is for its own purpose"
    );
    let (first, second) = tokio::join!(
        store.use_account_link("invite-1", purpose, "hash-1", now),
        store.use_account_link("invite-1", purpose, "hash-2", now)
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(
        [first.is_ok(), second.is_ok()]
            .iter()
            .filter(|ok| **ok)
            .count(),
        1,
        "{first:?} {second:?}"
    );
    let active = store.get_user(&user.id).await.unwrap();
    assert_eq!(active.status, AccountStatus::Active);
    assert!(active.password_hash == "hash-1" || active.password_hash == "hash-2");
    store
        .add_account_link(&user.id, &link("invite-2", now + 1_000), None)
        .await
        .unwrap();
    assert_eq!(
        store
            .use_account_link("invite-2", purpose, "h", now + 1_000)
            .await
            .unwrap(),
        Err(LinkRefusal::Expired)
    );
    store
        .add_account_link(&user.id, &link("invite-3", now + 60_000), None)
        .await
        .unwrap();
    store
        .change_user(
            &user.id,
            UserChange {
                role: None,
                status: Some(AccountStatus::Disabled),
                keep_tenant_admin: false,
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .use_account_link("invite-3", purpose, "h", now)
            .await
            .unwrap()
            .is_err()
    );
}

async fn requests_are_listed_newest_first_by_page_and_filter(store: Store) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = request(
            &format!("Tenant{i}"),
            &format!("t{i}"),
            &format!("t{i}.com"),
        );
        store
            .submit_request(&r, &job("provision", &r.id), None)
            .await
            .unwrap();
        ids.push(r.id);
    }
    store
        .fail_and_roll_back(&failure(&ids[1], "x"), now_ms())
        .await
        .unwrap();
    let page1 = store
        .list_requests(&RequestFilter {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page1.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        [ids[4].clone(), ids[3].clone()]
    );
    let page2 = store
        .list_requests(&RequestFilter {
            limit: 2,
            before_id: Some(ids[3].clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        [ids[2].clone(), ids[1].clone()]
    );
    let failed = store
        .list_requests(&RequestFilter {
            status: Some(RequestStatus::Failed),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    let found = store
        .list_requests(&RequestFilter {
            query: Some("ANT3".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].tenant_name, "Tenant3");
    let wildcard = store
        .list_requests(&RequestFilter {
            query: Some("%".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(wildcard.is_empty(), "a % in the search is literal");
}

async fn names_found(store: &Store, query: &str, limit: i64, before: Option<&str>) -> Vec<String> {
    store
        .list_requests(&RequestFilter {
            query: Some(query.into()),
            limit,
            before_id: before.map(str::to_owned),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.tenant_name)
        .collect()
}

async fn a_name_search_reads_few_matches_from_trigrams_and_walks_for_many(store: Store) {
    // 1,005 names: more than a search reads from the trigram index.
    let mut ids = Vec::new();
    for i in 0..1_005 {
        let r = request(&format!("Bulk{i}"), &format!("b{i}"), &format!("b{i}.com"));
        store
            .submit_request(&r, &job("provision", &r.id), None)
            .await
            .unwrap();
        ids.push(r.id);
    }
    // Newer than them all, names holding both trigrams of `bulk` but not `bulk`: more than
    // the first walk's steps, so that the many matches are found by walking on.
    for j in 'a'..='t' {
        let r = request(
            &format!("Bulxulk{j}"),
            &format!("x{j}"),
            &format!("x{j}.com"),
        );
        store
            .submit_request(&r, &job("provision", &r.id), None)
            .await
            .unwrap();
    }
    // Few matches (Bulk100, Bulk1000 … Bulk1004), newest first, page by page.
    let first = names_found(&store, "ULK100", 3, None).await;
    assert_eq!(first, ["Bulk1004", "Bulk1003", "Bulk1002"]);
    let rest = names_found(&store, "ulk100", 10, Some(&ids[1002])).await;
    assert_eq!(rest, ["Bulk1001", "Bulk1000", "Bulk100"]);
    // Many matches: the newest, found by walking.
    let many = names_found(&store, "bulk", 2, None).await;
    assert_eq!(many, ["Bulk1004", "Bulk1003"]);
    let deep = names_found(&store, "bulk", 2, Some(&ids[1])).await;
    assert_eq!(deep, ["Bulk0"]);
    // Too short for trigrams; none at all; quotes and wildcards are literal.
    assert_eq!(names_found(&store, "k9", 1, None).await, ["Bulk999"]);
    assert!(names_found(&store, "zzz", 10, None).await.is_empty());
    assert!(names_found(&store, "ul\"k1", 10, None).await.is_empty());
    assert!(names_found(&store, "ul%1", 10, None).await.is_empty());
    assert!(names_found(&store, "bul_1", 10, None).await.is_empty());
    // With a status beside it.
    store
        .fail_and_roll_back(&failure(&ids[1003], "x"), now_ms())
        .await
        .unwrap();
    let failed = store
        .list_requests(&RequestFilter {
            query: Some("ulk100".into()),
            status: Some(RequestStatus::Failed),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].tenant_name, "Bulk1003");
}

/// Stores a request named `name` (short name and UPN suffix made from `n`).
async fn named(store: &Store, name: &str, n: usize) -> String {
    let r = request(name, &format!("s{n}"), &format!("s{n}.com"));
    store
        .submit_request(&r, &job("provision", &r.id), None)
        .await
        .unwrap();
    r.id
}

async fn a_name_search_finds_what_a_scan_finds_for_every_kind_of_pattern(store: Store) {
    // Names whose trigrams overlap in every way: `abc` and `bcd` common apart and together
    // (`Abc{i}Bcd` holds both but not `abcd`), a few real `abcd`, common and rare numbers.
    let mut names = Vec::new();
    for i in 0..150 {
        names.push(match i % 5 {
            0 => format!("Abcx{i}"),
            1 => format!("Xbcd{i}"),
            2 => format!("Abc{i}Bcd"),
            3 if i % 30 == 3 => format!("Abcd{i}"),
            _ => format!("Tenant{:04}", i * 7),
        });
    }
    // The newest: more names holding every trigram of `abcd` but not `abcd` than the first
    // walk takes steps, so that its page comes from the trigram index.
    names.extend((0..25).map(|j| format!("Abcq{j}Bcd")));
    // A moment between the first hundred and the rest, for searches within a time range.
    let mut stored = Vec::new();
    let mut split = 0;
    for (n, name) in names.iter().enumerate() {
        if n == 100 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            split = now_ms();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        stored.push((named(&store, name, n).await, name.to_lowercase()));
    }
    stored.reverse(); // newest first, as pages are
    let later = names.len() - 100;
    // On SQLite the names are not indexed yet (and are read beside the indexes), then are.
    for indexed in [false, true] {
        if indexed {
            index_all(&store).await;
        }
        pages_are_what_a_scan_finds(&store, &stored, split, later).await;
    }
    // With a status beside the name (by whichever way the search takes).
    for (id, _) in stored
        .iter()
        .filter(|(_, key)| key.contains("abc"))
        .step_by(3)
    {
        store
            .fail_and_roll_back(&failure(id, "x"), now_ms())
            .await
            .unwrap();
    }
    let failed: Vec<String> = stored
        .iter()
        .filter(|(_, key)| key.contains("abc"))
        .step_by(3)
        .map(|(id, _)| id.clone())
        .collect();
    let page = store
        .list_requests(&RequestFilter {
            query: Some("abc".into()),
            status: Some(RequestStatus::Failed),
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<String> = page.into_iter().map(|r| r.id).collect();
    assert_eq!(ids, failed);
    // Every `abcq` failed: the walk finds a match at every step, and its page comes from the
    // lists (one trigram of one of them taken out hides it).
    let abcq: Vec<&String> = stored
        .iter()
        .filter(|(_, key)| key.contains("abcq"))
        .map(|(id, _)| id)
        .collect();
    for id in &abcq {
        if !failed.contains(id) {
            store
                .fail_and_roll_back(&failure(id, "x"), now_ms())
                .await
                .unwrap();
        }
    }
    execute(
        &store,
        "DELETE FROM name_trigrams WHERE trigram = 'bcq' AND request_id = $1",
        &[abcq[3]],
    )
    .await;
    let walked = store
        .list_requests(&RequestFilter {
            query: Some("abcq".into()),
            status: Some(RequestStatus::Failed),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(walked.len(), abcq.len() - 1);
    assert!(walked.iter().all(|r| &r.id != abcq[3]));
}

/// Every page of many name searches, with and without a time range, against what a scan of
/// `stored` (ids and name keys, newest first; `later` of them after `split`) finds.
async fn pages_are_what_a_scan_finds(
    store: &Store,
    stored: &[(String, String)],
    split: i64,
    later: usize,
) {
    for (query, limit) in [
        ("abcd", 1),
        ("abcd", 2),
        ("abcd", 50),
        ("ABC", 7),
        ("bcd", 3),
        ("c1", 4),
        ("tenant0", 5),
        ("nt01", 50),
        ("0700", 3),
        ("abc1bcd", 1),
        ("cx14", 10),
        ("bcda", 10),
    ] {
        let expected: Vec<&(String, String)> = stored
            .iter()
            .filter(|(_, key)| key.contains(&query.to_lowercase()))
            .collect();
        let found = every_page(store, query, limit, None, None).await;
        let expected_ids: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(found, expected_ids, "{query} by pages of {limit}");
    }
    // Within a time range: the walk starts below its end and stops at its start.
    for (query, limit) in [("abc", 3), ("tenant0", 2), ("bcd", 50), ("abcq", 4)] {
        let matching = |(_, key): &&(String, String)| key.contains(query);
        let late: Vec<String> = stored[..later]
            .iter()
            .filter(matching)
            .map(|(id, _)| id.clone())
            .collect();
        let early: Vec<String> = stored[later..]
            .iter()
            .filter(matching)
            .map(|(id, _)| id.clone())
            .collect();
        let from = every_page(store, query, limit, Some(split), None).await;
        assert_eq!(from, late, "{query} from the split");
        let before = every_page(store, query, limit, None, Some(split)).await;
        assert_eq!(before, early, "{query} before the split");
    }
}

/// Indexes every name stored so far for the search (SQLite indexes them in batches).
async fn index_all(store: &Store) {
    store.index_names(1_000_000).await.expect("index the names");
}

/// Every page of a name search to the end, each after the last id of the one before, within
/// a time range when one is given.
async fn every_page(
    store: &Store,
    query: &str,
    limit: i64,
    submitted_from: Option<i64>,
    submitted_before: Option<i64>,
) -> Vec<String> {
    let mut before: Option<String> = None;
    let mut found = Vec::new();
    loop {
        let page = store
            .list_requests(&RequestFilter {
                query: Some(query.into()),
                limit,
                before_id: before.clone(),
                submitted_from,
                submitted_before,
                ..Default::default()
            })
            .await
            .unwrap();
        found.extend(page.iter().map(|r| r.id.clone()));
        if (page.len() as i64) < limit {
            return found;
        }
        before = page.last().map(|r| r.id.clone());
    }
}

async fn a_common_name_is_found_by_walking_the_trigram_lists(store: Store) {
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(named(&store, &format!("Zebra{i}"), i).await);
    }
    for i in 0..30 {
        named(&store, &format!("Other{i}"), 100 + i).await;
    }
    let all = names_found(&store, "zebra", 50, None).await;
    assert_eq!(all.len(), 30);
    assert_eq!(all.first().map(String::as_str), Some("Zebra29"));
    index_all(&store).await;
    assert_eq!(names_found(&store, "zebra", 50, None).await, all);
    // Take one trigram of Zebra20 out of the lists: a page of the name's matches no longer
    // holds it, so the page came from the lists and not from a scan or the other index.
    execute(
        &store,
        "DELETE FROM name_trigrams WHERE trigram = 'bra' AND request_id = $1",
        &[&ids[20]],
    )
    .await;
    let walked = names_found(&store, "zebra", 50, None).await;
    assert_eq!(walked.len(), 29);
    assert!(!walked.contains(&"Zebra20".to_owned()));
}

async fn a_name_held_twice_by_many_never_hides_a_rarer_match(store: Store) {
    // The oldest match, and the only one below the cursor used further down.
    named(&store, "Qwqwz", 0).await;
    // More than the first walk's steps: names holding both trigrams of `qwqw` and not it.
    for i in 1..41 {
        named(&store, &format!("Qwq{i}Wqw"), i).await;
    }
    // 501 names holding `qwqw` twice: 1,002 of its suffixes, more than the search reads,
    // ordered before `qwqwz`, from 501 requests, fewer than it reads.
    let mut twice = Vec::new();
    for i in 0..501 {
        twice.push(named(&store, &format!("Qwqw{i:03}Qwqw"), 100 + i).await);
    }
    assert_eq!(
        names_found(&store, "qwqw", 2, None).await,
        ["Qwqw500Qwqw", "Qwqw499Qwqw"]
    );
    // Below the oldest of them the walk meets only names without the pattern, and the
    // candidates must not be taken for all of them.
    let oldest = twice.iter().min().expect("ids");
    assert_eq!(
        names_found(&store, "qwqw", 10, Some(oldest)).await,
        ["Qwqwz"]
    );
}

async fn a_rare_name_is_read_from_the_index_of_exact_matches(store: Store) {
    let old = named(&store, "Tenant999", 0).await;
    named(&store, "Tenant999Abcdefghij", 1).await;
    // The first sixteen characters of the long pattern below, and not the rest.
    named(&store, "Tenant999Abcdefgxyz", 2).await;
    // Newer, and more than the first walk's steps: names holding every trigram the walks of
    // both patterns step down (`ten`, `ant`, `999`; `ten`, `9ab`, `hij`), and neither pattern.
    for i in 10..50 {
        named(&store, &format!("Tenant{i}9999Abhij"), i).await;
    }
    assert_eq!(
        names_found(&store, "tenant999", 10, None).await,
        ["Tenant999Abcdefgxyz", "Tenant999Abcdefghij", "Tenant999"]
    );
    assert_eq!(
        names_found(&store, "tenant999abcdefghij", 10, None).await,
        ["Tenant999Abcdefghij"]
    );
    // Out of the exact index, the oldest is no longer found: the page came from it.
    index_all(&store).await;
    let index = match store.backend() {
        Backend::Postgres => "DELETE FROM name_suffixes WHERE request_id = $1",
        Backend::Sqlite => "DELETE FROM request_names WHERE request_id = $1",
    };
    execute(&store, index, &[&old]).await;
    assert_eq!(
        names_found(&store, "tenant999", 10, None).await,
        ["Tenant999Abcdefgxyz", "Tenant999Abcdefghij"]
    );
}

async fn the_trigram_lists_follow_every_insert_rename_and_delete(store: Store) {
    let a = named(&store, "Aaaab", 1).await;
    let b = named(&store, "Kenton", 2).await;
    let c = named(&store, "Ab", 3).await;
    index_all(&store).await;
    let expect = |pairs: &[(&str, &String)]| {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(t, id)| ((*t).to_owned(), (*id).clone()))
            .collect();
        v.sort();
        v
    };
    // Cut by character, each trigram once per request, none for a name of two characters.
    assert_eq!(
        name_trigrams(&store).await,
        expect(&[
            ("aaa", &a),
            ("aab", &a),
            ("ken", &b),
            ("ent", &b),
            ("nto", &b),
            ("ton", &b)
        ])
    );
    // PostgreSQL's suffixes, from every character but the last two.
    if store.backend() == Backend::Postgres {
        assert_eq!(
            name_suffixes(&store).await,
            expect(&[
                ("aaaab", &a),
                ("aaab", &a),
                ("aab", &a),
                ("kenton", &b),
                ("enton", &b),
                ("nton", &b),
                ("ton", &b)
            ])
        );
    }
    execute(
        &store,
        "UPDATE subscription_requests SET tenant_name = 'Tone', tenant_name_key = 'tone' WHERE id = $1",
        &[&b],
    )
    .await;
    execute(
        &store,
        "DELETE FROM request_steps WHERE request_id = $1",
        &[&a],
    )
    .await;
    execute(
        &store,
        "DELETE FROM request_events WHERE request_id = $1",
        &[&a],
    )
    .await;
    execute(
        &store,
        "DELETE FROM reserved_names WHERE request_id = $1",
        &[&a],
    )
    .await;
    execute(
        &store,
        "DELETE FROM subscription_requests WHERE id = $1",
        &[&a],
    )
    .await;
    assert_eq!(
        name_trigrams(&store).await,
        expect(&[("ton", &b), ("one", &b)])
    );
    if store.backend() == Backend::Postgres {
        assert_eq!(
            name_suffixes(&store).await,
            expect(&[("tone", &b), ("one", &b)])
        );
    }
    assert_eq!(names_found(&store, "ton", 10, None).await, ["Tone"]);
    assert!(names_found(&store, "ken", 10, None).await.is_empty());
    let _ = c;
}

async fn names_are_found_before_they_are_indexed_and_indexed_once(store: Store) {
    let sqlite = store.backend() == Backend::Sqlite;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(named(&store, &format!("Heron{i}"), i).await);
    }
    let (waiting, _) = names_unindexed(&store, &[]).await;
    let mut all = ids.clone();
    all.sort();
    assert_eq!(waiting, if sqlite { all } else { Vec::new() });
    // Renamed, and one removed (with what refers to it), before their names are indexed.
    execute(
        &store,
        "UPDATE subscription_requests SET tenant_name = 'Egret0', tenant_name_key = 'egret0' WHERE id = $1",
        &[&ids[0]],
    )
    .await;
    for table in ["request_steps", "request_events", "reserved_names"] {
        execute(
            &store,
            &format!("DELETE FROM {table} WHERE request_id = $1"),
            &[&ids[5]],
        )
        .await;
    }
    execute(
        &store,
        "DELETE FROM subscription_requests WHERE id = $1",
        &[&ids[5]],
    )
    .await;
    let herons = ["Heron4", "Heron3", "Heron2", "Heron1"];
    let searches = async || {
        (
            names_found(&store, "heron", 10, None).await,
            names_found(&store, "egret", 10, None).await,
            names_found(&store, "ron3", 10, None).await,
        )
    };
    let expected = (
        herons.map(String::from).to_vec(),
        vec!["Egret0".to_owned()],
        vec!["Heron3".to_owned()],
    );
    assert_eq!(searches().await, expected);
    // Two in a batch (the oldest ids first), then the rest: the same pages in between.
    assert_eq!(
        store.index_names(2).await.unwrap(),
        if sqlite { 2 } else { 0 }
    );
    assert_eq!(searches().await, expected);
    assert_eq!(
        store.index_names(1_000).await.unwrap(),
        if sqlite { 3 } else { 0 }
    );
    assert_eq!(store.index_names(1_000).await.unwrap(), 0);
    assert_eq!(searches().await, expected);
    // Nothing left waiting, and FTS5 holds each request once, the removed one not at all.
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (waiting, rows) = names_unindexed(&store, &id_refs).await;
    assert!(waiting.is_empty());
    if sqlite {
        assert_eq!(rows, [1, 1, 1, 1, 1, 0]);
    }
    // The trigram lists hold the new name, not the old.
    let trigrams = name_trigrams(&store).await;
    assert!(trigrams.contains(&("egr".to_owned(), ids[0].clone())));
    assert!(!trigrams.iter().any(|(t, id)| id == &ids[0] && t == "her"));
    assert!(!trigrams.iter().any(|(_, id)| id == &ids[5]));
}

async fn a_backlog_of_names_is_indexed_and_left_in_one_segment(store: Store) {
    let sqlite = store.backend() == Backend::Sqlite;
    for i in 0..30 {
        named(&store, &format!("Ibis{i:02}"), i).await;
    }
    // Ten indexed one by one, as a running portal does them a second apart: a segment each,
    // which FTS5's automerge folds only level by level, leaving several; and no backlog.
    for _ in 0..10 {
        store.index_names(1).await.unwrap();
    }
    assert_eq!(name_segments_unmerged(&store).await, sqlite);
    // The other twenty are a backlog of twenty full batches (of one): once it is indexed,
    // every segment is merged into one.
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let indexing = tokio::spawn({
        let store = store.clone();
        async move { store.keep_names_indexed(stop, 1).await }
    });
    let mut waited = 0;
    while waited < 200
        && (!names_unindexed(&store, &[]).await.0.is_empty()
            || name_segments_unmerged(&store).await)
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    // On PostgreSQL the loop has returned at once, and its end of the channel with it.
    let _ = stop_tx.send(true);
    indexing.await.unwrap();
    assert!(names_unindexed(&store, &[]).await.0.is_empty());
    assert!(!name_segments_unmerged(&store).await);
    if sqlite {
        execute(
            &store,
            "INSERT INTO request_names (request_names) VALUES ('integrity-check')",
            &[],
        )
        .await;
    }
    // Every name is found as before, a common one and a rare one.
    let all: Vec<String> = (0..30).rev().map(|i| format!("Ibis{i:02}")).collect();
    assert_eq!(names_found(&store, "ibis", 40, None).await, all);
    assert_eq!(names_found(&store, "s07", 10, None).await, ["Ibis07"]);
    assert_eq!(names_found(&store, "is17", 10, None).await, ["Ibis17"]);
}

async fn requests_are_filtered_by_template_and_by_submission_time(store: Store) {
    store
        .create_template(
            &NewTemplate {
                id: "chat".into(),
                name: "Chat".into(),
                description: String::new(),
                services: r#"["chat"]"#.into(),
                objects: Vec::new(),
            },
            None,
        )
        .await
        .unwrap();
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(5));
    let old = request("Older", "older", "older.com");
    store
        .submit_request(&old, &job("provision", &old.id), None)
        .await
        .unwrap();
    pause().await;
    let between = now_ms();
    pause().await;
    let mut new = request("Newer", "newer", "newer.com");
    new.template_id = "chat".into();
    store
        .submit_request(&new, &job("provision", &new.id), None)
        .await
        .unwrap();
    let list = |filter: RequestFilter| {
        let store = store.clone();
        async move {
            store
                .list_requests(&RequestFilter {
                    limit: 10,
                    ..filter
                })
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.tenant_name)
                .collect::<Vec<_>>()
        }
    };
    let chat = list(RequestFilter {
        template_id: Some("chat".into()),
        ..Default::default()
    });
    assert_eq!(chat.await, ["Newer"]);
    let since = list(RequestFilter {
        submitted_from: Some(between),
        ..Default::default()
    });
    assert_eq!(since.await, ["Newer"]);
    let before = list(RequestFilter {
        submitted_before: Some(between),
        ..Default::default()
    });
    assert_eq!(before.await, ["Older"]);
    let none = list(RequestFilter {
        template_id: Some("voice".into()),
        submitted_from: Some(between),
        ..Default::default()
    });
    assert!(none.await.is_empty());

    // An id is made before the password is hashed: a request whose id is older than the
    // filter's start but which was submitted after it is found.
    let mut slow = request("Slower", "slower", "slower.com");
    slow.submitted_at += 600_000;
    store
        .submit_request(&slow, &job("provision", &slow.id), None)
        .await
        .unwrap();
    let late = list(RequestFilter {
        submitted_from: Some(slow.submitted_at - 1),
        ..Default::default()
    });
    assert_eq!(late.await, ["Slower"]);
}

async fn failed_sign_ins_lock_after_the_free_ones_and_each_lock_grows(store: Store) {
    use portal_store::guard::GuardRule;
    let rule = GuardRule {
        free_failures: 3,
        first_lock_ms: 1_000,
        max_lock_ms: 4_000,
        forget_after_ms: 60_000,
    };
    let t = 1_000_000;
    let take = |at: i64| {
        let store = store.clone();
        async move {
            store
                .take_sign_in_attempt(&[("account", "jo", rule), ("client", "10.0.0.1", rule)], at)
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(take(t).await, Ok(()));
    }
    assert_eq!(take(t + 10).await, Err(990), "locked after the third");
    assert_eq!(take(t + 1_000).await, Ok(()));
    assert_eq!(
        take(t + 1_500).await,
        Err(1_500),
        "the next lock is twice as long"
    );
    // A success frees the account, but the address keeps its count.
    store
        .sign_in_succeeded(&[("account", "jo")], Some("10.0.0.1"))
        .await
        .unwrap();
    assert_eq!(
        take(t + 1_600).await,
        Err(1_400),
        "the address is still locked"
    );
    let other_address = store
        .take_sign_in_attempt(
            &[("account", "jo", rule), ("client", "10.0.0.2", rule)],
            t + 1_600,
        )
        .await
        .unwrap();
    assert_eq!(other_address, Ok(()));
    // Old failures are forgotten.
    assert_eq!(take(t + 100_000).await, Ok(()));
    assert_eq!(take(t + 100_000).await, Ok(()));
}

fn names<'a>(id: &'a str, name: &'a str, short: &'a str, upn: &'a str) -> Names<'a> {
    Names {
        request_id: id,
        tenant_name: name,
        short_name: short,
        upn_suffix: upn,
    }
}

/// The first of `names` another holds at `now`, as intake reads it before hashing.
async fn taken_at(store: &Store, names: &Names<'_>, now: i64) -> Option<NameKind> {
    store
        .intake_reads("voice", "never_set", names, now)
        .await
        .unwrap()
        .taken
}

async fn a_name_is_taken_by_an_open_request_or_a_live_hold_and_not_by_a_lapsed_one(store: Store) {
    let now = now_ms();
    let kenton = request("Kenton", "ke", "ke.com");
    store
        .submit_request(&kenton, &job("provision", &kenton.id), None)
        .await
        .unwrap();
    // Case-insensitive, by kind, the first of the three that is taken; its own names are not
    // taken from itself.
    let taken = |names: Names<'static>| {
        let store = store.clone();
        async move { taken_at(&store, &names, now).await }
    };
    assert_eq!(
        taken(names("b", "other", "KE", "other.com")).await,
        Some(NameKind::ShortName)
    );
    assert_eq!(taken(names("c", "other", "oth", "other.com")).await, None);
    let own = names(
        &kenton.id,
        &kenton.tenant_name,
        &kenton.short_name,
        &kenton.upn_suffix,
    );
    assert_eq!(taken_at(&store, &own, now).await, None);
    // A self-service request's hold blocks others until it lapses.
    let mut live = request("Waiting", "wa", "wa.com");
    live.names = NameHold::Until(now + 60_000);
    let mut lapsed = request("Lapsed", "la", "la.com");
    lapsed.names = NameHold::Until(now - 1);
    for r in [&live, &lapsed] {
        store
            .submit_request(r, &job("provision", &r.id), None)
            .await
            .unwrap();
    }
    assert_eq!(
        taken(names("d", "waiting", "wx", "wx.com")).await,
        Some(NameKind::TenantName)
    );
    assert_eq!(taken(names("e", "lapsed", "la", "la.com")).await, None);
    // Storing refuses a held name again (another request may take it after the read), and
    // takes a lapsed one over.
    let late = request("waiting", "wy", "wy.com");
    assert!(matches!(
        store
            .submit_request(&late, &job("provision", &late.id), None)
            .await,
        Err(StoreError::Conflict(Conflict::NameTaken(
            NameKind::TenantName
        )))
    ));
    let over = request("lapsed", "la", "la.com");
    store
        .submit_request(&over, &job("provision", &over.id), None)
        .await
        .unwrap();
    assert_eq!(
        taken(names("f", "Lapsed", "lz", "lz.com")).await,
        Some(NameKind::TenantName)
    );
}

async fn a_stored_request_keeps_its_names_for_good(store: Store) {
    let r = request("KentonElectronics", "ke", "kenton-electronics.com");
    store
        .submit_request(&r, &job("provision", &r.id), None)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let other = names("x", "kentonelectronics", "zz", "zz.com");
    assert_eq!(
        taken_at(&store, &other, now_ms() + 3_600_000).await,
        Some(NameKind::TenantName)
    );
    let x = request("kentonelectronics", "zz", "zz.com");
    assert!(matches!(
        store
            .submit_request(&x, &job("provision", &x.id), None)
            .await,
        Err(StoreError::Conflict(Conflict::NameTaken(
            NameKind::TenantName
        )))
    ));
}

async fn an_idempotency_key_is_recorded_once_per_actor(store: Store) {
    let idem = Idempotency {
        actor_id: "u1".into(),
        key: "k-1".into(),
        fingerprint: "f1".into(),
    };
    let first = request("Alpha", "al", "alpha.com");
    store
        .submit_request(&first, &job("provision", &first.id), Some(&idem))
        .await
        .unwrap();
    let second = request("Bravo", "br", "bravo.com");
    match store
        .submit_request(&second, &job("provision", &second.id), Some(&idem))
        .await
    {
        Err(StoreError::Conflict(what)) => assert_eq!(what, Conflict::IdempotencyKeyReused),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        store.get_request(&second.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.find_idempotency_key("u1", "k-1").await.unwrap(),
        Some(("f1".to_owned(), first.id.clone()))
    );
    assert_eq!(store.find_idempotency_key("u2", "k-1").await.unwrap(), None);
    let other_actor = Idempotency {
        actor_id: "u2".into(),
        ..idem
    };
    store
        .submit_request(&second, &job("provision", &second.id), Some(&other_actor))
        .await
        .unwrap();
}

async fn a_lease_that_lapses_on_the_last_attempt_kills_the_job_and_says_so(store: Store) {
    let id = store
        .enqueue(&NewJob {
            max_attempts: 1,
            ..job("provision", "{}")
        })
        .await
        .unwrap();
    let now = now_ms();
    let claimed = store.claim_jobs("gone", 5, 1_000, now).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let (requeued, last) = store
        .rescue_expired_jobs(now + 1_001, LAPSED)
        .await
        .unwrap();
    assert_eq!(requeued, 0);
    assert_eq!(last.iter().map(|j| j.id).collect::<Vec<_>>(), [id]);
    assert_eq!(last[0].payload, "{}");
    let lapsed = LAPSED;
    let burial = store.bury_job(&last[0], lapsed).await.unwrap().unwrap();
    burial.commit().await.unwrap();
    let row = store.get_job(id).await.unwrap();
    assert_eq!(
        (row.status, row.last_error.as_deref()),
        (JobStatus::Dead, Some(lapsed))
    );
    assert!(
        store.bury_job(&last[0], lapsed).await.unwrap().is_none(),
        "buried once"
    );
    assert!(
        store
            .claim_jobs("w", 5, 1_000, now + 5_000)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_claim_never_hands_out_more_jobs_than_asked(store: Store) {
    for i in 0..20 {
        store.enqueue(&job("noop", &i.to_string())).await.unwrap();
    }
    let now = now_ms();
    assert_eq!(
        store.claim_jobs("w", 3, 60_000, now).await.unwrap().len(),
        3
    );
    assert_eq!(store.queue_depth().await.unwrap().running, 3);
}

async fn a_value_the_types_do_not_know_is_an_error_naming_its_column(store: Store) {
    let r = request("KentonElectronics", "ke", "kenton-electronics.com");
    store
        .submit_request(&r, &job("provision", &r.id), None)
        .await
        .unwrap();
    let everything = RequestFilter {
        limit: 10,
        ..Default::default()
    };
    let list = || store.list_requests(&everything);
    let refused = |column: &'static str| {
        let store = store.clone();
        let id = r.id.clone();
        async move {
            let err = store.get_request(&id).await.unwrap_err();
            let text = format!("{err:#}");
            assert!(matches!(err, StoreError::Other(_)), "{text}");
            assert!(text.contains(column), "{text} names {column}");
        }
    };
    for (column, bad, good) in [
        ("status", Some("half_done"), Some("accepted")),
        ("notification_status", Some("lost"), Some("none")),
        ("error_kind", Some("oops"), None),
    ] {
        corrupt_request(&store, &r.id, column, bad).await;
        refused(column).await;
        assert!(list().await.is_err(), "the list meets the same row");
        corrupt_request(&store, &r.id, column, good).await;
        assert!(list().await.is_ok());
    }
    // A fixed note with words beside it does not fit its kind.
    corrupt_request(&store, &r.id, "error_kind", Some("name_taken")).await;
    corrupt_request(&store, &r.id, "error", Some("stray words")).await;
    refused("error").await;
    corrupt_request(&store, &r.id, "error", None).await;
    assert_eq!(
        store.get_request(&r.id).await.unwrap().error,
        Some(ErrorNote::NameTaken)
    );
}

fn failure<'a>(request_id: &'a str, message: &'a str) -> Failure<'a> {
    Failure {
        request_id,
        message,
        mail: None,
    }
}

async fn intake_reads_see_the_template_setting_and_names_the_store_holds(store: Store) {
    store
        .put_setting(
            "provisioning_policy",
            r#"{"mode":"immediate"}"#,
            None,
            now_ms(),
            None,
        )
        .await
        .unwrap();
    let held = request("KentonElectronics", "ke", "kenton-electronics.com");
    store
        .submit_request(&held, &job("provision", &held.id), None)
        .await
        .unwrap();
    let names = |id: &'static str, short: &'static str, upn: &'static str| Names {
        request_id: id,
        tenant_name: "Other",
        short_name: short,
        upn_suffix: upn,
    };
    let read = store
        .intake_reads(
            "voice",
            "provisioning_policy",
            &names("r1", "ot", "other.example.com"),
            now_ms(),
        )
        .await
        .unwrap();
    let voice = read.template.unwrap();
    assert_eq!((voice.id.as_str(), voice.name.as_str()), ("voice", "Voice"));
    assert_eq!(voice, store.get_template("voice").await.unwrap());
    assert_eq!(read.setting.as_deref(), Some(r#"{"mode":"immediate"}"#));
    assert_eq!(read.taken, None);

    // Nothing of that id or key; the second and third of the names are held, the first
    // of them in order is named.
    let read = store
        .intake_reads(
            "no-such-template",
            "never_set",
            &names("r2", "KE", "Kenton-Electronics.com"),
            now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(read.template, None);
    assert_eq!(read.setting, None);
    assert_eq!(read.taken, Some(NameKind::ShortName));
}
