-- A search by part of a tenant's name walks its matches newest first: every three-character
-- piece (trigram) of every name, with its request's id, in an index ordered by (trigram, id).
-- The search steps down the lists of its pattern's trigrams together, from the newest id, and
-- checks only the ids found in every list; a page of a common name's matches is found after a
-- few dozen steps however old they are and however many requests there are (the GIN index of
-- 0023 finds the matches of a rare name, but not in order). Kept by a trigger in the same
-- transaction as every change to a request's name.
CREATE TABLE name_trigrams (
    trigram    TEXT NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (trigram, request_id)
);

INSERT INTO name_trigrams (trigram, request_id)
    SELECT DISTINCT substr(r.tenant_name_key, p, 3), r.id
    FROM subscription_requests r, generate_series(1, char_length(r.tenant_name_key) - 2) p;

CREATE FUNCTION portal_name_trigrams() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM name_trigrams WHERE request_id = OLD.id AND trigram IN (
            SELECT substr(OLD.tenant_name_key, p, 3)
            FROM generate_series(1, char_length(OLD.tenant_name_key) - 2) p);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO name_trigrams (trigram, request_id)
            SELECT DISTINCT substr(NEW.tenant_name_key, p, 3), NEW.id
            FROM generate_series(1, char_length(NEW.tenant_name_key) - 2) p
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER name_trigrams_insert_delete AFTER INSERT OR DELETE ON subscription_requests
    FOR EACH ROW EXECUTE FUNCTION portal_name_trigrams();
CREATE TRIGGER name_trigrams_update AFTER UPDATE OF tenant_name_key ON subscription_requests
    FOR EACH ROW WHEN (OLD.tenant_name_key IS DISTINCT FROM NEW.tenant_name_key)
    EXECUTE FUNCTION portal_name_trigrams();
