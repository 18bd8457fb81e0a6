//! Reading a live table's definition from `pg_catalog`.

use postgres::GenericClient;

/// A table as it is in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveTable {
    /// The table's OID.
    pub oid: u32,
    /// Columns in `attnum` order.
    pub columns: Vec<LiveColumn>,
    /// Primary-key column names in key order; empty without a key.
    pub primary_key: Vec<String>,
}

/// A column as it is in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveColumn {
    /// Column name.
    pub name: String,
    /// `format_type(atttypid, atttypmod)`, e.g. `character varying(32)`.
    pub sql_type: String,
    /// `NOT attnotnull`.
    pub nullable: bool,
    /// `pg_get_expr` of the column default, when it has one.
    pub default: Option<String>,
}

/// What lives under a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relation {
    /// Nothing.
    Missing,
    /// An ordinary table.
    Table(LiveTable),
    /// Something else (a view, a sequence, ...): `relkind` from `pg_class`.
    Other(char),
}

/// Whether the schema exists.
pub(crate) fn schema_exists(
    client: &mut impl GenericClient,
    schema: &str,
) -> Result<bool, postgres::Error> {
    let row = client.query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
        &[&schema],
    )?;
    Ok(row.get(0))
}

/// Reads the definition of `schema.table`.
pub(crate) fn read_table(
    client: &mut impl GenericClient,
    schema: &str,
    table: &str,
) -> Result<Relation, postgres::Error> {
    let Some(row) = client.query_opt(
        "SELECT c.oid, c.relkind::text \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relname = $2",
        &[&schema, &table],
    )?
    else {
        return Ok(Relation::Missing);
    };
    let oid: u32 = row.get(0);
    let relkind: String = row.get(1);
    if relkind != "r" {
        return Ok(Relation::Other(relkind.chars().next().unwrap_or('?')));
    }
    let columns = client
        .query(
            "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
                    NOT a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid) \
             FROM pg_catalog.pg_attribute a \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&oid],
        )?
        .into_iter()
        .map(|r| LiveColumn {
            name: r.get(0),
            sql_type: r.get(1),
            nullable: r.get(2),
            default: r.get(3),
        })
        .collect();
    let primary_key = client
        .query(
            "SELECT a.attname::text \
             FROM pg_catalog.pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = $1 AND i.indisprimary \
             ORDER BY k.ord",
            &[&oid],
        )?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Relation::Table(LiveTable {
        oid,
        columns,
        primary_key,
    }))
}
