-- Tenant Creation Management filters requests by template, newest first.
CREATE INDEX subscription_requests_template ON subscription_requests (template_id, id);
-- A search by part of the name walks the ids newest first and tests the name in the index,
-- reading a request's row only when its name matches.
CREATE INDEX subscription_requests_id_name ON subscription_requests (id, tenant_name_key);
