//! The links emailed to a self-service prospect: kept only as hashes of their tokens.

use crate::{Store, StoreError};

portal_domain::text_enum! {
    /// What a link is for.
    pub enum LinkPurpose as "link purpose" {
        /// It confirms the contact address, once.
        Verify = "verify",
        /// It shows the request's status page, for as long as it lasts.
        Status = "status",
    }
}

/// A link to store with its request; the token itself is only in the email.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub token_hash: String,
    pub purpose: LinkPurpose,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkRow {
    pub request_id: String,
    #[sqlx(try_from = "String")]
    pub purpose: LinkPurpose,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub(crate) const LINK_COLUMNS: &str = "request_id, purpose, expires_at, used_at";

pub(crate) async fn insert_link(
    tx: &mut crate::WriteTx,
    request_id: &str,
    link: &NewLink,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO registration_links (token_hash, request_id, purpose, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&link.token_hash)
    .bind(request_id)
    .bind(link.purpose.as_str())
    .bind(link.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// A link by its token's hash.
    pub async fn find_link(&self, token_hash: &str) -> Result<Option<LinkRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {LINK_COLUMNS} FROM registration_links WHERE token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }
}
