//! Accounts: who they are, their role and status, and the changes to them that must keep the
//! portal usable (never zero active landlord administrators).

use portal_domain::{AccountStatus, Role};
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::error::{Conflict, is_unique_violation};
use crate::mail::{NewMail, put_in_outbox};
use crate::row::{flag, parsed};
use crate::{Backend, Store, StoreError};

#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    /// Empty while the account has no password (invited).
    pub password_hash: String,
    pub role: Role,
    pub tenant_id: Option<String>,
    pub email: Option<String>,
    pub status: AccountStatus,
    /// The password was typed by someone else: its owner must change it before anything else.
    pub must_change_password: bool,
    pub last_sign_in_at: Option<i64>,
    pub created_at: i64,
    /// How many second factors the account has in force (a confirmed authenticator app and
    /// each passkey).
    pub second_factors: i64,
    /// Made by a first single sign-on: it signs in at the identity provider, with no password.
    pub sso: bool,
}

impl UserRow {
    /// Whether the account has a password to check.
    pub fn has_password(&self) -> bool {
        !self.password_hash.is_empty()
    }

    /// Whether signing in to the account asks for a second factor.
    pub fn has_second_factor(&self) -> bool {
        self.second_factors > 0
    }
}

impl FromRow<'_, AnyRow> for UserRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            password_hash: row.try_get("password_hash")?,
            role: parsed(row, "role")?,
            tenant_id: row.try_get("tenant_id")?,
            email: row.try_get("email")?,
            status: parsed(row, "status")?,
            must_change_password: flag(row, "must_change_password")?,
            last_sign_in_at: row.try_get("last_sign_in_at")?,
            created_at: row.try_get("created_at")?,
            second_factors: row.try_get("second_factors")?,
            sso: flag(row, "sso")?,
        })
    }
}

