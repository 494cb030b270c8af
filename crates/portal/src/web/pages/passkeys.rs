//! Passkeys on the pages: the JSON calls the page script makes around the browser's WebAuthn
//! prompts (register a passkey on Two-step sign-in; sign in with one as the first factor or
//! the second), and the forms that rename and remove one. A call takes JSON only, so another
//! site cannot make it from a form.

use axum::Form;
use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::AnyPageUser;
use super::session::{DEVICE_COOKIE, set_sign_in_cookies};
use crate::service::auth::{self, LoginError};
use crate::service::passkey::{self, PasskeyError, SignInBy};
use crate::web::error::ApiError;
use crate::web::extract::ApiJson;
use crate::web::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route("/account/passkeys/options", post(registration_options))
        .route("/account/passkeys", post(register))
        .route("/account/passkeys/{id}/rename", post(rename))
        .route("/account/passkeys/{id}/remove", post(remove))
        .route("/sign-in/passkey/options", post(sign_in_options))
        .route("/sign-in/passkey", post(sign_in))
}

impl From<PasskeyError> for ApiError {
    fn from(e: PasskeyError) -> Self {
        let refused = |code, message: &str| ApiError::Unprocessable(code, message.to_owned());
        match e {
            PasskeyError::Unavailable => refused(
                "passkeys_unavailable",
                "Passkeys work only when the portal is reached at a domain name; ask your administrator.",
            ),
            PasskeyError::BadName => {
                ApiError::Invalid(vec![crate::service::account::FieldProblem {
                    field: "name",
                    error: portal_domain::FieldError::new(
                        portal_domain::FieldErrorCode::Invalid,
                        "Give the passkey a name of 1 to 60 characters, such as \"Work laptop\".",
                    ),
                }])
            }
            PasskeyError::Over => refused(
                "passkey_ceremony_over",
                "This took too long or was used already: try again.",
            ),
            PasskeyError::Refused => refused(
                "passkey_refused",
                "The passkey was not accepted: use a passkey of this account.",
            ),
            PasskeyError::Taken => ApiError::Conflict {
                field: None,
                code: "passkey_registered",
                message: "This passkey is registered already.".to_owned(),
            },
            PasskeyError::NotFound => ApiError::NotFound,
            PasskeyError::Throttled { retry_after_secs } => ApiError::TooManyRequests {
                retry_after_secs,
                message: format!(
                    "Too many passkey sign-ins from this address; try again in {retry_after_secs} seconds."
                ),
            },
            PasskeyError::Last => ApiError::Conflict {
                field: None,
                code: "last_second_factor",
                message: "Your role requires a second factor and this is your last.".to_owned(),
            },
            PasskeyError::Service(e) => e.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameBody {
    name: String,
}

/// What the script hands to the browser's WebAuthn prompt, and the ceremony to answer.
#[derive(Serialize)]
struct Options<T: Serialize> {
    ceremony: String,
    options: T,
}

async fn registration_options(
    State(state): State<AppState>,
    AnyPageUser(actor): AnyPageUser,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<Response, ApiError> {
    let (ceremony, options) =
        passkey::start_registration(&state.services, &actor, &body.name).await?;
    Ok(Json(Options { ceremony, options }).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    ceremony: String,
    credential: RegisterPublicKeyCredential,
}

async fn register(
    State(state): State<AppState>,
    AnyPageUser(actor): AnyPageUser,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Response, ApiError> {
    let id =
        passkey::finish_registration(&state.services, &actor, &body.ceremony, &body.credential)
            .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response())
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RenameForm {
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    AnyPageUser(actor): AnyPageUser,
    Path(id): Path<String>,
    form: Result<Form<RenameForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return super::bad_form(Some(&actor));
    };
    let to = match passkey::rename(&state.services, &actor, &id, &form.name).await {
        Ok(()) => "/account/two-factor?done=passkey-renamed",
        Err(PasskeyError::BadName) => "/account/two-factor?done=passkey-name-refused",
        Err(PasskeyError::NotFound) => return super::not_found(Some(&actor)),
        Err(PasskeyError::Service(e)) => return super::failure(&e, Some(&actor)),
        Err(_) => "/account/two-factor",
    };
    Redirect::to(to).into_response()
}

async fn remove(
    State(state): State<AppState>,
    AnyPageUser(actor): AnyPageUser,
    Path(id): Path<String>,
) -> Response {
    let to = match passkey::remove(&state.services, &actor, &id).await {
        Ok(()) => "/account/two-factor?done=passkey-removed",
        Err(PasskeyError::Last) => "/account/two-factor?done=passkey-last",
        Err(PasskeyError::NotFound) => return super::not_found(Some(&actor)),
        Err(PasskeyError::Service(e)) => return super::failure(&e, Some(&actor)),
        Err(_) => "/account/two-factor",
    };
    Redirect::to(to).into_response()
}

/// A passkey sign-in for a user name (the first factor) or a waiting sign-in (the second).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInOptionsBody {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    challenge: Option<String>,
}

fn no_passkey() -> ApiError {
    ApiError::Unprocessable(
        "no_passkey",
        "No passkey is set up for this user name: sign in with your password.".to_owned(),
    )
}

async fn sign_in_options(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignInOptionsBody>,
) -> Result<Response, ApiError> {
    let services = &state.services;
    let started = match (body.challenge, body.username) {
        (Some(challenge), _) => {
            let hash = crate::token::token_hash(&challenge);
            let Some(waiting) = auth::waiting_user(services, &challenge).await? else {
                return Err(PasskeyError::Over.into());
            };
            let by = SignInBy::Waiting {
                challenge_hash: &hash,
                user: &waiting,
            };
            passkey::start_sign_in(services, by).await?
        }
        (None, Some(name)) if !name.trim().is_empty() && name.len() <= 320 => {
            passkey::start_sign_in(services, SignInBy::Name(&name)).await?
        }
        (None, _) => {
            return Err(ApiError::Unprocessable(
                "username_required",
                "Type your user name first.".to_owned(),
            ));
        }
    };
    let (ceremony, options) = started.ok_or_else(no_passkey)?;
    Ok(Json(Options { ceremony, options }).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInBody {
    ceremony: String,
    credential: PublicKeyCredential,
    #[serde(default)]
    next: String,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignInBody>,
) -> Result<Response, ApiError> {
    let device = super::named_cookie(&headers, DEVICE_COOKIE);
    let signed_in = auth::finish_with_passkey(
        &state.services,
        &body.ceremony,
        &body.credential,
        device.as_deref(),
    )
    .await
    .map_err(|e| -> ApiError {
        match e {
            LoginError::ChallengeOver => PasskeyError::Over.into(),
            LoginError::TenantShut(status) => ApiError::TenantShut(status),
            LoginError::Service(e) => e.into(),
            _ => PasskeyError::Refused.into(),
        }
    })?;
    let next = super::local_path(&body.next).unwrap_or("/").to_owned();
    let mut response = Json(serde_json::json!({ "redirect": next })).into_response();
    set_sign_in_cookies(&state, &signed_in, &mut response);
    Ok(response)
}
