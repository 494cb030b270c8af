-- A tenant's status beyond provisioning and active (suspended, closed, purged): why and by
-- whom it last changed, and when a closed tenant's data is to be purged.
ALTER TABLE tenants ADD COLUMN status_reason TEXT NULL;
ALTER TABLE tenants ADD COLUMN status_changed_at BIGINT NULL;
ALTER TABLE tenants ADD COLUMN status_changed_by TEXT NULL;
ALTER TABLE tenants ADD COLUMN purge_after BIGINT NULL;
-- When the purge of a closed tenant began: from then on it cannot be reopened.
ALTER TABLE tenants ADD COLUMN purge_started_at BIGINT NULL;
