-- Read models.

CREATE VIEW app.active_projects AS
    SELECT p.id,
           p.organization_id,
           o.name AS organization_name,
           p.name,
           p.created_at
    FROM app.projects p
    JOIN app.organizations o ON o.id = p.organization_id
    WHERE p.archived_at IS NULL;

COMMENT ON VIEW app.active_projects IS 'Projects that are not archived, with their organization name';
