//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane), run off the
//! async threads and bounded: at most one hash per core at once, a short queue behind them,
//! and beyond that an immediate "overloaded" answer instead of a pile of 19 MiB hashes.
//!
//! The queue is the threads' own: a thread that finishes a hash takes the next one at once,
//! without waiting for an async task to be woken to hand it over (on a machine whose cores
//! are all hashing, that hand-over left a core idle for as long as the task waited its turn).
//!
//! The hashes run on threads of their own, one per core, rather than on the blocking pool: the
//! allocator keeps a hash's 19 MiB around per thread, so a fixed pair of threads keeps the
//! memory at two blocks where a pool of many threads grew it by hundreds of megabytes.
//!
//! A new password is weighed (zxcvbn) before it is hashed, on the same threads. A hash
//! sweeps its 19 MiB through the caches, so a strength estimate made just after one finds its
//! dictionaries gone from them and takes about twice as long as one made just after another.
//! So a thread that reaches a password not weighed yet weighs every password waiting in the
//! queue with it, one after another, before its hash: under a load the queue holds several,
//! and a weak password among them is answered then, without waiting for its turn.
//! A thread weighs at most the queue's length before its own hash (eight waiting per core),
//! and zxcvbn reads at most a password's first 100 characters: a queue of crafted passwords
//! costs no more CPU than before, its estimates only run before that one hash instead of after.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::OnceCell;

/// Too many hashes are already running or waiting; try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many passwords are being checked right now")]
pub struct Overloaded;

/// The bounded argon2id hasher shared by sign-in and intake.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

/// One hash or check taken in: counted until it has run, or been skipped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A hash or a check, run on one of the hasher's threads.
type Job = Box<dyn FnOnce() + Send>;

/// What is left of a piece of work taken in.
enum Stage {
    /// A part that may run before the work's turn, with the other such parts waiting (the
    /// strength estimate): it leaves the rest of the work, or nothing when it has answered.
    Ahead(Box<dyn FnOnce() -> Option<Job> + Send>),
    /// The work as it runs on its turn.
    Turn(Job),
    /// Answered already, or taken by a thread.
    Done,
}

/// Work waiting in the queue. A thread weighing passwords ahead holds the lock of each while it
/// does; another thread passes over one it finds locked so, unless it is its turn.
type Entry = Arc<Mutex<Stage>>;

/// A lock whose holder panicked: the hasher's locks guard nothing a panic leaves half-done
/// (work runs caught, and its stage is set only after), so it is taken as it is.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The work waiting for a hashing thread, oldest first.
#[derive(Default)]
struct Queue {
    state: Mutex<Waiting>,
    /// Told when work is added or the hasher is dropped.
    changed: Condvar,
}

#[derive(Default)]
struct Waiting {
    entries: VecDeque<Entry>,
    /// The last `Hasher` is gone: the threads end.
    closed: bool,
}

/// What a hashing thread finds when it looks for work.
enum Next {
    Work(Entry),
    /// Nothing came for `IDLE_RELEASE`.
    Idle,
    Closed,
}

impl Queue {
    fn push(&self, stage: Stage) {
        locked(&self.state)
            .entries
            .push_back(Arc::new(Mutex::new(stage)));
        self.changed.notify_one();
    }

    fn close(&self) {
        locked(&self.state).closed = true;
        self.changed.notify_all();
    }

    /// The oldest work waiting, once there is some.
    fn next(&self) -> Next {
        let mut waiting = locked(&self.state);
        loop {
            if let Some(entry) = waiting.entries.pop_front() {
                return Next::Work(entry);
            }
            if waiting.closed {
                return Next::Closed;
            }
            let (guard, wait) = self
                .changed
                .wait_timeout(waiting, IDLE_RELEASE)
                .unwrap_or_else(PoisonError::into_inner);
            waiting = guard;
            if wait.timed_out() && waiting.entries.is_empty() && !waiting.closed {
                return Next::Idle;
            }
        }
    }

    /// The work waiting now, oldest first, left in the queue.
    fn snapshot(&self) -> Vec<Entry> {
        locked(&self.state).entries.iter().cloned().collect()
    }
}

