//! Passkeys (WebAuthn credentials) of users, and the ceremonies between a browser's options
//! and its answer. The store keeps the credential as the WebAuthn library serialises it; it
//! does not read it.

use crate::audit::AuditEntry;
use crate::error::is_unique_violation;
use crate::factor::Removal;
use crate::user::Credential;
use crate::{Store, StoreError};

/// A passkey as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    /// base64url.
    pub credential_id: String,
    pub name: String,
    /// The library's serialised credential.
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyPurpose {
    Register,
    SignIn,
}

impl CeremonyPurpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SignIn => "sign_in",
        }
    }
}

/// A ceremony waiting for the browser's answer.
#[derive(Clone)]
pub struct NewCeremony<'a> {
    pub id_hash: &'a str,
    pub user_id: &'a str,
    pub purpose: CeremonyPurpose,
    /// The library's state, serialised.
    pub state: &'a str,
    /// The name a registered passkey is to have.
    pub name: Option<&'a str>,
    /// The waiting sign-in a passkey finishes as its second factor.
    pub challenge_hash: Option<&'a str>,
    pub expires_at: i64,
}

/// A ceremony taken back (it is gone from the store).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CeremonyRow {
    pub user_id: String,
    pub state: String,
    pub name: Option<String>,
    pub challenge_hash: Option<String>,
}

impl Store {
    /// Keeps a ceremony until its answer comes; drops ceremonies that expired.
    pub async fn put_ceremony(&self, c: &NewCeremony<'_>, now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (id_hash, user_id, purpose, state, name, \
             challenge_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(c.id_hash)
        .bind(c.user_id)
        .bind(c.purpose.as_str())
        .bind(c.state)
        .bind(c.name)
        .bind(c.challenge_hash)
        .bind(c.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes a live ceremony of `purpose` out of the store: only one request gets it.
    pub async fn take_ceremony(
        &self,
        id_hash: &str,
        purpose: CeremonyPurpose,
        now: i64,
    ) -> Result<Option<CeremonyRow>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<CeremonyRow> = sqlx::query_as(
            "SELECT user_id, state, name, challenge_hash FROM webauthn_ceremonies \
             WHERE id_hash = $1 AND purpose = $2 AND expires_at > $3",
        )
        .bind(id_hash)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let taken = sqlx::query("DELETE FROM webauthn_ceremonies WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(row.filter(|_| taken == 1))
    }

    /// A user's passkeys, oldest first.
    pub async fn list_passkeys(&self, user_id: &str) -> Result<Vec<PasskeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, user_id, credential_id, name, passkey, created_at, last_used_at \
             FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Stores a new passkey, with its audit entry; when the registering session is named, it
    /// counts as having passed a second factor. `false` when the credential is registered
    /// already (to anyone).
    pub async fn add_passkey(
        &self,
        row: &PasskeyRow,
        credential: Option<&Credential>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO passkeys (id, user_id, credential_id, name, passkey, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&row.id)
        .bind(&row.user_id)
        .bind(&row.credential_id)
        .bind(&row.name)
        .bind(&row.passkey)
        .bind(row.created_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        if let Some(credential) = credential {
            crate::factor::mark_second_factor(&mut tx, &row.user_id, credential).await?;
        }
        crate::audit::insert(&mut *tx, audit, row.created_at).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Keeps a passkey's new state (its signature counter) after a sign-in with it.
    pub async fn passkey_used(&self, id: &str, passkey: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE passkeys SET passkey = $2, last_used_at = $3 WHERE id = $1")
            .bind(id)
            .bind(passkey)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Renames one of a user's passkeys; `false` when they have no such passkey.
    pub async fn rename_passkey(
        &self,
        user_id: &str,
        id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let renamed = sqlx::query("UPDATE passkeys SET name = $3 WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(renamed == 1)
    }

    /// Removes one of a user's passkeys, with its audit entry. With `keep_last`, the account's
    /// last second factor stays (counted in the same transaction, its row locked).
    pub async fn remove_passkey(
        &self,
        user_id: &str,
        id: &str,
        keep_last: bool,
        audit: &AuditEntry,
        now: i64,
    ) -> Result<Removal, StoreError> {
        let mut tx = self.begin_write().await?;
        let mine: Option<String> =
            sqlx::query_scalar("SELECT id FROM passkeys WHERE user_id = $1 AND id = $2")
                .bind(user_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if mine.is_none() {
            return Ok(Removal::Missing);
        }
        if keep_last && self.factors_locked(&mut tx, user_id).await? <= 1 {
            return Ok(Removal::LastKept);
        }
        sqlx::query("DELETE FROM passkeys WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        Ok(Removal::Removed)
    }

    /// Removes every passkey of a user (the machine's operator, for a user who lost them).
    pub async fn remove_all_passkeys(&self, user_id: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
