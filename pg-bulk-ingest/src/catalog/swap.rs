//! What a swap relies on: what the new table is given (owner, privileges,
//! comments, dependent views, settings), what depends on the live table, the
//! settings a new table would not get, and the [`Basis`] checked again under
//! the lock.

use postgres::GenericClient;

use super::{read_facts, read_table, Facts, LiveTable, Relation};
use crate::table::TableDef;

/// What a swap must carry from the live table to its replacement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Carried {
    /// The owner's role name.
    pub owner: String,
    /// Table privileges in ACL order (`None`: the default ACL).
    pub grants: Option<Vec<Grant>>,
    /// Column privileges: `(column, grantee, privilege, grantable)`.
    pub column_grants: Vec<(String, Option<String>, String, bool)>,
    /// The table's comment.
    pub comment: Option<String>,
    /// Column comments: `(column, comment)`.
    pub column_comments: Vec<(String, String)>,
    /// Views and materialized views that depend on the table, directly or
    /// through each other, shallowest first: dropped before a swap and
    /// recreated after it.
    pub views: Vec<DependentView>,
}

/// A privilege: `(grantee, privilege, grantable)`; grantee `None` is PUBLIC.
pub(crate) type Grant = (Option<String>, String, bool);

/// A view or materialized view that depends on a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DependentView {
    /// Schema.
    pub schema: String,
    /// Name.
    pub name: String,
    /// A materialized view.
    pub materialized: bool,
    /// Longest chain of views between it and the table (1: it reads the table).
    pub depth: i32,
    /// `pg_get_viewdef`, without the final `;`.
    pub definition: String,
    /// `reloptions` (`security_barrier=true`, `check_option=local`, ...).
    pub options: Vec<String>,
    /// Owner's role name.
    pub owner: String,
    /// Privileges in ACL order (`None`: the default ACL).
    pub grants: Option<Vec<Grant>>,
    /// Comment.
    pub comment: Option<String>,
    /// Indexes of a materialized view (`pg_get_indexdef`).
    pub indexes: Vec<String>,
    /// The columns of the table it reads itself (by its rewrite rule's
    /// dependencies), by name; empty for a view that reads the table only
    /// through other views.
    pub reads: Vec<String>,
}

/// Reads the owner, privileges and comments of table `oid`.
pub(crate) fn read_carried(
    client: &mut impl GenericClient,
    oid: u32,
) -> Result<Carried, postgres::Error> {
    let row = client.query_one(
        "SELECT pg_catalog.pg_get_userbyid(c.relowner)::text, \
                pg_catalog.obj_description(c.oid, 'pg_class') \
         FROM pg_catalog.pg_class c WHERE c.oid = $1",
        &[&oid],
    )?;
    let owner: String = row.get(0);
    let comment: Option<String> = row.get(1);
    let grants = relation_grants(client, oid)?;
    let column_grants = client
        .query(
            "SELECT t.attname::text, \
                    CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END, \
                    a.privilege_type, a.is_grantable \
             FROM pg_catalog.pg_attribute t, pg_catalog.aclexplode(t.attacl) a \
             WHERE t.attrelid = $1 AND t.attnum > 0 AND NOT t.attisdropped \
             ORDER BY 1, 2, 3",
            &[&oid],
        )?
        .into_iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let column_comments = client
        .query(
            "SELECT a.attname::text, d.description \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_description d \
               ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass \
              AND d.objsubid = a.attnum \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&oid],
        )?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let views = read_views(client, oid)?;
    Ok(Carried {
        owner,
        grants,
        column_grants,
        comment,
        column_comments,
        views,
    })
}

/// The privileges on relation `oid`, in the order of its ACL, or `None` when
/// it has the default ACL (`relacl` is NULL: the owner has every privilege).
fn relation_grants(
    client: &mut impl GenericClient,
    oid: u32,
) -> Result<Option<Vec<Grant>>, postgres::Error> {
    let explicit: bool = client
        .query_one(
            "SELECT relacl IS NOT NULL FROM pg_catalog.pg_class WHERE oid = $1",
            &[&oid],
        )?
        .get(0);
    if !explicit {
        return Ok(None);
    }
    Ok(Some(
        client
            .query(
                "SELECT CASE WHEN a.grantee = 0 THEN NULL \
                             ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END, \
                        a.privilege_type, a.is_grantable \
                 FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) WITH ORDINALITY AS a \
                 WHERE c.oid = $1 \
                 ORDER BY a.ordinality",
                &[&oid],
            )?
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
    ))
}

