//! Extractors that turn requests into typed input or a contract-shaped error: JSON bodies and
//! the bearer token.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::service::{Actor, auth};

/// A JSON body; malformed JSON, a wrong content type or an oversized body answer in the
/// contract's error shape. Serde's message is not echoed, as it may quote a submitted value.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
                JsonRejection::JsonSyntaxError(_) => {
                    ApiError::BadRequest("malformed_json", "The request body is not valid JSON.".into())
                }
                JsonRejection::JsonDataError(_) => ApiError::BadRequest(
                    "unexpected_body",
                    "The request body is JSON, but not of the expected shape: check the field names and that each value has the right type.".into(),
                ),
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::BadRequest("unreadable_body", "The request body could not be read.".into()),
            }),
        }
    }
}

/// The signed-in user, from `Authorization: Bearer TOKEN`, whose password need not be
/// changed first (`403 password_change_required` otherwise) and who has the second factor
/// the security policy requires of their role (`403 mfa_enrolment_required` otherwise).
#[derive(Debug, Clone)]
pub struct Auth(pub Actor);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let AnyAuth(actor) = AnyAuth::from_request_parts(parts, state).await?;
        if actor.must_change_password {
            return Err(ApiError::PasswordChangeRequired);
        }
        if crate::service::security::must_enrol(&state.services, &actor).await? {
            return Err(ApiError::MfaEnrolmentRequired);
        }
        Ok(Self(actor))
    }
}

/// The signed-in user, whether or not their password must be changed or a second factor set
/// up first: for reading one's own account, changing the password, setting up a second
/// factor and signing out.
#[derive(Debug, Clone)]
pub struct AnyAuth(pub Actor);

impl FromRequestParts<AppState> for AnyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "Sign in first and send Authorization: Bearer TOKEN.",
            ))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                // The scheme name is case-insensitive (RFC 9110).
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(token)
            })
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or(ApiError::Unauthorized(
                "The Authorization header must be Bearer TOKEN.",
            ))?;
        match auth::authenticate(&state.services, token).await? {
            Some(actor) => Ok(Self(actor)),
            None => Err(ApiError::Unauthorized(
                "The token is unknown or has expired; sign in again.",
            )),
        }
    }
}

/// The id in a path (`/api/v1/tenants/{id}`). Ids are short printable text: anything else
/// cannot name an object, so it is "not found" without asking the database; a path that is
/// not valid percent-encoded UTF-8 is a 400 in the contract's shape.
#[derive(Debug)]
pub struct IdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(id) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| {
                    ApiError::BadRequest("bad_path", "The address is not valid.".into())
                })?;
        if id.is_empty() || id.len() > 128 || id.chars().any(|c| c.is_control()) {
            return Err(ApiError::NotFound);
        }
        Ok(Self(id))
    }
}

/// The signed-in user, by bearer token or, without one, by the browser's session: for the
/// few reads the portal's own pages make with script (a name's availability as it is typed).
/// Only reads take it; a page's script cannot be made to write through it from elsewhere.
#[derive(Debug, Clone)]
pub struct TokenOrSession(pub Actor);

impl FromRequestParts<AppState> for TokenOrSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(AUTHORIZATION) {
            let Auth(actor) = Auth::from_request_parts(parts, state).await?;
            return Ok(Self(actor));
        }
        match crate::web::pages::PageUser::from_request_parts(parts, state).await {
            Ok(crate::web::pages::PageUser(actor)) => Ok(Self(actor)),
            Err(_) => Err(ApiError::Unauthorized(
                "Sign in first and send Authorization: Bearer TOKEN.",
            )),
        }
    }
}
