-- Outgoing mail, written in the same transaction as what it tells of, sent by a job.
CREATE TABLE outbox (
    id         TEXT PRIMARY KEY,
    request_id TEXT NULL REFERENCES subscription_requests (id),
    kind       TEXT NOT NULL,
    sender     TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body_text  TEXT NOT NULL,
    body_html  TEXT NOT NULL,
    status     TEXT NOT NULL,
    attempts   BIGINT NOT NULL,
    last_error TEXT NULL,
    created_at BIGINT NOT NULL,
    sent_at    BIGINT NULL
);
CREATE INDEX outbox_request ON outbox (request_id);

-- Every attempt to send a message, and how it ended.
CREATE TABLE mail_attempts (
    id        TEXT PRIMARY KEY,
    outbox_id TEXT NOT NULL REFERENCES outbox (id),
    at        BIGINT NOT NULL,
    outcome   TEXT NOT NULL,
    error     TEXT NULL
);
CREATE INDEX mail_attempts_outbox ON mail_attempts (outbox_id, at);