/// The views and materialized views that depend on table `oid`, directly or
/// through other views, shallowest first.
pub(crate) fn read_views(
    client: &mut impl GenericClient,
    oid: u32,
) -> Result<Vec<DependentView>, postgres::Error> {
    let rows = client.query(
        "WITH RECURSIVE deps(oid, depth) AS ( \
           SELECT r.ev_class, 1 \
           FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid \
           WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass \
             AND d.refclassid = 'pg_catalog.pg_class'::regclass \
             AND d.refobjid = $1 AND r.ev_class <> $1 \
           UNION ALL \
           SELECT r.ev_class, deps.depth + 1 \
           FROM deps JOIN pg_catalog.pg_depend d \
             ON d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = deps.oid \
            AND d.classid = 'pg_catalog.pg_rewrite'::regclass \
           JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid \
           WHERE r.ev_class <> deps.oid AND deps.depth < 64) \
         SELECT c.oid, n.nspname::text, c.relname::text, c.relkind = 'm', max(deps.depth)::int4, \
                pg_catalog.pg_get_viewdef(c.oid), coalesce(c.reloptions::text[], '{}'), \
                pg_catalog.pg_get_userbyid(c.relowner)::text, \
                pg_catalog.obj_description(c.oid, 'pg_class') \
         FROM deps JOIN pg_catalog.pg_class c ON c.oid = deps.oid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         GROUP BY c.oid, n.nspname, c.relname, c.relkind, c.reloptions, c.relowner \
         ORDER BY 5, 2, 3",
        &[&oid],
    )?;
    let mut views = Vec::with_capacity(rows.len());
    for r in rows {
        let view_oid: u32 = r.get(0);
        let definition: String = r.get(5);
        let indexes = client
            .query(
                "SELECT pg_catalog.pg_get_indexdef(indexrelid) FROM pg_catalog.pg_index \
                 WHERE indrelid = $1 ORDER BY indexrelid",
                &[&view_oid],
            )?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        let reads = client
            .query(
                "SELECT DISTINCT a.attname::text \
                 FROM pg_catalog.pg_rewrite r \
                 JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass \
                  AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::regclass \
                  AND d.refobjid = $2 AND d.refobjsubid > 0 \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = $2 AND a.attnum = d.refobjsubid \
                 WHERE r.ev_class = $1 ORDER BY 1",
                &[&view_oid, &oid],
            )?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        views.push(DependentView {
            schema: r.get(1),
            name: r.get(2),
            materialized: r.get(3),
            depth: r.get(4),
            definition: definition.trim_end().trim_end_matches(';').to_owned(),
            options: r.get(6),
            owner: r.get(7),
            grants: relation_grants(client, view_oid)?,
            comment: r.get(8),
            indexes,
            reads,
        });
    }
    Ok(views)
}

