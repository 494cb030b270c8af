//! Passkeys (WebAuthn) with the `webauthn-rs` crate: registering several per user, naming and
//! removing them, and the assertion that signs in with one (as the first factor, after a user
//! name, or as the second, after a password). The relying party is the host of the portal's
//! public address (`PORTAL_BASE_URL`); each ceremony's state waits in the store for its
//! answer, five minutes at most, and is used once.

use portal_domain::AuditAction;
use portal_store::factor::Removal;
use portal_store::passkey::{CeremonyPurpose, NewCeremony, PasskeyRow};
use portal_store::user::UserRow;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid,
    Webauthn, WebauthnBuilder,
};

use super::{Actor, ServiceError, Services};
use crate::token;

/// Passkey sign-ins started by user name from one client: thirty in ten minutes pass, then a
/// minute's wait, doubling up to fifteen, so that asking which names have passkeys is slow.
const LOOKUP_GUARD: portal_store::guard::GuardRule = portal_store::guard::GuardRule {
    free_failures: 30,
    first_lock_ms: 60_000,
    max_lock_ms: 15 * 60_000,
    forget_after_ms: 10 * 60_000,
};

/// How long a ceremony waits for the browser.
const CEREMONY_MS: i64 = 5 * 60 * 1000;
/// The longest name of a passkey.
pub const NAME_MAX: usize = 60;

/// Why a passkey was not registered or did not sign in.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The portal's public address is not one passkeys work with (an IP address, say).
    #[error("passkeys need the portal at a domain name")]
    Unavailable,
    /// The name is empty or too long.
    #[error("the name must be 1 to 60 characters")]
    BadName,
    /// The ceremony is unknown, used, or expired: start again.
    #[error("the ceremony is over")]
    Over,
    /// The browser's answer does not verify (another user's passkey, a wrong origin, …).
    #[error("the passkey was refused")]
    Refused,
    /// This passkey is registered already.
    #[error("the passkey is registered already")]
    Taken,
    /// No such passkey of the user.
    #[error("no such passkey")]
    NotFound,
    /// Too many passkey sign-ins started from this client; try again after this many seconds.
    #[error("too many passkey sign-ins")]
    Throttled { retry_after_secs: u64 },
    /// The role requires a second factor and this is the user's last.
    #[error("the last second factor")]
    Last,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<portal_store::StoreError> for PasskeyError {
    fn from(e: portal_store::StoreError) -> Self {
        Self::Service(e.into())
    }
}

fn internal(e: impl std::fmt::Display) -> PasskeyError {
    PasskeyError::Service(ServiceError::Internal(anyhow::anyhow!("passkey: {e}")))
}

/// The relying party of the portal's public address: its host is the RP ID, its origin the
/// only one accepted.
fn relying_party(services: &Services) -> Result<Webauthn, PasskeyError> {
    let origin = Url::parse(&services.mailer.base_url).map_err(|_| PasskeyError::Unavailable)?;
    // A relying party is a domain: an IP address is none.
    let host = origin
        .host_str()
        .filter(|h| !h.starts_with('[') && h.parse::<std::net::IpAddr>().is_err())
        .ok_or(PasskeyError::Unavailable)?
        .to_owned();
    WebauthnBuilder::new(&host, &origin)
        .and_then(|b| b.rp_name(super::second_factor::ISSUER).build())
        .map_err(|_| PasskeyError::Unavailable)
}

/// Whether passkeys work at the portal's public address.
pub fn available(services: &Services) -> bool {
    relying_party(services).is_ok()
}

/// A user's id as WebAuthn takes it (account ids are UUIDs; any other is hashed into one).
fn user_handle(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap_or_else(|_| {
        let hash = token::token_hash(id);
        Uuid::from_u128(u128::from_str_radix(&hash[..32], 16).unwrap_or_default())
    })
}

fn credential_id(passkey: &Passkey) -> Result<String, PasskeyError> {
    serde_json::to_value(passkey.cred_id())
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .ok_or_else(|| internal("a credential id that is not text"))
}

fn stored(row: &PasskeyRow) -> Result<Passkey, PasskeyError> {
    serde_json::from_str(&row.passkey).map_err(internal)
}