/// Runs the part ahead of `first` and of every piece of work waiting behind it that has one,
/// one after another, skipping any another thread is running.
fn run_ahead(first: &Entry, queue: &Queue) {
    for entry in std::iter::once(first.clone()).chain(queue.snapshot()) {
        let Ok(mut stage) = entry.try_lock() else {
            continue;
        };
        match std::mem::replace(&mut *stage, Stage::Done) {
            // A part that panics loses its answer (its caller is told the hasher is
            // overloaded), never the thread.
            Stage::Ahead(part) => {
                if let Ok(Some(rest)) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(part))
                {
                    *stage = Stage::Turn(rest);
                }
            }
            other => *stage = other,
        }
    }
}

/// A hashing thread: takes the oldest work waiting, runs the parts ahead, then its turn.
fn hashing_thread(queue: &Queue) {
    loop {
        let entry = match queue.next() {
            Next::Work(entry) => entry,
            Next::Idle => {
                // Idle: the 19 MiB go back to the system until needed.
                MEMORY.with(|memory| *memory.borrow_mut() = Vec::new());
                continue;
            }
            Next::Closed => return,
        };
        if matches!(&*locked(&entry), Stage::Ahead(_)) {
            run_ahead(&entry, queue);
        }
        // Another thread may be weighing it still: its turn waits for that.
        let stage = std::mem::replace(&mut *locked(&entry), Stage::Done);
        if let Stage::Turn(job) = stage {
            // A job that panics loses its answer, never the thread.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        }
    }
}

struct Inner {
    /// To the hashing threads; they end when the last `Hasher` is dropped.
    queue: Arc<Queue>,
    /// The jobs running or waiting for a thread.
    taken: Arc<AtomicUsize>,
    /// How many may: one per thread, and the queue behind them.
    max_taken: usize,
    /// A hash of a random password, verified against when a user does not exist, so that an
    /// unknown user costs as much time as a known one.
    dummy: OnceCell<String>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("max_taken", &self.inner.max_taken)
            .finish_non_exhaustive()
    }
}

fn argon2() -> Argon2<'static> {
    // The defaults are argon2id, version 19, m = 19 MiB, t = 2, p = 1: OWASP's recommendation.
    Argon2::default()
}

/// How long a hashing thread keeps its memory without work.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(2);

thread_local! {
    /// This thread's argon2 memory, kept from one hash to the next: a fresh 19 MiB for every
    /// hash cost page faults on each one and grew the process by hundreds of megabytes.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` over `blocks` blocks of this thread's argon2 memory.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        f(&mut memory[..blocks])
    })
}

/// Hashes a password to a PHC string (blocking; call from a blocking thread).
pub fn hash_now(password: &str) -> anyhow::Result<String> {
    let argon = argon2();
    let params = Params::default();
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_memory(params.block_count(), |blocks| {
        argon.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
    })
    .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.into(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?,
        salt: Some(Salt::new(&salt).map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?),
    };
    Ok(hash.to_string())
}

/// Whether a password matches a PHC string (blocking). A malformed hash never matches; the
/// comparison takes the same time wherever the outputs differ.
pub fn verify_now(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    // A stored hash sets its own memory cost: one far beyond ours is refused, not allocated.
    if blocks > Params::default().block_count() * 8 {
        return false;
    }
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let hashed = with_memory(blocks, |memory| {
        argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
    });
    hashed.is_ok() && Output::new(&out).is_ok_and(|computed| computed == *expected)
}

