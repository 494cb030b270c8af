//! Other people's accounts: the staff's Accounts page (everyone) and a tenant's People
//! section (its administrators and supervisors), with invitations, role changes, disabling
//! and enabling again. Each page offers only what the role may do.

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_domain::{AccountStatus, Permission, Role};
use portal_store::user::UserRow;
use serde::Deserialize;

use super::{
    Landlord, Nav, PageUser, bad_form, failure, message, plausible_id, refused, render, when,
};
use crate::service::account::{self, AccountConflict, AccountError, Invite};
use crate::service::{Actor, tenant};
use crate::web::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route("/accounts", get(staff_accounts))
        .route("/accounts/invite", post(invite_staff))
        .route("/accounts/{id}", post(change))
        .route("/accounts/{id}/invitation", post(invite_again))
        .route("/tenants/{id}/people", get(people))
        .route("/tenants/{id}/people/invite", post(invite_person))
}

/// An account as a row, with what the viewer may do to it.
struct Line {
    id: String,
    username: String,
    email: String,
    role: Role,
    status: AccountStatus,
    last_sign_in: String,
    /// The roles the viewer may switch it to (empty: none).
    roles: Vec<Role>,
    /// The viewer may disable or enable it.
    manage: bool,
}

fn lines(actor: &Actor, rows: Vec<UserRow>) -> Vec<Line> {
    let manages = actor.may(Permission::ManageAccounts);
    rows.into_iter()
        .map(|u| {
            let manage = manages && actor.role.may_grant(u.role);
            let roles = if manage {
                Role::ALL
                    .iter()
                    .copied()
                    .filter(|r| r.is_landlord() == u.role.is_landlord() && actor.role.may_grant(*r))
                    .collect()
            } else {
                Vec::new()
            };
            Line {
                last_sign_in: u.last_sign_in_at.map_or_else(|| "never".to_owned(), when),
                id: u.id,
                username: u.username,
                email: u.email.unwrap_or_default(),
                role: u.role,
                status: u.status,
                roles,
                manage,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "pages/accounts.html")]
struct AccountsPage {
    nav: Nav,
    title: String,
    /// Where forms post and come back to.
    back: String,
    invite_action: String,
    /// The roles the viewer may invite here (none: no invitation form).
    invite_roles: Vec<Role>,
    /// A tenant's people: the user name field is shown.
    tenant: bool,
    lines: Vec<Line>,
    notice: Option<&'static str>,
    errors: Vec<(&'static str, String)>,
    form: InviteForm,
    next: Option<String>,
}

impl AccountsPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.0 == field)
            .map(|e| e.1.as_str())
    }
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct InviteForm {
    email: String,
    role: String,
    user_name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    done: String,
    cursor: String,
}

fn notice_for(done: &str) -> Option<&'static str> {
    match done {
        "invited" => {
            Some("Invited: the invitation email is on its way. Its link works for 72 hours.")
        }
        "changed" => Some("The account is changed."),
        "disabled" => Some("The account is disabled: its sessions and tokens have ended."),
        "enabled" => Some("The account is enabled again."),
        "invited-again" => {
            Some("A new invitation is on its way; the earlier link no longer works.")
        }
        _ => None,
    }
}

/// Where the staff's page and a tenant's page differ.
struct Scope {
    title: String,
    back: String,
    invite_action: String,
    tenant_id: Option<String>,
    /// The tenant's name, for a tenant's people.
    tenant_name: Option<String>,
}

