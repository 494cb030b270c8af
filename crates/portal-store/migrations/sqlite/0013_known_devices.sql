-- Browsers that signed in to an account before, by the hash of a long-lived cookie: the
-- account's last-resort lock after many failures from many places does not keep them out.
CREATE TABLE known_devices (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
CREATE INDEX known_devices_user ON known_devices (user_id);
