-- Drafts of a tenant's Smart Queues general parameters: one per administrator, saved on top
-- of the published version it was started from (a publish checks that version is still the
-- latest, so two administrators cannot overwrite each other).
CREATE TABLE smart_queue_drafts (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    author_id    TEXT NOT NULL REFERENCES users (id),
    base_version BIGINT NOT NULL,
    parameters   TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, author_id)
);

-- Who did what, when and from where. No foreign keys: the log outlives what it mentions.
CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor_id   TEXT NULL,
    actor_name TEXT NULL,
    tenant_id  TEXT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NULL,
    detail     TEXT NULL,
    client     TEXT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
