//! Who a signed-in user is to the portal.

crate::text_enum! {
    pub enum Role as "role" {
        /// Service-provider staff: every tenant, templates, settings.
        LandlordAdmin = "landlord_admin",
        /// A tenant's administrator: its own tenant only.
        TenantAdmin = "tenant_admin",
    }
}
