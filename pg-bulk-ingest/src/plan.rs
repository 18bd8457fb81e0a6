//! Planning: comparing a [`TableDef`] with the live table and deciding what to
//! do. Pure code: data in, data out, no I/O.
//!
//! The comparison is semantic: columns are matched by name (physical order
//! does not matter, every COPY names its columns), types by their
//! `format_type` spelling (so `varchar(32)` and `character varying(32)` are
//! the same) and enum types by schema and name, defaults as PostgreSQL
//! normalizes them, indexes by columns, uniqueness and method (not by name).
//! An unchanged definition plans nothing, so the table is never rebuilt for
//! nothing.

use std::fmt;

use crate::catalog::{
    Carried, DependentView, Facts, Grant, LiveColumn, LiveIndex, LiveTable, Relation,
};
use crate::ident::{limited, object_name, Ident, IdentList, Literal, QualifiedName};
use crate::table::{ColumnDef, IndexDef, TableDef};
use crate::types::{EnumDef, SqlType, TypeKind};

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
    fn loss(&self) -> Option<String> {
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

/// What a call does to the table before loading rows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// The table matches its definition: load into it.
    Nothing {
        /// The live table's OID.
        oid: u32,
    },
    /// The table does not exist: create it (and its schema when
    /// `create_schema`), load, then add the key and indexes.
    Create {
        /// Whether the schema must be created too.
        create_schema: bool,
    },
    /// Catalog-only changes, made with `ALTER TABLE` at the end of the call
    /// under a short `ACCESS EXCLUSIVE` lock (opt-in: [`Ingest::in_place`](crate::Ingest::in_place)).
    InPlace {
        /// The live table's OID.
        oid: u32,
        /// The changes.
        changes: Vec<Change>,
    },
    /// Build an intermediate table with the new definition, copy the live
    /// rows into it (writers wait, readers don't), load, swap it in.
    Rebuild {
        /// The live table's OID.
        oid: u32,
        /// The changes.
        changes: Vec<Change>,
        /// Name of the intermediate table (same schema).
        intermediate: String,
        /// What is carried from the live table to the new one.
        carried: Carried,
        /// `upsert` by rebuild: the rows are loaded into the new table first;
        /// then only the live rows whose key the load doesn't hold are copied
        /// after them, and where a key repeats in the load its last row is
        /// kept. Otherwise the live rows are copied first.
        upsert: bool,
    },
    /// `replace`: load a fresh table under another name, carry the owner,
    /// privileges and comments over, then swap it in.
    Replace {
        /// The live table's OID.
        oid: u32,
        /// Name of the intermediate table (same schema).
        intermediate: String,
        /// What is carried from the live table to the new one.
        carried: Carried,
    },
}

/// What will be done to one table, and every statement of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The definition the plan is for.
    pub table: &'static TableDef,
    /// What to do.
    pub action: Action,
    /// The live table, when there is one.
    pub live: Option<LiveTable>,
    /// The statements that create the enum types the table's columns use and
    /// that don't exist yet (and their schemas): run first, before the table
    /// is looked at.
    pub create_types: Vec<String>,
}

/// The options of a call that planning depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Make catalog-only changes in place rather than rebuilding.
    pub in_place: bool,
    /// Allow changes that lose data.
    pub allow_data_loss: bool,
}

