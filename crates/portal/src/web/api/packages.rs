//! Changes of a tenant's service package (`/api/v1/tenants/{id}/package-changes…`), and a
//! tenant's own changes to its configuration objects
//! (`PUT /api/v1/tenants/{id}/configuration/{kind}/{name}`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use portal_domain::package::PackagePlan;
use portal_domain::{FieldError, FieldErrorCode, PackageChangeRefusal, PlanOp};
use portal_store::package::PackageChangeRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::requests::TemplateRef;
use crate::service::package::{self, ObjectError, PackageError, Target};
use crate::web::error::{ApiError, ErrorBody, FieldErrorBody};
use crate::web::extract::{ApiJson, Auth};
use crate::web::{AppState, Routes};
use portal_domain::submission::FieldProblem;

pub fn router() -> Routes {
    Routes::new()
        .route(
            "/api/v1/tenants/{id}/package-changes/preview",
            post(preview_package_change),
        )
        .route(
            "/api/v1/tenants/{id}/package-changes",
            get(list_package_changes).post(start_package_change),
        )
        .route(
            "/api/v1/tenants/{id}/package-changes/{change_id}",
            get(get_package_change),
        )
        .route(
            "/api/v1/tenants/{id}/configuration/{kind}/{name}",
            put(put_configuration_object),
        )
}

/// The template version a tenant's package changes to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageTarget {
    pub template_id: String,
    /// The template's current version when absent.
    pub version: Option<i64>,
}

/// One object of a plan.
#[derive(Serialize, ToSchema)]
pub struct PlannedObject {
    pub kind: String,
    pub name: String,
}

/// What a change of package does: objects to add, to update (properties the template changed
/// and the tenant did not), to remove (objects of the old template the tenant did not change),
/// and the objects the tenant changed, which it keeps as they are.
#[derive(Serialize, ToSchema)]
pub struct PackagePreview {
    pub template: TemplateRef,
    pub add: Vec<PlannedObject>,
    pub update: Vec<PlannedObject>,
    pub remove: Vec<PlannedObject>,
    pub kept: Vec<PlannedObject>,
}

/// One step of a change, with `pending`, `running`, `done` or `failed`.
#[derive(Serialize, ToSchema)]
pub struct ChangeStepView {
    pub name: String,
    pub status: String,
}

/// A change of package and where it stands.
#[derive(Serialize, ToSchema)]
pub struct PackageChangeView {
    pub id: String,
    pub tenant_id: String,
    /// `queued`, `running`, `completed` or `failed` (then everything it did was undone).
    pub status: String,
    pub steps: Vec<ChangeStepView>,
    pub from: TemplateRef,
    pub template: TemplateRef,
    pub add: Vec<PlannedObject>,
    pub update: Vec<PlannedObject>,
    pub remove: Vec<PlannedObject>,
    pub kept: Vec<PlannedObject>,
    /// Who asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PackageChangeList {
    pub items: Vec<PackageChangeView>,
}

fn objects(plan: &PackagePlan, op: PlanOp) -> Vec<PlannedObject> {
    plan.of(op)
        .map(|item| {
            let (kind, name) = item.kind_and_name();
            PlannedObject {
                kind: kind.to_owned(),
                name: name.to_owned(),
            }
        })
        .collect()
}

fn change_view(change: PackageChangeRow, plan: &PackagePlan) -> PackageChangeView {
    PackageChangeView {
        steps: change
            .steps()
            .into_iter()
            .map(|(step, status)| ChangeStepView {
                name: step.to_string(),
                status: status.to_string(),
            })
            .collect(),
        add: objects(plan, PlanOp::Add),
        update: objects(plan, PlanOp::Update),
        remove: objects(plan, PlanOp::Remove),
        kept: objects(plan, PlanOp::Keep),
        id: change.id,
        tenant_id: change.tenant_id,
        status: change.status.to_string(),
        from: TemplateRef {
            id: change.from_template_id,
            version: change.from_version,
        },
        template: TemplateRef {
            id: change.to_template_id,
            version: change.to_version,
        },
        requested_by: change.requested_by,
        created_at: super::rfc3339(change.created_at),
        finished_at: change.finished_at.map(super::rfc3339),
        error: change.error,
    }
}

