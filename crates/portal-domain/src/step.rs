//! The steps of provisioning a request, in the order they run, and where each one stands.

crate::text_enum! {
    /// A step of provisioning; `ALL` is the order they run in.
    pub enum ProvisioningStep as "provisioning step" {
        ReserveNames = "reserve_names",
        CreateTenant = "create_tenant",
        CreateAdministrator = "create_administrator",
        CloneConfiguration = "clone_configuration",
        AssignAniAndUpnSuffix = "assign_ani_and_upn_suffix",
        Activate = "activate",
    }
}

crate::text_enum! {
    /// Where one step of a request's provisioning stands.
    pub enum StepStatus as "step status" {
        Pending = "pending",
        Running = "running",
        Done = "done",
        /// It was running when provisioning gave up.
        Failed = "failed",
    }
}

impl ProvisioningStep {
    /// The step as people read it, in a sentence (`assign ani and upn suffix`).
    pub fn in_words(self) -> String {
        self.as_str().replace('_', " ")
    }
}
