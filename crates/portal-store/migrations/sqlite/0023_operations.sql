-- Each worker process says it is alive every few seconds: what runs, where, since when.
-- (On PostgreSQL this migration also makes queued jobs send a notification; SQLite has no
-- other process to wake.)
CREATE TABLE workers (
    id          TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    pid         BIGINT NOT NULL,
    concurrency BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL,
    stopped_at  BIGINT NULL
);

-- When the contact details of a closed self-service request were erased (its retention over).
ALTER TABLE subscription_requests ADD COLUMN contact_erased_at BIGINT NULL;

-- What the metrics count at every scrape: messages and deliveries still to send.
CREATE INDEX outbox_pending ON outbox (created_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (created_at) WHERE status = 'pending';
