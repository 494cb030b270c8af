//! What lets a person in: browser sessions, bearer tokens (from a sign-in, or personal ones
//! with a name) and single-use links to set a password. Secrets are kept only as their
//! SHA-256; each session and token also has a public id, by which its owner lists and ends it.

use portal_domain::AccountStatus;

pub use crate::user::{AccountLinkPurpose, Credential, NewAccountLink};
use crate::user::{USER_COLUMNS, UserRow, end_all_credentials};
use crate::{Store, StoreError};

/// A new session or token.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub id: String,
    pub secret_hash: String,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// A personal token's name; `None` for a session or a sign-in's token.
    pub name: Option<String>,
    pub client: Option<String>,
    pub user_agent: Option<String>,
    /// The sign-in passed a second factor.
    pub second_factor: bool,
}

/// The account a live session or token belongs to.
#[derive(Debug, Clone)]
pub struct CredentialUser {
    pub user: UserRow,
    /// The session's or token's public id.
    pub credential_id: String,
    /// The sign-in that made it passed a second factor.
    pub second_factor: bool,
    /// A personal API token (not a session or a sign-in's token).
    pub personal: bool,
}

/// A session or sign-in token as its owner sees it.
/// A credential's user belongs to no tenant, or to one that lets its users in (a sign-in
/// racing a suspension cannot leave a working session behind).
const TENANT_OPEN: &str = "(u.tenant_id IS NULL OR EXISTS (SELECT 1 FROM tenants tn \
     WHERE tn.id = u.tenant_id AND tn.status = 'active'))";

/// Who made a request that came with a session: a person, whose activity keeps the session
/// from going idle, or a page polling by itself, which must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Person,
    Poll,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SignInRow {
    pub id: String,
    /// `browser` or `api`.
    pub kind: String,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub expires_at: i64,
    pub client: Option<String>,
    pub user_agent: Option<String>,
}

/// A personal API token as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
}

/// Why a set-password link does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    Unknown,
    Used,
    Expired,
}

/// A user row with the id of the session or token it was found by (`credential_id`) and
/// whether that passed a second factor (`credential_second_factor`).
fn user_and_credential(row: sqlx::any::AnyRow) -> Result<CredentialUser, sqlx::Error> {
    use sqlx::{FromRow, Row};
    Ok(CredentialUser {
        user: UserRow::from_row(&row)?,
        credential_id: row.try_get("credential_id")?,
        second_factor: crate::row::flag(&row, "credential_second_factor")?,
        personal: crate::row::flag(&row, "credential_personal")?,
    })
}

