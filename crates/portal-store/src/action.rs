//! Moving a request between statuses, as the domain's state machine decided: staff actions
//! and the start of provisioning. The store checks that the request is still where the move
//! starts and carries out what the move means; it decides nothing of its own.

use portal_domain::{
    ErrorNote, NameEffect, NotificationStatus, RequestStatus, StepStatus, Transition,
};

use crate::audit::AuditEntry;
use crate::error::Conflict;
use crate::event::{NewEvent, record_event};
use crate::job::{NewJob, cancel_queued_jobs, enqueue_in, move_queued_jobs};
use crate::mail::NewMail;
use crate::names::{free_names, reserve_names};
use crate::request::{RequestRow, WindowCap};
use crate::{Store, StoreError};

/// A move of one request, and what goes with it.
#[derive(Debug, Clone)]
pub struct RequestMove<'a> {
    pub request_id: &'a str,
    pub transition: Transition,
    /// Who made it; `None` for the portal itself.
    pub actor_id: Option<&'a str>,
    pub now: i64,
    /// When the request's job is to run, for moves that (re)start it.
    pub run: Option<Run<'a>>,
    /// A rejection's reason: kept as the request's error, in its event, and in `mail`.
    pub reason: Option<&'a str>,
    /// The audit entry of a person's action (its tenant is the request's).
    pub audit: Option<&'a AuditEntry>,
    /// A message to its contact, sent with the move.
    pub mail: Option<&'a NewMail>,
}

/// When a moved request's provisioning job runs.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    /// Its queued job moves to this time, or `job` is enqueued then when it has none.
    pub at: i64,
    /// The request's new `scheduled_for`; `None` keeps it.
    pub scheduled_for: Option<i64>,
    /// The capped off-peak window it takes a place in, checked here.
    pub window_cap: Option<WindowCap>,
    pub job: &'a NewJob,
}

impl<'a> RequestMove<'a> {
    /// A move with nothing else to it, made by the portal now.
    pub fn new(request_id: &'a str, transition: Transition, now: i64) -> Self {
        Self {
            request_id,
            transition,
            actor_id: None,
            now,
            run: None,
            reason: None,
            audit: None,
            mail: None,
        }
    }
}

impl Store {
    /// Carries out a move of a request in one transaction, only if the request is still in
    /// the status the move starts from (`Conflict::StatusMoved` names where it is otherwise);
    /// records its event.
    pub async fn move_request(&self, change: &RequestMove<'_>) -> Result<(), StoreError> {
        let t = change.transition;
        let mut tx = self.begin_write().await?;
        let request = self.lock_request(&mut tx, change.request_id).await?;
        if request.status != t.from {
            return Err(Conflict::StatusMoved(request.status).into());
        }
        if let Some(window) = change.run.as_ref().and_then(|r| r.window_cap) {
            self.check_window(&mut tx, window).await?;
        }
        apply_name_effect(&mut tx, &request, &t, change.now).await?;
        update_request(&mut tx, &request, change).await?;
        if let Some(mail) = change.mail {
            crate::mail::put_in_outbox(&mut tx, mail, change.now).await?;
        }
        if let Some(run) = &change.run
            && move_queued_jobs(&mut tx, &request.id, run.at).await? == 0
        {
            let job = NewJob {
                run_at: run.at,
                ..run.job.clone()
            };
            enqueue_in(&mut tx, &job, change.now).await?;
        }
        if t.event == portal_domain::RequestEvent::DomainVerified {
            crate::domain::mark_verified(&mut tx, &request.id, change.actor_id, change.now).await?;
        }
        let event = NewEvent::of(&t).by(change.actor_id).saying(change.reason);
        record_event(&mut tx, &request.id, &event, change.now).await?;
        if let Some(entry) = change.audit {
            let entry = AuditEntry {
                tenant_id: request.tenant_id.clone(),
                ..entry.clone()
            };
            crate::audit::insert(&mut *tx, &entry, change.now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Takes the names again (a new attempt starts with its steps pending and no outcome email),
/// or frees them and drops the request's queued jobs, as the move says.
async fn apply_name_effect(
    tx: &mut crate::WriteTx,
    request: &RequestRow,
    t: &Transition,
    now: i64,
) -> Result<(), StoreError> {
    match t.names {
        NameEffect::Keep => {}
        NameEffect::Take => {
            let names = request.names();
            reserve_names(tx, &names, None, now).await?;
        }
        NameEffect::Release => {
            free_names(tx, &request.id).await?;
            cancel_queued_jobs(tx, &request.id).await?;
        }
    }
    if t.fresh_attempt {
        sqlx::query(
            "UPDATE request_steps SET status = $1, started_at = NULL, finished_at = NULL \
             WHERE request_id = $2",
        )
        .bind(StepStatus::Pending.as_str())
        .bind(&request.id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The request's new status, times and error.
async fn update_request(
    tx: &mut crate::WriteTx,
    request: &RequestRow,
    change: &RequestMove<'_>,
) -> Result<(), StoreError> {
    let t = change.transition;
    let now = change.now;
    let error = match change.reason {
        Some(reason) => Some(ErrorNote::Rejected(reason.to_owned())),
        None if t.fresh_attempt => None,
        None => request.error.clone(),
    };
    let started_at = match t.to {
        RequestStatus::Provisioning => request.started_at.or(Some(now)),
        _ => request.started_at,
    };
    let finished_at = if t.to.is_finished() {
        Some(now)
    } else if t.fresh_attempt {
        None
    } else {
        request.finished_at
    };
    let (notification, sent_at) = if t.fresh_attempt {
        (NotificationStatus::None, None)
    } else {
        (request.notification_status, request.notification_sent_at)
    };
    let scheduled_for = change
        .run
        .as_ref()
        .and_then(|r| r.scheduled_for)
        .or(request.scheduled_for);
    sqlx::query(
        "UPDATE subscription_requests SET status = $1, scheduled_for = $2, error = $3, \
         error_kind = $4, started_at = $5, finished_at = $6, notification_status = $7, \
         notification_sent_at = $8 WHERE id = $9",
    )
    .bind(t.to.as_str())
    .bind(scheduled_for)
    .bind(error.as_ref().and_then(ErrorNote::words))
    .bind(error.as_ref().map(|e| e.kind().as_str()))
    .bind(started_at)
    .bind(finished_at)
    .bind(notification.as_str())
    .bind(sent_at)
    .bind(&request.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
