//! The request list as CSV: every request the list's filters match, read a page at a time and
//! written out as it is read, so that a list of any length takes the same memory.

use portal_domain::Permission;
use portal_store::request::{RequestFilter, RequestRow};

use super::import::write_record;
use super::{Actor, ServiceError, Services};

/// The columns: the list page's, then the contact's email and the tenant's id.
pub const COLUMNS: [&str; 8] = [
    "request_id",
    "tenant_name",
    "template",
    "status",
    "submitted_at",
    "scheduled_for",
    "contact_email",
    "tenant_id",
];

/// Requests read from the store at a time.
const PAGE: i64 = 500;

/// An export under way: each call to [`Export::next_chunk`] writes the next page of rows.
#[derive(Debug)]
pub struct Export {
    services: Services,
    filter: RequestFilter,
    /// Template ids and names, to write a template as the list page does.
    templates: Vec<(String, String)>,
    header_written: bool,
    rows: u64,
    finished: bool,
    /// A page could not be read; the file ends there.
    failed: bool,
}

/// Starts an export of the requests `filter` matches (its cursor and limit are ignored).
/// Only the provider's staff may; to anyone else it does not exist.
pub async fn export(
    services: &Services,
    actor: &Actor,
    filter: RequestFilter,
) -> Result<Export, ServiceError> {
    if !actor.is_landlord() {
        return Err(ServiceError::NotFound);
    }
    actor.require(Permission::ReadRequests)?;
    let templates = super::template::list_templates(services, actor)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    Ok(Export {
        services: services.clone(),
        filter: RequestFilter {
            before_id: None,
            limit: PAGE,
            ..filter
        },
        templates,
        header_written: false,
        rows: 0,
        finished: false,
        failed: false,
    })
}

impl Export {
    /// The next piece of the file: the header with the first page of rows, then a page at a
    /// time; `None` once every row is written.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ServiceError> {
        if self.finished || self.failed {
            return Ok(None);
        }
        let chunk = self.write_page().await;
        self.failed = chunk.is_err();
        chunk.map(Some)
    }

    async fn write_page(&mut self) -> Result<Vec<u8>, ServiceError> {
        let page = self.services.store.list_requests(&self.filter).await?;
        let mut out = csv::Writer::from_writer(Vec::with_capacity(page.len() * 160));
        if !self.header_written {
            write_record(&mut out, &COLUMNS)?;
            self.header_written = true;
        }
        if (page.len() as i64) < PAGE {
            self.finished = true;
        }
        self.filter.before_id = page.last().map(|r| r.id.clone());
        for r in &page {
            write_record(&mut out, &self.cells(r).each_ref().map(String::as_str))?;
        }
        self.rows += page.len() as u64;
        let bytes = out
            .into_inner()
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
        if self.finished {
            tracing::info!(rows = self.rows, "request list exported as CSV");
        }
        Ok(bytes)
    }

    fn cells(&self, r: &RequestRow) -> [String; 8] {
        let template = self
            .templates
            .iter()
            .find(|(id, _)| *id == r.template_id)
            .map_or(r.template_id.as_str(), |(_, name)| name.as_str());
        [
            r.id.clone(),
            r.tenant_name.clone(),
            format!("{template} v{}", r.template_version),
            r.status.to_string(),
            utc(r.submitted_at),
            r.scheduled_for.map(utc).unwrap_or_default(),
            r.contact_email.clone(),
            r.tenant_id.clone().unwrap_or_default(),
        ]
    }
}

impl Drop for Export {
    fn drop(&mut self) {
        // A failed read was logged where it failed; anything else that ends an export early
        // is its client going away.
        if !self.finished && !self.failed {
            tracing::info!(
                rows = self.rows,
                "CSV export stopped before its last row: the client went away"
            );
        }
    }
}

/// A time as RFC 3339 in UTC, to the second.
fn utc(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}
