//! The table model: what `#[derive(BulkTable)]` says about a struct, as static
//! data (columns, key, indexes).

use crate::ident::QualifiedName;
use crate::types::{EnumDef, SqlType};

/// One column of a [`TableDef`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColumnDef {
    /// Column name, as it is in the database (not quoted).
    pub name: &'static str,
    /// The column's type.
    pub sql_type: SqlType,
    /// `true` for `Option<T>` fields; every other column is `NOT NULL`.
    pub nullable: bool,
    /// `DEFAULT` expression (SQL, as written in `#[bulk(default = "...")]`):
    /// what rows that exist before the column was added get.
    pub default: Option<&'static str>,
    /// The column's previous name (`#[bulk(rename_from = "...")]`): a live
    /// column of that name is carried over as this one.
    pub rename_from: Option<&'static str>,
}

impl ColumnDef {
    /// A column; used by the code `#[derive(BulkTable)]` generates.
    pub const fn new(name: &'static str, sql_type: SqlType, nullable: bool) -> ColumnDef {
        ColumnDef {
            name,
            sql_type,
            nullable,
            default: None,
            rename_from: None,
        }
    }

    /// With a `DEFAULT` expression.
    pub const fn with_default(mut self, expr: &'static str) -> ColumnDef {
        self.default = Some(expr);
        self
    }

    /// Carrying a live column of another name over.
    pub const fn renamed_from(mut self, old: &'static str) -> ColumnDef {
        self.rename_from = Some(old);
        self
    }
}

/// An index of a [`TableDef`] (besides the primary key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexDef {
    /// The indexed columns, in order.
    pub columns: &'static [&'static str],
    /// `UNIQUE`.
    pub unique: bool,
    /// Access method: `btree` (default), `gin`, `gist`, `hash`, `brin`, ...
    pub method: &'static str,
}

impl IndexDef {
    /// A btree index; used by the code `#[derive(BulkTable)]` generates.
    pub const fn new(columns: &'static [&'static str], unique: bool) -> IndexDef {
        IndexDef {
            columns,
            unique,
            method: "btree",
        }
    }

    /// With another access method.
    pub const fn using(mut self, method: &'static str) -> IndexDef {
        self.method = method;
        self
    }
}

/// The definition of a table: what `#[derive(BulkTable)]` generates from a
/// struct.
///
/// ```
/// use pg_bulk_ingest::BulkTable;
///
/// #[derive(BulkTable)]
/// #[bulk(schema = "sales")]
/// struct OrderLine {
///     #[bulk(primary_key)]
///     order_id: i64,
///     #[bulk(primary_key)]
///     line: i32,
///     #[bulk(sql_type = "varchar(20)")]
///     sku: String,
///     note: Option<String>,
/// }
///
/// let table = &OrderLine::TABLE;
/// assert_eq!(table.name().to_string(), r#""sales"."order_line""#);
/// assert_eq!(table.primary_key, ["order_id", "line"]);
/// assert_eq!(table.columns[2].sql_type.to_string(), "character varying(20)");
/// assert!(table.columns[3].nullable);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableDef {
    /// Schema name (not quoted).
    pub schema: &'static str,
    /// Table name (not quoted).
    pub table: &'static str,
    /// The columns, in the order the struct declares its fields.
    pub columns: &'static [ColumnDef],
    /// Names of the primary-key columns in key order; empty when the table has
    /// no key.
    pub primary_key: &'static [&'static str],
    /// Indexes besides the primary key.
    pub indexes: &'static [IndexDef],
}

impl TableDef {
    /// A table; used by the code `#[derive(BulkTable)]` generates.
    pub const fn new(
        schema: &'static str,
        table: &'static str,
        columns: &'static [ColumnDef],
        primary_key: &'static [&'static str],
    ) -> TableDef {
        TableDef {
            schema,
            table,
            columns,
            primary_key,
            indexes: &[],
        }
    }

    /// With indexes besides the primary key.
    pub const fn with_indexes(mut self, indexes: &'static [IndexDef]) -> TableDef {
        self.indexes = indexes;
        self
    }

    /// The schema-qualified name; its `Display` is quoted SQL.
    pub fn name(&self) -> QualifiedName<'static> {
        QualifiedName::new(self.schema, self.table)
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&'static ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The enum types of the table's columns, each once, in column order.
    pub fn enums(&self) -> Vec<&'static EnumDef> {
        let mut out: Vec<&'static EnumDef> = Vec::new();
        for column in self.columns {
            if let Some(def) = column.sql_type.enum_def() {
                if !out.contains(&def) {
                    out.push(def);
                }
            }
        }
        out
    }
}
