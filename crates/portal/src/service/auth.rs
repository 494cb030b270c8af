//! Sign-in with a user name and password, and bearer tokens.

use portal_domain::{AccountStatus, AuditAction, TenantStatus};
use portal_store::credential::{Activity, Credential, NewCredential};
use portal_store::guard::GuardRule;
use tracing::info;

use super::second_factor::{self, Proof};
use super::{Actor, SecondFactorState, ServiceError, Services};
use crate::token;

/// A fresh bearer token and who it is for.
#[derive(Clone)]
pub struct SignedIn {
    pub token: String,
    pub expires_at: i64,
    pub actor: Actor,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("expires_at", &self.expires_at)
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the user name or password is wrong")]
    InvalidCredentials,
    /// Too many failed attempts for the account or from the client: try again after this
    /// many seconds. The password was not checked.
    #[error("too many failed sign-ins; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// The password was right; the account's second factor is needed. A browser's sign-in
    /// goes on with `challenge`, the secret of its waiting sign-in.
    #[error("a second factor is needed")]
    SecondFactorRequired { challenge: Option<Waiting> },
    /// The second factor given was wrong or used already.
    #[error("the second factor is wrong")]
    SecondFactorWrong,
    /// The password was right, but the account's tenant is suspended or closed.
    #[error("the tenant is {0}")]
    TenantShut(TenantStatus),
    /// A browser's waiting sign-in is over (too slow, too many wrong codes, or unknown).
    #[error("the sign-in is over; start again")]
    ChallengeOver,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// The actor of an account, coming with `credential`.
pub fn actor_of(user: portal_store::user::UserRow, credential: Option<Credential>) -> Actor {
    let second_factor = SecondFactorState {
        enrolled: user.has_second_factor(),
        passed: false,
        personal_token: false,
    };
    Actor {
        second_factor,
        id: user.id,
        username: user.username,
        role: user.role,
        tenant_id: user.tenant_id,
        must_change_password: user.must_change_password,
        credential,
    }
}

/// How long a browser's sign-in waits for its second factor, and for how many wrong codes.
const CHALLENGE_MS: i64 = 5 * 60 * 1000;
const CHALLENGE_FAILURES: i64 = 3;

/// Checks a user name and password; an unknown user costs the same time as a wrong password.
async fn verify_credentials(
    services: &Services,
    username: &str,
    password: String,
) -> Result<Actor, LoginError> {
    let username = username.trim();
    if username.is_empty()
        || username.len() > 320
        || portal_domain::field::visible_text(username, "User name").is_err()
    {
        // No account's name holds what does not show. Spend the same time as a real check, so the answer tells nothing.
        services
            .hasher
            .verify(password, None)
            .await
            .map_err(ServiceError::from)?;
        return Err(LoginError::InvalidCredentials);
    }
    // A login ID's domain may be typed in Unicode or in its ASCII form.
    let user = services
        .store
        .find_user_by_username(&portal_domain::field::login_id(username))
        .await
        .map_err(ServiceError::from)?;
    // An account without a password yet (invited) or disabled is checked against nothing,
    // which costs the same time and fails.
    let user = user.filter(|u| u.status == AccountStatus::Active && u.has_password() && !u.sso);
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let matched = services
        .hasher
        .verify(password, hash)
        .await
        .map_err(ServiceError::from)?;
    let Some(user) = user.filter(|_| matched) else {
        info!("sign-in refused");
        return Err(LoginError::InvalidCredentials);
    };
    match tenant_allows(services, &user).await? {
        TenantEntry::Open => Ok(actor_of(user, None)),
        TenantEntry::NotYet => {
            info!("sign-in refused: the tenant is not active yet");
            Err(LoginError::InvalidCredentials)
        }
        TenantEntry::Shut(status) => {
            info!(tenant.status = %status, "sign-in refused: the tenant is shut");
            Err(LoginError::TenantShut(status))
        }
    }
}

/// Whether a tenant's user may come in, for the tenant's sake.
enum TenantEntry {
    Open,
    /// Not active yet (still provisioning, or unknown): as wrong credentials.
    NotYet,
    /// Suspended, closed or purged: said, to one who knows the password.
    Shut(TenantStatus),
}

/// A tenant's user signs in only while the tenant is active.
async fn tenant_allows(
    services: &Services,
    user: &portal_store::user::UserRow,
) -> Result<TenantEntry, ServiceError> {
    let Some(tenant_id) = &user.tenant_id else {
        return Ok(TenantEntry::Open);
    };
    match services.store.get_tenant(tenant_id).await {
        Ok(t) if t.status.is_open() => Ok(TenantEntry::Open),
        Ok(t) if t.status.sign_in_refusal().is_some() => Ok(TenantEntry::Shut(t.status)),
        Ok(_) | Err(portal_store::StoreError::NotFound) => Ok(TenantEntry::NotYet),
        Err(e) => Err(e.into()),
    }
}

/// Failed sign-ins of one account from one client: five pass, then that pair is locked for
/// 30 s, doubling with each further failure up to 15 minutes; a day without failures forgets
/// them. The account's owner from another client is not held back.
pub const PAIR_GUARD: GuardRule = GuardRule {
    free_failures: 5,
    first_lock_ms: 30_000,
    max_lock_ms: 15 * 60_000,
    forget_after_ms: 24 * 60 * 60_000,
};

/// Failed sign-ins of one account from every client: the last resort, far above what a
/// person types (reaching it takes many clients, each held back by its own counters): a
/// hundred pass, then 15 minutes, doubling up to an hour; its owner is emailed when it locks.
pub const ACCOUNT_GUARD: GuardRule = GuardRule {
    free_failures: 100,
    first_lock_ms: 15 * 60_000,
    max_lock_ms: 60 * 60_000,
    forget_after_ms: 24 * 60 * 60_000,
};

/// Failed sign-ins from one client address, over all accounts: twenty pass, then a minute's
/// lock, doubling up to an hour; an hour without failures forgets them.
pub const CLIENT_GUARD: GuardRule = GuardRule {
    free_failures: 20,
    first_lock_ms: 60_000,
    max_lock_ms: 60 * 60_000,
    forget_after_ms: 60 * 60_000,
};

/// The key an account's counters go by, however its login ID's domain or case was typed.
pub fn counter_key(typed: &str) -> String {
    portal_domain::field::login_id(typed.trim())
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_control())
        .take(320)
        .collect()
}

