-- Whether a template object's name or properties name the tenant (`{tenant.…}`), worked out
-- once when the template is stored, so that cloning rewrites only the objects that need it.
ALTER TABLE template_objects ADD COLUMN has_placeholders BIGINT NOT NULL DEFAULT 0;
UPDATE template_objects SET has_placeholders = 1
WHERE name LIKE '%{tenant.%' OR properties LIKE '%{tenant.%';
