//! The statements of a mirror (the snapshot of the stored keys, the guard's
//! count, the delete or mark of the keys the batch lacks) and of a slice
//! replace (the check of the staged rows, the delete of the slice). Slice
//! values are parameters (`$1`, ...), never text.

use super::{same_key, temporary_name};
use crate::ident::Ident;
use crate::sync::{Delete, SliceShape};
use crate::table::TableDef;
use crate::types::TypeKind;

/// The temporary table holding the keys a mirror's table held when the call
/// started, named like the staging table.
pub(crate) fn mirror_snapshot(def: &TableDef) -> String {
    format!("pg_temp.{}", Ident(&temporary_name(def, "mirror")))
}

/// The condition of a stored row not yet marked by `Delete::Mark(column)`
/// (over alias `t`), and the value that marks it. The column's type is
/// checked by the options (see [`markable`]).
fn mark(def: &TableDef, column: &str) -> (String, &'static str) {
    let declared = def.column(column).expect("checked: a declared column");
    let col = format!("t.{}", Ident(column));
    match declared.sql_type.kind() {
        TypeKind::Bool => (format!("{col} IS NOT TRUE"), "true"),
        TypeKind::Date => (format!("{col} IS NULL"), "CURRENT_DATE"),
        _ => (format!("{col} IS NULL"), "now()"),
    }
}

/// Whether `Delete::Mark(column)` can mark rows of `def`: a declared column,
/// sent by the struct, outside the key, nullable `timestamptz`, `timestamp`,
/// `date`, or `boolean`.
pub(crate) fn markable(def: &TableDef, key: &[&str], column: &str) -> Result<(), String> {
    let Some(declared) = def.column(column) else {
        return Err(format!(
            "the mirror marks column {column}, which the struct doesn't declare"
        ));
    };
    if key.contains(&column) || !declared.is_sent() {
        return Err(format!(
            "the mirror marks column {column}, which is part of the key or filled by the database"
        ));
    }
    match declared.sql_type.kind() {
        TypeKind::Bool if !declared.sql_type.is_array() => Ok(()),
        TypeKind::Timestamptz | TypeKind::Timestamp | TypeKind::Date
            if !declared.sql_type.is_array() && declared.nullable =>
        {
            Ok(())
        }
        _ => Err(format!(
            "the mirror marks column {column}: it must be a nullable timestamptz, timestamp or \
             date (marked with the time), or a boolean (marked true)"
        )),
    }
}

/// The snapshot's column holding each row version's `xmin`.
const SNAPSHOT_XMIN: &str = "pg_bulk_ingest_xmin";

/// `CREATE TEMPORARY TABLE <snapshot> ON COMMIT DROP AS SELECT <key>, xmin
/// FROM <target>`: the rows the table holds (not yet marked) as the call
/// starts, by key and row version (`xmin`, the transaction that wrote the
/// version), which are all a mirror may delete or mark: a row another session
/// writes afterwards (a new key, or a new version of a stored one) is not
/// among them.
pub(crate) fn snapshot_keys(def: &TableDef, key: &[&str], target: &str, delete: &Delete) -> String {
    let filter = match delete {
        Delete::Rows => String::new(),
        Delete::Mark(column) => format!(" WHERE {}", mark(def, column).0),
    };
    let columns: Vec<String> = key.iter().map(|k| format!("t.{}", Ident(k))).collect();
    format!(
        "CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {}, t.xmin AS {} FROM {target} AS t{filter}",
        mirror_snapshot(def),
        columns.join(", "),
        Ident(SNAPSHOT_XMIN)
    )
}

/// The guard's count: how many keys of the snapshot the batch (the staging
/// table) lacks, and how many the snapshot holds.
pub(crate) fn mirror_count(def: &TableDef, key: &[&str], staging: &str) -> String {
    format!(
        "SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM {staging} AS s WHERE {})), \
         count(*) FROM {} AS m",
        same_key(key, "s", "m"),
        mirror_snapshot(def)
    )
}

/// The delete (or mark) of the stored rows whose version is in the snapshot
/// and whose key is not in the batch: rows other sessions add or change after
/// the call started are never touched.
pub(crate) fn mirror_delete(
    def: &TableDef,
    key: &[&str],
    target: &str,
    staging: &str,
    delete: &Delete,
) -> String {
    let in_snapshot = format!(
        "{} AND t.xmin = m.{}",
        same_key(key, "t", "m"),
        Ident(SNAPSHOT_XMIN)
    );
    let gone = format!(
        "NOT EXISTS (SELECT 1 FROM {staging} AS s WHERE {})",
        same_key(key, "s", "t")
    );
    let snapshot = mirror_snapshot(def);
    match delete {
        Delete::Rows => format!(
            "DELETE FROM {target} AS t USING {snapshot} AS m WHERE {in_snapshot} AND {gone}"
        ),
        Delete::Mark(column) => {
            let (unmarked, value) = mark(def, column);
            format!(
                "UPDATE {target} AS t SET {} = {value} FROM {snapshot} AS m \
                 WHERE {in_snapshot} AND {unmarked} AND {gone}",
                Ident(column)
            )
        }
    }
}

/// The condition of a slice over alias `alias`, its values `$1`, `$2`, ...
/// in order; each column's condition separately, for naming the one a row
/// fails.
fn slice_conditions(slice: &SliceShape, alias: &str) -> Vec<String> {
    let mut n = 0;
    slice
        .conditions
        .iter()
        .map(|(column, range)| {
            let col = format!("{alias}.{}", Ident(column));
            if *range {
                n += 2;
                format!("({col} >= ${} AND {col} < ${n})", n - 1)
            } else {
                n += 1;
                format!("{col} = ${n}")
            }
        })
        .collect()
}

/// The first staged row (in input order) outside the slice: its position
/// and the 1-based number of the first of the slice's columns it fails.
pub(crate) fn slice_outside(slice: &SliceShape, staging: &str, position: &str) -> String {
    let conditions = slice_conditions(slice, "s");
    let which: Vec<String> = conditions
        .iter()
        .enumerate()
        .map(|(i, c)| format!("WHEN ({c}) IS NOT TRUE THEN {}", i + 1))
        .collect();
    format!(
        "SELECT s.{pos}, CASE {} END FROM {staging} AS s WHERE ({}) IS NOT TRUE \
         ORDER BY s.{pos} LIMIT 1",
        which.join(" "),
        conditions.join(" AND "),
        pos = Ident(position)
    )
}

/// `DELETE FROM <target> WHERE <slice>`.
pub(crate) fn slice_delete(slice: &SliceShape, target: &str) -> String {
    format!(
        "DELETE FROM {target} AS t WHERE {}",
        slice_conditions(slice, "t").join(" AND ")
    )
}
