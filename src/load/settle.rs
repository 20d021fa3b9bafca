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
//! is a fixpoint after one round, so both sides then read alike.
//!
//! Only the forms known not to print back to themselves are touched: an
//! `ARRAY[...]` in any of them, and a set operation (UNION, INTERSECT,
//! EXCEPT) in a view. Each object defined again is an ALTER of its table in
//! a transaction of its own (10 000 of them in one would exhaust the lock
//! table), and one that cannot be defined again from its text is left as it
//! was. A database with event triggers is left whole (they would fire).

use anyhow::{Context, Result};
use tokio_postgres::Client;

/// One row per object to define again: the statements that do it, run
/// together (one implicit transaction).
const CANDIDATES: &str = r#"
SELECT format('CREATE OR REPLACE VIEW %s%s AS %s', c.oid::regclass,
         CASE WHEN c.reloptions IS NOT NULL
              THEN ' WITH (' || array_to_string(c.reloptions, ', ') || ')' ELSE '' END,
         rtrim(pg_catalog.pg_get_viewdef(c.oid), '; '))
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'v' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_get_viewdef(c.oid) ~ '(UNION|INTERSECT|EXCEPT|ARRAY\[)'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
UNION ALL
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %I %s', co.conrelid::regclass,
         co.conname, co.conname, pg_catalog.pg_get_constraintdef(co.oid))
       || coalesce(format('; COMMENT ON CONSTRAINT %I ON %s IS %L', co.conname, co.conrelid::regclass,
                          pg_catalog.obj_description(co.oid, 'pg_constraint')), '')
FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_class c ON c.oid = co.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE co.contype = 'c' AND co.conislocal AND co.coninhcount = 0
  AND c.relkind IN ('r', 'f') AND NOT c.relhassubclass
  AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_get_constraintdef(co.oid) LIKE '%ARRAY[%'
UNION ALL
SELECT format('ALTER DOMAIN %s DROP CONSTRAINT %I; ALTER DOMAIN %s ADD CONSTRAINT %I %s',
         co.contypid::regtype, co.conname, co.contypid::regtype, co.conname,
         pg_catalog.pg_get_constraintdef(co.oid))
       || coalesce(format('; COMMENT ON CONSTRAINT %I ON DOMAIN %s IS %L', co.conname, co.contypid::regtype,
                          pg_catalog.obj_description(co.oid, 'pg_constraint')), '')
FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_type t ON t.oid = co.contypid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE co.contype = 'c' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_get_constraintdef(co.oid) LIKE '%ARRAY[%'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_type'::regclass
                  AND d.objid = t.oid AND d.deptype = 'e')
UNION ALL
SELECT concat_ws('; ',
         CASE WHEN p.polqual IS NOT NULL THEN format('ALTER POLICY %I ON %s USING (%s)', p.polname,
              p.polrelid::regclass, pg_catalog.pg_get_expr(p.polqual, p.polrelid)) END,
         CASE WHEN p.polwithcheck IS NOT NULL THEN format('ALTER POLICY %I ON %s WITH CHECK (%s)', p.polname,
              p.polrelid::regclass, pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)) END)
FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  AND concat(pg_catalog.pg_get_expr(p.polqual, p.polrelid),
             pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)) LIKE '%ARRAY[%'
UNION ALL
SELECT format('DROP INDEX %s; %s', i.indexrelid::regclass, pg_catalog.pg_get_indexdef(i.indexrelid))
       || coalesce(format('; COMMENT ON INDEX %s IS %L', i.indexrelid::regclass,
                          pg_catalog.obj_description(i.indexrelid, 'pg_class')), '')
FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL)
  AND NOT i.indisclustered AND NOT i.indisreplident AND i.indisvalid
  AND c.relkind = 'i' AND t.relkind IN ('r', 'm') AND NOT c.relispartition
  AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_get_indexdef(i.indexrelid) LIKE '%ARRAY[%'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = c.oid)
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                    AND d.deptype IN ('i', 'e', 'P', 'S'))
"#;

/// Defines the printed expressions of the scratch database `client` is on
/// once more from their own text (see the module's comment).
pub async fn settle(client: &Client) -> Result<()> {
    let triggers =
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtenabled <> 'D')";
    if client.query_one(triggers, &[]).await?.get::<_, bool>(0) {
        return Ok(());
    }
    let rows = client
        .query(CANDIDATES, &[])
        .await
        .context("finding the scratch database's printed expressions to settle")?;
    for row in rows {
        let sql: String = row.get(0);
        // Several statements in one string run as one transaction: an
        // object that cannot be defined again is left as it was.
        let _ = client.batch_execute(&sql).await;
    }
    Ok(())
}
