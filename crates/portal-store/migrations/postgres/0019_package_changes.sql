-- Each configuration object cloned from a template keeps its origin (its name in the template,
-- placeholders unfilled) and the properties the template gave it, so that a change of service
-- package can tell the tenant's own changes from the template's. Objects cloned before could
-- not be changed by anyone, so their properties are the template's.
ALTER TABLE tenant_objects ADD COLUMN origin TEXT NULL;
ALTER TABLE tenant_objects ADD COLUMN template_properties TEXT NULL;
UPDATE tenant_objects SET template_properties = properties,
    origin = (SELECT o.name FROM tenants t JOIN template_objects o
              ON o.template_id = t.template_id AND o.version = t.template_version
              WHERE t.id = tenant_objects.tenant_id AND o.position = tenant_objects.position);

-- A change of a tenant's service package: its plan is frozen when it is accepted, and its steps
-- run in order, each one transaction (`steps_done` of them are done).
CREATE TABLE package_changes (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id),
    from_template_id   TEXT NOT NULL,
    from_version       BIGINT NOT NULL,
    to_template_id     TEXT NOT NULL,
    to_version         BIGINT NOT NULL,
    status             TEXT NOT NULL,
    steps_done         BIGINT NOT NULL DEFAULT 0,
    requested_by       TEXT NULL,
    created_at         BIGINT NOT NULL,
    started_at         BIGINT NULL,
    finished_at        BIGINT NULL,
    error              TEXT NULL
);
CREATE INDEX package_changes_by_tenant ON package_changes (tenant_id, created_at);

-- What a change does with each object it touches or keeps: the object after (none for a
-- removal) and before (none for an addition), so that a failed change is undone whole.
CREATE TABLE package_change_items (
    change_id                 TEXT NOT NULL REFERENCES package_changes (id),
    seq                       BIGINT NOT NULL,
    op                        TEXT NOT NULL,
    position                  BIGINT NOT NULL,
    kind                      TEXT NOT NULL,
    name                      TEXT NULL,
    properties                TEXT NULL,
    origin                    TEXT NULL,
    before_name               TEXT NULL,
    before_properties         TEXT NULL,
    before_origin             TEXT NULL,
    before_template_properties TEXT NULL,
    PRIMARY KEY (change_id, seq)
);
CREATE INDEX package_change_items_by_op ON package_change_items (change_id, op, position);

-- When the portal gave up sending a message (the daily digest lists those of its day).
ALTER TABLE outbox ADD COLUMN failed_at BIGINT NULL;
