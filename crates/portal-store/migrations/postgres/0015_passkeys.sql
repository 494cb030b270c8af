-- Passkeys (WebAuthn): a user may register several, each with a name of their own. `passkey`
-- is the credential as the WebAuthn library keeps it (JSON: its id, public key and counter);
-- `credential_id` (base64url) is unique across every account.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    credential_id TEXT NOT NULL,
    name          TEXT NOT NULL,
    passkey       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NULL
);
CREATE UNIQUE INDEX passkeys_credential ON passkeys (credential_id);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A WebAuthn ceremony between its options and the browser's answer (a registration or a
-- sign-in), by the hash of its secret, used once. `state` is the library's state for it;
-- `challenge_hash` names the waiting sign-in a passkey finishes as a second factor.
CREATE TABLE webauthn_ceremonies (
    id_hash        TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id),
    purpose        TEXT NOT NULL,
    state          TEXT NOT NULL,
    name           TEXT NULL,
    challenge_hash TEXT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_user ON webauthn_ceremonies (user_id);
