//! Every catalog query the library makes, and the plain data they give:
//! a live table's definition (here), what a swap would carry or lose
//! ([`swap`]), and the facts about the table's data and the session that
//! planning depends on ([`facts`]). [`Gathered`] is everything planning one
//! table reads. Columns PostgreSQL added in later majors are read through
//! `to_jsonb` of the catalog row, so that one query runs on every major from
//! 12.

use postgres::types::Type;
use postgres::GenericClient;

use crate::table::{ColumnDef, IndexDef};

pub(crate) mod facts;
pub(crate) mod partitions;
pub(crate) mod swap;

pub(crate) use facts::{
    may_create_as_owner, read_data, read_defaults, read_facts, read_rewrites, Facts, Session,
};
pub(crate) use partitions::{read_slice_partition, LivePartitioning, SlicePartition};
pub(crate) use swap::{
    read_carried, read_dependents, read_size_and_settings, read_views, Basis, Carried,
    DependentView, Grant, SwapFacts,
};

/// A table as it is in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LiveTable {
    /// The table's OID.
    pub oid: u32,
    /// Columns in `attnum` order.
    pub columns: Vec<LiveColumn>,
    /// Primary-key column names in key order; empty without a key.
    pub primary_key: Vec<String>,
    /// Indexes other than the primary key's.
    pub indexes: Vec<LiveIndex>,
    /// How the table is partitioned, when it is a partitioned table (its
    /// columns, key and indexes are the parent's).
    pub partitioning: Option<LivePartitioning>,
    /// Whether a `COPY` into the table does what a `MERGE`'s insert of the
    /// same rows does, and no more: no trigger but PostgreSQL's own (foreign
    /// keys), no rule, row level security off, a primary key checked
    /// immediately (not `DEFERRABLE`), and no other unique index or
    /// exclusion constraint (a row inserted before the merge could hold a
    /// value the merge gives another row first).
    pub plain_inserts: bool,
}

impl LiveTable {
    /// The column called `name`.
    pub(crate) fn column(&self, name: &str) -> Option<&LiveColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The live column that holds declared `column`'s values: the one of its
    /// name, or the one it is renamed from (`rename_from`).
    pub(crate) fn source_of(&self, column: &ColumnDef) -> Option<&LiveColumn> {
        self.column(column.name)
            .or_else(|| column.rename_from.and_then(|old| self.column(old)))
    }
}

/// An index of a live table (other than the primary key's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LiveIndex {
    /// Index name.
    pub name: String,
    /// Key column names, in order.
    pub columns: Vec<String>,
    /// `indisunique`.
    pub unique: bool,
    /// Access method (`btree`, `gin`, ...).
    pub method: String,
    /// No expressions, predicate, included columns, `NULLS NOT DISTINCT`
    /// (PostgreSQL 15) or deferred checking (a `DEFERRABLE` unique
    /// constraint's index): the kind of index a definition can declare. The
    /// index of a unique constraint is plain when it is not deferrable: it is
    /// compared like the unique index it is.
    pub plain: bool,
    /// `pg_get_indexdef`.
    pub definition: String,
    /// Created by this library (its comment says so), or by the Python
    /// original (named `_tmp_` and 32 hexadecimal digits, without a comment,
    /// backing no constraint): dropped when the definition no longer declares
    /// it. Other indexes are left alone.
    pub ours: bool,
}

impl LiveIndex {
    /// Whether this is the declared `index` (plain, same uniqueness, method
    /// and columns), its columns named as `columns` gives them (the live
    /// names of the declared columns, after renames).
    pub(crate) fn is_declared<'a>(
        &self,
        index: &IndexDef,
        columns: impl IntoIterator<Item = &'a str>,
    ) -> bool {
        self.plain
            && self.unique == index.unique
            && self.method == index.method
            && self.columns.iter().map(String::as_str).eq(columns)
    }

    /// Whether this is the declared `index`, named by the same columns.
    pub(crate) fn is(&self, index: &IndexDef) -> bool {
        self.is_declared(index, index.columns.iter().copied())
    }
}

/// The comment the library puts on the indexes it creates.
pub(crate) const INDEX_COMMENT: &str = "pg-bulk-ingest";

