//! The API for prospects, without sign-in: the templates on offer and
//! `POST /api/v1/public/registrations`. Its answers never tell whether a name or an email
//! address is in use.

use crate::web::Routes;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::requests::{ContactBody, SubmissionBody, TenantFieldsBody};
use crate::service::registration::{self, PublicError};
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::ApiJson;

pub fn router() -> Routes {
    Routes::new()
        .route("/api/v1/public/templates", get(public_templates))
        .route("/api/v1/public/registrations", post(register))
}

/// A self-service registration: the body of a subscription request, plus `website`, a field
/// people leave empty.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationBody {
    pub template_id: Option<String>,
    #[serde(default)]
    pub tenant: TenantFieldsBody,
    #[serde(default)]
    pub contact: ContactBody,
    /// Leave empty or out.
    pub website: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RegistrationReceipt {
    pub id: String,
    /// Always `pending_verification`: a confirmation link was sent to the contact address.
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct PublicTemplate {
    pub id: String,
    pub name: String,
    pub description: String,
    pub services: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PublicTemplateList {
    pub items: Vec<PublicTemplate>,
}

pub fn public_error(e: PublicError) -> ApiError {
    match e {
        PublicError::Invalid(problems) => ApiError::Invalid(problems),
        PublicError::Throttled { retry_after_secs } => ApiError::TooManyRequests {
            retry_after_secs,
            message: format!(
                "Too many registrations from here or for this email address; try again in {retry_after_secs} s."
            ),
        },
        PublicError::Service(e) => e.into(),
    }
}

/// The template service packages a prospect may register from.
#[utoipa::path(
    get, path = "/api/v1/public/templates", tag = "self-service",
    responses((status = 200, body = PublicTemplateList))
)]
pub async fn public_templates(
    State(state): State<AppState>,
) -> Result<Json<PublicTemplateList>, ApiError> {
    let items = registration::public_templates(&state.services)
        .await?
        .into_iter()
        .map(|t| PublicTemplate {
            services: serde_json::from_str(&t.services).unwrap_or_default(),
            id: t.id,
            name: t.name,
            description: t.description,
        })
        .collect();
    Ok(Json(PublicTemplateList { items }))
}

/// Register a tenant without signing in. The answer is the same whether its names are free
/// or not; a link to confirm the contact address is emailed, and a name found taken is
/// reported to that address once confirmed.
#[utoipa::path(
    post, path = "/api/v1/public/registrations", tag = "self-service",
    request_body = RegistrationBody,
    responses(
        (status = 202, description = "Received; a confirmation link was emailed", body = RegistrationReceipt),
        (status = 400, body = ErrorBody),
        (status = 422, description = "Fields break their rules; all are listed", body = ErrorBody),
        (status = 429, description = "Too many registrations; see Retry-After", body = ErrorBody),
        (status = 503, description = "Overloaded; see Retry-After", body = ErrorBody),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegistrationBody>,
) -> Result<(StatusCode, Json<RegistrationReceipt>), ApiError> {
    let honeypot = body
        .website
        .as_deref()
        .is_some_and(|w| !w.trim().is_empty());
    let submission = SubmissionBody {
        template_id: body.template_id,
        tenant: body.tenant,
        contact: body.contact,
    };
    let id = registration::submit(&state.services, submission.into(), honeypot)
        .await
        .map_err(public_error)?
        .id;
    Ok((
        StatusCode::ACCEPTED,
        Json(RegistrationReceipt {
            id,
            status: "pending_verification",
        }),
    ))
}
