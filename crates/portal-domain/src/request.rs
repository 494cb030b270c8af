//! The life of a tenant subscription request: its statuses and the moves allowed between them.

use std::fmt;
use std::str::FromStr;

/// The steps of provisioning a request, in the order they run.
pub const PROVISIONING_STEPS: [&str; 6] = [
    STEP_RESERVE_NAMES,
    STEP_CREATE_TENANT,
    STEP_CREATE_ADMINISTRATOR,
    STEP_CLONE_CONFIGURATION,
    STEP_ASSIGN_ANI_AND_UPN_SUFFIX,
    STEP_ACTIVATE,
];
pub const STEP_RESERVE_NAMES: &str = "reserve_names";
pub const STEP_CREATE_TENANT: &str = "create_tenant";
pub const STEP_CREATE_ADMINISTRATOR: &str = "create_administrator";
pub const STEP_CLONE_CONFIGURATION: &str = "clone_configuration";
pub const STEP_ASSIGN_ANI_AND_UPN_SUFFIX: &str = "assign_ani_and_upn_suffix";
pub const STEP_ACTIVATE: &str = "activate";

/// Where a subscription request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    PendingVerification,
    PendingApproval,
    Accepted,
    Scheduled,
    Provisioning,
    Completed,
    Failed,
    Cancelled,
    Rejected,
}

