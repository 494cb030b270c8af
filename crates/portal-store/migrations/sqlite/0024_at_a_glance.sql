-- The dashboard's figures per UTC day (days since 1970-01-01), kept by triggers in the same
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
-- plus their first two digits (1234 ms: 412), which sorts as the times do and is at most 10%
-- wide.
CREATE TABLE tenant_time_days (
    day      BIGINT NOT NULL,
    bucket   BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (day, bucket)
);

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
) GROUP BY day;

INSERT INTO tenant_time_days (day, bucket, requests)
SELECT finished_at / 86400000,
       length(CAST(max(0, finished_at - submitted_at) AS TEXT)) * 100
           + CAST(substr(CAST(max(0, finished_at - submitted_at) AS TEXT), 1, 2) AS INTEGER),
       COUNT(*)
FROM subscription_requests WHERE status = 'completed' AND finished_at IS NOT NULL
GROUP BY 1, 2;

-- A request's contribution is taken away as it was and added back as it is.
CREATE TRIGGER request_days_insert AFTER INSERT ON subscription_requests BEGIN
    INSERT INTO request_days (day, submitted, completed, failed)
        VALUES (new.submitted_at / 86400000, 1, 0, 0)
        ON CONFLICT (day) DO UPDATE SET submitted = submitted + 1;
    INSERT INTO request_days (day, submitted, completed, failed)
        SELECT new.finished_at / 86400000, 0, 1, 0
        WHERE new.status = 'completed' AND new.finished_at IS NOT NULL
        ON CONFLICT (day) DO UPDATE SET completed = completed + 1;
    INSERT INTO request_days (day, submitted, completed, failed)
        SELECT new.finished_at / 86400000, 0, 0, 1
        WHERE new.status = 'failed' AND new.finished_at IS NOT NULL
        ON CONFLICT (day) DO UPDATE SET failed = failed + 1;
    INSERT INTO tenant_time_days (day, bucket, requests)
        SELECT new.finished_at / 86400000,
               length(CAST(max(0, new.finished_at - new.submitted_at) AS TEXT)) * 100
                   + CAST(substr(CAST(max(0, new.finished_at - new.submitted_at) AS TEXT), 1, 2) AS INTEGER),
               1
        WHERE new.status = 'completed' AND new.finished_at IS NOT NULL
        ON CONFLICT (day, bucket) DO UPDATE SET requests = requests + 1;
END;

CREATE TRIGGER request_days_delete AFTER DELETE ON subscription_requests BEGIN
    UPDATE request_days SET submitted = submitted - 1 WHERE day = old.submitted_at / 86400000;
    UPDATE request_days SET completed = completed - 1
        WHERE old.status = 'completed' AND day = old.finished_at / 86400000;
    UPDATE request_days SET failed = failed - 1
        WHERE old.status = 'failed' AND day = old.finished_at / 86400000;
    UPDATE tenant_time_days SET requests = requests - 1
        WHERE old.status = 'completed' AND day = old.finished_at / 86400000
          AND bucket = length(CAST(max(0, old.finished_at - old.submitted_at) AS TEXT)) * 100
              + CAST(substr(CAST(max(0, old.finished_at - old.submitted_at) AS TEXT), 1, 2) AS INTEGER);
END;

CREATE TRIGGER request_days_update AFTER UPDATE OF status, submitted_at, finished_at ON subscription_requests
WHEN old.status IS NOT new.status OR old.submitted_at IS NOT new.submitted_at
  OR old.finished_at IS NOT new.finished_at
BEGIN
    UPDATE request_days SET submitted = submitted - 1
        WHERE old.submitted_at IS NOT new.submitted_at AND day = old.submitted_at / 86400000;
    INSERT INTO request_days (day, submitted, completed, failed)
        SELECT new.submitted_at / 86400000, 1, 0, 0 WHERE old.submitted_at IS NOT new.submitted_at
        ON CONFLICT (day) DO UPDATE SET submitted = submitted + 1;
    UPDATE request_days SET completed = completed - 1
        WHERE old.status = 'completed' AND day = old.finished_at / 86400000;
    UPDATE request_days SET failed = failed - 1
        WHERE old.status = 'failed' AND day = old.finished_at / 86400000;
    UPDATE tenant_time_days SET requests = requests - 1
        WHERE old.status = 'completed' AND day = old.finished_at / 86400000
          AND bucket = length(CAST(max(0, old.finished_at - old.submitted_at) AS TEXT)) * 100
              + CAST(substr(CAST(max(0, old.finished_at - old.submitted_at) AS TEXT), 1, 2) AS INTEGER);
    INSERT INTO request_days (day, submitted, completed, failed)
        SELECT new.finished_at / 86400000, 0, 1, 0
        WHERE new.status = 'completed' AND new.finished_at IS NOT NULL
        ON CONFLICT (day) DO UPDATE SET completed = completed + 1;
    INSERT INTO request_days (day, submitted, completed, failed)
        SELECT new.finished_at / 86400000, 0, 0, 1
        WHERE new.status = 'failed' AND new.finished_at IS NOT NULL
        ON CONFLICT (day) DO UPDATE SET failed = failed + 1;
    INSERT INTO tenant_time_days (day, bucket, requests)
        SELECT new.finished_at / 86400000,
               length(CAST(max(0, new.finished_at - new.submitted_at) AS TEXT)) * 100
                   + CAST(substr(CAST(max(0, new.finished_at - new.submitted_at) AS TEXT), 1, 2) AS INTEGER),
               1
        WHERE new.status = 'completed' AND new.finished_at IS NOT NULL
        ON CONFLICT (day, bucket) DO UPDATE SET requests = requests + 1;
END;

-- "Needs attention" counts outbox messages that gave up without reading the sent ones.
CREATE INDEX outbox_failed ON outbox (created_at) WHERE status = 'failed';
