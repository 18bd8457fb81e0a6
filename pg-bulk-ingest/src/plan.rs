//! Planning: comparing a [`TableDef`] with the live table and deciding what to
//! do. Pure code: data in, data out, no I/O.

use std::fmt;

use crate::catalog::{Carried, LiveTable, Relation};
use crate::ident::{limited, Ident, IdentList, Literal, QualifiedName};
use crate::table::TableDef;

/// One way in which the live table differs from its definition.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Difference {
    /// The name is taken by something that is not a table (`relkind`).
    NotATable {
        /// `pg_class.relkind` of what is there (`v` view, `m` materialized view, ...).
        relkind: char,
    },
    /// The definition has a column the table lacks.
    MissingColumn {
        /// Column name.
        column: String,
    },
    /// The table has a column the definition lacks.
    ExtraColumn {
        /// Column name.
        column: String,
    },
    /// The column's type differs.
    Type {
        /// Column name.
        column: String,
        /// The live type, as `format_type` renders it.
        live: String,
        /// The declared type.
        declared: String,
    },
    /// The column's nullability differs.
    Nullability {
        /// Column name.
        column: String,
        /// Whether the live column accepts NULL.
        live_nullable: bool,
    },
    /// The primary key differs (columns or their order).
    PrimaryKey {
        /// Live key columns.
        live: Vec<String>,
        /// Declared key columns.
        declared: Vec<String>,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = |cols: &[String]| {
            if cols.is_empty() {
                "none".to_owned()
            } else {
                format!("({})", IdentList(cols.iter().map(String::as_str)))
            }
        };
        match self {
            Difference::NotATable { relkind } => {
                let what = match relkind {
                    'v' => "a view",
                    'm' => "a materialized view",
                    'S' => "a sequence",
                    'f' => "a foreign table",
                    'p' => "a partitioned table",
                    'i' | 'I' => "an index",
                    'c' => "a composite type",
                    _ => "not an ordinary table",
                };
                write!(f, "the name is taken by {what}")
            }
            Difference::MissingColumn { column } => {
                write!(f, "column {} is missing from the table", Ident(column))
            }
            Difference::ExtraColumn { column } => write!(
                f,
                "the table has a column {} that the definition lacks",
                Ident(column)
            ),
            Difference::Type {
                column,
                live,
                declared,
            } => write!(
                f,
                "column {} is {live} in the table but {declared} in the definition",
                Ident(column)
            ),
            Difference::Nullability {
                column,
                live_nullable,
            } => {
                let (live, declared) = if *live_nullable {
                    ("nullable", "NOT NULL")
                } else {
                    ("NOT NULL", "nullable")
                };
                write!(
                    f,
                    "column {} is {live} in the table but {declared} in the definition",
                    Ident(column)
                )
            }
            Difference::PrimaryKey { live, declared } => write!(
                f,
                "the primary key is {} in the table but {} in the definition",
                key(live),
                key(declared)
            ),
        }
    }
}

/// What a call does to the table before loading rows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// The table matches its definition: load into it.
    Nothing {
        /// The live table's OID.
        oid: u32,
    },
    /// The table does not exist: create it (and its schema when `create_schema`),
    /// load, then add the primary key.
    Create {
        /// Whether the schema must be created too.
        create_schema: bool,
    },
    /// `replace` of an existing table: load a fresh table under another name,
    /// carry the owner, privileges and comments over, then swap it in.
    Replace {
        /// The live table's OID.
        oid: u32,
        /// Name of the intermediate table (same schema).
        intermediate: String,
        /// What is carried from the live table to the new one.
        carried: Carried,
    },
}

/// The result of comparing a definition with the database: what will be done,
/// or why it can't be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The definition the plan is for.
    pub table: &'static TableDef,
    /// What to do.
    pub action: Action,
}

