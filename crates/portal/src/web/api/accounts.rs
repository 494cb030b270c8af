//! People and credentials: your own account, password and sessions; password reset and
//! invitations (no sign-in); accounts of others; personal API tokens.

use crate::web::Routes;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post};
use portal_domain::{AccountStatus, FieldError, FieldErrorCode, Role};
use portal_store::credential::{AccountLinkPurpose, LinkRefusal, SignInRow, TokenRow};
use portal_store::user::UserRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::service::account::{self, AccountConflict, AccountError, FieldProblem, Invite};
use crate::service::auth;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{AnyAuth, ApiJson, Auth, IdPath};

pub fn router() -> Routes {
    Routes::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/password", post(change_password))
        .route("/api/v1/me/sessions", get(list_sign_ins))
        .route("/api/v1/me/sessions/{id}", delete(end_sign_in))
        .route("/api/v1/me/sessions/end-others", post(end_other_sign_ins))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/password-reset", post(request_reset))
        .route("/api/v1/auth/password-reset/confirm", post(confirm_reset))
        .route("/api/v1/auth/invitations/accept", post(accept_invitation))
        .route("/api/v1/users", get(list_users).post(invite_user))
        .route("/api/v1/users/{id}", patch(change_user))
        .route("/api/v1/users/{id}/invitation", post(invite_again))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
}

impl From<AccountError> for ApiError {
    // This must be longer: one arm per refusal, each with its field, code and words, reads
    // best side by side.
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(problems) => Self::Invalid(problems),
            AccountError::Conflict(c) => {
                let (field, code, message) = match c {
                    AccountConflict::EmailTaken => (
                        Some("email"),
                        "email_taken",
                        "Another account has this email address.",
                    ),
                    AccountConflict::UserNameTaken => (
                        Some("user_name"),
                        "user_name_taken",
                        "Another account has this user name: give another user_name.",
                    ),
                    AccountConflict::LastLandlordAdmin => (
                        None,
                        "last_landlord_admin",
                        "This is the last active landlord administrator: make another one first.",
                    ),
                    AccountConflict::LastTenantAdmin => (
                        None,
                        "last_tenant_admin",
                        "This is the tenant's last active administrator: make another one first.",
                    ),
                    AccountConflict::TotpExists => (
                        None,
                        "totp_exists",
                        "An authenticator app is set up already: remove it first (DELETE /api/v1/me/mfa/totp).",
                    ),
                    AccountConflict::TotpNotStarted => (
                        None,
                        "totp_not_started",
                        "No authenticator app is being set up: start with POST /api/v1/me/mfa/totp.",
                    ),
                    AccountConflict::LastSecondFactor => (
                        None,
                        "last_second_factor",
                        "Your role requires a second factor and this is your last: add another first.",
                    ),
                    AccountConflict::SingleSignOn => (
                        None,
                        "single_sign_on",
                        "This account signs in through single sign-on and has no password here.",
                    ),
                    AccountConflict::Disabled => (
                        Some("status"),
                        "account_disabled",
                        "The account is disabled: enable it first.",
                    ),
                    AccountConflict::NotInvited => (
                        None,
                        "not_invited",
                        "This account has accepted its invitation already (or has no address).",
                    ),
                    AccountConflict::TenantNotActive => (
                        None,
                        "tenant_not_active",
                        "The tenant is not active: nobody can be invited to it now.",
                    ),
                    AccountConflict::NotYetAccepted => (
                        Some("status"),
                        "invitation_not_accepted",
                        "The account becomes active when its owner accepts the invitation.",
                    ),
                };
                Self::Conflict {
                    field: field.map(str::to_owned),
                    code,
                    message: message.to_owned(),
                }
            }
            AccountError::Link(refusal) => link_refused(refusal),
            AccountError::Throttled { retry_after_secs } => Self::TooManyRequests {
                retry_after_secs,
                message: format!(
                    "Too many requests for this account or from this address; try again in {retry_after_secs} seconds."
                ),
            },
            AccountError::Service(e) => e.into(),
        }
    }
}

