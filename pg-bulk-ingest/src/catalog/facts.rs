//! What planning needs to know about the live table's data and about the
//! session: whether the table has rows, which columns hold data or NULLs,
//! the declared defaults as PostgreSQL normalizes them, the isolation level,
//! open cursors, and whether the role may make a table as the owner's.

use postgres::GenericClient;

use super::LiveTable;
use crate::ident::Ident;
use crate::table::{ColumnDef, Filled, TableDef};

/// Facts about the live table's data that decide whether a change loses
/// data; read for the columns a comparison asks about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    /// Whether the facts about the data (`has_rows`, the columns with data or
    /// NULLs) were read: they are only when the comparison finds a change.
    pub data_read: bool,
    /// Whether the table has any row.
    pub has_rows: bool,
    /// Live columns that hold at least one non-NULL value.
    pub columns_with_data: Vec<String>,
    /// Live columns that hold at least one NULL.
    pub columns_with_nulls: Vec<String>,
    /// Declared defaults as PostgreSQL normalizes them (`pg_get_expr`), by
    /// column.
    pub normalized_defaults: Vec<(String, String)>,
    /// Columns whose change in place ([`read_rewrites`]) PostgreSQL would
    /// make by rewriting the table or an index.
    pub rewrites: Vec<String>,
}

/// Reads what planning needs to know about the live table's data: whether it
/// has rows, which of the columns the definition drops hold data, which
/// columns it makes NOT NULL hold NULLs ([`read_data`]), and the declared
/// defaults as PostgreSQL normalizes them ([`read_defaults`]).
pub(crate) fn read_facts(
    tx: &mut postgres::Transaction<'_>,
    def: &TableDef,
    live: &LiveTable,
) -> Result<Facts, postgres::Error> {
    Ok(Facts {
        normalized_defaults: read_defaults(tx, def)?,
        ..read_data(tx, def, live)?
    })
}

/// Reads whether the table has rows, which of the columns the definition
/// drops hold data, and which columns it makes NOT NULL hold NULLs: one
/// `EXISTS` query each, the columns' only when the table has rows.
pub(crate) fn read_data(
    tx: &mut postgres::Transaction<'_>,
    def: &TableDef,
    live: &LiveTable,
) -> Result<Facts, postgres::Error> {
    let table = def.name();
    let exists =
        |tx: &mut postgres::Transaction<'_>, condition: String| -> Result<bool, postgres::Error> {
            let row = tx.query_typed_one(
                &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE {condition})"),
                &[],
            )?;
            Ok(row.get(0))
        };
    let mut facts = Facts {
        data_read: true,
        has_rows: exists(tx, "true".to_owned())?,
        ..Facts::default()
    };
    if facts.has_rows {
        for column in &live.columns {
            let declared = def
                .columns
                .iter()
                .find(|c| live.source_of(c).is_some_and(|s| s.name == column.name));
            match declared {
                None => {
                    if exists(tx, format!("{} IS NOT NULL", Ident(&column.name)))? {
                        facts.columns_with_data.push(column.name.clone());
                    }
                }
                Some(c) if !c.nullable && column.nullable => {
                    if exists(tx, format!("{} IS NULL", Ident(&column.name)))? {
                        facts.columns_with_nulls.push(column.name.clone());
                    }
                }
                Some(_) => {}
            }
        }
    }
    Ok(facts)
}

/// The declared defaults and generation expressions of `def` as PostgreSQL
/// normalizes them (`pg_get_expr`), by column: given to a probe table with
/// every declared column (an expression may read the others), read back, and
/// rolled back at once. No query when `def` declares none.
pub(crate) fn read_defaults(
    tx: &mut postgres::Transaction<'_>,
    def: &TableDef,
) -> Result<Vec<(String, String)>, postgres::Error> {
    let mut out = Vec::new();
    let normalizes =
        |c: &&ColumnDef| c.default.is_some() || matches!(c.filled, Some(Filled::Generated(_)));
    if def.columns.iter().any(|c| normalizes(&c)) {
        let mut probe = tx.transaction()?;
        let columns: Vec<String> = def
            .columns
            .iter()
            .map(|c| {
                let fill = match (c.filled, c.default) {
                    (Some(Filled::Generated(expr)), _) => {
                        format!(" GENERATED ALWAYS AS ({expr}) STORED")
                    }
                    (_, Some(default)) => format!(" DEFAULT {default}"),
                    _ => String::new(),
                };
                format!("{} {}{fill}", Ident(c.name), c.sql_type)
            })
            .collect();
        probe.batch_execute(&format!(
            "CREATE TEMPORARY TABLE pg_bulk_ingest_default_probe ({})",
            columns.join(", ")
        ))?;
        out = probe
            .query(
                "SELECT a.attname::text, pg_catalog.pg_get_expr(d.adbin, d.adrelid) \
                 FROM pg_catalog.pg_attrdef d \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum \
                 WHERE d.adrelid = 'pg_temp.pg_bulk_ingest_default_probe'::regclass",
                &[],
            )?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        probe.rollback()?;
    }
    Ok(out)
}