/// A column as it is in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LiveColumn {
    /// Column name.
    pub name: String,
    /// `format_type(atttypid, atttypmod)`, e.g. `character varying(32)`.
    pub sql_type: String,
    /// Schema of the column's type, e.g. `pg_catalog`.
    pub type_schema: String,
    /// Name of the column's type in `pg_type` (`int4`, `_text`, `mood`).
    pub type_name: String,
    /// Whether the column's type is an enum (`typtype = 'e'`). Enum columns
    /// are compared by [`type_schema`](LiveColumn::type_schema) and
    /// [`type_name`](LiveColumn::type_name): `format_type` qualifies the name
    /// only when the type is not on the search path.
    pub is_enum: bool,
    /// `NOT attnotnull`, or a `NOT NULL` constraint that is `NOT VALID`
    /// (PostgreSQL 18), which leaves the NULLs already stored in place.
    pub nullable: bool,
    /// `pg_get_expr` of the column default, when it has one (for a
    /// generated column, its expression).
    pub default: Option<String>,
    /// `attidentity`: `'a'` (`ALWAYS`), `'d'` (`BY DEFAULT`), or `None`.
    pub identity: Option<char>,
    /// `attgenerated = 's'`: a stored generated column (PostgreSQL 12).
    pub generated: bool,
    /// The name of the sequence (in the table's schema) when the column is
    /// a `serial`: its default is exactly `nextval` of a sequence owned by
    /// the column (`OWNED BY`, as `serial`, `bigserial` and the Python
    /// original's integer keys make it). Such a default compares as no
    /// default, and a swap moves the sequence to the new table.
    pub serial: Option<String>,
}

/// What lives under a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Relation {
    /// Nothing.
    Missing,
    /// An ordinary or a partitioned table.
    Table(LiveTable),
    /// Something else (a view, a sequence, ...): `relkind` from `pg_class`.
    Other(char),
}

/// Whether the schema exists.
pub(crate) fn schema_exists(
    client: &mut impl GenericClient,
    schema: &str,
) -> Result<bool, postgres::Error> {
    let row = client.query_typed_one(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
        &[(&schema, Type::NAME)],
    )?;
    Ok(row.get(0))
}

/// A type as it is in the database, looked up by schema and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LiveType {
    /// An enum type, with its labels in sort order.
    Enum(Vec<String>),
    /// Another kind of type: `pg_type.typtype` (`b`ase, `d`omain, `c`omposite, ...).
    Other(char),
}

/// Reads the type `schema.name`, when there is one.
pub(crate) fn read_type(
    client: &mut impl GenericClient,
    schema: &str,
    name: &str,
) -> Result<Option<LiveType>, postgres::Error> {
    let Some(row) = client.query_opt(
        "SELECT t.typtype::text, \
                ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e \
                      WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) \
         FROM pg_catalog.pg_type t \
         JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         WHERE n.nspname = $1 AND t.typname = $2",
        &[&schema, &name],
    )?
    else {
        return Ok(None);
    };
    let typtype: String = row.get(0);
    Ok(Some(match typtype.as_str() {
        "e" => LiveType::Enum(row.get(1)),
        other => LiveType::Other(other.chars().next().unwrap_or('?')),
    }))
}

/// What one catalog read tells about a table's name: whether its schema
/// exists, what lives under the name, and the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Named {
    /// Whether the schema exists.
    pub schema_exists: bool,
    /// What lives under the name.
    pub relation: Relation,
    /// The session's isolation level and cursors.
    pub session: Session,
}

