//! Pure types and rules of the Provisioning Portal: validated fields, the request lifecycle, roles.
//!
//! Nothing here does I/O or knows about HTTP or SQL; the store and the web layer build on it.

pub mod field;
pub mod request;
pub mod role;
pub mod schedule;
pub mod smart_queue;
pub mod submission;
pub mod template;

pub use field::{FieldError, FieldErrorCode};
pub use request::{RequestStatus, TransitionError};
pub use role::Role;
