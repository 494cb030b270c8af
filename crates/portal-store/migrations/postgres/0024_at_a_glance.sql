-- The dashboard's figures per UTC day (days since 1970-01-01), kept by a trigger in the same
-- transaction as every change to a request, so that reading 90 days reads at most 90 rows
-- however many requests there are. A request counts as submitted on the day of its
-- submission, and as completed or failed on the day it finished, while it is in that status.
CREATE TABLE request_days (
    day       BIGINT PRIMARY KEY,
    submitted BIGINT NOT NULL,
    completed BIGINT NOT NULL,
    failed    BIGINT NOT NULL
);

-- How long completed requests took from submission to a working tenant, per UTC day they
-- completed on, as a histogram: `bucket` is the number of digits of the milliseconds times 100
-- plus their first two digits rounded down to a step of 1 (10-19), 2 (20-49) or 5 (50-99), as
-- `portal_domain::glance::TimeBucket` says: buckets sort as the times do and are at most a
-- tenth wide.
CREATE TABLE tenant_time_days (
    day      BIGINT NOT NULL,
    bucket   BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (day, bucket)
);

-- How many requests are in each status now, for the counts every list and dashboard shows.
CREATE TABLE request_statuses (
    status   TEXT PRIMARY KEY,
    requests BIGINT NOT NULL
);
INSERT INTO request_statuses (status, requests)
    SELECT status, COUNT(*) FROM subscription_requests GROUP BY status;

CREATE FUNCTION portal_request_status_add(moved TEXT, sign BIGINT) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO request_statuses AS s (status, requests) VALUES (moved, sign)
        ON CONFLICT (status) DO UPDATE SET requests = s.requests + sign
$$;

CREATE FUNCTION portal_time_bucket(ms BIGINT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE AS $$
    SELECT length(t) * 100 + CASE WHEN lead < 20 THEN lead
                                  WHEN lead < 50 THEN lead - lead % 2
                                  ELSE lead - lead % 5 END
    FROM (SELECT GREATEST(0, ms)::text AS t, substr(GREATEST(0, ms)::text, 1, 2)::bigint AS lead) parts
$$;

INSERT INTO request_days (day, submitted, completed, failed)
SELECT day, SUM(submitted), SUM(completed), SUM(failed) FROM (
    SELECT submitted_at / 86400000 AS day, 1 AS submitted, 0 AS completed, 0 AS failed
        FROM subscription_requests
    UNION ALL
    SELECT finished_at / 86400000, 0, 1, 0 FROM subscription_requests
        WHERE status = 'completed' AND finished_at IS NOT NULL
    UNION ALL
    SELECT finished_at / 86400000, 0, 0, 1 FROM subscription_requests
        WHERE status = 'failed' AND finished_at IS NOT NULL
) contributions GROUP BY day;

INSERT INTO tenant_time_days (day, bucket, requests)
SELECT finished_at / 86400000, portal_time_bucket(finished_at - submitted_at), COUNT(*)
FROM subscription_requests WHERE status = 'completed' AND finished_at IS NOT NULL
GROUP BY 1, 2;

-- Adds `sign` (1 or -1) times one request's contribution.
CREATE FUNCTION portal_request_days_add(r subscription_requests, sign BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO request_days AS d (day, submitted, completed, failed)
        VALUES (r.submitted_at / 86400000, sign, 0, 0)
        ON CONFLICT (day) DO UPDATE SET submitted = d.submitted + sign;
    IF r.finished_at IS NOT NULL AND r.status IN ('completed', 'failed') THEN
        INSERT INTO request_days AS d (day, submitted, completed, failed)
            VALUES (r.finished_at / 86400000, 0,
                    CASE WHEN r.status = 'completed' THEN sign ELSE 0 END,
                    CASE WHEN r.status = 'failed' THEN sign ELSE 0 END)
            ON CONFLICT (day) DO UPDATE SET completed = d.completed + EXCLUDED.completed,
                                            failed = d.failed + EXCLUDED.failed;
    END IF;
    IF r.finished_at IS NOT NULL AND r.status = 'completed' THEN
        INSERT INTO tenant_time_days AS t (day, bucket, requests)
            VALUES (r.finished_at / 86400000, portal_time_bucket(r.finished_at - r.submitted_at), sign)
            ON CONFLICT (day, bucket) DO UPDATE SET requests = t.requests + sign;
    END IF;
END;
$$;

-- A request's contribution is taken away as it was and added back as it is.
CREATE FUNCTION portal_request_days() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The status counts first, their two rows always in the same order whatever the move, so
    -- that transactions moving requests between statuses never wait on each other in a ring.
    IF TG_OP = 'INSERT' THEN
        PERFORM portal_request_status_add(NEW.status, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM portal_request_status_add(OLD.status, -1);
    ELSIF OLD.status < NEW.status THEN
        PERFORM portal_request_status_add(OLD.status, -1);
        PERFORM portal_request_status_add(NEW.status, 1);
    ELSIF OLD.status > NEW.status THEN
        PERFORM portal_request_status_add(NEW.status, 1);
        PERFORM portal_request_status_add(OLD.status, -1);
    END IF;
    -- A move between statuses no daily figure counts (accepted to provisioning, say) leaves
    -- the days alone, so that it does not wait for the lock on its day's row.
    IF TG_OP = 'UPDATE' AND OLD.submitted_at = NEW.submitted_at
       AND OLD.finished_at IS NOT DISTINCT FROM NEW.finished_at
       AND OLD.status NOT IN ('completed', 'failed') AND NEW.status NOT IN ('completed', 'failed') THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM portal_request_days_add(OLD, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM portal_request_days_add(NEW, 1);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER request_days_insert_delete
    AFTER INSERT OR DELETE ON subscription_requests
    FOR EACH ROW EXECUTE FUNCTION portal_request_days();
CREATE TRIGGER request_days_update
    AFTER UPDATE OF status, submitted_at, finished_at ON subscription_requests
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.submitted_at IS DISTINCT FROM NEW.submitted_at
                       OR OLD.finished_at IS DISTINCT FROM NEW.finished_at)
    EXECUTE FUNCTION portal_request_days();

-- "Needs attention" counts the requests whose outcome email gave up without reading the others.
CREATE INDEX subscription_requests_notification_failed ON subscription_requests (id)
    WHERE notification_status = 'failed';

-- Only a job due now wakes the listening workers (within a second, for clocks a little apart):
-- a job queued for later would wake them for nothing, and every notification is queued under
-- a lock the whole database shares at commit.
DROP TRIGGER jobs_queued_notify ON jobs;
CREATE TRIGGER jobs_queued_notify
    AFTER INSERT OR UPDATE OF status, run_at ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued'
                       AND NEW.run_at <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint + 1000)
    EXECUTE FUNCTION portal_job_queued();
