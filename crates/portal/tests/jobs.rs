//! Background jobs as types: a kind defined only here is run by the worker once registered,
//! and a job's last failed attempt gives up on its request in the transaction that marks it
//! dead, or not at all. Each test on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Db, TestApp, eventually, spawn_app_with, submission};
use portal::jobs::{Job, Registry, new_job};
use portal::service::{ServiceError, Services};
use portal::worker::{self, WorkerConfig};
use portal_domain::{RequestStatus, StepStatus};
use portal_store::job::JobStatus;
use serde::{Deserialize, Serialize};

on_both_db!(
    a_kind_defined_only_in_a_test_runs_once_it_is_registered,
    a_dying_job_fails_its_request_in_the_same_transaction_or_leaves_both_as_they_were,
    a_worker_says_it_is_alive_and_landlord_admins_see_it_with_what_it_holds,
    a_stopping_worker_gives_back_the_jobs_it_claimed_ahead_unstarted,
    a_job_held_past_most_of_its_lease_is_given_back_not_run_a_second_time,
);

/// The labels the throwaway kind was run with, in order.
static TALLY: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A kind the portal does not have: it notes its label.
#[derive(Debug, Serialize, Deserialize)]
struct Tally {
    label: String,
}

impl Job for Tally {
    const KIND: &'static str = "test_tally";

    async fn run(self, _services: &Services) -> Result<(), ServiceError> {
        TALLY.lock().unwrap().push(self.label);
        Ok(())
    }
}

fn worker_with(jobs: Registry) -> WorkerConfig {
    WorkerConfig {
        jobs: Arc::new(jobs),
        poll: Duration::from_millis(50),
        ..WorkerConfig::default()
    }
}

async fn a_kind_defined_only_in_a_test_runs_once_it_is_registered(db: Db) {
    let Some(app) = spawn_app_with(db, |_| {}).await else {
        return;
    };
    let label = format!("tally-{}", portal_store::new_id());
    let job = new_job(
        &Tally {
            label: label.clone(),
        },
        portal_store::now_ms(),
        3,
    )
    .unwrap();
    let id = app.store.enqueue(&job).await.unwrap();

    // The portal's own kinds do not include it: the attempt fails and says why.
    let ran = worker::run_until_idle(&app.services, &worker_with(Registry::standard())).await;
    assert_eq!(ran.unwrap(), 1);
    let row = app.store.get_job(id).await.unwrap();
    assert_eq!(
        row.status,
        JobStatus::Queued,
        "back on the queue for a retry"
    );
    assert_eq!(
        row.last_error.as_deref(),
        Some("unknown job kind \"test_tally\"")
    );
    assert!(!TALLY.lock().unwrap().contains(&label));

    // One registration line, and the worker runs it (after the retry's backoff).
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker::run(
        app.services.clone(),
        worker_with(Registry::standard().with::<Tally>()),
        stopped,
    ));
    eventually(Duration::from_secs(20), "the tally job to run", || async {
        TALLY.lock().unwrap().contains(&label).then_some(())
    })
    .await;
    eventually(
        Duration::from_secs(10),
        "the finished job to be removed",
        || async { app.store.get_job(id).await.is_err().then_some(()) },
    )
    .await;
    stop.send(true).unwrap();
    running.await.unwrap();
    assert_eq!(
        TALLY
            .lock()
            .unwrap()
            .iter()
            .filter(|l| **l == label)
            .count(),
        1,
        "run once"
    );
    app.finish().await;
}

/// SQL that makes creating a tenant fail, and that refuses to mark any request failed.
fn refusing_triggers(db: Db) -> [&'static str; 3] {
    match db {
        Db::Sqlite => [
            "CREATE TRIGGER refuse_tenant BEFORE INSERT ON tenants \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            "CREATE TRIGGER refuse_failed BEFORE UPDATE OF status ON subscription_requests \
             WHEN NEW.status = 'failed' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            "SELECT 1",
        ],
        Db::Postgres => [
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_tenant BEFORE INSERT ON tenants \
             FOR EACH ROW EXECUTE FUNCTION refuse()",
            "CREATE TRIGGER refuse_failed BEFORE UPDATE ON subscription_requests \
             FOR EACH ROW WHEN (NEW.status = 'failed') EXECUTE FUNCTION refuse()",
        ],
    }
}

async fn request_status(app: &TestApp, id: &str) -> RequestStatus {
    app.store.get_request(id).await.unwrap().status
}

