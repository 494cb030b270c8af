//! Who a signed-in user is to the portal.

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Service-provider staff: every tenant, templates, settings.
    LandlordAdmin,
    /// A tenant's administrator: its own tenant only.
    TenantAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LandlordAdmin => "landlord_admin",
            Self::TenantAdmin => "tenant_admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "landlord_admin" => Ok(Self::LandlordAdmin),
            "tenant_admin" => Ok(Self::TenantAdmin),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}