/// The one query of [`read_named`]: tagged rows, so that a single round trip
/// reads what would otherwise take five. Part 0 is one row (relkind, oid,
/// schema exists, read committed, open cursors (the unnamed portal of this
/// query is listed among the cursors too), `server_version_num`,
/// `track_counts`, `enable_hashjoin`, `enable_mergejoin`, `jit`, `work_mem` in kB,
/// [`LiveTable::plain_inserts`]); part 1 a row per column, in
/// `attnum` order; part 2 a row per index, primary key included, by name.
/// Each row's fields are text (booleans as `true`/`false`), so that the parts
/// share one shape; an index row's key columns are in `list`.
const READ_NAMED: &str = "\
WITH r AS (SELECT c.oid, c.relkind::text AS relkind FROM pg_catalog.pg_class c \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           WHERE n.nspname = $1 AND c.relname = $2), \
     tbl AS (SELECT oid FROM r WHERE relkind IN ('r', 'p')) \
SELECT 0 AS part, 0::int8 AS ord, \
       ARRAY[(SELECT relkind FROM r), (SELECT oid::text FROM r), \
             EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)::text, \
             (pg_catalog.current_setting('transaction_isolation') = 'read committed')::text, \
             EXISTS (SELECT 1 FROM pg_catalog.pg_cursors WHERE name <> '')::text, \
             pg_catalog.current_setting('server_version_num'), \
             pg_catalog.current_setting('track_counts')::bool::text, \
             pg_catalog.current_setting('enable_hashjoin')::bool::text, \
             pg_catalog.current_setting('enable_mergejoin')::bool::text, \
             pg_catalog.current_setting('jit')::bool::text, \
             (pg_catalog.pg_size_bytes(pg_catalog.current_setting('work_mem')) / 1024)::text, \
             (SELECT NOT c.relhasrules AND NOT c.relrowsecurity \
                     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g \
                                     WHERE g.tgrelid = c.oid AND NOT g.tgisinternal) \
                     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i \
                                     WHERE i.indrelid = c.oid \
                                       AND (i.indisprimary AND NOT i.indimmediate \
                                            OR NOT i.indisprimary \
                                               AND (i.indisunique OR i.indisexclusion))) \
              FROM pg_catalog.pg_class c WHERE c.oid = (SELECT oid FROM tbl))::text] AS fields, \
       NULL::text[] AS list \
UNION ALL \
SELECT 1, a.attnum, \
       ARRAY[a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
             (NOT a.attnotnull OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k \
               WHERE k.conrelid = a.attrelid AND k.contype = 'n' \
                 AND k.conkey[1] = a.attnum AND NOT k.convalidated))::text, \
             pg_catalog.pg_get_expr(d.adbin, d.adrelid), \
             tn.nspname::text, t.typname::text, (t.typtype = 'e')::text, \
             a.attidentity::text, a.attgenerated::text, \
             (SELECT s.relname::text FROM pg_catalog.pg_depend sd \
              JOIN pg_catalog.pg_class s ON s.oid = sd.objid AND s.relkind = 'S' \
              WHERE sd.classid = 'pg_catalog.pg_class'::regclass \
                AND sd.refclassid = 'pg_catalog.pg_class'::regclass \
                AND sd.refobjid = a.attrelid AND sd.refobjsubid = a.attnum \
                AND sd.deptype = 'a' \
                AND pg_catalog.pg_get_expr(d.adbin, d.adrelid) = 'nextval(' \
                    || pg_catalog.quote_literal(s.oid::regclass::text) || '::regclass)' \
              LIMIT 1)], \
       NULL \
FROM tbl JOIN pg_catalog.pg_attribute a ON a.attrelid = tbl.oid \
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace \
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
WHERE a.attnum > 0 AND NOT a.attisdropped \
UNION ALL \
SELECT 2, pg_catalog.row_number() OVER (ORDER BY c.relname), \
       ARRAY[c.relname::text, i.indisunique::text, am.amname::text, \
             (i.indexprs IS NULL AND i.indpred IS NULL AND i.indnatts = i.indnkeyatts \
              AND NOT (0 = ANY (i.indkey::int2[])) \
              AND i.indimmediate \
              AND NOT coalesce((pg_catalog.to_jsonb(i) ->> 'indnullsnotdistinct')::bool, false))::text, \
             pg_catalog.pg_get_indexdef(i.indexrelid), \
             (pg_catalog.obj_description(i.indexrelid, 'pg_class') IS NOT DISTINCT FROM $3 \
              OR pg_catalog.obj_description(i.indexrelid, 'pg_class') IS NULL \
                 AND c.relname ~ '^_tmp_[0-9a-f]{32}$' \
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k \
                                 WHERE k.conindid = i.indexrelid))::text, \
             i.indisprimary::text], \
       ARRAY(SELECT a.attname::text \
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             ORDER BY k.ord) \
FROM tbl JOIN pg_catalog.pg_index i ON i.indrelid = tbl.oid \
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
JOIN pg_catalog.pg_am am ON am.oid = c.relam \
ORDER BY 1, 2";

