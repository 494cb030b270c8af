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

-- A search by part of a tenant's name finds its few matches through trigrams instead of
-- walking every request: a full-text table of the names (FTS5's trigram tokenizer), kept by
-- triggers. It holds the request's id, not its rowid, which VACUUM may renumber.
CREATE VIRTUAL TABLE request_names USING fts5(request_id UNINDEXED, name_key, tokenize = 'trigram');
INSERT INTO request_names (request_id, name_key) SELECT id, tenant_name_key FROM subscription_requests;
CREATE TRIGGER request_names_insert AFTER INSERT ON subscription_requests BEGIN
    INSERT INTO request_names (request_id, name_key) VALUES (new.id, new.tenant_name_key);
END;
CREATE TRIGGER request_names_update AFTER UPDATE OF tenant_name_key ON subscription_requests BEGIN
    DELETE FROM request_names WHERE request_id = old.id;
    INSERT INTO request_names (request_id, name_key) VALUES (new.id, new.tenant_name_key);
END;
CREATE TRIGGER request_names_delete AFTER DELETE ON subscription_requests BEGIN
    DELETE FROM request_names WHERE request_id = old.id;
END;