impl Plan {
    /// Compares `table` with what the catalog holds under its name.
    ///
    /// Columns are matched by name (their physical order does not matter, as
    /// every COPY names its columns), types by their `format_type` spelling.
    pub fn new(
        table: &'static TableDef,
        schema_exists: bool,
        live: &Relation,
    ) -> Result<Plan, Vec<Difference>> {
        let action = match live {
            Relation::Missing => Action::Create {
                create_schema: !schema_exists,
            },
            Relation::Other(relkind) => {
                return Err(vec![Difference::NotATable { relkind: *relkind }])
            }
            Relation::Table(live) => {
                let differences = differences(table, live);
                if !differences.is_empty() {
                    return Err(differences);
                }
                Action::Nothing { oid: live.oid }
            }
        };
        Ok(Plan { table, action })
    }

    /// The plan of `replace` for a table that exists (table `oid`): a fresh
    /// table named `intermediate` is loaded and swapped in, carrying `carried`.
    pub fn replace(
        table: &'static TableDef,
        oid: u32,
        intermediate: String,
        carried: Carried,
    ) -> Plan {
        Plan {
            table,
            action: Action::Replace {
                oid,
                intermediate,
                carried,
            },
        }
    }

    /// The table the rows are COPYed into (not quoted).
    pub fn load_into(&self) -> &str {
        match &self.action {
            Action::Replace { intermediate, .. } => intermediate,
            _ => self.table.table,
        }
    }

    /// The statements that prepare the table, before any row is sent.
    pub fn before_load(&self) -> Vec<String> {
        match &self.action {
            Action::Nothing { .. } => Vec::new(),
            Action::Replace { intermediate, .. } => vec![create_table(self.table, intermediate)],
            Action::Create { create_schema } => {
                let mut sql = Vec::new();
                if *create_schema {
                    sql.push(format!(
                        "CREATE SCHEMA IF NOT EXISTS {}",
                        Ident(self.table.schema)
                    ));
                }
                sql.push(create_table(self.table, self.table.table));
                sql
            }
        }
    }

    /// The statements that finish the table after the rows are in: keys and
    /// indexes are built once, over all the rows, rather than row by row.
    pub fn after_load(&self) -> Vec<String> {
        let def = self.table;
        match &self.action {
            Action::Nothing { .. } => Vec::new(),
            Action::Create { .. } => add_primary_key(def, def.table, &primary_key_name(def.table))
                .into_iter()
                .collect(),
            Action::Replace {
                intermediate,
                carried,
                ..
            } => {
                let mut sql: Vec<String> =
                    add_primary_key(def, intermediate, &primary_key_name(intermediate))
                        .into_iter()
                        .collect();
                sql.extend(carry(def, intermediate, carried));
                sql
            }
        }
    }

    /// The statements that swap the loaded table in, once the live table is
    /// locked: the last thing a call does.
    pub fn swap(&self) -> Vec<String> {
        let def = self.table;
        let Action::Replace { intermediate, .. } = &self.action else {
            return Vec::new();
        };
        let mut sql = vec![
            format!("DROP TABLE {}", def.name()),
            format!(
                "ALTER TABLE {} RENAME TO {}",
                QualifiedName::new(def.schema, intermediate),
                Ident(def.table)
            ),
        ];
        if !def.primary_key.is_empty() {
            // Renaming the constraint renames its index too.
            sql.push(format!(
                "ALTER TABLE {} RENAME CONSTRAINT {} TO {}",
                def.name(),
                Ident(&primary_key_name(intermediate)),
                Ident(&primary_key_name(def.table))
            ));
        }
        sql
    }

    /// Whether the rows go into a table this plan creates (so the COPY may use
    /// `FREEZE`, and keys are built after the load).
    pub fn creates_table(&self) -> bool {
        matches!(self.action, Action::Create { .. } | Action::Replace { .. })
    }
}

