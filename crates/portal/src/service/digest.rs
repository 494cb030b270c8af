//! The daily digest: at a fixed hour each day, every active landlord administrator with an
//! address gets one email listing the requests that failed and the emails the portal gave up
//! sending in the day before, with links; on a quiet day nobody gets anything. Each day is
//! claimed once, so two workers never send it twice, and each digest queues the next.

use tracing::info;

use super::{ServiceError, Services};

/// The hour (UTC) the digest goes out.
pub const DIGEST_HOUR_UTC: i8 = 7;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The next digest time after `now` (epoch milliseconds): today's hour, or tomorrow's.
pub fn next_digest_at(now: i64) -> i64 {
    let hour_ms = i64::from(DIGEST_HOUR_UTC) * 60 * 60 * 1000;
    let today = now - now.rem_euclid(DAY_MS) + hour_ms;
    if today > now { today } else { today + DAY_MS }
}

fn job(until: i64) -> Result<portal_store::job::NewJob, ServiceError> {
    crate::jobs::new_job(&crate::jobs::DailyDigest { until }, until, 5)
}

/// Queues the next digest unless one is queued already (each worker does at its start).
pub async fn schedule(services: &Services) -> Result<(), ServiceError> {
    let until = next_digest_at(portal_store::now_ms());
    if services.store.enqueue_unless_pending(&job(until)?).await? {
        info!(until, "daily digest scheduled");
    }
    Ok(())
}

/// Queues the digest that follows the one of `until`, in the burial of that one.
pub async fn schedule_after(
    burial: &mut portal_store::job::Burial,
    until: i64,
) -> Result<(), ServiceError> {
    let next = next_digest_at(portal_store::now_ms().max(until));
    Ok(burial.enqueue_next(&job(next)?).await?)
}

/// The longest stretch one digest looks back over, should the portal have been down.
const LOOK_BACK_MS: i64 = 7 * DAY_MS;

/// Sends the digest of the day ending at `until` (the job), once, and queues the next one
/// with it. It covers the time since the last digest sent (a day, or more should one have
/// been missed, at most a week), so that no failure goes untold.
#[tracing::instrument(skip_all, fields(until))]
pub async fn send(services: &Services, until: i64) -> Result<(), ServiceError> {
    let last = services.store.digest_sent_until().await?;
    if last.is_some_and(|last| last >= until) {
        info!("daily digest of this day was sent already");
        return Ok(());
    }
    let from = last.unwrap_or(until - DAY_MS).max(until - LOOK_BACK_MS);
    let figures = services.store.digest_figures(from, until).await?;
    let mails = if figures.is_quiet() {
        Vec::new()
    } else {
        let day = crate::web::pages::when(until);
        services
            .store
            .landlord_admin_addresses()
            .await?
            .iter()
            .map(|to| crate::mail::digest_mail(&services.mailer, to, &day, &figures))
            .collect()
    };
    // The next one at the hour after this one (or the next to come, should this one run late).
    let next = job(next_digest_at(portal_store::now_ms().max(until)))?;
    if services.store.send_digest(until, &mails, &next).await? {
        info!(emails = mails.len(), "daily digest done");
        services.jobs_ready.notify_one();
    } else {
        info!("daily digest of this day was sent by another worker");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_digest_is_at_the_hour_today_or_tomorrow() {
        let at = |text: &str| text.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        assert_eq!(
            next_digest_at(at("2026-11-30T06:59:59Z")),
            at("2026-11-30T07:00:00Z")
        );
        assert_eq!(
            next_digest_at(at("2026-11-30T07:00:00Z")),
            at("2026-12-01T07:00:00Z")
        );
        assert_eq!(
            next_digest_at(at("2026-12-31T23:00:00Z")),
            at("2027-01-01T07:00:00Z")
        );
    }
}
