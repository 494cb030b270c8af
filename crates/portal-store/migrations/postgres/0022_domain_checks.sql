-- Domain ownership of self-service requests (when the self-service policy asks for it): the
-- token the prospect publishes as a DNS TXT record at `_portal-verify.<upn suffix>`, made when
-- the contact address is confirmed; the last check and what it found; when the domain was
-- verified (the record seen, or staff vouching, `verified_by`).
CREATE TABLE domain_checks (
    request_id  TEXT PRIMARY KEY,
    token       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    checked_at  BIGINT NULL,
    note        TEXT NULL,
    verified_at BIGINT NULL,
    verified_by TEXT NULL
);
