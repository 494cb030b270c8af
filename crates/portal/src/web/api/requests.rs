//! Tenant subscription requests: submit, read one, list.

use crate::web::Routes;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use portal_domain::submission::{RawContact, RawSubmission, RawTenant};
use portal_domain::{NameKind, RequestStatus, StaffAction};
use portal_store::request::RequestFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::service::request::{self, ActionError, RequestDetail, SubmitError};
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{ApiJson, Auth, IdPath};

pub fn router() -> Routes {
    Routes::new()
        .route(
            "/api/v1/subscription-requests",
            get(list_requests).post(submit_request),
        )
        .route("/api/v1/subscription-requests/export", get(export_requests))
        .route("/api/v1/subscription-requests/{id}", get(get_request))
        .route(
            "/api/v1/subscription-requests/{id}/{action}",
            post(act_on_request),
        )
        .route(
            "/api/v1/subscription-requests/{id}/resend-email",
            post(resend_email),
        )
        .route("/api/v1/subscription-requests/bulk", post(bulk_action))
}

/// A bulk action: `retry`, `cancel` or `resend` on up to 500 requests.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// `retry` (failed requests), `cancel` (not started) or `resend` (the outcome email of
    /// completed or failed ones).
    pub action: String,
    /// 1 to 500 request ids.
    pub ids: Vec<String>,
}

/// A request a bulk action did not act on, and why.
#[derive(Serialize, ToSchema)]
pub struct BulkRefusal {
    pub id: String,
    /// `not_found`, `status`, `taken` or `unavailable`.
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct BulkAnswer {
    pub done: Vec<String>,
    pub refused: Vec<BulkRefusal>,
}

/// Retry, cancel or resend the outcome email of many requests at once: each is done or
/// refused on its own (with one audit entry per request done), and the answer lists both.
#[utoipa::path(
    post, path = "/api/v1/subscription-requests/bulk", tag = "subscription requests",
    security(("bearer" = [])),
    request_body = BulkBody,
    responses(
        (status = 200, body = BulkAnswer),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "An unknown action, or no ids or more than 500", body = ErrorBody),
    )
)]
pub async fn bulk_action(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<Json<BulkAnswer>, ApiError> {
    use crate::service::bulk::{self, BulkAction, BulkError};
    let field = |field: &'static str, message: String| {
        ApiError::Invalid(vec![portal_domain::submission::FieldProblem {
            field,
            error: portal_domain::FieldError::new(portal_domain::FieldErrorCode::Invalid, message),
        }])
    };
    let action: BulkAction = body
        .action
        .parse()
        .map_err(|_| field("action", "action must be retry, cancel or resend.".into()))?;
    let done = bulk::act(&state.services, &actor, action, &body.ids)
        .await
        .map_err(|e| match e {
            BulkError::BadIds => field(
                "ids",
                format!(
                    "ids must hold 1 to {} request ids, each as the portal wrote it.",
                    bulk::MAX_IDS
                ),
            ),
            BulkError::Service(e) => e.into(),
        })?;
    Ok(Json(BulkAnswer {
        done: done.done,
        refused: done
            .refused
            .into_iter()
            .map(|r| BulkRefusal {
                id: r.id,
                code: r.code.to_owned(),
            })
            .collect(),
    }))
}

/// A message put in the outbox.
#[derive(Serialize, ToSchema)]
pub struct Queued {
    /// The outbox message's id (`GET /api/v1/mail/{id}`).
    pub mail_id: String,
}

/// Send a completed or failed request's outcome email again: exactly one new message, as the
/// request stands now, recorded in the audit log. Any other status answers 409 naming it.
#[utoipa::path(
    post, path = "/api/v1/subscription-requests/{id}/resend-email", tag = "subscription requests",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id")),
    responses(
        (status = 202, body = Queued),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The request has no outcome yet", body = ErrorBody),
    )
)]
pub async fn resend_email(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    request::resend_outcome(&state.services, &actor, &id)
        .await
        .map(|mail_id| (StatusCode::ACCEPTED, Json(Queued { mail_id })))
        .map_err(action_error)
}

