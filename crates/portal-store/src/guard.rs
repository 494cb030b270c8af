//! Counters of failed sign-ins per account and per client address. An attempt is counted as a
//! failure *before* its password is checked, under a row lock, so parallel guesses cannot
//! get past the limit; a success clears the account's count.

use crate::{Store, StoreError};

/// What a counter allows: how many failures pass freely, how the lock grows after that, and
/// when an old count is forgotten.
#[derive(Debug, Clone, Copy)]
pub struct GuardRule {
    pub free_failures: i64,
    /// The first lock, doubled for each failure after it, up to `max_lock_ms`.
    pub first_lock_ms: i64,
    pub max_lock_ms: i64,
    /// Failures older than this are forgotten.
    pub forget_after_ms: i64,
}

impl GuardRule {
    /// How long a counter that has reached `failures` stays locked.
    pub fn lock_for(&self, failures: i64) -> i64 {
        if failures < self.free_failures {
            return 0;
        }
        let doublings = (failures - self.free_failures).min(20);
        (self.first_lock_ms << doublings).min(self.max_lock_ms)
    }
}

impl Store {
    /// Counts one attempt against each `(scope, subject, rule)` at `now`, in one transaction.
    /// `Err(retry_after_ms)` when one of them is locked: nothing is counted then, and the
    /// attempt must not be evaluated.
    pub async fn take_sign_in_attempt(
        &self,
        counters: &[(&str, &str, GuardRule)],
        now: i64,
    ) -> Result<Result<(), i64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut rows = Vec::with_capacity(counters.len());
        for (scope, subject, rule) in counters {
            sqlx::query(
                "INSERT INTO sign_in_failures (scope, subject, failures, last_at, locked_until) \
                 VALUES ($1, $2, 0, $3, 0) ON CONFLICT (scope, subject) DO NOTHING",
            )
            .bind(*scope)
            .bind(*subject)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let (failures, last_at, locked_until): (i64, i64, i64) =
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT failures, last_at, locked_until FROM sign_in_failures \
                     WHERE scope = $1 AND subject = $2{}",
                    self.lock_clause()
                )))
                .bind(*scope)
                .bind(*subject)
                .fetch_one(&mut *tx)
                .await?;
            if locked_until > now {
                // Dropping the transaction counts nothing.
                return Ok(Err(locked_until - now));
            }
            let failures = if now - last_at > rule.forget_after_ms {
                0
            } else {
                failures
            };
            rows.push((*scope, *subject, failures + 1, rule.lock_for(failures + 1)));
        }
        for (scope, subject, failures, lock_ms) in rows {
            sqlx::query(
                "UPDATE sign_in_failures SET failures = $1, last_at = $2, locked_until = $3 \
                 WHERE scope = $4 AND subject = $5",
            )
            .bind(failures)
            .bind(now)
            .bind(if lock_ms > 0 { now + lock_ms } else { 0 })
            .bind(scope)
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Forgets counters untouched since `before` that hold no lock; returns how many.
    pub async fn sweep_attempt_counters(&self, before: i64, now: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM sign_in_failures WHERE last_at < $1 AND locked_until <= $2")
                .bind(before)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// How many failures a counter holds now (0 when it has none).
    pub async fn attempt_failures(&self, scope: &str, subject: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT failures FROM sign_in_failures WHERE scope = $1 AND subject = $2",
        )
        .bind(scope)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?
        .unwrap_or(0))
    }

    /// After a successful sign-in: the counters `forget` names (scope, subject) are forgotten
    /// and the attempt taken from the client's count is given back.
    pub async fn sign_in_succeeded(
        &self,
        forget: &[(&str, &str)],
        client: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (scope, subject) in forget {
            sqlx::query("DELETE FROM sign_in_failures WHERE scope = $1 AND subject = $2")
                .bind(*scope)
                .bind(*subject)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(client) = client {
            sqlx::query(
                "UPDATE sign_in_failures SET failures = CASE WHEN failures > 0 THEN failures - 1 \
                 ELSE 0 END WHERE scope = 'client' AND subject = $1",
            )
            .bind(client)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The whole seconds a client is told to wait (`Retry-After`) for a lock that ends in
/// `wait_ms`: at least one, never less than the lock.
pub fn retry_after_secs(wait_ms: i64) -> u64 {
    u64::try_from(wait_ms.div_euclid(1000) + 1).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::GuardRule;

    #[test]
    fn locks_start_after_the_free_failures_and_double_up_to_the_cap() {
        let rule = GuardRule {
            free_failures: 5,
            first_lock_ms: 30_000,
            max_lock_ms: 900_000,
            forget_after_ms: 86_400_000,
        };
        assert_eq!(rule.lock_for(4), 0);
        assert_eq!(rule.lock_for(5), 30_000);
        assert_eq!(rule.lock_for(6), 60_000);
        assert_eq!(rule.lock_for(9), 480_000);
        assert_eq!(rule.lock_for(10), 900_000);
        assert_eq!(rule.lock_for(1_000), 900_000);
    }
}
