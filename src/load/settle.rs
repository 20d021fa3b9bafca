//! Settling a scratch load: the expressions PostgreSQL prints back do not
//! always parse back to themselves. A CHECK `e IN ('a', 'b')` on a varchar
//! column prints as `(e)::text = ANY ((ARRAY['a'::character varying,
//! ...])::text[])`, which a plan then writes on the target, where it is read
//! back as `ARRAY[('a'::character varying)::text, ...]`; a view's UNION
//! branch with an unnamed `NULL` gains a column alias the same way. The
//! target never matches what the schema printed, and every plan repeats the
//! change.
//!
//! So after SQL is loaded into a scratch database, each such expression is
//! defined once more from its own printed text, as a plan would define it on
//! the target: views (CREATE OR REPLACE with the same options), CHECK
//! constraints of tables and domains, policies' expressions, and the
//! expressions and predicates of indexes that no constraint owns. Printing
//! is a fixpoint after one round, so both sides then read alike. An object
//! that cannot be defined again from its text is left as it was; a
//! database with event triggers is left whole (they would fire).

use anyhow::{Context, Result};
use tokio_postgres::Client;

/// One PL/pgSQL block over the user schemas: each object in a
/// subtransaction of its own, so that one that fails is left as it was.
const SETTLE: &str = r#"
DO $stratum_settle$
DECLARE
    r record;
BEGIN
    -- DDL here would fire the schema's own event triggers.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtenabled <> 'D') THEN
        RETURN;
    END IF;
    FOR r IN
        SELECT c.oid::regclass::text AS rel, pg_catalog.pg_get_viewdef(c.oid) AS def,
               coalesce(c.reloptions, '{}') AS options
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'v' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY c.oid
    LOOP
        BEGIN
            EXECUTE format('CREATE OR REPLACE VIEW %s%s AS %s', r.rel,
                CASE WHEN cardinality(r.options) > 0
                     THEN ' WITH (' || array_to_string(r.options, ', ') || ')' ELSE '' END,
                rtrim(r.def, '; '));
        EXCEPTION WHEN others THEN NULL;
        END;
    END LOOP;

    FOR r IN
        SELECT co.conname, co.conrelid::regclass::text AS rel, pg_catalog.pg_get_constraintdef(co.oid) AS def,
               pg_catalog.obj_description(co.oid, 'pg_constraint') AS note
        FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_class c ON c.oid = co.conrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE co.contype = 'c' AND co.conislocal AND co.coninhcount = 0
          AND c.relkind IN ('r', 'f') AND NOT c.relhassubclass
          AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
    LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %I %s',
                r.rel, r.conname, r.conname, r.def);
            IF r.note IS NOT NULL THEN
                EXECUTE format('COMMENT ON CONSTRAINT %I ON %s IS %L', r.conname, r.rel, r.note);
            END IF;
        EXCEPTION WHEN others THEN NULL;
        END;
    END LOOP;

    FOR r IN
        SELECT co.conname, co.contypid::regtype::text AS dom, pg_catalog.pg_get_constraintdef(co.oid) AS def,
               pg_catalog.obj_description(co.oid, 'pg_constraint') AS note
        FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_type t ON t.oid = co.contypid
        JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
        WHERE co.contype = 'c' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_type'::regclass
                          AND d.objid = t.oid AND d.deptype = 'e')
    LOOP
        BEGIN
            EXECUTE format('ALTER DOMAIN %s DROP CONSTRAINT %I', r.dom, r.conname);
            EXECUTE format('ALTER DOMAIN %s ADD CONSTRAINT %I %s', r.dom, r.conname, r.def);
            IF r.note IS NOT NULL THEN
                EXECUTE format('COMMENT ON CONSTRAINT %I ON DOMAIN %s IS %L', r.conname, r.dom, r.note);
            END IF;
        EXCEPTION WHEN others THEN NULL;
        END;
    END LOOP;

    FOR r IN
        SELECT p.polname, p.polrelid::regclass::text AS rel,
               pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual,
               pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS checked
        FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
    LOOP
        BEGIN
            IF r.qual IS NOT NULL THEN
                EXECUTE format('ALTER POLICY %I ON %s USING (%s)', r.polname, r.rel, r.qual);
            END IF;
            IF r.checked IS NOT NULL THEN
                EXECUTE format('ALTER POLICY %I ON %s WITH CHECK (%s)', r.polname, r.rel, r.checked);
            END IF;
        EXCEPTION WHEN others THEN NULL;
        END;
    END LOOP;

    FOR r IN
        SELECT i.indexrelid::regclass::text AS idx, pg_catalog.pg_get_indexdef(i.indexrelid) AS def,
               pg_catalog.obj_description(i.indexrelid, 'pg_class') AS note
        FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
        JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL)
          AND NOT i.indisclustered AND NOT i.indisreplident AND i.indisvalid
          AND c.relkind = 'i' AND t.relkind IN ('r', 'm') AND NOT c.relispartition
          AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                          WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = c.oid)
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                          WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                            AND d.deptype IN ('i', 'e', 'P', 'S'))
    LOOP
        BEGIN
            EXECUTE format('DROP INDEX %s', r.idx);
            EXECUTE r.def;
            IF r.note IS NOT NULL THEN
                EXECUTE format('COMMENT ON INDEX %s IS %L', r.idx, r.note);
            END IF;
        EXCEPTION WHEN others THEN NULL;
        END;
    END LOOP;
END
$stratum_settle$;
"#;

/// Defines the printed expressions of the scratch database `client` is on
/// once more from their own text (see the module's comment).
pub async fn settle(client: &Client) -> Result<()> {
    client
        .batch_execute(SETTLE)
        .await
        .context("settling the scratch database's printed expressions")
}
