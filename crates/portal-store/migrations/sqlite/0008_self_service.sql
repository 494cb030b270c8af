-- Self-service registration. A template is offered on the public registration page only when
-- `public` is 1.
ALTER TABLE templates ADD COLUMN public BIGINT NOT NULL DEFAULT 0;

-- The links emailed to a prospect: `verify` confirms the contact address once, before it
-- expires; `status` shows the request's progress. Only the SHA-256 of a link's token is kept.
CREATE TABLE registration_links (
    token_hash TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES subscription_requests (id),
    purpose    TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NULL
);
CREATE INDEX registration_links_request ON registration_links (request_id);

-- Old counters of attempts are swept by age.
CREATE INDEX sign_in_failures_age ON sign_in_failures (last_at);
