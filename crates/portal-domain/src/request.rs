//! The life of a tenant subscription request: its statuses, the moves allowed between them and
//! what each move means (its event, and what becomes of the request's names), staff actions,
//! and the note a request keeps of what went wrong.

use crate::text::sql_list;

crate::text_enum! {
    /// Where a subscription request stands.
    pub enum RequestStatus as "request status" {
        PendingVerification = "pending_verification",
        PendingApproval = "pending_approval",
        /// Confirmed, waiting for its UPN suffix's owner to publish the DNS record that
        /// proves it (when the self-service policy asks for it).
        PendingDomain = "pending_domain",
        Accepted = "accepted",
        Scheduled = "scheduled",
        Provisioning = "provisioning",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
        Rejected = "rejected",
    }
}

crate::text_enum! {
    /// What a person on the provider's staff may do to a request, as the API and pages name it.
    pub enum StaffAction as "action" {
        Retry = "retry",
        Cancel = "cancel",
        RunNow = "run-now",
        Reschedule = "reschedule",
        Approve = "approve",
        Reject = "reject",
        /// Mark a waiting request's domain as verified by hand.
        VerifyDomain = "verify-domain",
    }
}

crate::text_enum! {
    /// What happened to a request, as its history records it.
    pub enum RequestEvent as "request event" {
        Submitted = "submitted",
        /// Its contact address was confirmed.
        Verified = "verified",
        /// Its contact address was not confirmed in time.
        Expired = "expired",
        ProvisioningStarted = "provisioning_started",
        Completed = "completed",
        Failed = "failed",
        Retried = "retry",
        Cancelled = "cancel",
        RanNow = "run-now",
        Rescheduled = "reschedule",
        Approved = "approve",
        /// Its UPN suffix's DNS record was seen, or staff marked the domain verified.
        DomainVerified = "verify-domain",
        Rejected = "reject",
    }
}

crate::text_enum! {
    /// The names a request holds, each unique among tenants and open requests.
    pub enum NameKind as "kind of name" {
        TenantName = "name",
        ShortName = "short_name",
        UpnSuffix = "upn_suffix",
    }
}

impl NameKind {
    /// The submission's field that holds this name.
    pub fn field(self) -> &'static str {
        match self {
            Self::TenantName => "tenant.name",
            Self::ShortName => "tenant.short_name",
            Self::UpnSuffix => "tenant.upn_suffix",
        }
    }

    /// The name as people call it in a sentence.
    pub fn label(self) -> &'static str {
        match self {
            Self::TenantName => "tenant name",
            Self::ShortName => "short name",
            Self::UpnSuffix => "UPN suffix",
        }
    }
}

impl StaffAction {
    /// The event that records this action.
    pub fn event(self) -> RequestEvent {
        match self {
            Self::Retry => RequestEvent::Retried,
            Self::Cancel => RequestEvent::Cancelled,
            Self::RunNow => RequestEvent::RanNow,
            Self::Reschedule => RequestEvent::Rescheduled,
            Self::Approve => RequestEvent::Approved,
            Self::Reject => RequestEvent::Rejected,
            Self::VerifyDomain => RequestEvent::DomainVerified,
        }
    }

    /// The action as a past participle, for "a request that is … cannot be …".
    pub fn participle(self) -> &'static str {
        match self {
            Self::Retry => "retried",
            Self::Cancel => "cancelled",
            Self::RunNow => "run now",
            Self::Reschedule => "rescheduled",
            Self::Approve => "approved",
            Self::Reject => "rejected",
            Self::VerifyDomain => "marked as owning its domain",
        }
    }

    /// The action as the audit log records it.
    pub fn audit_action(self) -> crate::AuditAction {
        use crate::AuditAction as A;
        match self {
            Self::Retry => A::RequestRetried,
            Self::Cancel => A::RequestCancelled,
            Self::RunNow => A::RequestRunNow,
            Self::Reschedule => A::RequestRescheduled,
            Self::Approve => A::RequestApproved,
            Self::Reject => A::RequestRejected,
            Self::VerifyDomain => A::DomainVerified,
        }
    }
}

/// A move the current status does not allow; names both ends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a request that is {from} cannot be {action}")]
pub struct TransitionError {
    pub from: RequestStatus,
    /// The move, as a past participle (`cancelled`, `run now`).
    pub action: &'static str,
}