/// Objects that depend on table `oid` or hang off it and that a swap would
/// drop with it: views, foreign keys from other tables, triggers, rules,
/// indexes and constraints other than its primary key, sequences its
/// columns own, ... Described with `pg_describe_object`. Its policies are
/// not among them: a swap makes them again (see [`Settings::policies`]).
/// Nor are column defaults: the new table gets the definition's (a live
/// default the definition lacks is a planned change). Nor are the `NOT NULL`
/// constraints PostgreSQL 18 records in
/// `pg_constraint` (`contype = 'n'`): they are part of the column definitions,
/// compared through [`LiveColumn::nullable`], and made again by the new table.
/// A primary key `WITHOUT OVERLAPS` (PostgreSQL 18) is among them: the new
/// table's key would be a plain one. The table's own columns, which a
/// generated column depends on in `pg_depend` on PostgreSQL 12–14, are not
/// listed: generated columns are refused as column settings instead (see
/// [`read_size_and_settings`]).
/// Columns PostgreSQL added in later majors are read through `to_jsonb` of the
/// catalog row, so that the query runs on every major from 12.
pub(crate) fn read_dependents(
    client: &mut impl GenericClient,
    oid: u32,
) -> Result<Vec<Dependent>, postgres::Error> {
    let rows = client.query(
        "SELECT DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, 0), \
                (SELECT c.relname::text FROM pg_catalog.pg_class c \
                 WHERE d.classid = 'pg_catalog.pg_class'::regclass AND c.oid = d.objid AND c.relkind = 'i' \
                 UNION ALL \
                 SELECT c.relname::text FROM pg_catalog.pg_constraint k \
                 JOIN pg_catalog.pg_class c ON c.oid = k.conindid \
                 WHERE d.classid = 'pg_catalog.pg_constraint'::regclass AND k.oid = d.objid \
                   AND k.contype = 'u' AND NOT k.condeferrable), \
                (SELECT s.relname::text FROM pg_catalog.pg_class s \
                 WHERE d.classid = 'pg_catalog.pg_class'::regclass AND s.oid = d.objid \
                   AND s.relkind = 'S' AND d.deptype = 'a' AND d.refobjsubid > 0), \
                d.classid = 'pg_catalog.pg_rewrite'::regclass AND EXISTS ( \
                 SELECT 1 FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class v ON v.oid = r.ev_class \
                 WHERE r.oid = d.objid AND r.rulename = '_RETURN' AND v.relkind IN ('v', 'm')) \
         FROM pg_catalog.pg_depend d \
         WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = $1 \
           AND d.deptype IN ('n', 'a') \
           AND d.classid <> 'pg_catalog.pg_attrdef'::regclass \
           AND NOT (d.classid = 'pg_catalog.pg_policy'::regclass AND EXISTS ( \
                 SELECT 1 FROM pg_catalog.pg_policy p WHERE p.oid = d.objid AND p.polrelid = $1)) \
           AND NOT (d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = $1) \
           AND NOT (d.classid = 'pg_catalog.pg_constraint'::regclass AND EXISTS ( \
                 SELECT 1 FROM pg_catalog.pg_constraint k \
                 WHERE k.oid = d.objid AND k.conrelid = $1 AND (k.contype = 'n' \
                   OR k.contype = 'p' \
                      AND NOT coalesce((to_jsonb(k) ->> 'conperiod')::bool, false)))) \
           AND NOT (d.classid = 'pg_catalog.pg_class'::regclass AND EXISTS ( \
                 SELECT 1 FROM pg_catalog.pg_index i \
                 WHERE i.indexrelid = d.objid AND i.indisprimary AND NOT i.indisexclusion \
                   AND i.indrelid = $1)) \
           AND NOT (d.classid = 'pg_catalog.pg_rewrite'::regclass AND EXISTS ( \
                 SELECT 1 FROM pg_catalog.pg_rewrite r WHERE r.oid = d.objid AND r.ev_class = $1 \
                   AND r.rulename = '_RETURN')) \
         ORDER BY 1",
        &[&oid],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| Dependent {
            description: r.get(0),
            index: r.get(1),
            sequence: r.get(2),
            view: r.get(3),
        })
        .collect())
}

/// Something that depends on a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dependent {
    /// As `pg_describe_object` describes it.
    pub description: String,
    /// The index's name, when it is an index of the table, or the index of
    /// a unique constraint of the table that is not deferrable (a swap makes
    /// it again as the unique index it is, when the definition declares it).
    pub index: Option<String>,
    /// The sequence's name, when it is a sequence owned by a column of the
    /// table (`OWNED BY`: a `serial`); a swap moves it to the new table when
    /// the column is a [`LiveColumn::serial`](super::LiveColumn::serial).
    pub sequence: Option<String>,
    /// Whether it is a view or materialized view (they are recreated).
    pub view: bool,
}

/// What deciding on an upsert by rebuild needs to know about table `oid`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SizeAndSettings {
    /// The planner's estimate of the row count (`reltuples`), when the table
    /// has been vacuumed, analyzed or indexed since it was created.
    pub estimated_rows: Option<f64>,
    /// Settings of the table a rebuild would not carry over, described.
    pub uncarried: Vec<String>,
    /// The settings a swap gives the new table.
    pub kept: Settings,
}

/// Settings of the live table a swap gives the new table right after its
/// `CREATE TABLE`, before the `on_new_table` hook runs (so that what the
/// hook sets wins): see [`sql::set_settings`](crate::sql::set_settings).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The table's storage parameters as `pg_class.reloptions` holds them
    /// (`name=value`), then its TOAST table's, each prefixed `toast.`.
    pub storage: Vec<String>,
    /// `relreplident` when it is `'f'` (`FULL`) or `'n'` (`NOTHING`); `None`
    /// for the default (`USING INDEX` is not carried: see `uncarried`).
    pub replica_identity: Option<char>,
    /// `ENABLE ROW LEVEL SECURITY` (`relrowsecurity`). `FORCE` is not
    /// carried (see `uncarried`).
    pub row_security: bool,
    /// The table's policies, by name.
    pub policies: Vec<Policy>,
    /// Columns with a setting of their own, in column order.
    pub columns: Vec<ColumnSettings>,
}

