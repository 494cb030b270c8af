//! A tenant's Smart Queues general parameters: the published version, the administrator's
//! draft (save, publish, discard), other administrators' drafts, and the history with each
//! version copyable into a draft.

use crate::web::Routes;
use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_domain::smart_queue::ParameterProblem;
use portal_store::parameters::DraftRow;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Nav, PageUser, bad_form, failure, not_found, plausible_id, render, when};
use crate::service::parameters::{self, ParametersError, ParametersState};
use crate::service::{Actor, ServiceError, tenant};
use crate::web::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/tenants/{id}/smart-queues", get(show_parameters))
        .route("/tenants/{id}/smart-queues/draft", post(save_draft))
        .route("/tenants/{id}/smart-queues/publish", post(publish))
        .route("/tenants/{id}/smart-queues/discard", post(discard))
        .route(
            "/tenants/{id}/smart-queues/versions/{version}/copy",
            post(copy_to_draft),
        )
}

/// (name, label, hint, input type)
const FIELDS: [(&str, &str, &str, &str); 7] = [
    (
        "callback_folder_email",
        "Callback Folder email address",
        "Where Smart Queue callbacks are filed, for example callbacks@kenton-electronics.com. Required while callback is enabled.",
        "email",
    ),
    (
        "default_priority",
        "Default priority",
        "Priority of new work, 0 (lowest) to 99.",
        "number",
    ),
    (
        "target_answer_seconds",
        "Target answer time (seconds)",
        "1 to 3600.",
        "number",
    ),
    (
        "max_wait_seconds",
        "Maximum wait (seconds)",
        "How long a caller waits before being offered a callback: 10 to 86400, at least the target answer time.",
        "number",
    ),
    (
        "callback_enabled",
        "Callback enabled",
        "Callers may ask to be called back instead of waiting.",
        "checkbox",
    ),
    (
        "callback_retry_limit",
        "Callback retry limit",
        "How many times a callback is tried, 0 to 10.",
        "number",
    ),
    (
        "business_hours_time_zone",
        "Business hours time zone",
        "An IANA time zone, for example Europe/London.",
        "text",
    ),
];

/// One input of the draft form.
pub struct Input {
    pub name: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub kind: &'static str,
    pub value: String,
    pub error: Option<String>,
}

struct Version {
    version: i64,
    at: String,
    by: String,
    values: Vec<(&'static str, String)>,
}

struct OtherDraft {
    author: String,
    at: String,
    base_version: i64,
    changes: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "pages/parameters.html")]
struct ParametersPage {
    nav: Nav,
    tenant_id: String,
    tenant_name: String,
    published: Version,
    has_draft: bool,
    /// The published version moved on since the draft was started.
    draft_behind: Option<i64>,
    inputs: Vec<Input>,
    /// The values the form starts from, sent back with it.
    started: String,
    errors: Vec<(String, String)>,
    problem: Option<String>,
    done: Option<&'static str>,
    /// What the caller's draft changes from the live version: label, live, draft.
    changes: Vec<(&'static str, String, String)>,
    others: Vec<OtherDraft>,
    history: Vec<Version>,
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(true)) => "yes".into(),
        Some(Value::Bool(false)) => "no".into(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn values_of(text: &str) -> Map<String, Value> {
    serde_json::from_str(text).unwrap_or_default()
}

fn readable(map: &Map<String, Value>) -> Vec<(&'static str, String)> {
    FIELDS
        .iter()
        .map(|(name, label, _, _)| {
            let v = text_of(map.get(*name));
            (*label, if v.is_empty() { "not set".into() } else { v })
        })
        .collect()
}

/// What the form posts: every value as text; an unticked box is absent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DraftForm {
    callback_folder_email: String,
    default_priority: String,
    target_answer_seconds: String,
    max_wait_seconds: String,
    callback_enabled: String,
    callback_retry_limit: String,
    business_hours_time_zone: String,
    /// The values the form was shown with (JSON), so that only what the person changed is
    /// saved: a value another administrator published meanwhile is not undone.
    started: String,
}

/// A value as text, to compare what was shown with what came back.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_owned(),
        other => other.to_string(),
    }
}

impl DraftForm {
    /// What the person changed from what the form showed (everything, without that record).
    fn edits(&self) -> Map<String, Value> {
        let started: Map<String, Value> = serde_json::from_str(&self.started).unwrap_or_default();
        self.values()
            .into_iter()
            .filter(|(k, v)| started.get(k).map(plain) != Some(plain(v)))
            .collect()
    }

    fn values(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: &str| {
            m.insert(k.to_owned(), Value::String(v.trim().to_owned()));
        };
        put("callback_folder_email", &self.callback_folder_email);
        put("default_priority", &self.default_priority);
        put("target_answer_seconds", &self.target_answer_seconds);
        put("max_wait_seconds", &self.max_wait_seconds);
        put("callback_retry_limit", &self.callback_retry_limit);
        put("business_hours_time_zone", &self.business_hours_time_zone);
        m.insert(
            "callback_enabled".into(),
            Value::Bool(self.callback_enabled == "on"),
        );
        m
    }
}

