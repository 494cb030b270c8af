//! The names a request holds (tenant name, short name, UPN suffix), unique among tenants and
//! open requests: checked before intake hashes, taken for good when the request is stored (or
//! held for a while by a self-service request waiting for its address), then freed.

use portal_domain::NameKind;
use sqlx::Any;

use crate::batch::Binds;
use crate::error::Conflict;
use crate::{Store, StoreError};

/// How a stored request holds its tenant's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameHold {
    /// For as long as the request is open (staff submissions).
    Open,
    /// Until this time unless confirmed (a self-service request waiting for its contact
    /// address to be confirmed: the hold lapses with the link).
    Until(i64),
    /// Not at all: the names were taken when it came in, which its contact learns only once
    /// the address is confirmed.
    None,
}

/// The three names a request holds.
#[derive(Debug, Clone)]
pub struct Names<'a> {
    pub request_id: &'a str,
    pub tenant_name: &'a str,
    pub short_name: &'a str,
    pub upn_suffix: &'a str,
}

impl Names<'_> {
    /// Each name with its kind, as the database keys it (lowercase).
    pub fn keyed(&self) -> [(NameKind, String); 3] {
        [
            (NameKind::TenantName, self.tenant_name.to_lowercase()),
            (NameKind::ShortName, self.short_name.to_lowercase()),
            (NameKind::UpnSuffix, self.upn_suffix.to_lowercase()),
        ]
    }
}

/// Takes or confirms the request's names, in one statement: each name is inserted, or, when
/// this request already holds it or another's hold has lapsed, its holder and hold are set
/// (`held_until` `None`: for good). `Conflict::NameTaken` names the first another request or
/// tenant holds.
pub(crate) async fn reserve_names(
    tx: &mut crate::WriteTx,
    names: &Names<'_>,
    held_until: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    if take_names(tx, names, held_until, now).await? {
        return Ok(());
    }
    after_refusal(tx, names, held_until, now).await
}

/// After [`TAKE_NAMES`] left a name alone because another holds it: `Conflict::NameTaken`
/// naming the first, read in the same transaction before the caller rolls it back. A holder
/// may let go between the refusal and the read of who it was (PostgreSQL reads what others
/// committed meanwhile): then the names are tried once more.
pub(crate) async fn after_refusal(
    tx: &mut crate::WriteTx,
    names: &Names<'_>,
    held_until: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    if let Some(kind) = first_taken(&mut **tx, names, now).await? {
        return Err(Conflict::NameTaken(kind).into());
    }
    if take_names(tx, names, held_until, now).await? {
        return Ok(());
    }
    if let Some(kind) = first_taken(&mut **tx, names, now).await? {
        return Err(Conflict::NameTaken(kind).into());
    }
    Err(StoreError::Other(anyhow::anyhow!(
        "a name was refused twice but nobody holds it"
    )))
}

/// The one statement of [`reserve_names`], with [`take_names_values`]: it changes three rows
/// when it took all three names.
pub(crate) const TAKE_NAMES: &str = "INSERT INTO reserved_names (kind, name_key, request_id, held_until) \
     VALUES ($1, $2, $7, $8), ($3, $4, $7, $8), ($5, $6, $7, $8) \
     ON CONFLICT (kind, name_key) DO UPDATE \
     SET request_id = excluded.request_id, held_until = excluded.held_until \
     WHERE reserved_names.request_id = excluded.request_id \
        OR (reserved_names.held_until IS NOT NULL AND reserved_names.held_until < $9)";

/// The values of [`TAKE_NAMES`].
pub(crate) fn take_names_values<B: Binds>(
    values: B,
    names: &Names<'_>,
    held_until: Option<i64>,
    now: i64,
) -> B {
    kinds_and_keys(values, names)
        .with(names.request_id)
        .with(held_until)
        .with(now)
}

/// [`TAKE_NAMES`] on its own: whether it took all three names.
async fn take_names(
    tx: &mut crate::WriteTx,
    names: &Names<'_>,
    held_until: Option<i64>,
    now: i64,
) -> Result<bool, StoreError> {
    let insert = take_names_values(sqlx::query(TAKE_NAMES), names, held_until, now);
    let done = insert.execute(&mut **tx).await?;
    Ok(done.rows_affected() == 3)
}

/// The first of a request's names another request or a tenant holds at `now` (a lapsed hold
/// counts as free), as `executor` (the pool, or a transaction) sees them.
pub(crate) async fn first_taken<'e, E>(
    executor: E,
    names: &Names<'_>,
    now: i64,
) -> Result<Option<NameKind>, StoreError>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let rows = first_taken_values(sqlx::query(FIRST_TAKEN), names, now)
        .fetch_all(executor)
        .await?;
    first_of(names, &rows)
}

/// The statement of [`first_taken`], with [`first_taken_values`]: the kinds of the request's
/// names that another holds at `$7`.
pub(crate) const FIRST_TAKEN: &str = "SELECT kind FROM reserved_names \
     WHERE ((kind = $1 AND name_key = $2) OR (kind = $3 AND name_key = $4) \
            OR (kind = $5 AND name_key = $6)) \
     AND (held_until IS NULL OR held_until >= $7) AND request_id <> $8";

/// The values of [`FIRST_TAKEN`].
pub(crate) fn first_taken_values<B: Binds>(values: B, names: &Names<'_>, now: i64) -> B {
    kinds_and_keys(values, names)
        .with(now)
        .with(names.request_id)
}

/// The first of the names, in their order, among the kinds [`FIRST_TAKEN`] returned.
pub(crate) fn first_of(
    names: &Names<'_>,
    rows: &[sqlx::any::AnyRow],
) -> Result<Option<NameKind>, StoreError> {
    use sqlx::Row;
    let taken = rows
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names
        .keyed()
        .into_iter()
        .map(|(kind, _)| kind)
        .find(|kind| taken.iter().any(|t| t == kind.as_str())))
}

/// The three names' kinds and keys bound as a statement takes them (`$1` … `$6`).
fn kinds_and_keys<B: Binds>(mut values: B, names: &Names<'_>) -> B {
    for (kind, key) in names.keyed() {
        values = values.with(kind.as_str()).with(key);
    }
    values
}

/// Frees every name the request holds or held for a while.
pub(crate) async fn free_names(
    tx: &mut crate::WriteTx,
    request_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM reserved_names WHERE request_id = $1")
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// The request that holds a name now, if one does (for good, or by a hold not yet lapsed).
    pub async fn name_holder(
        &self,
        kind: NameKind,
        name: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT request_id FROM reserved_names WHERE kind = $1 AND name_key = $2 \
             AND (held_until IS NULL OR held_until >= $3)",
        )
        .bind(kind.as_str())
        .bind(name.to_lowercase())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }
}
