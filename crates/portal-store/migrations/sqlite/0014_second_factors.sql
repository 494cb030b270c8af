-- Second factors: an authenticator app (TOTP, RFC 6238) with its single-use recovery codes;
-- browser sign-ins waiting for the second factor; and whether a session or token passed one.

-- A user's authenticator app. `secret` is its base32 key; an enrolment is not in force until
-- a first code confirmed it (`confirmed_at`). `last_step` is the last 30-second step a code
-- was accepted for: a code works once, and no earlier one after it.
CREATE TABLE totp_factors (
    user_id      TEXT PRIMARY KEY REFERENCES users (id),
    secret       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT NULL,
    last_step    BIGINT NOT NULL DEFAULT 0
);

-- Ten codes made when the app is confirmed, shown once and kept as hashes; each works once.
CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    used_at   BIGINT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- A browser sign-in whose password was right, waiting for its second factor for a few
-- minutes and a few tries (by the hash of a secret the sign-in page carries).
CREATE TABLE sign_in_challenges (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    failures   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sign_in_challenges_user ON sign_in_challenges (user_id);

-- 1 when the sign-in that made the session or token passed a second factor (or the session
-- confirmed one): only such a sign-in makes personal API tokens.
ALTER TABLE sessions ADD COLUMN second_factor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN second_factor BIGINT NOT NULL DEFAULT 0;
