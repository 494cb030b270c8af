//! The worker: claims jobs from the queue, runs them with a lease it keeps renewing, and
//! records how each attempt ended. Several workers, in one process or many, share the queue.

use std::sync::Arc;
use std::time::Duration;

use portal_store::job::ClaimedJob;
use tokio::sync::{Semaphore, watch};
use tracing::{Instrument, error, error_span, info, warn};

use crate::jobs::Registry;
use crate::metrics::JobOutcome;
use crate::service::Services;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The kinds of job it runs.
    pub jobs: Arc<Registry>,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Jobs claimed beyond the free slots, waiting here for one.
    pub prefetch: usize,
    /// How long a claim lasts without renewal.
    pub lease: Duration,
    /// How long an idle worker waits before looking at the queue again.
    pub poll: Duration,
    /// How long a stopping worker lets running jobs finish.
    pub grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            jobs: Arc::new(Registry::standard()),
            concurrency: 4,
            prefetch: 4,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            grace: Duration::from_secs(10),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// The delay before attempt `attempts + 1`: 1 s, 2 s, 4 s … capped at 5 minutes.
pub fn backoff(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    Duration::from_secs(2u64.saturating_pow(exp).min(300))
}

/// Runs jobs until `stop` turns true, then lets running jobs finish within the grace time.
/// Jobs still running after that keep their lease until it expires, and then any worker
/// takes them up again.
pub async fn run(services: Services, config: WorkerConfig, mut stop: watch::Receiver<bool>) {
    let worker_id = format!("{}-{}", std::process::id(), portal_store::new_id());
    info!(worker.id = %worker_id, concurrency = config.concurrency, "worker started");
    let companions = companions(&services, &worker_id, &config, &stop);
    schedule_the_digest(&services).await;
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    // Finished jobs are removed in batches by one task: a job's slot is free as soon as its
    // work is done, and a burst of short jobs costs a statement per batch, not per job.
    let (finished, to_complete) = tokio::sync::mpsc::unbounded_channel();
    let completer = tokio::spawn(complete_in_batches(services.clone(), to_complete));
    let mut last_rescue: Option<tokio::time::Instant> = None;
    while !*stop.borrow() {
        if last_rescue.is_none_or(|t| t.elapsed() >= config.lease / 2) {
            tend_the_queue(&services, &config).await;
            last_rescue = Some(tokio::time::Instant::now());
        }
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                permit = slots.clone().acquire_owned() => drop(permit),
                _ = stop.changed() => {}
            }
            continue;
        }
        match claim(&services, &config, &worker_id, free).await {
            Ok(jobs) if !jobs.is_empty() => {
                start_jobs(&services, &config, &slots, &finished, &mut stop, jobs).await;
            }
            Ok(_) => {
                tokio::select! {
                    _ = services.jobs_ready.notified() => {}
                    _ = tokio::time::sleep(config.poll) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                warn!(error = %e, "could not claim jobs; trying again shortly");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
    wind_down(&config, &slots, finished, completer).await;
    for task in companions {
        let _ = task.await;
    }
}

/// Claims jobs for the `free` slots, and the prefetch's more, which wait here for one.
async fn claim(
    services: &Services,
    config: &WorkerConfig,
    worker_id: &str,
    free: usize,
) -> Result<Vec<ClaimedJob>, portal_store::StoreError> {
    let limit = (free + config.prefetch) as i64;
    let lease = millis(config.lease);
    let now = portal_store::now_ms();
    services
        .store
        .claim_jobs(worker_id, limit, lease, now)
        .await
}

/// Queues the next daily digest when none is pending.
async fn schedule_the_digest(services: &Services) {
    if let Err(e) = crate::service::digest::schedule(services).await {
        tracing::warn!(error = %e, "the daily digest could not be scheduled now");
    }
}

/// The tasks beside the claiming loop, until `stop`: wake-ups from jobs queued by other
/// processes (PostgreSQL; the loop polls besides), and the worker's heartbeat.
fn companions(
    services: &Services,
    worker_id: &str,
    config: &WorkerConfig,
    stop: &watch::Receiver<bool>,
) -> [tokio::task::JoinHandle<()>; 2] {
    let (store, ready, until) = (
        services.store.clone(),
        services.jobs_ready.clone(),
        stop.clone(),
    );
    [
        tokio::spawn(async move { store.relay_job_wakeups(ready, until).await }),
        tokio::spawn(say_alive(
            services.clone(),
            worker_id.to_owned(),
            config.concurrency,
            stop.clone(),
        )),
    ]
}

/// How often a worker says it is alive.
pub const ALIVE_EVERY: Duration = Duration::from_secs(5);

/// Rows of workers not seen for this long are forgotten.
const FORGET_WORKERS_AFTER_MS: i64 = 7 * 24 * 60 * 60_000;

/// Records every [`ALIVE_EVERY`] that this worker runs, and at the end that it stopped.
async fn say_alive(
    services: Services,
    id: String,
    concurrency: usize,
    mut stop: watch::Receiver<bool>,
) {
    let host = host_name();
    let concurrency = i64::try_from(concurrency).unwrap_or(i64::MAX);
    while !*stop.borrow() {
        let now = portal_store::now_ms();
        if let Err(e) = services
            .store
            .worker_seen(&id, &host, concurrency, now)
            .await
        {
            warn!(error = %e, "could not record that the worker is alive");
        }
        tokio::select! {
            _ = tokio::time::sleep(ALIVE_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
    if let Err(e) = services
        .store
        .worker_stopped(&id, portal_store::now_ms())
        .await
    {
        warn!(error = %e, "could not record that the worker stopped");
    }
}

/// The machine's name, as the kernel has it (or `unknown`).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Starts each claimed job on a task of its own as soon as a slot is free. Those still waiting
/// when the worker is told to stop, or after two thirds of their lease (unrenewed while they
/// wait, it may lapse and another worker take them up), go back on the queue unstarted, with
/// their attempts unspent.
async fn start_jobs(
    services: &Services,
    config: &WorkerConfig,
    slots: &Arc<Semaphore>,
    finished: &tokio::sync::mpsc::UnboundedSender<ClaimedJob>,
    stop: &mut watch::Receiver<bool>,
    jobs: Vec<ClaimedJob>,
) {
    let claimed = tokio::time::Instant::now();
    let mut waiting = jobs.into_iter();
    while let Some(job) = waiting.next() {
        let permit = tokio::select! {
            biased;
            () = told_to_stop(stop) => None,
            permit = slots.clone().acquire_owned() => permit.ok(),
        };
        let Some(permit) = permit.filter(|_| claimed.elapsed() < config.lease * 2 / 3) else {
            let unstarted: Vec<ClaimedJob> = std::iter::once(job).chain(waiting).collect();
            give_back(services, &unstarted).await;
            return;
        };
        let (services, config) = (services.clone(), config.clone());
        let finished = finished.clone();
        tokio::spawn(async move {
            run_job(&services, &config, job, Some(&finished)).await;
            drop(permit);
        });
    }
}

/// Returns once the worker is told to stop; never, when nobody can tell it any more.
async fn told_to_stop(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Puts claimed jobs back on the queue unstarted (see [`start_jobs`]).
async fn give_back(services: &Services, jobs: &[ClaimedJob]) {
    match services.store.release_jobs(jobs).await {
        Ok(0) => {}
        Ok(n) => info!(jobs = n, "gave back jobs claimed but not started"),
        // Their leases lapse and they are rescued, each with one attempt spent.
        Err(e) => warn!(error = %e, "could not give back jobs claimed but not started"),
    }
}

/// Lets running jobs finish within the grace time, and the last finished ones be removed.
async fn wind_down(
    config: &WorkerConfig,
    slots: &Semaphore,
    finished: tokio::sync::mpsc::UnboundedSender<ClaimedJob>,
    completer: tokio::task::JoinHandle<()>,
) {
    let all = u32::try_from(config.concurrency.max(1)).unwrap_or(u32::MAX);
    let settled = tokio::time::timeout(config.grace, slots.acquire_many(all)).await;
    // The last finished jobs are removed before the worker says it stopped (jobs still
    // running past the grace period keep the completer open: it is not waited for then).
    drop(finished);
    let _ = tokio::time::timeout(config.grace, completer).await;
    match settled {
        Ok(_) => info!("worker stopped"),
        Err(_) => {
            warn!("worker stopped with jobs still running; their leases will expire and be rescued")
        }
    }
}

/// What a job's last error says when its worker stopped renewing its lease.
const LEASE_LAPSED: &str = "the worker stopped renewing its lease";

/// Rescues jobs whose lease expired (burying those that were on their last attempt, with
/// what their kinds leave behind), and sweeps old counters of attempts.
async fn tend_the_queue(services: &Services, config: &WorkerConfig) {
    match services
        .store
        .rescue_expired_jobs(portal_store::now_ms(), LEASE_LAPSED)
        .await
    {
        Ok((requeued, last)) => {
            if requeued > 0 {
                info!(jobs = requeued, "rescued jobs whose lease expired");
            }
            for job in last {
                error!(job.id = job.id, job.kind = %job.kind, "a job's lease lapsed on its last attempt");
                match config.jobs.bury(services, &job, LEASE_LAPSED).await {
                    Ok(true) => services.metrics.record_job(JobOutcome::Dead),
                    Ok(false) => {}
                    Err(e) => error!(error = %e, "could not bury a job; it is tried again later"),
                }
            }
        }
        Err(e) => warn!(error = %e, "could not rescue expired jobs"),
    }
    // Counters of attempts untouched for two days hold nothing worth keeping.
    let now = portal_store::now_ms();
    erase_contacts_when_due(services, now).await;
    if let Err(e) = services
        .store
        .forget_workers(now - FORGET_WORKERS_AFTER_MS)
        .await
    {
        warn!(error = %e, "could not forget workers long gone");
    }
    match services
        .store
        .sweep_attempt_counters(now - COUNTER_KEEP_MS, now)
        .await
    {
        Ok(0) => {}
        Ok(swept) => info!(counters = swept, "swept old counters of attempts"),
        Err(e) => warn!(error = %e, "could not sweep old counters of attempts"),
    }
}

/// When this process next erases the contact details of closed self-service requests whose
/// retention is over (once an hour; several workers doing it is harmless).
static NEXT_ERASURE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

async fn erase_contacts_when_due(services: &Services, now: i64) {
    use std::sync::atomic::Ordering;
    let due = NEXT_ERASURE.load(Ordering::Relaxed);
    if now < due
        || NEXT_ERASURE
            .compare_exchange(due, now + 60 * 60_000, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    // Beside the loop, so that a long backlog (the first hour after an upgrade) does not keep
    // the worker from its jobs.
    let services = services.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::service::retention::erase_closed_contacts(&services).await {
            warn!(error = %e, "could not erase the contact details of closed requests; trying again later");
            NEXT_ERASURE.store(now + 60_000, Ordering::Relaxed);
        }
    });
}

/// Removes finished jobs, as many at once as have finished meanwhile (up to 500). A batch that
/// cannot be removed after a few tries is left to its leases: the jobs run again, and their
/// handlers are idempotent.
async fn complete_in_batches(
    services: Services,
    mut finished: tokio::sync::mpsc::UnboundedReceiver<ClaimedJob>,
) {
    let mut batch = Vec::new();
    while let Some(job) = finished.recv().await {
        batch.push(job);
        while batch.len() < 500 {
            match finished.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // A database that failed the removal is given a few more tries before the jobs are
        // left to their leases (they would run again half a minute later).
        let mut removed = services.store.complete_jobs(&batch).await;
        for pause_ms in [50, 250, 1_000] {
            if removed.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            removed = services.store.complete_jobs(&batch).await;
        }
        match removed {
            Ok(done) => {
                for _ in 0..done {
                    services.metrics.record_job(JobOutcome::Completed);
                }
                for _ in done..batch.len() as u64 {
                    services.metrics.record_job(JobOutcome::Lost);
                }
            }
            Err(e) => error!(error = %e, jobs = batch.len(), "could not mark finished jobs done"),
        }
        batch.clear();
    }
}

/// Runs every due job, one batch after another, until the queue has none left that is due.
/// For the command line and tests that want the queue's work done now.
pub async fn run_until_idle(
    services: &Services,
    config: &WorkerConfig,
) -> Result<usize, portal_store::StoreError> {
    let worker_id = format!("{}-{}", std::process::id(), portal_store::new_id());
    let mut ran = 0;
    loop {
        let jobs = services
            .store
            .claim_jobs(
                &worker_id,
                config.concurrency.max(1) as i64,
                millis(config.lease),
                portal_store::now_ms(),
            )
            .await?;
        if jobs.is_empty() {
            return Ok(ran);
        }
        for job in jobs {
            run_job(services, config, job, None).await;
            ran += 1;
        }
    }
}

/// Runs one claimed job with a heartbeat, and records its outcome. A finished job goes to
/// `finished` to be removed with others, or is removed here when there is none.
async fn run_job(
    services: &Services,
    config: &WorkerConfig,
    job: ClaimedJob,
    finished: Option<&tokio::sync::mpsc::UnboundedSender<ClaimedJob>>,
) {
    // At the error level, so that its fields are on every line whatever level the log is set to.
    let span =
        error_span!("job", job.id = job.id, job.kind = %job.kind, job.attempt = job.attempts);
    services
        .metrics
        .record_start_lag(portal_store::now_ms() - job.run_at);
    async move {
        info!("job started");
        let heartbeat = tokio::spawn(keep_lease(services.clone(), job.clone(), config.lease));
        // Run the job on its own task so that a panic is caught as an error of this attempt.
        let handler = {
            let (services, jobs, job) = (services.clone(), config.jobs.clone(), job.clone());
            tokio::spawn(async move { jobs.run(&services, &job).await })
        };
        let result = match handler.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err("the job panicked".to_owned()),
            Err(_) => Err("the job was cancelled".to_owned()),
        };
        heartbeat.abort();
        let outcome = match result {
            Ok(()) => finish(services, job, finished).await,
            Err(message) => record_failure(services, config, &job, &message).await,
        };
        if let Some(outcome) = outcome {
            services.metrics.record_job(outcome);
        }
    }
    .instrument(span)
    .await
}

/// Renews a running job's lease every third of its length until the lease is lost.
async fn keep_lease(services: Services, job: ClaimedJob, lease: Duration) {
    let mut tick = tokio::time::interval(lease / 3);
    tick.tick().await;
    loop {
        tick.tick().await;
        match services
            .store
            .heartbeat_job(&job, portal_store::now_ms() + millis(lease))
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                warn!("lost the lease of a running job");
                break;
            }
            Err(e) => warn!(error = %e, "could not renew a lease"),
        }
    }
}

/// A finished job goes to the completer, which records its outcome once it is removed; with
/// none (or once it has stopped) it is removed here.
async fn finish(
    services: &Services,
    job: ClaimedJob,
    finished: Option<&tokio::sync::mpsc::UnboundedSender<ClaimedJob>>,
) -> Option<JobOutcome> {
    info!("job completed");
    let job = match finished.map(|f| f.send(job.clone())) {
        Some(Ok(())) => return None,
        Some(Err(unsent)) => unsent.0,
        None => job,
    };
    match services.store.complete_job(&job).await {
        Ok(true) => Some(JobOutcome::Completed),
        Ok(false) => Some(JobOutcome::Lost),
        Err(e) => {
            // The lease will expire and the job run again; its handler is idempotent.
            error!(error = %e, "could not mark a finished job done");
            None
        }
    }
}

/// A failed attempt: the job goes back on the queue with backoff, or, after its last
/// attempt, is buried with what its kind leaves behind.
async fn record_failure(
    services: &Services,
    config: &WorkerConfig,
    job: &ClaimedJob,
    message: &str,
) -> Option<JobOutcome> {
    if job.attempts >= job.max_attempts {
        error!(error = %message, "job failed for the last time");
        return match config.jobs.bury(services, job, message).await {
            Ok(true) => Some(JobOutcome::Dead),
            Ok(false) => Some(JobOutcome::Lost),
            Err(e) => {
                // Nothing was written: the lease lapses and the job is buried then.
                error!(error = %e, "could not bury a job; it is tried again when its lease lapses");
                None
            }
        };
    }
    let retry_at = portal_store::now_ms() + millis(backoff(job.attempts));
    match services.store.retry_job(job, message, retry_at).await {
        Ok(true) => {
            warn!(error = %message, "job failed; it will be retried");
            Some(JobOutcome::Retried)
        }
        Ok(false) => Some(JobOutcome::Lost),
        Err(e) => {
            error!(error = %e, "could not record a failed attempt");
            None
        }
    }
}

/// How long a counter of sign-in or registration attempts is kept after its last use: longer
/// than any rule remembers.
const COUNTER_KEEP_MS: i64 = 2 * 24 * 60 * 60_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(30), Duration::from_secs(300));
    }
}
