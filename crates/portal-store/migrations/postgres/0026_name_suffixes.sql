-- A search whose pattern is in few names finds them through the names' suffixes: every name's
-- key from each of its characters on (cut to 16 characters), with its request's id, ordered
-- bytewise. The suffixes that begin with a pattern are one range of that order, so the names
-- holding it are read as one stretch of the index, as long as their number and no longer
-- however many requests there are. It replaces the GIN index of 0023, whose lists of common
-- trigrams (every name holds `ten` when every name is a tenant) it had to intersect in full.
-- A suffix shorter than three characters is left out: the search looks here only for three
-- or more. Kept by the same trigger as the trigram lists of 0025.
-- The requests are held still from the first read of their names to the new trigger, so that
-- none written by another process meanwhile goes without its suffixes.
LOCK TABLE subscription_requests IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE name_suffixes (
    suffix     TEXT COLLATE "C" NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (suffix, request_id)
);

INSERT INTO name_suffixes (suffix, request_id)
    SELECT DISTINCT substr(r.tenant_name_key, p, 16), r.id
    FROM subscription_requests r, generate_series(1, char_length(r.tenant_name_key) - 2) p;

DROP INDEX subscription_requests_name_trigrams;

DROP TRIGGER name_trigrams_insert_delete ON subscription_requests;
DROP TRIGGER name_trigrams_update ON subscription_requests;
DROP FUNCTION portal_name_trigrams();

CREATE FUNCTION portal_name_pieces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM name_trigrams WHERE request_id = OLD.id AND trigram IN (
            SELECT substr(OLD.tenant_name_key, p, 3)
            FROM generate_series(1, char_length(OLD.tenant_name_key) - 2) p);
        DELETE FROM name_suffixes WHERE request_id = OLD.id AND suffix IN (
            SELECT substr(OLD.tenant_name_key, p, 16)
            FROM generate_series(1, char_length(OLD.tenant_name_key) - 2) p);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO name_trigrams (trigram, request_id)
            SELECT DISTINCT substr(NEW.tenant_name_key, p, 3), NEW.id
            FROM generate_series(1, char_length(NEW.tenant_name_key) - 2) p
            ON CONFLICT DO NOTHING;
        INSERT INTO name_suffixes (suffix, request_id)
            SELECT DISTINCT substr(NEW.tenant_name_key, p, 16), NEW.id
            FROM generate_series(1, char_length(NEW.tenant_name_key) - 2) p
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER name_pieces_insert_delete AFTER INSERT OR DELETE ON subscription_requests
    FOR EACH ROW EXECUTE FUNCTION portal_name_pieces();
CREATE TRIGGER name_pieces_update AFTER UPDATE OF tenant_name_key ON subscription_requests
    FOR EACH ROW WHEN (OLD.tenant_name_key IS DISTINCT FROM NEW.tenant_name_key)
    EXECUTE FUNCTION portal_name_pieces();
