-- Users of the portal: landlord administrators and tenant administrators.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    username_key  TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    tenant_id     TEXT NULL,
    created_at    BIGINT NOT NULL
);

-- Bearer tokens, kept only as the SHA-256 of the token.
CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX api_tokens_expiry ON api_tokens (expires_at);

-- Template service packages; each edit makes a new immutable version.
CREATE TABLE templates (
    id              TEXT PRIMARY KEY,
    status          TEXT NOT NULL,
    current_version BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE TABLE template_versions (
    template_id TEXT NOT NULL REFERENCES templates (id),
    version     BIGINT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    services    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (template_id, version)
);

CREATE TABLE template_objects (
    template_id TEXT NOT NULL,
    version     BIGINT NOT NULL,
    position    BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    properties  TEXT NOT NULL,
    PRIMARY KEY (template_id, version, position),
    FOREIGN KEY (template_id, version) REFERENCES template_versions (template_id, version)
);

-- Tenant subscription requests. The administrator's password hash lives here only until
-- the administrator is created.
CREATE TABLE subscription_requests (
    id                   TEXT PRIMARY KEY,
    status               TEXT NOT NULL,
    template_id          TEXT NOT NULL,
    template_version     BIGINT NOT NULL,
    tenant_name          TEXT NOT NULL,
    tenant_name_key      TEXT NOT NULL,
    short_name           TEXT NOT NULL,
    upn_suffix           TEXT NOT NULL,
    admin_user_name      TEXT NOT NULL,
    admin_personnel_id   TEXT NOT NULL,
    admin_password_hash  TEXT NULL,
    ani                  TEXT NOT NULL,
    contact_first_name   TEXT NOT NULL,
    contact_last_name    TEXT NOT NULL,
    contact_email        TEXT NOT NULL,
    contact_phone        TEXT NULL,
    contact_company      TEXT NULL,
    contact_address      TEXT NULL,
    submitted_by         TEXT NULL,
    submitted_at         BIGINT NOT NULL,
    scheduled_for        BIGINT NULL,
    started_at           BIGINT NULL,
    finished_at          BIGINT NULL,
    tenant_id            TEXT NULL,
    error                TEXT NULL,
    notification_status  TEXT NOT NULL,
    notification_sent_at BIGINT NULL,
    FOREIGN KEY (template_id, template_version) REFERENCES template_versions (template_id, version)
);
CREATE INDEX subscription_requests_status ON subscription_requests (status, id);
CREATE INDEX subscription_requests_name ON subscription_requests (tenant_name_key);

-- Names held by open requests and by tenants, so that the database itself refuses a second
-- holder of the same name, short name or UPN suffix (compared lowercase). A hold with
-- `held_until` is taken before a submission's password is hashed and lapses at that time
-- unless the request is stored; a stored request's names have `held_until` NULL.
CREATE TABLE reserved_names (
    kind       TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    request_id TEXT NOT NULL,
    held_until BIGINT NULL,
    PRIMARY KEY (kind, name_key)
);
CREATE INDEX reserved_names_request ON reserved_names (request_id);

-- Idempotency keys of submissions: a retried POST with the same key returns the first answer.
-- The fingerprint covers every field but the passwords, so it reveals nothing of them.
CREATE TABLE idempotency_keys (
    actor_id    TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    request_id  TEXT NOT NULL REFERENCES subscription_requests (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (actor_id, idem_key)
);

-- The steps of provisioning a request, in order.
CREATE TABLE request_steps (
    request_id  TEXT NOT NULL REFERENCES subscription_requests (id),
    position    BIGINT NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  BIGINT NULL,
    finished_at BIGINT NULL,
    PRIMARY KEY (request_id, position)
);

CREATE TABLE tenants (
    id                 TEXT PRIMARY KEY,
    request_id         TEXT NOT NULL UNIQUE REFERENCES subscription_requests (id),
    name               TEXT NOT NULL,
    short_name         TEXT NOT NULL,
    upn_suffix         TEXT NOT NULL,
    ani                TEXT NOT NULL,
    status             TEXT NOT NULL,
    template_id        TEXT NOT NULL,
    template_version   BIGINT NOT NULL,
    admin_personnel_id TEXT NOT NULL,
    admin_login        TEXT NOT NULL,
    created_at         BIGINT NOT NULL
);

-- The durable job queue. Finished jobs are deleted; dead ones stay for inspection.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL,
    run_at       BIGINT NOT NULL,
    attempts     BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    locked_by    TEXT NULL,
    locked_until BIGINT NULL,
    last_error   TEXT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX jobs_ready ON jobs (run_at, id) WHERE status = 'queued';
CREATE INDEX jobs_leases ON jobs (locked_until) WHERE status = 'running';
