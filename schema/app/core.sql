-- Core tenancy model: organizations, their users and projects.

CREATE TYPE app.membership_role AS ENUM ('owner', 'admin', 'member');

CREATE TABLE app.organizations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    slug text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE app.organizations IS 'A customer account; owns projects and invoices';

CREATE TABLE app.users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    display_name text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Emails are unique regardless of case.
CREATE UNIQUE INDEX users_email_lower_key ON app.users (lower(email));

COMMENT ON COLUMN app.users.email IS 'Login address, stored as typed; unique case-insensitively';

CREATE TABLE app.memberships (
    organization_id bigint NOT NULL REFERENCES app.organizations (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES app.users (id) ON DELETE CASCADE,
    role app.membership_role NOT NULL DEFAULT 'member',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);

CREATE INDEX memberships_user_id_idx ON app.memberships (user_id);

CREATE TABLE app.projects (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES app.organizations (id) ON DELETE CASCADE,
    name text NOT NULL,
    archived_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Most queries only look at live projects.
CREATE INDEX projects_active_organization_id_idx ON app.projects (organization_id)
    WHERE archived_at IS NULL;

COMMENT ON COLUMN app.projects.archived_at IS 'Set when archived; NULL means active';

CREATE TRIGGER users_touch_updated_at
    BEFORE UPDATE ON app.users
    FOR EACH ROW
    EXECUTE FUNCTION app.touch_updated_at();

CREATE TRIGGER projects_touch_updated_at
    BEFORE UPDATE ON app.projects
    FOR EACH ROW
    EXECUTE FUNCTION app.touch_updated_at();