/// A move the current status does not allow; names both ends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a request that is {from} cannot be {action}")]
pub struct TransitionError {
    pub from: RequestStatus,
    pub action: &'static str,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 9] = [
        Self::PendingVerification,
        Self::PendingApproval,
        Self::Accepted,
        Self::Scheduled,
        Self::Provisioning,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingVerification => "pending_verification",
            Self::PendingApproval => "pending_approval",
            Self::Accepted => "accepted",
            Self::Scheduled => "scheduled",
            Self::Provisioning => "provisioning",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
        }
    }

    /// True while the request still holds its tenant's names (they stay taken).
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Failed | Self::Cancelled | Self::Rejected)
    }

    fn refuse(self, action: &'static str) -> TransitionError {
        TransitionError { from: self, action }
    }

    /// The statuses from which `action` (a staff action's name) is allowed, and where it leads.
    pub fn action(self, action: &str) -> Option<Result<Self, TransitionError>> {
        Some(match action {
            "retry" => self.retry(),
            "cancel" => self.cancel(),
            "run-now" => self.run_now(),
            "reschedule" => self.reschedule(),
            "approve" => self.approve(),
            "reject" => self.reject(),
            _ => return None,
        })
    }

    /// The worker starts (or resumes) provisioning.
    pub fn start_provisioning(self) -> Result<Self, TransitionError> {
        match self {
            Self::Accepted | Self::Scheduled | Self::Provisioning => Ok(Self::Provisioning),
            other => Err(other.refuse("provisioned")),
        }
    }

    /// Provisioning finished with a working tenant.
    pub fn complete(self) -> Result<Self, TransitionError> {
        match self {
            Self::Provisioning => Ok(Self::Completed),
            other => Err(other.refuse("completed")),
        }
    }

    /// Staff retry a failed request.
    pub fn retry(self) -> Result<Self, TransitionError> {
        match self {
            Self::Failed => Ok(Self::Accepted),
            other => Err(other.refuse("retried")),
        }
    }

    /// Staff cancel a request that has not started.
    pub fn cancel(self) -> Result<Self, TransitionError> {
        match self {
            Self::Accepted
            | Self::Scheduled
            | Self::PendingApproval
            | Self::PendingVerification => Ok(Self::Cancelled),
            other => Err(other.refuse("cancelled")),
        }
    }

    /// Staff start a scheduled request now.
    pub fn run_now(self) -> Result<Self, TransitionError> {
        match self {
            Self::Scheduled => Ok(Self::Accepted),
            other => Err(other.refuse("run now")),
        }
    }

    /// Staff move a scheduled request to another time.
    pub fn reschedule(self) -> Result<Self, TransitionError> {
        match self {
            Self::Scheduled => Ok(Self::Scheduled),
            other => Err(other.refuse("rescheduled")),
        }
    }

    /// A landlord administrator approves a self-service request; it then goes where the
    /// provisioning policy places it (accepted, or scheduled).
    pub fn approve(self) -> Result<Self, TransitionError> {
        match self {
            Self::PendingApproval => Ok(Self::Accepted),
            other => Err(other.refuse("approved")),
        }
    }

    /// A landlord administrator turns a self-service request down before it starts.
    pub fn reject(self) -> Result<Self, TransitionError> {
        match self {
            Self::PendingApproval | Self::PendingVerification => Ok(Self::Rejected),
            other => Err(other.refuse("rejected")),
        }
    }

    /// The prospect confirmed the contact address: on to approval, or straight on.
    pub fn confirm(self, needs_approval: bool) -> Result<Self, TransitionError> {
        match self {
            Self::PendingVerification if needs_approval => Ok(Self::PendingApproval),
            Self::PendingVerification => Ok(Self::Accepted),
            other => Err(other.refuse("confirmed")),
        }
    }

    /// Provisioning gave up.
    pub fn fail(self) -> Result<Self, TransitionError> {
        match self {
            Self::Accepted | Self::Scheduled | Self::Provisioning => Ok(Self::Failed),
            other => Err(other.refuse("failed")),
        }
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text that names no status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown request status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for RequestStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_name() {
        for status in RequestStatus::ALL {
            assert_eq!(status.as_str().parse::<RequestStatus>().unwrap(), status);
        }
        assert!("done".parse::<RequestStatus>().is_err());
    }

    #[test]
    fn only_waiting_requests_start_provisioning_and_a_crash_may_resume() {
        assert_eq!(
            RequestStatus::Accepted.start_provisioning(),
            Ok(RequestStatus::Provisioning)
        );
        assert_eq!(
            RequestStatus::Provisioning.start_provisioning(),
            Ok(RequestStatus::Provisioning)
        );
        let err = RequestStatus::Completed.start_provisioning().unwrap_err();
        assert_eq!(
            err.to_string(),
            "a request that is completed cannot be provisioned"
        );
        assert!(RequestStatus::Cancelled.start_provisioning().is_err());
    }

    #[test]
    fn staff_actions_are_allowed_only_from_their_statuses() {
        assert_eq!(RequestStatus::Failed.retry(), Ok(RequestStatus::Accepted));
        assert!(RequestStatus::Completed.retry().is_err());
        assert_eq!(
            RequestStatus::Scheduled.cancel(),
            Ok(RequestStatus::Cancelled)
        );
        assert_eq!(
            RequestStatus::Accepted.cancel(),
            Ok(RequestStatus::Cancelled)
        );
        assert!(RequestStatus::Provisioning.cancel().is_err());
        assert_eq!(
            RequestStatus::Scheduled.run_now(),
            Ok(RequestStatus::Accepted)
        );
        assert!(RequestStatus::Accepted.run_now().is_err());
        assert!(RequestStatus::Accepted.reschedule().is_err());
        let err = RequestStatus::Completed.cancel().unwrap_err();
        assert_eq!(
            err.to_string(),
            "a request that is completed cannot be cancelled"
        );
    }

    #[test]
    fn only_self_service_requests_are_approved_rejected_or_confirmed() {
        assert_eq!(
            RequestStatus::PendingApproval.action("approve"),
            Some(Ok(RequestStatus::Accepted))
        );
        assert_eq!(
            RequestStatus::PendingVerification.action("reject"),
            Some(Ok(RequestStatus::Rejected))
        );
        assert!(RequestStatus::Accepted.approve().is_err());
        assert!(RequestStatus::PendingVerification.approve().is_err());
        assert!(RequestStatus::Provisioning.reject().is_err());
        assert_eq!(
            RequestStatus::PendingVerification.confirm(true),
            Ok(RequestStatus::PendingApproval)
        );
        assert_eq!(
            RequestStatus::PendingVerification.confirm(false),
            Ok(RequestStatus::Accepted)
        );
        assert!(RequestStatus::Cancelled.confirm(false).is_err());
        assert_eq!(
            RequestStatus::Completed.reject().unwrap_err().to_string(),
            "a request that is completed cannot be rejected"
        );
    }

    #[test]
    fn only_a_provisioning_request_completes() {
        assert_eq!(
            RequestStatus::Provisioning.complete(),
            Ok(RequestStatus::Completed)
        );
        assert!(RequestStatus::Accepted.complete().is_err());
        assert!(RequestStatus::Completed.fail().is_err());
    }
}
