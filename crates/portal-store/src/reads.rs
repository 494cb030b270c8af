//! Reads made one after another on one connection.

use portal_domain::NameKind;
use sqlx::Any;
use sqlx::pool::PoolConnection;

use crate::names::Names;
use crate::template::TemplateRow;
use crate::{Store, StoreError};

/// Several reads on one pooled connection, for a request that makes them in a row: one
/// checkout and one return to the pool, where reads made apart cost a return each (the pool
/// tests a connection as it comes back: a round trip to SQLite's thread, or to PostgreSQL).
/// It keeps its connection from the pool while it lives: drop it when the reads are done.
pub struct Reads {
    conn: PoolConnection<Any>,
}

impl Store {
    /// A connection for reads in a row.
    pub async fn reads(&self) -> Result<Reads, StoreError> {
        Ok(Reads {
            conn: self.pool.acquire().await?,
        })
    }
}

impl Reads {
    /// As [`Store::get_template`].
    pub async fn template(&mut self, id: &str) -> Result<TemplateRow, StoreError> {
        crate::template::template(&mut *self.conn, id).await
    }

    /// The first of a request's names that another request or a tenant holds at `now` (a
    /// lapsed hold counts as free). A read: a duplicate is refused before its password is
    /// hashed, without a transaction of its own. The storing transaction takes the names for
    /// good and refuses them again if another request took one meanwhile.
    pub async fn taken_name(
        &mut self,
        names: &Names<'_>,
        now: i64,
    ) -> Result<Option<NameKind>, StoreError> {
        crate::names::first_taken(&mut *self.conn, names, now).await
    }

    /// As [`Store::get_setting`].
    pub async fn setting(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        crate::setting::setting(&mut *self.conn, key).await
    }
}
