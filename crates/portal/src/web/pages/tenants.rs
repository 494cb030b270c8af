//! Tenants: the list (a tenant administrator sees only their own), one tenant with its
//! configuration by kind, and the staff's actions on it (suspend, resume, close, reopen),
//! each confirmed on a page of its own.

use crate::web::Routes;
use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use portal_domain::{Permission, TenantAction, TenantStatus};
use portal_store::tenant::TenantRow;
use serde::Deserialize;

use super::templates::{KindGroup, group_by_kind};
use super::{
    Landlord, Nav, PageUser, bad_form, failure, message, not_found, plausible_id, render, when,
};
use crate::service::Actor;
use crate::service::tenant::{self, TenantError};
use crate::web::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/tenants", get(list_tenants))
        .route("/tenants/{id}", get(show_tenant))
        .route(
            "/tenants/{id}/{action}",
            get(confirm_action).post(act_on_tenant),
        )
}

#[derive(Template)]
#[template(path = "pages/tenants.html")]
struct ListPage {
    nav: Nav,
    /// Each tenant with when it was made and its UPN suffix as people read it.
    tenants: Vec<(TenantRow, String, String)>,
}

async fn list_tenants(State(state): State<AppState>, PageUser(actor): PageUser) -> Response {
    match tenant::list_tenants(&state.services, &actor).await {
        Ok(rows) => render(
            StatusCode::OK,
            &ListPage {
                nav: Nav::for_actor(&actor, "/tenants"),
                tenants: rows
                    .into_iter()
                    .map(|t| {
                        let created = when(t.created_at);
                        let upn_suffix = super::domain_shown(&t.upn_suffix);
                        (t, created, upn_suffix)
                    })
                    .collect(),
            },
        ),
        Err(e) => failure(&e, Some(&actor)),
    }
}

#[derive(Template)]
#[template(path = "pages/tenant.html")]
struct ShowPage {
    nav: Nav,
    t: TenantRow,
    created: String,
    /// The UPN suffix and login ID as people read them.
    upn_suffix: String,
    login_id: String,
    groups: Vec<KindGroup>,
    count: usize,
    /// When a closed tenant's data is purged.
    purge_after: Option<String>,
    /// The actions the viewer may take from the tenant's status: (path, label).
    actions: Vec<(&'static str, &'static str)>,
    /// The action just done, said once.
    done: Option<&'static str>,
    /// Whether the viewer may change the tenant's package now.
    may_change_package: bool,
    /// Its latest changes of package: (id, status, "template version N", when asked).
    changes: Vec<(String, String, String, String)>,
}

/// What a tenant's page offers, in this order.
const OFFERED: [TenantAction; 4] = [
    TenantAction::Resume,
    TenantAction::Reopen,
    TenantAction::Suspend,
    TenantAction::Close,
];

fn label(action: TenantAction) -> &'static str {
    match action {
        TenantAction::Suspend => "Suspend",
        TenantAction::Resume => "Resume",
        TenantAction::Close => "Close",
        TenantAction::Reopen => "Reopen",
        TenantAction::Purge => "Purge",
    }
}

/// Whether `action` can be taken on `t` now: its status allows it, and a closed tenant's
/// retention is not over.
fn possible(t: &TenantRow, action: TenantAction) -> bool {
    let over = t.purge_after.is_some_and(|at| at <= portal_store::now_ms());
    t.status.act(action).is_ok() && !(action == TenantAction::Reopen && over)
}

