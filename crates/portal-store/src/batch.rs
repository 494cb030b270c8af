//! Several statements of one transaction sent together. On SQLite they go as one text: each
//! statement a round trip to the connection's thread costs two hand-offs between threads, and
//! those were most of what a submission's statements cost. On PostgreSQL, whose prepared
//! statements are one each, they run one after another.
//!
//! Each statement is written on its own with `$1`, `$2`…; in SQLite's text its placeholders are
//! renumbered after the arguments of the statements before it, so the same statement text and
//! the same binding code serve both, and a statement run alone.

use futures_util::TryStreamExt;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyConnection, Arguments, Either, Encode, Type};

use crate::{Backend, StoreError};

/// Something values are bound to in order: a query, or a statement in a [`Batch`].
pub(crate) trait Binds: Sized {
    fn with<'t, T: Encode<'t, Any> + Type<Any> + 't>(self, value: T) -> Self;
}

impl Binds for sqlx::query::Query<'_, Any, AnyArguments> {
    fn with<'t, T: Encode<'t, Any> + Type<Any> + 't>(self, value: T) -> Self {
        self.bind(value)
    }
}

/// What one statement of a batch did: the rows it changed and the rows it returned.
#[derive(Default)]
pub(crate) struct Outcome {
    pub changed: u64,
    pub rows: Vec<AnyRow>,
}

/// Statements to run in order in the caller's transaction; the first that fails ends the run.
pub(crate) struct Batch {
    /// SQLite: the statements so far as one text, and all their arguments.
    joined: Option<(String, AnyArguments)>,
    /// PostgreSQL: each statement with its arguments.
    each: Vec<(String, AnyArguments)>,
    statements: usize,
    /// The first value that could not be bound.
    unbound: Option<sqlx::error::BoxDynError>,
}

/// The values of the statement just pushed.
pub(crate) struct Values<'a> {
    arguments: &'a mut AnyArguments,
    unbound: &'a mut Option<sqlx::error::BoxDynError>,
}

impl Binds for Values<'_> {
    fn with<'t, T: Encode<'t, Any> + Type<Any> + 't>(self, value: T) -> Self {
        if let Err(e) = self.arguments.add(value)
            && self.unbound.is_none()
        {
            *self.unbound = Some(e);
        }
        self
    }
}

impl Batch {
    pub(crate) fn new(backend: Backend) -> Self {
        Self {
            joined: (backend == Backend::Sqlite).then(|| (String::new(), AnyArguments::default())),
            each: Vec::new(),
            statements: 0,
            unbound: None,
        }
    }

    /// Adds `sql` (numbered from `$1`); its values are bound to the answer, in order.
    pub(crate) fn push(&mut self, sql: &str) -> Values<'_> {
        self.statements += 1;
        let arguments = match &mut self.joined {
            Some((text, arguments)) => {
                text.push_str(&renumbered(sql, arguments.len()));
                text.push_str(";\n");
                arguments
            }
            None => {
                self.each.push((sql.to_owned(), AnyArguments::default()));
                let last = self.each.len() - 1;
                &mut self.each[last].1
            }
        };
        Values {
            arguments,
            unbound: &mut self.unbound,
        }
    }

    /// How many statements were pushed.
    pub(crate) fn pushed(&self) -> usize {
        self.statements
    }

    /// Runs the statements in order: what each did, in the order they were pushed.
    pub(crate) async fn run(self, conn: &mut AnyConnection) -> Result<Vec<Outcome>, StoreError> {
        if let Some(e) = self.unbound {
            return Err(sqlx::Error::Encode(e).into());
        }
        let mut outcomes = Vec::with_capacity(self.statements);
        match self.joined {
            Some((text, arguments)) => {
                collect(conn, text, arguments, &mut outcomes).await?;
            }
            None => {
                for (sql, arguments) in self.each {
                    collect(conn, sql, arguments, &mut outcomes).await?;
                }
            }
        }
        if outcomes.len() != self.statements {
            return Err(StoreError::Other(anyhow::anyhow!(
                "{} statements reported {} outcomes",
                self.statements,
                outcomes.len()
            )));
        }
        Ok(outcomes)
    }
}

/// Runs `sql` (one statement or several) and adds what each statement did to `outcomes`: the
/// rows a statement returns come before the count that ends it.
async fn collect(
    conn: &mut AnyConnection,
    sql: String,
    arguments: AnyArguments,
    outcomes: &mut Vec<Outcome>,
) -> Result<(), StoreError> {
    let query = sqlx::query_with(sqlx::AssertSqlSafe(sql), arguments);
    let mut steps = sqlx::Executor::fetch_many(conn, query);
    let mut rows = Vec::new();
    while let Some(step) = steps.try_next().await? {
        match step {
            Either::Right(row) => rows.push(row),
            Either::Left(done) => outcomes.push(Outcome {
                changed: done.rows_affected(),
                rows: std::mem::take(&mut rows),
            }),
        }
    }
    Ok(())
}

/// `sql` with each placeholder `$N` written `$(N + by)`. The statements given are this crate's
/// own, with no `$` in their literals.
fn renumbered(sql: &str, by: usize) -> String {
    if by == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::renumbered;

    #[test]
    fn placeholders_are_renumbered_after_those_before() {
        assert_eq!(
            renumbered("INSERT INTO t (a, b) VALUES ($1, $2), ($12, $1)", 30),
            "INSERT INTO t (a, b) VALUES ($31, $32), ($42, $31)"
        );
        assert_eq!(renumbered("SELECT $1", 0), "SELECT $1");
        // A `$` without a number is left as it is.
        assert_eq!(renumbered("SELECT '$' || $2", 1), "SELECT '$' || $3");
    }
}
