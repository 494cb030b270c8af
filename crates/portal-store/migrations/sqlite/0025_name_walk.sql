-- A search by part of a tenant's name walks its matches newest first: every three-character
-- piece (trigram) of every name, with its request's id, in an index ordered by (trigram, id).
-- The search steps down the lists of its pattern's trigrams together, from the newest id, and
-- checks only the ids found in every list; a page of a common name's matches is found after a
-- few dozen steps however old they are and however many requests there are. Kept by triggers
-- in the same transaction as every change to a request's name.

-- The positions a trigram may start at (SQLite's triggers cannot hold a recursive query):
-- names are at most 64 characters, so 256 leave room.
CREATE TABLE name_positions (position INTEGER PRIMARY KEY);
INSERT INTO name_positions (position)
    WITH RECURSIVE p(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM p WHERE n < 256)
    SELECT n FROM p;

CREATE TABLE name_trigrams (
    trigram    TEXT NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (trigram, request_id)
) WITHOUT ROWID;

INSERT OR IGNORE INTO name_trigrams (trigram, request_id)
    SELECT substr(r.tenant_name_key, p.position, 3), r.id
    FROM subscription_requests r JOIN name_positions p
        ON p.position <= length(r.tenant_name_key) - 2;

CREATE TRIGGER name_trigrams_insert AFTER INSERT ON subscription_requests BEGIN
    INSERT OR IGNORE INTO name_trigrams (trigram, request_id)
        SELECT substr(new.tenant_name_key, position, 3), new.id FROM name_positions
        WHERE position <= length(new.tenant_name_key) - 2;
END;

CREATE TRIGGER name_trigrams_update AFTER UPDATE OF tenant_name_key ON subscription_requests
WHEN old.tenant_name_key IS NOT new.tenant_name_key BEGIN
    DELETE FROM name_trigrams WHERE request_id = old.id AND trigram IN (
        SELECT substr(old.tenant_name_key, position, 3) FROM name_positions
        WHERE position <= length(old.tenant_name_key) - 2);
    INSERT OR IGNORE INTO name_trigrams (trigram, request_id)
        SELECT substr(new.tenant_name_key, position, 3), new.id FROM name_positions
        WHERE position <= length(new.tenant_name_key) - 2;
END;

CREATE TRIGGER name_trigrams_delete AFTER DELETE ON subscription_requests BEGIN
    DELETE FROM name_trigrams WHERE request_id = old.id AND trigram IN (
        SELECT substr(old.tenant_name_key, position, 3) FROM name_positions
        WHERE position <= length(old.tenant_name_key) - 2);
END;