/// The actions `actor` may take on `t` now.
fn actions_for(actor: &Actor, t: &TenantRow) -> Vec<(&'static str, &'static str)> {
    if !actor.may(Permission::ActOnTenants) {
        return Vec::new();
    }
    OFFERED
        .into_iter()
        .filter(|a| possible(t, *a))
        .map(|a| (a.as_str(), label(a)))
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DoneQuery {
    done: String,
}

async fn show_tenant(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path(id): Path<String>,
    query: Result<axum::extract::Query<DoneQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    let t = match tenant::get_tenant(&state.services, &actor, &id).await {
        Ok(t) => t,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let objects = match tenant::configuration(&state.services, &actor, &id).await {
        Ok(o) => o,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let changes = match crate::service::package::list(&state.services, &actor, &id).await {
        Ok(list) => list
            .into_iter()
            .map(|c| {
                let to = format!("{} version {}", c.to_template_id, c.to_version);
                (c.id, c.status.to_string(), to, when(c.created_at))
            })
            .collect(),
        Err(e) => return failure(&e, Some(&actor)),
    };
    render(
        StatusCode::OK,
        &ShowPage {
            nav: Nav::in_tenant(&actor, &t.name),
            created: when(t.created_at),
            upn_suffix: super::domain_shown(&t.upn_suffix),
            login_id: super::login_shown(&t.admin_personnel_id, &t.upn_suffix),
            count: objects.len(),
            groups: group_by_kind(objects),
            purge_after: t
                .purge_after
                .filter(|_| t.status == TenantStatus::Closed)
                .map(when),
            actions: actions_for(&actor, &t),
            may_change_package: actor.may(Permission::ActOnTenants) && t.status.is_open(),
            changes,
            done: query
                .ok()
                .and_then(|q| q.done.parse::<TenantAction>().ok())
                .map(TenantAction::participle),
            t,
        },
    )
}

#[derive(Template)]
#[template(path = "pages/confirm_tenant_action.html")]
struct ConfirmPage {
    nav: Nav,
    id: String,
    tenant_name: String,
    action: &'static str,
    label: &'static str,
    asks_reason: bool,
    danger: bool,
    question: String,
    reason: String,
    error: Option<String>,
}

fn question(action: TenantAction, t: &TenantRow) -> String {
    let name = &t.name;
    match action {
        TenantAction::Suspend => format!(
            "Suspend {name}? Its users are signed out at once and cannot sign in, and its parameters cannot change, until it is resumed. Nothing in it is lost."
        ),
        TenantAction::Resume => format!("Resume {name}? Its users can sign in again."),
        TenantAction::Close => format!(
            "Close {name}? Its users are signed out at once and cannot sign in; its data is kept for the retention period, then deleted for good. Until then it can be reopened."
        ),
        TenantAction::Reopen => {
            format!("Reopen {name}? Its users can sign in again, and nothing is deleted.")
        }
        TenantAction::Purge => format!("Purge {name}?"),
    }
}

/// The confirmation page of an action, with `reason` and `error` when it is shown again.
fn confirm_page(
    actor: &Actor,
    t: &TenantRow,
    action: TenantAction,
    reason: &str,
    error: Option<String>,
) -> Response {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        status,
        &ConfirmPage {
            nav: Nav::in_tenant(actor, &t.name),
            id: t.id.clone(),
            tenant_name: t.name.clone(),
            action: action.as_str(),
            label: label(action),
            asks_reason: action.needs_reason(),
            danger: action == TenantAction::Close,
            question: question(action, t),
            reason: reason.to_owned(),
            error,
        },
    )
}

/// The action a page may ask for (the purge is the retention's), and the tenant it is for.
async fn action_and_tenant(
    state: &AppState,
    actor: &Actor,
    id: &str,
    action: &str,
) -> Result<(TenantAction, TenantRow), Response> {
    if let Some(page) = super::refused(actor, Permission::ActOnTenants) {
        return Err(page);
    }
    let action = match action.parse::<TenantAction>() {
        Ok(TenantAction::Purge) | Err(_) => return Err(not_found(Some(actor))),
        Ok(action) => action,
    };
    if !plausible_id(id) {
        return Err(not_found(Some(actor)));
    }
    match tenant::get_tenant(&state.services, actor, id).await {
        Ok(t) => Ok((action, t)),
        Err(e) => Err(failure(&e, Some(actor))),
    }
}

async fn confirm_action(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    match action_and_tenant(&state, &actor, &id, &action).await {
        Ok((action, t)) if possible(&t, action) => confirm_page(&actor, &t, action, "", None),
        Ok((action, t)) => message(
            StatusCode::CONFLICT,
            Some(&actor),
            "Not possible",
            &format!(
                "{} is not possible: the tenant is {}{}.",
                label(action),
                t.status,
                if t.status == TenantStatus::Closed {
                    " and its retention is over"
                } else {
                    ""
                }
            ),
            Some((&format!("/tenants/{id}"), "Back to the tenant")),
        ),
        Err(page) => page,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ActionForm {
    reason: String,
}

async fn act_on_tenant(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path((id, action)): Path<(String, String)>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    let (action, t) = match action_and_tenant(&state, &actor, &id, &action).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Ok(Form(form)) = form else {
        return bad_form(Some(&actor));
    };
    let reason = action.needs_reason().then_some(form.reason.as_str());
    match tenant::act(&state.services, &actor, &id, action, reason).await {
        Ok(_) => Redirect::to(&format!("/tenants/{id}?done={action}")).into_response(),
        Err(TenantError::BadReason(text)) => {
            confirm_page(&actor, &t, action, &form.reason, Some(text))
        }
        Err(TenantError::Refused(refused)) => message(
            StatusCode::CONFLICT,
            Some(&actor),
            "Not done",
            &format!(
                "{} is not possible: the tenant is {} now.",
                label(action),
                refused.from
            ),
            Some((&format!("/tenants/{id}"), "Back to the tenant")),
        ),
        Err(TenantError::Moved(now)) => message(
            StatusCode::CONFLICT,
            Some(&actor),
            "Not done",
            &format!("Someone changed the tenant meanwhile: it is {now} now."),
            Some((&format!("/tenants/{id}"), "Back to the tenant")),
        ),
        Err(TenantError::RetentionOver) => message(
            StatusCode::CONFLICT,
            Some(&actor),
            "Not done",
            "Its retention is over: the tenant is being purged and cannot be reopened.",
            Some((&format!("/tenants/{id}"), "Back to the tenant")),
        ),
        Err(TenantError::Service(e)) => failure(&e, Some(&actor)),
    }
}