/// A row security policy of a table (`pg_policy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    /// `polname`.
    pub name: String,
    /// `AS PERMISSIVE` (else `RESTRICTIVE`).
    pub permissive: bool,
    /// `polcmd`: `r` (`SELECT`), `a` (`INSERT`), `w` (`UPDATE`), `d`
    /// (`DELETE`), `*` (`ALL`).
    pub command: char,
    /// The roles it applies to, by name (`None`: `PUBLIC`).
    pub roles: Vec<Option<String>>,
    /// `USING`, as `pg_get_expr` renders it.
    pub using: Option<String>,
    /// `WITH CHECK`, as `pg_get_expr` renders it.
    pub check: Option<String>,
    /// The columns of the table its expressions read, by name.
    pub reads: Vec<String>,
    /// Its expressions name its table itself (a subquery over it, or a
    /// whole row of it), by the stored expression trees (`:relid`, a `Var`
    /// of attribute 0): made again on the new table, they would still name
    /// the live one.
    pub names_its_table: bool,
}

/// The settings of one column a new table would not have by itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ColumnSettings {
    /// Column name.
    pub name: String,
    /// The statistics target, when one is set (`attstattarget`: -1 for the
    /// default up to PostgreSQL 16, NULL from 17).
    pub statistics: Option<i32>,
    /// `attoptions` (`n_distinct=100`, ...), as `name=value`.
    pub options: Vec<String>,
    /// `attstorage`, when it is not the type's (`p`, `e`, `m`, `x`).
    pub storage: Option<char>,
    /// `attcompression` (PostgreSQL 14), when set: `p` (pglz), `l` (lz4).
    pub compression: Option<char>,
}

/// Reads the row estimate of table `oid`, the settings a swap carries (see
/// [`Settings`]), and those it would lose: a replica identity using an
/// index, row level security forced on the owner (the new table's load, and
/// a rebuild's copy of the live rows, would be subject to the policies),
/// persistence, inheritance and partitioning, tablespace, access
/// method, publications, and per-column virtual generated columns (18),
/// collations, and compression methods other than pglz and lz4. Identity
/// and stored generated columns are compared with the definition instead (a
/// declared column filled another way is refused).
pub(crate) fn read_size_and_settings(
    client: &mut impl GenericClient,
    oid: u32,
) -> Result<SizeAndSettings, postgres::Error> {
    let row = client.query_one(
        "SELECT c.reltuples::float8, c.relpages::int8, pg_catalog.pg_relation_size(c.oid), \
                pg_catalog.array_remove(ARRAY[ \
                 CASE WHEN c.relreplident = 'i' THEN 'a replica identity using an index' END, \
                 CASE WHEN c.relforcerowsecurity THEN 'row level security forced on the owner' END, \
                 CASE WHEN c.relpersistence <> 'p' THEN 'an unlogged table' END, \
                 CASE WHEN c.relispartition OR c.relkind = 'p' THEN 'partitioning' END, \
                 CASE WHEN c.relhassubclass OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i \
                      WHERE i.inhrelid = c.oid) THEN 'table inheritance' END, \
                 CASE WHEN c.reltablespace <> 0 THEN 'a tablespace other than the default' END, \
                 CASE WHEN c.relam <> (SELECT a.oid FROM pg_catalog.pg_am a WHERE a.amname = 'heap') \
                      THEN 'a table access method other than heap' END, \
                 CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables p \
                      WHERE p.schemaname = n.nspname AND p.tablename = c.relname) \
                      THEN 'membership of a publication' END, \
                 (SELECT 'column settings (' || pg_catalog.string_agg(a.attname::text, ', ' \
                      ORDER BY a.attnum) || ')' \
                  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                    AND (a.attgenerated NOT IN ('', 's') \
                         OR a.attcollation <> t.typcollation \
                         OR coalesce(to_jsonb(a) ->> 'attcompression', '') NOT IN ('', 'p', 'l'))) \
                ], NULL), \
                coalesce(c.reloptions, '{}') || ARRAY(SELECT 'toast.' || o.o \
                  FROM pg_catalog.pg_class t, \
                       pg_catalog.unnest(t.reloptions) WITH ORDINALITY AS o(o, n) \
                  WHERE t.oid = c.reltoastrelid ORDER BY o.n), \
                CASE WHEN c.relreplident IN ('f', 'n') THEN c.relreplident::text END, \
                c.relrowsecurity \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.oid = $1",
        &[&oid],
    )?;
    let reltuples: f64 = row.get(0);
    let relpages: i64 = row.get(1);
    let size: i64 = row.get(2);
    // A table never vacuumed, analyzed or indexed has reltuples -1 (0 before
    // PostgreSQL 14); relpages 0 with pages on disk means the same.
    let known = reltuples >= 0.0 && !(relpages == 0 && size > 0);
    let replica_identity: Option<String> = row.get(5);
    Ok(SizeAndSettings {
        estimated_rows: known.then_some(reltuples),
        uncarried: row.get(3),
        kept: Settings {
            storage: row.get(4),
            replica_identity: replica_identity.and_then(|r| r.chars().next()),
            row_security: row.get(6),
            policies: read_policies(client, oid)?,
            columns: read_column_settings(client, oid)?,
        },
    })
}

