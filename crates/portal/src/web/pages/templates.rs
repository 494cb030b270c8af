//! Template service packages: the list, one template's contents by kind, creating one from
//! its JSON file, a new version, and retiring.

use crate::web::Routes;
use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use portal_domain::Permission;
use portal_store::template::{TemplateObjectRow, TemplateRow};
use serde::Deserialize;

use super::register::contents_by_kind;
use super::{Landlord, Nav, bad_form, failure, not_found, plausible_id, render};
use crate::service::template::{self, TemplateDoc, TemplateError};
use crate::service::{Actor, ServiceError};
use crate::web::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/templates", get(list_templates))
        .route(
            "/templates/new",
            get(new_form)
                .post(create_template)
                .layer(DefaultBodyLimit::max(FORM_LIMIT)),
        )
        .route("/templates/{id}", get(show_template))
        .route(
            "/templates/{id}/edit",
            get(edit_form)
                .post(new_version)
                .layer(DefaultBodyLimit::max(FORM_LIMIT)),
        )
        .route("/templates/{id}/retire", get(confirm_retire).post(retire))
        .route("/templates/{id}/public", axum::routing::post(set_public))
}

struct Listed {
    id: String,
    name: String,
    version: i64,
    services: String,
}

#[derive(Template)]
#[template(path = "pages/templates.html")]
struct ListPage {
    nav: Nav,
    templates: Vec<Listed>,
}

/// A template's services as people read them.
pub(super) fn services_of(t: &TemplateRow) -> String {
    serde_json::from_str::<Vec<String>>(&t.services)
        .unwrap_or_default()
        .iter()
        .map(|s| portal_domain::template::service_label(s))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn list_templates(State(state): State<AppState>, Landlord(actor): Landlord) -> Response {
    let rows = match template::list_templates(&state.services, &actor).await {
        Ok(rows) => rows,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let templates = rows
        .iter()
        .map(|t| Listed {
            id: t.id.clone(),
            name: t.name.clone(),
            version: t.version,
            services: services_of(t),
        })
        .collect();
    render(
        StatusCode::OK,
        &ListPage {
            nav: Nav::for_actor(&actor, "/templates"),
            templates,
        },
    )
}

/// The objects of one kind.
pub struct KindGroup {
    pub kind: String,
    pub objects: Vec<(String, String)>,
}

/// Objects grouped by kind, in the order kinds first appear; properties as compact JSON.
pub fn group_by_kind(objects: Vec<TemplateObjectRow>) -> Vec<KindGroup> {
    let mut groups: Vec<KindGroup> = Vec::new();
    for o in objects {
        let kind = o.kind.replace('_', " ");
        let entry = (o.name, o.properties);
        match groups.iter_mut().find(|g| g.kind == kind) {
            Some(g) => g.objects.push(entry),
            None => groups.push(KindGroup {
                kind,
                objects: vec![entry],
            }),
        }
    }
    groups
}

#[derive(Template)]
#[template(path = "pages/template.html")]
struct ShowPage {
    nav: Nav,
    t: TemplateRow,
    services: String,
    summary: String,
    groups: Vec<KindGroup>,
}

async fn show_template(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
) -> Response {
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    let (t, objects) = match template::get_template(&state.services, &actor, &id).await {
        Ok(found) => found,
        Err(e) => return failure(&e, Some(&actor)),
    };
    render(
        StatusCode::OK,
        &ShowPage {
            nav: Nav::for_actor(&actor, "/templates"),
            services: services_of(&t),
            summary: contents_by_kind(&objects).join(", "),
            groups: group_by_kind(objects),
            t,
        },
    )
}

#[derive(Template)]
#[template(path = "pages/template_form.html")]
struct FormPage {
    nav: Nav,
    /// The template being given a new version, or none for a new template.
    id: Option<String>,
    text: String,
    problems: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DocForm {
    document: String,
}

/// The largest template file the page takes (the API takes larger uploads).
const MAX_DOCUMENT: usize = 48 * 1024;

/// The largest form body: a document in form encoding may take three bytes for each of its own.
const FORM_LIMIT: usize = 3 * MAX_DOCUMENT + 4096;

fn too_large() -> Vec<String> {
    vec![format!(
        "The document is larger than {} KiB; import it with the API or the command line.",
        MAX_DOCUMENT / 1024
    )]
}

/// The form, or the page that says why it could not be read.
fn read_form(
    form: Result<Form<DocForm>, FormRejection>,
    actor: &Actor,
    id: Option<String>,
) -> Result<DocForm, Box<Response>> {
    match form {
        Ok(Form(form)) => Ok(form),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(Box::new(form_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                actor,
                id,
                String::new(),
                too_large(),
            )))
        }
        Err(_) => Err(Box::new(bad_form(Some(actor)))),
    }
}

const EXAMPLE: &str = r#"{
  "name": "Voice Starter",
  "description": "A voice queue and a Smart Queue.",
  "services": ["voice", "smart_queues"],
  "objects": [
    { "kind": "queue", "name": "Sales", "properties": { "priority": 49 } }
  ]
}"#;

