//! Tenants: the list (a tenant administrator sees only their own) and one tenant with its
//! configuration by kind.

use crate::web::Routes;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use portal_store::tenant::TenantRow;

use super::templates::{KindGroup, group_by_kind};
use super::{Nav, PageUser, failure, not_found, plausible_id, render, when};
use crate::service::tenant;
use crate::web::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/tenants", get(list_tenants))
        .route("/tenants/{id}", get(show_tenant))
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
}

async fn show_tenant(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path(id): Path<String>,
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
    render(
        StatusCode::OK,
        &ShowPage {
            nav: Nav::for_actor(&actor, "/tenants"),
            created: when(t.created_at),
            upn_suffix: super::domain_shown(&t.upn_suffix),
            login_id: super::login_shown(&t.admin_personnel_id, &t.upn_suffix),
            count: objects.len(),
            groups: group_by_kind(objects),
            t,
        },
    )
}