/// A tenant subscription request as submitted. Every field is text; a missing one is
/// reported as a field error (`required`), not as a malformed body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmissionBody {
    pub template_id: Option<String>,
    #[serde(default)]
    pub tenant: TenantFieldsBody,
    #[serde(default)]
    pub contact: ContactBody,
}

#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantFieldsBody {
    /// ASCII letters and digits, 2–64.
    pub name: Option<String>,
    /// ASCII letters and digits, 2–16.
    pub short_name: Option<String>,
    /// A domain name, e.g. `kenton-electronics.com`.
    pub upn_suffix: Option<String>,
    /// ASCII letters and digits; `prp` is put in front of it.
    pub admin_user_name: Option<String>,
    /// At least 12 characters; never returned. May be left out when `admin_email` is given.
    pub password: Option<String>,
    pub confirm_password: Option<String>,
    /// The administrator's address: without a password, the administrator is invited there
    /// to choose one once the tenant is completed.
    pub admin_email: Option<String>,
    /// A phone number, e.g. `+44 20 7946 0000`.
    pub ani: Option<String>,
}

#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub address: Option<String>,
}

impl From<SubmissionBody> for RawSubmission {
    fn from(b: SubmissionBody) -> Self {
        let t = b.tenant;
        let c = b.contact;
        RawSubmission {
            template_id: b.template_id,
            tenant: RawTenant {
                name: t.name,
                short_name: t.short_name,
                upn_suffix: t.upn_suffix,
                admin_user_name: t.admin_user_name,
                password: t.password,
                confirm_password: t.confirm_password,
                admin_email: t.admin_email,
                ani: t.ani,
            },
            contact: RawContact {
                first_name: c.first_name,
                last_name: c.last_name,
                email: c.email,
                phone: c.phone,
                company: c.company,
                address: c.address,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TemplateRef {
    pub id: String,
    pub version: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RequestTenantView {
    pub name: String,
    pub short_name: String,
    pub upn_suffix: String,
    pub admin_user_name: String,
    /// `prp` + the user name.
    pub admin_personnel_id: String,
    /// E.164.
    pub ani: String,
}

#[derive(Serialize, ToSchema)]
pub struct ContactView {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub address: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StepView {
    pub name: String,
    /// `pending`, `running`, `done` or `failed`.
    pub status: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EventView {
    pub at: String,
    /// The user who acted; null for the portal itself.
    pub actor_id: Option<String>,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub detail: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    /// `none`, `pending`, `sent` or `failed`.
    pub status: String,
    pub sent_at: Option<String>,
}

/// A subscription request; never carries a password or hash.
#[derive(Serialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    pub status: String,
    pub template: TemplateRef,
    pub tenant: RequestTenantView,
    pub contact: ContactView,
    pub submitted_at: String,
    pub scheduled_for: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub tenant_id: Option<String>,
    pub error: Option<String>,
    /// The provisioning steps in order (left out of lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepView>>,
    pub notification: NotificationView,
    /// What happened to the request and who did it (left out of lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventView>>,
}

#[derive(Serialize, ToSchema)]
pub struct RequestList {
    pub items: Vec<RequestView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

pub(crate) fn view(detail: RequestDetail) -> RequestView {
    let events = detail
        .events
        .into_iter()
        .map(|e| EventView {
            at: super::rfc3339(e.at),
            actor_id: e.actor_id,
            action: e.action.to_string(),
            from_status: e.from_status.map(|s| s.to_string()),
            to_status: e.to_status.map(|s| s.to_string()),
            detail: e.detail,
        })
        .collect();
    RequestView {
        events: Some(events),
        ..view_with(detail.request, Some(detail.steps))
    }
}

fn view_with(
    r: portal_store::request::RequestRow,
    steps: Option<Vec<portal_store::request::StepRow>>,
) -> RequestView {
    let t = super::rfc3339;
    RequestView {
        status: r.status.to_string(),
        template: TemplateRef {
            id: r.template_id,
            version: r.template_version,
        },
        tenant: RequestTenantView {
            name: r.tenant_name,
            short_name: r.short_name,
            upn_suffix: r.upn_suffix,
            admin_user_name: r.admin_user_name,
            admin_personnel_id: r.admin_personnel_id,
            ani: r.ani,
        },
        contact: ContactView {
            first_name: r.contact_first_name,
            last_name: r.contact_last_name,
            email: r.contact_email,
            phone: r.contact_phone,
            company: r.contact_company,
            address: r.contact_address,
        },
        submitted_at: t(r.submitted_at),
        scheduled_for: r.scheduled_for.map(t),
        started_at: r.started_at.map(t),
        finished_at: r.finished_at.map(t),
        tenant_id: r.tenant_id,
        error: r.error.as_ref().map(|e| e.message().to_owned()),
        steps: steps.map(|steps| {
            steps
                .into_iter()
                .map(|s| StepView {
                    name: s.name.to_string(),
                    status: s.status.to_string(),
                    started_at: s.started_at.map(t),
                    finished_at: s.finished_at.map(t),
                })
                .collect()
        }),
        notification: NotificationView {
            status: r.notification_status.to_string(),
            sent_at: r.notification_sent_at.map(t),
        },
        events: None,
        id: r.id,
    }
}

/// Submit a tenant subscription request (landlord administrators).
#[utoipa::path(
    post, path = "/api/v1/subscription-requests", tag = "subscription requests",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first answer")),
    request_body = SubmissionBody,
    responses(
        (status = 202, description = "Accepted; provisioning follows", body = RequestView),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "A name is already taken; the field is named", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, description = "Fields break their rules; all are listed", body = ErrorBody),
        (status = 503, description = "Overloaded; see Retry-After", body = ErrorBody),
    )
)]
pub async fn submit_request(
    State(state): State<AppState>,
    Auth(actor): Auth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SubmissionBody>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let key = idempotency_key(&headers)?;
    let typed = |name: &Option<String>| name.clone().unwrap_or_default();
    let names = [
        (NameKind::TenantName, typed(&body.tenant.name)),
        (NameKind::ShortName, typed(&body.tenant.short_name)),
        (NameKind::UpnSuffix, typed(&body.tenant.upn_suffix)),
    ];
    match request::submit_request(&state.services, &actor, body.into(), key).await {
        Ok(detail) => Ok((StatusCode::ACCEPTED, Json(view(detail)))),
        Err(SubmitError::Invalid(problems)) => Err(ApiError::Invalid(problems)),
        Err(SubmitError::IdempotencyKeyReused) => Err(ApiError::Unprocessable(
            "idempotency_key_reused",
            "This Idempotency-Key was already used with a different request body.".into(),
        )),
        Err(SubmitError::Taken(kind)) => {
            let name = names
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, n)| n.as_str())
                .unwrap_or_default();
            let held_by = request::holder_of(&state.services, &actor, kind, name).await;
            Err(ApiError::NameTaken {
                message: format!(
                    "This {} is already used by another tenant or request.",
                    field_label(kind)
                ),
                field: kind.field(),
                held_by: held_by.map(Into::into),
            })
        }
        Err(SubmitError::Service(e)) => Err(e.into()),
    }
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters, when present.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(v) if (1..=255).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(v.to_owned()))
        }
        _ => Err(ApiError::BadRequest(
            "bad_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters.".into(),
        )),
    }
}

