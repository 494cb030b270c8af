//! Which cores the portal's threads run on.
//!
//! Under a load of submissions every core hashes passwords, and each submission's other work
//! hands off between the async runtime's threads and SQLite's five times (each statement, or
//! batch of statements, is a round trip to its connection's thread). Spread over every core,
//! a hand-off wakes a thread on a core that is hashing: an interrupt (through the hypervisor,
//! in a virtual machine) and a share of that core's caches, paid by the hash. Kept to half
//! the cores, the runtime's and SQLite's threads wake one another where one of them just
//! ran, and the other cores hash undisturbed. The hashing threads keep every core. On 2
//! cores, in seven pairs of runs taken in turn against the threads spread over both cores,
//! the kept run accepted more submissions in every pair (by 0.04–0.10 of the machine's hash
//! rate) and spent about a fifth less CPU outside its hashing threads. One Tokio thread on
//! both cores did about as well in three pairs; docs/BENCHMARKS.md (issue 22) has every run.
//!
//! `keep_to_half` is called once, at the start of `portal serve` (the process that hashes),
//! before any other thread exists: every thread made after it inherits the half. `widen`
//! gives a thread (a hashing thread) every core back.

use std::sync::OnceLock;

/// The cores this process was allowed when it started, before `keep_to_half`.
#[cfg(target_os = "linux")]
static ALL: OnceLock<rustix::thread::CpuSet> = OnceLock::new();

/// How many cores the process may use, counted once: `keep_to_half` counts them before it
/// narrows the thread, so this answers every core, not the half, whenever it is asked.
pub fn count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// Keeps the calling thread, and every thread it makes from now on, to the last half of the
/// cores it may use (one of two, two of four); returns how many. With one core, or where the
/// system does not tell or allow it, nothing changes and the answer is every core.
pub fn keep_to_half() -> usize {
    let all = count();
    #[cfg(target_os = "linux")]
    {
        use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
        let Ok(allowed) = sched_getaffinity(None) else {
            return all;
        };
        let cores: Vec<usize> = (0..CpuSet::MAX_CPU)
            .filter(|&c| allowed.is_set(c))
            .collect();
        if cores.len() < 2 {
            return all;
        }
        let mut half = CpuSet::new();
        for &core in &cores[cores.len() - cores.len() / 2..] {
            half.set(core);
        }
        // For `widen`: the hashing threads take back what the process had.
        let _ = ALL.set(allowed);
        if sched_setaffinity(None, &half).is_ok() {
            return cores.len() / 2;
        }
    }
    all
}

/// Lets the calling thread run on every core the process was allowed at start.
pub fn widen() {
    #[cfg(target_os = "linux")]
    if let Some(all) = ALL.get() {
        let _ = rustix::thread::sched_setaffinity(None, all);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_kept_thread_runs_on_half_the_cores_and_a_widened_one_on_all() {
        // On a thread of its own, so that no other test's thread inherits the half.
        std::thread::spawn(|| {
            let before = rustix::thread::sched_getaffinity(None).unwrap().count() as usize;
            let all = count();
            let kept = keep_to_half();
            let now = rustix::thread::sched_getaffinity(None).unwrap().count() as usize;
            if before < 2 {
                assert_eq!((kept, now), (before, before));
                return;
            }
            assert_eq!((kept, now), (before / 2, before / 2));
            // A thread made now inherits the half; `count` still answers every core.
            let child = std::thread::spawn(|| {
                rustix::thread::sched_getaffinity(None).unwrap().count() as usize
            });
            assert_eq!(child.join().unwrap(), before / 2);
            assert_eq!(count(), all);
            widen();
            let widened = rustix::thread::sched_getaffinity(None).unwrap().count() as usize;
            assert_eq!(widened, before);
        })
        .join()
        .unwrap();
    }
}