/// The counters a sign-in of one account from this client goes by.
struct Counters {
    /// The account, however its login ID's domain or case was typed.
    account: String,
    /// The account from this client.
    pair: String,
    client: Option<String>,
    /// Whether the account's last-resort counter applies (not to a browser that signed in
    /// to the account before).
    count_account: bool,
}

impl Counters {
    fn of(username: &str, known_device: bool) -> Self {
        let account = counter_key(username);
        let client = super::audit::client_key();
        let pair = format!("{account} from {}", client.as_deref().unwrap_or("unknown"));
        Self {
            account,
            pair,
            client,
            count_account: !known_device,
        }
    }

    /// Counts the attempt against the account from this client, the client, and the
    /// account from anywhere, before anything is checked; `Throttled` while any of them is
    /// locked.
    async fn take(&self, services: &Services) -> Result<(), LoginError> {
        let mut counters = vec![("pair", self.pair.as_str(), PAIR_GUARD)];
        if self.count_account {
            counters.push(("account", self.account.as_str(), ACCOUNT_GUARD));
        }
        if let Some(c) = &self.client {
            counters.push(("client", c.as_str(), CLIENT_GUARD));
        }
        let now = portal_store::now_ms();
        if let Err(wait_ms) = services
            .store
            .take_sign_in_attempt(&counters, now)
            .await
            .map_err(ServiceError::from)?
        {
            info!("sign-in refused: too many failed attempts");
            return Err(LoginError::Throttled {
                retry_after_secs: portal_store::guard::retry_after_secs(wait_ms),
            });
        }
        Ok(())
    }

