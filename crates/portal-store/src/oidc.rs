//! Staff single sign-on: sign-ins waiting for the identity provider's answer, and accounts
//! made by it (found by the provider's subject).

use portal_domain::{AccountStatus, Role};

use crate::audit::AuditEntry;
use crate::error::{Conflict, is_unique_violation};
use crate::user::{USER_COLUMNS, UserRow};
use crate::{Store, StoreError};

/// A sign-in sent to the identity provider.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OidcSignIn {
    pub nonce: String,
    pub pkce_verifier: String,
    /// The local page to return to.
    pub next: String,
}

impl std::fmt::Debug for OidcSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSignIn")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Keeps a sign-in sent to the identity provider until `expires_at`; drops expired ones.
    pub async fn put_oidc_sign_in(
        &self,
        state_hash: &str,
        sign_in: &OidcSignIn,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM oidc_sign_ins WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO oidc_sign_ins (state_hash, nonce, pkce_verifier, next, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(state_hash)
        .bind(&sign_in.nonce)
        .bind(&sign_in.pkce_verifier)
        .bind(&sign_in.next)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes the live sign-in of this `state` out of the store: only one answer gets it.
    pub async fn take_oidc_sign_in(
        &self,
        state_hash: &str,
        now: i64,
    ) -> Result<Option<OidcSignIn>, StoreError> {
        let mut tx = self.begin_write().await?;
        let found: Option<OidcSignIn> = sqlx::query_as(
            "SELECT nonce, pkce_verifier, next FROM oidc_sign_ins \
             WHERE state_hash = $1 AND expires_at > $2",
        )
        .bind(state_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let taken = sqlx::query("DELETE FROM oidc_sign_ins WHERE state_hash = $1")
            .bind(state_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(found.filter(|_| taken == 1))
    }

    /// The account the identity provider's `subject` signed in to before.
    pub async fn find_user_by_oidc_subject(
        &self,
        subject: &str,
    ) -> Result<Option<UserRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.oidc_subject = $1"
        )))
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Makes the account of a first single sign-on: active, without a password, with its
    /// audit entry. A taken user name or address is a conflict.
    pub async fn create_sso_user(
        &self,
        user: &SsoUser<'_>,
        audit: &AuditEntry,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let email_key = user.email.map(str::to_lowercase);
        let inserted = sqlx::query(
            "INSERT INTO users (id, username, username_key, password_hash, role, tenant_id, email, \
             email_key, status, must_change_password, created_at, oidc_subject) \
             VALUES ($1, $2, $3, '', $4, NULL, $5, $6, $7, 0, $8, $9)",
        )
        .bind(user.id)
        .bind(user.username)
        .bind(user.username.to_lowercase())
        .bind(user.role.as_str())
        .bind(user.email)
        .bind(email_key)
        .bind(AccountStatus::Active.as_str())
        .bind(now)
        .bind(user.subject)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(Conflict::UserNameTaken.into()),
            Err(e) => return Err(e.into()),
        }
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The account of a first single sign-on.
#[derive(Debug, Clone, Copy)]
pub struct SsoUser<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub role: Role,
    /// The identity provider's issuer and subject.
    pub subject: &'a str,
}