fn invite_roles(actor: &Actor, tenant: bool) -> Vec<Role> {
    if !actor.may(Permission::ManageAccounts) {
        return Vec::new();
    }
    Role::ALL
        .iter()
        .copied()
        .filter(|r| r.is_tenant() == tenant && actor.role.may_grant(*r))
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &AppState,
    actor: &Actor,
    scope: Scope,
    status: StatusCode,
    cursor: Option<&str>,
    notice: Option<&'static str>,
    errors: Vec<(&'static str, String)>,
    form: InviteForm,
) -> Response {
    let (rows, next) =
        match account::list_users(&state.services, actor, scope.tenant_id.clone(), cursor, 100)
            .await
        {
            Ok(found) => found,
            Err(e) => return failure(&e, Some(actor)),
        };
    let tenant = scope.tenant_id.is_some();
    let here = if tenant { "/tenants" } else { "/accounts" };
    render(
        status,
        &AccountsPage {
            nav: match &scope.tenant_name {
                Some(name) => Nav::in_tenant(actor, name),
                None => Nav::for_actor(actor, here),
            },
            title: scope.title,
            next: next.map(|n| format!("{}?cursor={n}", scope.back)),
            back: scope.back,
            invite_action: scope.invite_action,
            invite_roles: invite_roles(actor, tenant),
            tenant,
            lines: lines(actor, rows),
            notice,
            errors,
            form,
        },
    )
}

fn staff_scope() -> Scope {
    Scope {
        title: "Accounts".to_owned(),
        back: "/accounts".to_owned(),
        invite_action: "/accounts/invite".to_owned(),
        tenant_id: None,
        tenant_name: None,
    }
}

async fn staff_accounts(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    if let Some(page) = refused(&actor, Permission::ReadAccounts) {
        return page;
    }
    listing(&state, &actor, staff_scope(), query).await
}

/// A page of `scope`'s accounts from the address's cursor, with the notice of what was just
/// done.
async fn listing(
    state: &AppState,
    actor: &Actor,
    scope: Scope,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let cursor = Some(q.cursor.as_str()).filter(|c| !c.is_empty() && plausible_id(c));
    let notice = notice_for(&q.done);
    let form = InviteForm::default();
    page(
        state,
        actor,
        scope,
        StatusCode::OK,
        cursor,
        notice,
        Vec::new(),
        form,
    )
    .await
}

/// The tenant's People scope, once the tenant is known to be visible.
async fn tenant_scope(state: &AppState, actor: &Actor, id: &str) -> Result<Scope, Response> {
    if !plausible_id(id) {
        return Err(super::not_found(Some(actor)));
    }
    let t = tenant::get_tenant(&state.services, actor, id)
        .await
        .map_err(|e| failure(&e, Some(actor)))?;
    Ok(Scope {
        title: format!("People of {}", t.name),
        back: format!("/tenants/{id}/people"),
        invite_action: format!("/tenants/{id}/people/invite"),
        tenant_id: Some(t.id),
        tenant_name: Some(t.name),
    })
}

async fn people(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path(id): Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let scope = match tenant_scope(&state, &actor, &id).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    if let Some(page) = refused(&actor, Permission::ReadAccounts) {
        return page;
    }
    listing(&state, &actor, scope, query).await
}

/// A refused invitation that is not a field's problem.
enum InviteRefusal {
    TenantNotActive,
    Service(crate::service::ServiceError),
    Other,
}

/// The form's fields at fault in a refused invitation, by input id, or the refusal that is
/// not about a field.
fn invite_errors(e: AccountError) -> Result<Vec<(&'static str, String)>, InviteRefusal> {
    match e {
        AccountError::Invalid(problems) => Ok(problems
            .into_iter()
            .map(|p| (p.field, p.error.message))
            .collect()),
        AccountError::Conflict(AccountConflict::EmailTaken) => Ok(vec![(
            "email",
            "Another account has this email address.".to_owned(),
        )]),
        AccountError::Conflict(AccountConflict::UserNameTaken) => Ok(vec![(
            "user_name",
            "Another account has this user name: choose another.".to_owned(),
        )]),
        AccountError::Conflict(AccountConflict::TenantNotActive) => {
            Err(InviteRefusal::TenantNotActive)
        }
        AccountError::Service(e) => Err(InviteRefusal::Service(e)),
        _ => Err(InviteRefusal::Other),
    }
}

/// Invites from a page's form; its errors are shown on the page again.
async fn invite_from(state: &AppState, actor: &Actor, scope: Scope, form: InviteForm) -> Response {
    if let Some(page) = refused(actor, Permission::ManageAccounts) {
        return page;
    }
    let Ok(role) = form.role.parse::<Role>() else {
        let errors = vec![("role", "Choose a role.".to_owned())];
        return page(
            state,
            actor,
            scope,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            None,
            errors,
            form,
        )
        .await;
    };
    let invite = Invite {
        email: form.email.clone(),
        role,
        tenant_id: scope.tenant_id.clone(),
        user_name: Some(form.user_name.trim().to_owned()).filter(|n| !n.is_empty()),
    };
    let errors = match account::invite(&state.services, actor, invite).await {
        Ok(_) => return Redirect::to(&format!("{}?done=invited", scope.back)).into_response(),
        Err(e) => match invite_errors(e) {
            Ok(errors) => errors,
            Err(InviteRefusal::TenantNotActive) => {
                return message(
                    StatusCode::CONFLICT,
                    Some(actor),
                    "Not invited",
                    "The tenant is not active: nobody can be invited to it now.",
                    Some((scope.back.as_str(), "Back")),
                );
            }
            Err(InviteRefusal::Service(e)) => return failure(&e, Some(actor)),
            Err(InviteRefusal::Other) => return bad_form(Some(actor)),
        },
    };
    page(
        state,
        actor,
        scope,
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
        None,
        errors,
        form,
    )
    .await
}

async fn invite_staff(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    form: Result<Form<InviteForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return bad_form(Some(&actor));
    };
    invite_from(&state, &actor, staff_scope(), form).await
}