/// A name as the registration form labels its field.
fn field_label(kind: NameKind) -> &'static str {
    match kind {
        NameKind::TenantName => "Name",
        NameKind::ShortName => "Short Name",
        NameKind::UpnSuffix => "UPN Suffix",
    }
}

/// One subscription request with its steps.
#[utoipa::path(
    get, path = "/api/v1/subscription-requests/{id}", tag = "subscription requests",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = RequestView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_request(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(view(
        request::get_request(&state.services, &actor, &id).await?,
    )))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only requests in this status.
    pub status: Option<String>,
    /// Part of the tenant name.
    pub q: Option<String>,
    /// Only requests for this template.
    pub template: Option<String>,
    /// Only requests submitted at or after this RFC 3339 time.
    pub submitted_from: Option<String>,
    /// Only requests submitted before this RFC 3339 time.
    pub submitted_before: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Subscription requests, newest first, paged by cursor.
#[utoipa::path(
    get, path = "/api/v1/subscription-requests", tag = "subscription requests",
    security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = RequestList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
pub async fn list_requests(
    State(state): State<AppState>,
    Auth(actor): Auth,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RequestList>, ApiError> {
    let (query, limit) = super::list_query(
        query,
        |q| {
            vec![
                q.q.as_ref(),
                q.cursor.as_ref(),
                q.status.as_ref(),
                q.template.as_ref(),
                q.submitted_from.as_ref(),
                q.submitted_before.as_ref(),
            ]
        },
        |q| q.limit,
    )?;
    let filter = RequestFilter {
        before_id: query.cursor.clone().filter(|c| !c.is_empty()),
        limit,
        ..filter_of(&query.filters())?
    };
    let (rows, next_cursor) = request::list_requests(&state.services, &actor, filter).await?;
    let items = rows.into_iter().map(|row| view_with(row, None)).collect();
    Ok(Json(RequestList { items, next_cursor }))
}

impl ListQuery {
    fn filters(&self) -> ExportQuery {
        ExportQuery {
            status: self.status.clone(),
            q: self.q.clone(),
            template: self.template.clone(),
            submitted_from: self.submitted_from.clone(),
            submitted_before: self.submitted_before.clone(),
        }
    }
}

/// The list's filters, without paging.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Only requests in this status.
    pub status: Option<String>,
    /// Part of the tenant name.
    pub q: Option<String>,
    /// Only requests for this template.
    pub template: Option<String>,
    /// Only requests submitted at or after this RFC 3339 time.
    pub submitted_from: Option<String>,
    /// Only requests submitted before this RFC 3339 time.
    pub submitted_before: Option<String>,
}