/// The changes that make `live` match `table`, in column order, then keys and
/// indexes. `normalized_defaults` are the declared defaults as PostgreSQL
/// normalizes them; data facts come from `facts`.
pub fn changes(table: &TableDef, live: &LiveTable, facts: &Facts) -> Vec<Change> {
    let mut out = Vec::new();
    let mut matched: Vec<&str> = Vec::new();
    for column in table.columns {
        let Some(live_col) = source_column(live, column) else {
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
        let column = table.column(declared);
        let renamed = column
            .and_then(|c| c.rename_from)
            .filter(|old| live.column(declared).is_none() && live.column(old).is_some());
        renamed.unwrap_or(declared).to_owned()
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
        let found = unmatched.iter().position(|l| {
            l.plain && l.unique == index.unique && l.method == index.method && l.columns == columns
        });
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

/// The live column that holds `column`'s values: the one of its name, or the
/// one it is renamed from.
fn source_column<'a>(live: &'a LiveTable, column: &ColumnDef) -> Option<&'a LiveColumn> {
    live.column(column.name)
        .or_else(|| column.rename_from.and_then(|old| live.column(old)))
}

/// Whether live column `live` has the type `declared`: enum types by schema
/// and name (`format_type` qualifies an enum's name only when it is off the
/// search path), other types by their `format_type` spelling.
pub fn same_type(live: &LiveColumn, declared: &SqlType) -> bool {
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
pub fn classify_cast(from: &str, to: &SqlType) -> Cast {
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

impl Plan {
    /// Compares `table` with what the catalog holds under its name and plans
    /// the call: nothing, create, in place or rebuild. `intermediate` and
    /// `carried` are used only by a rebuild.
    pub fn new(
        table: &'static TableDef,
        schema_exists: bool,
        live: &Relation,
        facts: &Facts,
        options: PlanOptions,
        intermediate: impl FnOnce() -> (String, Carried),
    ) -> Result<Plan, Vec<Refusal>> {
        let live = match live {
            Relation::Missing => {
                return Ok(Plan {
                    table,
                    action: Action::Create {
                        create_schema: !schema_exists,
                    },
                    live: None,
                    create_types: Vec::new(),
                })
            }
            Relation::Other(relkind) => return Err(vec![Refusal::NotATable { relkind: *relkind }]),
            Relation::Table(live) => live,
        };
        let changes = changes(table, live, facts);
        let mut refusals = Vec::new();
        for change in &changes {
            match change {
                Change::AddColumn { column } => {
                    let def = table.column(column).expect("declared column");
                    if !def.nullable && def.default.is_none() && facts.has_rows {
                        refusals.push(Refusal::NotNullWithoutDefault {
                            column: column.clone(),
                        });
                    }
                }
                Change::SetNotNull {
                    column,
                    has_nulls: true,
                } => refusals.push(Refusal::NullsInNotNull {
                    column: column.clone(),
                }),
                _ => {}
            }
            if let Some(what) = change.loss() {
                if !options.allow_data_loss && facts.has_rows {
                    refusals.push(Refusal::DataLoss { what });
                }
            }
        }
        if !refusals.is_empty() {
            return Err(refusals);
        }
        let oid = live.oid;
        let action = if changes.is_empty() {
            Action::Nothing { oid }
        } else if options.in_place && changes.iter().all(Change::is_catalog_only) {
            Action::InPlace { oid, changes }
        } else {
            let (intermediate, carried) = intermediate();
            Action::Rebuild {
                oid,
                changes,
                intermediate,
                carried,
                upsert: false,
            }
        };
        Ok(Plan {
            table,
            action,
            live: Some(live.clone()),
            create_types: Vec::new(),
        })
    }

    /// The plan of `replace` for a table that exists: a fresh table named
    /// `intermediate` is loaded and swapped in, carrying `carried`.
    pub fn replace(
        table: &'static TableDef,
        live: &LiveTable,
        intermediate: String,
        carried: Carried,
    ) -> Plan {
        Plan {
            table,
            action: Action::Replace {
                oid: live.oid,
                intermediate,
                carried,
            },
            live: Some(live.clone()),
            create_types: Vec::new(),
        }
    }

    /// Turns the plan of an `upsert` into an upsert by rebuild (see
    /// [`Action::Rebuild`]'s `upsert`): a table that matches its definition is
    /// rebuilt with `intermediate()`'s name and carried objects, a rebuild
    /// copies the live rows after the load. Only where the live table's
    /// primary key is the definition's, with the same column types, so that
    /// live rows can't collide with each other in the new key; otherwise the
    /// plan is returned as it is.
    pub fn upsert_by_rebuild(mut self, intermediate: impl FnOnce() -> (String, Carried)) -> Plan {
        let Some(live) = self.live.as_ref() else {
            return self;
        };
        let def = self.table;
        let same_key = !def.primary_key.is_empty()
            && def.primary_key.len() == live.primary_key.len()
            && def
                .primary_key
                .iter()
                .zip(&live.primary_key)
                .all(|(&key, live_key)| {
                    let column = def.column(key).expect("key columns are declared");
                    source_column(live, column).is_some_and(|source| {
                        &source.name == live_key && same_type(source, &column.sql_type)
                    })
                });
        if !same_key {
            return self;
        }
        match &mut self.action {
            Action::Nothing { oid } => {
                let (intermediate, carried) = intermediate();
                self.action = Action::Rebuild {
                    oid: *oid,
                    changes: Vec::new(),
                    intermediate,
                    carried,
                    upsert: true,
                };
            }
            Action::Rebuild { upsert, .. } => *upsert = true,
            _ => {}
        }
        self
    }

    /// Replaces what a rebuild or replace carries to the new table (read
    /// again, later than the plan).
    pub(crate) fn set_carried(&mut self, new: Carried) {
        if let Action::Rebuild { carried, .. } | Action::Replace { carried, .. } = &mut self.action
        {
            *carried = new;
        }
    }

    /// Whether this is an upsert by rebuild (see [`Action::Rebuild`]).
    pub fn upserts_by_rebuild(&self) -> bool {
        matches!(self.action, Action::Rebuild { upsert: true, .. })
    }

    /// The table the rows are COPYed into (not quoted).
    pub fn load_into(&self) -> &str {
        match &self.action {
            Action::Replace { intermediate, .. } | Action::Rebuild { intermediate, .. } => {
                intermediate
            }
            _ => self.table.table,
        }
    }

    /// Whether the rows go into a table this plan creates (so the COPY may use
    /// `FREEZE`, and keys are built after the load).
    pub fn creates_table(&self) -> bool {
        !matches!(self.action, Action::Nothing { .. } | Action::InPlace { .. })
    }

    /// Whether the live table's rows are copied into the new one.
    pub fn copies_rows(&self) -> bool {
        matches!(self.action, Action::Rebuild { .. })
    }

    /// The statements that prepare the table, before any row is sent.
    pub fn before_load(&self) -> Vec<String> {
        let def = self.table;
        match &self.action {
            Action::Nothing { .. } | Action::InPlace { .. } => Vec::new(),
            Action::Create { create_schema } => {
                let mut sql = Vec::new();
                if *create_schema {
                    sql.push(format!("CREATE SCHEMA IF NOT EXISTS {}", Ident(def.schema)));
                }
                sql.push(create_table(def, def.table));
                sql
            }
            Action::Rebuild { intermediate, .. } | Action::Replace { intermediate, .. } => {
                vec![create_table(def, intermediate)]
            }
        }
    }

    /// For a rebuild: lock the live table against writers (readers go on), so
    /// that no write lands in it after its rows are copied.
    pub fn lock_for_copy(&self) -> Option<String> {
        self.copies_rows()
            .then(|| format!("LOCK TABLE {} IN EXCLUSIVE MODE", self.table.name()))
    }

    /// For a rebuild: `INSERT INTO <intermediate> SELECT ... FROM <live>`, with
    /// renamed columns carried, types cast, new columns given their default.
    /// For an upsert by rebuild, only the rows whose key the new table doesn't
    /// hold yet.
    pub fn copy_rows(&self) -> Option<String> {
        let Action::Rebuild {
            intermediate,
            upsert,
            ..
        } = &self.action
        else {
            return None;
        };
        let def = self.table;
        let live = self.live.as_ref()?;
        let mut targets = Vec::new();
        let mut values = Vec::new();
        for column in def.columns {
            let Some(source) = source_column(live, column) else {
                continue; // a new column: its default (or NULL)
            };
            targets.push(column.name);
            let name = format!("o.{}", Ident(&source.name));
            if same_type(source, &column.sql_type) {
                values.push(name);
            } else {
                // Cast to the base type only where an explicit cast with the
                // length would cut values silently (varchar(n), char(n)); the
                // assignment then checks the length and fails on overflow.
                let base = match (column.sql_type.kind(), column.sql_type.is_array()) {
                    (TypeKind::Varchar | TypeKind::Char, false) => "text".to_owned(),
                    (TypeKind::Varchar | TypeKind::Char, true) => "text[]".to_owned(),
                    _ => column.sql_type.to_string(),
                };
                // Enum types convert only to and from text (by label).
                let value = if source.is_enum || column.sql_type.kind() == TypeKind::Enum {
                    format!("CAST({name} AS text)")
                } else {
                    name
                };
                values.push(format!("CAST({value} AS {base})"));
            }
        }
        let into = QualifiedName::new(def.schema, intermediate);
        let mut sql = format!(
            "INSERT INTO {into} ({}) SELECT {} FROM {} AS o",
            IdentList(targets.iter().copied()),
            values.join(", "),
            def.name()
        );
        if *upsert {
            // `upsert_by_rebuild` made sure every key column has a source.
            let matches: Vec<String> = def
                .primary_key
                .iter()
                .map(|key| {
                    let i = targets.iter().position(|t| t == key).expect("key column");
                    format!("n.{} = {}", Ident(key), values[i])
                })
                .collect();
            sql.push_str(&format!(
                " WHERE NOT EXISTS (SELECT 1 FROM {into} AS n WHERE {})",
                matches.join(" AND ")
            ));
        }
        Some(sql)
    }

    /// For an upsert by rebuild whose load repeats a key: deletes every row of
    /// the new table but the last of each key. Rows of a table loaded by this
    /// call are stored in the order they were loaded, so `ctid` order is input
    /// order; the live rows copied after them share no key with them.
    pub fn dedupe_loaded(&self) -> Option<String> {
        let Action::Rebuild {
            intermediate,
            upsert: true,
            ..
        } = &self.action
        else {
            return None;
        };
        let def = self.table;
        let same_key: Vec<String> = def
            .primary_key
            .iter()
            .map(|k| format!("a.{0} = b.{0}", Ident(k)))
            .collect();
        Some(format!(
            "DELETE FROM {0} AS a USING {0} AS b WHERE {1} AND a.ctid < b.ctid",
            QualifiedName::new(def.schema, intermediate),
            same_key.join(" AND ")
        ))
    }

    /// The primary key, built after the rows are in (for tables the plan
    /// creates).
    pub fn keys(&self) -> Vec<String> {
        let def = self.table;
        if !self.creates_table() {
            return Vec::new();
        }
        let name = self.load_into();
        add_primary_key(def, name, &primary_key_name(name))
            .into_iter()
            .collect()
    }

    /// Indexes of a created table, and what is carried over to an intermediate
    /// one.
    pub fn indexes_and_carry(&self) -> Vec<String> {
        let def = self.table;
        if !self.creates_table() {
            return Vec::new();
        }
        let name = self.load_into();
        let mut sql: Vec<String> = Vec::new();
        for index in def.indexes {
            sql.push(create_index(def, name, index));
            // Marks the index as the library's: dropped when no longer declared.
            sql.push(format!(
                "COMMENT ON INDEX {} IS {}",
                QualifiedName::new(def.schema, &index_name(name, index)),
                Literal(crate::catalog::INDEX_COMMENT)
            ));
        }
        if let Action::Rebuild { carried, .. } | Action::Replace { carried, .. } = &self.action {
            sql.extend(carry(def, name, carried));
        }
        sql
    }

    /// For an in-place plan: the `ALTER TABLE`s, run under the table's
    /// `ACCESS EXCLUSIVE` lock at the end of the call.
    pub fn alterations(&self) -> Vec<String> {
        let Action::InPlace { changes, .. } = &self.action else {
            return Vec::new();
        };
        let def = self.table;
        let table = def.name();
        let mut sql = Vec::new();
        for change in changes {
            match change {
                Change::AddColumn { column } => {
                    let c = def.column(column).expect("declared column");
                    let mut s = format!(
                        "ALTER TABLE {table} ADD COLUMN {} {}",
                        Ident(column),
                        c.sql_type
                    );
                    if let Some(default) = c.default {
                        s.push_str(&format!(" DEFAULT {default}"));
                    }
                    if !c.nullable {
                        s.push_str(" NOT NULL");
                    }
                    sql.push(s);
                }
                Change::DropColumn { column, .. } => {
                    sql.push(format!("ALTER TABLE {table} DROP COLUMN {}", Ident(column)))
                }
                Change::RenameColumn { from, to } => sql.push(format!(
                    "ALTER TABLE {table} RENAME COLUMN {} TO {}",
                    Ident(from),
                    Ident(to)
                )),
                Change::AlterType { column, to, .. } => sql.push(format!(
                    "ALTER TABLE {table} ALTER COLUMN {} TYPE {to}",
                    Ident(column)
                )),
                Change::DropNotNull { column } => sql.push(format!(
                    "ALTER TABLE {table} ALTER COLUMN {} DROP NOT NULL",
                    Ident(column)
                )),
                Change::Default { column, to } => sql.push(match to {
                    Some(expr) => format!(
                        "ALTER TABLE {table} ALTER COLUMN {} SET DEFAULT {expr}",
                        Ident(column)
                    ),
                    None => format!(
                        "ALTER TABLE {table} ALTER COLUMN {} DROP DEFAULT",
                        Ident(column)
                    ),
                }),
                Change::DropIndex { name, .. } => sql.push(format!(
                    "DROP INDEX {}",
                    QualifiedName::new(def.schema, name)
                )),
                Change::SetNotNull { .. } | Change::AddIndex { .. } | Change::PrimaryKey { .. } => {
                    unreachable!("not catalog-only, so not planned in place")
                }
            }
        }
        sql
    }

    /// The statements that swap the loaded table in, once the live table is
    /// locked: the last thing a call does.
    pub fn swap(&self) -> Vec<String> {
        let def = self.table;
        let (Action::Replace { intermediate, .. } | Action::Rebuild { intermediate, .. }) =
            &self.action
        else {
            return Vec::new();
        };
        let views = self.views();
        let mut sql = vec![format!("DROP TABLE {}", def.name())];
        sql.push(format!(
            "ALTER TABLE {} RENAME TO {}",
            QualifiedName::new(def.schema, intermediate),
            Ident(def.table)
        ));
        if !def.primary_key.is_empty() {
            // Renaming the constraint renames its index too.
            sql.push(format!(
                "ALTER TABLE {} RENAME CONSTRAINT {} TO {}",
                def.name(),
                Ident(&primary_key_name(intermediate)),
                Ident(&primary_key_name(def.table))
            ));
        }
        for index in def.indexes {
            sql.push(format!(
                "ALTER INDEX {} RENAME TO {}",
                QualifiedName::new(def.schema, &index_name(intermediate, index)),
                Ident(&index_name(def.table, index))
            ));
        }
        for view in views {
            sql.extend(create_view(view));
        }
        sql
    }

    /// The views a swap drops and makes again, shallowest first.
    pub fn views(&self) -> &[DependentView] {
        match &self.action {
            Action::Rebuild { carried, .. } | Action::Replace { carried, .. } => &carried.views,
            _ => &[],
        }
    }

    /// Whether the plan ends with a swap or in-place changes, which take the
    /// table's `ACCESS EXCLUSIVE` lock.
    pub fn needs_exclusive_lock(&self) -> bool {
        matches!(
            self.action,
            Action::Rebuild { .. } | Action::Replace { .. } | Action::InPlace { .. }
        )
    }

    /// The views a swap drops before it locks the table, deepest first (they
    /// read the table by OID, so they are made again on the new one).
    pub fn drop_views(&self) -> Vec<String> {
        self.views()
            .iter()
            .rev()
            .map(|v| {
                format!(
                    "DROP {} {}",
                    view_kind(v),
                    QualifiedName::new(&v.schema, &v.name)
                )
            })
            .collect()
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
    sql.extend(grants(
        &table.to_string(),
        &carried.owner,
        carried.grants.as_deref(),
    ));
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
        match &self.action {
            Action::Nothing { .. } => writeln!(f, "{name}: nothing to change")?,
            Action::Create { .. } => writeln!(f, "{name}: create")?,
            Action::Replace { .. } => {
                writeln!(f, "{name}: replace (load a new table, then swap it in)")?
            }
            Action::InPlace { changes, .. } | Action::Rebuild { changes, .. } => {
                let path = if matches!(self.action, Action::InPlace { .. }) {
                    "in place"
                } else if self.upserts_by_rebuild() {
                    "rebuild for the upsert (load a new table, copy the live rows whose key \
                     it doesn't hold, then swap it in)"
                } else {
                    "rebuild (copy the rows into a new table, then swap it in)"
                };
                writeln!(f, "{name}: {path}")?;
                for change in changes {
                    writeln!(f, "  - {change}")?;
                }
            }
        }
        let step =
            |f: &mut fmt::Formatter<'_>, sql: &str, lock: &str| writeln!(f, "  {sql};  -- {lock}");
        for sql in &self.create_types {
            step(f, sql, "a new type, first")?;
        }
        for sql in self.before_load() {
            step(f, &sql, "no lock on the live table")?;
        }
        let copy_live = |f: &mut fmt::Formatter<'_>| {
            if let Some(sql) = self.lock_for_copy() {
                step(
                    f,
                    &sql,
                    "EXCLUSIVE: writers wait until commit, readers go on",
                )?;
            }
            if let Some(sql) = self.copy_rows() {
                step(f, &sql, "reads the live table")?;
            }
            Ok(())
        };
        if !self.upserts_by_rebuild() {
            copy_live(f)?;
        }
        writeln!(f, "  -- COPY the rows (ROW EXCLUSIVE on the table loaded)")?;
        if self.upserts_by_rebuild() {
            copy_live(f)?;
        }
        for sql in self.keys().iter().chain(&self.indexes_and_carry()) {
            step(f, sql, "on the new table only")?;
        }
        for sql in self
            .drop_views()
            .iter()
            .chain(&self.alterations())
            .chain(&self.swap())
        {
            step(f, sql, "ACCESS EXCLUSIVE until commit, taken last")?;
        }
        Ok(())
    }
}

/// The statements that give relation `name` (quoted), owned by `owner`, the
/// ACL `acl` (`None`: the default one, which a new relation has already).
fn grants(name: &str, owner: &str, acl: Option<&[Grant]>) -> Vec<String> {
    let Some(acl) = acl else {
        return Vec::new();
    };
    // The owner's own privileges are part of the ACL: start from none.
    let mut sql = vec![format!("REVOKE ALL ON TABLE {name} FROM {}", Ident(owner))];
    for (role, privilege, grantable) in acl {
        // Privilege names come from the catalog; anything but a keyword is skipped.
        if privilege.is_empty()
            || !privilege
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b' ')
        {
            continue;
        }
        let grantee = role
            .as_deref()
            .map_or_else(|| "PUBLIC".to_owned(), |r| Ident(r).to_string());
        let option = if *grantable { " WITH GRANT OPTION" } else { "" };
        sql.push(format!(
            "GRANT {privilege} ON TABLE {name} TO {grantee}{option}"
        ));
    }
    sql
}

fn view_kind(view: &DependentView) -> &'static str {
    if view.materialized {
        "MATERIALIZED VIEW"
    } else {
        "VIEW"
    }
}

