//! The mail the portal sent, for landlord administrators: where the default install, with no
//! SMTP server, shows its mail.

use crate::web::Routes;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use portal_store::mail::MailRow;

use super::{Landlord, Nav, failure, not_found, plausible_id, render, when};
use crate::service::mail;
use crate::web::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/mail", get(list_mail))
        .route("/mail/{id}", get(show_mail))
}

struct Line {
    id: String,
    when: String,
    to: String,
    subject: String,
    status: String,
}

#[derive(Template)]
#[template(path = "pages/mail_list.html")]
struct ListPage {
    nav: Nav,
    rows: Vec<Line>,
}

async fn list_mail(State(state): State<AppState>, Landlord(actor): Landlord) -> Response {
    let rows = match mail::list(&state.services, &actor, 200).await {
        Ok(rows) => rows,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let rows = rows
        .into_iter()
        .map(|r| Line {
            when: when(r.created_at),
            id: r.id,
            to: r.recipient,
            subject: r.subject,
            status: r.status.to_string(),
        })
        .collect();
    render(
        StatusCode::OK,
        &ListPage {
            nav: Nav::for_actor(&actor, "/mail"),
            rows,
        },
    )
}

#[derive(Template)]
#[template(path = "pages/mail_show.html")]
struct ShowPage {
    nav: Nav,
    mail: MailRow,
}

async fn show_mail(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
) -> Response {
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    match mail::get(&state.services, &actor, &id).await {
        Ok(mail) => render(
            StatusCode::OK,
            &ShowPage {
                nav: Nav::for_actor(&actor, "/mail"),
                mail,
            },
        ),
        Err(e) => failure(&e, Some(&actor)),
    }
}
