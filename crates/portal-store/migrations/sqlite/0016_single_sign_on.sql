-- Staff single sign-on over OpenID Connect. An account made at its first sign-in there keeps
-- the provider's subject (`issuer` and `sub`, one text) and has no password.
ALTER TABLE users ADD COLUMN oidc_subject TEXT NULL;
CREATE UNIQUE INDEX users_oidc_subject ON users (oidc_subject);

-- A sign-in sent to the identity provider, by the hash of its `state`, until it comes back
-- (used once): the nonce its ID token must carry, the PKCE verifier, and the page to return to.
CREATE TABLE oidc_sign_ins (
    state_hash    TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next          TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
