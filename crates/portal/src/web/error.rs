//! The one error type of the web layer. Each variant's status is in its doc comment; every
//! answer has the JSON shape of the contract. 5xx bodies say nothing internal: the cause is
//! logged once, here.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portal_domain::submission::FieldProblem;
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::ServiceError;

/// `{"error":{"code","message","fields"?}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine code, e.g. `invalid_fields`, `not_found`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// The fields at fault, when there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldErrorBody>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorBody {
    /// The field's path in the request body, e.g. `tenant.short_name`.
    pub field: String,
    pub code: String,
    pub message: String,
    /// For a name already used, what holds it (for staff who may read it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<HeldBy>,
}

/// What holds a name: a tenant or a subscription request, by id.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeldBy {
    /// `tenant` or `subscription_request`.
    pub kind: &'static str,
    pub id: String,
}

impl From<crate::service::request::NameHolder> for HeldBy {
    fn from(holder: crate::service::request::NameHolder) -> Self {
        use crate::service::request::NameHolder;
        match holder {
            NameHolder::Tenant(id) => Self { kind: "tenant", id },
            NameHolder::Request(id) => Self {
                kind: "subscription_request",
                id,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{1}")]
    BadRequest(&'static str, String),
    /// 401: no valid credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: signed in, but the role does not allow it.
    #[error("forbidden")]
    Forbidden,
    /// 403: the password was typed by someone else and must be changed first.
    #[error("password change required")]
    PasswordChangeRequired,
    /// 403: the role requires a second factor and the account has none: set one up first.
    #[error("second factor enrolment required")]
    MfaEnrolmentRequired,
    /// 403: only a sign-in that passed a second factor may do this.
    #[error("second factor required")]
    SecondFactorRequired,
    /// 401: the password was right; the account's second factor is asked for (`None`) or
    /// the one given was wrong (its message).
    #[error("second factor needed")]
    MfaRequired(Option<&'static str>),
    /// 403: the account's tenant is suspended or closed; nobody of it may sign in.
    #[error("tenant shut")]
    TenantShut(portal_domain::TenantStatus),
    /// 404: no such thing, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// 405: the route exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 408: the request took longer than the request timeout to arrive or to answer.
    #[error("request timeout")]
    RequestTimeout,
    /// 409: conflicts with existing data; names the field when one is at fault.
    #[error("{message}")]
    Conflict {
        field: Option<String>,
        code: &'static str,
        message: String,
    },
    /// 409: a name (`field`) is already used; what holds it is named for staff.
    #[error("{message}")]
    NameTaken {
        field: &'static str,
        message: String,
        held_by: Option<HeldBy>,
    },
    /// 410: a link that worked once no longer does (used or expired).
    #[error("{1}")]
    Gone(&'static str, String),
    /// 413: the body is larger than this endpoint takes.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415: the body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 415: the body is not CSV.
    #[error("unsupported media type")]
    NotCsv,
    /// 422: fields broke their rules; all of them are listed.
    #[error("invalid fields")]
    Invalid(Vec<FieldProblem>),
    /// 422: fields named by path (`objects[3].properties.priority`) break their rules.
    #[error("invalid fields")]
    InvalidPaths(Vec<FieldErrorBody>),
    /// 422: the request cannot be taken as it is, with no single field at fault.
    #[error("{1}")]
    Unprocessable(&'static str, String),
    /// 429: too many attempts; `Retry-After` says in how many seconds to come back.
    #[error("{message}")]
    TooManyRequests {
        retry_after_secs: u64,
        message: String,
    },
    /// 503: overloaded or the database is unreachable; `Retry-After` says when to come back.
    #[error("unavailable")]
    Unavailable,
    /// 500: a fault of ours; logged, never described to the client.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound => Self::NotFound,
            ServiceError::Forbidden => Self::Forbidden,
            ServiceError::SecondFactorRequired => Self::SecondFactorRequired,
            ServiceError::Overloaded | ServiceError::Unavailable => Self::Unavailable,
            ServiceError::Internal(e) => Self::Internal(e),
        }
    }
}

fn body(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    fields: Option<Vec<FieldErrorBody>>,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.into(),
            fields,
        },
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    // This must be longer: one arm per variant, each naming its status, code and message,
    // reads best side by side.
    fn into_response(self) -> Response {
        match self {
            Self::BadRequest(code, message) => body(StatusCode::BAD_REQUEST, code, message, None),
            Self::Unauthorized(message) => {
                let mut r = body(StatusCode::UNAUTHORIZED, "unauthorized", message, None);
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            Self::Forbidden => body(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Your role does not allow this.",
                None,
            ),
            Self::PasswordChangeRequired => body(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "Your password was set by someone else: change it first (POST /api/v1/me/password).",
                None,
            ),
            Self::MfaEnrolmentRequired => body(
                StatusCode::FORBIDDEN,
                "mfa_enrolment_required",
                "Your role requires a second factor: set up an authenticator app first \
                 (POST /api/v1/me/mfa/totp, then POST /api/v1/me/mfa/totp/confirm).",
                None,
            ),
            Self::SecondFactorRequired => body(
                StatusCode::FORBIDDEN,
                "second_factor_required",
                "Only a sign-in that passed a second factor may do this: set up an \
                 authenticator app, or sign in again with your code.",
                None,
            ),
            Self::MfaRequired(wrong) => {
                let (code, message) = match wrong {
                    None => (
                        "mfa_required",
                        "The password is right; this account also needs the code from its \
                         authenticator app (\"totp\") or a recovery code (\"recovery_code\").",
                    ),
                    Some(message) => ("mfa_invalid", message),
                };
                body(StatusCode::UNAUTHORIZED, code, message, None)
            }
            Self::Gone(code, message) => body(StatusCode::GONE, code, message, None),
            Self::NotFound => body(
                StatusCode::NOT_FOUND,
                "not_found",
                "There is nothing here.",
                None,
            ),
            Self::MethodNotAllowed => body(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This address does not take that method.",
                None,
            ),
            Self::NameTaken {
                field,
                message,
                held_by,
            } => {
                let fields = vec![FieldErrorBody {
                    field: field.to_owned(),
                    code: "taken".to_owned(),
                    message: message.clone(),
                    held_by,
                }];
                body(StatusCode::CONFLICT, "conflict", message, Some(fields))
            }
            Self::TenantShut(status) => body(
                StatusCode::FORBIDDEN,
                status.sign_in_refusal().unwrap_or("tenant_closed"),
                format!("The account's tenant is {status}: nobody of it may sign in."),
                None,
            ),
            Self::RequestTimeout => body(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "The request took too long to arrive or to answer; try again.",
                None,
            ),
            Self::Conflict {
                field,
                code,
                message,
            } => {
                // With a field at fault the code is the field's; without one it is the
                // answer's own (`stale_draft`, `not_allowed`).
                match field {
                    Some(f) => {
                        let fields = vec![FieldErrorBody {
                            field: f,
                            code: code.to_owned(),
                            message: message.clone(),
                            held_by: None,
                        }];
                        body(StatusCode::CONFLICT, "conflict", message, Some(fields))
                    }
                    None => body(StatusCode::CONFLICT, code, message, None),
                }
            }
            Self::PayloadTooLarge => body(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is larger than this endpoint accepts.",
                None,
            ),
            Self::UnsupportedMediaType => body(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as JSON with the header Content-Type: application/json.",
                None,
            ),
            Self::NotCsv => body(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the file as the body with the header Content-Type: text/csv.",
                None,
            ),
            Self::Invalid(problems) => {
                let n = problems.len();
                let fields = problems
                    .into_iter()
                    .map(|p| FieldErrorBody {
                        field: p.field.to_owned(),
                        code: p.error.code.as_str().to_owned(),
                        message: p.error.message,
                        held_by: None,
                    })
                    .collect();
                let message = if n == 1 {
                    "One field needs attention.".to_owned()
                } else {
                    format!("{n} fields need attention.")
                };
                body(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_fields",
                    message,
                    Some(fields),
                )
            }
            Self::InvalidPaths(fields) => {
                let message = format!("{} fields need attention.", fields.len());
                body(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_fields",
                    message,
                    Some(fields),
                )
            }
            Self::Unprocessable(code, message) => {
                body(StatusCode::UNPROCESSABLE_ENTITY, code, message, None)
            }
            Self::TooManyRequests {
                retry_after_secs,
                message,
            } => {
                let mut r = body(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    message,
                    None,
                );
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            Self::Unavailable => {
                let mut r = body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "The portal is busy or cannot reach its database; try again in a moment.",
                    None,
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
            Self::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                body(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong on our side; it has been logged.",
                    None,
                )
            }
        }
    }
}