    /// A whole sign-in succeeded: the account's counts are forgotten, the time noted and the
    /// sign-in written to the audit log.
    async fn succeeded(&self, services: &Services, actor: &Actor, way: &str) {
        let forget = [
            ("account", self.account.as_str()),
            ("pair", self.pair.as_str()),
        ];
        if let Err(e) = services
            .store
            .sign_in_succeeded(&forget, self.client.as_deref())
            .await
        {
            tracing::warn!(error = %e, "failed sign-ins were not cleared");
        }
        if let Err(e) = services
            .store
            .note_sign_in(&actor.id, portal_store::now_ms())
            .await
        {
            tracing::warn!(error = %e, "the sign-in's time was not noted");
        }
        let entry = super::audit::entry(
            Some(actor),
            portal_domain::AuditAction::SignIn,
            actor.tenant_id.as_deref(),
            None,
            Some(way.to_owned()),
        );
        super::audit::record(services, entry).await;
    }
}

/// A browser's sign-in waiting for its second factor: its secret, and which kinds of second
/// factor the account has.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub secret: String,
    pub totp: bool,
    /// Unused recovery codes remain.
    pub recovery: bool,
    pub passkeys: bool,
}

/// The account of a waiting sign-in, by its secret; `None` when it is over.
pub async fn waiting_user(
    services: &Services,
    secret: &str,
) -> Result<Option<portal_store::user::UserRow>, ServiceError> {
    let hash = token::token_hash(secret);
    let now = portal_store::now_ms();
    match services
        .store
        .sign_in_challenge_user(&hash, now, CHALLENGE_FAILURES)
        .await?
    {
        Some(user_id) => Ok(Some(services.store.get_user(&user_id).await?)),
        None => Ok(None),
    }
}

/// The kinds of second factor of a waiting sign-in, by its secret; `None` when it is over.
pub async fn waiting(services: &Services, secret: &str) -> Result<Option<Waiting>, ServiceError> {
    let hash = token::token_hash(secret);
    let now = portal_store::now_ms();
    let Some(user_id) = services
        .store
        .sign_in_challenge_user(&hash, now, CHALLENGE_FAILURES)
        .await?
    else {
        return Ok(None);
    };
    waiting_of(services, secret.to_owned(), &user_id)
        .await
        .map(Some)
}

async fn waiting_of(
    services: &Services,
    secret: String,
    user_id: &str,
) -> Result<Waiting, ServiceError> {
    let totp = services
        .store
        .totp_factor(user_id)
        .await?
        .is_some_and(|t| t.confirmed_at.is_some());
    let passkeys = !services.store.list_passkeys(user_id).await?.is_empty();
    let recovery = services.store.recovery_codes_left(user_id).await? > 0;
    Ok(Waiting {
        secret,
        totp,
        recovery,
        passkeys,
    })
}

/// What a sign-in does after a right password, for an account with a second factor.
#[derive(Debug)]
pub enum SecondStep {
    /// The API: the second factor came with the password, or none did.
    With(Option<Proof>),
    /// A browser: the second factor is asked for on a page of its own.
    OwnPage,
}

