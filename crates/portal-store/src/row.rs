//! Reading typed values out of rows: text becomes the domain's enums and integers booleans,
//! once, here; a value that is not one of them is a decoding error naming its column.

use std::str::FromStr;

use sqlx::Row;
use sqlx::any::AnyRow;

fn bad_value(column: &str, source: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(source),
    }
}

/// The text in `column` parsed as a `T`.
pub(crate) fn parsed<T>(row: &AnyRow, column: &str) -> Result<T, sqlx::Error>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.try_get(column)?;
    text.parse().map_err(|e| bad_value(column, e))
}

/// The text in `column`, when there is one, parsed as a `T`.
pub(crate) fn parsed_opt<T>(row: &AnyRow, column: &str) -> Result<Option<T>, sqlx::Error>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| t.parse().map_err(|e| bad_value(column, e)))
        .transpose()
}

/// A boolean kept as `BIGINT` 0 or 1.
pub(crate) fn flag(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    match row.try_get::<i64, _>(column)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(bad_value(column, NotAFlag(other))),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0} is neither 0 nor 1")]
struct NotAFlag(i64);

/// A decoding error of the store's own, for a value that breaks a rule across columns.
pub(crate) fn inconsistent(column: &str, what: &'static str) -> sqlx::Error {
    bad_value(column, Inconsistent(what))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Inconsistent(&'static str);
