//! Changing a tenant's service package: choose a template version, see the preview (what is
//! added, updated, removed, and kept because the tenant changed it), confirm, and follow the
//! change's steps live.

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_domain::package::PackagePlan;
use portal_domain::{PackageChangeRefusal, Permission, PlanOp};
use portal_store::package::PackageChangeRow;
use portal_store::template::TemplateRow;
use portal_store::tenant::TenantRow;
use serde::Deserialize;

use super::{Landlord, Nav, PageUser, bad_form, failure, not_found, plausible_id, render, when};
use crate::service::Actor;
use crate::service::package::{self, PackageError, Target};
use crate::web::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route("/tenants/{id}/package", get(choose))
        .route("/tenants/{id}/package-changes", post(start))
        .route(
            "/tenants/{id}/package-changes/{change_id}",
            get(show_change),
        )
}

/// One list of a plan as the page shows it: a heading, a sentence, and (kind, name) pairs.
struct PlanList {
    id: &'static str,
    title: &'static str,
    says: &'static str,
    objects: Vec<(String, String)>,
}

fn lists(plan: &PackagePlan) -> Vec<PlanList> {
    let of = |op| {
        plan.of(op)
            .map(|item| {
                let (kind, name) = item.kind_and_name();
                (kind.replace('_', " "), name.to_owned())
            })
            .collect()
    };
    vec![
        PlanList {
            id: "add",
            title: "Added",
            says: "In the new version, not in the tenant.",
            objects: of(PlanOp::Add),
        },
        PlanList {
            id: "update",
            title: "Updated",
            says: "Changed by the template, not by the tenant: they take the new version's properties.",
            objects: of(PlanOp::Update),
        },
        PlanList {
            id: "remove",
            title: "Removed",
            says: "No longer in the template, and not changed by the tenant.",
            objects: of(PlanOp::Remove),
        },
        PlanList {
            id: "kept",
            title: "Kept as the tenant made them",
            says: "Changed by the tenant since they were cloned: a change of package never overwrites them.",
            objects: of(PlanOp::Keep),
        },
    ]
}

