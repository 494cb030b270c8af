//! Bulk onboarding files: a CSV of tenant subscription requests, one per row, its columns
//! recognised by their header in any order. Each row is checked by the same parsers as the
//! form (`RawSubmission::parse`); this module adds only what a file has and a form has not:
//! its header, its cells, and names repeated on other rows of the same file.

use std::collections::HashMap;

use crate::field::{FieldError, FieldErrorCode, ShortName, TenantName, UpnSuffix};
use crate::request::NameKind;
use crate::submission::{FieldProblem, RawContact, RawSubmission, RawTenant};

/// The most rows a file may have.
pub const MAX_ROWS: usize = 10_000;

/// The largest file taken, in bytes.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;

crate::text_enum! {
    /// Where an import is: checked and waiting, its rows becoming requests, or done.
    pub enum ImportStatus as "import status" {
        Previewed = "previewed",
        Submitting = "submitting",
        Submitted = "submitted",
    }
}

/// A column a file may have: its header, the submission field it fills, and whether every
/// file must have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub header: &'static str,
    pub field: &'static str,
    pub required: bool,
}

const fn column(header: &'static str, field: &'static str, required: bool) -> Column {
    Column {
        header,
        field,
        required,
    }
}

/// Every column, in the order of the form.
pub const COLUMNS: [Column; 13] = [
    column("template_id", "template_id", true),
    column("name", "tenant.name", true),
    column("short_name", "tenant.short_name", true),
    column("upn_suffix", "tenant.upn_suffix", true),
    column("admin_user_name", "tenant.admin_user_name", true),
    column("admin_email", "tenant.admin_email", true),
    column("ani", "tenant.ani", true),
    column("contact_first_name", "contact.first_name", true),
    column("contact_last_name", "contact.last_name", true),
    column("contact_email", "contact.email", true),
    column("contact_phone", "contact.phone", false),
    column("contact_company", "contact.company", false),
    column("contact_address", "contact.address", false),
];

/// The problem of a row that is not one cell per column of its header.
pub const ROW_FIELD: &str = "row";

/// The column that holds a submission's field (`tenant.name` is in `name`); a field no column
/// holds (a password) is the row's.
pub fn column_of(field: &str) -> &'static str {
    COLUMNS
        .iter()
        .find(|c| c.field == field)
        .map_or(ROW_FIELD, |c| c.header)
}

/// Why a whole file was refused; nothing of it was kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    #[error("The file is larger than 5 MiB. Split it into files of at most 10,000 rows.")]
    TooLarge,
    #[error("The file has more than 10,000 rows. Split it into files of at most 10,000 rows.")]
    TooManyRows,
    #[error(
        "The file is empty. Its first line names the columns: {}.",
        required_headers()
    )]
    Empty,
    #[error("The file has a header but no rows under it.")]
    NoRows,
    #[error("Line {line} is not UTF-8 text. Save the file as \"CSV UTF-8\" and upload it again.")]
    NotUtf8 { line: u64 },
    #[error("The header lacks the column{} {}.", if .0.len() == 1 { "" } else { "s" }, .0.join(", "))]
    MissingColumns(Vec<&'static str>),
    #[error("The header names the column {0} twice.")]
    RepeatedColumn(String),
    #[error(
        "The file has a {0} column. Files carry no passwords: each administrator is invited by email to choose one."
    )]
    PasswordColumn(String),
    #[error("Line {line} cannot be read as CSV: {message}")]
    Malformed { line: u64, message: String },
}

impl FileProblem {
    /// The problem as the API names it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "file_too_large",
            Self::TooManyRows => "too_many_rows",
            Self::Empty => "empty_file",
            Self::NoRows => "no_rows",
            Self::NotUtf8 { .. } => "not_utf8",
            Self::MissingColumns(_) => "missing_columns",
            Self::RepeatedColumn(_) => "repeated_column",
            Self::PasswordColumn(_) => "password_column",
            Self::Malformed { .. } => "malformed_csv",
        }
    }
}

