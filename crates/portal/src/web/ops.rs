//! Operations endpoints: liveness, readiness, metrics and the OpenAPI document.

use crate::web::Routes;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use utoipa::{Modify, OpenApi, ToSchema};

use super::AppState;
use super::api;
use super::error::ErrorBody;

/// The operations routes; `/metrics` among them unless it is served apart.
pub fn router(with_metrics: bool) -> Routes {
    let routes = Routes::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/openapi.json", get(openapi));
    if with_metrics {
        routes.route("/metrics", get(metrics))
    } else {
        routes
    }
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`; `unavailable` when the database cannot be reached; `migrations_behind` when its
    /// schema is older than this build's (run `portal migrate`).
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database is reachable and its schema is this build's.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health))
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let unready = |status| (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status }));
    match state.services.store.migrations_behind().await {
        Ok(false) => (StatusCode::OK, Json(Health { status: "ok" })),
        Ok(true) => {
            tracing::warn!(
                "not ready: the database's schema is older than this build; run `portal migrate`"
            );
            unready("migrations_behind")
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the database cannot be reached");
            unready("unavailable")
        }
    }
}

/// Prometheus text: HTTP requests, jobs by outcome and start lag (this process); the queue by
/// kind and status, the oldest due job's age, requests by status, mail and webhook deliveries
/// pending, workers alive (the database).
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let database = database_gauges(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.services.metrics.render(database.as_ref()),
    )
}

/// The database's gauges, or none (said in the log) when it cannot be read.
async fn database_gauges(state: &AppState) -> Option<crate::metrics::DatabaseGauges> {
    use crate::service::operations::WorkerState;
    let store = &state.services.store;
    let now = portal_store::now_ms();
    let read = async {
        let gauges = store.gauges(now).await?;
        // Workers seen in the last minute hold every running one.
        let workers = store.workers(now - 60_000).await?;
        Ok::<_, portal_store::StoreError>((gauges, workers))
    };
    match read.await {
        Ok((gauges, workers)) => Some(crate::metrics::DatabaseGauges {
            gauges,
            now,
            workers_alive: workers
                .iter()
                .filter(|w| WorkerState::of(w, now) == WorkerState::Running)
                .count(),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "metrics without the database's gauges");
            None
        }
    }
}

/// This document.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

/// The answers every operation of a kind may give, added where an operation does not list
/// them itself: 401 to a missing or expired token, 400/413/415 to a body that is not readable
/// JSON, too large or of another type, and 503 while the database is out of reach.
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let answer = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let mut common = vec![(
                    "503",
                    "The database is out of reach or the portal is busy; see Retry-After",
                )];
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    common.push(("401", "No token, or one that is unknown or expired"));
                    common.push((
                        "403",
                        "The role does not allow this, or the password must be changed first (password_change_required)",
                    ));
                }
                if operation.request_body.is_some() {
                    common.push(("400", "The body is not JSON of the expected shape"));
                    common.push(("413", "The body is larger than this operation takes"));
                    common.push(("415", "The body is not sent as application/json"));
                }
                for (status, description) in common {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| answer(description).into());
                }
            }
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Provisioning Portal", description = "Tenant subscription requests for multi-tenant cloud contact centers."),
    paths(
        api::auth::login,
        api::templates::list_templates,
        api::templates::get_template,
        api::templates::create_template,
        api::templates::new_template_version,
        api::templates::retire_template,
        api::templates::set_public,
        api::public::public_templates,
        api::public::register,
        api::requests::submit_request,
        api::requests::list_requests,
        api::requests::export_requests,
        api::stats::stats,
        api::requests::get_request,
        api::requests::act_on_request,
        api::requests::resend_email,
        api::requests::bulk_action,
        api::tenants::get_configuration,
        api::mail::list_mail,
        api::mail::get_mail,
        api::settings::get_provisioning_policy,
        api::settings::put_provisioning_policy,
        api::settings::get_self_service_policy,
        api::settings::put_self_service_policy,
        api::settings::get_security_policy,
        api::settings::put_security_policy,
        api::settings::get_retention_policy,
        api::settings::put_retention_policy,
        api::tenants::act_on_tenant,
        api::packages::preview_package_change,
        api::packages::start_package_change,
        api::packages::get_package_change,
        api::packages::list_package_changes,
        api::packages::put_configuration_object,
        api::webhooks::create_webhook,
        api::webhooks::list_webhooks,
        api::webhooks::get_webhook,
        api::webhooks::update_webhook,
        api::webhooks::delete_webhook,
        api::webhooks::rotate_secret,
        api::webhooks::list_deliveries,
        api::webhooks::get_delivery,
        api::webhooks::retry_delivery,
        api::webhooks::replay_deliveries,
        api::onboarding::create_import,
        api::onboarding::list_imports,
        api::onboarding::get_import,
        api::onboarding::submit_import,
        api::onboarding::import_errors,
        api::onboarding::import_results,
        api::onboarding::get_availability,
        api::tenants::list_tenants,
        api::tenants::get_tenant,
        api::parameters::get_parameters,
        api::parameters::save_draft,
        api::parameters::discard_draft,
        api::parameters::publish,
        api::parameters::list_versions,
        api::parameters::copy_to_draft,
        api::audit::list_audit,
        api::accounts::me,
        api::accounts::change_password,
        api::mfa::start_totp,
        api::mfa::confirm_totp,
        api::mfa::remove_totp,
        api::mfa::renew_recovery_codes,
        api::accounts::logout,
        api::accounts::list_sign_ins,
        api::accounts::end_sign_in,
        api::accounts::end_other_sign_ins,
        api::accounts::request_reset,
        api::accounts::confirm_reset,
        api::accounts::accept_invitation,
        api::accounts::list_users,
        api::accounts::invite_user,
        api::accounts::change_user,
        api::accounts::invite_again,
        api::accounts::list_tokens,
        api::accounts::create_token,
        api::accounts::revoke_token,
        healthz,
        readyz,
        metrics,
        openapi,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth, &CommonAnswers)
)]
pub struct ApiDoc;
