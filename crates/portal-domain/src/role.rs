//! Who a signed-in user is to the portal, and what each role may do: the one permission
//! matrix that every use case asks.

crate::text_enum! {
    /// A user's role. Landlord roles are the provider's staff and see every tenant; tenant
    /// roles see their own tenant only.
    pub enum Role as "role" {
        /// Everything: templates, policies, accounts, any tenant.
        LandlordAdmin = "landlord_admin",
        /// The daily work: submits requests, acts on them, reads tenants, mail and the log.
        LandlordOperator = "landlord_operator",
        /// Support and finance: reads what an operator reads, changes nothing.
        LandlordViewer = "landlord_viewer",
        /// A tenant's administrator: its parameters and its people.
        TenantAdmin = "tenant_admin",
        /// A tenant's supervisor: reads its tenant, changes nothing.
        TenantSupervisor = "tenant_supervisor",
    }
}

/// Something a role may or may not do. Which tenant it touches is a separate question: a
/// tenant role acts only within its own tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read subscription requests and their list.
    ReadRequests,
    /// Submit a subscription request as staff.
    SubmitRequests,
    /// Retry, cancel, run now, reschedule, approve or reject a request.
    ActOnRequests,
    /// Read tenants (a tenant role: its own).
    ReadTenants,
    /// Suspend, resume, close and reopen tenants; change their service package.
    ActOnTenants,
    /// Change the properties of a tenant's configuration objects (a tenant role: its own).
    ChangeConfiguration,
    /// Read the template list and a template.
    ReadTemplates,
    /// Create, change, retire templates; offer them publicly.
    ChangeTemplates,
    /// Read the outbox.
    ReadMail,
    /// Read the audit log (a tenant role: its tenant's entries).
    ReadAudit,
    /// Read and change the provisioning and self-service policies.
    ChangeSettings,
    /// Read the Smart Queues parameters (a tenant role: its own tenant's).
    ReadParameters,
    /// Edit and publish the Smart Queues parameters.
    EditParameters,
    /// List accounts (a tenant role: its tenant's).
    ReadAccounts,
    /// Invite, change the role of, disable and re-enable accounts, within what the role may
    /// grant (`Role::may_grant`).
    ManageAccounts,
    /// Add, change, remove webhook endpoints and replay their deliveries.
    ManageWebhooks,
    /// See the worker processes, what they hold, and the queue.
    WatchOperations,
}

impl Permission {
    pub const ALL: &'static [Self] = &[
        Self::ReadRequests,
        Self::SubmitRequests,
        Self::ActOnRequests,
        Self::ReadTenants,
        Self::ActOnTenants,
        Self::ChangeConfiguration,
        Self::ReadTemplates,
        Self::ChangeTemplates,
        Self::ReadMail,
        Self::ReadAudit,
        Self::ChangeSettings,
        Self::ReadParameters,
        Self::EditParameters,
        Self::ReadAccounts,
        Self::ManageAccounts,
        Self::ManageWebhooks,
        Self::WatchOperations,
    ];
}

impl Role {
    /// The permission matrix.
    pub const fn may(self, permission: Permission) -> bool {
        use Permission as P;
        match self {
            Self::LandlordAdmin => true,
            Self::LandlordOperator => matches!(
                permission,
                P::ReadRequests
                    | P::SubmitRequests
                    | P::ActOnRequests
                    | P::ReadTenants
                    | P::ActOnTenants
                    | P::ReadTemplates
                    | P::ReadMail
                    | P::ReadAudit
                    | P::ReadParameters
                    | P::ReadAccounts
            ),
            Self::LandlordViewer => matches!(
                permission,
                P::ReadRequests
                    | P::ReadTenants
                    | P::ReadTemplates
                    | P::ReadMail
                    | P::ReadAudit
                    | P::ReadParameters
                    | P::ReadAccounts
            ),
            Self::TenantAdmin => matches!(
                permission,
                P::ReadTenants
                    | P::ReadAudit
                    | P::ReadParameters
                    | P::EditParameters
                    | P::ChangeConfiguration
                    | P::ReadAccounts
                    | P::ManageAccounts
            ),
            Self::TenantSupervisor => matches!(
                permission,
                P::ReadTenants | P::ReadAudit | P::ReadParameters | P::ReadAccounts
            ),
        }
    }

