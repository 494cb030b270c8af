-- People and credentials: every person has an account of their own with an email address,
-- a status and a role; sessions and tokens have public ids so their owner can list and end
-- them; invitation and password-reset links are kept as hashes of their tokens.

-- An account's address (NULL for one made before accounts had one); `email_key` is its
-- lowercase form, unique. An invited account's `password_hash` is empty until the person
-- sets a password.
ALTER TABLE users ADD COLUMN email TEXT NULL;
ALTER TABLE users ADD COLUMN email_key TEXT NULL;
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE users ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_sign_in_at BIGINT NULL;
CREATE UNIQUE INDEX users_email_key ON users (email_key);
CREATE INDEX users_tenant ON users (tenant_id, id);

-- Sessions and sign-in tokens from before get no id: they end, and people sign in again.
DELETE FROM sessions;
ALTER TABLE sessions ADD COLUMN id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN client TEXT NULL;
ALTER TABLE sessions ADD COLUMN user_agent TEXT NULL;
CREATE UNIQUE INDEX sessions_id ON sessions (id);

-- A token with a `name` is a personal API token; one without came from a sign-in.
DELETE FROM api_tokens;
ALTER TABLE api_tokens ADD COLUMN id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN name TEXT NULL;
ALTER TABLE api_tokens ADD COLUMN client TEXT NULL;
ALTER TABLE api_tokens ADD COLUMN user_agent TEXT NULL;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT NULL;
CREATE UNIQUE INDEX api_tokens_id ON api_tokens (id);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Single-use links that let a person set a password: an invitation or a reset.
CREATE TABLE account_links (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    purpose    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NULL
);
CREATE INDEX account_links_user ON account_links (user_id);

-- A request may name its administrator's address instead of a password: the administrator
-- is then invited once the tenant is completed.
ALTER TABLE subscription_requests ADD COLUMN admin_email TEXT NULL;
