-- Webhook endpoints: where the provider's other systems receive the portal's events. The
-- secret signs each delivery; after a rotation the previous one signs too until
-- `previous_until`.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    -- JSON array of event types, or ["*"] for all.
    events          TEXT NOT NULL,
    description     TEXT NOT NULL,
    status          TEXT NOT NULL,
    secret          TEXT NOT NULL,
    previous_secret TEXT NULL,
    previous_until  BIGINT NULL,
    -- Why the portal disabled it (failing for days), when it did.
    disabled_reason TEXT NULL,
    -- Since when every delivery to it has failed (none delivered since); five days disable it.
    failing_since   BIGINT NULL,
    created_by      TEXT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- Each event the portal tells, written in the transaction of the change it reports. Its data
-- (the subject as the API answers it) is written once, at its first delivery, and then sent
-- unchanged on every attempt to every endpoint.
CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    -- What it is about: a request, a tenant (its id).
    subject_id  TEXT NOT NULL,
    -- The subject's status (or, for parameters, the version) the event tells of: the data,
    -- rendered later, says this one.
    state       TEXT NULL,
    occurred_at BIGINT NOT NULL,
    data        TEXT NULL
);

-- One event to one endpoint.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id),
    event_id         TEXT NOT NULL REFERENCES webhook_events (id),
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    last_status_code BIGINT NULL,
    next_attempt_at  BIGINT NULL,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT NULL
);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at);

-- Every attempt of a delivery: the answer's status (none when there was no answer), what went
-- wrong, and the start of the answer's body.
CREATE TABLE webhook_attempts (
    id          TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id),
    at          BIGINT NOT NULL,
    status_code BIGINT NULL,
    error       TEXT NULL,
    excerpt     TEXT NULL,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, at);