/// Values typed into the form, and what it had started from (when known).
type Typed = (Map<String, Value>, Option<String>);

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DoneQuery {
    done: String,
}

#[allow(clippy::too_many_arguments)]
/// The page for `state`; `typed` replaces the form's values (after a refused save), and
/// `problems` are placed at their fields.
fn page(
    actor: &Actor,
    tenant_id: &str,
    tenant_name: String,
    state: ParametersState,
    typed: Option<Typed>,
    problems: Vec<ParameterProblem>,
    problem: Option<String>,
    done: Option<&'static str>,
) -> ParametersPage {
    let published_values = values_of(&state.published.parameters);
    let (shown, started) = form_values(&state, &published_values, typed);
    let latest = state.published.version;
    ParametersPage {
        nav: Nav::in_tenant(actor, &tenant_name),
        tenant_id: tenant_id.to_owned(),
        tenant_name,
        draft_behind: state
            .draft
            .as_ref()
            .filter(|d| d.base_version != latest)
            .map(|d| d.base_version),
        has_draft: state.draft.is_some(),
        published: Version {
            version: latest,
            at: when(state.published.published_at),
            by: state
                .published
                .published_by_name
                .clone()
                .unwrap_or_else(|| "the portal, from the template".into()),
            values: readable(&published_values),
        },
        inputs: inputs(&shown, &problems),
        started,
        errors: error_summary(&problems),
        problem,
        done,
        changes: state
            .draft
            .as_ref()
            .map(|d| changes_from(&published_values, &values_of(&d.parameters)))
            .unwrap_or_default(),
        others: other_drafts(&state.other_drafts, &published_values),
        history: Vec::new(),
    }
}

/// The values the form shows and the record of what it started from: what was typed, after a
/// refused save; otherwise the caller's draft, or the published version when there is none.
fn form_values(
    state: &ParametersState,
    published_values: &Map<String, Value>,
    typed: Option<Typed>,
) -> (Map<String, Value>, String) {
    let saved = state
        .draft
        .as_ref()
        .map_or_else(|| published_values.clone(), |d| values_of(&d.parameters));
    match typed {
        Some((values, Some(started))) => (values, started),
        Some((values, None)) => (values, Value::Object(saved).to_string()),
        None => (saved.clone(), Value::Object(saved).to_string()),
    }
}

/// The form's inputs, holding `shown`, each with its field's problem beside it.
fn inputs(shown: &Map<String, Value>, problems: &[ParameterProblem]) -> Vec<Input> {
    let error_for = |name: &str| {
        problems
            .iter()
            .find(|p| p.field == format!("parameters.{name}"))
            .map(|p| p.error.message.clone())
    };
    FIELDS
        .iter()
        .map(|&(name, label, hint, kind)| Input {
            name,
            label,
            hint,
            kind,
            value: match shown.get(name) {
                Some(Value::Bool(b)) => if *b { "on" } else { "" }.to_owned(),
                other => text_of(other),
            },
            error: error_for(name),
        })
        .collect()
}

/// The error summary: each problem's message with the id of the input it links to (the first
/// input when the field has none of its own).
fn error_summary(problems: &[ParameterProblem]) -> Vec<(String, String)> {
    problems
        .iter()
        .map(|p| {
            let name = p.field.trim_start_matches("parameters.");
            let id = FIELDS
                .iter()
                .find(|f| f.0 == name)
                .map_or("callback_folder_email", |f| f.0);
            (id.to_owned(), p.error.message.clone())
        })
        .collect()
}

/// What a draft changes from the live version: each changed field's label, live value and
/// draft value.
fn changes_from(
    live: &Map<String, Value>,
    draft: &Map<String, Value>,
) -> Vec<(&'static str, String, String)> {
    FIELDS
        .iter()
        .filter(|(name, ..)| draft.get(*name) != live.get(*name))
        .map(|(name, label, ..)| (*label, text_of(live.get(*name)), text_of(draft.get(*name))))
        .collect()
}

/// Other administrators' drafts, each with only what it changes from the published version.
fn other_drafts(drafts: &[DraftRow], published_values: &Map<String, Value>) -> Vec<OtherDraft> {
    drafts
        .iter()
        .map(|d| {
            let values = values_of(&d.parameters);
            OtherDraft {
                author: d
                    .author_name
                    .clone()
                    .unwrap_or_else(|| "a removed user".into()),
                at: when(d.updated_at),
                base_version: d.base_version,
                changes: FIELDS
                    .iter()
                    .filter(|(name, ..)| values.get(*name) != published_values.get(*name))
                    .map(|(name, label, ..)| (*label, text_of(values.get(*name))))
                    .collect(),
            }
        })
        .collect()
}

