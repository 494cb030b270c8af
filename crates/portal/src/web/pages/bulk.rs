//! Bulk actions in Tenant Creation Management: the requests ticked on the list, or every failed
//! request matching the list's filter (at most 500), retried, cancelled or sent their outcome
//! email again; the answer lists what was done and what was refused, and why.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use portal_domain::RequestStatus;
use portal_store::request::RequestFilter;

use super::requests::ListQuery;
use super::{Landlord, Nav, bad_form, failure, message, render};
use crate::service::Actor;
use crate::service::bulk::{self, BulkAction, BulkError, MAX_IDS};
use crate::web::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new().route("/requests/bulk", post(act))
}

/// The form as sent: every field, `ids` repeated once per ticked request.
type Fields = Vec<(String, String)>;

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The list's filter as the form carried it.
fn filter_of(fields: &Fields) -> ListQuery {
    ListQuery {
        status: field(fields, "status").to_owned(),
        template: field(fields, "template").to_owned(),
        from: field(fields, "from").to_owned(),
        to: field(fields, "to").to_owned(),
        q: field(fields, "q").to_owned(),
        cursor: String::new(),
    }
}

/// What a refusal's code means, for people.
fn reason(code: &str) -> &'static str {
    match code {
        "not_found" => "not found",
        "status" => "its status does not allow it (someone may have acted on it already)",
        "taken" => "one of its names is now another's",
        _ => "the database could not be reached: try it again",
    }
}

#[derive(Template)]
#[template(path = "pages/bulk_result.html")]
struct ResultPage {
    nav: Nav,
    action: &'static str,
    /// (id, tenant name or id) of the requests done.
    done: Vec<(String, String)>,
    /// (id, tenant name or id, reason) of those refused.
    refused: Vec<(String, String, &'static str)>,
    back: String,
}

fn back_to(fields: &Fields) -> String {
    let query = filter_of(fields).encoded(None);
    if query.is_empty() {
        "/requests".to_owned()
    } else {
        format!("/requests?{query}")
    }
}

/// The ids the action is for: the ticked ones, or the failed ones matching the filter.
async fn chosen(state: &AppState, actor: &Actor, fields: &Fields) -> Result<Vec<String>, Response> {
    if field(fields, "scope") != "all_failed" {
        return Ok(fields
            .iter()
            .filter(|(k, _)| k == "ids")
            .map(|(_, v)| v.clone())
            .collect());
    }
    let filter = match filter_of(fields).filter() {
        Ok(filter) => filter,
        Err(problem) => return Err(refusal(actor, fields, &problem)),
    };
    let filter = RequestFilter {
        status: Some(RequestStatus::Failed),
        before_id: None,
        limit: i64::try_from(MAX_IDS).unwrap_or(500),
        ..filter
    };
    match crate::service::request::list_requests(&state.services, actor, filter).await {
        Ok((rows, _)) => Ok(rows.into_iter().map(|r| r.id).collect()),
        Err(e) => Err(failure(&e, Some(actor))),
    }
}

fn refusal(actor: &Actor, fields: &Fields, text: &str) -> Response {
    message(
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(actor),
        "Nothing was done",
        text,
        Some((&back_to(fields), "Back to the list")),
    )
}

/// The request's tenant name, or its id when it is not found.
async fn tenant_name(state: &AppState, id: &str) -> String {
    state
        .services
        .store
        .get_request(id)
        .await
        .map_or_else(|_| id.to_owned(), |r| r.tenant_name)
}

/// The requests done and refused, each with its tenant's name (and the refusal's reason).
async fn named(
    state: &AppState,
    result: bulk::BulkResult,
) -> (Vec<(String, String)>, Vec<(String, String, &'static str)>) {
    let mut done = Vec::new();
    for id in result.done {
        let name = tenant_name(state, &id).await;
        done.push((id, name));
    }
    let mut refused = Vec::new();
    for r in result.refused {
        let name = tenant_name(state, &r.id).await;
        refused.push((r.id, name, reason(r.code)));
    }
    (done, refused)
}

async fn act(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    form: Result<Form<Fields>, FormRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, portal_domain::Permission::ActOnRequests) {
        return page;
    }
    let Ok(Form(fields)) = form else {
        return bad_form(Some(&actor));
    };
    let Ok(action) = field(&fields, "action").parse::<BulkAction>() else {
        return refusal(
            &actor,
            &fields,
            "Choose retry, cancel or send the outcome email again.",
        );
    };
    let ids = match chosen(&state, &actor, &fields).await {
        Ok(ids) => ids,
        Err(page) => return page,
    };
    if ids.is_empty() {
        return refusal(
            &actor,
            &fields,
            "No request was chosen: tick at least one, or choose all failed ones.",
        );
    }
    let result = match bulk::act(&state.services, &actor, action, &ids).await {
        Ok(result) => result,
        Err(BulkError::BadIds) => {
            return refusal(
                &actor,
                &fields,
                &format!(
                    "Choose at most {MAX_IDS} requests at once, from the list as the portal shows it."
                ),
            );
        }
        Err(BulkError::Service(e)) => return failure(&e, Some(&actor)),
    };
    let (done, refused) = named(&state, result).await;
    render(
        StatusCode::OK,
        &ResultPage {
            nav: Nav::for_actor(&actor, "/requests"),
            action: match action {
                BulkAction::Retry => "Retry",
                BulkAction::Cancel => "Cancel",
                BulkAction::Resend => "Send the outcome email again",
            },
            done,
            refused,
            back: back_to(&fields),
        },
    )
}
