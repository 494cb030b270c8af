//! Second factors: a user's authenticator app (TOTP) with its recovery codes, and the browser
//! sign-ins that wait for one. A code is used by a conditional `UPDATE`, so two requests with
//! the same code cannot both pass, on either database.

use crate::audit::AuditEntry;
use crate::user::Credential;
use crate::{Store, StoreError};

/// A user's authenticator app as stored.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TotpRow {
    /// The base32 key.
    pub secret: String,
    pub created_at: i64,
    /// `None` until a first code confirmed the enrolment.
    pub confirmed_at: Option<i64>,
    /// The last 30-second step a code was accepted for.
    pub last_step: i64,
}

impl std::fmt::Debug for TotpRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRow")
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// What came of removing a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// There was none such.
    Missing,
    /// It is the account's last second factor, which its role requires: it stays.
    LastKept,
}

/// Why an authenticator app could not be confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmRefusal {
    /// No enrolment was started, or it was confirmed already.
    NotPending,
    /// The step was used already (the same code twice).
    StepUsed,
}

impl Store {
    /// Starts (or starts again) the enrolment of an authenticator app with a new key;
    /// `false` when the user has a confirmed one, which stays as it is.
    pub async fn start_totp(
        &self,
        user_id: &str,
        secret: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let confirmed: Option<Option<i64>> =
            sqlx::query_scalar("SELECT confirmed_at FROM totp_factors WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        match confirmed {
            Some(Some(_)) => return Ok(false),
            Some(None) => {
                sqlx::query(
                    "UPDATE totp_factors SET secret = $2, created_at = $3, last_step = 0 \
                     WHERE user_id = $1 AND confirmed_at IS NULL",
                )
                .bind(user_id)
                .bind(secret)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO totp_factors (user_id, secret, created_at) VALUES ($1, $2, $3)",
                )
                .bind(user_id)
                .bind(secret)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The user's authenticator app, confirmed or not.
    pub async fn totp_factor(&self, user_id: &str) -> Result<Option<TotpRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT secret, created_at, confirmed_at, last_step FROM totp_factors WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Confirms a pending enrolment with the step its first code was for, in one transaction
    /// with its new recovery codes (replacing any old ones), the mark that the session or
    /// token doing it passed a second factor, and the audit entry.
    pub async fn confirm_totp(
        &self,
        user_id: &str,
        step: i64,
        recovery_code_hashes: &[String],
        credential: Option<&Credential>,
        audit: &AuditEntry,
        now: i64,
    ) -> Result<Result<(), ConfirmRefusal>, StoreError> {
        let mut tx = self.begin_write().await?;
        let confirmed = sqlx::query(
            "UPDATE totp_factors SET confirmed_at = $2, last_step = $3 \
             WHERE user_id = $1 AND confirmed_at IS NULL AND last_step < $3",
        )
        .bind(user_id)
        .bind(now)
        .bind(step)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if confirmed == 0 {
            let pending: Option<i64> = sqlx::query_scalar(
                "SELECT last_step FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NULL",
            )
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            return Ok(Err(match pending {
                Some(_) => ConfirmRefusal::StepUsed,
                None => ConfirmRefusal::NotPending,
            }));
        }
        replace_recovery_codes(&mut tx, user_id, recovery_code_hashes).await?;
        if let Some(credential) = credential {
            mark_second_factor(&mut tx, user_id, credential).await?;
        }
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Uses the step a code was for: `true` only when the app is confirmed and no code of
    /// this step or a later one was accepted before.
    pub async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let used = sqlx::query(
            "UPDATE totp_factors SET last_step = $2 \
             WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
        )
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(used == 1)
    }

    /// Uses a recovery code (by its hash): `true` the first time only.
    pub async fn use_recovery_code(
        &self,
        user_id: &str,
        code_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let used = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(code_hash)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(used == 1)
    }

    /// How many of the user's recovery codes are still unused.
    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Replaces the user's recovery codes with new ones, with the audit entry.
    pub async fn renew_recovery_codes(
        &self,
        user_id: &str,
        code_hashes: &[String],
        audit: &AuditEntry,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        replace_recovery_codes(&mut tx, user_id, code_hashes).await?;
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the user's authenticator app and its recovery codes, with the audit entry.
    /// With `keep_last`, a confirmed app that is the account's last second factor stays (the
    /// count is taken in the same transaction, with the account's row locked).
    pub async fn remove_totp(
        &self,
        user_id: &str,
        keep_last: bool,
        audit: &AuditEntry,
        now: i64,
    ) -> Result<Removal, StoreError> {
        let mut tx = self.begin_write().await?;
        let confirmed: Option<Option<i64>> =
            sqlx::query_scalar("SELECT confirmed_at FROM totp_factors WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(confirmed) = confirmed else {
            return Ok(Removal::Missing);
        };
        if keep_last && confirmed.is_some() && self.factors_locked(&mut tx, user_id).await? <= 1 {
            return Ok(Removal::LastKept);
        }
        sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        Ok(Removal::Removed)
    }

    /// The account's second factors in force, with its row locked until the transaction ends
    /// (SQLite's write transaction holds the whole database already).
    pub(crate) async fn factors_locked(
        &self,
        tx: &mut crate::WriteTx,
        user_id: &str,
    ) -> Result<i64, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM users WHERE id = $1{}",
            self.lock_clause()
        )))
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
        Ok(sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL) \
             + (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)",
        )
        .bind(user_id)
        .fetch_one(&mut **tx)
        .await?)
    }

    /// Keeps a browser sign-in waiting for its second factor until `expires_at`.
    pub async fn create_sign_in_challenge(
        &self,
        token_hash: &str,
        user_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sign_in_challenges WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sign_in_challenges (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user a waiting sign-in is for, while it has not expired and has had fewer than
    /// `max_failures` wrong codes.
    pub async fn sign_in_challenge_user(
        &self,
        token_hash: &str,
        now: i64,
        max_failures: i64,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM sign_in_challenges \
             WHERE token_hash = $1 AND expires_at > $2 AND failures < $3",
        )
        .bind(token_hash)
        .bind(now)
        .bind(max_failures)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Counts a wrong code against a waiting sign-in.
    pub async fn sign_in_challenge_failed(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sign_in_challenges SET failures = failures + 1 WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a waiting sign-in; `true` when it was still there (so only one request ends it).
    pub async fn end_sign_in_challenge(&self, token_hash: &str) -> Result<bool, StoreError> {
        let ended = sqlx::query("DELETE FROM sign_in_challenges WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(ended == 1)
    }
}

async fn replace_recovery_codes(
    tx: &mut crate::WriteTx,
    user_id: &str,
    code_hashes: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    for hash in code_hashes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(hash)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Marks a session or token as having passed a second factor.
pub(crate) async fn mark_second_factor(
    tx: &mut crate::WriteTx,
    user_id: &str,
    credential: &Credential,
) -> Result<(), StoreError> {
    // A personal token (one with a name) never counts as having passed a second factor.
    let (table, personal_tokens_stay) = match credential {
        Credential::Session(_) => ("sessions", ""),
        Credential::Token(_) => ("api_tokens", " AND name IS NULL"),
    };
    let (Credential::Session(id) | Credential::Token(id)) = credential;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET second_factor = 1 WHERE user_id = $1 AND id = $2{personal_tokens_stay}"
    )))
    .bind(user_id)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