/// What a move does to the request's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameEffect {
    /// They stay as they are.
    Keep,
    /// They are taken again, for good: a failed request is tried anew.
    Take,
    /// They are freed: the request ended without a tenant.
    Release,
}

/// What a move between statuses means; the store carries it out as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: RequestStatus,
    pub to: RequestStatus,
    pub event: RequestEvent,
    pub names: NameEffect,
    /// The request starts over: its steps are pending again, its error, end and outcome email
    /// are cleared.
    pub fresh_attempt: bool,
}

impl Transition {
    fn new(from: RequestStatus, to: RequestStatus, event: RequestEvent) -> Self {
        let names = if to.is_open() {
            NameEffect::Keep
        } else {
            NameEffect::Release
        };
        Self {
            from,
            to,
            event,
            names,
            fresh_attempt: false,
        }
    }

    /// An approved request goes where the provisioning policy places it: `accepted` or
    /// `scheduled`. Any other status leaves the move as it was.
    pub fn placed(mut self, placed: RequestStatus) -> Self {
        if self.to == RequestStatus::Accepted
            && matches!(placed, RequestStatus::Accepted | RequestStatus::Scheduled)
        {
            self.to = placed;
        }
        self
    }
}

/// What went wrong with a request, as it keeps it: shown on its pages and in the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorNote {
    /// Provisioning gave up; what a person can do about it.
    Failed(String),
    /// The provider's staff turned it down, with their reason.
    Rejected(String),
    /// A name was taken by the time its contact address was confirmed.
    NameTaken,
    /// Its contact address was not confirmed in time.
    Unconfirmed,
    /// Its domain's DNS record was not seen in time.
    DomainUnproven,
}

crate::text_enum! {
    /// The kind of an `ErrorNote`, as stored beside its text.
    pub enum ErrorKind as "kind of error" {
        Failed = "failed",
        Rejected = "rejected",
        NameTaken = "name_taken",
        Unconfirmed = "unconfirmed",
        DomainUnproven = "domain_unproven",
    }
}

impl ErrorNote {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Failed(_) => ErrorKind::Failed,
            Self::Rejected(_) => ErrorKind::Rejected,
            Self::NameTaken => ErrorKind::NameTaken,
            Self::Unconfirmed => ErrorKind::Unconfirmed,
            Self::DomainUnproven => ErrorKind::DomainUnproven,
        }
    }

    /// The words that go with the note: a person's, or the failure's message.
    pub fn words(&self) -> Option<&str> {
        match self {
            Self::Failed(text) | Self::Rejected(text) => Some(text),
            Self::NameTaken | Self::Unconfirmed | Self::DomainUnproven => None,
        }
    }

    /// The note read back from its kind and words; `None` when they do not belong together.
    pub fn from_parts(kind: ErrorKind, words: Option<String>) -> Option<Self> {
        match (kind, words) {
            (ErrorKind::Failed, Some(text)) => Some(Self::Failed(text)),
            (ErrorKind::Rejected, Some(text)) => Some(Self::Rejected(text)),
            (ErrorKind::NameTaken, None) => Some(Self::NameTaken),
            (ErrorKind::Unconfirmed, None) => Some(Self::Unconfirmed),
            (ErrorKind::DomainUnproven, None) => Some(Self::DomainUnproven),
            _ => None,
        }
    }

    /// The note as people read it.
    pub fn message(&self) -> &str {
        match self {
            Self::Failed(text) | Self::Rejected(text) => text,
            Self::NameTaken => {
                "A name of this request is already used by another tenant or request."
            }
            Self::Unconfirmed => "The contact address was not confirmed in time.",
            Self::DomainUnproven => {
                "The domain's DNS record was not seen within 30 days of the confirmation."
            }
        }
    }
}

impl std::fmt::Display for ErrorNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl RequestStatus {
    /// The statuses that take a place in an off-peak window: it is kept for them until they
    /// end without a tenant.
    pub const IN_A_WINDOW: [RequestStatus; 4] = [
        Self::Scheduled,
        Self::Accepted,
        Self::Provisioning,
        Self::Completed,
    ];

    /// `IN_A_WINDOW` as an SQL list.
    pub fn in_a_window_sql() -> String {
        sql_list(&Self::IN_A_WINDOW, Self::as_str)
    }