async fn invite_person(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path(id): Path<String>,
    form: Result<Form<InviteForm>, FormRejection>,
) -> Response {
    let scope = match tenant_scope(&state, &actor, &id).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let Ok(Form(form)) = form else {
        return bad_form(Some(&actor));
    };
    invite_from(&state, &actor, scope, form).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChangeForm {
    role: String,
    status: String,
    back: String,
}

async fn change(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path(id): Path<String>,
    form: Result<Form<ChangeForm>, FormRejection>,
) -> Response {
    if let Some(page) = refused(&actor, Permission::ManageAccounts) {
        return page;
    }
    if !plausible_id(&id) {
        return super::not_found(Some(&actor));
    }
    let Ok(Form(form)) = form else {
        return bad_form(Some(&actor));
    };
    let role = form.role.parse::<Role>().ok();
    let status = match form.status.as_str() {
        "active" => Some(AccountStatus::Active),
        "disabled" => Some(AccountStatus::Disabled),
        _ => None,
    };
    if role.is_none() && status.is_none() {
        return bad_form(Some(&actor));
    }
    let back = back_to(&form.back);
    match account::change_user(&state.services, &actor, &id, role, status).await {
        Ok(_) => {
            let done = match status {
                Some(AccountStatus::Disabled) => "disabled",
                Some(AccountStatus::Active) => "enabled",
                _ => "changed",
            };
            Redirect::to(&format!("{back}?done={done}")).into_response()
        }
        Err(AccountError::Conflict(c)) => {
            let text = match c {
                AccountConflict::LastLandlordAdmin => {
                    "This is the last active landlord administrator: make another one first."
                }
                AccountConflict::LastTenantAdmin => {
                    "This is the tenant's last active administrator: make another one first."
                }
                _ => {
                    "The account has not accepted its invitation yet; it becomes active when it does."
                }
            };
            message(
                StatusCode::CONFLICT,
                Some(&actor),
                "Not changed",
                text,
                Some((&back, "Back")),
            )
        }
        Err(AccountError::Service(e)) => failure(&e, Some(&actor)),
        Err(_) => bad_form(Some(&actor)),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BackForm {
    back: String,
}

/// Where a form on the Accounts page or a tenant's People page comes back to.
fn back_to(typed: &str) -> String {
    super::local_path(typed)
        .filter(|p| *p == "/accounts" || (p.starts_with("/tenants/") && p.ends_with("/people")))
        .unwrap_or("/accounts")
        .to_owned()
}

async fn invite_again(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path(id): Path<String>,
    form: Result<Form<BackForm>, FormRejection>,
) -> Response {
    if let Some(page) = refused(&actor, Permission::ManageAccounts) {
        return page;
    }
    if !plausible_id(&id) {
        return super::not_found(Some(&actor));
    }
    let back = back_to(&form.map(|Form(f)| f.back).unwrap_or_default());
    match account::invite_again(&state.services, &actor, &id).await {
        Ok(_) => Redirect::to(&format!("{back}?done=invited-again")).into_response(),
        Err(AccountError::Conflict(_)) => message(
            StatusCode::CONFLICT,
            Some(&actor),
            "Not sent",
            "This account has accepted its invitation already, or has no email address.",
            Some((&back, "Back")),
        ),
        Err(AccountError::Service(e)) => failure(&e, Some(&actor)),
        Err(_) => bad_form(Some(&actor)),
    }
}
