-- Schemas. Everything the application owns lives in `app`.
-- Files in schema/ may be listed in any order: stratum sorts statements by dependency.
CREATE SCHEMA app;

COMMENT ON SCHEMA app IS 'Application data: organizations, users, projects, billing';