impl Hasher {
    /// `parallel` hashes at once (the cores), with up to `max_queued` more waiting.
    pub fn new(parallel: usize, max_queued: usize) -> Self {
        let parallel = parallel.max(1);
        let queue = Arc::new(Queue::default());
        for n in 0..parallel {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    crate::cores::widen();
                    hashing_thread(&queue);
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a hashing thread");
            }
        }
        Self {
            inner: Arc::new(Inner {
                queue,
                taken: Arc::new(AtomicUsize::new(0)),
                max_taken: parallel + max_queued,
                dummy: OnceCell::new(),
            }),
        }
    }

    /// One hash per core, and twice as many waiting.
    pub fn for_this_machine() -> Self {
        let cores = crate::cores::count();
        // A hash takes tens of milliseconds: eight waiting per core keeps the wait under a
        // second, and a burst of clients is queued rather than refused.
        Self::new(cores, cores * 8)
    }

    /// Takes a place in the queue, or says there is none.
    fn take_slot(&self) -> Result<Slot, Overloaded> {
        if self.inner.taken.fetch_add(1, Ordering::SeqCst) >= self.inner.max_taken {
            self.inner.taken.fetch_sub(1, Ordering::SeqCst);
            return Err(Overloaded);
        }
        Ok(Slot(self.inner.taken.clone()))
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Overloaded> {
        // The slot goes with the work: a caller that stops waiting does not free it while
        // the hash still runs. One that stopped before its turn costs no hash.
        let slot = self.take_slot()?;
        let (done, result) = tokio::sync::oneshot::channel();
        self.inner.queue.push(Stage::Turn(Box::new(move || {
            if !done.is_closed() {
                let value = work();
                drop(slot);
                let _ = done.send(value);
            }
        })));
        result.await.map_err(|_| Overloaded)
    }

    /// Hashes a password; the plain text is dropped as soon as the hash exists.
    pub async fn hash(&self, password: String) -> Result<anyhow::Result<String>, Overloaded> {
        self.run(move || {
            let hash = hash_now(&password);
            drop(password);
            hash
        })
        .await
    }

    /// Weighs a password's strength and hashes it, both on the hashing threads (the estimate
    /// of a crafted password takes a core for half a second): the hash, or why the password
    /// is too easy to guess. The estimate runs ahead of the hash's turn, with those of the
    /// other passwords waiting (see the module's note).
    pub async fn weigh_and_hash(
        &self,
        candidate: portal_domain::field::PasswordCandidate,
    ) -> Result<Result<anyhow::Result<String>, portal_domain::field::FieldError>, Overloaded> {
        let slot = self.take_slot()?;
        let (done, result) = tokio::sync::oneshot::channel();
        self.inner.queue.push(Stage::Ahead(Box::new(move || {
            if done.is_closed() {
                return None;
            }
            match candidate.weigh() {
                Err(weak) => {
                    drop(slot);
                    let _ = done.send(Err(weak));
                    None
                }
                Ok(password) => Some(Box::new(move || {
                    if !done.is_closed() {
                        let hash = hash_now(&password.into_string());
                        drop(slot);
                        let _ = done.send(Ok(hash));
                    }
                }) as Job),
            }
        })));
        result.await.map_err(|_| Overloaded)
    }

    /// Verifies a password against a stored hash, or against a dummy hash when there is none,
    /// so that both take the same time; `false` in the second case.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, Overloaded> {
        let (hash, real) = match hash {
            Some(h) => (h, true),
            None => (self.dummy_hash().await?, false),
        };
        let matched = self.run(move || verify_now(&password, &hash)).await?;
        Ok(matched && real)
    }

    async fn dummy_hash(&self) -> Result<String, Overloaded> {
        let hash = self
            .inner
            .dummy
            .get_or_try_init(|| async {
                let random = crate::token::random_password();
                match self.run(move || hash_now(&random)).await? {
                    Ok(h) => Ok(h),
                    Err(_) => Err(Overloaded),
                }
            })
            .await?;
        Ok(hash.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_domain::field::PasswordCandidate;
    use std::sync::mpsc;

    #[test]
    fn a_hash_is_argon2id_with_the_owasp_parameters_and_verifies() {
        let hash = hash_now("correct horse battery staple").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_now("correct horse battery staple", &hash));
        assert!(!verify_now("correct horse battery stapler", &hash));
        assert!(!verify_now("anything", "not a hash"));
    }

    #[tokio::test]
    async fn an_unknown_user_never_matches_even_with_the_right_dummy() {
        let hasher = Hasher::new(1, 1);
        assert!(!hasher.verify("whatever".into(), None).await.unwrap());
        let real = hasher
            .hash("a fine password here".into())
            .await
            .unwrap()
            .unwrap();
        assert!(
            hasher
                .verify("a fine password here".into(), Some(real))
                .await
                .unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_running_and_queued_hashes_the_answer_is_overloaded() {
        let hasher = Hasher::new(1, 1);
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let h = hasher.clone();
                tokio::spawn(async move { h.hash(format!("password number {i}")).await })
            })
            .collect();
        let mut overloaded = 0;
        let mut hashed = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(Ok(_)) => hashed += 1,
                Ok(Err(e)) => panic!("{e}"),
                Err(Overloaded) => overloaded += 1,
            }
        }
        assert!(hashed >= 2, "one running and one queued at least: {hashed}");
        assert!(
            overloaded >= 1,
            "six at once cannot all fit in one running and one queued"
        );
        assert_eq!(hashed + overloaded, 6);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_stops_waiting_before_its_turn_costs_no_work() {
        let hasher = Hasher::new(1, 4);
        let ran = Arc::new(AtomicUsize::new(0));
        // The one thread is kept busy until told to go on.
        let (go_on, busy) = hold_the_thread(&hasher).await;
        let counted = ran.clone();
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            hasher.run(move || counted.fetch_add(1, Ordering::SeqCst)),
        )
        .await;
        assert!(gave_up.is_err(), "its turn cannot have come");
        go_on.send(()).unwrap();
        assert_eq!(busy.await.unwrap(), Ok(true));
        // The thread takes its jobs in order: when this one has run, the one given up on
        // was reached and passed over.
        let counted = ran.clone();
        hasher
            .run(move || counted.fetch_add(1, Ordering::SeqCst))
            .await
            .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(hasher.inner.taken.load(Ordering::SeqCst), 0);
    }

    /// Keeps the one thread of `hasher` busy until the answer is sent.
    async fn hold_the_thread(
        hasher: &Hasher,
    ) -> (
        mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<bool, Overloaded>>,
    ) {
        let (go_on, hold) = mpsc::channel::<()>();
        let (started, busy_now) = tokio::sync::oneshot::channel::<()>();
        let busy = {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                hasher
                    .run(move || {
                        let _ = started.send(());
                        hold.recv().is_ok()
                    })
                    .await
            })
        };
        busy_now.await.unwrap();
        (go_on, busy)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passwords_waiting_are_weighed_together_before_the_first_hash() {
        let hasher = Hasher::new(1, 4);
        let (go_on, busy) = hold_the_thread(&hasher).await;
        // Each waits in the queue before the next is given.
        let queue = |text: &str| {
            let hasher = hasher.clone();
            let candidate = PasswordCandidate::parse(text, &[]).unwrap();
            let waiting = hasher.inner.queue.snapshot().len();
            let task = tokio::spawn(async move { hasher.weigh_and_hash(candidate).await });
            (task, waiting + 1)
        };
        let (strong, waiting) = queue("Quiet-Meadow-Signal-42");
        while hasher.inner.queue.snapshot().len() < waiting {
            tokio::task::yield_now().await;
        }
        let (weak, waiting) = queue("password1234");
        while hasher.inner.queue.snapshot().len() < waiting {
            tokio::task::yield_now().await;
        }
        go_on.send(()).unwrap();
        assert_eq!(busy.await.unwrap(), Ok(true));
        // The thread reached the strong password first and weighed the weak one with it:
        // the weak one is refused while the strong one's hash still runs.
        let refused = weak.await.unwrap().unwrap();
        assert!(
            !strong.is_finished(),
            "the weak password waited for the strong one's hash"
        );
        let error = refused.expect_err("too easy to guess");
        assert_eq!(error.code, portal_domain::FieldErrorCode::WeakPassword);
        let hash = strong.await.unwrap().unwrap().unwrap().unwrap();
        assert!(verify_now("Quiet-Meadow-Signal-42", &hash));
        assert_eq!(hasher.inner.taken.load(Ordering::SeqCst), 0);
    }
}
