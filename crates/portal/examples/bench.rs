//! The in-process parts of `scripts/bench`, each printing one line of JSON:
//!
//! - `bench hash SECONDS`: argon2id hashes per second with the portal's own hasher and
//!   parameters on every core (the bound of intake).
//! - `bench queue URL JOBS WORKERS [PREFETCH]`: the burn-down of JOBS no-op jobs by WORKERS
//!   concurrent job slots claiming PREFETCH more ahead (default: the worker's default), then
//!   the enqueue → start lag of single jobs sent to an idle worker.
//! - `bench lag URL SINGLES METRICS`: single jobs queued by this process a few milliseconds
//!   apart and started by the worker of a portal in another process, whose `/metrics` is at
//!   METRICS: the enqueue → start lag across processes, from that portal's histogram.
//! - `bench clone URL OBJECTS`: provisioning a tenant from a template of OBJECTS objects, and a
//!   raw `INSERT … SELECT` of the same rows into the same table.
//! - `bench import URL ROWS`: the preview of a CSV file of ROWS requests (3 in 100 invalid):
//!   reading, checking every row, looking up its names and keeping it; then submitting its
//!   valid rows.
//!
//! Run it through `scripts/bench`, which makes the databases and prints the table.

use std::time::{Duration, Instant};

use portal::jobs::{Noop, new_job};
use portal::service::{Actor, Services};
use portal::worker::{self, WorkerConfig};
use portal_domain::submission::{RawContact, RawSubmission, RawTenant};
use portal_store::Store;
use portal_store::job::NewJob;
use portal_store::template::{NewTemplate, TemplateObjectRow};
use serde_json::json;
use sqlx::Connection;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Warnings and errors of the portal's code, on standard error (`RUST_LOG` for more).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> anyhow::Result<&str> {
        args.get(i).map(String::as_str).ok_or_else(|| {
            anyhow::anyhow!(
                "usage: bench hash SECS | queue URL JOBS WORKERS | lag URL SINGLES METRICS | clone URL OBJECTS | webhooks URL EVENTS | import URL ROWS"
            )
        })
    };
    match arg(0)? {
        "hash" => hash(arg(1)?.parse()?).await,
        "queue" => {
            let prefetch = match args.get(4) {
                Some(p) => p.parse()?,
                None => WorkerConfig::default().prefetch,
            };
            queue(arg(1)?, arg(2)?.parse()?, arg(3)?.parse()?, prefetch).await
        }
        "lag" => lag_across(arg(1)?, arg(2)?.parse()?, arg(3)?).await,
        "clone" => clone(arg(1)?, arg(2)?.parse()?).await,
        "webhooks" => webhooks(arg(1)?, arg(2)?.parse()?).await,
        "import" => import(arg(1)?, arg(2)?.parse()?).await,
        other => anyhow::bail!("unknown benchmark {other:?}"),
    }
}

async fn hash(seconds: u64) -> anyhow::Result<()> {
    let hasher = portal::password::Hasher::for_this_machine();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    // Two callers per core: while one waits for its answer, the other's hash is queued, so
    // a thread never waits for its next one.
    for i in 0..cores * 2 {
        let hasher = hasher.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                let password = format!("Bench-Password-{i}-{n}-x");
                hasher
                    .hash(password)
                    .await
                    .map_err(|_| anyhow::anyhow!("overloaded"))??;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"hashes": total, "seconds": elapsed, "per_second": total as f64 / elapsed, "cores": cores})
    );
    Ok(())
}

async fn connect(url: &str) -> anyhow::Result<Store> {
    let store = Store::connect(url, 16).await?;
    store.migrate().await?;
    Ok(store)
}

