-- A message's single-use links (confirmation, status, invitation, password reset) are erased
-- from its stored bodies once it is sent or given up: 1 when that is done. Messages from
-- before are erased by the first start after the upgrade.
ALTER TABLE outbox ADD COLUMN links_erased BIGINT NOT NULL DEFAULT 0;

-- A registration whose contact address is not confirmed holds no names any more (they are
-- taken when it is): the holds of those waiting at the upgrade go.
DELETE FROM reserved_names WHERE held_until IS NOT NULL AND request_id IN
    (SELECT id FROM subscription_requests WHERE status = 'pending_verification');