fn link_refused(refusal: LinkRefusal) -> ApiError {
    match refusal {
        LinkRefusal::Unknown => ApiError::NotFound,
        LinkRefusal::Used => ApiError::Gone(
            "link_used",
            "This link has been used already (or its account is disabled); ask for a new one."
                .into(),
        ),
        LinkRefusal::Expired => ApiError::Gone(
            "link_expired",
            "This link has expired; ask for a new one.".into(),
        ),
    }
}

/// An account as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    /// `landlord_admin`, `landlord_operator`, `landlord_viewer`, `tenant_admin` or `tenant_supervisor`.
    pub role: String,
    pub tenant_id: Option<String>,
    /// `invited`, `active` or `disabled`.
    pub status: String,
    /// RFC 3339; null before the first sign-in.
    pub last_sign_in_at: Option<String>,
}

impl From<UserRow> for UserView {
    fn from(u: UserRow) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            role: u.role.as_str().to_owned(),
            tenant_id: u.tenant_id,
            status: u.status.as_str().to_owned(),
            last_sign_in_at: u.last_sign_in_at.map(super::rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MfaView {
    /// Whether a TOTP authenticator is enrolled.
    pub totp: bool,
    /// Unused recovery codes left.
    pub recovery_codes_left: i64,
    /// The security policy requires a second factor for your role: until you have one,
    /// every other call answers 403 `mfa_enrolment_required`.
    pub required: bool,
}

#[derive(Serialize, ToSchema)]
pub struct MeView {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub role: String,
    pub tenant_id: Option<String>,
    /// The password was set by someone else: every other call answers 403
    /// `password_change_required` until it is changed.
    pub must_change_password: bool,
    pub mfa: MfaView,
}

/// Your own account.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, body = MeView))
)]
pub async fn me(
    State(state): State<AppState>,
    AnyAuth(actor): AnyAuth,
) -> Result<Json<MeView>, ApiError> {
    let u = account::me(&state.services, &actor).await?;
    let factors = crate::service::second_factor::status(&state.services, &actor).await?;
    Ok(Json(MeView {
        id: u.id,
        username: u.username,
        email: u.email,
        role: u.role.as_str().to_owned(),
        tenant_id: u.tenant_id,
        must_change_password: u.must_change_password,
        mfa: MfaView {
            totp: factors.totp,
            recovery_codes_left: factors.recovery_codes_left,
            required: factors.required,
        },
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Change your own password; every other session and token of yours stops working.
#[utoipa::path(
    post, path = "/api/v1/me/password", tag = "accounts",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Too many wrong current passwords; see Retry-After", body = ErrorBody),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    AnyAuth(actor): AnyAuth,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    account::change_password(
        &state.services,
        &actor,
        body.current_password,
        body.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out: the token used stops working at once.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses((status = 204, description = "Signed out"))
)]
pub async fn logout(
    State(state): State<AppState>,
    AnyAuth(actor): AnyAuth,
) -> Result<StatusCode, ApiError> {
    auth::sign_out(&state.services, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SignInView {
    pub id: String,
    /// `browser` (a session) or `api` (a token from signing in).
    pub kind: String,
    pub started_at: String,
    pub last_seen_at: Option<String>,
    pub expires_at: String,
    pub client: Option<String>,
    pub user_agent: Option<String>,
    /// The session or token this request came with.
    pub current: bool,
}

impl SignInView {
    fn new(row: SignInRow, current: bool) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            started_at: super::rfc3339(row.created_at),
            last_seen_at: row.last_seen_at.map(super::rfc3339),
            expires_at: super::rfc3339(row.expires_at),
            client: row.client,
            user_agent: row.user_agent,
            current,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SignInList {
    pub items: Vec<SignInView>,
}

/// Your sessions and sign-in tokens that still work.
#[utoipa::path(
    get, path = "/api/v1/me/sessions", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, body = SignInList))
)]
pub async fn list_sign_ins(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<SignInList>, ApiError> {
    let rows = account::sign_ins(&state.services, &actor).await?;
    Ok(Json(SignInList {
        items: rows
            .into_iter()
            .map(|(row, here)| SignInView::new(row, here))
            .collect(),
    }))
}

/// End one of your sessions or sign-in tokens.
#[utoipa::path(
    delete, path = "/api/v1/me/sessions/{id}", tag = "accounts",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Ended"), (status = 404, body = ErrorBody))
)]
pub async fn end_sign_in(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    account::end_sign_in(&state.services, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session and sign-in token of yours but this one (personal tokens stay).
#[utoipa::path(
    post, path = "/api/v1/me/sessions/end-others", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 204, description = "Ended"))
)]
pub async fn end_other_sign_ins(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<StatusCode, ApiError> {
    account::end_other_sign_ins(&state.services, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// A user name, login ID or email address.
    pub login: String,
}

/// Ask for a password reset. The answer is the same whether or not an account matches; a
/// matching active account with an address gets a single-use link valid one hour.
#[utoipa::path(
    post, path = "/api/v1/auth/password-reset", tag = "auth",
    request_body = ResetRequest,
    responses((status = 202, description = "If an account matches, its address gets a link"), (status = 429, body = ErrorBody))
)]
pub async fn request_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    account::request_reset(&state.services, &body.login).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    pub token: String,
    pub new_password: String,
}