/// Owner, privileges and comments of the live table, applied to `name`.
fn carry(def: &TableDef, name: &str, carried: &Carried) -> Vec<String> {
    let table = QualifiedName::new(def.schema, name);
    let grantee = |g: &Option<String>| match g {
        Some(role) => Ident(role).to_string(),
        None => "PUBLIC".to_owned(),
    };
    // Privilege names come from the catalog; anything but a keyword is skipped.
    let keyword = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_uppercase() || b == b' ');
    let option = |grantable: bool| if grantable { " WITH GRANT OPTION" } else { "" };
    let mut sql = vec![format!(
        "ALTER TABLE {table} OWNER TO {}",
        Ident(&carried.owner)
    )];
    for (role, privilege, grantable) in &carried.grants {
        if keyword(privilege) {
            sql.push(format!(
                "GRANT {privilege} ON TABLE {table} TO {}{}",
                grantee(role),
                option(*grantable)
            ));
        }
    }
    for (column, role, privilege, grantable) in &carried.column_grants {
        if keyword(privilege) && def.column(column).is_some() {
            sql.push(format!(
                "GRANT {privilege} ({}) ON TABLE {table} TO {}{}",
                Ident(column),
                grantee(role),
                option(*grantable)
            ));
        }
    }
    if let Some(comment) = &carried.comment {
        sql.push(format!("COMMENT ON TABLE {table} IS {}", Literal(comment)));
    }
    for (column, comment) in &carried.column_comments {
        if def.column(column).is_some() {
            sql.push(format!(
                "COMMENT ON COLUMN {table}.{} IS {}",
                Ident(column),
                Literal(comment)
            ));
        }
    }
    sql
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.table.name();
        match self.action {
            Action::Nothing { .. } => writeln!(f, "{name}: matches its definition")?,
            Action::Create { .. } => writeln!(f, "{name}: create")?,
            Action::Replace { .. } => {
                writeln!(f, "{name}: replace (load a new table, then swap it in)")?
            }
        }
        for sql in self.before_load() {
            writeln!(f, "  {sql};")?;
        }
        writeln!(f, "  -- COPY the rows")?;
        for sql in self.after_load() {
            writeln!(f, "  {sql};")?;
        }
        for sql in self.swap() {
            writeln!(
                f,
                "  {sql};  -- ACCESS EXCLUSIVE lock, last step before the caller commits"
            )?;
        }
        Ok(())
    }
}

/// The differences between `table` and `live`, in column order.
pub fn differences(table: &TableDef, live: &LiveTable) -> Vec<Difference> {
    let mut out = Vec::new();
    for column in table.columns {
        let Some(live_col) = live.columns.iter().find(|c| c.name == column.name) else {
            out.push(Difference::MissingColumn {
                column: column.name.to_owned(),
            });
            continue;
        };
        let declared = column.sql_type.to_string();
        if live_col.sql_type != declared {
            out.push(Difference::Type {
                column: column.name.to_owned(),
                live: live_col.sql_type.clone(),
                declared,
            });
        }
        if live_col.nullable != column.nullable {
            out.push(Difference::Nullability {
                column: column.name.to_owned(),
                live_nullable: live_col.nullable,
            });
        }
    }
    for live_col in &live.columns {
        if table.column(&live_col.name).is_none() {
            out.push(Difference::ExtraColumn {
                column: live_col.name.clone(),
            });
        }
    }
    if live
        .primary_key
        .iter()
        .map(String::as_str)
        .ne(table.primary_key.iter().copied())
    {
        out.push(Difference::PrimaryKey {
            live: live.primary_key.clone(),
            declared: table.primary_key.iter().map(|c| (*c).to_owned()).collect(),
        });
    }
    out
}

/// `CREATE TABLE schema.name (...)` with the columns of `table`, without keys.
pub(crate) fn create_table(table: &TableDef, name: &str) -> String {
    let mut sql = format!("CREATE TABLE {} (", QualifiedName::new(table.schema, name));
    for (i, column) in table.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("{} {}", Ident(column.name), column.sql_type));
        if !column.nullable {
            sql.push_str(" NOT NULL");
        }
    }
    sql.push(')');
    sql
}

