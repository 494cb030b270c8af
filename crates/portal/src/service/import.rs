//! Bulk onboarding: a CSV file of tenant subscription requests is checked row by row and kept
//! (the preview; nothing is submitted), then, when asked, each valid row becomes a request
//! whose administrator is invited to choose a password. A job submits the rows in batches,
//! each batch one transaction that also marks its rows, so a second submit, a double click
//! or a crash half-way makes no request twice.

use std::collections::HashMap;

use portal_domain::import::{self, FileProblem, ImportFile, ImportRow as FileRow, ImportStatus};
use portal_domain::submission::{FieldProblem, Submission};
use portal_domain::{AuditAction, FieldError, NameKind, Permission};
use portal_store::import::{ImportRow, LineRow, NewImport, Progress, ResultRow, RowSubmission};
use portal_store::names::NameHold;
use portal_store::template::TemplateRow;
use portal_store::{Conflict, StoreError};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::{Actor, ServiceError, Services};

/// Rows submitted per transaction.
const BATCH: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file as a whole was refused; nothing was kept.
    #[error("{0}")]
    File(FileProblem),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        Self::Service(e.into())
    }
}

/// A problem of a row as it is kept and shown: the column, a code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowProblem {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl From<&FieldProblem> for RowProblem {
    fn from(p: &FieldProblem) -> Self {
        Self {
            field: p.field.to_owned(),
            code: p.error.code.as_str().to_owned(),
            message: p.error.message.clone(),
        }
    }
}

/// An invalid row: its line in the file and its problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRow {
    pub line: i64,
    pub problems: Vec<RowProblem>,
}

/// An import as its pages and the API show it.
#[derive(Debug, Clone)]
pub struct ImportDetail {
    pub import: ImportRow,
    pub ignored_columns: Vec<String>,
    pub progress: Progress,
}

impl ImportDetail {
    /// Requests made so far.
    pub fn submitted(&self) -> i64 {
        self.progress.by_status.iter().map(|(_, n)| n).sum()
    }

    /// The requests counted by where they are: submitted and waiting, provisioning,
    /// completed, failed (or ended without a tenant).
    pub fn stages(&self) -> Stages {
        let mut stages = Stages::default();
        for (status, n) in &self.progress.by_status {
            match status.as_str() {
                "provisioning" => stages.provisioning += n,
                "completed" => stages.completed += n,
                "failed" | "cancelled" | "rejected" => stages.failed += n,
                _ => stages.waiting += n,
            }
        }
        stages.failed += self.progress.refused;
        stages
    }
}

/// How far an import's requests are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stages {
    pub waiting: i64,
    pub provisioning: i64,
    pub completed: i64,
    pub failed: i64,
}

/// Checks a file and keeps it with every row's problems: the form's rules, names repeated in
/// the file, names already taken, templates unknown or retired. Nothing is submitted.
#[tracing::instrument(skip_all, fields(import.id))]
pub async fn preview(
    services: &Services,
    actor: &Actor,
    file_name: &str,
    bytes: Vec<u8>,
) -> Result<(ImportDetail, Vec<InvalidRow>), ImportError> {
    actor.require(Permission::SubmitRequests)?;
    let (file, mut problems) = tokio::task::spawn_blocking(move || check_file(&bytes))
        .await
        .map_err(|e| ServiceError::Internal(e.into()))?
        .map_err(ImportError::File)?;
    check_templates(services, &file.rows, &mut problems).await?;
    check_taken(services, &file.rows, &mut problems).await?;
    let id = portal_store::new_id();
    tracing::Span::current().record("import.id", id.as_str());
    let (stored, invalid) = kept_rows(&file, problems)?;
    let file_name = tidy_file_name(file_name);
    let ignored = serde_json::to_string(&file.ignored_columns)
        .map_err(|e| ServiceError::Internal(e.into()))?;
    let audit = super::audit::entry(
        Some(actor),
        AuditAction::ImportPreviewed,
        None,
        Some(&id),
        Some(format!(
            "{file_name}: {} rows, {} invalid",
            stored.len(),
            invalid.len()
        )),
    );
    let new = NewImport {
        id: &id,
        file_name: &file_name,
        ignored_columns: &ignored,
        created_by: &actor.id,
    };
    services.store.create_import(&new, &stored, &audit).await?;
    info!(
        rows = stored.len(),
        invalid = invalid.len(),
        "import previewed"
    );
    Ok((get(services, actor, &id).await?, invalid))
}

/// Each row as it is kept (line, cells as JSON, problems as JSON), and the invalid ones.
type KeptRows = (Vec<(i64, String, Option<String>)>, Vec<InvalidRow>);