    /// Whether this role may give `other` to someone (invite with it, or change a role to or
    /// from it). Landlord admins grant every role; tenant admins their tenant's two.
    pub const fn may_grant(self, other: Self) -> bool {
        match self {
            Self::LandlordAdmin => true,
            Self::TenantAdmin => other.is_tenant(),
            _ => false,
        }
    }

    /// Staff of the provider, who see every tenant.
    pub const fn is_landlord(self) -> bool {
        matches!(
            self,
            Self::LandlordAdmin | Self::LandlordOperator | Self::LandlordViewer
        )
    }

    /// A role that belongs to one tenant.
    pub const fn is_tenant(self) -> bool {
        !self.is_landlord()
    }

    /// The role as people read it.
    pub const fn label(self) -> &'static str {
        match self {
            Self::LandlordAdmin => "Landlord administrator",
            Self::LandlordOperator => "Landlord operator",
            Self::LandlordViewer => "Landlord viewer",
            Self::TenantAdmin => "Tenant administrator",
            Self::TenantSupervisor => "Tenant supervisor",
        }
    }
}

crate::text_enum! {
    /// Where an account stands.
    pub enum AccountStatus as "account status" {
        /// Invited; no password set yet.
        Invited = "invited",
        /// Signs in.
        Active = "active",
        /// Cannot sign in; its sessions and tokens have ended.
        Disabled = "disabled",
    }
}

impl AccountStatus {
    pub const fn label(self) -> &'static str {
        match self {
            Self::Invited => "Invited",
            Self::Active => "Active",
            Self::Disabled => "Disabled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landlord_admin_may_do_everything_and_viewers_change_nothing() {
        for p in Permission::ALL {
            assert!(Role::LandlordAdmin.may(*p), "{p:?}");
        }
        let changes = [
            Permission::SubmitRequests,
            Permission::ActOnRequests,
            Permission::ChangeTemplates,
            Permission::ChangeSettings,
            Permission::EditParameters,
            Permission::ManageAccounts,
        ];
        for p in changes {
            assert!(!Role::LandlordViewer.may(p), "{p:?}");
            assert!(!Role::TenantSupervisor.may(p), "{p:?}");
        }
    }

    #[test]
    fn operators_work_requests_but_not_settings_templates_or_accounts() {
        assert!(Role::LandlordOperator.may(Permission::SubmitRequests));
        assert!(Role::LandlordOperator.may(Permission::ActOnRequests));
        assert!(!Role::LandlordOperator.may(Permission::ChangeSettings));
        assert!(!Role::LandlordOperator.may(Permission::ChangeTemplates));
        assert!(!Role::LandlordOperator.may(Permission::ManageAccounts));
    }

    #[test]
    fn tenant_roles_never_touch_requests_templates_or_settings() {
        for role in [Role::TenantAdmin, Role::TenantSupervisor] {
            for p in [
                Permission::ReadRequests,
                Permission::SubmitRequests,
                Permission::ChangeTemplates,
                Permission::ReadMail,
                Permission::ChangeSettings,
            ] {
                assert!(!role.may(p), "{role} {p:?}");
            }
        }
    }

    #[test]
    fn only_admins_grant_roles_and_tenant_admins_only_their_tenants() {
        for r in Role::ALL {
            assert!(Role::LandlordAdmin.may_grant(*r));
            assert_eq!(Role::TenantAdmin.may_grant(*r), r.is_tenant(), "{r}");
            for other in [
                Role::LandlordOperator,
                Role::LandlordViewer,
                Role::TenantSupervisor,
            ] {
                assert!(!other.may_grant(*r));
            }
        }
    }
}