/// A view as it was: definition, options, owner, privileges, comment, and the
/// indexes of a materialized view.
fn create_view(view: &DependentView) -> Vec<String> {
    let name = QualifiedName::new(&view.schema, &view.name);
    let kind = view_kind(view);
    // Options come from the catalog (`name=value`); anything else is skipped.
    let options: Vec<&String> = view
        .options
        .iter()
        .filter(|o| {
            o.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'=')
        })
        .collect();
    let with = if options.is_empty() {
        String::new()
    } else {
        format!(
            " WITH ({})",
            options
                .iter()
                .map(|o| o.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut sql = vec![
        format!("CREATE {kind} {name}{with} AS {}", view.definition),
        format!("ALTER {kind} {name} OWNER TO {}", Ident(&view.owner)),
    ];
    sql.extend(grants(
        &name.to_string(),
        &view.owner,
        view.grants.as_deref(),
    ));
    if let Some(comment) = &view.comment {
        sql.push(format!("COMMENT ON {kind} {name} IS {}", Literal(comment)));
    }
    sql.extend(view.indexes.iter().cloned());
    sql
}

/// `CREATE TYPE schema.name AS ENUM ('a', 'b')`.
pub(crate) fn create_enum(def: &EnumDef, labels: &[&str]) -> String {
    let labels: Vec<String> = labels.iter().map(|l| Literal(l).to_string()).collect();
    format!("CREATE TYPE {} AS ENUM ({})", def.name(), labels.join(", "))
}

/// `ALTER TYPE schema.name ADD VALUE IF NOT EXISTS 'label'`, placed `AFTER`
/// or `BEFORE` another label.
pub(crate) fn add_enum_label(def: &EnumDef, label: &str, place: Option<(bool, &str)>) -> String {
    let mut sql = format!(
        "ALTER TYPE {} ADD VALUE IF NOT EXISTS {}",
        def.name(),
        Literal(label)
    );
    if let Some((after, other)) = place {
        let word = if after { "AFTER" } else { "BEFORE" };
        sql.push_str(&format!(" {word} {}", Literal(other)));
    }
    sql
}

/// `CREATE TABLE schema.name (...)` with the columns of `table`, without keys.
///
/// Each `NOT NULL` is named as PostgreSQL names it for the table's own name
/// (`<table>_<column>_not_null`), also when `name` is an intermediate table
/// swapped in later: PostgreSQL 18 keeps NOT NULL constraints by name in
/// `pg_constraint`, and the swapped-in table should carry the names a table
/// created under its own name would have. Earlier majors accept the name and
/// ignore it. A table created under its own name gets PostgreSQL's names.
pub(crate) fn create_table(table: &TableDef, name: &str) -> String {
    let mut sql = format!("CREATE TABLE {} (", QualifiedName::new(table.schema, name));
    for (i, column) in table.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("{} {}", Ident(column.name), column.sql_type));
        if let Some(default) = column.default {
            sql.push_str(&format!(" DEFAULT {default}"));
        }
        if !column.nullable {
            if name != table.table {
                sql.push_str(&format!(
                    " CONSTRAINT {}",
                    Ident(&object_name(table.table, column.name, "not_null"))
                ));
            }
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

/// The deterministic name of an index: `<table>_<columns>_key` (unique) or
/// `_idx`, as PostgreSQL names them; when that is over 63 bytes, cut, with a
/// hash of the whole name so that different indexes keep different names.
pub(crate) fn index_name(table: &str, index: &IndexDef) -> String {
    let suffix = if index.unique { "_key" } else { "_idx" };
    let base = format!("{table}_{}", index.columns.join("_"));
    let method = if index.method == "btree" {
        String::new()
    } else {
        format!("_{}", index.method)
    };
    let full = format!("{base}{method}{suffix}");
    if full.len() <= 63 {
        return full;
    }
    // FNV-1a: stable across releases and platforms.
    let hash = full.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    limited(&base, &format!("_{hash:08x}{suffix}"))
}

/// `CREATE [UNIQUE] INDEX <name> ON <table> USING <method> (<columns>)`.
pub(crate) fn create_index(def: &TableDef, table: &str, index: &IndexDef) -> String {
    format!(
        "CREATE {}INDEX {} ON {} USING {} ({})",
        if index.unique { "UNIQUE " } else { "" },
        Ident(&index_name(table, index)),
        QualifiedName::new(def.schema, table),
        Ident(index.method),
        IdentList(index.columns.iter().copied())
    )
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
    use crate::table::ColumnDef;
    use crate::types::{SqlType, TypeKind};

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

    fn col(name: &str, ty: &str, nullable: bool) -> LiveColumn {
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

    fn plan(live: &LiveTable, facts: &Facts, options: PlanOptions) -> Result<Plan, Vec<Refusal>> {
        Plan::new(
            &TABLE,
            true,
            &Relation::Table(live.clone()),
            facts,
            options,
            || ("orders_pgbi_new".into(), Carried::default()),
        )
    }

    #[test]
    fn missing_table_is_created_with_key_and_indexes_after_load() {
        let plan = Plan::new(
            &TABLE,
            false,
            &Relation::Missing,
            &Facts::default(),
            PlanOptions::default(),
            || unreachable!(),
        )
        .unwrap();
        assert_eq!(
            plan.before_load(),
            [
                r#"CREATE SCHEMA IF NOT EXISTS "sales""#,
                r#"CREATE TABLE "sales"."orders" ("id" bigint NOT NULL, "customer" character varying(32) NOT NULL, "note" text)"#
            ]
        );
        assert_eq!(
            plan.keys(),
            [r#"ALTER TABLE "sales"."orders" ADD CONSTRAINT "orders_pkey" PRIMARY KEY ("id")"#]
        );
        assert_eq!(
            plan.indexes_and_carry(),
            [
                r#"CREATE INDEX "orders_customer_idx" ON "sales"."orders" USING "btree" ("customer")"#,
                r#"COMMENT ON INDEX "sales"."orders_customer_idx" IS 'pg-bulk-ingest'"#
            ]
        );
        assert!(plan.creates_table());
    }

    #[test]
    fn upsert_by_rebuild_loads_first_then_copies_the_live_rows_it_lacks() {
        let upsert = plan(&live(), &Facts::default(), PlanOptions::default())
            .unwrap()
            .upsert_by_rebuild(|| ("orders_pgbi_new".into(), Carried::default()));
        assert!(upsert.upserts_by_rebuild(), "{upsert}");
        assert!(upsert.creates_table() && upsert.copies_rows());
        assert_eq!(
            upsert.copy_rows().unwrap(),
            r#"INSERT INTO "sales"."orders_pgbi_new" ("id", "customer", "note") SELECT o."id", o."customer", o."note" FROM "sales"."orders" AS o WHERE NOT EXISTS (SELECT 1 FROM "sales"."orders_pgbi_new" AS n WHERE n."id" = o."id")"#
        );
        assert_eq!(
            upsert.swap()[..2],
            [
                r#"DROP TABLE "sales"."orders""#,
                r#"ALTER TABLE "sales"."orders_pgbi_new" RENAME TO "orders""#
            ]
        );
        // The plan shows the live rows copied after the load.
        let text = upsert.to_string();
        let copy = text.find("-- COPY the rows").unwrap();
        assert!(text.find("IN EXCLUSIVE MODE").unwrap() > copy, "{text}");
        assert!(text.find("WHERE NOT EXISTS").unwrap() > copy, "{text}");
        assert_eq!(
            upsert.dedupe_loaded().unwrap(),
            r#"DELETE FROM "sales"."orders_pgbi_new" AS a USING "sales"."orders_pgbi_new" AS b WHERE a."id" = b."id" AND a.ctid < b.ctid"#
        );

        // A rebuild for a migration becomes one too.
        let mut widened = live();
        widened.columns[2] = col("customer", "character varying(16)", false);
        let widened = plan(&widened, &Facts::default(), PlanOptions::default())
            .unwrap()
            .upsert_by_rebuild(|| unreachable!("already a rebuild"));
        assert!(widened.upserts_by_rebuild(), "{widened}");
    }

    #[test]
    fn upsert_by_rebuild_needs_the_same_key() {
        // No key on the live table: its rows could collide under the new one.
        let mut keyless = live();
        keyless.primary_key.clear();
        let keyless = plan(&keyless, &Facts::default(), PlanOptions::default())
            .unwrap()
            .upsert_by_rebuild(|| unreachable!());
        assert!(
            !keyless.upserts_by_rebuild() && keyless.copies_rows(),
            "{keyless}"
        );
        // A key column of another type: a cast could make two keys equal.
        let mut narrow = live();
        narrow.columns[1] = col("id", "integer", false);
        let narrow = plan(&narrow, &Facts::default(), PlanOptions::default())
            .unwrap()
            .upsert_by_rebuild(|| unreachable!());
        assert!(!narrow.upserts_by_rebuild(), "{narrow}");
        // A missing table is simply created.
        let created = Plan::new(
            &TABLE,
            true,
            &Relation::Missing,
            &Facts::default(),
            PlanOptions::default(),
            || unreachable!(),
        )
        .unwrap()
        .upsert_by_rebuild(|| unreachable!());
        assert!(matches!(created.action, Action::Create { .. }));
    }

    #[test]
    fn matching_table_needs_nothing_whatever_the_names_and_order() {
        let plan = plan(&live(), &Facts::default(), PlanOptions::default()).unwrap();
        assert_eq!(plan.action, Action::Nothing { oid: 42 });
        assert!(plan.before_load().is_empty() && plan.keys().is_empty() && plan.swap().is_empty());
    }

    #[test]
    fn widening_rebuilds_and_can_go_in_place() {
        let mut l = live();
        l.columns[2].sql_type = "character varying(16)".into();
        let p = plan(&l, &Facts::default(), PlanOptions::default()).unwrap();
        assert!(matches!(p.action, Action::Rebuild { .. }), "{p}");
        assert_eq!(
            p.copy_rows().unwrap(),
            r#"INSERT INTO "sales"."orders_pgbi_new" ("id", "customer", "note") SELECT o."id", CAST(o."customer" AS text), o."note" FROM "sales"."orders" AS o"#
        );
        let p = plan(
            &l,
            &Facts::default(),
            PlanOptions {
                in_place: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            p.alterations(),
            [r#"ALTER TABLE "sales"."orders" ALTER COLUMN "customer" TYPE character varying(32)"#]
        );
    }

    #[test]
    fn losses_are_refused_unless_allowed() {
        let mut l = live();
        l.columns[2].sql_type = "character varying(64)".into();
        l.columns.push(col("old", "integer", true));
        let facts = Facts {
            has_rows: true,
            columns_with_data: vec!["old".into()],
            ..Facts::default()
        };
        let refused = plan(&l, &facts, PlanOptions::default()).unwrap_err();
        let text: Vec<String> = refused.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                r#"would lose values of column "customer" that don't fit when character varying(64) becomes character varying(32)"#,
                r#"would lose column "old" and the data it holds"#,
            ]
        );
        let allowed = plan(
            &l,
            &facts,
            PlanOptions {
                allow_data_loss: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(matches!(allowed.action, Action::Rebuild { .. }));
        // Without rows, nothing is lost.
        assert!(plan(&l, &Facts::default(), PlanOptions::default()).is_ok());
    }

    #[test]
    fn new_not_null_column_needs_a_default_on_a_table_with_rows() {
        let mut l = live();
        l.columns.retain(|c| c.name != "customer");
        l.indexes.clear();
        let facts = Facts {
            has_rows: true,
            ..Facts::default()
        };
        let refused = plan(&l, &facts, PlanOptions::default()).unwrap_err();
        assert_eq!(
            refused,
            [Refusal::NotNullWithoutDefault {
                column: "customer".into()
            }]
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
    static WITH_ENUM: TableDef = TableDef::new(
        "s",
        "t",
        &[
            ColumnDef::new("id", SqlType::new(TypeKind::Int8), false),
            ColumnDef::new("mood", SqlType::of_enum(&MOOD), true),
        ],
        &[],
    );

    fn enum_col(name: &str, format_type: &str, schema: &str, type_name: &str) -> LiveColumn {
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
        // From text, the values go through a cast by label.
        let plan = Plan::new(
            &WITH_ENUM,
            true,
            &Relation::Table(live.clone()),
            &Facts::default(),
            PlanOptions::default(),
            || ("t_new".into(), Carried::default()),
        )
        .unwrap();
        assert_eq!(
            plan.copy_rows().unwrap(),
            r#"INSERT INTO "s"."t_new" ("id", "mood") SELECT o."id", CAST(CAST(o."mood" AS text) AS "s"."mood") FROM "s"."t" AS o"#
        );
        assert_eq!(
            plan.before_load(),
            [
                r#"CREATE TABLE "s"."t_new" ("id" bigint CONSTRAINT "t_id_not_null" NOT NULL, "mood" "s"."mood")"#
            ]
        );
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

    #[test]
    fn enum_statements_quote_labels() {
        assert_eq!(
            create_enum(&MOOD, MOOD.labels),
            r#"CREATE TYPE "s"."mood" AS ENUM ('happy', 'it''s')"#
        );
        assert_eq!(
            add_enum_label(&MOOD, "sad", Some((true, "happy"))),
            r#"ALTER TYPE "s"."mood" ADD VALUE IF NOT EXISTS 'sad' AFTER 'happy'"#
        );
        assert_eq!(
            add_enum_label(&MOOD, "a\\b", Some((false, "happy"))),
            r#"ALTER TYPE "s"."mood" ADD VALUE IF NOT EXISTS E'a\\b' BEFORE 'happy'"#
        );
        assert_eq!(
            add_enum_label(&MOOD, "x", None),
            r#"ALTER TYPE "s"."mood" ADD VALUE IF NOT EXISTS 'x'"#
        );
    }

    #[test]
    fn index_names_are_deterministic_and_short() {
        let index = IndexDef::new(&["a", "b"], true);
        assert_eq!(index_name("t", &index), "t_a_b_key");
        let long = "x".repeat(60);
        let name = index_name(&long, &index);
        assert!(name.len() <= 63 && name.ends_with("_key"), "{name}");
        assert_ne!(name, index_name(&long, &IndexDef::new(&["a", "c"], true)));
        assert_eq!(
            index_name("t", &IndexDef::new(&["tags"], false).using("gin")),
            "t_tags_gin_idx"
        );
    }
}