fn kept_rows(
    file: &ImportFile,
    problems: Vec<Vec<FieldProblem>>,
) -> Result<KeptRows, ServiceError> {
    let json = |e: serde_json::Error| ServiceError::Internal(e.into());
    let mut stored = Vec::with_capacity(file.rows.len());
    let mut invalid = Vec::new();
    for (row, found) in file.rows.iter().zip(problems) {
        let line = i64::try_from(row.line).unwrap_or(i64::MAX);
        let cells: serde_json::Map<String, serde_json::Value> = row
            .cells
            .iter()
            .map(|(h, v)| ((*h).to_owned(), serde_json::Value::String(v.clone())))
            .collect();
        let cells = serde_json::to_string(&cells).map_err(json)?;
        let kept = if found.is_empty() {
            None
        } else {
            let kept: Vec<RowProblem> = found.iter().map(RowProblem::from).collect();
            let text = serde_json::to_string(&kept).map_err(json)?;
            invalid.push(InvalidRow {
                line,
                problems: kept,
            });
            Some(text)
        };
        stored.push((line, cells, kept));
    }
    Ok((stored, invalid))
}

/// A file name fit to show: its last part, printable, at most 120 characters.
fn tidy_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let tidy: String = last.chars().filter(|c| !c.is_control()).take(120).collect();
    if tidy.trim().is_empty() {
        "upload.csv".to_owned()
    } else {
        tidy
    }
}

/// The file read and each row's own problems, with those of names repeated in the file.
fn check_file(bytes: &[u8]) -> Result<(ImportFile, Vec<Vec<FieldProblem>>), FileProblem> {
    let file = import::read(bytes)?;
    let mut problems: Vec<Vec<FieldProblem>> = file.rows.iter().map(FileRow::problems).collect();
    for (index, problem) in import::repeated_names(&file.rows) {
        problems[index].push(problem);
    }
    Ok((file, problems))
}

/// A problem at the template's column for each row whose template is unknown or retired.
async fn check_templates(
    services: &Services,
    rows: &[FileRow],
    problems: &mut [Vec<FieldProblem>],
) -> Result<(), ImportError> {
    let mut known: HashMap<String, Option<FieldError>> = HashMap::new();
    for (row, found) in rows.iter().zip(problems.iter_mut()) {
        let id = row.cell("template_id").trim();
        if id.is_empty() || found.iter().any(|p| p.field == "template_id") {
            continue;
        }
        if !known.contains_key(id) {
            let verdict = super::request::offered_template(services, id).await?.err();
            known.insert(id.to_owned(), verdict);
        }
        if let Some(Some(error)) = known.get(id) {
            found.push(FieldProblem {
                field: "template_id",
                error: error.clone(),
            });
        }
    }
    Ok(())
}

/// A problem at each name already held by a tenant or an open request.
async fn check_taken(
    services: &Services,
    rows: &[FileRow],
    problems: &mut [Vec<FieldProblem>],
) -> Result<(), ImportError> {
    let keys: Vec<Vec<(NameKind, String)>> = rows.iter().map(FileRow::name_keys).collect();
    let now = portal_store::now_ms();
    for kind in NameKind::ALL {
        let asked: Vec<String> = keys
            .iter()
            .flatten()
            .filter(|(k, _)| k == kind)
            .map(|(_, key)| key.clone())
            .collect();
        let held = services.store.names_held(*kind, &asked, now).await?;
        if held.is_empty() {
            continue;
        }
        for (row_keys, found) in keys.iter().zip(problems.iter_mut()) {
            if row_keys
                .iter()
                .any(|(k, key)| k == kind && held.contains(key))
            {
                found.push(import::taken(*kind));
            }
        }
    }
    Ok(())
}