fn required_headers() -> String {
    COLUMNS
        .iter()
        .filter(|c| c.required)
        .map(|c| c.header)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One row of a file: its line number (of its first line, for a cell across lines), the cells
/// of the known columns by header, and how many cells it had against how many the header has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: u64,
    pub cells: Vec<(&'static str, String)>,
    /// `Some((had, expected))` when the row is not one cell per column.
    pub cell_count: Option<(usize, usize)>,
}

impl ImportRow {
    /// The cell of a column; empty when the file has no such column.
    pub fn cell(&self, header: &str) -> &str {
        self.cells
            .iter()
            .find(|(h, _)| *h == header)
            .map_or("", |(_, v)| v.as_str())
    }

    fn get(&self, header: &str) -> Option<String> {
        let value = self.cell(header);
        (!value.trim().is_empty()).then(|| value.to_owned())
    }

    /// The row as a submission whose administrator is invited (no password).
    pub fn submission(&self) -> RawSubmission {
        RawSubmission {
            template_id: self.get("template_id"),
            tenant: RawTenant {
                name: self.get("name"),
                short_name: self.get("short_name"),
                upn_suffix: self.get("upn_suffix"),
                admin_user_name: self.get("admin_user_name"),
                password: None,
                confirm_password: None,
                admin_email: self.get("admin_email"),
                ani: self.get("ani"),
            },
            contact: RawContact {
                first_name: self.get("contact_first_name"),
                last_name: self.get("contact_last_name"),
                email: self.get("contact_email"),
                phone: self.get("contact_phone"),
                company: self.get("contact_company"),
                address: self.get("contact_address"),
            },
        }
    }

    /// Every problem of the row on its own, by column: the form's rules, the administrator's
    /// address (required, since nobody types a password), and the count of its cells.
    pub fn problems(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if let Some((had, expected)) = self.cell_count {
            problems.push(FieldProblem {
                field: ROW_FIELD,
                error: FieldError::new(
                    FieldErrorCode::Invalid,
                    format!("This row has {had} cells; the header has {expected} columns."),
                ),
            });
        }
        if self.get("admin_email").is_none() {
            problems.push(FieldProblem {
                field: "admin_email",
                error: FieldError::new(
                    FieldErrorCode::Required,
                    "Administrator's email is required: the administrator is invited there to choose a password.",
                ),
            });
        }
        if let Err(found) = self.submission().parse() {
            problems.extend(found.into_iter().filter_map(|p| {
                let field = column_of(p.field);
                // The missing address is said above, once, not as a missing password.
                (field != ROW_FIELD || self.get("admin_email").is_some()).then_some(FieldProblem {
                    field,
                    error: p.error,
                })
            }));
        }
        problems
    }

    /// The row's names that pass their rules, as the store keys them (lower case, a UPN
    /// suffix in its ASCII form).
    pub fn name_keys(&self) -> Vec<(NameKind, String)> {
        let mut keys = Vec::with_capacity(3);
        if let Ok(name) = TenantName::parse(self.cell("name")) {
            keys.push((NameKind::TenantName, name.as_str().to_lowercase()));
        }
        if let Ok(short) = ShortName::parse(self.cell("short_name")) {
            keys.push((NameKind::ShortName, short.as_str().to_lowercase()));
        }
        if let Ok(suffix) = UpnSuffix::parse(self.cell("upn_suffix")) {
            keys.push((NameKind::UpnSuffix, suffix.as_str().to_lowercase()));
        }
        keys
    }
}

/// A file read: its rows, and the header's columns that are not ours (ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFile {
    pub rows: Vec<ImportRow>,
    pub ignored_columns: Vec<String>,
}

/// The column a name belongs in.
pub fn name_column(kind: NameKind) -> &'static str {
    match kind {
        NameKind::TenantName => "name",
        NameKind::ShortName => "short_name",
        NameKind::UpnSuffix => "upn_suffix",
    }
}

/// A name held elsewhere, for the row that has it.
pub fn taken(kind: NameKind) -> FieldProblem {
    FieldProblem {
        field: name_column(kind),
        error: FieldError::new(
            FieldErrorCode::Taken,
            format!(
                "This {} is already used by a tenant or an open request.",
                kind.label()
            ),
        ),
    }
}