#[derive(Template)]
#[template(path = "pages/package_change_form.html")]
struct ChoosePage {
    nav: Nav,
    t: TenantRow,
    templates: Vec<TemplateRow>,
    template_id: String,
    version: String,
    /// The preview of the version chosen, with the version it resolved to.
    preview: Option<(i64, Vec<PlanList>)>,
    /// Why there is no preview: the field at fault (`template_id` or `version`) and what to do.
    error: Option<(&'static str, String)>,
}

impl ChoosePage {
    /// Whether the error is about `field`.
    fn at_fault(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|(f, _)| *f == field)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TargetForm {
    template_id: String,
    version: String,
}

impl TargetForm {
    /// The version typed, if any; `Err` when it is not a whole number.
    fn version(&self) -> Result<Option<i64>, String> {
        let typed = self.version.trim();
        if typed.is_empty() {
            return Ok(None);
        }
        typed
            .parse::<i64>()
            .map(Some)
            .map_err(|_| "The version must be a whole number, or left empty for the newest.".into())
    }
}

/// The form field a refusal is about.
fn field_of(e: &PackageError) -> &'static str {
    match e {
        PackageError::UnknownVersion
        | PackageError::Refused(PackageChangeRefusal::AlreadyOnVersion) => "version",
        _ => "template_id",
    }
}

/// What a refused change says on the page, and its status.
fn refusal_text(e: &PackageError) -> Option<(StatusCode, String)> {
    let text = match e {
        PackageError::Refused(PackageChangeRefusal::TenantNotActive(status)) => {
            return Some((
                StatusCode::CONFLICT,
                format!("The tenant is {status}: only an active tenant's package can change."),
            ));
        }
        PackageError::Refused(PackageChangeRefusal::ChangeInProgress) => {
            return Some((
                StatusCode::CONFLICT,
                "Another change of this tenant's package is not finished yet.".into(),
            ));
        }
        PackageError::Refused(PackageChangeRefusal::TemplateRetired) => {
            "This template is retired: a tenant cannot change to it."
        }
        PackageError::Refused(PackageChangeRefusal::AlreadyOnVersion) => {
            "The tenant already has this template version: choose another."
        }
        PackageError::UnknownTemplate => "Choose a template from the list.",
        PackageError::UnknownVersion => "The template has no such version.",
        PackageError::Service(_) => return None,
    };
    Some((StatusCode::UNPROCESSABLE_ENTITY, text.to_owned()))
}

/// The tenant, when the actor may change its package.
async fn tenant_for(state: &AppState, actor: &Actor, id: &str) -> Result<TenantRow, Response> {
    if let Some(page) = super::refused(actor, Permission::ActOnTenants) {
        return Err(page);
    }
    if !plausible_id(id) {
        return Err(not_found(Some(actor)));
    }
    crate::service::tenant::get_tenant(&state.services, actor, id)
        .await
        .map_err(|e| failure(&e, Some(actor)))
}

async fn choose(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
    query: Result<Query<TargetForm>, QueryRejection>,
) -> Response {
    let t = match tenant_for(&state, &actor, &id).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let Ok(Query(form)) = query else {
        return bad_form(Some(&actor));
    };
    let templates = match crate::service::template::list_templates(&state.services, &actor).await {
        Ok(list) => list,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let mut page = ChoosePage {
        nav: Nav::in_tenant(&actor, &t.name),
        templates,
        template_id: form.template_id.clone(),
        version: form.version.trim().to_owned(),
        preview: None,
        error: None,
        t,
    };
    if form.template_id.is_empty() {
        return render(StatusCode::OK, &page);
    }
    let version = match form.version() {
        Ok(v) => v,
        Err(text) => {
            page.error = Some(("version", text));
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let target = Target {
        template_id: &form.template_id,
        version,
    };
    match package::preview(&state.services, &actor, &id, &target).await {
        Ok(planned) => {
            page.preview = Some((planned.version, lists(&planned.plan)));
            render(StatusCode::OK, &page)
        }
        Err(e) => match refusal_text(&e) {
            Some((status, text)) => {
                page.error = Some((field_of(&e), text));
                render(status, &page)
            }
            None => match e {
                PackageError::Service(e) => failure(&e, Some(&actor)),
                _ => not_found(Some(&actor)),
            },
        },
    }
}

async fn start(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
    form: Result<Form<TargetForm>, FormRejection>,
) -> Response {
    let t = match tenant_for(&state, &actor, &id).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let Ok(Form(form)) = form else {
        return bad_form(Some(&actor));
    };
    let version = match form.version() {
        Ok(version) => version,
        Err(text) => {
            return super::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&actor),
                "The package was not changed",
                &text,
                Some((&format!("/tenants/{}/package", t.id), "Choose again")),
            );
        }
    };
    let target = Target {
        template_id: &form.template_id,
        version,
    };
    match package::start(&state.services, &actor, &id, &target).await {
        Ok((change, _)) => {
            Redirect::to(&format!("/tenants/{id}/package-changes/{}", change.id)).into_response()
        }
        Err(PackageError::Service(e)) => failure(&e, Some(&actor)),
        Err(e) => {
            let (status, text) =
                refusal_text(&e).unwrap_or((StatusCode::UNPROCESSABLE_ENTITY, e.to_string()));
            super::message(
                status,
                Some(&actor),
                "The package was not changed",
                &text,
                Some((&format!("/tenants/{}/package", t.id), "Choose again")),
            )
        }
    }
}

#[derive(Template)]
#[template(path = "pages/package_change.html")]
struct ChangePage {
    nav: Nav,
    tenant_name: String,
    change: PackageChangeRow,
    /// (label, status) of each step.
    steps: Vec<(&'static str, String)>,
    lists: Vec<PlanList>,
    created: String,
    finished: Option<String>,
    live: bool,
}

async fn show_change(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path((id, change_id)): Path<(String, String)>,
) -> Response {
    if !plausible_id(&id) || !plausible_id(&change_id) {
        return not_found(Some(&actor));
    }
    let t = match crate::service::tenant::get_tenant(&state.services, &actor, &id).await {
        Ok(t) => t,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let (change, plan) = match package::get(&state.services, &actor, &id, &change_id).await {
        Ok(found) => found,
        Err(e) => return failure(&e, Some(&actor)),
    };
    render(
        StatusCode::OK,
        &ChangePage {
            nav: Nav::in_tenant(&actor, &t.name),
            tenant_name: t.name,
            steps: change
                .steps()
                .into_iter()
                .map(|(step, status)| (step.label(), status.to_string()))
                .collect(),
            lists: lists(&plan),
            created: when(change.created_at),
            finished: change.finished_at.map(when),
            live: change.status.is_open(),
            change,
        },
    )
}