fn form_page(
    status: StatusCode,
    actor: &Actor,
    id: Option<String>,
    text: String,
    problems: Vec<String>,
) -> Response {
    render(
        status,
        &FormPage {
            nav: Nav::for_actor(actor, "/templates"),
            id,
            text,
            problems,
        },
    )
}

/// The document of the form, or what is wrong with it (JSON errors with their line).
fn parse_document(text: &str) -> Result<TemplateDoc, Vec<String>> {
    if text.len() > MAX_DOCUMENT {
        return Err(too_large());
    }
    serde_json::from_str(text).map_err(|e| {
        vec![format!(
            "Line {}, column {}: this is not a template document ({}).",
            e.line(),
            e.column(),
            match e.classify() {
                serde_json::error::Category::Data =>
                    "a field is missing, unknown or of the wrong type",
                _ => "the JSON is malformed",
            }
        )]
    })
}

fn problems_of(e: TemplateError) -> Result<Vec<String>, ServiceError> {
    match e {
        TemplateError::Invalid(problems) => Ok(problems
            .into_iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect()),
        e @ (TemplateError::IdTaken(_) | TemplateError::Retired) => Ok(vec![e.to_string()]),
        TemplateError::Service(e) => Err(e),
    }
}

async fn new_form(Landlord(actor): Landlord) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeTemplates) {
        return page;
    }
    form_page(StatusCode::OK, &actor, None, EXAMPLE.to_owned(), Vec::new())
}

async fn create_template(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    form: Result<Form<DocForm>, FormRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeTemplates) {
        return page;
    }
    let form = match read_form(form, &actor, None) {
        Ok(form) => form,
        Err(page) => return *page,
    };
    let outcome: Result<(), Vec<String>> = match parse_document(&form.document) {
        Err(problems) => Err(problems),
        Ok(doc) => match template::create_template(&state.services, &actor, doc).await {
            Ok(id) => return Redirect::to(&format!("/templates/{id}")).into_response(),
            Err(e) => match problems_of(e) {
                Ok(problems) => Err(problems),
                Err(e) => return failure(&e, Some(&actor)),
            },
        },
    };
    let problems = outcome.err().unwrap_or_default();
    form_page(
        StatusCode::UNPROCESSABLE_ENTITY,
        &actor,
        None,
        form.document.chars().take(MAX_DOCUMENT).collect(),
        problems,
    )
}

async fn edit_form(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeTemplates) {
        return page;
    }
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    let (t, objects) = match template::get_template(&state.services, &actor, &id).await {
        Ok(found) => found,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let text = match TemplateDoc::from_stored(&t, objects) {
        Ok(mut doc) => {
            doc.id = None;
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        }
        Err(e) => return failure(&e, Some(&actor)),
    };
    form_page(StatusCode::OK, &actor, Some(t.id), text, Vec::new())
}

async fn new_version(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
    form: Result<Form<DocForm>, FormRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeTemplates) {
        return page;
    }
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    let form = match read_form(form, &actor, Some(id.clone())) {
        Ok(form) => form,
        Err(page) => return *page,
    };
    if let Err(e) = template::get_template(&state.services, &actor, &id).await {
        return failure(&e, Some(&actor));
    }
    let outcome: Result<(), Vec<String>> = match parse_document(&form.document) {
        Err(problems) => Err(problems),
        Ok(doc) => match template::new_version(&state.services, &actor, &id, doc).await {
            Ok(_) => return Redirect::to(&format!("/templates/{id}")).into_response(),
            Err(e) => match problems_of(e) {
                Ok(problems) => Err(problems),
                Err(e) => return failure(&e, Some(&actor)),
            },
        },
    };
    form_page(
        StatusCode::UNPROCESSABLE_ENTITY,
        &actor,
        Some(id),
        form.document.chars().take(MAX_DOCUMENT).collect(),
        outcome.err().unwrap_or_default(),
    )
}

#[derive(Template)]
#[template(path = "pages/confirm_retire.html")]
struct RetirePage {
    nav: Nav,
    t: TemplateRow,
}

async fn confirm_retire(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeTemplates) {
        return page;
    }
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    match template::get_template(&state.services, &actor, &id).await {
        Ok((t, _)) => render(
            StatusCode::OK,
            &RetirePage {
                nav: Nav::for_actor(&actor, "/templates"),
                t,
            },
        ),
        Err(e) => failure(&e, Some(&actor)),
    }
}

async fn retire(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeTemplates) {
        return page;
    }
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    match template::retire(&state.services, &actor, &id).await {
        Ok(()) => Redirect::to(&format!("/templates/{id}")).into_response(),
        Err(e) => failure(&e, Some(&actor)),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PublicForm {
    /// `true` or `false`.
    public: String,
}

async fn set_public(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
    form: Result<Form<PublicForm>, FormRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::ChangeTemplates) {
        return page;
    }
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    let public = match form {
        Ok(Form(f)) if f.public == "true" => true,
        Ok(Form(f)) if f.public == "false" => false,
        _ => return bad_form(Some(&actor)),
    };
    match crate::service::registration::set_template_public(&state.services, &actor, &id, public)
        .await
    {
        Ok(_) => Redirect::to(&format!("/templates/{id}")).into_response(),
        Err(e) => failure(&e, Some(&actor)),
    }
}
