//! People and their credentials: accounts and their roles, invitations, passwords (change,
//! reset, set from a link), and the sessions and tokens a person can see and end.

use portal_domain::field::{EmailAddress, PasswordCandidate, UserName};
use portal_domain::{AccountStatus, AuditAction, FieldError, FieldErrorCode, Permission, Role};
use portal_store::credential::{
    AccountLinkPurpose, LinkRefusal, NewAccountLink, SignInRow, TokenRow,
};
use portal_store::user::{NewUser, UserChange, UserRow, UserScope};
use portal_store::{Conflict, StoreError};

use super::{Actor, ServiceError, Services};
use crate::token;

/// How long an invitation's link works.
pub const INVITATION_MS: i64 = 72 * 60 * 60 * 1000;
/// How long a password reset's link works.
pub const RESET_MS: i64 = 60 * 60 * 1000;

/// Failed sign-ins count against an account and a client; resets are counted the same way,
/// in their own counters, so that asking for many cannot flood anyone's inbox.
pub const RESET_GUARD: portal_store::guard::GuardRule = super::auth::PAIR_GUARD;

pub use portal_domain::submission::FieldProblem;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Fields are wrong; nothing changed.
    #[error("invalid fields")]
    Invalid(Vec<FieldProblem>),
    /// The data says no: the address or user name is taken, the last landlord admin, …
    #[error("conflict: {0:?}")]
    Conflict(AccountConflict),
    /// A set-password link that does nothing.
    #[error("link refused: {0:?}")]
    Link(LinkRefusal),
    /// Too many attempts; try again after this many seconds.
    #[error("throttled")]
    Throttled { retry_after_secs: u64 },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountConflict {
    EmailTaken,
    UserNameTaken,
    LastLandlordAdmin,
    LastTenantAdmin,
    /// An invited account is enabled by accepting its invitation, not by staff.
    NotYetAccepted,
    /// Only an account still invited gets its invitation again.
    NotInvited,
    /// A disabled account gets no link; it is enabled first.
    Disabled,
    /// An authenticator app is set up already: it is removed before another is.
    TotpExists,
    /// No authenticator app is being set up (or, for a removal, none is set up).
    TotpNotStarted,
    /// The role requires a second factor and this is the account's last.
    LastSecondFactor,
    /// The account signs in through single sign-on and has no password.
    SingleSignOn,
    /// The tenant is not active (provisioning, suspended, closed or purged): nobody is
    /// invited to it now.
    TenantNotActive,
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(Conflict::EmailTaken) => {
                Self::Conflict(AccountConflict::EmailTaken)
            }
            StoreError::Conflict(Conflict::UserNameTaken) => {
                Self::Conflict(AccountConflict::UserNameTaken)
            }
            StoreError::Conflict(Conflict::LastLandlordAdmin) => {
                Self::Conflict(AccountConflict::LastLandlordAdmin)
            }
            StoreError::Conflict(Conflict::LastTenantAdmin) => {
                Self::Conflict(AccountConflict::LastTenantAdmin)
            }
            other => Self::Service(other.into()),
        }
    }
}

impl From<crate::password::Overloaded> for AccountError {
    fn from(e: crate::password::Overloaded) -> Self {
        Self::Service(e.into())
    }
}

pub(super) fn invalid(
    field: &'static str,
    code: FieldErrorCode,
    message: impl Into<String>,
) -> AccountError {
    AccountError::Invalid(vec![FieldProblem {
        field,
        error: FieldError::new(code, message),
    }])
}

