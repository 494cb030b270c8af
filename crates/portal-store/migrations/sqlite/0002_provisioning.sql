-- The tenant's own copies of its template's configuration objects, placeholders filled in.
-- Keyed by position in the pinned template version, so a repeated clone writes nothing twice.
CREATE TABLE tenant_objects (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    position   BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    properties TEXT NOT NULL,
    PRIMARY KEY (tenant_id, position)
);

-- Published versions of a tenant's Smart Queues general parameters (version 1 comes from the
-- template at provisioning).
CREATE TABLE smart_queue_parameters (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    version      BIGINT NOT NULL,
    parameters   TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    published_by TEXT NULL,
    PRIMARY KEY (tenant_id, version)
);

-- What happened to a request, and who did it: status changes and staff actions.
CREATE TABLE request_events (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES subscription_requests (id),
    at          BIGINT NOT NULL,
    actor_id    TEXT NULL,
    action      TEXT NOT NULL,
    from_status TEXT NULL,
    to_status   TEXT NULL,
    detail      TEXT NULL
);
CREATE INDEX request_events_request ON request_events (request_id, at);

-- Provider-wide settings as JSON documents (the provisioning policy).
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NULL
);

CREATE INDEX subscription_requests_scheduled ON subscription_requests (scheduled_for);

-- The object a job works on (a request id), so that actions can find its job.
ALTER TABLE jobs ADD COLUMN subject TEXT NULL;
CREATE INDEX jobs_subject ON jobs (subject);
