-- Wake-ups across processes: a job queued (inserted, put back after a failed attempt or a
-- lapsed lease, or moved to another time) sends a notification on `portal_jobs`. PostgreSQL delivers it when the
-- transaction commits, and folds the same notification sent many times in one transaction into
-- one, so a batch of jobs wakes the listening workers once.
CREATE FUNCTION portal_job_queued() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('portal_jobs', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER jobs_queued_notify
    AFTER INSERT OR UPDATE OF status, run_at ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued')
    EXECUTE FUNCTION portal_job_queued();

-- Each worker process says it is alive every few seconds: what runs, where, since when.
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
-- walking every request (pg_trgm ships with PostgreSQL and is trusted: a database owner may
-- add it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX subscription_requests_name_trigrams ON subscription_requests
    USING gin (tenant_name_key gin_trgm_ops);
