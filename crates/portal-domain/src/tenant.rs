//! Tenants: where a tenant made by provisioning stands, and what staff may do with it.

crate::text_enum! {
    /// Where a tenant stands. It is `provisioning` from its creation step until it is
    /// activated; `suspended` (a customer who stopped paying) and `closed` (one who left, kept
    /// for the retention period) keep everything but let nobody in; `purged` is what remains
    /// once a closed tenant's data is deleted: a tombstone.
    pub enum TenantStatus as "tenant status" {
        Provisioning = "provisioning",
        Active = "active",
        Suspended = "suspended",
        Closed = "closed",
        Purged = "purged",
    }
}

crate::text_enum! {
    /// What the provider's staff, or the retention policy, do with a tenant.
    pub enum TenantAction as "tenant action" {
        /// Let nobody in until resumed (its users' sessions and tokens end).
        Suspend = "suspend",
        /// Let its users in again.
        Resume = "resume",
        /// The customer left: nobody in, and its data deleted once the retention is over.
        Close = "close",
        /// Undo a close within the retention.
        Reopen = "reopen",
        /// Delete a closed tenant's data, keeping its tombstone (the retention's job).
        Purge = "purge",
    }
}

/// An action the tenant's status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} tenant cannot be {}", .action.participle())]
pub struct TenantActionError {
    pub from: TenantStatus,
    pub action: TenantAction,
}

impl TenantAction {
    /// The action as a sentence says it was done: "suspended".
    pub const fn participle(self) -> &'static str {
        match self {
            Self::Suspend => "suspended",
            Self::Resume => "resumed",
            Self::Close => "closed",
            Self::Reopen => "reopened",
            Self::Purge => "purged",
        }
    }

    /// Whether staff must say why (it is kept, and emailed to the tenant's contact).
    pub const fn needs_reason(self) -> bool {
        matches!(self, Self::Suspend | Self::Close)
    }

    /// What the audit log calls it.
    pub const fn audit_action(self) -> crate::AuditAction {
        match self {
            Self::Suspend => crate::AuditAction::TenantSuspended,
            Self::Resume => crate::AuditAction::TenantResumed,
            Self::Close => crate::AuditAction::TenantClosed,
            Self::Reopen => crate::AuditAction::TenantReopened,
            Self::Purge => crate::AuditAction::TenantPurged,
        }
    }
}

impl TenantStatus {
    /// The status `action` leads to from this one, or why it is not allowed.
    pub fn act(self, action: TenantAction) -> Result<Self, TenantActionError> {
        use TenantAction as A;
        match (self, action) {
            (Self::Active, A::Suspend) => Ok(Self::Suspended),
            (Self::Suspended, A::Resume) => Ok(Self::Active),
            (Self::Active | Self::Suspended, A::Close) => Ok(Self::Closed),
            (Self::Closed, A::Reopen) => Ok(Self::Active),
            (Self::Closed, A::Purge) => Ok(Self::Purged),
            (from, action) => Err(TenantActionError { from, action }),
        }
    }

    /// Whether the tenant's users may sign in and its parameters change.
    pub const fn is_open(self) -> bool {
        matches!(self, Self::Active)
    }

    /// The machine code a refused sign-in of this tenant's users gives, when it is refused
    /// for the tenant's sake.
    pub const fn sign_in_refusal(self) -> Option<&'static str> {
        match self {
            Self::Suspended => Some("tenant_suspended"),
            Self::Closed | Self::Purged => Some("tenant_closed"),
            Self::Provisioning | Self::Active => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_allows_only_its_actions() {
        use TenantAction as A;
        use TenantStatus as S;
        let allowed = [
            (S::Active, A::Suspend, S::Suspended),
            (S::Suspended, A::Resume, S::Active),
            (S::Active, A::Close, S::Closed),
            (S::Suspended, A::Close, S::Closed),
            (S::Closed, A::Reopen, S::Active),
            (S::Closed, A::Purge, S::Purged),
        ];
        for &status in S::ALL {
            for &action in A::ALL {
                let expected = allowed
                    .iter()
                    .find(|(from, a, _)| *from == status && *a == action)
                    .map(|(_, _, to)| *to);
                match (status.act(action), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want),
                    (Err(e), None) => {
                        assert_eq!((e.from, e.action), (status, action));
                        assert!(e.to_string().contains(status.as_str()), "{e}");
                    }
                    (got, want) => panic!("{status} {action}: {got:?}, expected {want:?}"),
                }
            }
        }
    }

    #[test]
    fn only_an_active_tenant_lets_its_users_in() {
        assert!(TenantStatus::Active.is_open());
        for status in [
            TenantStatus::Provisioning,
            TenantStatus::Suspended,
            TenantStatus::Closed,
            TenantStatus::Purged,
        ] {
            assert!(!status.is_open());
        }
        assert_eq!(
            TenantStatus::Suspended.sign_in_refusal(),
            Some("tenant_suspended")
        );
        assert_eq!(
            TenantStatus::Closed.sign_in_refusal(),
            Some("tenant_closed")
        );
    }
}