/// The store's filter of a list's query string (one page of 50, from the newest), or what is
/// wrong with it.
fn filter_of(query: &ExportQuery) -> Result<RequestFilter, ApiError> {
    let status = match query.status.as_deref().map(str::parse::<RequestStatus>) {
        None => None,
        Some(Ok(status)) => Some(status),
        Some(Err(_)) => {
            return Err(ApiError::BadRequest(
                "bad_query",
                "status must be one of pending_verification, pending_approval, pending_domain, accepted, scheduled, provisioning, completed, failed, cancelled, rejected.".into(),
            ));
        }
    };
    Ok(RequestFilter {
        status,
        query: query
            .q
            .as_deref()
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty()),
        template_id: query.template.clone().filter(|t| !t.is_empty()),
        submitted_from: time_param("submitted_from", query.submitted_from.as_deref())?,
        submitted_before: time_param("submitted_before", query.submitted_before.as_deref())?,
        before_id: None,
        limit: 50,
    })
}

/// Every request the list's filters match, newest first, as CSV: a header row, then one row
/// per request (id, tenant name, template, status, submitted, scheduled, contact email, tenant
/// id; times in UTC). It is written as it is read, however many requests match. No cell starts
/// with `=`, `+`, `-` or `@` (such a cell gets a leading `'`). Only the provider's staff may.
#[utoipa::path(
    get, path = "/api/v1/subscription-requests/export", tag = "subscription requests",
    security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "The requests as CSV", content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "Not one of the provider's staff", body = ErrorBody),
    )
)]
pub async fn export_requests(
    State(state): State<AppState>,
    Auth(actor): Auth,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    // Someone not on the staff learns nothing of the export, not even its rules.
    if !actor.is_landlord() {
        return Err(crate::service::ServiceError::NotFound.into());
    }
    let (query, _) = super::list_query(
        query,
        |q| {
            vec![
                q.q.as_ref(),
                q.status.as_ref(),
                q.template.as_ref(),
                q.submitted_from.as_ref(),
                q.submitted_before.as_ref(),
            ]
        },
        |_| None,
    )?;
    let filter = filter_of(&query)?;
    let export = crate::service::export::export(&state.services, &actor, filter).await?;
    Ok(crate::web::csv_download(export, "subscription-requests.csv").await?)
}

