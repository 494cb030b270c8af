-- Tenant Creation Management filters requests by template, newest first.
CREATE INDEX subscription_requests_template ON subscription_requests (template_id, id);