/// A path id the portal could have made.
fn checked_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// The answer to a change of package the service refused.
pub fn package_error(e: PackageError) -> ApiError {
    let field = |field: &'static str, code, message: &str| {
        ApiError::Invalid(vec![FieldProblem {
            field,
            error: FieldError::new(code, message.to_owned()),
        }])
    };
    match e {
        PackageError::Refused(PackageChangeRefusal::TenantNotActive(status)) => {
            ApiError::Conflict {
                field: None,
                code: "tenant_not_active",
                message: format!(
                    "The tenant is {status}: only an active tenant's package can change."
                ),
            }
        }
        PackageError::Refused(PackageChangeRefusal::ChangeInProgress) => ApiError::Conflict {
            field: None,
            code: "package_change_in_progress",
            message: "Another change of this tenant's package is not finished yet.".into(),
        },
        PackageError::Refused(PackageChangeRefusal::TemplateRetired) => field(
            "template_id",
            FieldErrorCode::Invalid,
            "This template is retired: a tenant cannot change to it.",
        ),
        PackageError::Refused(PackageChangeRefusal::AlreadyOnVersion) => field(
            "version",
            FieldErrorCode::Invalid,
            "The tenant already has this template version.",
        ),
        PackageError::UnknownTemplate => field(
            "template_id",
            FieldErrorCode::Invalid,
            "No template has this id.",
        ),
        PackageError::UnknownVersion => field(
            "version",
            FieldErrorCode::Invalid,
            "The template has no such version.",
        ),
        PackageError::Service(e) => e.into(),
    }
}

