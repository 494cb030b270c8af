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
    created_by      TEXT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