async fn wait_until_empty(store: &Store) -> anyhow::Result<()> {
    loop {
        // The worker queues the daily digest for later when it starts: only what is due counts.
        let due = store.queue_now(portal_store::now_ms()).await?.due;
        if due == 0 && store.queue_depth().await?.running == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn noop(run_at: i64) -> anyhow::Result<NewJob> {
    Ok(new_job(&Noop {}, run_at, 3)?)
}

async fn queue(url: &str, jobs: usize, workers: usize, prefetch: usize) -> anyhow::Result<()> {
    let store = connect(url).await?;
    let now = portal_store::now_ms();
    let started = Instant::now();
    store
        .enqueue_many(
            &(0..jobs)
                .map(|_| noop(now))
                .collect::<Result<Vec<_>, _>>()?,
        )
        .await?;
    let enqueue_seconds = started.elapsed().as_secs_f64();

    let services = Services::new(store.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let config = WorkerConfig {
        concurrency: workers,
        prefetch,
        ..WorkerConfig::default()
    };
    let started = Instant::now();
    let runner = tokio::spawn(worker::run(services.clone(), config, stopped));
    wait_until_empty(&store).await?;
    let burn_seconds = started.elapsed().as_secs_f64();
    let completed = services
        .metrics
        .jobs(portal::metrics::JobOutcome::Completed);

    // Enqueue → start with the worker idle: single jobs, a few milliseconds apart, each
    // enqueued as the web process does (stored, then the worker woken).
    let lags_before = services.metrics.start_lag_counts();
    let singles = 500;
    for _ in 0..singles {
        store.enqueue(&noop(portal_store::now_ms())?).await?;
        services.jobs_ready.notify_one();
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    wait_until_empty(&store).await?;
    let lags: Vec<u64> = services
        .metrics
        .start_lag_counts()
        .iter()
        .zip(lags_before)
        .map(|(after, before)| after - before)
        .collect();
    stop.send(true)?;
    runner.await?;
    println!(
        "{}",
        json!({
            "jobs": jobs, "workers": workers, "prefetch": prefetch, "completed": completed,
            "enqueue_seconds": enqueue_seconds,
            "burn_seconds": burn_seconds, "per_second": jobs as f64 / burn_seconds,
            "lag_p50_ms": quantile(&lags, 0.5), "lag_p99_ms": quantile(&lags, 0.99),
            "lag_buckets_ms": portal::metrics::START_LAG_BUCKETS_MS,
        })
    );
    store.close().await;
    Ok(())
}

/// Single jobs queued here, started by a worker in another process: nothing in this process
/// wakes it, only the database's notification (or its poll).
async fn lag_across(url: &str, singles: usize, metrics: &str) -> anyhow::Result<()> {
    let store = connect(url).await?;
    let client = reqwest::Client::new();
    let before = start_lags(&client, metrics).await?;
    for _ in 0..singles {
        store.enqueue(&noop(portal_store::now_ms())?).await?;
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    // The other portal has jobs of its own queued for later (the daily digest): wait for
    // its histogram to count these, not for an empty queue.
    let lags = loop {
        let after = start_lags(&client, metrics).await?;
        let lags: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        if lags.iter().sum::<u64>() >= singles as u64 {
            break lags;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "{}",
        json!({
            "singles": singles, "started": lags.iter().sum::<u64>(),
            "lag_p50_ms": quantile(&lags, 0.5), "lag_p99_ms": quantile(&lags, 0.99),
        })
    );
    store.close().await;
    Ok(())
}

/// The start-lag histogram of the portal whose `/metrics` is at `metrics`: a count per bucket.
async fn start_lags(client: &reqwest::Client, metrics: &str) -> anyhow::Result<Vec<u64>> {
    let text = client.get(metrics).send().await?.text().await?;
    let cumulative = text
        .lines()
        .filter(|l| l.starts_with("portal_job_start_lag_seconds_bucket{"))
        .map(|l| Ok(l.rsplit(' ').next().unwrap_or_default().parse::<u64>()?))
        .collect::<anyhow::Result<Vec<u64>>>()?;
    let mut previous = 0;
    Ok(cumulative
        .into_iter()
        .map(|c| {
            let n = c.saturating_sub(previous);
            previous = c;
            n
        })
        .collect())
}

/// The bucket bound holding the quantile `q` of a start-lag histogram.
fn quantile(counts: &[u64], q: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    let wanted = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= wanted {
            return portal::metrics::START_LAG_BUCKETS_MS.get(i).copied();
        }
    }
    None
}

/// Stores a template of `objects` objects for the cloning benchmark; returns its id.
async fn bench_template(
    store: &Store,
    objects: usize,
    all_placeholders: bool,
) -> anyhow::Result<String> {
    let id = format!("bench-{objects}-{}", portal_store::new_id());
    let kinds = ["queue", "skill", "group", "team", "permission_profile"];
    let objects = (0..objects)
        .map(|i| {
            // Like the seeded templates: about one object in eight names the tenant (every
            // one with `BENCH_ALL_PLACEHOLDERS=1`).
            let (name, properties) = if all_placeholders || i % 8 == 0 {
                (
                    format!("{{tenant.short_name}}-object-{i}"),
                    json!({
                        "mailbox": format!("obj{i}@{{tenant.upn_suffix}}"),
                        "label": format!("{{tenant.name}} object {i}"),
                        "priority": i % 10,
                    }),
                )
            } else {
                (
                    format!("Object {i}"),
                    json!({"mailbox": format!("obj{i}"), "label": format!("Object {i}"), "priority": i % 10}),
                )
            };
            TemplateObjectRow {
                kind: kinds[i % kinds.len()].to_owned(),
                name,
                properties: properties.to_string(),
            }
        })
        .collect();
    store
        .create_template(
            &NewTemplate {
                id: id.clone(),
                name: "Bench".into(),
                description: "Objects for the cloning benchmark.".into(),
                services: "[\"voice\"]".into(),
                objects,
            },
            None,
        )
        .await?;
    Ok(id)
}

/// Writes SQLite's log into the database file, so that no measured write pays for a
/// checkpoint that earlier writes caused; nothing on PostgreSQL.
async fn settle(url: &str) -> anyhow::Result<()> {
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::AnyConnection::connect(url).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await?;
        conn.close().await?;
    }
    Ok(())
}

/// Submits a request for a tenant of `template_id` and provisions it; returns the seconds
/// provisioning took and the tenant.
async fn provision_one(
    url: &str,
    services: &Services,
    actor: &Actor,
    template_id: &str,
) -> anyhow::Result<(f64, String)> {
    let n = portal_store::new_id().replace('-', "");
    let name = format!("Clone{}", &n[n.len() - 12..]);
    let raw = RawSubmission {
        template_id: Some(template_id.to_owned()),
        tenant: RawTenant {
            name: Some(name.clone()),
            short_name: Some(format!("c{}", &n[n.len() - 10..])),
            upn_suffix: Some(format!("{}.example.com", name.to_lowercase())),
            admin_user_name: Some("cloneAdmin".into()),
            password: Some("Quiet-Meadow-Signal-42".into()),
            confirm_password: Some("Quiet-Meadow-Signal-42".into()),
            admin_email: None,
            ani: Some("+44 20 7946 0000".into()),
        },
        contact: RawContact {
            first_name: Some("Bench".into()),
            last_name: Some("Mark".into()),
            email: Some("bench@example.com".into()),
            ..Default::default()
        },
    };
    let id = portal::service::request::submit_request(services, actor, raw, None)
        .await
        .map_err(|e| anyhow::anyhow!("submit: {e}"))?
        .request
        .id;
    settle(url).await?;
    let started = Instant::now();
    portal::service::provision::provision(services, &id).await?;
    let seconds = started.elapsed().as_secs_f64();
    let request = services.store.get_request(&id).await?;
    anyhow::ensure!(
        request.status == portal_domain::RequestStatus::Completed,
        "provisioning ended {}",
        request.status
    );
    let tenant = request
        .tenant_id
        .ok_or_else(|| anyhow::anyhow!("no tenant"))?;
    Ok((seconds, tenant))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Cloning `objects` objects: provisioning from a template of that many objects, less
/// provisioning from an empty one (the other steps), beside a raw `INSERT … SELECT` of the same
/// rows into the same table; medians of `BENCH_ROUNDS` (5) rounds.
async fn clone(url: &str, objects: usize) -> anyhow::Result<()> {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let all_placeholders = std::env::var("BENCH_ALL_PLACEHOLDERS").is_ok_and(|v| v == "1");
    let store = connect(url).await?;
    let services = Services::new(store.clone());
    let actor = bench_actor(&store, &services).await?;
    let full = bench_template(&store, objects, all_placeholders).await?;
    let empty = bench_template(&store, 0, all_placeholders).await?;
    let (mut with, mut without, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    let mut conn = sqlx::AnyConnection::connect(url).await?;
    for round in 0..rounds {
        let (seconds, tenant) = provision_one(url, &services, &actor, &full).await?;
        let copied = store.count_tenant_objects(&tenant).await?;
        anyhow::ensure!(copied as usize == objects, "{copied} of {objects} copied");
        with.push(seconds);
        without.push(provision_one(url, &services, &actor, &empty).await?.0);
        // The database's own bound: the same rows, into the same table, in one statement.
        settle(url).await?;
        let (seconds, rows) = raw_copy(&mut conn, &tenant, round, &full).await?;
        raw.push(seconds);
        anyhow::ensure!(rows as usize == objects);
    }
    conn.close().await?;
    let (with, without, raw) = (median(with), median(without), median(raw));
    let clone = (with - without).max(1e-6);
    println!(
        "{}",
        json!({
            "objects": objects, "all_placeholders": all_placeholders, "rounds": rounds,
            "provision_seconds": with, "provision_empty_seconds": without,
            "clone_seconds": clone, "raw_seconds": raw, "raw_over_clone": raw / clone,
        })
    );
    store.close().await;
    Ok(())
}

/// Makes sure the benchmark's landlord administrator exists, and returns it as the actor.
async fn bench_actor(store: &Store, services: &Services) -> anyhow::Result<Actor> {
    portal::service::seed::ensure_landlord(services, "bench-admin", Some("bench-admin-password-1"))
        .await?;
    let landlord = store
        .find_user_by_username("bench-admin")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no landlord"))?;
    Ok(portal::service::auth::actor_of(landlord, None))
}

/// Copies the rows of template `template_id` into `tenant`'s objects in one statement, at
/// positions of their own for `round`; returns the seconds it took and the rows copied.
async fn raw_copy(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
    round: usize,
    template_id: &str,
) -> anyhow::Result<(f64, u64)> {
    let started = Instant::now();
    let mut tx = conn.begin().await?;
    let rows = sqlx::query(
        "INSERT INTO tenant_objects (tenant_id, position, kind, name, properties) \
         SELECT $1, position + $2, kind, name, properties FROM template_objects \
         WHERE template_id = $3 AND version = 1",
    )
    .bind(tenant)
    .bind(1_000_000_000_i64 * (round as i64 + 1))
    .bind(template_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok((started.elapsed().as_secs_f64(), rows))
}

/// When each webhook arrived at the receiver, by its `webhook-id`.
type Arrivals = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>;

/// A receiver on this machine that answers every delivery `204` and notes when it came.
async fn receiver(arrivals: Arrivals) -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let arrivals = arrivals.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let id = request
                            .headers()
                            .get("webhook-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        if let Ok(mut seen) = arrivals.lock() {
                            seen.entry(id).or_insert_with(portal_store::now_ms);
                        }
                        async move {
                            let mut answer = hyper::Response::new(String::new());
                            *answer.status_mut() = hyper::StatusCode::NO_CONTENT;
                            Ok::<_, std::convert::Infallible>(answer)
                        }
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// The endpoint of the benchmark: every event, to the receiver at `addr`.
async fn bench_endpoint(store: &Store, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let audit = portal_store::audit::AuditEntry {
        actor_id: None,
        actor_name: None,
        tenant_id: None,
        action: portal_domain::AuditAction::WebhookCreated,
        subject: None,
        detail: None,
        client: None,
    };
    let secret = portal::service::webhook::new_secret();
    let url = format!("http://{addr}/hook");
    let endpoint = portal_store::webhook::NewEndpoint {
        id: "bench",
        url: &url,
        events: "[\"*\"]",
        description: "",
        secret: &secret,
        created_by: None,
    };
    store.create_endpoint(&endpoint, &audit).await?;
    Ok(())
}

/// How many webhooks arrived.
fn arrived(arrivals: &Arrivals) -> usize {
    arrivals.lock().map(|a| a.len()).unwrap_or(0)
}

/// 100 events, each recorded once the one before arrived: milliseconds from its transaction
/// to the receiver, sorted.
async fn one_at_a_time(
    store: &Store,
    wake: &tokio::sync::Notify,
    arrivals: &Arrivals,
) -> anyhow::Result<Vec<f64>> {
    let mut latencies = Vec::new();
    for i in 0..100 {
        let before = arrived(arrivals);
        let at = portal_store::now_ms();
        store
            .emit_event(portal_domain::EventType::TenantResumed, &format!("one-{i}"))
            .await?;
        wake.notify_one();
        while arrived(arrivals) == before {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let latest = arrivals
            .lock()
            .map(|a| a.values().copied().max().unwrap_or(at))
            .unwrap_or(at);
        latencies.push((latest - at) as f64);
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    Ok(latencies)
}

/// Webhook deliveries to a receiver on this machine: `events` recorded, then delivered by a
/// worker (deliveries per second), then one event at a time (event -> delivered p50/p99).
/// The process that records an event wakes its worker, as the portal does after a commit.
async fn webhooks(url: &str, events: usize) -> anyhow::Result<()> {
    let store = connect(url).await?;
    let arrivals: Arrivals = Default::default();
    let addr = receiver(arrivals.clone()).await?;
    bench_endpoint(&store, addr).await?;
    let mut services = Services::new(store.clone());
    services.webhooks.allow_private = true;
    let wake = services.jobs_ready.clone();
    // Every event recorded first; then a worker delivers them all.
    for i in 0..events {
        store
            .emit_event(
                portal_domain::EventType::TenantSuspended,
                &format!("tenant-{i}"),
            )
            .await?;
    }
    let started = std::time::Instant::now();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(portal::worker::run(
        services,
        WorkerConfig::default(),
        stop_rx,
    ));
    while arrived(&arrivals) < events {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let burst_seconds = started.elapsed().as_secs_f64();
    let latencies = one_at_a_time(&store, &wake, &arrivals).await?;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "{}",
        serde_json::json!({
            "events": events,
            "per_second": events as f64 / burst_seconds,
            "latency_p50_ms": at(0.5),
            "latency_p99_ms": at(0.99),
        })
    );
    Ok(())
}

/// A CSV file of `rows` requests, every 33rd breaking a rule.
fn import_file(rows: usize) -> Vec<u8> {
    let mut file = String::from(
        "template_id,name,short_name,upn_suffix,admin_user_name,admin_email,ani,\
         contact_first_name,contact_last_name,contact_email,contact_company\n",
    );
    for n in 0..rows {
        let name = if n % 33 == 0 {
            format!("Bad Name {n}")
        } else {
            format!("Import{n}")
        };
        let lower = format!("import{n}");
        file.push_str(&format!(
            "voice-essentials,{name},imp{n},{lower}.example.com,benchAdmin,admin@{lower}.example.com,\
             +44 20 7946 0000,Bench,Mark,bench@{lower}.example.com,\"Bench, Mark and Co\"\n"
        ));
    }
    file.into_bytes()
}

async fn import(url: &str, rows: usize) -> anyhow::Result<()> {
    let store = connect(url).await?;
    let services = Services::new(store.clone());
    portal::service::seed::seed_templates(&services).await?;
    let actor = Actor::portal();
    let file = import_file(rows);
    let mut previews = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let started = Instant::now();
        let (detail, invalid) =
            portal::service::import::preview(&services, &actor, "bench.csv", file.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        previews.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(
            invalid.len() == rows.div_ceil(33),
            "{} invalid",
            invalid.len()
        );
        last = Some(detail.import.id);
    }
    previews.sort_by(f64::total_cmp);
    let id = last.ok_or_else(|| anyhow::anyhow!("no import"))?;
    portal::service::import::submit(&services, &actor, &id).await?;
    let started = Instant::now();
    let submitter = portal::service::import::Submitter {
        id: actor.id.clone(),
        name: actor.username.clone(),
    };
    portal::service::import::submit_rows(&services, &id, &submitter).await?;
    let submit_seconds = started.elapsed().as_secs_f64();
    let submitted = store.import_request_ids(&id).await?.len();
    println!(
        "{}",
        json!({
            "rows": rows,
            "preview_seconds": previews[1],
            "preview_max_seconds": previews[2],
            "submitted": submitted,
            "submit_seconds": submit_seconds,
            "submitted_per_second": submitted as f64 / submit_seconds,
        })
    );
    Ok(())
}