    /// The status in words (`pending approval`).
    pub fn label(self) -> String {
        self.as_str().replace('_', " ")
    }

    /// True while the request still holds its tenant's names (they stay taken).
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Failed | Self::Cancelled | Self::Rejected)
    }

    /// True once the request has ended, with a tenant or without (a failed one may be retried).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::Rejected
        )
    }

    fn refuse(self, action: &'static str) -> TransitionError {
        TransitionError { from: self, action }
    }

    fn to(self, to: Self, event: RequestEvent) -> Transition {
        Transition::new(self, to, event)
    }

    /// What a staff action does from this status.
    pub fn act(self, action: StaffAction) -> Result<Transition, TransitionError> {
        let event = action.event();
        let to = match action {
            StaffAction::Retry => self.retry(),
            StaffAction::Cancel => self.cancel(),
            StaffAction::RunNow => self.run_now(),
            StaffAction::Reschedule => self.reschedule(),
            StaffAction::Approve => self.approve(),
            StaffAction::Reject => self.reject(),
            StaffAction::VerifyDomain => self.verify_domain(false).map(|t| t.to),
        }?;
        let mut transition = self.to(to, event);
        if action == StaffAction::Retry {
            transition.names = NameEffect::Take;
            transition.fresh_attempt = true;
        }
        Ok(transition)
    }

    /// Whether the outcome email may be sent again: only a finished request (completed or
    /// failed) has one.
    pub fn resend_outcome(self) -> Result<(), TransitionError> {
        match self {
            Self::Completed | Self::Failed => Ok(()),
            other => Err(other.refuse("sent its outcome email again")),
        }
    }

    /// The worker starts provisioning a waiting request.
    pub fn begin_provisioning(self) -> Result<Transition, TransitionError> {
        match self {
            Self::Accepted | Self::Scheduled => {
                Ok(self.to(Self::Provisioning, RequestEvent::ProvisioningStarted))
            }
            other => Err(other.refuse("provisioned")),
        }
    }

    /// Provisioning finished with a working tenant.
    pub fn finish(self) -> Result<Transition, TransitionError> {
        self.complete()
            .map(|to| self.to(to, RequestEvent::Completed))
    }

    /// Provisioning gave up: what was made is removed and the names are freed.
    pub fn give_up(self) -> Result<Transition, TransitionError> {
        self.fail().map(|to| self.to(to, RequestEvent::Failed))
    }

    /// The contact address was confirmed and the names are still free.
    pub fn verify(self, needs_approval: bool) -> Result<Transition, TransitionError> {
        self.confirm(needs_approval)
            .map(|to| self.to(to, RequestEvent::Verified))
    }

    /// The contact address was confirmed; the domain's owner is yet to prove it.
    pub fn verify_awaiting_domain(self) -> Result<Transition, TransitionError> {
        match self {
            Self::PendingVerification => Ok(self.to(Self::PendingDomain, RequestEvent::Verified)),
            other => Err(other.refuse("confirmed")),
        }
    }

    /// The domain's DNS record was seen, or staff vouch for it: on to approval, or where the
    /// provisioning policy places it (`placed`).
    pub fn verify_domain(self, needs_approval: bool) -> Result<Transition, TransitionError> {
        match self {
            Self::PendingDomain if needs_approval => {
                Ok(self.to(Self::PendingApproval, RequestEvent::DomainVerified))
            }
            Self::PendingDomain => Ok(self.to(Self::Accepted, RequestEvent::DomainVerified)),
            other => Err(other.refuse("marked as owning its domain")),
        }
    }

    /// The contact address was confirmed, but a name was taken meanwhile.
    pub fn verify_name_taken(self) -> Result<Transition, TransitionError> {
        match self {
            Self::PendingVerification => Ok(self.to(Self::Rejected, RequestEvent::Verified)),
            other => Err(other.refuse("confirmed")),
        }
    }

    /// The contact address was not confirmed in time, or the domain's record not seen.
    pub fn expire(self) -> Result<Transition, TransitionError> {
        match self {
            Self::PendingVerification | Self::PendingDomain => {
                Ok(self.to(Self::Cancelled, RequestEvent::Expired))
            }
            other => Err(other.refuse("expired")),
        }
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
            | Self::PendingDomain
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
            Self::PendingApproval | Self::PendingDomain | Self::PendingVerification => {
                Ok(Self::Rejected)
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_name() {
        for status in RequestStatus::ALL {
            assert_eq!(status.as_str().parse::<RequestStatus>().unwrap(), *status);
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
            RequestStatus::PendingApproval
                .act(StaffAction::Approve)
                .map(|t| t.to),
            Ok(RequestStatus::Accepted)
        );
        assert_eq!(
            RequestStatus::PendingVerification
                .act(StaffAction::Reject)
                .map(|t| t.to),
            Ok(RequestStatus::Rejected)
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

    #[test]
    fn a_transition_says_what_becomes_of_the_names_and_which_event_records_it() {
        let retry = RequestStatus::Failed.act(StaffAction::Retry).unwrap();
        assert_eq!(retry.to, RequestStatus::Accepted);
        assert_eq!(retry.names, NameEffect::Take);
        assert!(retry.fresh_attempt);
        assert_eq!(retry.event.as_str(), "retry");
        let cancel = RequestStatus::Scheduled.act(StaffAction::Cancel).unwrap();
        assert_eq!(cancel.names, NameEffect::Release);
        assert!(!cancel.fresh_attempt);
        let run_now = RequestStatus::Scheduled.act(StaffAction::RunNow).unwrap();
        assert_eq!(run_now.names, NameEffect::Keep);
        assert_eq!(run_now.event, RequestEvent::RanNow);
        assert_eq!(
            RequestStatus::Provisioning.act(StaffAction::Cancel),
            Err(TransitionError {
                from: RequestStatus::Provisioning,
                action: "cancelled"
            })
        );
        let give_up = RequestStatus::Provisioning.give_up().unwrap();
        assert_eq!(
            (give_up.to, give_up.names, give_up.event),
            (
                RequestStatus::Failed,
                NameEffect::Release,
                RequestEvent::Failed
            )
        );
        assert!(RequestStatus::Completed.give_up().is_err());
        assert!(RequestStatus::Provisioning.begin_provisioning().is_err());
        assert_eq!(
            RequestStatus::PendingVerification.expire().unwrap().to,
            RequestStatus::Cancelled
        );
    }

    #[test]
    fn an_approval_goes_where_the_policy_places_it_and_nothing_else_moves() {
        let approve = RequestStatus::PendingApproval
            .act(StaffAction::Approve)
            .unwrap();
        assert_eq!(
            approve.placed(RequestStatus::Scheduled).to,
            RequestStatus::Scheduled
        );
        assert_eq!(
            approve.placed(RequestStatus::Completed).to,
            RequestStatus::Accepted
        );
        let cancel = RequestStatus::Scheduled.act(StaffAction::Cancel).unwrap();
        assert_eq!(
            cancel.placed(RequestStatus::Scheduled).to,
            RequestStatus::Cancelled
        );
    }

    #[test]
    fn staff_actions_and_events_read_back_from_their_names() {
        for action in StaffAction::ALL {
            assert_eq!(action.as_str().parse::<StaffAction>(), Ok(*action));
            assert_eq!(action.event().as_str(), action.as_str());
        }
        assert!("delete".parse::<StaffAction>().is_err());
        assert_eq!(
            StaffAction::RunNow.audit_action().as_str(),
            "request_run_now"
        );
    }

    #[test]
    fn an_error_note_reads_back_from_its_kind_and_words_only_when_they_fit() {
        for note in [
            ErrorNote::Failed("step failed".into()),
            ErrorNote::Rejected("no".into()),
            ErrorNote::NameTaken,
            ErrorNote::Unconfirmed,
        ] {
            let words = note.words().map(str::to_owned);
            assert_eq!(ErrorNote::from_parts(note.kind(), words), Some(note));
        }
        assert_eq!(ErrorNote::from_parts(ErrorKind::Failed, None), None);
        assert_eq!(
            ErrorNote::from_parts(ErrorKind::NameTaken, Some("x".into())),
            None
        );
    }

    #[test]
    fn the_window_list_in_sql_names_each_status_that_takes_a_place() {
        assert_eq!(
            RequestStatus::in_a_window_sql(),
            "'scheduled', 'accepted', 'provisioning', 'completed'"
        );
    }
}
