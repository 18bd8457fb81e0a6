//! The comparison of a table's definition with the live table: the changes
//! that make one match the other, how a column's values reach a new type, and
//! why a change is refused. Pure: data in, data out.
//!
//! The comparison is semantic: columns are matched by name (physical order
//! does not matter, every COPY names its columns), types by their
//! `format_type` spelling (so `varchar(32)` and `character varying(32)` are
//! the same) and enum types by schema and name, defaults as PostgreSQL
//! normalizes them (a serial's `nextval` of the sequence the column owns as
//! no default, when none is declared), indexes by columns, uniqueness and
//! method (not by name, nor by whether a unique constraint or a unique index
//! enforces them).
//! An unchanged definition plans nothing, so the table is never rebuilt for
//! nothing.

use crate::catalog::{Facts, LiveColumn, LiveIndex, LiveTable};
use crate::table::{Filled, TableDef};
use crate::types::SqlType;

mod cast;
mod partition;
mod vocab;

pub(crate) use cast::classify_column;
pub use cast::Cast;
pub(crate) use partition::partitioning;
pub use vocab::{Change, Refusal};

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
        let normalized = |declared: &str| {
            facts
                .normalized_defaults
                .iter()
                .find(|(c, _)| c == column.name)
                .map_or_else(|| declared.to_owned(), |(_, d)| d.clone())
        };
        let live_fill = fill_of(live_col);
        let declared_fill = match column.filled {
            Some(Filled::IdentityAlways) => "identity (ALWAYS)".to_owned(),
            Some(Filled::IdentityByDefault) => "identity (BY DEFAULT)".to_owned(),
            Some(Filled::Generated(expr)) => format!("the expression {}", normalized(expr)),
            Some(Filled::Default) | None => "nothing".to_owned(),
        };
        if live_fill != declared_fill {
            out.push(Change::Fill {
                column: column.name.to_owned(),
                from: live_fill,
                to: declared_fill,
            });
            continue;
        }
        if live_col.generated {
            continue; // its expression is its "default"
        }
        let declared_default = column.default.map(normalized);
        // A serial's `nextval` is the column's own: it counts as no default
        // where the definition declares none (a swap keeps it).
        let live_default = match (&live_col.serial, &declared_default) {
            (Some(_), None) => None,
            _ => live_col.default.clone(),
        };
        if live_default != declared_default {
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

/// How the database fills live column `live`, described as [`changes`]
/// describes a declared column's [`Filled`].
fn fill_of(live: &LiveColumn) -> String {
    match (live.identity, live.generated) {
        (Some('a'), _) => "identity (ALWAYS)".to_owned(),
        (Some('d'), _) => "identity (BY DEFAULT)".to_owned(),
        (_, true) => format!(
            "the expression {}",
            live.default.as_deref().unwrap_or_default()
        ),
        _ => "nothing".to_owned(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{col, enum_col, live_orders, ORDERS as TABLE, WITH_ENUM};
    use crate::types::TypeKind;

    fn live() -> LiveTable {
        // Physical order and index name differ from the definition's:
        // that's fine.
        let mut live = live_orders(["note", "id", "customer"]);
        live.indexes[0].name = "some_other_name".into();
        live
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
    fn a_serial_compares_as_no_default() {
        // `id bigserial`, as the Python original makes a single integer key.
        let mut l = live();
        let id = l.columns.iter_mut().find(|c| c.name == "id").unwrap();
        id.default = Some("nextval('sales.orders_id_seq'::regclass)".into());
        id.serial = Some("orders_id_seq".into());
        assert_eq!(changes(&TABLE, &l, &Facts::default()), []);
        // The same default without the sequence being the column's own.
        let id = l.columns.iter_mut().find(|c| c.name == "id").unwrap();
        id.serial = None;
        assert_eq!(
            changes(&TABLE, &l, &Facts::default()),
            [Change::Default {
                column: "id".into(),
                to: None
            }]
        );
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
            partitioning: None,
            plain_inserts: true,
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