/// For each row (by index), the problems of names that an earlier row of the file has too.
pub fn repeated_names(rows: &[ImportRow]) -> Vec<(usize, FieldProblem)> {
    let mut first_seen: HashMap<(NameKind, String), u64> = HashMap::new();
    let mut found = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        for key in row.name_keys() {
            let kind = key.0;
            match first_seen.get(&key) {
                Some(line) => found.push((
                    index,
                    FieldProblem {
                        field: name_column(kind),
                        error: FieldError::new(
                            FieldErrorCode::Repeated,
                            format!("This {} is also on line {line} of the file.", kind.label()),
                        ),
                    },
                )),
                None => {
                    first_seen.insert(key, row.line);
                }
            }
        }
    }
    found
}

/// Reads a file: UTF-8, with or without a byte order mark, separated by commas or (when the
/// header has semicolons and no commas) semicolons, quoted fields as RFC 4180 has them, any
/// line ends. Rows of only empty cells are skipped. A file too large or with too many rows is
/// refused before the rest of it is read.
pub fn read(bytes: &[u8]) -> Result<ImportFile, FileProblem> {
    if bytes.len() > MAX_BYTES {
        return Err(FileProblem::TooLarge);
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter(bytes))
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut lines = Lines {
        bytes,
        at: 0,
        line: 1,
    };
    let header = loop {
        if !next(&mut reader, &mut record)? {
            return Err(FileProblem::Empty);
        }
        if !blank(&record) {
            break header_of(&record, lines.of(&record))?;
        }
    };
    let mut rows = Vec::new();
    let mut last = (lines.at, lines.line);
    while next(&mut reader, &mut record)? {
        let line = lines.of(&record);
        last = (lines.at, line);
        if blank(&record) {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(FileProblem::TooManyRows);
        }
        rows.push(row_of(&record, &header, line)?);
    }
    // A quote never closed takes the rest of the file into one cell without an error: the
    // last record then holds an odd number of quote marks (a quote inside a cell is doubled).
    let (start, line) = last;
    if bytes[start.min(bytes.len())..]
        .iter()
        .filter(|b| **b == b'"')
        .count()
        % 2
        == 1
    {
        return Err(FileProblem::Malformed {
            line,
            message: "a quoted cell that starts on this line is never closed".into(),
        });
    }
    if rows.is_empty() {
        return Err(FileProblem::NoRows);
    }
    Ok(ImportFile {
        rows,
        ignored_columns: header.ignored,
    })
}

/// Semicolons when the first line has some and no commas; commas otherwise.
fn delimiter(bytes: &[u8]) -> u8 {
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    if first.contains(&b';') && !first.contains(&b',') {
        b';'
    } else {
        b','
    }
}

/// Line numbers as people count them: the reader's own count is off after a `\r\n` (a record
/// starts at the `\n` it left), so lines are counted from each record's first byte, going on
/// from the last record's.
struct Lines<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u64,
}

impl Lines<'_> {
    fn of(&mut self, record: &csv::ByteRecord) -> u64 {
        let mut start = record
            .position()
            .map_or(self.at, |p| usize::try_from(p.byte()).unwrap_or(self.at));
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        let start = start.min(self.bytes.len()).max(self.at);
        let between = &self.bytes[self.at..start];
        for (i, b) in between.iter().enumerate() {
            let lone_cr = *b == b'\r' && between.get(i + 1) != Some(&b'\n');
            if *b == b'\n' || lone_cr {
                self.line += 1;
            }
        }
        self.at = start;
        self.line
    }
}

fn next(
    reader: &mut csv::Reader<&[u8]>,
    record: &mut csv::ByteRecord,
) -> Result<bool, FileProblem> {
    reader.read_byte_record(record).map_err(|e| {
        let line = e.position().map_or(0, csv::Position::line);
        FileProblem::Malformed {
            line,
            message: match e.kind() {
                csv::ErrorKind::Io(_) => "the file ends in the middle of a quoted cell".into(),
                _ => e.to_string(),
            },
        }
    })
}

