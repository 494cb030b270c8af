//! Your own second factor: setting up an authenticator app (TOTP), confirming it with a first
//! code, new recovery codes, and removing it. Open to a user who must set one up before
//! anything else.

use crate::web::Routes;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::service::second_factor;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{AnyAuth, ApiJson};

pub fn router() -> Routes {
    Routes::new()
        .route("/api/v1/me/mfa/totp", post(start_totp).delete(remove_totp))
        .route("/api/v1/me/mfa/totp/confirm", post(confirm_totp))
        .route("/api/v1/me/mfa/recovery-codes", post(renew_recovery_codes))
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrolmentView {
    /// The key in base32, for typing into an app by hand.
    pub secret: String,
    /// The `otpauth://` address (what the QR code on the page carries).
    pub otpauth_uri: String,
}

/// Start setting up an authenticator app: a new key, not in force until confirmed with a
/// first code. A pending one is replaced.
#[utoipa::path(
    post, path = "/api/v1/me/mfa/totp", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, body = TotpEnrolmentView),
        (status = 401, body = ErrorBody),
        (status = 409, description = "An app is set up already (`totp_exists`)", body = ErrorBody),
    )
)]
pub async fn start_totp(
    State(state): State<AppState>,
    AnyAuth(actor): AnyAuth,
) -> Result<Json<TotpEnrolmentView>, ApiError> {
    let enrolment = second_factor::start_totp(&state.services, &actor).await?;
    Ok(Json(TotpEnrolmentView {
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// The six digits the app shows now.
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesView {
    /// Ten single-use codes, shown this once: each signs in once in place of the app's code.
    pub recovery_codes: Vec<String>,
}

/// Confirm the app with its first code: it is in force from now, this sign-in counts as
/// having passed it, and the answer carries the ten recovery codes (shown once).
#[utoipa::path(
    post, path = "/api/v1/me/mfa/totp/confirm", tag = "accounts",
    security(("bearer" = [])),
    request_body = CodeBody,
    responses(
        (status = 200, body = RecoveryCodesView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "No app is being set up (`totp_not_started`)", body = ErrorBody),
        (status = 422, description = "The code is wrong or was used already", body = ErrorBody),
    )
)]
pub async fn confirm_totp(
    State(state): State<AppState>,
    AnyAuth(actor): AnyAuth,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Json<RecoveryCodesView>, ApiError> {
    let code: String = body.code.chars().take(16).collect();
    let recovery_codes = second_factor::confirm_totp(&state.services, &actor, &code).await?;
    Ok(Json(RecoveryCodesView { recovery_codes }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// Your password.
    pub password: String,
}

/// Remove the app and its recovery codes (your password is required). A user whose role
/// requires a second factor cannot remove their last one.
#[utoipa::path(
    delete, path = "/api/v1/me/mfa/totp", tag = "accounts",
    security(("bearer" = [])),
    request_body = PasswordBody,
    responses(
        (status = 204, description = "Removed"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "No app is set up (`totp_not_started`), or it is the last second factor of a role that requires one (`last_second_factor`)", body = ErrorBody),
        (status = 422, description = "The password is wrong", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
    )
)]
pub async fn remove_totp(
    State(state): State<AppState>,
    AnyAuth(actor): AnyAuth,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    let password = bounded(body.password)?;
    second_factor::remove_totp(&state.services, &actor, password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ten new recovery codes in place of the old ones (your password is required).
#[utoipa::path(
    post, path = "/api/v1/me/mfa/recovery-codes", tag = "accounts",
    security(("bearer" = [])),
    request_body = PasswordBody,
    responses(
        (status = 200, body = RecoveryCodesView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "No app is set up (`totp_not_started`)", body = ErrorBody),
        (status = 422, description = "The password is wrong", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
    )
)]
pub async fn renew_recovery_codes(
    State(state): State<AppState>,
    AnyAuth(actor): AnyAuth,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Json<RecoveryCodesView>, ApiError> {
    let password = bounded(body.password)?;
    let recovery_codes =
        second_factor::renew_recovery_codes(&state.services, &actor, password).await?;
    Ok(Json(RecoveryCodesView { recovery_codes }))
}

/// A password of a plausible length (a longer one is wrong without hashing it).
fn bounded(password: String) -> Result<String, ApiError> {
    if password.len() > 1024 {
        return Err(ApiError::Invalid(vec![
            crate::service::account::FieldProblem {
                field: "password",
                error: portal_domain::FieldError::new(
                    portal_domain::FieldErrorCode::Invalid,
                    "The password is wrong.",
                ),
            },
        ]));
    }
    Ok(password)
}