async fn a_dying_job_fails_its_request_in_the_same_transaction_or_leaves_both_as_they_were(db: Db) {
    let Some(app) = spawn_app_with(db, |s| s.provision_attempts = 1).await else {
        return;
    };
    for sql in refusing_triggers(db) {
        app.execute_sql(sql).await;
    }
    let r = app.submit(&submission("DoomedTenant")).await;
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let config = WorkerConfig {
        lease: Duration::from_secs(1),
        ..worker_with(Registry::standard())
    };

    // Its only attempt fails at "create tenant", and marking the request failed is refused:
    // the job is not buried either. It stays held, so the request has a job that will act.
    worker::run_until_idle(&app.services, &config)
        .await
        .unwrap();
    assert_eq!(request_status(&app, &id).await, RequestStatus::Provisioning);
    let depth = app.store.queue_depth().await.unwrap();
    assert_eq!((depth.running, depth.dead), (1, 0), "{depth:?}");

    // Once the request may be failed, the lapsed lease is rescued and the job buried with it.
    let drop_trigger = match db {
        Db::Sqlite => "DROP TRIGGER refuse_failed",
        Db::Postgres => "DROP TRIGGER refuse_failed ON subscription_requests",
    };
    app.execute_sql(drop_trigger).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker::run(app.services.clone(), config, stopped));
    eventually(Duration::from_secs(20), "the request to fail", || async {
        (request_status(&app, &id).await == RequestStatus::Failed).then_some(())
    })
    .await;
    stop.send(true).unwrap();
    running.await.unwrap();
    let depth = app.store.queue_depth().await.unwrap();
    assert_eq!(depth.dead, 1, "{depth:?}");
    let request = app.store.get_request(&id).await.unwrap();
    let error = request.error.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        error.contains("\"create tenant\" failed repeatedly"),
        "{error}"
    );
    let steps = app.store.request_steps(&id).await.unwrap();
    assert!(
        steps.iter().any(|s| s.status == StepStatus::Failed),
        "{steps:?}"
    );
    let mail = app.store.mail_for_request(&id).await.unwrap();
    assert!(
        mail.iter().any(|m| m.kind == "provisioning_failed"),
        "the outcome email was written with the failure"
    );
    app.finish().await;
}

