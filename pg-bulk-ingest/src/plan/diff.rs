//! The comparison of a table's definition with the live table: the changes
//! that make one match the other, how a column's values reach a new type, and
//! why a change is refused. Pure: data in, data out.
//!
//! The comparison is semantic: columns are matched by name (physical order
//! does not matter, every COPY names its columns), types by their
//! `format_type` spelling (so `varchar(32)` and `character varying(32)` are
//! the same) and enum types by schema and name, defaults as PostgreSQL
//! normalizes them, indexes by columns, uniqueness and method (not by name).
//! An unchanged definition plans nothing, so the table is never rebuilt for
//! nothing.

use std::fmt;

use crate::catalog::{Facts, LiveColumn, LiveIndex, LiveTable};
use crate::ident::{Ident, IdentList};
use crate::table::{IndexDef, TableDef};
use crate::types::{SqlType, TypeKind};

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
}

/// How a column's values get to a new type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cast {
    /// The stored bytes stay valid: a catalog-only change.
    BinaryCoercible,
    /// Every value converts exactly, but the table is rewritten.
    Lossless,
    /// Some values may not convert (narrowing, or no exact conversion).
    Lossy,
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
            Change::SetNotNull { .. } | Change::AddIndex { .. } | Change::PrimaryKey { .. } => {
                false
            }
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

/// The changes that make `live` match `table`, in column order, then keys and
/// indexes. `normalized_defaults` are the declared defaults as PostgreSQL
/// normalizes them; data facts come from `facts`.
pub(crate) fn changes(table: &TableDef, live: &LiveTable, facts: &Facts) -> Vec<Change> {
    let mut out = Vec::new();
    let mut matched: Vec<&str> = Vec::new();
    for column in table.columns {
        let Some(live_col) = live.source_of(column) else {
            out.push(Change::AddColumn {
                column: column.name.to_owned(),
            });
            continue;
        };
        matched.push(&live_col.name);
        if live_col.name != column.name {
            out.push(Change::RenameColumn {
                from: live_col.name.clone(),
                to: column.name.to_owned(),
            });
        }
        if !same_type(live_col, &column.sql_type) {
            out.push(Change::AlterType {
                column: column.name.to_owned(),
                from: live_col.sql_type.clone(),
                to: column.sql_type.to_string(),
                cast: classify_column(live_col, &column.sql_type),
            });
        }
        if live_col.nullable && !column.nullable {
            out.push(Change::SetNotNull {
                column: column.name.to_owned(),
                has_nulls: facts.columns_with_nulls.contains(&live_col.name),
            });
        } else if !live_col.nullable && column.nullable {
            out.push(Change::DropNotNull {
                column: column.name.to_owned(),
            });
        }
        let declared_default = column.default.map(|_| {
            facts
                .normalized_defaults
                .iter()
                .find(|(c, _)| c == column.name)
                .map_or_else(
                    || column.default.unwrap_or_default().to_owned(),
                    |(_, d)| d.clone(),
                )
        });
        if live_col.default != declared_default {
            out.push(Change::Default {
                column: column.name.to_owned(),
                to: column.default.map(str::to_owned),
            });
        }
    }
    for live_col in &live.columns {
        if !matched.contains(&live_col.name.as_str()) {
            out.push(Change::DropColumn {
                column: live_col.name.clone(),
                has_data: facts.columns_with_data.contains(&live_col.name),
            });
        }
    }
    // Keys and indexes: compared by the columns they name (after renames).
    let live_name = |declared: &str| -> String {
        table
            .column(declared)
            .and_then(|c| live.source_of(c))
            .map_or(declared, |l| l.name.as_str())
            .to_owned()
    };
    let declared_key: Vec<String> = table.primary_key.iter().map(|c| live_name(c)).collect();
    if live.primary_key != declared_key {
        out.push(Change::PrimaryKey {
            from: live.primary_key.clone(),
            to: table.primary_key.iter().map(|c| (*c).to_owned()).collect(),
        });
    }
    let mut unmatched: Vec<&LiveIndex> = live.indexes.iter().collect();
    for index in table.indexes {
        let columns: Vec<String> = index.columns.iter().map(|c| live_name(c)).collect();
        let found = unmatched
            .iter()
            .position(|l| l.is_declared(index, columns.iter().map(String::as_str)));
        match found {
            Some(i) => {
                unmatched.remove(i);
            }
            None => out.push(Change::AddIndex { index: *index }),
        }
    }
    // Indexes someone else made are left alone.
    for index in unmatched.into_iter().filter(|i| i.ours) {
        out.push(Change::DropIndex {
            name: index.name.clone(),
            definition: index.definition.clone(),
        });
    }
    out
}

