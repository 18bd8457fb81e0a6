//! The vocabulary of a comparison: the changes that make a live table match
//! its definition, and why a change is refused; with the text `plan()` shows.

use std::fmt;

use super::Cast;
use crate::ident::{Ident, IdentList};
use crate::table::IndexDef;

/// One change that makes the live table match its definition.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A column the table lacks.
    AddColumn {
        /// Column name.
        column: String,
    },
    /// A column the definition lacks.
    DropColumn {
        /// Column name.
        column: String,
        /// Whether it holds any non-NULL value.
        has_data: bool,
    },
    /// A column renamed (`rename_from`).
    RenameColumn {
        /// The live name.
        from: String,
        /// The declared name.
        to: String,
    },
    /// A column's type.
    AlterType {
        /// Column name (declared).
        column: String,
        /// Live type, as `format_type` gives it.
        from: String,
        /// Declared type.
        to: String,
        /// Whether every value fits the new type.
        cast: Cast,
    },
    /// `NOT NULL` added.
    SetNotNull {
        /// Column name.
        column: String,
        /// Whether the column holds NULLs.
        has_nulls: bool,
    },
    /// `NOT NULL` dropped.
    DropNotNull {
        /// Column name.
        column: String,
    },
    /// The column default (`None`: no default).
    Default {
        /// Column name.
        column: String,
        /// The declared default, as written.
        to: Option<String>,
    },
    /// A declared index the table lacks.
    AddIndex {
        /// The index.
        index: IndexDef,
    },
    /// An index of the table the definition lacks.
    DropIndex {
        /// Its name.
        name: String,
        /// Its definition, as `pg_get_indexdef` gives it.
        definition: String,
    },
    /// The primary key's columns.
    PrimaryKey {
        /// Live key columns.
        from: Vec<String>,
        /// Declared key columns.
        to: Vec<String>,
    },
    /// How the database fills a column: identity, generated expression, or
    /// none (see [`Filled`](crate::table::Filled)). Never made by a call:
    /// refused with [`Refusal::Fill`].
    Fill {
        /// Column name.
        column: String,
        /// How the live column is filled, described.
        from: String,
        /// How the definition fills it, described.
        to: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::AddColumn { column } => write!(f, "add column {}", Ident(column)),
            Change::DropColumn { column, has_data } => write!(
                f,
                "drop column {}{}",
                Ident(column),
                if *has_data {
                    " (it holds data)"
                } else {
                    " (it holds no data)"
                }
            ),
            Change::RenameColumn { from, to } => {
                write!(f, "rename column {} to {}", Ident(from), Ident(to))
            }
            Change::AlterType {
                column,
                from,
                to,
                cast,
            } => {
                let how = match cast {
                    Cast::BinaryCoercible => "",
                    Cast::Lossless => " (rewrite)",
                    Cast::Lossy => " (values may not fit)",
                };
                write!(
                    f,
                    "change column {} from {from} to {to}{how}",
                    Ident(column)
                )
            }
            Change::SetNotNull { column, has_nulls } => write!(
                f,
                "make column {} NOT NULL{}",
                Ident(column),
                if *has_nulls { " (it holds NULLs)" } else { "" }
            ),
            Change::DropNotNull { column } => write!(f, "make column {} nullable", Ident(column)),
            Change::Default { column, to } => match to {
                Some(expr) => write!(f, "set the default of {} to {expr}", Ident(column)),
                None => write!(f, "drop the default of {}", Ident(column)),
            },
            Change::AddIndex { index } => write!(
                f,
                "add {}index on ({}) using {}",
                if index.unique { "unique " } else { "" },
                IdentList(index.columns.iter().copied()),
                index.method
            ),
            Change::DropIndex { name, definition } => {
                write!(f, "drop index {} ({definition})", Ident(name))
            }
            Change::Fill { column, from, to } => {
                write!(f, "fill column {} by {to} instead of {from}", Ident(column))
            }
            Change::PrimaryKey { from, to } => {
                let key = |cols: &[String]| {
                    if cols.is_empty() {
                        "none".to_owned()
                    } else {
                        format!("({})", IdentList(cols.iter().map(String::as_str)))
                    }
                };
                write!(
                    f,
                    "change the primary key from {} to {}",
                    key(from),
                    key(to)
                )
            }
        }
    }
}