/// Checks the credentials behind the guard of failed attempts, and writes the attempt to the
/// audit log (a failed one names only a known account, never what was typed).
async fn audited_sign_in(
    services: &Services,
    username: &str,
    password: String,
    way: &str,
    known_device: bool,
    second: SecondStep,
) -> Result<Actor, LoginError> {
    let counters = Counters::of(username, known_device);
    if let Err(refused) = counters.take(services).await {
        if matches!(refused, LoginError::Throttled { .. }) {
            record_failed_sign_in(services, username, way, AuditAction::SignInRefused).await;
        }
        return Err(refused);
    }
    match verify_credentials(services, username, password).await {
        Ok(mut actor) => {
            if actor.second_factor.enrolled {
                let proof = match second {
                    SecondStep::With(Some(proof)) => proof,
                    SecondStep::With(None) => {
                        return Err(LoginError::SecondFactorRequired { challenge: None });
                    }
                    SecondStep::OwnPage => {
                        let challenge = open_challenge(services, &actor).await?;
                        return Err(LoginError::SecondFactorRequired {
                            challenge: Some(challenge),
                        });
                    }
                };
                check_second_factor(services, &mut actor, &proof, way).await?;
            }
            counters.succeeded(services, &actor, way).await;
            Ok(actor)
        }
        Err(LoginError::InvalidCredentials) => {
            record_failed_sign_in(services, username, way, AuditAction::SignInFailed).await;
            tell_owner_of_lock(services, username, &counters.account).await;
            Err(LoginError::InvalidCredentials)
        }
        // The password was right: not a failure to count, but kept in the tenant's log.
        Err(LoginError::TenantShut(status)) => {
            let why = format!("{way}, the tenant is {status}");
            record_failed_sign_in(services, username, &why, AuditAction::SignInFailed).await;
            Err(LoginError::TenantShut(status))
        }
        Err(e) => Err(e),
    }
}

/// Checks `actor`'s second factor (the attempt was counted before): passed, or the refusal
/// written to the audit log.
async fn check_second_factor(
    services: &Services,
    actor: &mut Actor,
    proof: &Proof,
    way: &str,
) -> Result<(), LoginError> {
    if !second_factor::verify(services, &actor.id, &actor.username, proof).await? {
        info!(user.id = %actor.id, "sign-in refused: wrong second factor");
        super::audit::record_own(
            services,
            actor,
            AuditAction::SecondFactorFailed,
            Some(way.to_owned()),
        )
        .await;
        return Err(LoginError::SecondFactorWrong);
    }
    actor.second_factor.passed = true;
    if matches!(proof, Proof::RecoveryCode(_)) {
        let left = services
            .store
            .recovery_codes_left(&actor.id)
            .await
            .map_err(ServiceError::from)?;
        super::audit::record_own(
            services,
            actor,
            AuditAction::RecoveryCodeUsed,
            Some(format!("{left} left")),
        )
        .await;
    }
    Ok(())
}

/// Opens a browser's sign-in that waits for its second factor.
async fn open_challenge(services: &Services, actor: &Actor) -> Result<Waiting, ServiceError> {
    let secret = token::new_token();
    let now = portal_store::now_ms();
    let hash = token::token_hash(&secret);
    services
        .store
        .create_sign_in_challenge(&hash, &actor.id, now, now + CHALLENGE_MS)
        .await?;
    waiting_of(services, secret, &actor.id).await
}

/// When this failure is the one that locks the account everywhere (the last resort), its
/// owner is emailed: someone is trying many passwords from many places.
async fn tell_owner_of_lock(services: &Services, username: &str, account: &str) {
    let failures = match services.store.attempt_failures("account", account).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the account's failures");
            return;
        }
    };
    // Each failure counted from the hundredth on starts a lock (a locked account counts
    // none), so each is told.
    if failures < ACCOUNT_GUARD.free_failures {
        return;
    }
    let login = portal_domain::field::login_id(username);
    let Ok(Some(user)) = services.store.find_user_by_username(&login).await else {
        return;
    };
    let Some(email) = &user.email else {
        return;
    };
    let minutes = ACCOUNT_GUARD.first_lock_ms / 60_000;
    let mail = crate::mail::lock_mail(&services.mailer, email, &user.username, minutes);
    match services.store.queue_mail(&mail).await {
        Ok(()) => services.jobs_ready.notify_one(),
        Err(e) => tracing::warn!(error = %e, "the account's owner was not told of the lock"),
    }
}