/// Whether live column `live` has the type `declared`: enum types by schema
/// and name (`format_type` qualifies an enum's name only when it is off the
/// search path), other types by their `format_type` spelling.
pub(crate) fn same_type(live: &LiveColumn, declared: &SqlType) -> bool {
    match declared.enum_def() {
        Some(def) => live.is_enum && live.type_schema == def.schema && live.type_name == def.name,
        None => !live.is_enum && live.sql_type == declared.to_string(),
    }
}

/// [`classify_cast`] for a live column, which may be of an enum type: every
/// label converts to `text` exactly; a conversion to an enum type is lossy
/// (a value must be one of its labels).
fn classify_column(live: &LiveColumn, to: &SqlType) -> Cast {
    if to.kind() == TypeKind::Enum {
        Cast::Lossy
    } else if live.is_enum {
        if to.kind() == TypeKind::Text && !to.is_array() {
            Cast::Lossless
        } else {
            Cast::Lossy
        }
    } else {
        classify_cast(&live.sql_type, to)
    }
}

/// Whether every value of a live column of type `from` (as `format_type`
/// spells it) converts exactly to `to`, and whether that needs a rewrite.
pub(crate) fn classify_cast(from: &str, to: &SqlType) -> Cast {
    use TypeKind::*;
    match (from.strip_suffix("[]"), to.is_array()) {
        // Arrays of the same element type: as their elements.
        (Some(element), true) => {
            return match classify_cast(element, &to.element()) {
                Cast::BinaryCoercible => Cast::BinaryCoercible,
                _ => Cast::Lossy,
            }
        }
        (None, false) => {}
        (Some(_), false) if to.kind() == Text => return Cast::Lossless,
        _ => return Cast::Lossy,
    }
    let Some((kind, p, s)) = parse_format_type(from) else {
        return Cast::Lossy;
    };
    let (tk, tp, ts) = (to.kind(), to.precision(), to.scale());
    let wider = |from: Option<u32>, to: Option<u32>| match (from, to) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => b >= a,
    };
    match (kind, tk) {
        (Varchar, Varchar) if wider(p, tp) => Cast::BinaryCoercible,
        (Varchar | Text, Text) => Cast::BinaryCoercible,
        (Text, Varchar) if tp.is_none() => Cast::BinaryCoercible,
        (Char, Char) if wider(p, tp) => Cast::Lossless,
        (Int2, Int4 | Int8) | (Int4, Int8) => Cast::Lossless,
        (Int2 | Int4 | Int8, Numeric) if tp.is_none() => Cast::Lossless,
        (Int2 | Int4, Float8) | (Int2, Float4) | (Float4, Float8) => Cast::Lossless,
        (Numeric, Numeric) => match (p, s, tp, ts) {
            (_, _, None, _) => Cast::BinaryCoercible,
            (None, _, Some(_), _) => Cast::Lossy,
            (Some(p), s, Some(tp), ts) => {
                let (s, ts) = (s.unwrap_or(0), ts.unwrap_or(0));
                if ts == s && tp >= p {
                    Cast::BinaryCoercible
                } else if ts >= s && tp - ts >= p - s {
                    Cast::Lossless
                } else {
                    Cast::Lossy
                }
            }
        },
        (Time, Time) | (Timestamp, Timestamp) | (Timestamptz, Timestamptz) if wider(p, tp) => {
            Cast::BinaryCoercible
        }
        (Date, Timestamp) => Cast::Lossless,
        (_, Text) => Cast::Lossless,
        _ => Cast::Lossy,
    }
}