/// The policies of table `oid`, by name.
fn read_policies(
    client: &mut impl GenericClient,
    oid: u32,
) -> Result<Vec<Policy>, postgres::Error> {
    let rows = client.query(
        "SELECT p.polname::text, p.polpermissive, p.polcmd::text, \
                ARRAY(SELECT CASE WHEN r.r = 0 THEN NULL \
                                  ELSE pg_catalog.pg_get_userbyid(r.r)::text END \
                      FROM pg_catalog.unnest(p.polroles) WITH ORDINALITY AS r(r, n) \
                      ORDER BY r.n), \
                pg_catalog.pg_get_expr(p.polqual, p.polrelid), \
                pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), \
                ARRAY(SELECT DISTINCT a.attname::text \
                      FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attribute a \
                        ON a.attrelid = p.polrelid AND a.attnum = d.refobjsubid \
                      WHERE d.classid = 'pg_catalog.pg_policy'::regclass AND d.objid = p.oid \
                        AND d.refclassid = 'pg_catalog.pg_class'::regclass \
                        AND d.refobjid = p.polrelid AND d.refobjsubid > 0 \
                      ORDER BY 1), \
                coalesce(p.polqual::text, '') || ' ' || coalesce(p.polwithcheck::text, '') \
                  ~ (':relid ' || p.polrelid::text || '\\M|:varattno 0 ') \
         FROM pg_catalog.pg_policy p WHERE p.polrelid = $1 ORDER BY 1",
        &[&oid],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| Policy {
            name: r.get(0),
            permissive: r.get(1),
            command: r.get::<_, String>(2).chars().next().unwrap_or('*'),
            roles: r.get(3),
            using: r.get(4),
            check: r.get(5),
            reads: r.get(6),
            names_its_table: r.get(7),
        })
        .collect())
}

/// The columns of table `oid` with a statistics target, options, a storage
/// other than their type's or a compression method (PostgreSQL 14, read
/// through `to_jsonb` so that the query runs on every major).
fn read_column_settings(
    client: &mut impl GenericClient,
    oid: u32,
) -> Result<Vec<ColumnSettings>, postgres::Error> {
    let rows = client.query(
        "SELECT a.attname::text, \
                CASE WHEN a.attstattarget >= 0 THEN a.attstattarget::int4 END, \
                coalesce(a.attoptions, '{}'), \
                CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END, \
                nullif(coalesce(to_jsonb(a) ->> 'attcompression', ''), '') \
         FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
           AND (a.attstattarget >= 0 OR a.attoptions IS NOT NULL \
                OR a.attstorage <> t.typstorage \
                OR coalesce(to_jsonb(a) ->> 'attcompression', '') <> '') \
         ORDER BY a.attnum",
        &[&oid],
    )?;
    let char_of = |text: Option<String>| text.and_then(|t| t.chars().next());
    Ok(rows
        .into_iter()
        .map(|r| ColumnSettings {
            name: r.get(0),
            statistics: r.get(1),
            options: r.get(2),
            storage: char_of(r.get(3)),
            compression: char_of(r.get(4)),
        })
        .collect())
}

