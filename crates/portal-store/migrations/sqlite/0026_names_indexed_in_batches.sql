-- A submission's commit no longer writes its name into the two indexes of the name search
-- (a page of each of its trigrams' lists in name_trigrams, and an FTS5 segment of its own in
-- request_names: about a third of the pages the commit wrote). It notes the request as not
-- yet indexed, and the portal indexes the noted requests a batch at a time
-- (`Store::index_names`), writing each list's last page and one FTS5 segment once for the
-- whole batch. Until then a name search reads the noted requests' names beside the indexes,
-- so it misses nothing meanwhile.
--
-- A request noted here is not in request_names (FTS5 cannot refuse a second row of it);
-- name_trigrams may hold it already (its inserts ignore what is there).
CREATE TABLE names_unindexed (
    request_id TEXT PRIMARY KEY REFERENCES subscription_requests (id) ON DELETE CASCADE
) WITHOUT ROWID;

DROP TRIGGER name_trigrams_insert;
DROP TRIGGER request_names_insert;

CREATE TRIGGER names_unindexed_insert AFTER INSERT ON subscription_requests BEGIN
    INSERT INTO names_unindexed (request_id) VALUES (new.id);
END;

-- A name changed before its request was indexed is indexed by the batch, as it is then.
DROP TRIGGER request_names_update;
CREATE TRIGGER request_names_update AFTER UPDATE OF tenant_name_key ON subscription_requests BEGIN
    DELETE FROM request_names WHERE request_id = old.id;
    INSERT INTO request_names (request_id, name_key)
        SELECT new.id, new.tenant_name_key
        WHERE NOT EXISTS (SELECT 1 FROM names_unindexed WHERE request_id = new.id);
END;
