//! Bulk actions in Tenant Creation Management: one action on many requests, each done or
//! refused on its own (a request another member of staff moved meanwhile is refused, the rest
//! done), each with its own audit entry.

use portal_domain::{StaffAction, TransitionError};

use super::request::{self, ActionError};
use super::{Actor, ServiceError, Services};

/// The most requests one bulk action takes.
pub const MAX_IDS: usize = 500;

portal_domain::text_enum! {
    /// What a bulk action does to each request.
    pub enum BulkAction as "bulk action" {
        /// Provision a failed request again.
        Retry = "retry",
        /// Cancel a request not started.
        Cancel = "cancel",
        /// Send a finished request's outcome email again.
        Resend = "resend",
    }
}

/// Why one request of a bulk action was not done, as a machine code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub id: String,
    /// `not_found`, `status` (its status does not allow the action), `taken` (a retry whose
    /// names are now another's) or `unavailable`.
    pub code: &'static str,
}

/// What a bulk action did: the requests done, and those refused with why, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkResult {
    pub done: Vec<String>,
    pub refused: Vec<Refused>,
}

/// Why a bulk action was not started at all.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("give 1 to {MAX_IDS} request ids, each as the portal wrote it")]
    BadIds,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Does `action` to each request of `ids` (1 to 500, repeated ids once), one after another.
pub async fn act(
    services: &Services,
    actor: &Actor,
    action: BulkAction,
    ids: &[String],
) -> Result<BulkResult, BulkError> {
    actor.require(portal_domain::Permission::ActOnRequests)?;
    // An id the portal could have made: not empty, short, printable.
    let plausible =
        |id: &String| !id.is_empty() && id.len() <= 128 && !id.chars().any(char::is_control);
    if ids.is_empty() || ids.len() > MAX_IDS || !ids.iter().all(plausible) {
        return Err(BulkError::BadIds);
    }
    let mut result = BulkResult::default();
    let mut seen = std::collections::HashSet::new();
    for id in ids.iter().filter(|id| seen.insert(id.as_str())) {
        let outcome = match action {
            BulkAction::Retry => one(services, actor, id, StaffAction::Retry).await,
            BulkAction::Cancel => one(services, actor, id, StaffAction::Cancel).await,
            BulkAction::Resend => request::resend_outcome(services, actor, id).await.map(drop),
        };
        match outcome {
            Ok(()) => result.done.push(id.clone()),
            Err(e) => result.refused.push(Refused {
                id: id.clone(),
                code: code_of(e)?,
            }),
        }
    }
    Ok(result)
}

async fn one(
    services: &Services,
    actor: &Actor,
    id: &str,
    action: StaffAction,
) -> Result<(), ActionError> {
    request::act_on_request(services, actor, id, action, None, None)
        .await
        .map(drop)
}

/// The code of one request's refusal; a failure of the portal's own stops the whole action.
fn code_of(e: ActionError) -> Result<&'static str, BulkError> {
    Ok(match e {
        ActionError::NotAllowed(TransitionError { .. }) => "status",
        ActionError::Taken(_) => "taken",
        ActionError::BadInput(_) => "status",
        ActionError::Service(ServiceError::NotFound) => "not_found",
        ActionError::Service(ServiceError::Unavailable | ServiceError::Overloaded) => "unavailable",
        ActionError::Service(e) => return Err(e.into()),
    })
}
