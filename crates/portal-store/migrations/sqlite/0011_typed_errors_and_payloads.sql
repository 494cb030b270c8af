-- A request's error is kept as its kind beside its words: the portal renders the fixed
-- notes (a name taken at confirmation, an address never confirmed) itself, and keeps only
-- the words of a failure or of a person's rejection.
ALTER TABLE subscription_requests ADD COLUMN error_kind TEXT NULL;

UPDATE subscription_requests SET error_kind = 'name_taken', error = NULL
WHERE error = 'A name of this request is already used by another tenant or request.';

UPDATE subscription_requests SET error_kind = 'unconfirmed', error = NULL
WHERE error = 'The contact address was not confirmed in time.';

UPDATE subscription_requests SET error_kind = 'rejected'
WHERE error IS NOT NULL AND error_kind IS NULL AND status = 'rejected';

UPDATE subscription_requests SET error_kind = 'failed'
WHERE error IS NOT NULL AND error_kind IS NULL;

-- Every job's payload is a JSON document of its kind: the two kinds whose payload was a bare
-- id get theirs wrapped.
UPDATE jobs SET payload = '{"request_id":"' || payload || '"}'
WHERE kind = 'expire_registration' AND payload NOT LIKE '{%';

UPDATE jobs SET payload = '{"mail_id":"' || payload || '"}'
WHERE kind = 'send_mail' AND payload NOT LIKE '{%';

UPDATE jobs SET payload = '{}' WHERE kind = 'noop' AND payload NOT LIKE '{%';