/// Writes a failed or refused sign-in to the audit log. What was typed as the name is never
/// kept (people type passwords there): a known user is named by the account, anything else
/// is "an unknown name".
async fn record_failed_sign_in(
    services: &Services,
    username: &str,
    way: &str,
    action: AuditAction,
) {
    let mut entry = super::audit::entry(None, action, None, None, Some(way.to_owned()));
    let login = portal_domain::field::login_id(username);
    match services.store.find_user_by_username(&login).await {
        Ok(Some(user)) => {
            entry.actor_id = Some(user.id);
            entry.actor_name = Some(user.username);
            entry.tenant_id = user.tenant_id;
        }
        Ok(None) => entry.detail = Some(format!("{way}, unknown user name")),
        Err(e) => tracing::warn!(error = %e, "cannot name the account of a failed sign-in"),
    }
    super::audit::record(services, entry).await;
}

/// A new session or token of `actor`, from the client of the request being served.
fn new_credential(
    actor: &Actor,
    secret: &str,
    now: i64,
    expires_at: i64,
    name: Option<String>,
) -> NewCredential {
    NewCredential {
        id: portal_store::new_id(),
        secret_hash: token::token_hash(secret),
        user_id: actor.id.clone(),
        created_at: now,
        expires_at,
        // A personal token never counts as having passed one: it cannot make more tokens.
        second_factor: actor.second_factor.passed && name.is_none(),
        name,
        client: super::audit::client(),
        user_agent: super::audit::user_agent(),
    }
}

/// Signs in for the API: a bearer token. An account with a second factor needs `proof`.
#[tracing::instrument(skip_all)]
pub async fn login(
    services: &Services,
    username: &str,
    password: String,
    proof: Option<Proof>,
) -> Result<SignedIn, LoginError> {
    let second = SecondStep::With(proof);
    let mut actor = audited_sign_in(services, username, password, "api", false, second).await?;
    let token = token::new_token();
    let now = portal_store::now_ms();
    let ttl = i64::try_from(services.token_ttl.as_millis()).unwrap_or(i64::MAX / 2);
    let expires_at = now + ttl;
    let credential = new_credential(&actor, &token, now, expires_at, None);
    services
        .store
        .create_token(&credential)
        .await
        .map_err(ServiceError::from)?;
    actor.credential = Some(Credential::Token(credential.id));
    info!(user.id = %actor.id, "signed in");
    Ok(SignedIn {
        token,
        expires_at,
        actor,
    })
}

/// A browser's sign-in: its new session and how long its cookie lives, who it is, and a
/// device cookie to set when the browser had none for this account.
#[derive(Debug)]
pub struct BrowserSignIn {
    pub session: String,
    pub max_age_secs: i64,
    pub actor: Actor,
    pub new_device: Option<String>,
}

/// Whether the browser with the device cookie `device` signed in to `login` before.
async fn known_device(
    services: &Services,
    device: Option<&str>,
    login: &str,
) -> Result<bool, ServiceError> {
    match device {
        Some(d) if d.len() <= 128 => Ok(services
            .store
            .device_knows(&token::token_hash(d), login)
            .await?),
        _ => Ok(false),
    }
}

/// Signs in for the browser: a new session id (a fresh one at every sign-in). A browser that
/// signed in to the account before (`device`, its cookie) is not held back by the account's
/// last-resort lock. An account with a second factor gets `SecondFactorRequired` with the
/// secret of its waiting sign-in, which `finish_session` takes with the code.
#[tracing::instrument(skip_all)]
pub async fn start_session(
    services: &Services,
    username: &str,
    password: String,
    device: Option<&str>,
) -> Result<BrowserSignIn, LoginError> {
    let login = portal_domain::field::login_id(username.trim());
    let known = known_device(services, device, &login).await?;
    let second = SecondStep::OwnPage;
    let actor = audited_sign_in(services, username, password, "browser", known, second).await?;
    Ok(open_session(services, actor, known).await?)
}