impl Store {
    /// Stores a new token (as its hash) for a user; also drops tokens that have expired.
    pub async fn create_token(&self, token: &NewCredential) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM api_tokens WHERE expires_at <= $1")
            .bind(token.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at, id, name, client, \
             user_agent, second_factor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&token.secret_hash)
        .bind(&token.user_id)
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(&token.id)
        .bind(&token.name)
        .bind(&token.client)
        .bind(&token.user_agent)
        .bind(i64::from(token.second_factor))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The active user a token belongs to and the token's id, if it exists and has not
    /// expired; marks it used (at most once a minute).
    pub async fn user_for_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<CredentialUser>, StoreError> {
        // Whether it was last marked used over a minute ago comes with it: most uses of a
        // token write nothing.
        let row: Option<(CredentialUser, bool)> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, t.id AS credential_id, t.second_factor AS credential_second_factor, \
             CASE WHEN t.name IS NULL THEN 0 ELSE 1 END AS credential_personal, \
             CASE WHEN t.last_used_at IS NULL OR t.last_used_at < $4 THEN 1 ELSE 0 END AS stale \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.expires_at > $2 AND u.status = $3 AND {TENANT_OPEN}"
        )))
        .bind(token_hash)
        .bind(now)
        .bind(AccountStatus::Active.as_str())
        .bind(now - 60_000)
        .try_map(|row: sqlx::any::AnyRow| {
            let stale = crate::row::flag(&row, "stale")?;
            Ok((user_and_credential(row)?, stale))
        })
        .fetch_optional(&mut *self.read_conn().await?)
        .await?;
        let Some((user, stale)) = row else {
            return Ok(None);
        };
        if stale {
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2 \
                 AND (last_used_at IS NULL OR last_used_at < $3)",
            )
            .bind(now)
            .bind(token_hash)
            .bind(now - 60_000)
            .execute(&self.pool)
            .await?;
        }
        Ok(Some(user))
    }

    /// Starts a browser session (stored as its hash); also drops sessions that have ended.
    pub async fn create_session(
        &self,
        session: &NewCredential,
        idle_ms: i64,
    ) -> Result<(), StoreError> {
        let now = session.created_at;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now)
            .bind(now - idle_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, id, client, \
             user_agent, second_factor) VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&session.secret_hash)
        .bind(&session.user_id)
        .bind(now)
        .bind(session.expires_at)
        .bind(&session.id)
        .bind(&session.client)
        .bind(&session.user_agent)
        .bind(i64::from(session.second_factor))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The active user of a live session and the session's id, marking it seen when a person
    /// asked (`Activity::Person`); `None` when unknown, idle too long, over, or its user is no
    /// longer active.
    pub async fn session_user(
        &self,
        id_hash: &str,
        now: i64,
        idle_ms: i64,
        activity: Activity,
    ) -> Result<Option<CredentialUser>, StoreError> {
        let row: Option<(CredentialUser, bool)> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, s.id AS credential_id, s.second_factor AS credential_second_factor, \
             0 AS credential_personal, CASE WHEN s.last_seen_at < $5 THEN 1 ELSE 0 END AS stale \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND u.status = $4 \
             AND {TENANT_OPEN}"
        )))
        .bind(id_hash)
        .bind(now)
        .bind(now - idle_ms)
        .bind(AccountStatus::Active.as_str())
        .bind(now - 60_000)
        .try_map(|row: sqlx::any::AnyRow| {
            let stale = crate::row::flag(&row, "stale")?;
            Ok((user_and_credential(row)?, stale))
        })
        .fetch_optional(&mut *self.read_conn().await?)
        .await?;
        let Some((user, stale)) = row else {
            return Ok(None);
        };
        if stale && activity == Activity::Person {
            // Written at most once a minute per session, to keep page views cheap.
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2 AND last_seen_at < $3",
            )
            .bind(now)
            .bind(id_hash)
            .bind(now - 60_000)
            .execute(&self.pool)
            .await?;
        }
        Ok(Some(user))
    }

    /// Remembers a browser that signed in to a user's account (by its cookie's hash).
    pub async fn remember_device(
        &self,
        token_hash: &str,
        user_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO known_devices (token_hash, user_id, created_at, last_used_at) \
             VALUES ($1, $2, $3, $3)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether the browser with this cookie's hash signed in to the account `username` before.
    pub async fn device_knows(&self, token_hash: &str, username: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM known_devices d JOIN users u ON u.id = d.user_id \
             WHERE d.token_hash = $1 AND u.username_key = $2",
        )
        .bind(token_hash)
        .bind(username.to_lowercase())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Ends a browser session by its secret's hash.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends the session or token a request came with.
    pub async fn end_credential(
        &self,
        user_id: &str,
        credential: &Credential,
    ) -> Result<(), StoreError> {
        let (table, id) = match credential {
            Credential::Session(id) => ("sessions", id),
            Credential::Token(id) => ("api_tokens", id),
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE user_id = $1 AND id = $2"
        )))
        .bind(user_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A user's live sessions and sign-in tokens, newest first.
    pub async fn list_sign_ins(
        &self,
        user_id: &str,
        now: i64,
        idle_ms: i64,
    ) -> Result<Vec<SignInRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, 'browser' AS kind, created_at, last_seen_at, expires_at, client, user_agent \
             FROM sessions WHERE user_id = $1 AND expires_at > $2 AND last_seen_at > $3 \
             UNION ALL \
             SELECT id, 'api' AS kind, created_at, last_used_at AS last_seen_at, expires_at, client, user_agent \
             FROM api_tokens WHERE user_id = $1 AND expires_at > $2 AND name IS NULL \
             ORDER BY created_at DESC",
        )
        .bind(user_id)
        .bind(now)
        .bind(now - idle_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Ends one of a user's sessions or sign-in tokens by its id; `NotFound` when the user
    /// has none with that id.
    pub async fn end_sign_in(&self, user_id: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let sessions = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let tokens =
            sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id = $2 AND name IS NULL")
                .bind(user_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if sessions + tokens == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Ends every session and sign-in token of a user but `keep` (personal tokens stay).
    pub async fn end_other_sign_ins(
        &self,
        user_id: &str,
        keep: &Credential,
    ) -> Result<(), StoreError> {
        let (keep_session, keep_token) = match keep {
            Credential::Session(id) => (id.as_str(), ""),
            Credential::Token(id) => ("", id.as_str()),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user_id)
            .bind(keep_session)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id <> $2 AND name IS NULL")
            .bind(user_id)
            .bind(keep_token)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user's personal tokens that have not expired, newest first.
    pub async fn list_personal_tokens(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<TokenRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, created_at, expires_at, last_used_at FROM api_tokens \
             WHERE user_id = $1 AND name IS NOT NULL AND expires_at > $2 ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Revokes one of a user's personal tokens; `NotFound` when they have none with that id.
    pub async fn revoke_personal_token(&self, user_id: &str, id: &str) -> Result<(), StoreError> {
        let n = sqlx::query(
            "DELETE FROM api_tokens WHERE user_id = $1 AND id = $2 AND name IS NOT NULL",
        )
        .bind(user_id)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Whether a set-password link can be used now, and for whom.
    pub async fn check_account_link(
        &self,
        token_hash: &str,
        purpose: AccountLinkPurpose,
        now: i64,
    ) -> Result<Result<UserRow, LinkRefusal>, StoreError> {
        let row: Option<(String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT user_id, purpose, expires_at, used_at FROM account_links WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((user_id, kind, expires_at, used_at)) = row else {
            return Ok(Err(LinkRefusal::Unknown));
        };
        if kind != purpose.as_str() {
            return Ok(Err(LinkRefusal::Unknown));
        }
        if used_at.is_some() {
            return Ok(Err(LinkRefusal::Used));
        }
        if expires_at <= now {
            return Ok(Err(LinkRefusal::Expired));
        }
        let user = self.get_user(&user_id).await?;
        if user.status == AccountStatus::Disabled {
            return Ok(Err(LinkRefusal::Used));
        }
        Ok(Ok(user))
    }

    /// Sets a password from a link, once: the link is used, the account active, and every
    /// session, token and other link of the account ends. Checked again inside the
    /// transaction, so two uses at once set one password.
    pub async fn use_account_link(
        &self,
        token_hash: &str,
        purpose: AccountLinkPurpose,
        password_hash: &str,
        now: i64,
    ) -> Result<Result<UserRow, LinkRefusal>, StoreError> {
        let mut tx = self.begin_write().await?;
        let used = sqlx::query(
            "UPDATE account_links SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 \
             AND used_at IS NULL AND expires_at > $1 \
             AND user_id IN (SELECT id FROM users WHERE status <> $4)",
        )
        .bind(now)
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(AccountStatus::Disabled.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if used == 0 {
            drop(tx);
            return Ok(
                match self.check_account_link(token_hash, purpose, now).await? {
                    Err(refusal) => Err(refusal),
                    // Became usable meanwhile: cannot happen to a link, which only ages.
                    Ok(_) => Err(LinkRefusal::Used),
                },
            );
        }
        let user_id: String =
            sqlx::query_scalar("SELECT user_id FROM account_links WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query(
            "UPDATE users SET password_hash = $1, status = $2, must_change_password = 0 WHERE id = $3",
        )
        .bind(password_hash)
        .bind(AccountStatus::Active.as_str())
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
        end_all_credentials(&mut tx, &user_id, None).await?;
        tx.commit().await?;
        Ok(Ok(self.get_user(&user_id).await?))
    }

    /// Sets a user's own new password: every other session, token and link of theirs ends.
    pub async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep: Option<&Credential>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET password_hash = $1, must_change_password = 0 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        end_all_credentials(&mut tx, user_id, keep).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_open_tenant_is_an_active_one() {
        let active = format!("'{}'", portal_domain::TenantStatus::Active.as_str());
        assert!(super::TENANT_OPEN.contains(&active));
        assert!(portal_domain::TenantStatus::Active.is_open());
    }
}
