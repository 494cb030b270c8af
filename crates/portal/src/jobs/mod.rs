//! Background jobs. A kind is one type implementing `Job` (its name, its payload, what it
//! runs and what it leaves behind when it runs out of attempts), in a file of its own, and
//! one line in `Registry::standard`. The worker runs whatever the registry holds and knows no
//! kind by name; the queue stores a kind's name and its payload as JSON.

mod change_package;
mod check_domain;
mod daily_digest;
mod deliver_webhook;
mod expire_registration;
mod noop;
mod provision_request;
mod purge_tenant;
mod send_mail;
mod submit_import;

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use portal_store::job::{Burial, ClaimedJob, NewJob};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use change_package::ChangePackage;
pub use check_domain::CheckDomain;
pub use daily_digest::DailyDigest;
pub use deliver_webhook::DeliverWebhook;
pub use expire_registration::ExpireRegistration;
pub use noop::Noop;
pub use provision_request::ProvisionRequest;
pub use purge_tenant::PurgeTenant;
pub use send_mail::SendMail;
pub use submit_import::SubmitImport;

use crate::service::{ServiceError, Services};

/// One kind of background job; a value of it is one job's payload.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind's name on the queue. Queued jobs keep it, so it never changes.
    const KIND: &'static str;

    /// The object the job works on (a request id): moving or ending that object finds its
    /// queued jobs by it.
    fn subject(&self) -> Option<&str> {
        None
    }

    /// Runs the job once. An `Err` fails this attempt; it is retried with backoff until it
    /// runs out of attempts. The error's text is kept with the job, so it says nothing secret.
    fn run(self, services: &Services) -> impl Future<Output = Result<(), ServiceError>> + Send;

    /// What the job leaves behind when its last attempt failed: written in `burial`, the
    /// transaction that marks it dead, so both happen or neither.
    fn give_up(
        self,
        services: &Services,
        burial: &mut Burial,
        error: &str,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send {
        let _ = (services, burial, error);
        async { Ok(()) }
    }
}

/// The job `job`, due at `run_at`, tried at most `max_attempts` times, ready to enqueue.
pub fn new_job<J: Job>(job: &J, run_at: i64, max_attempts: i64) -> Result<NewJob, ServiceError> {
    let payload = serde_json::to_string(job).map_err(|e| ServiceError::Internal(e.into()))?;
    Ok(NewJob {
        kind: J::KIND,
        subject: job.subject().map(str::to_owned),
        payload,
        run_at,
        max_attempts,
    })
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A kind as the registry holds it: its payload read from JSON, then its `Job` methods.
trait Kind: Send + Sync {
    fn run<'a>(
        &self,
        services: &'a Services,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;

    fn give_up<'a>(
        &self,
        services: &'a Services,
        burial: &'a mut Burial,
        payload: &'a str,
        error: &'a str,
    ) -> BoxFuture<'a, Result<(), ServiceError>>;
}

struct KindOf<J>(PhantomData<fn() -> J>);

fn payload_of<J: Job>(payload: &str) -> Result<J, String> {
    serde_json::from_str(payload).map_err(|e| format!("bad payload of a {} job: {e}", J::KIND))
}

impl<J: Job> Kind for KindOf<J> {
    fn run<'a>(
        &self,
        services: &'a Services,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            payload_of::<J>(payload)?
                .run(services)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn give_up<'a>(
        &self,
        services: &'a Services,
        burial: &'a mut Burial,
        payload: &'a str,
        error: &'a str,
    ) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async move {
            // A payload that cannot be read has nothing to undo: the job is buried alone.
            match payload_of::<J>(payload) {
                Ok(job) => job.give_up(services, burial, error).await,
                Err(_) => Ok(()),
            }
        })
    }
}

/// The kinds a worker runs, by name.
#[derive(Default)]
pub struct Registry {
    kinds: HashMap<&'static str, Box<dyn Kind>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<_> = self.kinds.keys().collect();
        kinds.sort();
        f.debug_struct("Registry").field("kinds", &kinds).finish()
    }
}

impl Registry {
    /// Every kind of the portal.
    pub fn standard() -> Self {
        Self::default()
            .with::<ProvisionRequest>()
            .with::<SendMail>()
            .with::<ExpireRegistration>()
            .with::<PurgeTenant>()
            .with::<ChangePackage>()
            .with::<DailyDigest>()
            .with::<DeliverWebhook>()
            .with::<SubmitImport>()
            .with::<CheckDomain>()
            .with::<Noop>()
    }

    /// The registry with kind `J` too.
    pub fn with<J: Job>(mut self) -> Self {
        self.kinds
            .insert(J::KIND, Box::new(KindOf::<J>(PhantomData)));
        self
    }

    /// Runs one attempt of a claimed job; the error's text is kept with the job.
    pub async fn run(&self, services: &Services, job: &ClaimedJob) -> Result<(), String> {
        match self.kinds.get(job.kind.as_str()) {
            Some(kind) => kind.run(services, &job.payload).await,
            None => Err(format!("unknown job kind {:?}", job.kind)),
        }
    }

    /// Marks a job dead after its last attempt, with what its kind leaves behind, in one
    /// transaction. False when another worker holds or buried it. On an error neither
    /// happened: the job's lease lapses and it is buried again then.
    pub async fn bury(
        &self,
        services: &Services,
        job: &ClaimedJob,
        error: &str,
    ) -> Result<bool, ServiceError> {
        let Some(mut burial) = services.store.bury_job(job, error).await? else {
            return Ok(false);
        };
        if let Some(kind) = self.kinds.get(job.kind.as_str()) {
            kind.give_up(services, &mut burial, &job.payload, error)
                .await?;
        }
        burial.commit().await?;
        // What the kind left behind may have enqueued work (an outcome email, say).
        services.jobs_ready.notify_one();
        Ok(true)
    }
}