/// The deterministic name of a table's primary-key constraint:
/// `<table>_pkey`, as PostgreSQL itself would name it.
pub(crate) fn primary_key_name(table: &str) -> String {
    limited(table, "_pkey")
}

/// `ALTER TABLE <name> ADD CONSTRAINT <constraint> PRIMARY KEY (...)`, when
/// the table has a key.
pub(crate) fn add_primary_key(table: &TableDef, name: &str, constraint: &str) -> Option<String> {
    if table.primary_key.is_empty() {
        return None;
    }
    Some(format!(
        "ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})",
        QualifiedName::new(table.schema, name),
        Ident(constraint),
        IdentList(table.primary_key.iter().copied())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::LiveColumn;
    use crate::table::{ColumnDef, SqlType, TypeKind};

    static TABLE: TableDef = TableDef::new(
        "sales",
        "orders",
        &[
            ColumnDef::new("id", SqlType::new(TypeKind::Int8), false),
            ColumnDef::new(
                "customer",
                SqlType::new(TypeKind::Varchar).with_length(32),
                false,
            ),
            ColumnDef::new("note", SqlType::new(TypeKind::Text), true),
        ],
        &["id"],
    );

    fn live() -> LiveTable {
        let col = |name: &str, ty: &str, nullable| LiveColumn {
            name: name.into(),
            sql_type: ty.into(),
            nullable,
            default: None,
        };
        LiveTable {
            oid: 42,
            // Physical order differs from the definition's: that's fine.
            columns: vec![
                col("note", "text", true),
                col("id", "bigint", false),
                col("customer", "character varying(32)", false),
            ],
            primary_key: vec!["id".into()],
        }
    }

    #[test]
    fn missing_table_is_created_with_key_after_load() {
        let plan = Plan::new(&TABLE, false, &Relation::Missing).unwrap();
        assert_eq!(
            plan.before_load(),
            [
                r#"CREATE SCHEMA IF NOT EXISTS "sales""#,
                r#"CREATE TABLE "sales"."orders" ("id" bigint NOT NULL, "customer" character varying(32) NOT NULL, "note" text)"#
            ]
        );
        assert_eq!(
            plan.after_load(),
            [r#"ALTER TABLE "sales"."orders" ADD CONSTRAINT "orders_pkey" PRIMARY KEY ("id")"#]
        );
        assert!(plan.creates_table());
    }

    #[test]
    fn matching_table_needs_nothing() {
        let plan = Plan::new(&TABLE, true, &Relation::Table(live())).unwrap();
        assert_eq!(plan.action, Action::Nothing { oid: 42 });
        assert!(plan.before_load().is_empty() && plan.after_load().is_empty());
    }

    #[test]
    fn every_difference_is_named() {
        let mut live = live();
        live.columns[2].sql_type = "character varying(16)".into();
        live.columns[0].nullable = false;
        live.columns[1].name = "ident".into();
        live.primary_key = vec![];
        let diffs = Plan::new(&TABLE, true, &Relation::Table(live)).unwrap_err();
        let text: Vec<String> = diffs.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                r#"column "id" is missing from the table"#,
                r#"column "customer" is character varying(16) in the table but character varying(32) in the definition"#,
                r#"column "note" is NOT NULL in the table but nullable in the definition"#,
                r#"the table has a column "ident" that the definition lacks"#,
                r#"the primary key is none in the table but ("id") in the definition"#,
            ]
        );
    }

    #[test]
    fn a_view_is_not_a_table() {
        let diffs = Plan::new(&TABLE, true, &Relation::Other('v')).unwrap_err();
        assert_eq!(diffs[0].to_string(), "the name is taken by a view");
    }
}
