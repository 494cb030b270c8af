//! `POST /api/v1/auth/login`: a bearer token for a user name and password.

use crate::web::Routes;
use axum::routing::post;
use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::service::auth::{self, LoginError};
use crate::service::second_factor::Proof;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::ApiJson;

pub fn router() -> Routes {
    Routes::new().route("/api/v1/auth/login", post(login))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// A landlord administrator's user name, or a tenant administrator's login ID
    /// (`prpkeAdmin@kenton-electronics.com`).
    pub username: String,
    pub password: String,
    /// For an account with an authenticator app: the six digits it shows now.
    #[serde(default)]
    pub totp: Option<String>,
    /// For an account with an authenticator app, instead of `totp`: one of its recovery
    /// codes (each works once).
    #[serde(default)]
    pub recovery_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
    pub user: UserView,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    /// `landlord_admin`, `landlord_operator`, `landlord_viewer`, `tenant_admin` or
    /// `tenant_supervisor`.
    pub role: String,
    pub tenant_id: Option<String>,
    /// The password was typed by someone else: change it first (`POST /api/v1/me/password`).
    pub must_change_password: bool,
}

/// Sign in and get a bearer token.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong user name or password; or the account's second factor is needed (`mfa_required`) or was wrong (`mfa_invalid`)", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins for the account or from the client; see Retry-After", body = ErrorBody),
        (status = 503, description = "Overloaded; see Retry-After", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Json<LoginResponse>, ApiError> {
    if body.username.len() > 320 || body.password.len() > 1024 {
        return Err(ApiError::Unauthorized(
            "The user name or password is wrong.",
        ));
    }
    let proof = match (body.totp, body.recovery_code) {
        (Some(code), _) => Some(Proof::Totp(code.chars().take(16).collect())),
        (None, Some(code)) => Some(Proof::RecoveryCode(code.chars().take(64).collect())),
        (None, None) => None,
    };
    match auth::login(&state.services, &body.username, body.password, proof).await {
        Ok(signed_in) => Ok(Json(LoginResponse {
            token: signed_in.token,
            expires_at: super::rfc3339(signed_in.expires_at),
            user: UserView {
                id: signed_in.actor.id,
                username: signed_in.actor.username,
                role: signed_in.actor.role.as_str().to_owned(),
                tenant_id: signed_in.actor.tenant_id,
                must_change_password: signed_in.actor.must_change_password,
            },
        })),
        Err(LoginError::InvalidCredentials) => Err(ApiError::Unauthorized(
            "The user name or password is wrong.",
        )),
        Err(LoginError::Throttled { retry_after_secs }) => Err(ApiError::TooManyRequests {
            retry_after_secs,
            message: format!(
                "Too many failed sign-ins for this account or from this address; try again in {retry_after_secs} seconds."
            ),
        }),
        Err(LoginError::SecondFactorRequired { .. }) => Err(ApiError::MfaRequired(None)),
        Err(LoginError::SecondFactorWrong | LoginError::ChallengeOver) => {
            Err(ApiError::MfaRequired(Some(
                "The code is wrong or was used already: send the six digits the app shows now, or an unused recovery code.",
            )))
        }
        Err(LoginError::TenantShut(status)) => Err(ApiError::TenantShut(status)),
        Err(LoginError::Service(e)) => Err(e.into()),
    }
}
