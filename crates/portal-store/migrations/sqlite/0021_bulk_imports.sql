-- Bulk onboarding: a CSV file of subscription requests, checked row by row (the preview), then
-- submitted: each valid row becomes a request whose administrator is invited.
CREATE TABLE bulk_imports (
    id              TEXT PRIMARY KEY,
    -- previewed, submitting, submitted
    status          TEXT NOT NULL,
    file_name       TEXT NOT NULL,
    rows_total      BIGINT NOT NULL,
    rows_valid      BIGINT NOT NULL,
    -- JSON array of the header's columns that were not ours, ignored.
    ignored_columns TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    submitted_by    TEXT NULL,
    submitted_at    BIGINT NULL,
    finished_at     BIGINT NULL
);
CREATE INDEX bulk_imports_created ON bulk_imports (created_at);

-- One row of a file: its cells (JSON object by column), its problems (JSON array of
-- {field, code, message}; NULL when valid), and once submitted the request it became, set in
-- that request's own transaction, so a row becomes a request once at most. `refusal` says why
-- a valid row was not submitted (a name taken after the preview).
CREATE TABLE bulk_import_rows (
    import_id   TEXT NOT NULL REFERENCES bulk_imports (id) ON DELETE CASCADE,
    line        BIGINT NOT NULL,
    cells       TEXT NOT NULL,
    problems    TEXT NULL,
    request_id  TEXT NULL,
    refusal     TEXT NULL,
    PRIMARY KEY (import_id, line)
);
CREATE INDEX bulk_import_rows_request ON bulk_import_rows (request_id);