/// The transaction's isolation and cursors, which decide whether the live rows
/// may be copied into a new table and whether a COPY may use `FREEZE`; and
/// the server and settings the merge's form depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Session {
    /// `READ COMMITTED`: each statement sees what was committed before it.
    pub read_committed: bool,
    /// Cursors other than the unnamed portal of the query asking.
    pub open_cursors: bool,
    /// `server_version_num`, e.g. `150018`.
    pub server_version: u32,
    /// `track_counts`: the transaction's row counters
    /// (`pg_stat_get_xact_tuples_inserted`, ...) count.
    pub track_counts: bool,
    /// The session's `enable_hashjoin`, `enable_mergejoin` and `jit`,
    /// restored after a merge that turns them off.
    pub hash_join: bool,
    pub merge_join: bool,
    pub jit: bool,
    /// The session's `work_mem`, in kB: raised for a merge that sorts the
    /// staged rows, and restored after it.
    pub work_mem_kb: u64,
}

/// Whether the role may create a table in the schema of table `oid` and
/// give it to the table's owner (a member of the owner role, `CREATE` on the
/// schema): what making the new table of a swap needs.
pub(crate) fn may_create_as_owner(
    client: &mut impl GenericClient,
    oid: u32,
) -> Result<bool, postgres::Error> {
    let row = client.query_one(
        "SELECT pg_catalog.pg_has_role(c.relowner, 'MEMBER') \
                AND pg_catalog.has_schema_privilege(c.relnamespace, 'CREATE') \
         FROM pg_catalog.pg_class c WHERE c.oid = $1",
        &[&oid],
    )?;
    Ok(row.get(0))
}

/// Which of `probes` PostgreSQL makes by rewriting the table or an index:
/// each is `(column, the probe's column definition, the ALTER TABLE action)`
/// (see [`sql::rewrite_probe`](crate::sql::rewrite_probe)), made on a probe
/// table of one row and one index, in a savepoint rolled back at once; a new
/// `relfilenode` of the table or its index is a rewrite. Returns the columns
/// whose change rewrites. Observed, not predicted (PostgreSQL's documentation,
/// "ALTER TABLE": "Adding a column with a volatile DEFAULT ... will require
/// the entire table and its indexes to be rewritten").
pub(crate) fn read_rewrites(
    tx: &mut postgres::Transaction<'_>,
    probes: &[(String, String, String)],
) -> Result<Vec<String>, postgres::Error> {
    let mut out = Vec::new();
    for (column, create, alter) in probes {
        let mut probe = tx.transaction()?;
        probe.batch_execute(&format!(
            "CREATE TEMPORARY TABLE pg_bulk_ingest_rewrite_probe ({create}); \
             CREATE INDEX pg_bulk_ingest_rewrite_probe_i \
               ON pg_temp.pg_bulk_ingest_rewrite_probe ({}); \
             INSERT INTO pg_temp.pg_bulk_ingest_rewrite_probe DEFAULT VALUES",
            create.split(' ').next().unwrap_or("k")
        ))?;
        let files =
            "SELECT array_agg(relfilenode::int8 ORDER BY relname) FROM pg_catalog.pg_class \
                     WHERE relname IN ('pg_bulk_ingest_rewrite_probe', \
                                       'pg_bulk_ingest_rewrite_probe_i') \
                       AND relnamespace = pg_catalog.pg_my_temp_schema()";
        let before: Vec<i64> = probe.query_one(files, &[])?.get(0);
        probe.batch_execute(&format!(
            "ALTER TABLE pg_temp.pg_bulk_ingest_rewrite_probe {alter}"
        ))?;
        let after: Vec<i64> = probe.query_one(files, &[])?.get(0);
        probe.rollback()?;
        if before != after {
            out.push(column.clone());
        }
    }
    Ok(out)
}
