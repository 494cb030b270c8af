//! Tenants: where a tenant made by provisioning stands.

crate::text_enum! {
    /// A tenant is `provisioning` from its creation step until it is activated.
    pub enum TenantStatus as "tenant status" {
        Provisioning = "provisioning",
        Active = "active",
    }
}
