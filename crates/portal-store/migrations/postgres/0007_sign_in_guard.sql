-- Failed sign-ins counted per account (its name, lowercase) and per client address, so that
-- guesses are slowed down and then locked out, on every instance sharing the database.
CREATE TABLE sign_in_failures (
    scope        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    failures     BIGINT NOT NULL,
    last_at      BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    PRIMARY KEY (scope, subject)
);
