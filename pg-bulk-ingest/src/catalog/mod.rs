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
    may_create_as_owner, read_facts, read_rewrites, read_session, Facts, Session,
};
pub(crate) use partitions::LivePartitioning;
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

/// Reads the definition of `schema.table`.
pub(crate) fn read_table(
    client: &mut impl GenericClient,
    schema: &str,
    table: &str,
) -> Result<Relation, postgres::Error> {
    let Some(row) = client.query_typed_opt(
        "SELECT c.oid, c.relkind::text \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relname = $2",
        &[(&schema, Type::NAME), (&table, Type::NAME)],
    )?
    else {
        return Ok(Relation::Missing);
    };
    let oid: u32 = row.get(0);
    let relkind: String = row.get(1);
    if relkind != "r" && relkind != "p" {
        return Ok(Relation::Other(relkind.chars().next().unwrap_or('?')));
    }
    let columns = client
        .query_typed(
            "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
                    NOT a.attnotnull OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k \
                      WHERE k.conrelid = a.attrelid AND k.contype = 'n' \
                        AND k.conkey[1] = a.attnum AND NOT k.convalidated), \
                    pg_catalog.pg_get_expr(d.adbin, d.adrelid), \
                    tn.nspname::text, t.typname::text, t.typtype = 'e', \
                    a.attidentity::text, a.attgenerated::text, \
                    (SELECT s.relname::text FROM pg_catalog.pg_depend sd \
                     JOIN pg_catalog.pg_class s ON s.oid = sd.objid AND s.relkind = 'S' \
                     WHERE sd.classid = 'pg_catalog.pg_class'::regclass \
                       AND sd.refclassid = 'pg_catalog.pg_class'::regclass \
                       AND sd.refobjid = a.attrelid AND sd.refobjsubid = a.attnum \
                       AND sd.deptype = 'a' \
                       AND pg_catalog.pg_get_expr(d.adbin, d.adrelid) = 'nextval(' \
                           || pg_catalog.quote_literal(s.oid::regclass::text) || '::regclass)' \
                     LIMIT 1) \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[(&oid, Type::OID)],
        )?
        .into_iter()
        .map(|r| LiveColumn {
            name: r.get(0),
            sql_type: r.get(1),
            nullable: r.get(2),
            default: r.get(3),
            type_schema: r.get(4),
            type_name: r.get(5),
            is_enum: r.get(6),
            identity: r.get::<_, String>(7).chars().next(),
            generated: r.get::<_, String>(8) == "s",
            serial: r.get(9),
        })
        .collect();
    let primary_key = client
        .query_typed(
            "SELECT a.attname::text \
             FROM pg_catalog.pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = $1 AND i.indisprimary \
             ORDER BY k.ord",
            &[(&oid, Type::OID)],
        )?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let indexes = client
        .query_typed(
            "SELECT c.relname::text, i.indisunique, am.amname::text, \
                    i.indexprs IS NULL AND i.indpred IS NULL AND i.indnatts = i.indnkeyatts \
                      AND NOT (0 = ANY (i.indkey::int2[])) \
                      AND i.indimmediate \
                      AND NOT coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::bool, false), \
                    ARRAY(SELECT a.attname::text \
                          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                          JOIN pg_catalog.pg_attribute a \
                            ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                          ORDER BY k.ord), \
                    pg_catalog.pg_get_indexdef(i.indexrelid), \
                    pg_catalog.obj_description(i.indexrelid, 'pg_class') IS NOT DISTINCT FROM $2 \
                      OR pg_catalog.obj_description(i.indexrelid, 'pg_class') IS NULL \
                         AND c.relname ~ '^_tmp_[0-9a-f]{32}$' \
                         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k \
                                         WHERE k.conindid = i.indexrelid) \
             FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
             JOIN pg_catalog.pg_am am ON am.oid = c.relam \
             WHERE i.indrelid = $1 AND NOT i.indisprimary \
             ORDER BY 1",
            &[(&oid, Type::OID), (&INDEX_COMMENT, Type::TEXT)],
        )?
        .into_iter()
        .map(|r| LiveIndex {
            name: r.get(0),
            unique: r.get(1),
            method: r.get(2),
            plain: r.get(3),
            columns: r.get(4),
            definition: r.get(5),
            ours: r.get(6),
        })
        .collect();
    let partitioning = match relkind.as_str() {
        "p" => Some(partitions::read_partitioning(client, oid)?),
        _ => None,
    };
    Ok(Relation::Table(LiveTable {
        oid,
        columns,
        primary_key,
        indexes,
        partitioning,
    }))
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
}
