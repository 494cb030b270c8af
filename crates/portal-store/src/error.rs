//! The store's errors: what callers can act on (`NotFound`, `Conflict`) and everything else.

use portal_domain::{NameKind, RequestStatus};

/// A failure of a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The write would break a rule of the data; nothing was written.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// The database cannot be reached or is overloaded right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) if is_unavailable(db.as_ref()) => {
                Self::Unavailable(db.to_string())
            }
            e if is_unavailable_sqlx(&e) => Self::Unavailable(e.to_string()),
            other => Self::Other(other.into()),
        }
    }
}

/// Whether an error says the database cannot be reached or cannot do the work right now
/// (see [`is_unavailable`]), rather than that the work itself is wrong.
pub(crate) fn is_unavailable_sqlx(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => is_unavailable(db.as_ref()),
        _ => false,
    }
}

/// A database that cannot do the work now but may later: too busy (SQLite still locked after
/// its busy timeout, a PostgreSQL lock or statement timeout), out of disk or read-only, or its
/// connection ended by the server (a restart, or an administrator ending it).
fn is_unavailable(db: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = db.code() else {
        return db.message().contains("database is locked");
    };
    if code.len() == 5 {
        // A PostgreSQL SQLSTATE: lock not available, query cancelled, the server shutting
        // down or not yet up, connection exceptions (class 08), insufficient resources
        // (class 53: disk full, out of memory, too many connections).
        return matches!(
            code.as_ref(),
            "55P03" | "57014" | "57P01" | "57P02" | "57P03"
        ) || code.starts_with("08")
            || code.starts_with("53");
    }
    // A SQLite result code, whose low byte is the primary code: BUSY, LOCKED, READONLY,
    // IOERR, FULL, CANTOPEN.
    code.parse::<i32>()
        .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 8 | 10 | 13 | 14))
}

/// What a refused write ran into. The web layer says it in words and field paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// One of the request's names is held by a tenant or another open request.
    NameTaken(NameKind),
    /// The tenant administrator's login is another user's.
    AdminLoginTaken,
    /// A user name is another user's.
    UserNameTaken,
    /// An email address is another account's.
    EmailTaken,
    /// The change would leave no active landlord administrator.
    LastLandlordAdmin,
    /// The change would leave a tenant without an active administrator.
    LastTenantAdmin,
    /// The capped off-peak window the request was placed in filled meanwhile.
    WindowFull,
    /// The request is no longer in the status the move starts from; it is in this one.
    StatusMoved(RequestStatus),
    /// The tenant is no longer in the status the move starts from; it is in this one.
    TenantStatusMoved(portal_domain::TenantStatus),
    /// The draft was saved again after it was checked.
    DraftChanged,
    /// Another version was published since the draft was started.
    StaleDraft,
    /// The idempotency key was stored by another submission meanwhile.
    IdempotencyKeyReused,
    /// A template with this id exists.
    TemplateIdTaken,
    /// The template is retired.
    TemplateRetired,
    /// A change of service package cannot be made (or an object changed meanwhile): why.
    PackageChange(portal_domain::PackageChangeRefusal),
}

impl From<Conflict> for StoreError {
    fn from(conflict: Conflict) -> Self {
        Self::Conflict(conflict)
    }
}

/// Whether an error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the URL must start with sqlite:// or postgres://")]
    UnknownScheme,
    #[error("the URL cannot be parsed: {0}")]
    Invalid(String),
    #[error("the database cannot be reached: {0}")]
    Unreachable(String),
}

impl ConnectError {
    pub(crate) fn from_sqlx(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Configuration(c) => Self::Invalid(c.to_string()),
            other => Self::Unreachable(other.to_string()),
        }
    }
}