/// An import with its progress, for staff who may submit requests.
pub async fn get(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<ImportDetail, ServiceError> {
    actor.require(Permission::SubmitRequests)?;
    let import = services.store.get_import(id).await?;
    let progress = services.store.import_progress(id).await?;
    Ok(ImportDetail {
        ignored_columns: serde_json::from_str(&import.ignored_columns).unwrap_or_default(),
        import,
        progress,
    })
}

/// The latest imports, newest first.
pub async fn list(services: &Services, actor: &Actor) -> Result<Vec<ImportRow>, ServiceError> {
    actor.require(Permission::SubmitRequests)?;
    Ok(services.store.list_imports(50).await?)
}

/// The ids of the requests an import made, in the order of its rows.
pub async fn request_ids(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<Vec<String>, ServiceError> {
    actor.require(Permission::SubmitRequests)?;
    Ok(services.store.import_request_ids(id).await?)
}

/// The first `limit` invalid rows of an import, in order.
pub async fn invalid_rows(
    services: &Services,
    actor: &Actor,
    id: &str,
    limit: usize,
) -> Result<Vec<InvalidRow>, ServiceError> {
    get(services, actor, id).await?;
    let mut rows = Vec::new();
    let mut after = 0;
    while rows.len() < limit {
        let page_size = i64::try_from((limit - rows.len()).min(2_000)).unwrap_or(2_000);
        let page = services
            .store
            .import_lines(id, true, after, page_size)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.line;
        for LineRow { line, problems, .. } in page {
            let problems = problems
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or_default();
            rows.push(InvalidRow { line, problems });
        }
    }
    Ok(rows)
}

/// The invalid rows as a CSV: line, column, code, message; formula-safe.
pub async fn errors_csv(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<String, ServiceError> {
    let rows = invalid_rows(services, actor, id, usize::MAX).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    write_record(&mut out, &["row", "column", "code", "message"])?;
    for row in rows {
        for p in row.problems {
            write_record(
                &mut out,
                &[&row.line.to_string(), &p.field, &p.code, &p.message],
            )?;
        }
    }
    finish(out)
}

/// The results as a CSV: row, request id, status, login ID; formula-safe.
pub async fn results_csv(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<String, ServiceError> {
    get(services, actor, id).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    write_record(&mut out, &["row", "request_id", "status", "login_id"])?;
    let mut after = 0;
    loop {
        let page = services.store.import_results(id, after, 2_000).await?;
        let Some(last) = page.last() else { break };
        after = last.line;
        for row in page {
            let (status, login) = result_of(&row);
            write_record(
                &mut out,
                &[
                    &row.line.to_string(),
                    row.request_id.as_deref().unwrap_or(""),
                    &status,
                    &login,
                ],
            )?;
        }
    }
    finish(out)
}

/// A row's status in the results (its request's, or why it has none) and its login ID.
fn result_of(row: &ResultRow) -> (String, String) {
    match (&row.status, &row.admin_personnel_id, &row.upn_suffix) {
        (Some(status), Some(personnel), Some(suffix)) => {
            (status.clone(), format!("{personnel}@{suffix}"))
        }
        _ if row.problems.is_some() => ("invalid".to_owned(), String::new()),
        _ if row.refusal.is_some() => ("refused".to_owned(), String::new()),
        _ => ("not submitted".to_owned(), String::new()),
    }
}

/// Writes one row, each cell made safe for a spreadsheet.
pub(super) fn write_record(
    out: &mut csv::Writer<Vec<u8>>,
    cells: &[&str],
) -> Result<(), ServiceError> {
    out.write_record(cells.iter().map(|c| import::safe_cell(c)))
        .map_err(|e| ServiceError::Internal(e.into()))
}

fn finish(out: csv::Writer<Vec<u8>>) -> Result<String, ServiceError> {
    let bytes = out
        .into_inner()
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
    String::from_utf8(bytes).map_err(|e| ServiceError::Internal(e.into()))
}

/// Starts submitting an import's valid rows. Submitting again, while or after it runs, does
/// nothing more.
#[tracing::instrument(skip_all, fields(import.id = %id))]
pub async fn submit(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<ImportDetail, ServiceError> {
    let detail = get(services, actor, id).await?;
    if detail.import.status != ImportStatus::Previewed {
        return Ok(detail);
    }
    let job = crate::jobs::new_job(
        &crate::jobs::SubmitImport {
            import_id: id.to_owned(),
            actor_id: actor.id.clone(),
            actor_name: actor.username.clone(),
        },
        portal_store::now_ms(),
        20,
    )?;
    let audit = super::audit::entry(
        Some(actor),
        AuditAction::ImportSubmitted,
        None,
        Some(id),
        Some(format!(
            "{}: {} valid rows",
            detail.import.file_name, detail.import.rows_valid
        )),
    );
    if services
        .store
        .start_import(id, &actor.id, &job, &audit)
        .await?
    {
        services.jobs_ready.notify_one();
        info!("import submitted");
    }
    get(services, actor, id).await
}

/// Who submitted an import, as its job carries it.
#[derive(Debug, Clone)]
pub struct Submitter {
    pub id: String,
    pub name: String,
}

/// The job: submits the import's rows not yet submitted, a batch per transaction, then
/// marks it submitted. Run again after a crash, it goes on from the first row left.
pub async fn submit_rows(
    services: &Services,
    import_id: &str,
    submitter: &Submitter,
) -> Result<(), ServiceError> {
    let mut templates: HashMap<String, Option<TemplateRow>> = HashMap::new();
    loop {
        let rows = services.store.rows_to_submit(import_id, BATCH).await?;
        if rows.is_empty() {
            break;
        }
        let mut batch = Vec::with_capacity(rows.len());
        for row in rows {
            match row_request(services, &mut templates, &row, submitter).await? {
                Ok(submission) => batch.push(submission),
                Err(reason) => {
                    services
                        .store
                        .refuse_import_row(import_id, row.line, &reason)
                        .await?;
                }
            }
        }
        store_batch(services, import_id, batch).await?;
        services.jobs_ready.notify_one();
    }
    if services.store.finish_import(import_id).await? {
        info!(import.id = %import_id, "import's rows all submitted");
    }
    Ok(())
}

/// Stores a batch in one transaction, placed as one; when the policy caps its windows, or any
/// row is refused, row by row instead.
async fn store_batch(
    services: &Services,
    import_id: &str,
    mut batch: Vec<RowSubmission>,
) -> Result<(), ServiceError> {
    let now = portal_store::now_ms();
    let placement = super::policy::place(services, now).await?;
    if placement.window_cap.is_none() {
        for row in &mut batch {
            place(services, row, placement, now)?;
        }
        match services.store.submit_import_rows(import_id, &batch).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for row in batch {
        store_one(services, import_id, row).await?;
    }
    Ok(())
}

/// Sets a row's request's place by the policy, and its job's time.
fn place(
    services: &Services,
    row: &mut RowSubmission,
    placement: super::policy::Placement,
    now: i64,
) -> Result<(), ServiceError> {
    row.request.status = placement.status;
    row.request.submitted_at = now;
    row.request.scheduled_for = placement.scheduled_for;
    row.request.window_cap = placement.window_cap;
    row.job = super::provision::job_for(
        &row.request.id,
        placement.scheduled_for.unwrap_or(now),
        services.provision_attempts,
    )?;
    Ok(())
}

/// Stores one row's request, placed again when its window filled meanwhile; a name taken
/// since the preview refuses the row.
async fn store_one(
    services: &Services,
    import_id: &str,
    mut row: RowSubmission,
) -> Result<(), ServiceError> {
    for _ in 0..5 {
        let now = portal_store::now_ms();
        let placement = super::policy::place(services, now).await?;
        place(services, &mut row, placement, now)?;
        match services
            .store
            .submit_import_rows(import_id, std::slice::from_ref(&row))
            .await
        {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict(Conflict::WindowFull)) => continue,
            Err(StoreError::Conflict(Conflict::NameTaken(kind))) => {
                let reason = format!(
                    "Its {} was taken by another tenant or request after the file was checked.",
                    kind.label()
                );
                services
                    .store
                    .refuse_import_row(import_id, row.line, &reason)
                    .await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::Unavailable)
}

/// A kept row read back as the file had it.
fn file_row_of(row: &LineRow) -> Result<FileRow, ServiceError> {
    let cells: HashMap<String, String> =
        serde_json::from_str(&row.cells).map_err(|e| ServiceError::Internal(e.into()))?;
    Ok(FileRow {
        line: u64::try_from(row.line).unwrap_or_default(),
        cells: import::COLUMNS
            .iter()
            .map(|c| (c.header, cells.get(c.header).cloned().unwrap_or_default()))
            .collect(),
        cell_count: None,
    })
}

/// A row's request, ready but for its placement; or why the row can no longer be submitted
/// (its template retired since the preview).
async fn row_request(
    services: &Services,
    templates: &mut HashMap<String, Option<TemplateRow>>,
    row: &LineRow,
    submitter: &Submitter,
) -> Result<Result<RowSubmission, String>, ServiceError> {
    let file_row = file_row_of(row)?;
    let Ok(Submission {
        template_id,
        tenant: t,
        contact: c,
        admin_email,
        ..
    }) = file_row.submission().parse()
    else {
        return Ok(Err("The row no longer passes the rules.".to_owned()));
    };
    if !templates.contains_key(&template_id) {
        let found = super::request::offered_template(services, &template_id)
            .await?
            .ok();
        templates.insert(template_id.clone(), found);
    }
    let Some(Some(template)) = templates.get(&template_id) else {
        return Ok(Err(
            "Its template service package was retired after the file was checked.".to_owned(),
        ));
    };
    let id = portal_store::new_id();
    let audit = portal_store::audit::AuditEntry {
        actor_id: Some(submitter.id.clone()),
        actor_name: Some(submitter.name.clone()),
        tenant_id: None,
        action: AuditAction::RequestSubmitted,
        subject: Some(id.clone()),
        detail: Some(format!(
            "{} from template {}, row {} of a bulk onboarding file",
            t.name.as_str(),
            template.id,
            row.line
        )),
        client: None,
    };
    let mut request = super::request::new_request(
        &id,
        template,
        (&t, &c),
        (String::new(), admin_email.as_ref()),
        Some(submitter.id.clone()),
        Some(audit),
    );
    request.names = NameHold::Open;
    let job = super::provision::job_for(&id, 0, services.provision_attempts)?;
    Ok(Ok(RowSubmission {
        line: row.line,
        request,
        job,
    }))
}
