//! Pure types and rules of the Provisioning Portal: validated fields, the request lifecycle, roles.
//!
//! Nothing here does I/O or knows about HTTP or SQL; the store and the web layer build on it.

#[macro_use]
pub mod text;

pub mod audit;
pub mod field;
pub mod glance;
pub mod import;
pub mod notification;
pub mod package;
pub mod request;
pub mod role;
pub mod schedule;
pub mod smart_queue;
pub mod step;
pub mod submission;
pub mod template;
pub mod tenant;
pub mod webhook;

pub use audit::AuditAction;
pub use field::{FieldError, FieldErrorCode};
pub use notification::{MailStatus, NotificationStatus};
pub use package::{PackageChangeRefusal, PackageChangeStatus, PackageChangeStep, PlanOp};
pub use request::{
    ErrorNote, NameEffect, NameKind, RequestEvent, RequestStatus, StaffAction, Transition,
    TransitionError,
};
pub use role::{AccountStatus, Permission, Role};
pub use step::{ProvisioningStep, StepStatus};
pub use tenant::{TenantAction, TenantActionError, TenantStatus};
pub use text::UnknownName;
pub use webhook::{DeliveryStatus, EndpointStatus, EventFilter, EventType};