async fn a_worker_says_it_is_alive_and_landlord_admins_see_it_with_what_it_holds(db: Db) {
    let Some(app) = spawn_app_with(db, |_| {}).await else {
        return;
    };
    let cookie = app
        .page_session(common::ADMIN, common::ADMIN_PASSWORD)
        .await;
    let page = app.page_with("/workers", &cookie).await;
    assert!(page.contains("0 running."), "{page}");
    assert!(page.contains("No worker has run in the last day"), "{page}");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker::run(
        app.services.clone(),
        worker_with(Registry::standard()),
        stopped,
    ));
    let id = eventually(
        Duration::from_secs(10),
        "the worker to say it runs",
        || async {
            let rows = app.store.workers(0).await.unwrap();
            rows.first().map(|w| w.id.clone())
        },
    )
    .await;
    let page = app.page_with("/workers", &cookie).await;
    assert!(page.contains("1 running."), "{page}");
    assert!(page.contains(&id), "{page}");
    let metrics = app.metrics().await;
    assert!(metrics.contains("portal_workers_alive 1"), "{metrics}");

    stop.send(true).unwrap();
    running.await.unwrap();
    let row = app.store.workers(0).await.unwrap().remove(0);
    assert!(row.stopped_at.is_some(), "it said it stopped");
    // A job left under its name (a lease not yet lapsed) shows as held.
    let job = app
        .store
        .enqueue(
            &new_job(
                &Tally {
                    label: "held".into(),
                },
                portal_store::now_ms(),
                3,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let claimed = app
        .store
        .claim_jobs(&id, 1, 60_000, portal_store::now_ms())
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let page = app.page_with("/workers", &cookie).await;
    assert!(page.contains("0 running."), "{page}");
    assert!(page.contains("<td>stopped</td>"), "{page}");
    assert!(page.contains(&format!("test_tally #{job}")), "{page}");
    app.finish().await;
}

/// What happened, in order: the labels the gated kind was started with, and the gates the
/// tests opened.
static HAPPENED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A kind that notes its label when it starts, then ends once `after` has happened (within a
/// minute).
#[derive(Debug, Serialize, Deserialize)]
struct Gated {
    label: String,
    after: Option<String>,
}

impl Job for Gated {
    const KIND: &'static str = "test_gated";

    async fn run(self, _services: &Services) -> Result<(), ServiceError> {
        HAPPENED.lock().unwrap().push(self.label);
        let Some(after) = self.after else {
            return Ok(());
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if HAPPENED.lock().unwrap().contains(&after) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(ServiceError::Internal(anyhow::anyhow!(
            "{after} never happened"
        )))
    }
}

/// How many times `label` happened.
fn times(label: &str) -> usize {
    HAPPENED
        .lock()
        .unwrap()
        .iter()
        .filter(|l| *l == label)
        .count()
}

/// Queues a gated job now; its id.
async fn gated(app: &TestApp, label: &str, after: Option<&str>) -> i64 {
    let job = Gated {
        label: label.into(),
        after: after.map(Into::into),
    };
    let job = new_job(&job, portal_store::now_ms(), 3).unwrap();
    app.store.enqueue(&job).await.unwrap()
}

/// A worker of the gated kind with these limits, started on `app`: its stop, and its end.
fn gated_worker(
    app: &TestApp,
    concurrency: usize,
    prefetch: usize,
    lease: Duration,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let config = WorkerConfig {
        concurrency,
        prefetch,
        lease,
        ..worker_with(Registry::standard().with::<Gated>())
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    (
        stop,
        tokio::spawn(worker::run(app.services.clone(), config, stopped)),
    )
}

async fn a_stopping_worker_gives_back_the_jobs_it_claimed_ahead_unstarted(db: Db) {
    let Some(app) = spawn_app_with(db, |_| {}).await else {
        return;
    };
    let run = portal_store::new_id();
    let (label, gate) = (format!("{run}-first"), format!("{run}-gate"));
    let first = gated(&app, &label, Some(&gate)).await;
    let mut ahead = Vec::new();
    for n in 0..3 {
        ahead.push(gated(&app, &format!("{run}-ahead-{n}"), None).await);
    }
    // One slot, and three claimed ahead of it while the first runs.
    let (stop, running) = gated_worker(&app, 1, 3, Duration::from_secs(30));
    eventually(
        Duration::from_secs(20),
        "all four to be claimed",
        || async {
            let mut held = 0;
            for id in std::iter::once(first).chain(ahead.iter().copied()) {
                held +=
                    usize::from(app.store.get_job(id).await.unwrap().status == JobStatus::Running);
            }
            (held == 4 && times(&label) == 1).then_some(())
        },
    )
    .await;
    stop.send(true).unwrap();
    HAPPENED.lock().unwrap().push(gate);
    running.await.unwrap();
    for n in 0..3 {
        assert_eq!(
            times(&format!("{run}-ahead-{n}")),
            0,
            "none started after the stop"
        );
    }
    assert!(
        app.store.get_job(first).await.is_err(),
        "the first finished"
    );
    for id in ahead {
        let job = app.store.get_job(id).await.unwrap();
        assert_eq!(job.status, JobStatus::Queued, "back on the queue");
        assert_eq!(job.attempts, 0, "with no attempt spent");
        assert_eq!(job.locked_by, None);
    }
    app.finish().await;
}

async fn a_job_held_past_most_of_its_lease_is_given_back_not_run_a_second_time(db: Db) {
    let Some(app) = spawn_app_with(db, |_| {}).await else {
        return;
    };
    // The first runs until the second has started; the second waits behind it in the first
    // worker, its lease unrenewed, until it lapses and another worker runs it.
    let run = portal_store::new_id();
    let (one, two) = (format!("{run}-first"), format!("{run}-second"));
    let first = gated(&app, &one, Some(&two)).await;
    let second = gated(&app, &two, None).await;
    let lease = Duration::from_secs(2);
    let (stop_a, running_a) = gated_worker(&app, 1, 1, lease);
    eventually(
        Duration::from_secs(20),
        "both to be claimed by one worker",
        || async {
            let a = app.store.get_job(first).await.unwrap();
            let b = app.store.get_job(second).await.unwrap();
            (b.status == JobStatus::Running && a.locked_by == b.locked_by).then_some(())
        },
    )
    .await;
    let (stop_b, running_b) = gated_worker(&app, 1, 0, lease);
    eventually(Duration::from_secs(30), "both to finish", || async {
        let gone =
            app.store.get_job(first).await.is_err() && app.store.get_job(second).await.is_err();
        gone.then_some(())
    })
    .await;
    // The first worker would have started the second as soon as the first ended.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_a.send(true).unwrap();
    stop_b.send(true).unwrap();
    running_a.await.unwrap();
    running_b.await.unwrap();
    assert_eq!(times(&one), 1);
    assert_eq!(times(&two), 1, "run once: {:?}", HAPPENED.lock().unwrap());
    app.finish().await;
}