/// An optional RFC 3339 time of the query string, as epoch milliseconds.
fn time_param(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<jiff::Timestamp>()
            .map(|t| Some(t.as_millisecond()))
            .map_err(|_| {
                ApiError::BadRequest(
                    "bad_query",
                    format!("{name} must be an RFC 3339 time, e.g. 2026-11-29T08:00:00Z."),
                )
            }),
    }
}

/// The body of an action; only `reschedule` (`at`) and `reject` (`reason`) need one.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// RFC 3339 time, for `reschedule`.
    pub at: Option<String>,
    /// For `reject`.
    pub reason: Option<String>,
}

/// Act on a request: `retry` (failed), `cancel` (not started), `run-now` and `reschedule`
/// (scheduled), `approve` (pending approval), `reject` (pending approval, domain or
/// verification, with a reason that is emailed to the contact) and `verify-domain` (pending
/// domain: staff vouch for it). Any other status answers 409 naming it.
#[utoipa::path(
    post, path = "/api/v1/subscription-requests/{id}/{action}", tag = "subscription requests",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Request id"),
        ("action" = String, Path, description = "retry, cancel, run-now, reschedule, approve, reject or verify-domain"),
    ),
    request_body(content = Option<ActionBody>, description = "Needed by reschedule and reject"),
    responses(
        (status = 200, body = RequestView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The status does not allow the action", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn act_on_request(
    State(state): State<AppState>,
    Auth(actor): Auth,
    axum::extract::Path((id, action)): axum::extract::Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<RequestView>, ApiError> {
    if id.chars().any(char::is_control) || id.len() > 128 {
        return Err(ApiError::NotFound);
    }
    let body = action_body(&body)?;
    let at = action_time(body.at.as_deref())?;
    let Ok(action) = action.parse::<StaffAction>() else {
        return Err(ApiError::NotFound);
    };
    request::act_on_request(
        &state.services,
        &actor,
        &id,
        action,
        at,
        body.reason.as_deref(),
    )
    .await
    .map(|detail| Json(view(detail)))
    .map_err(action_error)
}

/// The action's body; a blank one has no fields, since only two actions need any.
fn action_body(bytes: &[u8]) -> Result<ActionBody, ApiError> {
    super::optional_body(bytes, "{\"at\": \"2026-12-01T22:00:00Z\"}")
}

/// The body's `at`, as epoch milliseconds; a time that does not parse is a field error.
fn action_time(at: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(text) = at else {
        return Ok(None);
    };
    let t = text.parse::<jiff::Timestamp>().map_err(|_| {
        ApiError::Invalid(vec![portal_domain::submission::FieldProblem {
            field: "at",
            error: portal_domain::FieldError::new(
                portal_domain::FieldErrorCode::InvalidCharacters,
                "at must be an RFC 3339 time such as 2026-12-01T22:00:00Z.",
            ),
        }])
    })?;
    Ok(Some(t.as_millisecond()))
}

/// The answer to an action the service refused.
fn action_error(e: ActionError) -> ApiError {
    match e {
        ActionError::NotAllowed(refused) => ApiError::Conflict {
            field: None,
            code: "conflict",
            message: format!(
                "A request that is {} cannot be {}.",
                refused.from, refused.action
            ),
        },
        ActionError::Taken(kind) => ApiError::Conflict {
            message: format!(
                "This {} is now used by another tenant or request, so the request cannot be retried.",
                field_label(kind)
            ),
            code: "taken",
            field: Some(kind.field().to_owned()),
        },
        ActionError::BadInput(message) => ApiError::Unprocessable("invalid_action", message),
        ActionError::Service(e) => e.into(),
    }
}
