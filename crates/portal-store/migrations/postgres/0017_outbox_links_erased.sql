-- A message's single-use links (confirmation, status, invitation, password reset) are erased
-- from its stored bodies once it is sent or given up: 1 when that is done. Messages from
-- before are erased by the first start after the upgrade.
ALTER TABLE outbox ADD COLUMN links_erased BIGINT NOT NULL DEFAULT 0;