/// Parses what `format_type` gives for the types the library writes:
/// `(kind, precision or length, scale)`.
fn parse_format_type(text: &str) -> Option<(TypeKind, Option<u32>, Option<u32>)> {
    use TypeKind::*;
    let (head, zone) = if let Some(h) = text.strip_suffix(" with time zone") {
        (h, Some(true))
    } else if let Some(h) = text.strip_suffix(" without time zone") {
        (h, Some(false))
    } else {
        (text, None)
    };
    let (name, mods) = match head.find('(') {
        Some(i) => (&head[..i], head[i + 1..].strip_suffix(')')?),
        None => (head, ""),
    };
    let mut nums = mods
        .split(',')
        .filter(|m| !m.is_empty())
        .map(|m| m.trim().parse::<u32>());
    let p = nums.next().transpose().ok()?;
    let s = nums.next().transpose().ok()?;
    let kind = match (name, zone) {
        ("boolean", _) => Bool,
        ("smallint", _) => Int2,
        ("integer", _) => Int4,
        ("bigint", _) => Int8,
        ("real", _) => Float4,
        ("double precision", _) => Float8,
        ("numeric", _) => Numeric,
        ("text", _) => Text,
        ("character varying", _) => Varchar,
        ("character" | "bpchar", _) => Char,
        ("bytea", _) => Bytea,
        ("date", _) => Date,
        ("time", Some(false)) => Time,
        ("timestamp", Some(false)) => Timestamp,
        ("timestamp", Some(true)) => Timestamptz,
        _ => return None,
    };
    Some((kind, p, s))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::LiveIndex;
    use crate::table::ColumnDef;
    use crate::types::EnumDef;

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
    )
    .with_indexes(&[IndexDef::new(&["customer"], false)]);

    pub(crate) fn col(name: &str, ty: &str, nullable: bool) -> LiveColumn {
        LiveColumn {
            name: name.into(),
            sql_type: ty.into(),
            type_schema: "pg_catalog".into(),
            type_name: ty.into(),
            is_enum: false,
            nullable,
            default: None,
        }
    }

    fn live() -> LiveTable {
        LiveTable {
            oid: 42,
            // Physical order differs from the definition's: that's fine.
            columns: vec![
                col("note", "text", true),
                col("id", "bigint", false),
                col("customer", "character varying(32)", false),
            ],
            primary_key: vec!["id".into()],
            indexes: vec![LiveIndex {
                name: "some_other_name".into(),
                columns: vec!["customer".into()],
                unique: false,
                method: "btree".into(),
                plain: true,
                definition: "CREATE INDEX ...".into(),
                ours: true,
            }],
        }
    }

    #[test]
    fn matching_table_has_no_changes_whatever_the_names_and_order() {
        assert_eq!(changes(&TABLE, &live(), &Facts::default()), []);
    }

    #[test]
    fn changes_are_found_in_column_order_then_keys_and_indexes() {
        let mut l = live();
        l.columns[2].sql_type = "character varying(16)".into();
        l.columns.push(col("old", "integer", true));
        l.indexes[0].unique = true;
        let facts = Facts {
            has_rows: true,
            columns_with_data: vec!["old".into()],
            ..Facts::default()
        };
        let found: Vec<String> = changes(&TABLE, &l, &facts)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "change column \"customer\" from character varying(16) to character varying(32)",
                "drop column \"old\" (it holds data)",
                "add index on (\"customer\") using btree",
                "drop index \"some_other_name\" (CREATE INDEX ...)",
            ]
        );
    }

    #[test]
    fn casts_are_classified() {
        let v = |n| SqlType::new(TypeKind::Varchar).with_length(n);
        assert_eq!(
            classify_cast("character varying(10)", &v(20)),
            Cast::BinaryCoercible
        );
        assert_eq!(classify_cast("character varying(20)", &v(10)), Cast::Lossy);
        assert_eq!(
            classify_cast("character varying", &SqlType::new(TypeKind::Text)),
            Cast::BinaryCoercible
        );
        assert_eq!(
            classify_cast("integer", &SqlType::new(TypeKind::Int8)),
            Cast::Lossless
        );
        assert_eq!(
            classify_cast("bigint", &SqlType::new(TypeKind::Int4)),
            Cast::Lossy
        );
        let n = |p, s| SqlType::new(TypeKind::Numeric).with_precision_scale(p, s);
        assert_eq!(
            classify_cast("numeric(10,2)", &n(12, 2)),
            Cast::BinaryCoercible
        );
        assert_eq!(classify_cast("numeric(10,2)", &n(12, 3)), Cast::Lossless);
        assert_eq!(classify_cast("numeric(10,2)", &n(10, 3)), Cast::Lossy);
        assert_eq!(
            classify_cast(
                "timestamp(3) without time zone",
                &SqlType::new(TypeKind::Timestamp)
            ),
            Cast::BinaryCoercible
        );
        assert_eq!(
            classify_cast("bytea", &SqlType::new(TypeKind::Int4)),
            Cast::Lossy
        );
        let int4 = SqlType::new(TypeKind::Int4);
        assert_eq!(classify_cast("smallint", &int4.array()), Cast::Lossy);
        assert_eq!(classify_cast("smallint[]", &int4), Cast::Lossy);
        assert_eq!(
            classify_cast("character varying(3)[]", &v(5).array()),
            Cast::BinaryCoercible
        );
        assert_eq!(
            classify_cast("character varying(5)[]", &v(3).array()),
            Cast::Lossy
        );
        assert_eq!(
            classify_cast("integer[]", &SqlType::new(TypeKind::Text)),
            Cast::Lossless
        );
    }

    static MOOD: EnumDef = EnumDef::new("s", "mood", &["happy", "it's"]);
    pub(crate) static WITH_ENUM: TableDef = TableDef::new(
        "s",
        "t",
        &[
            ColumnDef::new("id", SqlType::new(TypeKind::Int8), false),
            ColumnDef::new("mood", SqlType::of_enum(&MOOD), true),
        ],
        &[],
    );

    pub(crate) fn enum_col(
        name: &str,
        format_type: &str,
        schema: &str,
        type_name: &str,
    ) -> LiveColumn {
        LiveColumn {
            type_schema: schema.into(),
            type_name: type_name.into(),
            is_enum: true,
            ..col(name, format_type, true)
        }
    }

    #[test]
    fn enum_columns_compare_by_schema_and_name() {
        let mut live = LiveTable {
            oid: 7,
            columns: vec![
                col("id", "bigint", false),
                // `format_type` leaves out a schema on the search path.
                enum_col("mood", "mood", "s", "mood"),
            ],
            primary_key: Vec::new(),
            indexes: Vec::new(),
        };
        assert_eq!(changes(&WITH_ENUM, &live, &Facts::default()), []);
        live.columns[1] = enum_col("mood", "s.mood", "s", "mood");
        assert_eq!(changes(&WITH_ENUM, &live, &Facts::default()), []);
        // Same name, another schema.
        live.columns[1] = enum_col("mood", "mood", "public", "mood");
        let c = changes(&WITH_ENUM, &live, &Facts::default());
        assert_eq!(
            c,
            [Change::AlterType {
                column: "mood".into(),
                from: "mood".into(),
                to: r#""s"."mood""#.into(),
                cast: Cast::Lossy
            }]
        );
        // A text column spelt like the type is not the enum.
        live.columns[1] = col("mood", r#""s"."mood""#, true);
        assert!(matches!(
            changes(&WITH_ENUM, &live, &Facts::default())[..],
            [Change::AlterType {
                cast: Cast::Lossy,
                ..
            }]
        ));
        // From an enum to text: every label fits.
        let text = SqlType::new(TypeKind::Text);
        assert_eq!(
            classify_column(&enum_col("m", "mood", "s", "mood"), &text),
            Cast::Lossless
        );
        assert_eq!(
            classify_column(
                &enum_col("m", "mood", "s", "mood"),
                &SqlType::new(TypeKind::Int4)
            ),
            Cast::Lossy
        );
    }
}
