//! Bulk onboarding (`/api/v1/bulk-imports`: a CSV of requests checked, then submitted) and
//! name availability as staff type (`/api/v1/availability`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use portal_domain::NameKind;
use portal_domain::import::MAX_BYTES;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::service::import::{self, ImportDetail, ImportError, InvalidRow};
use crate::service::request::{Availability, NameHolder, availability};
use crate::web::error::{ApiError, ErrorBody};
use crate::web::extract::{Auth, IdPath, TokenOrSession};
use crate::web::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route(
            "/api/v1/bulk-imports",
            get(list_imports).post(create_import),
        )
        .map(|r| r.layer(DefaultBodyLimit::max(MAX_BYTES)))
        .route("/api/v1/bulk-imports/{id}", get(get_import))
        .route("/api/v1/bulk-imports/{id}/submit", post(submit_import))
        .route("/api/v1/bulk-imports/{id}/errors", get(import_errors))
        .route("/api/v1/bulk-imports/{id}/results", get(import_results))
        .route("/api/v1/availability", get(get_availability))
}

/// A problem of one cell of a row, named by its column (`row` for the row as a whole).
#[derive(Serialize, ToSchema)]
pub struct CellProblem {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// An invalid row: `row` is its line number in the file.
#[derive(Serialize, ToSchema)]
pub struct InvalidRowView {
    pub row: i64,
    pub fields: Vec<CellProblem>,
}

/// How far an import's requests are.
#[derive(Serialize, ToSchema)]
pub struct StagesView {
    pub waiting: i64,
    pub provisioning: i64,
    pub completed: i64,
    pub failed: i64,
}

/// An import.
#[derive(Serialize, ToSchema)]
pub struct ImportView {
    pub id: String,
    /// `previewed`, `submitting` or `submitted`.
    pub status: String,
    pub file_name: String,
    /// Rows in the file.
    pub rows: i64,
    /// Rows that passed every check.
    pub valid: i64,
    /// Requests made from it so far.
    pub submitted: i64,
    /// Header columns that are not ours, ignored.
    pub ignored_columns: Vec<String>,
    pub progress: StagesView,
    /// In the answer to the upload: every invalid row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<Vec<InvalidRowView>>,
    /// In the answers that read one import: its requests' ids, in the order of the rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_ids: Option<Vec<String>>,
    /// RFC 3339.
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ImportList {
    pub items: Vec<ImportView>,
}

fn view(detail: &ImportDetail) -> ImportView {
    let stages = detail.stages();
    let i = &detail.import;
    ImportView {
        id: i.id.clone(),
        status: i.status.to_string(),
        file_name: i.file_name.clone(),
        rows: i.rows_total,
        valid: i.rows_valid,
        submitted: detail.submitted(),
        ignored_columns: detail.ignored_columns.clone(),
        progress: StagesView {
            waiting: stages.waiting,
            provisioning: stages.provisioning,
            completed: stages.completed,
            failed: stages.failed,
        },
        invalid: None,
        request_ids: None,
        created_at: super::rfc3339(i.created_at),
    }
}

fn invalid_view(rows: Vec<InvalidRow>) -> Vec<InvalidRowView> {
    rows.into_iter()
        .map(|r| InvalidRowView {
            row: r.line,
            fields: r
                .problems
                .into_iter()
                .map(|p| CellProblem {
                    field: p.field,
                    code: p.code,
                    message: p.message,
                })
                .collect(),
        })
        .collect()
}

fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::File(problem) => ApiError::Unprocessable(problem.code(), problem.to_string()),
        ImportError::Service(e) => e.into(),
    }
}

/// `?file_name=` of an upload.
#[derive(Deserialize, IntoParams)]
pub struct UploadQuery {
    /// The file's name, to show on its pages.
    pub file_name: Option<String>,
}

/// Check a CSV file of requests (landlord administrators and operators): every invalid row
/// with its problems. Nothing is submitted until `…/submit`.
#[utoipa::path(
    post, path = "/api/v1/bulk-imports", tag = "bulk onboarding",
    security(("bearer" = [])),
    params(UploadQuery),
    request_body(content = String, content_type = "text/csv", description = "A header row naming the columns, then one request per row; UTF-8, at most 10,000 rows and 5 MiB"),
    responses(
        (status = 201, body = ImportView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, description = "The file as a whole is refused (empty, a column missing, not UTF-8, too many rows)", body = ErrorBody),
    )
)]
pub async fn create_import(
    State(state): State<AppState>,
    Auth(actor): Auth,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ImportView>), ApiError> {
    // Who may upload is said before what was sent is looked at.
    actor.require(portal_domain::Permission::SubmitRequests)?;
    let Ok(Query(query)) = query else {
        return Err(ApiError::BadRequest(
            "bad_query",
            "The query string is not valid: file_name must be text.".into(),
        ));
    };
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest("unreadable_body", "The file could not be read.".into())
        }
    })?;
    let csv = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/csv"));
    if !csv {
        return Err(ApiError::NotCsv);
    }
    let name = query.file_name.unwrap_or_default();
    let (detail, invalid) = import::preview(&state.services, &actor, &name, body.to_vec())
        .await
        .map_err(import_error)?;
    let mut view = view(&detail);
    view.invalid = Some(invalid_view(invalid));
    Ok((StatusCode::CREATED, Json(view)))
}

