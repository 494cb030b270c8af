//! What the audit log records: each kind of deed, its name as kept and its words for people.

crate::text_enum! {
    /// A kind of deed the audit log records.
    pub enum AuditAction as "audit action" {
        SignIn = "sign_in",
        SignInFailed = "sign_in_failed",
        SignInRefused = "sign_in_refused",
        RequestSubmitted = "request_submitted",
        RequestRetried = "request_retry",
        RequestCancelled = "request_cancel",
        RequestRunNow = "request_run_now",
        RequestRescheduled = "request_reschedule",
        RequestApproved = "request_approve",
        RequestRejected = "request_reject",
        RegistrationSubmitted = "registration_submitted",
        RegistrationConfirmed = "registration_confirmed",
        RegistrationLinkResent = "registration_link_resent",
        TemplateCreated = "template_created",
        TemplateVersionAdded = "template_version_added",
        TemplateRetired = "template_retired",
        TemplateMadePublic = "template_made_public",
        TemplateMadePrivate = "template_made_private",
        PolicyChanged = "policy_changed",
        SelfServicePolicyChanged = "self_service_policy_changed",
        ParametersDraftSaved = "parameters_draft_saved",
        ParametersDraftDiscarded = "parameters_draft_discarded",
        ParametersPublished = "parameters_published",
        SignedOut = "signed_out",
        SessionEnded = "session_ended",
        OtherSessionsEnded = "other_sessions_ended",
        TokenCreated = "token_created",
        TokenRevoked = "token_revoked",
        PasswordChanged = "password_changed",
        PasswordResetRequested = "password_reset_requested",
        PasswordReset = "password_reset",
        UserInvited = "user_invited",
        InvitationAccepted = "invitation_accepted",
        UserRoleChanged = "user_role_changed",
        UserDisabled = "user_disabled",
        UserEnabled = "user_enabled",
        UserCreatedOnCommandLine = "user_created_on_command_line",
        PasswordLinkOnCommandLine = "password_link_on_command_line",
        TotpEnrolled = "totp_enrolled",
        TotpRemoved = "totp_removed",
        RecoveryCodesRenewed = "recovery_codes_renewed",
        RecoveryCodeUsed = "recovery_code_used",
        SecondFactorFailed = "second_factor_failed",
        SecurityPolicyChanged = "security_policy_changed",
        SecondFactorsResetOnCommandLine = "second_factors_reset_on_command_line",
        PasskeyAdded = "passkey_added",
        PasskeyRemoved = "passkey_removed",
        UserCreatedBySingleSignOn = "user_created_by_single_sign_on",
        TenantSuspended = "tenant_suspended",
        TenantResumed = "tenant_resumed",
        TenantClosed = "tenant_closed",
        TenantReopened = "tenant_reopened",
        TenantPurged = "tenant_purged",
        RetentionPolicyChanged = "retention_policy_changed",
        OutcomeEmailResent = "outcome_email_resent",
        PackageChangeStarted = "package_change_started",
        PackageChanged = "package_changed",
        PackageChangeFailed = "package_change_failed",
        ConfigurationObjectChanged = "configuration_object_changed",
    }
}

impl AuditAction {
    /// The deed in words people read.
    // This must be longer: one arm per action.
    pub fn label(self) -> &'static str {
        match self {
            Self::SignIn => "Signed in",
            Self::SignInFailed => "Sign-in failed",
            Self::SignInRefused => "Sign-in refused after too many failures",
            Self::RequestSubmitted => "Request submitted",
            Self::RequestRetried => "Request retried",
            Self::RequestCancelled => "Request cancelled",
            Self::RequestRunNow => "Request run now",
            Self::RequestRescheduled => "Request rescheduled",
            Self::RequestApproved => "Request approved",
            Self::RequestRejected => "Request rejected",
            Self::RegistrationSubmitted => "Registration sent by a prospect",
            Self::RegistrationConfirmed => "Prospect's address confirmed",
            Self::RegistrationLinkResent => "Confirmation link sent again",
            Self::TemplateCreated => "Template created",
            Self::TemplateVersionAdded => "Template version added",
            Self::TemplateRetired => "Template retired",
            Self::TemplateMadePublic => "Template offered publicly",
            Self::TemplateMadePrivate => "Template no longer offered publicly",
            Self::PolicyChanged => "Provisioning policy changed",
            Self::SelfServicePolicyChanged => "Self-service policy changed",
            Self::ParametersDraftSaved => "Smart Queues draft saved",
            Self::ParametersDraftDiscarded => "Smart Queues draft discarded",
            Self::ParametersPublished => "Smart Queues parameters published",
            Self::SignedOut => "Signed out",
            Self::SessionEnded => "A session ended by its owner",
            Self::OtherSessionsEnded => "Signed out everywhere else",
            Self::TokenCreated => "Personal API token created",
            Self::TokenRevoked => "Personal API token revoked",
            Self::PasswordChanged => "Password changed",
            Self::PasswordResetRequested => "Password reset asked for",
            Self::PasswordReset => "Password set from a reset link",
            Self::UserInvited => "Account invited",
            Self::InvitationAccepted => "Invitation accepted",
            Self::UserRoleChanged => "Account's role changed",
            Self::UserDisabled => "Account disabled",
            Self::UserEnabled => "Account enabled again",
            Self::UserCreatedOnCommandLine => "Account created on the command line",
            Self::PasswordLinkOnCommandLine => "Set-password link made on the command line",
            Self::TotpEnrolled => "Authenticator app set up",
            Self::TotpRemoved => "Authenticator app removed",
            Self::RecoveryCodesRenewed => "New recovery codes made",
            Self::RecoveryCodeUsed => "Signed in with a recovery code",
            Self::SecondFactorFailed => "Second factor refused at sign-in",
            Self::SecurityPolicyChanged => "Security policy changed",
            Self::SecondFactorsResetOnCommandLine => "Second factors removed on the command line",
            Self::PasskeyAdded => "Passkey added",
            Self::PasskeyRemoved => "Passkey removed",
            Self::UserCreatedBySingleSignOn => "Account made at its first single sign-on",
            Self::TenantSuspended => "Tenant suspended",
            Self::TenantResumed => "Tenant resumed",
            Self::TenantClosed => "Tenant closed",
            Self::TenantReopened => "Tenant reopened",
            Self::TenantPurged => "Tenant's data purged",
            Self::RetentionPolicyChanged => "Retention policy changed",
            Self::OutcomeEmailResent => "Outcome email sent again",
            Self::PackageChangeStarted => "Change of service package started",
            Self::PackageChanged => "Service package changed",
            Self::PackageChangeFailed => "Change of service package failed and undone",
            Self::ConfigurationObjectChanged => "Configuration object changed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_words_of_its_own() {
        let mut labels: Vec<_> = AuditAction::ALL.iter().map(|a| a.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), AuditAction::ALL.len());
        assert!(labels.iter().all(|l| !l.contains('_')));
    }
}