/// Reads whether `schema` exists, the definition of `schema.table` and the
/// session, in one query ([`READ_NAMED`]); for a partitioned table, its partitioning
/// in a second ([`partitions::read_partitioning`]).
pub(crate) fn read_named(
    client: &mut impl GenericClient,
    schema: &str,
    table: &str,
) -> Result<Named, postgres::Error> {
    let rows = client.query_typed(
        READ_NAMED,
        &[
            (&schema, Type::NAME),
            (&table, Type::NAME),
            (&INDEX_COMMENT, Type::TEXT),
        ],
    )?;
    let (mut schema_exists, mut session, mut relkind) = (false, Session::default(), None);
    let mut table = LiveTable {
        oid: 0,
        columns: Vec::new(),
        primary_key: Vec::new(),
        indexes: Vec::new(),
        partitioning: None,
        plain_inserts: false,
    };
    for row in rows {
        let part: i32 = row.get(0);
        let fields: Vec<Option<String>> = row.get(2);
        let text = |i: usize| fields.get(i).cloned().flatten();
        let flag = |i: usize| text(i).as_deref() == Some("true");
        let char = |i: usize| text(i).and_then(|s| s.chars().next());
        match part {
            0 => {
                schema_exists = flag(2);
                session = Session {
                    read_committed: flag(3),
                    open_cursors: flag(4),
                    server_version: text(5).and_then(|v| v.parse().ok()).unwrap_or(0),
                    track_counts: flag(6),
                    hash_join: flag(7),
                    merge_join: flag(8),
                    jit: flag(9),
                    work_mem_kb: text(10).and_then(|v| v.parse().ok()).unwrap_or(4096),
                };
                relkind = char(0);
                table.plain_inserts = flag(11);
                table.oid = text(1).and_then(|o| o.parse().ok()).unwrap_or(0);
            }
            1 => table.columns.push(LiveColumn {
                name: text(0).unwrap_or_default(),
                sql_type: text(1).unwrap_or_default(),
                nullable: flag(2),
                default: text(3),
                type_schema: text(4).unwrap_or_default(),
                type_name: text(5).unwrap_or_default(),
                is_enum: flag(6),
                identity: char(7),
                generated: text(8).as_deref() == Some("s"),
                serial: text(9),
            }),
            _ => {
                let columns: Vec<String> = row.get(3);
                if flag(6) {
                    table.primary_key = columns;
                } else {
                    table.indexes.push(LiveIndex {
                        name: text(0).unwrap_or_default(),
                        unique: flag(1),
                        method: text(2).unwrap_or_default(),
                        plain: flag(3),
                        definition: text(4).unwrap_or_default(),
                        ours: flag(5),
                        columns,
                    });
                }
            }
        }
    }
    let relation = match relkind {
        None => Relation::Missing,
        Some(kind @ ('r' | 'p')) => {
            if kind == 'p' {
                table.partitioning = Some(partitions::read_partitioning(client, table.oid)?);
            }
            Relation::Table(table)
        }
        Some(kind) => Relation::Other(kind),
    };
    Ok(Named {
        schema_exists,
        relation,
        session,
    })
}

/// Reads the definition of `schema.table` (with [`read_named`]).
pub(crate) fn read_table(
    client: &mut impl GenericClient,
    schema: &str,
    table: &str,
) -> Result<Relation, postgres::Error> {
    Ok(read_named(client, schema, table)?.relation)
}

/// The comment of the relation `schema.name`: `None` when it has none, or
/// there is no such relation.
pub(crate) fn read_comment(
    client: &mut impl GenericClient,
    schema: &str,
    name: &str,
) -> Result<Option<String>, postgres::Error> {
    let row = client.query_opt(
        "SELECT pg_catalog.obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relname = $2",
        &[&schema, &name],
    )?;
    Ok(row.and_then(|r| r.get(0)))
}

/// Whether a relation named `name` exists in `schema`.
pub(crate) fn relation_exists(
    client: &mut impl GenericClient,
    schema: &str,
    name: &str,
) -> Result<bool, postgres::Error> {
    let row = client.query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relname = $2)",
        &[&schema, &name],
    )?;
    Ok(row.get(0))
}

/// Everything planning one table reads from the catalog.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Gathered {
    /// Whether the table's schema exists.
    pub schema_exists: bool,
    /// What lives under the table's name.
    pub live: Relation,
    /// The live table's data, as far as a migration depends on it.
    pub facts: Facts,
    /// The session's isolation and cursors.
    pub session: Session,
    /// What a swap relies on, when the call may swap.
    pub swap: Option<SwapFacts>,
    /// The views that depend on the table, when the call may drop, rename or
    /// retype a column, or swap the table.
    pub views: Vec<DependentView>,
    /// For a slice replace asked to swap partitions: the partition that is
    /// exactly the slice, when there is one.
    pub slice_partition: Option<SlicePartition>,
}