/// What changing the tenant's package to a template version would do, changing nothing
/// (landlord administrators and operators). 409 when the tenant is not active or a change
/// is under way; 422 for an unknown or retired template, an unknown version, or the version
/// the tenant already has.
#[utoipa::path(
    post, path = "/api/v1/tenants/{id}/package-changes/preview", tag = "tenants",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body = PackageTarget,
    responses(
        (status = 200, body = PackagePreview),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn preview_package_change(
    State(state): State<AppState>,
    Auth(actor): Auth,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<PackageTarget>,
) -> Result<Json<PackagePreview>, ApiError> {
    checked_id(&id)?;
    let target = Target {
        template_id: &body.template_id,
        version: body.version,
    };
    let planned = package::preview(&state.services, &actor, &id, &target)
        .await
        .map_err(package_error)?;
    Ok(Json(PackagePreview {
        add: objects(&planned.plan, PlanOp::Add),
        update: objects(&planned.plan, PlanOp::Update),
        remove: objects(&planned.plan, PlanOp::Remove),
        kept: objects(&planned.plan, PlanOp::Keep),
        template: TemplateRef {
            id: planned.template_id,
            version: planned.version,
        },
    }))
}

/// Change the tenant's package to a template version (landlord administrators and
/// operators): planned now as the preview shows it, carried out by a job with steps; each
/// object changed once, a failure undone whole, the tenant's `template` the new one at the
/// end. Follow it at `GET …/package-changes/{change_id}`.
#[utoipa::path(
    post, path = "/api/v1/tenants/{id}/package-changes", tag = "tenants",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body = PackageTarget,
    responses(
        (status = 202, body = PackageChangeView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn start_package_change(
    State(state): State<AppState>,
    Auth(actor): Auth,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<PackageTarget>,
) -> Result<(StatusCode, Json<PackageChangeView>), ApiError> {
    checked_id(&id)?;
    let target = Target {
        template_id: &body.template_id,
        version: body.version,
    };
    let (change, plan) = package::start(&state.services, &actor, &id, &target)
        .await
        .map_err(package_error)?;
    Ok((StatusCode::ACCEPTED, Json(change_view(change, &plan))))
}

/// A change of the tenant's package and where it stands.
#[utoipa::path(
    get, path = "/api/v1/tenants/{id}/package-changes/{change_id}", tag = "tenants",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Tenant id"),
        ("change_id" = String, Path, description = "Change id"),
    ),
    responses((status = 200, body = PackageChangeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_package_change(
    State(state): State<AppState>,
    Auth(actor): Auth,
    axum::extract::Path((id, change_id)): axum::extract::Path<(String, String)>,
) -> Result<Json<PackageChangeView>, ApiError> {
    checked_id(&id)?;
    checked_id(&change_id)?;
    let (change, plan) = package::get(&state.services, &actor, &id, &change_id).await?;
    Ok(Json(change_view(change, &plan)))
}

/// The tenant's latest changes of package (at most 20), newest first.
#[utoipa::path(
    get, path = "/api/v1/tenants/{id}/package-changes", tag = "tenants",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses((status = 200, body = PackageChangeList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn list_package_changes(
    State(state): State<AppState>,
    Auth(actor): Auth,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<PackageChangeList>, ApiError> {
    checked_id(&id)?;
    let mut items = Vec::new();
    for change in package::list(&state.services, &actor, &id).await? {
        let plan = state.services.store.package_change_items(&change.id).await;
        let plan = plan.map_err(crate::service::ServiceError::from)?;
        items.push(change_view(change, &plan));
    }
    Ok(Json(PackageChangeList { items }))
}

/// New properties of one configuration object.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectProperties {
    /// Every property of the object's kind; those left out take their defaults.
    #[schema(value_type = Object)]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// Change the properties of one of the tenant's configuration objects (its administrators,
/// and landlord administrators acting in it). A change of package never overwrites an object
/// its tenant changed. 409 while the tenant is not active or its package is changing.
#[utoipa::path(
    put, path = "/api/v1/tenants/{id}/configuration/{kind}/{name}", tag = "tenants",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Tenant id"),
        ("kind" = String, Path, description = "The object's kind (queue, skill, …)"),
        ("name" = String, Path, description = "The object's name"),
    ),
    request_body = ObjectProperties,
    responses(
        (status = 200, body = super::templates::ObjectView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn put_configuration_object(
    State(state): State<AppState>,
    Auth(actor): Auth,
    axum::extract::Path((id, kind, name)): axum::extract::Path<(String, String, String)>,
    ApiJson(body): ApiJson<ObjectProperties>,
) -> Result<Json<super::templates::ObjectView>, ApiError> {
    checked_id(&id)?;
    if name.len() > 1000 || name.chars().any(char::is_control) {
        return Err(ApiError::NotFound);
    }
    let object = package::set_object(&state.services, &actor, &id, &kind, &name, body.properties)
        .await
        .map_err(|e| match e {
            ObjectError::Invalid(problems) => ApiError::InvalidPaths(
                problems
                    .into_iter()
                    .map(|p| FieldErrorBody {
                        field: p.path,
                        code: FieldErrorCode::Invalid.as_str().to_owned(),
                        message: p.message,
                        held_by: None,
                    })
                    .collect(),
            ),
            ObjectError::Refused(PackageChangeRefusal::TenantNotActive(status)) => {
                ApiError::Conflict {
                    field: None,
                    code: "tenant_not_active",
                    message: format!("The tenant is {status}: its configuration cannot change."),
                }
            }
            ObjectError::Refused(_) => ApiError::Conflict {
                field: None,
                code: "package_change_in_progress",
                message: "A change of the tenant's service package is under way: its objects \
                          cannot change until it is done."
                    .into(),
            },
            ObjectError::Service(e) => e.into(),
        })?;
    Ok(Json(super::templates::ObjectView {
        properties: serde_json::from_str(&object.properties)
            .map_err(|e| ApiError::Internal(e.into()))?,
        kind: object.kind,
        name: object.name,
    }))
}
