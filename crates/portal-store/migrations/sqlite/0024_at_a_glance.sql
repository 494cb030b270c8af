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

-- Writing a request's contribution here, counted `sign` times (1 adds it, -1 takes it away),
-- updates the three tables: SQLite's triggers cannot call a function, so this view, which holds
-- nothing, stands in for one.
CREATE VIEW request_day_contributions (status, submitted_at, finished_at, sign) AS
    SELECT NULL, NULL, NULL, NULL WHERE 0;
CREATE TRIGGER request_day_contributions_add INSTEAD OF INSERT ON request_day_contributions BEGIN
    INSERT INTO request_statuses (status, requests) VALUES (new.status, new.sign)
        ON CONFLICT (status) DO UPDATE SET requests = requests + excluded.requests;
    INSERT INTO request_days (day, submitted, completed, failed)
        VALUES (new.submitted_at / 86400000, new.sign, 0, 0)
        ON CONFLICT (day) DO UPDATE SET submitted = submitted + excluded.submitted;
    INSERT INTO request_days (day, submitted, completed, failed)
        SELECT new.finished_at / 86400000, 0,
               CASE WHEN new.status = 'completed' THEN new.sign ELSE 0 END,
               CASE WHEN new.status = 'failed' THEN new.sign ELSE 0 END
        WHERE new.status IN ('completed', 'failed') AND new.finished_at IS NOT NULL
        ON CONFLICT (day) DO UPDATE SET completed = completed + excluded.completed,
                                        failed = failed + excluded.failed;
    INSERT INTO tenant_time_days (day, bucket, requests)
        SELECT day, digits * 100 + CASE WHEN lead < 20 THEN lead
                                        WHEN lead < 50 THEN lead - lead % 2
                                        ELSE lead - lead % 5 END, sign
        FROM (SELECT day, length(ms) AS digits, CAST(substr(ms, 1, 2) AS INTEGER) AS lead, sign
              FROM (SELECT new.finished_at / 86400000 AS day, new.sign AS sign,
                           CAST(max(0, new.finished_at - new.submitted_at) AS TEXT) AS ms))
        WHERE new.status = 'completed' AND new.finished_at IS NOT NULL
        ON CONFLICT (day, bucket) DO UPDATE SET requests = requests + excluded.requests;
END;

-- The requests there are now.
INSERT INTO request_day_contributions (status, submitted_at, finished_at, sign)
    SELECT status, submitted_at, finished_at, 1 FROM subscription_requests;

-- A request's contribution is taken away as it was and added back as it is.
CREATE TRIGGER request_days_insert AFTER INSERT ON subscription_requests BEGIN
    INSERT INTO request_day_contributions VALUES (new.status, new.submitted_at, new.finished_at, 1);
END;
CREATE TRIGGER request_days_delete AFTER DELETE ON subscription_requests BEGIN
    INSERT INTO request_day_contributions VALUES (old.status, old.submitted_at, old.finished_at, -1);
END;
CREATE TRIGGER request_days_update AFTER UPDATE OF status, submitted_at, finished_at ON subscription_requests
WHEN old.status IS NOT new.status OR old.submitted_at IS NOT new.submitted_at
  OR old.finished_at IS NOT new.finished_at
BEGIN
    INSERT INTO request_day_contributions VALUES (old.status, old.submitted_at, old.finished_at, -1);
    INSERT INTO request_day_contributions VALUES (new.status, new.submitted_at, new.finished_at, 1);
END;

-- "Needs attention" counts the requests whose outcome email gave up without reading the others.
CREATE INDEX subscription_requests_notification_failed ON subscription_requests (id)
    WHERE notification_status = 'failed';
