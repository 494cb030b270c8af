//! The store's errors: what callers can act on (`NotFound`, `Conflict`) and everything else.

/// A failure of a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write; `what` names the field (`tenant.name`).
    #[error("{what} is already taken")]
    Conflict { what: String },
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
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) if is_busy(db.as_ref()) => Self::Unavailable(db.to_string()),
            other => Self::Other(other.into()),
        }
    }
}

/// A database too busy to answer now: SQLite still locked after its busy timeout, or a
/// PostgreSQL lock or statement timeout.
fn is_busy(db: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(
        db.code().as_deref(),
        Some("5" | "6" | "261" | "262" | "517" | "55P03" | "57014" | "57P01")
    ) || db.message().contains("database is locked")
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
