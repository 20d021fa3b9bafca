-- Billing: one invoice per organization per billing period.

CREATE TABLE app.invoices (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES app.organizations (id),
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    currency char(3) NOT NULL DEFAULT 'EUR',
    status text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'open', 'paid', 'void')),
    issued_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX invoices_organization_id_idx ON app.invoices (organization_id);

COMMENT ON TABLE app.invoices IS 'Invoices sent to organizations';
COMMENT ON COLUMN app.invoices.amount_cents IS 'Total in minor units of currency (cents)';
