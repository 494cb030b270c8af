//! A request's history: one event per move, written in the transaction that makes it.

use portal_domain::{RequestEvent, RequestStatus, Transition};
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::batch::Binds;
use crate::row::{parsed, parsed_opt};
use crate::{Store, StoreError};

/// An event in a request's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub at: i64,
    pub actor_id: Option<String>,
    /// The acting user's name, while the user exists.
    pub actor_name: Option<String>,
    pub action: RequestEvent,
    pub from_status: Option<RequestStatus>,
    pub to_status: Option<RequestStatus>,
    pub detail: Option<String>,
}

impl FromRow<'_, AnyRow> for EventRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            at: row.try_get("at")?,
            actor_id: row.try_get("actor_id")?,
            actor_name: row.try_get("actor_name")?,
            action: parsed(row, "action")?,
            from_status: parsed_opt(row, "from_status")?,
            to_status: parsed_opt(row, "to_status")?,
            detail: row.try_get("detail")?,
        })
    }
}

/// An event to record with a change.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub actor_id: Option<&'a str>,
    pub action: RequestEvent,
    pub from_status: Option<RequestStatus>,
    pub to_status: Option<RequestStatus>,
    pub detail: Option<&'a str>,
}

impl<'a> NewEvent<'a> {
    /// The event of a move, by nobody in particular and with nothing more to say.
    pub fn of(transition: &Transition) -> Self {
        Self {
            actor_id: None,
            action: transition.event,
            from_status: Some(transition.from),
            to_status: Some(transition.to),
            detail: None,
        }
    }

    pub fn by(self, actor_id: Option<&'a str>) -> Self {
        Self { actor_id, ..self }
    }

    pub fn saying(self, detail: Option<&'a str>) -> Self {
        Self { detail, ..self }
    }
}

/// The statement that records an event, with [`event_values`].
pub(crate) const INSERT_EVENT: &str = "INSERT INTO request_events (id, request_id, at, actor_id, action, \
     from_status, to_status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The values of [`INSERT_EVENT`].
pub(crate) fn event_values<B: Binds>(
    values: B,
    request_id: &str,
    event: &NewEvent<'_>,
    now: i64,
) -> B {
    values
        .with(crate::new_id())
        .with(request_id)
        .with(now)
        .with(event.actor_id)
        .with(event.action.as_str())
        .with(event.from_status.map(RequestStatus::as_str))
        .with(event.to_status.map(RequestStatus::as_str))
        .with(event.detail)
}

pub(crate) async fn record_event(
    tx: &mut crate::WriteTx,
    request_id: &str,
    event: &NewEvent<'_>,
    now: i64,
) -> Result<(), StoreError> {
    event_values(sqlx::query(INSERT_EVENT), request_id, event, now)
        .execute(&mut **tx)
        .await?;
    if let Some(told) = portal_domain::EventType::of_request(event.action, event.to_status) {
        let state = event.to_status.map(RequestStatus::as_str);
        crate::webhook::emit(tx, told, (request_id, state), now).await?;
    }
    Ok(())
}

impl Store {
    /// A request's history, oldest first.
    pub async fn request_events(&self, request_id: &str) -> Result<Vec<EventRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT e.at, e.actor_id, u.username AS actor_name, e.action, e.from_status, \
             e.to_status, e.detail FROM request_events e LEFT JOIN users u ON u.id = e.actor_id \
             WHERE e.request_id = $1 ORDER BY e.at, e.id",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
