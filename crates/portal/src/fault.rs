//! Test-only fault switches. Production builds compile these to nothing; the test suite builds
//! the binary with the `fault-injection` feature, which reads two variables:
//!
//! - `PORTAL_FAULT_STEP_FILE`: while this file exists, the provisioning step (or the step of a
//!   change of package) named in it fails.
//! - `PORTAL_FAULT_CLONE_PAUSE_MS`: each slice of cloning, each step of a purge and each step
//!   of a change of package waits this long first, so that a test can kill the process in
//!   the middle of any of them.

/// Fails the step when its fault switch is on.
#[cfg(feature = "fault-injection")]
pub fn before_step(step: &str) -> anyhow::Result<()> {
    if let Ok(path) = std::env::var("PORTAL_FAULT_STEP_FILE")
        && let Ok(named) = std::fs::read_to_string(path)
        && named.trim() == step
    {
        anyhow::bail!("injected fault in step {step}");
    }
    Ok(())
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn before_step(_step: &str) -> anyhow::Result<()> {
    Ok(())
}

/// Slows cloning down when its switch is on.
#[cfg(feature = "fault-injection")]
pub fn during_clone() {
    if let Some(ms) = std::env::var("PORTAL_FAULT_CLONE_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn during_clone() {}