/// Set a new password from a reset link; every session and token of the account ends.
#[utoipa::path(
    post, path = "/api/v1/auth/password-reset/confirm", tag = "auth",
    request_body = ResetConfirm,
    responses(
        (status = 204, description = "Password set"),
        (status = 404, description = "No such link", body = ErrorBody),
        (status = 410, description = "The link was used or has expired", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn confirm_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ResetConfirm>,
) -> Result<StatusCode, ApiError> {
    account::use_link(
        &state.services,
        &body.token,
        AccountLinkPurpose::Reset,
        &body.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationAccept {
    pub token: String,
    pub password: String,
}

/// Accept an invitation by choosing a password; the account becomes active.
#[utoipa::path(
    post, path = "/api/v1/auth/invitations/accept", tag = "auth",
    request_body = InvitationAccept,
    responses(
        (status = 204, description = "Password set; the account is active"),
        (status = 404, description = "No such invitation", body = ErrorBody),
        (status = 410, description = "The invitation was used or has expired", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn accept_invitation(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<InvitationAccept>,
) -> Result<StatusCode, ApiError> {
    account::use_link(
        &state.services,
        &body.token,
        AccountLinkPurpose::Invitation,
        &body.password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Only this tenant's accounts (a tenant's users always get only their tenant's).
    pub tenant: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserView>,
    pub next_cursor: Option<String>,
}

/// Accounts: landlord roles see everyone, a tenant's users their tenant's.
#[utoipa::path(
    get, path = "/api/v1/users", tag = "accounts",
    security(("bearer" = [])),
    params(UserQuery),
    responses((status = 200, body = UserList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn list_users(
    State(state): State<AppState>,
    Auth(actor): Auth,
    query: Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UserList>, ApiError> {
    let (query, limit) = super::list_query(
        query,
        |q| vec![q.tenant.as_ref(), q.cursor.as_ref()],
        |q| q.limit,
    )?;
    let (rows, next_cursor) = account::list_users(
        &state.services,
        &actor,
        query.tenant.filter(|t| !t.is_empty()),
        query.cursor.as_deref().filter(|c| !c.is_empty()),
        limit,
    )
    .await?;
    Ok(Json(UserList {
        items: rows.into_iter().map(UserView::from).collect(),
        next_cursor,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    pub email: String,
    pub role: String,
    /// The tenant, for a tenant role (a tenant admin's own by default).
    pub tenant_id: Option<String>,
    /// For a tenant role: the user name in the login ID (`prp` + it `@` the UPN suffix);
    /// by default the address's letters and digits before `@`.
    pub user_name: Option<String>,
}

fn parse_role(text: &str) -> Result<Role, FieldProblem> {
    text.parse().map_err(|_| FieldProblem {
        field: "role",
        error: FieldError::new(
            FieldErrorCode::Invalid,
            "role must be landlord_admin, landlord_operator, landlord_viewer, tenant_admin or tenant_supervisor.",
        ),
    })
}

/// Invite a person: the account is `invited` and its address gets a single-use link (72 h)
/// to set a password.
#[utoipa::path(
    post, path = "/api/v1/users", tag = "accounts",
    security(("bearer" = [])),
    request_body = InviteBody,
    responses(
        (status = 201, body = UserView),
        (status = 404, description = "Another tenant's id", body = ErrorBody),
        (status = 409, description = "The address or user name is taken", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn invite_user(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<InviteBody>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let role = parse_role(&body.role).map_err(|p| ApiError::Invalid(vec![p]))?;
    let user = account::invite(
        &state.services,
        &actor,
        Invite {
            email: body.email,
            role,
            tenant_id: body.tenant_id,
            user_name: body.user_name,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub role: Option<String>,
    /// `active` or `disabled`.
    pub status: Option<String>,
}

/// Change an account's role or status. Disabling ends its sessions and tokens at once; the
/// last active landlord admin cannot be disabled or demoted (409).
#[utoipa::path(
    patch, path = "/api/v1/users/{id}", tag = "accounts",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = UserPatch,
    responses(
        (status = 200, body = UserView),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn change_user(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    let mut problems = Vec::new();
    let role = match body.role.as_deref().map(parse_role) {
        Some(Ok(r)) => Some(r),
        Some(Err(p)) => {
            problems.push(p);
            None
        }
        None => None,
    };
    let status = match body.status.as_deref() {
        None => None,
        Some("active") => Some(AccountStatus::Active),
        Some("disabled") => Some(AccountStatus::Disabled),
        Some(_) => {
            problems.push(FieldProblem {
                field: "status",
                error: FieldError::new(
                    FieldErrorCode::Invalid,
                    "status must be active or disabled.",
                ),
            });
            None
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    let user = account::change_user(&state.services, &actor, &id, role, status).await?;
    Ok(Json(user.into()))
}

/// Send an account that has not accepted its invitation a new one (valid 72 h); the earlier
/// link stops working.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/invitation", tag = "accounts",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 202, body = UserView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The account is not invited", body = ErrorBody),
    )
)]
pub async fn invite_again(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = account::invite_again(&state.services, &actor, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(user.into())))
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: Option<String>,
}

impl From<TokenRow> for TokenView {
    fn from(t: TokenRow) -> Self {
        Self {
            id: t.id,
            name: t.name,
            created_at: super::rfc3339(t.created_at),
            expires_at: super::rfc3339(t.expires_at),
            last_used_at: t.last_used_at.map(super::rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenView>,
}

/// Your personal API tokens.
#[utoipa::path(
    get, path = "/api/v1/tokens", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, body = TokenList))
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<TokenList>, ApiError> {
    let rows = account::tokens(&state.services, &actor).await?;
    Ok(Json(TokenList {
        items: rows.into_iter().map(TokenView::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    pub name: String,
    /// 1 to 366.
    pub expires_in_days: i64,
}

#[derive(Serialize, ToSchema)]
pub struct NewTokenView {
    pub id: String,
    pub name: String,
    /// Shown once; send it as `Authorization: Bearer TOKEN`.
    pub token: String,
    pub expires_at: String,
}

/// Create a personal API token: it acts with your role until it expires or is revoked.
#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "accounts",
    security(("bearer" = [])),
    request_body = NewTokenBody,
    responses(
        (status = 201, body = NewTokenView),
        (status = 403, description = "Only a sign-in that passed a second factor makes tokens (`second_factor_required`)", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn create_token(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<(StatusCode, Json<NewTokenView>), ApiError> {
    let name = account::check_token(&body.name, body.expires_in_days)?;
    let (token, row) =
        auth::create_personal_token(&state.services, &actor, &name, body.expires_in_days).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewTokenView {
            id: row.id,
            name,
            token,
            expires_at: super::rfc3339(row.expires_at),
        }),
    ))
}

/// Revoke one of your personal API tokens.
#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "accounts",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, body = ErrorBody))
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    account::revoke_token(&state.services, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