/// Keeps a ceremony's state; the answer is its secret.
async fn keep(
    services: &Services,
    user_id: &str,
    purpose: CeremonyPurpose,
    state: &impl serde::Serialize,
    name: Option<&str>,
    challenge_hash: Option<&str>,
) -> Result<String, PasskeyError> {
    let secret = token::new_token();
    let id_hash = token::token_hash(&secret);
    let state = serde_json::to_string(state).map_err(internal)?;
    let now = portal_store::now_ms();
    let ceremony = NewCeremony {
        id_hash: &id_hash,
        user_id,
        purpose,
        state: &state,
        name,
        challenge_hash,
        expires_at: now + CEREMONY_MS,
    };
    services.store.put_ceremony(&ceremony, now).await?;
    Ok(secret)
}

/// A passkey's name, trimmed; 1 to 60 characters without control characters.
pub fn checked_name(name: &str) -> Result<String, PasskeyError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > NAME_MAX
        || portal_domain::field::visible_text(name, "name").is_err()
    {
        return Err(PasskeyError::BadName);
    }
    Ok(name.to_owned())
}

/// Starts registering a passkey named `name` for the actor: the ceremony's secret and the
/// options for `navigator.credentials.create`.
pub async fn start_registration(
    services: &Services,
    actor: &Actor,
    name: &str,
) -> Result<(String, CreationChallengeResponse), PasskeyError> {
    actor.second_factor.may_manage()?;
    let name = checked_name(name)?;
    let rp = relying_party(services)?;
    let existing = services.store.list_passkeys(&actor.id).await?;
    let exclude = existing
        .iter()
        .map(|row| stored(row).map(|p| p.cred_id().clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let (options, state) = rp
        .start_passkey_registration(
            user_handle(&actor.id),
            &actor.username,
            &actor.username,
            Some(exclude),
        )
        .map_err(internal)?;
    let purpose = CeremonyPurpose::Register;
    let secret = keep(services, &actor.id, purpose, &state, Some(&name), None).await?;
    Ok((secret, options))
}

/// Finishes a registration with the browser's answer: the new passkey's id. The session
/// doing it counts as having passed a second factor.
pub async fn finish_registration(
    services: &Services,
    actor: &Actor,
    ceremony: &str,
    answer: &RegisterPublicKeyCredential,
) -> Result<String, PasskeyError> {
    actor.second_factor.may_manage()?;
    let rp = relying_party(services)?;
    let now = portal_store::now_ms();
    let taken = services
        .store
        .take_ceremony(&token::token_hash(ceremony), CeremonyPurpose::Register, now)
        .await?
        .filter(|c| c.user_id == actor.id)
        .ok_or(PasskeyError::Over)?;
    let state: PasskeyRegistration = serde_json::from_str(&taken.state).map_err(internal)?;
    let passkey = rp
        .finish_passkey_registration(answer, &state)
        .map_err(|e| {
            tracing::info!(error = %e, "a passkey registration was refused");
            PasskeyError::Refused
        })?;
    let name = taken.name.unwrap_or_else(|| "Passkey".to_owned());
    let row = PasskeyRow {
        id: portal_store::new_id(),
        user_id: actor.id.clone(),
        credential_id: credential_id(&passkey)?,
        name: name.clone(),
        passkey: serde_json::to_string(&passkey).map_err(internal)?,
        created_at: now,
        last_used_at: None,
    };
    let entry = super::audit::entry(
        Some(actor),
        AuditAction::PasskeyAdded,
        actor.tenant_id.as_deref(),
        Some(&actor.id),
        Some(format!("{}: {name:?}", actor.username)),
    );
    if !services
        .store
        .add_passkey(&row, actor.credential.as_ref(), &entry)
        .await?
    {
        return Err(PasskeyError::Taken);
    }
    Ok(row.id)
}

/// The actor's passkeys, oldest first.
pub async fn list(services: &Services, actor: &Actor) -> Result<Vec<PasskeyRow>, ServiceError> {
    Ok(services.store.list_passkeys(&actor.id).await?)
}

pub async fn rename(
    services: &Services,
    actor: &Actor,
    id: &str,
    name: &str,
) -> Result<(), PasskeyError> {
    actor.second_factor.may_manage()?;
    let name = checked_name(name)?;
    if services.store.rename_passkey(&actor.id, id, &name).await? {
        Ok(())
    } else {
        Err(PasskeyError::NotFound)
    }
}

/// Removes one of the actor's passkeys; the last second factor of a role that requires one
/// stays.
pub async fn remove(services: &Services, actor: &Actor, id: &str) -> Result<(), PasskeyError> {
    actor.second_factor.may_manage()?;
    let keep_last = super::security::policy(services)
        .await?
        .requires_second_factor(actor.role);
    let entry = super::audit::entry(
        Some(actor),
        AuditAction::PasskeyRemoved,
        actor.tenant_id.as_deref(),
        Some(&actor.id),
        Some(actor.username.clone()),
    );
    match services
        .store
        .remove_passkey(&actor.id, id, keep_last, &entry, portal_store::now_ms())
        .await?
    {
        Removal::Removed => Ok(()),
        Removal::Missing => Err(PasskeyError::NotFound),
        Removal::LastKept => Err(PasskeyError::Last),
    }
}

/// Who a passkey sign-in is for.
#[derive(Debug, Clone, Copy)]
pub enum SignInBy<'a> {
    /// The first factor: the account of this user name or login ID.
    Name(&'a str),
    /// The second factor of a waiting sign-in (by its secret's hash), of this user.
    Waiting {
        challenge_hash: &'a str,
        user: &'a UserRow,
    },
}

/// Starts a passkey sign-in for an account with passkeys: the ceremony's secret and the
/// options for `navigator.credentials.get`. `None` when the account is unknown, not active,
/// or has no passkey.
pub async fn start_sign_in(
    services: &Services,
    by: SignInBy<'_>,
) -> Result<Option<(String, RequestChallengeResponse)>, PasskeyError> {
    if matches!(by, SignInBy::Name(_)) {
        let client = super::audit::client_key();
        let counter = [(
            "passkey_lookup",
            client.as_deref().unwrap_or("unknown"),
            LOOKUP_GUARD,
        )];
        let now = portal_store::now_ms();
        if let Err(wait_ms) = services.store.take_sign_in_attempt(&counter, now).await? {
            return Err(PasskeyError::Throttled {
                retry_after_secs: portal_store::guard::retry_after_secs(wait_ms),
            });
        }
    }
    let rp = relying_party(services)?;
    let (user, challenge_hash) = match by {
        SignInBy::Name(name) => {
            let login = portal_domain::field::login_id(name.trim());
            match services.store.find_user_by_username(&login).await? {
                Some(user) => (user, None),
                None => return Ok(None),
            }
        }
        SignInBy::Waiting {
            challenge_hash,
            user,
        } => (user.clone(), Some(challenge_hash)),
    };
    if user.status != portal_domain::AccountStatus::Active {
        return Ok(None);
    }
    let passkeys = services
        .store
        .list_passkeys(&user.id)
        .await?
        .iter()
        .map(stored)
        .collect::<Result<Vec<_>, _>>()?;
    if passkeys.is_empty() {
        return Ok(None);
    }
    let (options, state) = rp
        .start_passkey_authentication(&passkeys)
        .map_err(internal)?;
    let purpose = CeremonyPurpose::SignIn;
    let secret = keep(services, &user.id, purpose, &state, None, challenge_hash).await?;
    Ok(Some((secret, options)))
}

/// A verified passkey sign-in: whose, and the waiting sign-in it finishes (if any).
#[derive(Debug)]
pub struct Asserted {
    pub user: UserRow,
    pub challenge_hash: Option<String>,
}

/// Checks the browser's answer to a sign-in ceremony against the passkeys of the user it was
/// started for, and keeps the passkey's new counter.
pub async fn verify_sign_in(
    services: &Services,
    ceremony: &str,
    answer: &PublicKeyCredential,
) -> Result<Asserted, PasskeyError> {
    let rp = relying_party(services)?;
    let now = portal_store::now_ms();
    let taken = services
        .store
        .take_ceremony(&token::token_hash(ceremony), CeremonyPurpose::SignIn, now)
        .await?
        .ok_or(PasskeyError::Over)?;
    let state: PasskeyAuthentication = serde_json::from_str(&taken.state).map_err(internal)?;
    let result = match rp.finish_passkey_authentication(answer, &state) {
        Ok(result) => result,
        Err(e) => {
            tracing::info!(error = %e, "a passkey sign-in was refused");
            let mut entry = super::audit::entry(
                None,
                AuditAction::SecondFactorFailed,
                None,
                Some(&taken.user_id),
                Some("passkey".to_owned()),
            );
            entry.actor_id = Some(taken.user_id.clone());
            super::audit::record(services, entry).await;
            return Err(PasskeyError::Refused);
        }
    };
    let rows = services.store.list_passkeys(&taken.user_id).await?;
    for row in &rows {
        let mut passkey = stored(row)?;
        if passkey.update_credential(&result).is_some() {
            let text = serde_json::to_string(&passkey).map_err(internal)?;
            services.store.passkey_used(&row.id, &text, now).await?;
        }
    }
    let user = services.store.get_user(&taken.user_id).await?;
    Ok(Asserted {
        user,
        challenge_hash: taken.challenge_hash,
    })
}