/// Loads everything the page shows and renders it.
#[allow(clippy::too_many_arguments)]
async fn show(
    state: &AppState,
    actor: &Actor,
    id: &str,
    status: StatusCode,
    typed: Option<Typed>,
    problems: Vec<ParameterProblem>,
    problem: Option<String>,
    done: Option<&'static str>,
) -> Response {
    let load = async {
        let t = tenant::get_tenant(&state.services, actor, id).await?;
        let s = parameters::get(&state.services, actor, id).await?;
        let history = parameters::versions(&state.services, actor, id).await?;
        Ok::<_, ServiceError>((t, s, history))
    };
    let (t, s, history) = match load.await {
        Ok(found) => found,
        Err(e) => return failure(&e, Some(actor)),
    };
    let mut p = page(actor, id, t.name, s, typed, problems, problem, done);
    p.history = history
        .into_iter()
        .map(|v| Version {
            version: v.version,
            at: when(v.published_at),
            by: v
                .published_by_name
                .unwrap_or_else(|| "the portal, from the template".into()),
            values: readable(&values_of(&v.parameters)),
        })
        .collect();
    render(status, &p)
}

async fn show_parameters(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path(id): Path<String>,
    query: Result<Query<DoneQuery>, QueryRejection>,
) -> Response {
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    let done = query.ok().and_then(|Query(q)| match q.done.as_str() {
        "saved" => Some("Draft saved. Publish it to make it live."),
        "published" => Some("Published: the new version is live."),
        "discarded" => Some("Draft discarded."),
        "copied" => Some("The version was copied into your draft. Check it and publish it."),
        _ => None,
    });
    show(
        &state,
        &actor,
        &id,
        StatusCode::OK,
        None,
        Vec::new(),
        None,
        done,
    )
    .await
}

fn done(id: &str, what: &str) -> Response {
    Redirect::to(&format!("/tenants/{id}/smart-queues?done={what}")).into_response()
}

/// The page again after a refusal of `e`.
async fn refused(
    state: &AppState,
    actor: &Actor,
    id: &str,
    typed: Option<Typed>,
    e: ParametersError,
) -> Response {
    let (status, problems, problem) = match e {
        ParametersError::Invalid(list) => (StatusCode::UNPROCESSABLE_ENTITY, list, None),
        ParametersError::NoDraft => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Vec::new(),
            Some("There is nothing to publish: no value differs from the live version.".to_owned()),
        ),
        ParametersError::Stale(message) => (StatusCode::CONFLICT, Vec::new(), Some(message)),
        ParametersError::NotActive => (
            StatusCode::CONFLICT,
            Vec::new(),
            Some("The tenant is not active: its parameters change once it is.".to_owned()),
        ),
        ParametersError::Service(e) => return failure(&e, Some(actor)),
    };
    show(state, actor, id, status, typed, problems, problem, None).await
}

async fn save_draft(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path(id): Path<String>,
    form: Result<Form<DraftForm>, FormRejection>,
) -> Response {
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    let Ok(Form(form)) = form else {
        return bad_form(Some(&actor));
    };
    let edits = form.edits();
    match parameters::save_draft(&state.services, &actor, &id, &edits).await {
        Ok(_) => done(&id, "saved"),
        Err(e) => {
            let started = Some(form.started.clone()).filter(|s| !s.is_empty());
            refused(&state, &actor, &id, Some((form.values(), started)), e).await
        }
    }
}

/// Publishes what is on the screen: the form's fields, when they came along and differ from
/// what the form showed, are saved as the draft first (with the same checks), so a change not
/// yet saved is never dropped.
async fn publish(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path(id): Path<String>,
    form: Result<Form<DraftForm>, FormRejection>,
) -> Response {
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    if let Ok(Form(form)) = form
        && !form.started.is_empty()
    {
        let edits = form.edits();
        if !edits.is_empty()
            && let Err(e) = parameters::save_draft(&state.services, &actor, &id, &edits).await
        {
            let started = Some(form.started.clone());
            return refused(&state, &actor, &id, Some((form.values(), started)), e).await;
        }
    }
    match parameters::publish(&state.services, &actor, &id).await {
        Ok(_) => done(&id, "published"),
        Err(e) => refused(&state, &actor, &id, None, e).await,
    }
}

async fn discard(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path(id): Path<String>,
) -> Response {
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    match parameters::discard_draft(&state.services, &actor, &id).await {
        // Nothing to discard is as good as discarded, unless the tenant is not theirs.
        Ok(()) => done(&id, "discarded"),
        Err(ParametersError::Service(ServiceError::NotFound)) => {
            match tenant::get_tenant(&state.services, &actor, &id).await {
                Ok(_) => done(&id, "discarded"),
                Err(e) => failure(&e, Some(&actor)),
            }
        }
        Err(e) => refused(&state, &actor, &id, None, e).await,
    }
}

async fn copy_to_draft(
    State(state): State<AppState>,
    PageUser(actor): PageUser,
    Path((id, version)): Path<(String, String)>,
) -> Response {
    let Ok(version) = version.parse::<i64>() else {
        return not_found(Some(&actor));
    };
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    match parameters::copy_to_draft(&state.services, &actor, &id, version).await {
        Ok(_) => done(&id, "copied"),
        Err(e) => refused(&state, &actor, &id, None, e).await,
    }
}