#[derive(Clone)]
pub struct NewUser {
    pub id: String,
    pub username: String,
    /// Empty for an invited account.
    pub password_hash: String,
    pub role: Role,
    pub tenant_id: Option<String>,
    pub email: Option<String>,
    pub status: AccountStatus,
    pub must_change_password: bool,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("tenant_id", &self.tenant_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

portal_domain::text_enum! {
    /// What a set-password link is for.
    pub enum AccountLinkPurpose as "account link purpose" {
        /// A new account's first password.
        Invitation = "invitation",
        /// A forgotten password.
        Reset = "reset",
    }
}

/// A set-password link to store; the token itself is only in the email or on the screen.
#[derive(Debug, Clone)]
pub struct NewAccountLink {
    pub token_hash: String,
    pub purpose: AccountLinkPurpose,
    pub expires_at: i64,
}

/// The session or token a request came with, by its public id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Session(String),
    Token(String),
}

pub(crate) async fn insert_account_link(
    tx: &mut crate::WriteTx,
    user_id: &str,
    link: &NewAccountLink,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO account_links (token_hash, user_id, purpose, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&link.token_hash)
    .bind(user_id)
    .bind(link.purpose.as_str())
    .bind(now)
    .bind(link.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends every session and token of a user but the one named, and every unused set-password
/// link of theirs.
pub(crate) async fn end_all_credentials(
    tx: &mut crate::WriteTx,
    user_id: &str,
    keep: Option<&Credential>,
) -> Result<(), StoreError> {
    let (keep_session, keep_token) = match keep {
        Some(Credential::Session(id)) => (id.as_str(), ""),
        Some(Credential::Token(id)) => ("", id.as_str()),
        None => ("", ""),
    };
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(keep_session)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(keep_token)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM known_devices WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM sign_in_challenges WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM webauthn_ceremonies WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE account_links SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(crate::now_ms())
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The columns of a `UserRow`, for a table named `u`.
pub(crate) const USER_COLUMNS: &str = "u.id, u.username, u.password_hash, u.role, u.tenant_id, \
     u.email, u.status, u.must_change_password, u.last_sign_in_at, u.created_at, \
     (SELECT COUNT(*) FROM totp_factors f WHERE f.user_id = u.id AND f.confirmed_at IS NOT NULL) \
     + (SELECT COUNT(*) FROM passkeys p WHERE p.user_id = u.id) AS second_factors, \
     CASE WHEN u.oidc_subject IS NULL THEN 0 ELSE 1 END AS sso";

/// Which accounts a list holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserScope {
    Everyone,
    /// One tenant's accounts.
    Tenant(String),
    /// The provider's staff.
    Landlord,
}

/// A change to an account's role or status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserChange {
    pub role: Option<Role>,
    pub status: Option<AccountStatus>,
    /// Refuse to leave the account's tenant without an active administrator (a change made
    /// by one of the tenant's own administrators).
    pub keep_tenant_admin: bool,
}

async fn insert_user(tx: &mut crate::WriteTx, user: &NewUser, now: i64) -> Result<(), StoreError> {
    let email_key = user.email.as_deref().map(str::to_lowercase);
    if let Some(key) = &email_key {
        let taken: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email_key = $1")
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?;
        if taken.is_some() {
            return Err(Conflict::EmailTaken.into());
        }
    }
    let result = sqlx::query(
        "INSERT INTO users (id, username, username_key, password_hash, role, tenant_id, created_at, \
         email, email_key, status, must_change_password) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&user.id)
    .bind(&user.username)
    .bind(user.username.to_lowercase())
    .bind(&user.password_hash)
    .bind(user.role.as_str())
    .bind(&user.tenant_id)
    .bind(now)
    .bind(&user.email)
    .bind(&email_key)
    .bind(user.status.as_str())
    .bind(i64::from(user.must_change_password))
    .execute(&mut **tx)
    .await;
    match result {
        Ok(_) => Ok(()),
        // The address was checked above; a race on it lands here too.
        Err(e) if is_unique_violation(&e) => Err(Conflict::UserNameTaken.into()),
        Err(e) => Err(e.into()),
    }
}

impl Store {
    /// Creates a user; `Conflict::UserNameTaken` when the user name (ignoring case) is taken,
    /// `Conflict::EmailTaken` when the address is.
    pub async fn create_user(&self, user: &NewUser) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_user(&mut tx, user, crate::now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates a user with a link to set a password, and the email that carries it, in one
    /// transaction (an invitation, or an account made on the command line).
    pub async fn invite_user(
        &self,
        user: &NewUser,
        link: &NewAccountLink,
        mail: Option<&NewMail>,
    ) -> Result<(), StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        insert_user(&mut tx, user, now).await?;
        insert_account_link(&mut tx, &user.id, link, now).await?;
        if let Some(mail) = mail {
            put_in_outbox(&mut tx, mail, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Finds a user by user name, ignoring case.
    pub async fn find_user_by_username(
        &self,
        username: &str,
    ) -> Result<Option<UserRow>, StoreError> {
        let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.username_key = $1"
        )))
        .bind(username.to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// Finds a user by user name, login ID or email address, ignoring case.
    pub async fn find_user_by_login(&self, login: &str) -> Result<Option<UserRow>, StoreError> {
        let key = login.to_lowercase();
        let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.username_key = $1 \
             UNION SELECT {USER_COLUMNS} FROM users u WHERE u.email_key = $1"
        )))
        .bind(key)
        .fetch_all(&self.pool)
        .await?;
        // A user name and another account's address could coincide: the user name wins.
        let mut rows: Vec<UserRow> = row;
        rows.sort_by_key(|u: &UserRow| u.username.to_lowercase() != login.to_lowercase());
        Ok(rows.into_iter().next())
    }

    pub async fn get_user(&self, id: &str) -> Result<UserRow, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
        )))
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// A page of accounts ordered by id, after the cursor.
    pub async fn list_users(
        &self,
        scope: &UserScope,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<UserRow>, StoreError> {
        let (filter, value) = match scope {
            UserScope::Everyone => ("1 = 1 AND $1 = $1", String::new()),
            UserScope::Tenant(id) => ("u.tenant_id = $1", id.clone()),
            UserScope::Landlord => ("u.tenant_id IS NULL AND $1 = $1", String::new()),
        };
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE {filter} AND u.id > $2 ORDER BY u.id LIMIT $3"
        )))
        .bind(value)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Whether any landlord administrator exists yet.
    pub async fn landlord_exists(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = $1")
            .bind(Role::LandlordAdmin.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Changes an account's role or status. Disabling ends its sessions, tokens and unused
    /// links; a change that would leave no active landlord administrator is
    /// `Conflict::LastLandlordAdmin` (two admins disabling each other at once: one wins), and
    /// with `keep_tenant_admin` one that would leave its tenant without an active
    /// administrator is `Conflict::LastTenantAdmin`.
    pub async fn change_user(&self, id: &str, change: UserChange) -> Result<UserRow, StoreError> {
        let mut tx = self.begin_write().await?;
        let before: UserRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        // The administrators who must not all go: every active landlord admin, or the
        // tenant's active admins. Locked, so concurrent changes to them take turns.
        let (admin_role, conflict) = match &before.tenant_id {
            None => (Role::LandlordAdmin, Conflict::LastLandlordAdmin),
            Some(_) => (Role::TenantAdmin, Conflict::LastTenantAdmin),
        };
        let guarded = before.tenant_id.is_none() || change.keep_tenant_admin;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let admins: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM users WHERE role = $1 AND status = $2 \
             AND COALESCE(tenant_id, '') = COALESCE($3, '') ORDER BY id{lock}"
        )))
        .bind(admin_role.as_str())
        .bind(AccountStatus::Active.as_str())
        .bind(&before.tenant_id)
        .fetch_all(&mut *tx)
        .await?;
        let role = change.role.unwrap_or(before.role);
        let status = change.status.unwrap_or(before.status);
        let was_admin = admins.iter().any(|a| a == id);
        let stays_admin = role == admin_role && status == AccountStatus::Active;
        if guarded && was_admin && !stays_admin && admins.len() <= 1 {
            return Err(conflict.into());
        }
        sqlx::query("UPDATE users SET role = $1, status = $2 WHERE id = $3")
            .bind(role.as_str())
            .bind(status.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if status == AccountStatus::Disabled {
            end_all_credentials(&mut tx, id, None).await?;
        }
        let after = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Notes a successful sign-in.
    pub async fn note_sign_in(&self, user_id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2")
            .bind(now)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Makes a link to set a password for an existing account, with the email that carries
    /// it; earlier unused links of the same purpose end.
    pub async fn add_account_link(
        &self,
        user_id: &str,
        link: &NewAccountLink,
        mail: Option<&NewMail>,
    ) -> Result<(), StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE account_links SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .bind(link.purpose.as_str())
        .execute(&mut *tx)
        .await?;
        insert_account_link(&mut tx, user_id, link, now).await?;
        if let Some(mail) = mail {
            put_in_outbox(&mut tx, mail, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// An account's invitation link that has not been used, if any (its expiry).
    pub async fn open_invitation(&self, user_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(expires_at) FROM account_links WHERE user_id = $1 AND purpose = $2 \
             AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(AccountLinkPurpose::Invitation.as_str())
        .fetch_one(&self.pool)
        .await?)
    }
}