/// Finishes a browser's sign-in that waits for its second factor (`challenge`, its secret).
/// Wrong codes are counted like wrong passwords, and against the waiting sign-in itself.
#[tracing::instrument(skip_all)]
pub async fn finish_session(
    services: &Services,
    challenge: &str,
    proof: &Proof,
    device: Option<&str>,
) -> Result<BrowserSignIn, LoginError> {
    let hash = token::token_hash(challenge);
    let now = portal_store::now_ms();
    let user_id = services
        .store
        .sign_in_challenge_user(&hash, now, CHALLENGE_FAILURES)
        .await
        .map_err(ServiceError::from)?
        .ok_or(LoginError::ChallengeOver)?;
    let user = services
        .store
        .get_user(&user_id)
        .await
        .map_err(ServiceError::from)?;
    if user.status != AccountStatus::Active {
        return Err(LoginError::ChallengeOver);
    }
    let known = known_device(services, device, &user.username).await?;
    let counters = Counters::of(&user.username, known);
    counters.take(services).await?;
    let mut actor = actor_of(user, None);
    if let Err(refused) = check_second_factor(services, &mut actor, proof, "browser").await {
        services
            .store
            .sign_in_challenge_failed(&hash)
            .await
            .map_err(ServiceError::from)?;
        return Err(refused);
    }
    // Only one request finishes a waiting sign-in.
    if !services
        .store
        .end_sign_in_challenge(&hash)
        .await
        .map_err(ServiceError::from)?
    {
        return Err(LoginError::ChallengeOver);
    }
    counters.succeeded(services, &actor, "browser").await;
    Ok(open_session(services, actor, known).await?)
}

/// Signs a browser in with a passkey: as the first factor (the ceremony was started for a
/// user name) or as the second (for a waiting sign-in, which it ends). A passkey verifies
/// its user, so the session counts as having passed a second factor.
#[tracing::instrument(skip_all)]
pub async fn finish_with_passkey(
    services: &Services,
    ceremony: &str,
    answer: &webauthn_rs::prelude::PublicKeyCredential,
    device: Option<&str>,
) -> Result<BrowserSignIn, LoginError> {
    use super::passkey::PasskeyError;
    let asserted = match super::passkey::verify_sign_in(services, ceremony, answer).await {
        Ok(asserted) => asserted,
        Err(PasskeyError::Service(e)) => return Err(e.into()),
        Err(PasskeyError::Over) => return Err(LoginError::ChallengeOver),
        Err(_) => return Err(LoginError::SecondFactorWrong),
    };
    let user = asserted.user;
    if user.status != AccountStatus::Active {
        return Err(LoginError::InvalidCredentials);
    }
    match tenant_allows(services, &user).await? {
        TenantEntry::Open => {}
        TenantEntry::NotYet => return Err(LoginError::InvalidCredentials),
        TenantEntry::Shut(status) => return Err(LoginError::TenantShut(status)),
    }
    if let Some(hash) = &asserted.challenge_hash
        && !services
            .store
            .end_sign_in_challenge(hash)
            .await
            .map_err(ServiceError::from)?
    {
        return Err(LoginError::ChallengeOver);
    }
    let known = known_device(services, device, &user.username).await?;
    let counters = Counters::of(&user.username, known);
    let mut actor = actor_of(user, None);
    actor.second_factor.passed = true;
    counters.succeeded(services, &actor, "passkey").await;
    Ok(open_session(services, actor, known).await?)
}

/// Signs a browser in after a single sign-on at the identity provider: a session, or (for an
/// account with a second factor) `SecondFactorRequired` with its waiting sign-in.
#[tracing::instrument(skip_all)]
pub async fn start_sso_session(
    services: &Services,
    user: portal_store::user::UserRow,
    device: Option<&str>,
) -> Result<BrowserSignIn, LoginError> {
    let known = known_device(services, device, &user.username).await?;
    let actor = actor_of(user, None);
    if actor.second_factor.enrolled {
        let waiting = open_challenge(services, &actor).await?;
        return Err(LoginError::SecondFactorRequired {
            challenge: Some(waiting),
        });
    }
    let counters = Counters::of(&actor.username, known);
    counters.succeeded(services, &actor, "single sign-on").await;
    Ok(open_session(services, actor, known).await?)
}