/// What a swap relies on: read when a call may swap the table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SwapFacts {
    /// What the new table is given.
    pub carried: Carried,
    /// What depends on the live table.
    pub dependents: Vec<Dependent>,
    /// The row estimate, and the settings the new table would not get.
    pub settings: SizeAndSettings,
    /// A name for the new table, free in the table's schema.
    pub intermediate: String,
    /// See [`may_create_as_owner`].
    pub may_create_as_owner: bool,
}

/// What the plan of a swap took for granted about the live table: checked
/// again once the table's definition can't change any more (under the
/// `EXCLUSIVE` lock), so that a swap never loses what appeared meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Basis {
    table: LiveTable,
    owner: String,
    views: Vec<DependentView>,
    dependents: Vec<Dependent>,
    uncarried: Vec<String>,
    /// The settings the new table is given.
    kept: Settings,
    /// What a migration's refusals depend on: whether the table has rows,
    /// which columns hold data, which hold NULLs (`None` for `replace`, which
    /// keeps no row, and when planning found no change, so that no refusal
    /// depended on them).
    data: Option<(bool, Vec<String>, Vec<String>)>,
}

impl Basis {
    /// The basis of a plan made from `live`, `swap` and, for a rebuild,
    /// `facts`.
    pub(crate) fn of(live: &LiveTable, swap: &SwapFacts, facts: Option<&Facts>) -> Basis {
        Basis {
            table: live.clone(),
            owner: swap.carried.owner.clone(),
            views: swap.carried.views.clone(),
            dependents: swap.dependents.clone(),
            uncarried: swap.settings.uncarried.clone(),
            kept: swap.settings.kept.clone(),
            // Unread facts (no change found) decide nothing to check again.
            data: facts.filter(|f| f.data_read).map(data),
        }
    }

    /// The basis as the catalog holds it now, for the table of `def` (`None`
    /// when the table is gone or is no longer a table); its data facts read
    /// again when `with_data` and `self` has them.
    pub(crate) fn read_again(
        &self,
        tx: &mut postgres::Transaction<'_>,
        def: &TableDef,
        with_data: bool,
    ) -> Result<Option<Basis>, postgres::Error> {
        let Relation::Table(table) = read_table(tx, def.schema, def.table)? else {
            return Ok(None);
        };
        let carried = read_carried(tx, table.oid)?;
        let dependents = read_dependents(tx, table.oid)?;
        let settings = read_size_and_settings(tx, table.oid)?;
        let data = match &self.data {
            Some(_) if with_data => Some(data(&read_facts(tx, def, &table)?)),
            other => other.clone(),
        };
        Ok(Some(Basis {
            owner: carried.owner,
            views: carried.views,
            table,
            dependents,
            uncarried: settings.uncarried,
            kept: settings.kept,
            data,
        }))
    }

    /// What changed from `self` to `now` that a swap would lose or undo, once
    /// the views it makes again are dropped (a swap's lock is taken with
    /// them): new dependents, settings, another definition. Empty when
    /// nothing did.
    pub(crate) fn changed_for_swap(&self, now: Option<&Basis>) -> Vec<String> {
        let Some(now) = now else {
            return vec!["the table is gone".to_owned()];
        };
        let mut out: Vec<String> = now
            .dependents
            .iter()
            .filter(|d| !d.view && !self.dependents.contains(d))
            .map(|d| format!("{} (made while the call ran)", d.description))
            .collect();
        out.extend(
            now.uncarried
                .iter()
                .filter(|u| !self.uncarried.contains(u))
                .map(|u| format!("{u} (set while the call ran)")),
        );
        let (was, is) = (&self.kept, &now.kept);
        if is.storage != was.storage {
            out.push(format!(
                "storage parameters ({}) (changed while the call ran)",
                is.storage.join(", ")
            ));
        }
        if is.replica_identity != was.replica_identity {
            out.push("the replica identity (changed while the call ran)".to_owned());
        }
        if (is.row_security, &is.policies) != (was.row_security, &was.policies) {
            out.push("row level security or policies (changed while the call ran)".to_owned());
        }
        if is.columns != was.columns {
            out.push("column settings (changed while the call ran)".to_owned());
        }
        if now.table != self.table || now.owner != self.owner {
            out.push("the table's definition or owner (changed while the call ran)".to_owned());
        }
        out
    }
}

fn data(facts: &Facts) -> (bool, Vec<String>, Vec<String>) {
    (
        facts.has_rows,
        facts.columns_with_data.clone(),
        facts.columns_with_nulls.clone(),
    )
}