/// The latest fifty imports, newest first.
#[utoipa::path(
    get, path = "/api/v1/bulk-imports", tag = "bulk onboarding",
    security(("bearer" = [])),
    responses((status = 200, body = ImportList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn list_imports(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<ImportList>, ApiError> {
    let mut items = Vec::new();
    for row in import::list(&state.services, &actor).await? {
        items.push(view(&import::get(&state.services, &actor, &row.id).await?));
    }
    Ok(Json(ImportList { items }))
}

/// One import, with its requests' ids and how far they are.
#[utoipa::path(
    get, path = "/api/v1/bulk-imports/{id}", tag = "bulk onboarding",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Import id")),
    responses((status = 200, body = ImportView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_import(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Json<ImportView>, ApiError> {
    let detail = import::get(&state.services, &actor, &id).await?;
    let mut view = view(&detail);
    view.request_ids = Some(import::request_ids(&state.services, &actor, &id).await?);
    Ok(Json(view))
}

/// Submit an import's valid rows: each becomes a request whose administrator is invited to
/// choose a password. Submitting again creates nothing twice.
#[utoipa::path(
    post, path = "/api/v1/bulk-imports/{id}/submit", tag = "bulk onboarding",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Import id")),
    responses((status = 202, body = ImportView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn submit_import(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<(StatusCode, Json<ImportView>), ApiError> {
    let detail = import::submit(&state.services, &actor, &id).await?;
    let mut view = view(&detail);
    view.request_ids = Some(import::request_ids(&state.services, &actor, &id).await?);
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// A CSV download named after the import.
pub fn csv_file(body: String, name: &str) -> Response {
    (crate::web::csv_headers(&format!("{name}.csv")), body).into_response()
}

/// The invalid rows as CSV: row, column, code, message.
#[utoipa::path(
    get, path = "/api/v1/bulk-imports/{id}/errors", tag = "bulk onboarding",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Import id")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn import_errors(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let body = import::errors_csv(&state.services, &actor, &id).await?;
    Ok(csv_file(body, &format!("import-{id}-errors")))
}

/// Every row's result as CSV: row, request id, status, login ID.
#[utoipa::path(
    get, path = "/api/v1/bulk-imports/{id}/results", tag = "bulk onboarding",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Import id")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn import_results(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let body = import::results_csv(&state.services, &actor, &id).await?;
    Ok(csv_file(body, &format!("import-{id}-results")))
}

/// The names to check; each one left out is not answered.
#[derive(Deserialize, IntoParams)]
pub struct AvailabilityQuery {
    pub name: Option<String>,
    pub short_name: Option<String>,
    pub upn_suffix: Option<String>,
}

/// What holds a name, for a link to it.
#[derive(Serialize, ToSchema)]
pub struct HolderView {
    /// `tenant` or `subscription_request`.
    pub kind: &'static str,
    pub id: String,
    /// The tenant's name it holds it for.
    pub name: String,
}

/// Whether one name is free.
#[derive(Serialize, ToSchema)]
pub struct NameAvailability {
    pub available: bool,
    /// `taken`, or the field rule's code when it breaks one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<HolderView>,
}

#[derive(Serialize, ToSchema)]
pub struct AvailabilityView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<NameAvailability>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_name: Option<NameAvailability>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upn_suffix: Option<NameAvailability>,
}

fn answer(found: Availability, kind: NameKind) -> NameAvailability {
    match found {
        Availability::Available => NameAvailability {
            available: true,
            code: None,
            message: None,
            held_by: None,
        },
        Availability::Invalid(error) => NameAvailability {
            available: false,
            code: Some(error.code.as_str().to_owned()),
            message: Some(error.message),
            held_by: None,
        },
        Availability::Taken(holder) => NameAvailability {
            available: false,
            code: Some("taken".to_owned()),
            message: Some(format!(
                "This {} is already used by a tenant or an open request.",
                kind.label()
            )),
            held_by: holder.map(|(holder, name)| match holder {
                NameHolder::Tenant(id) => HolderView {
                    kind: "tenant",
                    id,
                    name,
                },
                NameHolder::Request(id) => HolderView {
                    kind: "subscription_request",
                    id,
                    name,
                },
            }),
        },
    }
}

/// Whether names are free (landlord roles): each asked one is checked by its field's rule,
/// then against tenants and open requests. The portal's own registration page asks it as
/// staff type, with the browser's session instead of a token.
#[utoipa::path(
    get, path = "/api/v1/availability", tag = "bulk onboarding",
    security(("bearer" = [])),
    params(AvailabilityQuery),
    responses((status = 200, body = AvailabilityView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn get_availability(
    State(state): State<AppState>,
    TokenOrSession(actor): TokenOrSession,
    Query(query): Query<AvailabilityQuery>,
) -> Result<Json<AvailabilityView>, ApiError> {
    let services = &state.services;
    let mut view = AvailabilityView {
        name: None,
        short_name: None,
        upn_suffix: None,
    };
    let asked = [
        (NameKind::TenantName, query.name, &mut view.name),
        (NameKind::ShortName, query.short_name, &mut view.short_name),
        (NameKind::UpnSuffix, query.upn_suffix, &mut view.upn_suffix),
    ];
    for (kind, typed, slot) in asked {
        if let Some(typed) = typed {
            *slot = Some(answer(
                availability(services, &actor, kind, &typed).await?,
                kind,
            ));
        }
    }
    if view.name.is_none() && view.short_name.is_none() && view.upn_suffix.is_none() {
        // Nothing asked: the role is still checked, so a tenant user learns nothing here.
        actor.require(portal_domain::Permission::ReadRequests)?;
    }
    Ok(Json(view))
}