/// Starts the session of a browser's finished sign-in, with the policy's lifetimes, and
/// remembers the browser when it was not known.
async fn open_session(
    services: &Services,
    mut actor: Actor,
    known: bool,
) -> Result<BrowserSignIn, ServiceError> {
    let policy = super::security::policy(services).await?;
    let session = token::new_token();
    let now = portal_store::now_ms();
    let credential = new_credential(&actor, &session, now, now + policy.max_ms(), None);
    services
        .store
        .create_session(&credential, policy.idle_ms())
        .await?;
    actor.credential = Some(Credential::Session(credential.id));
    info!(user.id = %actor.id, "signed in to the portal");
    let new_device = if known {
        None
    } else {
        let cookie = token::new_token();
        services
            .store
            .remember_device(&token::token_hash(&cookie), &actor.id, now)
            .await?;
        Some(cookie)
    };
    Ok(BrowserSignIn {
        session,
        max_age_secs: policy.max_ms() / 1000,
        actor,
        new_device,
    })
}

/// The actor of a live session or token, with whether its sign-in passed a second factor.
fn actor_of_credential(
    found: portal_store::credential::CredentialUser,
    credential: impl FnOnce(String) -> Credential,
) -> Actor {
    let mut actor = actor_of(found.user, Some(credential(found.credential_id)));
    actor.second_factor.passed = found.second_factor;
    actor.second_factor.personal_token = found.personal;
    actor
}

/// The actor of a browser session (a poll of a page does not count as activity); `None` when unknown, idle too long or over, or when its
/// account is no longer active.
pub async fn session_actor(
    services: &Services,
    session: &str,
    activity: Activity,
) -> Result<Option<Actor>, ServiceError> {
    let policy = super::security::policy(services).await?;
    let found = services
        .store
        .session_user(
            &token::token_hash(session),
            portal_store::now_ms(),
            policy.idle_ms(),
            activity,
        )
        .await?;
    Ok(found.map(|f| actor_of_credential(f, Credential::Session)))
}

/// Ends a browser session by its secret (a cookie the browser still had).
pub async fn end_session(services: &Services, session: &str) -> Result<(), ServiceError> {
    Ok(services
        .store
        .delete_session(&token::token_hash(session))
        .await?)
}

/// Ends the session or token `actor` came with, at once.
pub async fn sign_out(services: &Services, actor: &Actor) -> Result<(), ServiceError> {
    let Some(credential) = &actor.credential else {
        return Ok(());
    };
    services.store.end_credential(&actor.id, credential).await?;
    super::audit::record_own(services, actor, portal_domain::AuditAction::SignedOut, None).await;
    Ok(())
}

/// The actor a bearer token stands for; `None` when unknown or expired, or when its account
/// is no longer active.
pub async fn authenticate(services: &Services, token: &str) -> Result<Option<Actor>, ServiceError> {
    let found = services
        .store
        .user_for_token(&token::token_hash(token), portal_store::now_ms())
        .await?;
    Ok(found.map(|f| actor_of_credential(f, Credential::Token)))
}

/// A personal API token: shown once, stored as its hash, acting with its owner's role. Only
/// a sign-in that passed a second factor makes one.
pub async fn create_personal_token(
    services: &Services,
    actor: &Actor,
    name: &str,
    expires_in_days: i64,
) -> Result<(String, NewCredential), ServiceError> {
    if !actor.second_factor.passed {
        return Err(ServiceError::SecondFactorRequired);
    }
    let secret = token::new_token();
    let now = portal_store::now_ms();
    let credential = new_credential(
        actor,
        &secret,
        now,
        now + expires_in_days * 24 * 60 * 60 * 1000,
        Some(name.to_owned()),
    );
    services.store.create_token(&credential).await?;
    super::audit::record_own(
        services,
        actor,
        portal_domain::AuditAction::TokenCreated,
        Some(format!("token {name:?}, {expires_in_days} days")),
    )
    .await;
    Ok((secret, credential))
}