impl Change {
    /// Whether the change only touches the catalog (no rewrite, no scan, no
    /// index build), so it can be made in place under a short lock.
    pub fn is_catalog_only(&self) -> bool {
        match self {
            Change::AddColumn { .. }
            | Change::DropColumn { .. }
            | Change::RenameColumn { .. }
            | Change::DropNotNull { .. }
            | Change::Default { .. }
            | Change::DropIndex { .. } => true,
            Change::AlterType { cast, .. } => *cast == Cast::BinaryCoercible,
            Change::SetNotNull { .. }
            | Change::AddIndex { .. }
            | Change::PrimaryKey { .. }
            | Change::Fill { .. } => false,
        }
    }

    /// What the change loses, when it loses anything.
    pub(crate) fn loss(&self) -> Option<String> {
        match self {
            Change::DropColumn {
                column,
                has_data: true,
            } => Some(format!("column {} and the data it holds", Ident(column))),
            Change::AlterType {
                column,
                from,
                to,
                cast: Cast::Lossy,
            } => Some(format!(
                "values of column {} that don't fit when {from} becomes {to}",
                Ident(column)
            )),
            _ => None,
        }
    }
}

/// Why a migration can't be done at all, or not without losing data.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The name is taken by something that is not a table (`relkind`).
    NotATable {
        /// `pg_class.relkind` of what is there.
        relkind: char,
    },
    /// A new `NOT NULL` column without a default, on a table with rows.
    NotNullWithoutDefault {
        /// Column name.
        column: String,
    },
    /// `NOT NULL` on a column that holds NULLs.
    NullsInNotNull {
        /// Column name.
        column: String,
    },
    /// Data would be lost; allowed with `allow_data_loss`.
    DataLoss {
        /// What would be lost.
        what: String,
    },
    /// How the database fills a column would change (an identity or a
    /// generated expression added, dropped or changed on a column that
    /// exists): PostgreSQL's rules for each (`ALTER COLUMN ... ADD GENERATED`,
    /// `SET EXPRESSION` of 17, `DROP EXPRESSION`, ...) differ by major, so
    /// such a change is made by hand.
    Fill {
        /// Column name.
        column: String,
        /// The change, described.
        what: String,
    },
    /// What the call would do to a partitioned table, or the partitioning
    /// a definition declares, the library does not do: the partitioning
    /// declared differs from the live table's, or the call would rebuild or
    /// swap a partitioned table (see the crate docs, "Partitioned tables").
    Partitioning {
        /// What, described.
        what: String,
    },
    /// A column's enum type is taken by a type that is not an enum.
    TypeNotAnEnum {
        /// Schema-qualified, quoted name of the type.
        type_name: String,
        /// `pg_type.typtype` of what is there.
        typtype: char,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotATable { relkind } => {
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
            Refusal::NotNullWithoutDefault { column } => write!(
                f,
                "new NOT NULL column {} needs a `default` for the rows already in the table",
                Ident(column)
            ),
            Refusal::NullsInNotNull { column } => write!(
                f,
                "column {} holds NULLs but is NOT NULL in the definition",
                Ident(column)
            ),
            Refusal::DataLoss { what } => write!(f, "would lose {what}"),
            Refusal::Fill { column, what } => write!(
                f,
                "column {} would be {what}: change it by hand (ALTER TABLE), then load",
                Ident(column)
            ),
            Refusal::Partitioning { what } => f.write_str(what),
            Refusal::TypeNotAnEnum { type_name, typtype } => {
                let what = match typtype {
                    'b' => "a base type",
                    'c' => "a composite type (a table's row type?)",
                    'd' => "a domain",
                    'm' => "a multirange type",
                    'r' => "a range type",
                    'p' => "a pseudo-type",
                    _ => "not an enum",
                };
                write!(
                    f,
                    "the enum type {type_name} can't be created: the name is taken by {what}"
                )
            }
        }
    }
}
