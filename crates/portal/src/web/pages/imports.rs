//! Bulk onboarding pages (landlord administrators and operators): upload a CSV file, see every
//! invalid row with its line, column and reason (and download them), upload a corrected file,
//! submit the valid rows, and follow their progress to the end; the results as a download.

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_domain::Permission;
use portal_domain::import::{ImportStatus, MAX_BYTES};
use portal_store::import::ImportRow;

use super::{Landlord, Nav, failure, not_found, plausible_id, render, when};
use crate::service::Actor;
use crate::service::import::{self, ImportDetail, ImportError, InvalidRow, Stages};
use crate::web::api::onboarding::csv_file;
use crate::web::{AppState, Routes};

/// The most invalid rows listed on the page; the download has every one.
const SHOWN_ROWS: usize = 500;

pub fn router() -> Routes {
    Routes::new()
        .route("/imports", get(list).post(upload))
        // The file and the form around it.
        .map(|r| r.layer(DefaultBodyLimit::max(MAX_BYTES + 64 * 1024)))
        .route("/imports/{id}", get(show))
        .route("/imports/{id}/submit", post(submit))
        .route("/imports/{id}/errors.csv", get(errors))
        .route("/imports/{id}/results.csv", get(results))
}

#[derive(Template)]
#[template(path = "pages/imports.html")]
struct ListPage {
    nav: Nav,
    imports: Vec<(ImportRow, String)>,
    error: Option<String>,
}

async fn list_page(
    state: &AppState,
    actor: &Actor,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let imports = match import::list(&state.services, actor).await {
        Ok(rows) => rows
            .into_iter()
            .map(|row| {
                let at = when(row.created_at);
                (row, at)
            })
            .collect(),
        Err(e) => return failure(&e, Some(actor)),
    };
    let page = ListPage {
        nav: Nav::for_actor(actor, "/requests"),
        imports,
        error,
    };
    render(status, &page)
}

async fn list(State(state): State<AppState>, Landlord(actor): Landlord) -> Response {
    if let Some(page) = super::refused(&actor, Permission::SubmitRequests) {
        return page;
    }
    list_page(&state, &actor, StatusCode::OK, None).await
}

/// The `file` part of the form: its name and bytes.
async fn file_of(mut form: Multipart) -> Result<Option<(String, Vec<u8>)>, String> {
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            portal_domain::import::FileProblem::TooLarge.to_string()
        } else {
            "The upload could not be read; choose the file and send it again.".to_owned()
        }
    };
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("").to_owned();
            let bytes = field.bytes().await.map_err(unreadable)?;
            return Ok(Some((name, bytes.to_vec())));
        }
    }
    Ok(None)
}

async fn upload(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::SubmitRequests) {
        return page;
    }
    let refused = |error: String| {
        list_page(
            &state,
            &actor,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(error),
        )
    };
    let Ok(form) = form else {
        return refused("Send the file from this page's form.".to_owned()).await;
    };
    let (name, bytes) = match file_of(form).await {
        Ok(Some((name, bytes))) if !(name.is_empty() && bytes.is_empty()) => (name, bytes),
        Ok(_) => return refused("Choose a CSV file to upload.".to_owned()).await,
        Err(error) => return refused(error).await,
    };
    match import::preview(&state.services, &actor, &name, bytes).await {
        Ok((detail, _)) => Redirect::to(&format!("/imports/{}", detail.import.id)).into_response(),
        Err(ImportError::File(problem)) => refused(problem.to_string()).await,
        Err(ImportError::Service(e)) => failure(&e, Some(&actor)),
    }
}

#[derive(Template)]
#[template(path = "pages/import.html")]
struct ImportPage {
    nav: Nav,
    import: ImportRow,
    ignored: String,
    created: String,
    invalid: Vec<InvalidRow>,
    invalid_total: usize,
    stages: Stages,
    submitted: i64,
    /// Rows done (completed or failed), for the progress bar.
    done: i64,
    previewed: bool,
    /// How fast the progress follows itself, while it moves.
    live: Option<&'static str>,
}

async fn show(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
) -> Response {
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    let detail: ImportDetail = match import::get(&state.services, &actor, &id).await {
        Ok(d) => d,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let invalid = match import::invalid_rows(&state.services, &actor, &id, SHOWN_ROWS).await {
        Ok(rows) => rows,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let invalid_total =
        usize::try_from(detail.import.rows_total - detail.import.rows_valid).unwrap_or_default();
    let stages = detail.stages();
    let previewed = detail.import.status == ImportStatus::Previewed;
    // Every second while rows are submitted or tenants made; every ten while requests wait
    // for their window or an approval.
    let live = if previewed {
        None
    } else if detail.import.status == ImportStatus::Submitting || stages.provisioning > 0 {
        Some("fast")
    } else if stages.waiting > 0 {
        Some("slow")
    } else {
        None
    };
    let page = ImportPage {
        nav: Nav::for_actor(&actor, "/requests"),
        ignored: detail.ignored_columns.join(", "),
        created: when(detail.import.created_at),
        invalid,
        invalid_total,
        stages,
        submitted: detail.submitted(),
        done: stages.completed + stages.failed,
        previewed,
        live,
        import: detail.import,
    };
    render(StatusCode::OK, &page)
}

async fn submit(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
) -> Response {
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    match import::submit(&state.services, &actor, &id).await {
        Ok(_) => Redirect::to(&format!("/imports/{id}")).into_response(),
        Err(e) => failure(&e, Some(&actor)),
    }
}

/// Which CSV of an import is asked for.
#[derive(Clone, Copy)]
enum Download {
    Errors,
    Results,
}

async fn errors(state: State<AppState>, actor: Landlord, id: Path<String>) -> Response {
    download(state, actor, id, Download::Errors).await
}

async fn results(state: State<AppState>, actor: Landlord, id: Path<String>) -> Response {
    download(state, actor, id, Download::Results).await
}

async fn download(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
    which: Download,
) -> Response {
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    let (made, name) = match which {
        Download::Errors => (
            import::errors_csv(&state.services, &actor, &id).await,
            "errors",
        ),
        Download::Results => (
            import::results_csv(&state.services, &actor, &id).await,
            "results",
        ),
    };
    match made {
        Ok(body) => csv_file(body, &format!("import-{id}-{name}")),
        Err(e) => failure(&e, Some(&actor)),
    }
}