/// The names a user's password must not contain: the user name (a login ID's personnel
/// part without `prp`, an address's local part) and, for a tenant's user, the tenant's names.
async fn names_of(
    services: &Services,
    user: &UserRow,
) -> Result<Vec<(&'static str, String)>, ServiceError> {
    let local = user.username.split('@').next().unwrap_or_default();
    let mut names = vec![("user name", local.to_owned())];
    if let Some(stripped) = local.strip_prefix(portal_domain::field::PERSONNEL_PREFIX) {
        names.push(("user name", stripped.to_owned()));
    }
    if let Some(email) = &user.email {
        names.push((
            "email address",
            email.split('@').next().unwrap_or_default().to_owned(),
        ));
    }
    if let Some(tenant_id) = &user.tenant_id {
        match services.store.get_tenant(tenant_id).await {
            Ok(t) => {
                names.push(("tenant name", t.name));
                names.push(("short name", t.short_name));
            }
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(names)
}

/// Checks a new password against the one rule and hashes it.
async fn new_password_hash(
    services: &Services,
    user: &UserRow,
    field: &'static str,
    password: &str,
) -> Result<String, AccountError> {
    let names = names_of(services, user).await?;
    let forbidden: Vec<(&str, &str)> = names.iter().map(|(l, n)| (*l, n.as_str())).collect();
    let candidate = PasswordCandidate::parse(password, &forbidden)
        .map_err(|error| AccountError::Invalid(vec![FieldProblem { field, error }]))?;
    // The strength estimate and the hash, both on the hashing threads.
    let weighed = services.hasher.weigh_and_hash(candidate).await?;
    match weighed {
        Ok(hash) => Ok(hash.map_err(ServiceError::Internal)?),
        Err(error) => Err(AccountError::Invalid(vec![FieldProblem { field, error }])),
    }
}

async fn audit(
    services: &Services,
    actor: Option<&Actor>,
    action: AuditAction,
    whom: &UserRow,
    detail: Option<String>,
) {
    let mut entry = super::audit::entry(
        actor,
        action,
        whom.tenant_id.as_deref(),
        Some(&whom.id),
        Some(match detail {
            Some(d) => format!("{}: {d}", whom.username),
            None => whom.username.clone(),
        }),
    );
    if actor.is_none() {
        // A deed of the account's owner without a session (a link from an email).
        entry.actor_id = Some(whom.id.clone());
        entry.actor_name = Some(whom.username.clone());
    }
    super::audit::record(services, entry).await;
}

/// The signed-in user's own account.
pub async fn me(services: &Services, actor: &Actor) -> Result<UserRow, ServiceError> {
    Ok(services.store.get_user(&actor.id).await?)
}

/// Changes the actor's own password; the current one is required. Every other session and
/// token of theirs ends; the one they came with goes on.
pub async fn change_password(
    services: &Services,
    actor: &Actor,
    current: String,
    new: String,
) -> Result<(), AccountError> {
    let user = me(services, actor).await?;
    check_own_password(services, &user, current.clone(), "current_password").await?;
    if current == new {
        return Err(invalid(
            "new_password",
            FieldErrorCode::Invalid,
            "The new password must differ from the current one.",
        ));
    }
    let hash = new_password_hash(services, &user, "new_password", &new).await?;
    services
        .store
        .set_password(&user.id, &hash, actor.credential.as_ref())
        .await?;
    audit(
        services,
        Some(actor),
        AuditAction::PasswordChanged,
        &user,
        None,
    )
    .await;
    Ok(())
}

/// Checks the password of the signed-in user's own account before a change to it
/// (`field` names it in the answer). Wrong passwords are counted like failed sign-ins, so a
/// stolen session cannot guess its way to the password.
pub(super) async fn check_own_password(
    services: &Services,
    user: &UserRow,
    password: String,
    field: &'static str,
) -> Result<(), AccountError> {
    count_attempt(
        services,
        "password_change",
        &user.id,
        super::auth::PAIR_GUARD,
    )
    .await?;
    let matched = services
        .hasher
        .verify(
            password,
            Some(user.password_hash.clone()).filter(|h| !h.is_empty()),
        )
        .await?;
    if !matched {
        let message = if field == "current_password" {
            "The current password is wrong."
        } else {
            "The password is wrong."
        };
        return Err(invalid(field, FieldErrorCode::Invalid, message));
    }
    let forget = [("password_change", user.id.as_str())];
    services.store.sign_in_succeeded(&forget, None).await?;
    Ok(())
}

/// Counts one attempt against the counter `(scope, subject)`; `Throttled` while it is
/// locked.
async fn count_attempt(
    services: &Services,
    scope: &str,
    subject: &str,
    rule: portal_store::guard::GuardRule,
) -> Result<(), AccountError> {
    let counters = [(scope, subject, rule)];
    match services
        .store
        .take_sign_in_attempt(&counters, portal_store::now_ms())
        .await
        .map_err(ServiceError::from)?
    {
        Ok(()) => Ok(()),
        Err(wait_ms) => Err(AccountError::Throttled {
            retry_after_secs: portal_store::guard::retry_after_secs(wait_ms),
        }),
    }
}

/// Asks for a password reset by user name, login ID or address. The answer is the same,
/// and as quick, whether or not an account matches: the lookup and the email happen after
/// it. Asking is counted per client (a client asking too often gets 429) and per login
/// (past its limit the answer stays the same but no email goes, so nobody can keep another's
/// resets from working by asking often).
pub async fn request_reset(services: &Services, login: &str) -> Result<(), AccountError> {
    let login = super::auth::counter_key(login);
    if let Some(c) = super::audit::client_key() {
        count_attempt(services, "reset-client", &c, super::auth::CLIENT_GUARD).await?;
    }
    let counters = [("reset", login.as_str(), RESET_GUARD)];
    let quiet = services
        .store
        .take_sign_in_attempt(&counters, portal_store::now_ms())
        .await
        .map_err(ServiceError::from)?
        .is_err();
    if login.is_empty() || quiet {
        return Ok(());
    }
    let services = services.clone();
    let task = async move {
        if let Err(e) = send_reset(&services, &login).await {
            tracing::warn!(error = %e, "a password reset could not be prepared");
        }
    };
    tokio::spawn(super::audit::CLIENT.scope(super::audit::client(), task));
    Ok(())
}

/// Sends a reset link to a matching active account with an address; anything else is
/// dropped without a word.
async fn send_reset(services: &Services, login: &str) -> Result<(), ServiceError> {
    let Some(user) = services.store.find_user_by_login(login).await? else {
        return Ok(());
    };
    let Some(email) = user.email.clone() else {
        return Ok(());
    };
    // An account made by single sign-on signs in at the identity provider only: no password.
    if user.sso
        || user.status != AccountStatus::Active
        || !tenant_is_active(services, &user).await?
    {
        return Ok(());
    }
    let secret = token::new_token();
    let expires_at = portal_store::now_ms() + RESET_MS;
    let mail = crate::mail::reset_mail(
        &services.mailer,
        &email,
        &user.username,
        &secret,
        &super::registration::readable(expires_at),
    );
    let link = NewAccountLink {
        token_hash: token::token_hash(&secret),
        purpose: AccountLinkPurpose::Reset,
        expires_at,
    };
    services
        .store
        .add_account_link(&user.id, &link, Some(&mail))
        .await?;
    services.jobs_ready.notify_one();
    audit(
        services,
        None,
        AuditAction::PasswordResetRequested,
        &user,
        None,
    )
    .await;
    Ok(())
}

/// Whether a tenant user's tenant is active (a landlord user has none to check).
async fn tenant_is_active(services: &Services, user: &UserRow) -> Result<bool, ServiceError> {
    let Some(tenant_id) = &user.tenant_id else {
        return Ok(true);
    };
    match services.store.get_tenant(tenant_id).await {
        Ok(t) => Ok(t.status == portal_domain::TenantStatus::Active),
        Err(StoreError::NotFound) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The account a set-password link is for, if it can be used now.
pub async fn open_link(
    services: &Services,
    token: &str,
    purpose: AccountLinkPurpose,
) -> Result<Result<UserRow, LinkRefusal>, ServiceError> {
    if token.is_empty() || token.len() > 256 {
        return Ok(Err(LinkRefusal::Unknown));
    }
    Ok(services
        .store
        .check_account_link(&token::token_hash(token), purpose, portal_store::now_ms())
        .await?)
}

/// Sets a password from an invitation or reset link, once. The account becomes active and
/// every session and token it had ends.
pub async fn use_link(
    services: &Services,
    token: &str,
    purpose: AccountLinkPurpose,
    password: &str,
) -> Result<UserRow, AccountError> {
    let user = open_link(services, token, purpose)
        .await?
        .map_err(AccountError::Link)?;
    let field = match purpose {
        AccountLinkPurpose::Invitation => "password",
        AccountLinkPurpose::Reset => "new_password",
    };
    let hash = new_password_hash(services, &user, field, password).await?;
    let user = services
        .store
        .use_account_link(
            &token::token_hash(token),
            purpose,
            &hash,
            portal_store::now_ms(),
        )
        .await?
        .map_err(AccountError::Link)?;
    let action = match purpose {
        AccountLinkPurpose::Invitation => AuditAction::InvitationAccepted,
        AccountLinkPurpose::Reset => AuditAction::PasswordReset,
    };
    audit(services, None, action, &user, None).await;
    Ok(user)
}

/// A page of accounts: landlord roles see everyone (or one tenant's), a tenant's users their
/// tenant's only (another tenant's is not found).
pub async fn list_users(
    services: &Services,
    actor: &Actor,
    tenant: Option<String>,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<UserRow>, Option<String>), ServiceError> {
    actor.require(Permission::ReadAccounts)?;
    let scope = match (actor.is_landlord(), tenant) {
        (true, Some(t)) => UserScope::Tenant(t),
        (true, None) => UserScope::Everyone,
        (false, Some(t)) if Some(&t) != actor.tenant_id.as_ref() => {
            return Err(ServiceError::NotFound);
        }
        (false, _) => UserScope::Tenant(actor.tenant_id.clone().ok_or(ServiceError::NotFound)?),
    };
    let rows = services.store.list_users(&scope, after, limit + 1).await?;
    Ok(super::page_of(rows, limit, |u| &u.id))
}

/// Whom to invite.
#[derive(Debug, Clone)]
pub struct Invite {
    pub email: String,
    pub role: Role,
    pub tenant_id: Option<String>,
    /// A tenant user's user name (its login ID is `prp` + it `@` the tenant's UPN suffix);
    /// without one, the address's letters and digits before `@`.
    pub user_name: Option<String>,
}

/// Invites a person: an account without a password, and an email with a single-use link to
/// set one (72 hours), in one transaction.
pub async fn invite(
    services: &Services,
    actor: &Actor,
    invite: Invite,
) -> Result<UserRow, AccountError> {
    actor.require(Permission::ManageAccounts)?;
    if !actor.role.may_grant(invite.role) {
        return Err(ServiceError::Forbidden.into());
    }
    let email = address(&invite.email)?;
    let (username, tenant) = invitee(services, actor, &invite, &email).await?;
    let user = NewUser {
        id: portal_store::new_id(),
        username,
        password_hash: String::new(),
        role: invite.role,
        tenant_id: tenant.as_ref().map(|t| t.id.clone()),
        email: Some(email.clone()),
        status: AccountStatus::Invited,
        must_change_password: false,
    };
    let (link, mail) = invitation(
        &services.mailer,
        &actor.username,
        (&email, &user.username, user.role),
        tenant.as_ref().map(|t| t.name.as_str()),
        portal_store::now_ms(),
    );
    services
        .store
        .invite_user(&user, &link, Some(&mail))
        .await?;
    services.jobs_ready.notify_one();
    let row = services
        .store
        .get_user(&user.id)
        .await
        .map_err(ServiceError::from)?;
    let detail = Some(format!("as {}", invite.role));
    audit(
        services,
        Some(actor),
        AuditAction::UserInvited,
        &row,
        detail,
    )
    .await;
    Ok(row)
}

/// An address typed for an account, checked.
fn address(typed: &str) -> Result<String, AccountError> {
    EmailAddress::parse(typed)
        .map(|e| e.as_str().to_owned())
        .map_err(|error| {
            AccountError::Invalid(vec![FieldProblem {
                field: "email",
                error,
            }])
        })
}

/// The invited account's user name (a landlord's: the address; a tenant's: its login ID) and
/// its tenant.
async fn invitee(
    services: &Services,
    actor: &Actor,
    invite: &Invite,
    email: &str,
) -> Result<(String, Option<portal_store::tenant::TenantRow>), AccountError> {
    if invite.role.is_tenant() {
        let (login, tenant) = tenant_login(services, actor, invite, email).await?;
        return Ok((login, Some(tenant)));
    }
    if invite.tenant_id.is_some() {
        return Err(invalid(
            "tenant_id",
            FieldErrorCode::Invalid,
            "A landlord role belongs to no tenant: leave tenant_id out.",
        ));
    }
    Ok((email.to_owned(), None))
}

/// The link (72 hours) and the email of an invitation from `inviter` to `(address, user
/// name, role)`, of `tenant` for a tenant role.
pub(crate) fn invitation(
    mailer: &crate::mail::Mailer,
    inviter: &str,
    (email, username, role): (&str, &str, Role),
    tenant: Option<&str>,
    now: i64,
) -> (NewAccountLink, portal_store::mail::NewMail) {
    let secret = token::new_token();
    let expires_at = now + INVITATION_MS;
    let mail = crate::mail::invitation_mail(
        mailer,
        crate::mail::Invitation {
            email,
            username,
            inviter,
            role,
            tenant,
            token: &secret,
            expires: &super::registration::readable(expires_at),
        },
    );
    let link = NewAccountLink {
        token_hash: token::token_hash(&secret),
        purpose: AccountLinkPurpose::Invitation,
        expires_at,
    };
    (link, mail)
}

/// The tenant a tenant role is invited to (a tenant admin's own; another's is not found) and
/// the login ID: `prp` + the user name (by default the address's letters and digits) `@` the
/// tenant's UPN suffix.
async fn tenant_login(
    services: &Services,
    actor: &Actor,
    invite: &Invite,
    email: &str,
) -> Result<(String, portal_store::tenant::TenantRow), AccountError> {
    let tenant_id = match (actor.is_landlord(), invite.tenant_id.clone()) {
        (true, Some(t)) => t,
        (true, None) => {
            return Err(invalid(
                "tenant_id",
                FieldErrorCode::Required,
                "A tenant role needs the tenant's id.",
            ));
        }
        (false, Some(t)) if Some(&t) != actor.tenant_id.as_ref() => {
            return Err(ServiceError::NotFound.into());
        }
        (false, _) => actor.tenant_id.clone().ok_or(ServiceError::NotFound)?,
    };
    let tenant = match services.store.get_tenant(&tenant_id).await {
        Ok(t) => t,
        Err(StoreError::NotFound) if actor.is_landlord() => {
            return Err(invalid(
                "tenant_id",
                FieldErrorCode::Invalid,
                "There is no tenant with this id.",
            ));
        }
        Err(e) => return Err(ServiceError::from(e).into()),
    };
    if !tenant.status.is_open() {
        return Err(AccountError::Conflict(AccountConflict::TenantNotActive));
    }
    let typed = invite.user_name.clone().unwrap_or_else(|| {
        let local = email.split('@').next().unwrap_or_default();
        local
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(17)
            .collect()
    });
    let user_name = UserName::parse(&typed).map_err(|error| {
        AccountError::Invalid(vec![FieldProblem {
            field: "user_name",
            error,
        }])
    })?;
    let login = format!(
        "{}{}@{}",
        portal_domain::field::PERSONNEL_PREFIX,
        user_name.as_str(),
        tenant.upn_suffix
    );
    Ok((login, tenant))
}

/// Sends an account that has not accepted its invitation a new one (72 hours); the earlier
/// link stops working.
pub async fn invite_again(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<UserRow, AccountError> {
    let user = managed(services, actor, id).await?;
    let Some(email) = user
        .email
        .clone()
        .filter(|_| user.status == AccountStatus::Invited)
    else {
        return Err(AccountError::Conflict(AccountConflict::NotInvited));
    };
    let tenant_name = match &user.tenant_id {
        Some(t) => {
            let tenant = services
                .store
                .get_tenant(t)
                .await
                .map_err(ServiceError::from)?;
            if !tenant.status.is_open() {
                return Err(AccountError::Conflict(AccountConflict::TenantNotActive));
            }
            Some(tenant.name)
        }
        None => None,
    };
    let (link, mail) = invitation(
        &services.mailer,
        &actor.username,
        (&email, &user.username, user.role),
        tenant_name.as_deref(),
        portal_store::now_ms(),
    );
    services
        .store
        .add_account_link(&user.id, &link, Some(&mail))
        .await?;
    services.jobs_ready.notify_one();
    audit(
        services,
        Some(actor),
        AuditAction::UserInvited,
        &user,
        Some("sent again".to_owned()),
    )
    .await;
    Ok(user)
}

/// An account the actor may manage: a tenant admin manages only their tenant's (another's
/// is not found), and only roles it may grant.
async fn managed(services: &Services, actor: &Actor, id: &str) -> Result<UserRow, AccountError> {
    actor.require(Permission::ManageAccounts)?;
    let user = services
        .store
        .get_user(id)
        .await
        .map_err(ServiceError::from)?;
    let visible =
        actor.is_landlord() || (user.tenant_id.is_some() && user.tenant_id == actor.tenant_id);
    if !visible {
        return Err(ServiceError::NotFound.into());
    }
    if !actor.role.may_grant(user.role) {
        return Err(ServiceError::Forbidden.into());
    }
    Ok(user)
}

/// Changes an account's role or status (`active` or `disabled`). Disabling ends its
/// sessions, tokens and links at once; the last active landlord admin stays one, and a
/// tenant's own administrators cannot leave it without one.
pub async fn change_user(
    services: &Services,
    actor: &Actor,
    id: &str,
    role: Option<Role>,
    status: Option<AccountStatus>,
) -> Result<UserRow, AccountError> {
    let user = managed(services, actor, id).await?;
    let status = checked_change(actor, &user, role, status)?;
    let change = UserChange {
        role,
        status,
        keep_tenant_admin: actor.role.is_tenant(),
    };
    let after = services.store.change_user(id, change).await?;
    if after.role != user.role {
        let detail = Some(format!("{} to {}", user.role, after.role));
        audit(
            services,
            Some(actor),
            AuditAction::UserRoleChanged,
            &after,
            detail,
        )
        .await;
    }
    if after.status != user.status {
        let action = if after.status == AccountStatus::Disabled {
            AuditAction::UserDisabled
        } else {
            AuditAction::UserEnabled
        };
        audit(services, Some(actor), action, &after, None).await;
    }
    Ok(after)
}

/// Checks a change of `user` by `actor`; the status to store.
fn checked_change(
    actor: &Actor,
    user: &UserRow,
    role: Option<Role>,
    status: Option<AccountStatus>,
) -> Result<Option<AccountStatus>, AccountError> {
    if let Some(role) = role {
        if !actor.role.may_grant(role) {
            return Err(ServiceError::Forbidden.into());
        }
        if role.is_landlord() != user.role.is_landlord() {
            return Err(invalid(
                "role",
                FieldErrorCode::Invalid,
                "A landlord account keeps a landlord role, and a tenant's account a tenant role.",
            ));
        }
    }
    match status {
        Some(AccountStatus::Invited) => Err(invalid(
            "status",
            FieldErrorCode::Invalid,
            "status must be active or disabled.",
        )),
        Some(AccountStatus::Active) if user.status == AccountStatus::Invited => {
            Err(AccountError::Conflict(AccountConflict::NotYetAccepted))
        }
        // Enabled again without ever having set a password: invited once more (staff send
        // the invitation again).
        Some(AccountStatus::Active) if !user.has_password() && !user.sso => {
            Ok(Some(AccountStatus::Invited))
        }
        other => Ok(other),
    }
}

/// The actor's live sessions and sign-in tokens, and which one is the actor's own.
pub async fn sign_ins(
    services: &Services,
    actor: &Actor,
) -> Result<Vec<(SignInRow, bool)>, ServiceError> {
    let idle_ms = super::security::policy(services).await?.idle_ms();
    let rows = services
        .store
        .list_sign_ins(&actor.id, portal_store::now_ms(), idle_ms)
        .await?;
    let current = actor.credential.as_ref().map(|c| match c {
        portal_store::credential::Credential::Session(id)
        | portal_store::credential::Credential::Token(id) => id.clone(),
    });
    Ok(rows
        .into_iter()
        .map(|r| {
            let here = current.as_deref() == Some(r.id.as_str());
            (r, here)
        })
        .collect())
}

/// Ends one of the actor's sessions or sign-in tokens.
pub async fn end_sign_in(services: &Services, actor: &Actor, id: &str) -> Result<(), ServiceError> {
    services.store.end_sign_in(&actor.id, id).await?;
    super::audit::record_own(services, actor, AuditAction::SessionEnded, None).await;
    Ok(())
}

/// Ends every session and sign-in token of the actor but the one they came with.
pub async fn end_other_sign_ins(services: &Services, actor: &Actor) -> Result<(), ServiceError> {
    let Some(keep) = &actor.credential else {
        return Err(ServiceError::NotFound);
    };
    services.store.end_other_sign_ins(&actor.id, keep).await?;
    super::audit::record_own(services, actor, AuditAction::OtherSessionsEnded, None).await;
    Ok(())
}

/// The actor's personal tokens.
pub async fn tokens(services: &Services, actor: &Actor) -> Result<Vec<TokenRow>, ServiceError> {
    Ok(services
        .store
        .list_personal_tokens(&actor.id, portal_store::now_ms())
        .await?)
}

/// The longest a personal token may last.
pub const TOKEN_MAX_DAYS: i64 = 366;

/// Checks a personal token's name and lifetime.
pub fn check_token(name: &str, expires_in_days: i64) -> Result<String, AccountError> {
    let name = name.trim();
    let mut problems = Vec::new();
    if name.is_empty()
        || name.chars().count() > 100
        || portal_domain::field::visible_text(name, "name").is_err()
    {
        problems.push(FieldProblem {
            field: "name",
            error: FieldError::new(
                FieldErrorCode::Invalid,
                "name must be 1 to 100 printable characters.",
            ),
        });
    }
    if !(1..=TOKEN_MAX_DAYS).contains(&expires_in_days) {
        problems.push(FieldProblem {
            field: "expires_in_days",
            error: FieldError::new(
                FieldErrorCode::Invalid,
                format!("expires_in_days must be 1 to {TOKEN_MAX_DAYS}."),
            ),
        });
    }
    if problems.is_empty() {
        Ok(name.to_owned())
    } else {
        Err(AccountError::Invalid(problems))
    }
}

pub async fn revoke_token(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<(), ServiceError> {
    services.store.revoke_personal_token(&actor.id, id).await?;
    super::audit::record_own(
        services,
        actor,
        AuditAction::TokenRevoked,
        Some(format!("token {id}")),
    )
    .await;
    Ok(())
}

/// For the machine's operator (`portal user create`): a landlord account with a link to set
/// its password, printed rather than emailed.
pub async fn create_on_command_line(
    services: &Services,
    role: Role,
    email: &str,
) -> Result<String, AccountError> {
    if !role.is_landlord() {
        return Err(invalid(
            "role",
            FieldErrorCode::Invalid,
            "The command line creates landlord accounts; invite a tenant's people from the portal.",
        ));
    }
    let email = address(email)?;
    let user = NewUser {
        id: portal_store::new_id(),
        username: email.clone(),
        password_hash: String::new(),
        role,
        tenant_id: None,
        email: Some(email),
        status: AccountStatus::Invited,
        must_change_password: false,
    };
    let secret = token::new_token();
    let link = NewAccountLink {
        token_hash: token::token_hash(&secret),
        purpose: AccountLinkPurpose::Invitation,
        expires_at: portal_store::now_ms() + INVITATION_MS,
    };
    services.store.invite_user(&user, &link, None).await?;
    let row = services
        .store
        .get_user(&user.id)
        .await
        .map_err(ServiceError::from)?;
    audit(
        services,
        None,
        AuditAction::UserCreatedOnCommandLine,
        &row,
        Some(format!("as {role}")),
    )
    .await;
    Ok(crate::mail::invitation_url(&services.mailer, &secret))
}

/// For the machine's operator (`portal user reset-password`): a single-use link, valid an
/// hour, to set the password of an account (of one still invited: its first). A disabled
/// account must be enabled first; its link is refused.
pub async fn reset_on_command_line(
    services: &Services,
    login: &str,
) -> Result<String, AccountError> {
    let login = portal_domain::field::login_id(login.trim());
    let Some(user) = services
        .store
        .find_user_by_login(&login)
        .await
        .map_err(ServiceError::from)?
    else {
        return Err(ServiceError::NotFound.into());
    };
    if user.status == AccountStatus::Disabled {
        return Err(AccountError::Conflict(AccountConflict::Disabled));
    }
    if user.sso {
        return Err(AccountError::Conflict(AccountConflict::SingleSignOn));
    }
    let secret = token::new_token();
    let purpose = if user.has_password() {
        AccountLinkPurpose::Reset
    } else {
        AccountLinkPurpose::Invitation
    };
    let link = NewAccountLink {
        token_hash: token::token_hash(&secret),
        purpose,
        expires_at: portal_store::now_ms() + RESET_MS,
    };
    services
        .store
        .add_account_link(&user.id, &link, None)
        .await
        .map_err(ServiceError::from)?;
    audit(
        services,
        None,
        AuditAction::PasswordLinkOnCommandLine,
        &user,
        None,
    )
    .await;
    Ok(match purpose {
        AccountLinkPurpose::Reset => crate::mail::reset_url(&services.mailer, &secret),
        AccountLinkPurpose::Invitation => crate::mail::invitation_url(&services.mailer, &secret),
    })
}