fn blank(record: &csv::ByteRecord) -> bool {
    record.iter().all(|cell| cell.trim_ascii().is_empty())
}

fn text(line: u64, cell: &[u8]) -> Result<String, FileProblem> {
    std::str::from_utf8(cell)
        .map(str::to_owned)
        .map_err(|_| FileProblem::NotUtf8 { line })
}

/// Where each known column is in the file's rows.
struct Header {
    /// (position in the row, column).
    known: Vec<(usize, &'static str)>,
    ignored: Vec<String>,
    width: usize,
}

fn header_of(record: &csv::ByteRecord, line: u64) -> Result<Header, FileProblem> {
    let mut known: Vec<(usize, &'static str)> = Vec::new();
    let mut ignored = Vec::new();
    for (position, cell) in record.iter().enumerate() {
        let name = text(line, cell)?.trim().to_lowercase();
        if name.contains("password") {
            return Err(FileProblem::PasswordColumn(name));
        }
        match COLUMNS.iter().find(|c| c.header == name) {
            Some(c) if known.iter().any(|(_, h)| *h == c.header) => {
                return Err(FileProblem::RepeatedColumn(name));
            }
            Some(c) => known.push((position, c.header)),
            None if name.is_empty() => {}
            None => ignored.push(name.chars().take(64).collect()),
        }
    }
    let missing: Vec<&'static str> = COLUMNS
        .iter()
        .filter(|c| c.required && !known.iter().any(|(_, h)| *h == c.header))
        .map(|c| c.header)
        .collect();
    if !missing.is_empty() {
        return Err(FileProblem::MissingColumns(missing));
    }
    Ok(Header {
        known,
        ignored,
        width: record.len(),
    })
}

fn row_of(record: &csv::ByteRecord, header: &Header, line: u64) -> Result<ImportRow, FileProblem> {
    let mut cells = Vec::with_capacity(header.known.len());
    for (position, name) in &header.known {
        let value = match record.get(*position) {
            Some(cell) => text(line, cell)?,
            None => String::new(),
        };
        cells.push((*name, value));
    }
    for cell in record.iter() {
        text(line, cell)?;
    }
    Ok(ImportRow {
        line,
        cells,
        cell_count: (record.len() != header.width).then_some((record.len(), header.width)),
    })
}

/// A cell for a CSV the portal writes, safe to open in a spreadsheet: one starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return is a formula there, so it gets a leading `'`.
pub fn safe_cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "template_id,name,short_name,upn_suffix,admin_user_name,admin_email,ani,contact_first_name,contact_last_name,contact_email";

    fn good_row(n: u32) -> String {
        format!(
            "standard,Tenant{n},T{n},tenant{n}.example,Admin,admin@tenant{n}.example,+14155550100,Ann,Lee,ann@tenant{n}.example"
        )
    }

    #[test]
    fn a_file_is_read_by_its_header_in_any_order() {
        let file = (
            "\u{feff}contact_email,name,short_name,upn_suffix,admin_user_name,admin_email,ani,contact_first_name,contact_last_name,template_id,notes\r\n\
             ann@a.example,Alpha,AL,alpha.example,Admin,admin@alpha.example,+14155550100,Ann,Lee,standard,call Monday\r\n"
        )
        .to_owned();
        let read = read(file.as_bytes()).unwrap();
        assert_eq!(read.ignored_columns, vec!["notes".to_owned()]);
        let row = &read.rows[0];
        assert_eq!(row.line, 2);
        assert_eq!(row.cell("name"), "Alpha");
        assert_eq!(row.cell("template_id"), "standard");
        assert!(row.problems().is_empty(), "{:?}", row.problems());
    }

    #[test]
    fn semicolons_quotes_and_lines_inside_cells() {
        let file = format!(
            "{}\n{}\n",
            HEADER.replace(',', ";"),
            "standard;Beta;BE;beta.example;Admin;admin@beta.example;+14155550100;\"Ann\";\"Lee; Jr\";ann@beta.example"
        );
        let read = read(file.as_bytes()).unwrap();
        assert_eq!(read.rows[0].cell("contact_last_name"), "Lee; Jr");
        let quoted = format!(
            "{HEADER},contact_address\n{},\"1 Main St,\nSpringfield\"\n{}\n",
            good_row(1),
            good_row(2)
        );
        let read = super::read(quoted.as_bytes()).unwrap();
        assert_eq!(
            read.rows[0].cell("contact_address"),
            "1 Main St,\nSpringfield"
        );
        assert_eq!(read.rows[1].line, 4, "a cell across two lines counts both");
        assert_eq!(read.rows[1].cell_count, Some((10, 11)));
    }

    #[test]
    fn a_quote_never_closed_is_refused_not_taken_as_the_rest_of_the_file() {
        let file = format!(
            "{HEADER}\n{}\n\"{}\n{}\n",
            good_row(1),
            good_row(2),
            good_row(3)
        );
        assert_eq!(
            read(file.as_bytes()).unwrap_err(),
            FileProblem::Malformed {
                line: 3,
                message: "a quoted cell that starts on this line is never closed".into()
            }
        );
        let doubled = format!("{HEADER},note\n{},\"say \"\"hi\"\"\"\n", good_row(1));
        assert_eq!(read(doubled.as_bytes()).unwrap().rows.len(), 1);
    }

    #[test]
    fn whole_file_refusals() {
        assert_eq!(read(b""), Err(FileProblem::Empty));
        assert_eq!(read(b"\n\n"), Err(FileProblem::Empty));
        assert_eq!(read(HEADER.as_bytes()), Err(FileProblem::NoRows));
        let missing = read(b"name,short_name\nA,B\n").unwrap_err();
        assert_eq!(missing.code(), "missing_columns");
        assert!(missing.to_string().contains("template_id, upn_suffix"));
        assert_eq!(
            read(format!("{HEADER},password\n").as_bytes()),
            Err(FileProblem::PasswordColumn("password".into()))
        );
        assert_eq!(
            read(format!("{HEADER},name\n").as_bytes()),
            Err(FileProblem::RepeatedColumn("name".into()))
        );
        let latin1 = [HEADER.as_bytes(), b"\nstandard,Caf\xe9,CA,cafe.example,A,a@cafe.example,+14155550100,A,B,a@cafe.example\n"].concat();
        assert_eq!(read(&latin1), Err(FileProblem::NotUtf8 { line: 2 }));
        assert_eq!(read(&vec![b'a'; MAX_BYTES + 1]), Err(FileProblem::TooLarge));
        let many: String = std::iter::once(HEADER.to_owned())
            .chain((0..=MAX_ROWS as u32).map(good_row))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(read(many.as_bytes()), Err(FileProblem::TooManyRows));
    }

    #[test]
    fn rows_are_checked_by_the_forms_rules() {
        let file = format!(
            "{HEADER}\n=cmd|' /C calc'!A0,=cmd|x,T1,tenant1.example,Admin,,+14155550100,Ann,Lee,ann@x.example\n"
        );
        let read = read(file.as_bytes()).unwrap();
        let problems = read.rows[0].problems();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert!(fields.contains(&"name"), "{fields:?}");
        assert!(fields.contains(&"admin_email"), "{fields:?}");
        assert!(
            !fields.contains(&ROW_FIELD),
            "no password is asked for: {fields:?}"
        );
    }

    #[test]
    fn names_repeated_in_the_file_are_found_after_their_first_line() {
        let file = format!(
            "{HEADER}\n{}\n{}\n{}\n",
            good_row(1),
            good_row(2),
            good_row(1).replace("T1,", "T3,")
        );
        let read = read(file.as_bytes()).unwrap();
        let repeated = repeated_names(&read.rows);
        let found: Vec<_> = repeated.iter().map(|(i, p)| (*i, p.field)).collect();
        assert_eq!(found, vec![(2, "name"), (2, "upn_suffix")]);
        assert!(repeated[0].1.error.message.contains("line 2"));
    }

    #[test]
    fn cells_written_out_never_start_a_formula() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(safe_cell(bad).starts_with('\''));
        }
        assert_eq!(safe_cell("Kenton"), "Kenton");
    }
}
