//! The statements of a partitioned table: its `PARTITION BY` clause, the
//! partitions created with it (hash, default), and the query that gives the
//! statements creating the partitions a batch needs. Bound values are
//! rendered by PostgreSQL (`format('%L', ...)` of the staged values), never
//! by Rust formatting of the batch's data.

use crate::catalog::LivePartitioning;
use crate::ident::{invented, Ident, IdentList, Literal, QualifiedName};
use crate::sync::SliceShape;
use crate::table::{PartitionDef, PartitionMethod, TableDef};
use crate::types::TypeKind;

/// ` PARTITION BY RANGE ("day")`.
pub(crate) fn partition_by(partition: &PartitionDef) -> String {
    format!(
        " PARTITION BY {} ({})",
        partition.keyword(),
        IdentList(partition.columns.iter().copied())
    )
}

/// How many bytes a partition's name keeps after the table's: `_` and a
/// suffix of at most 24 bytes.
const SUFFIX_ROOM: usize = 25;

/// The start of the names of `def`'s partitions: the table's name, cut (with
/// a hash of it, as [`invented`] cuts names) so that `_` and a suffix of up
/// to 24 bytes fit in PostgreSQL's 63 bytes.
pub(crate) fn partition_base(def: &TableDef) -> String {
    let full = invented(def.table, &"#".repeat(SUFFIX_ROOM), def.table);
    full[..full.len() - SUFFIX_ROOM].to_owned()
}

/// The partitions created with the table: every partition of a hash
/// (`<table>_p<remainder>`), and the default partition (`<table>_default`).
/// `CREATE TABLE ... PARTITION OF` takes `ACCESS EXCLUSIVE` on the parent,
/// which nobody else sees yet.
pub(crate) fn fixed_partitions(def: &TableDef) -> Vec<String> {
    let Some(partition) = &def.partition else {
        return Vec::new();
    };
    let parent = def.name();
    let base = partition_base(def);
    let mut out = Vec::new();
    if let PartitionMethod::Hash(modulus) = partition.method {
        for remainder in 0..modulus {
            out.push(format!(
                "CREATE TABLE {} PARTITION OF {parent} \
                 FOR VALUES WITH (MODULUS {modulus}, REMAINDER {remainder})",
                QualifiedName::new(def.schema, &format!("{base}_p{remainder}"))
            ));
        }
    }
    if partition.default {
        out.push(format!(
            "CREATE TABLE {} PARTITION OF {parent} DEFAULT",
            QualifiedName::new(def.schema, &format!("{base}_default"))
        ));
    }
    out
}

/// Whether calls create `def`'s partitions from the batch's values (range
/// and list): the rows then wait in a staging table until the partitions
/// they need exist.
pub(crate) fn creates_partitions(def: &TableDef) -> bool {
    matches!(
        def.partition.map(|p| p.method),
        Some(PartitionMethod::Range(_) | PartitionMethod::List)
    )
}

/// The query that gives, for each partition the staged rows need and the
/// table lacks, its name and the two statements that make it: `CREATE TABLE
/// <partition> (LIKE <parent> INCLUDING DEFAULTS INCLUDING GENERATED)` and
/// `ALTER TABLE <parent> ATTACH PARTITION <partition> FOR VALUES ...`
/// (`SHARE UPDATE EXCLUSIVE` on the parent from PostgreSQL 12, where
/// `CREATE TABLE ... PARTITION OF` would take `ACCESS EXCLUSIVE`). A staged
/// value needs a partition when no live partition's constraint
/// (`pg_get_partition_constraintdef`, as planning read it; the default
/// partition's aside) takes it. `None` when calls create no partitions of
/// `def`.
///
/// Range: one partition per interval, `[date_trunc(unit, v), + 1 unit)`,
/// named `<table>_YYYYMMDD` (day, week), `_YYYYMM`, `_YYYY`; a `timestamptz`
/// is cut at UTC midnight. List: one partition per value, named
/// `<table>_<value>` when the value is lower-case letters, digits and `_`
/// (at most 24 bytes, not starting with `_`, not `default`), else
/// `<table>__<12 hex digits of its md5>`, and `<table>__null` for NULL.
pub(crate) fn missing_partitions(
    def: &TableDef,
    live: Option<&LivePartitioning>,
    staging: &str,
) -> Option<String> {
    let partition = def.partition.as_ref()?;
    let column = *partition.columns.first()?;
    let col = Ident(column);
    let taken: Vec<String> = live
        .map(|l| &l.partitions[..])
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.constraint.as_ref())
        .map(|c| format!("coalesce(({c}), false)"))
        .collect();
    let taken = if taken.is_empty() {
        "false".to_owned()
    } else {
        taken.join(" OR ")
    };
    let (schema, table) = (Literal(def.schema), Literal(def.table));
    let base = Literal(&partition_base(def));
    let create = format!(
        "pg_catalog.format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING GENERATED)', \
         {schema}, n.name, {schema}, {table})"
    );
    let attach = |bound: &str, args: &str| {
        format!(
            "pg_catalog.format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES {bound}', \
             {schema}, {table}, {schema}, n.name, {args})"
        )
    };
    let distinct = format!("(SELECT DISTINCT s.{col} FROM {staging} AS s) AS s");
    Some(match partition.method {
        PartitionMethod::Range(interval) => {
            let kind = def.column(column)?.sql_type.kind();
            // Cut in `timestamp` (a `timestamptz` at UTC), then back.
            let (to_ts, from_ts) = match kind {
                TypeKind::Date => (format!("s.{col}::timestamp"), "({})::date"),
                TypeKind::Timestamptz => (
                    format!("s.{col} AT TIME ZONE 'UTC'"),
                    "({}) AT TIME ZONE 'UTC'",
                ),
                _ => (format!("s.{col}"), "{}"),
            };
            let unit = interval.unit();
            let lo = from_ts.replace("{}", "v.lo");
            let hi = from_ts.replace("{}", &format!("v.lo + interval '1 {unit}'"));
            format!(
                "SELECT n.name, {create}, {} \
                 FROM (SELECT DISTINCT pg_catalog.date_trunc('{unit}', {to_ts}) AS lo \
                       FROM {distinct} WHERE s.{col} IS NOT NULL AND NOT ({taken})) AS v, \
                 LATERAL (SELECT {base} || '_' || pg_catalog.to_char(v.lo, '{}') AS name) AS n \
                 ORDER BY v.lo",
                attach("FROM (%L) TO (%L)", &format!("{lo}, {hi}")),
                interval.name_pattern()
            )
        }
        PartitionMethod::List => format!(
            "SELECT n.name, {create}, {} FROM {distinct}, \
             LATERAL (SELECT {base} || '_' || CASE \
                 WHEN s.{col} IS NULL THEN '_null' \
                 WHEN s.{col}::text ~ '^[a-z0-9][a-z0-9_]{{0,23}}$' AND s.{col}::text <> 'default' \
                   THEN s.{col}::text \
                 ELSE '_' || pg_catalog.left(pg_catalog.md5(s.{col}::text), 12) END AS name) AS n \
             WHERE NOT ({taken}) ORDER BY n.name",
            attach("IN (%L)", &format!("s.{col}"))
        ),
        PartitionMethod::Hash(_) => return None,
    })
}

/// The key of the partition value `v` (an SQL expression of the partition
/// column's type) goes into, as text, for the advisory lock on that
/// partition (`lock::advisory_partitions`): range, the start of its interval
/// (`YYYY-MM-DD`, cut as [`missing_partitions`] cuts partitions); list, the
/// value as JSON (a `timestamptz` at UTC), which no session setting
/// changes; `null` for NULL. `None` for hash and undeclared partitionings.
fn partition_key(def: &TableDef, v: &str) -> Option<String> {
    let partition = def.partition.as_ref()?;
    let kind = def.column(partition.columns.first()?)?.sql_type.kind();
    Some(match partition.method {
        PartitionMethod::Range(interval) => range_key(&format!(
            "pg_catalog.date_trunc('{}', {})",
            interval.unit(),
            to_timestamp(kind, v)
        )),
        PartitionMethod::List => {
            let v = match kind {
                TypeKind::Timestamptz => format!("({v}) AT TIME ZONE 'UTC'"),
                _ => format!("({v})"),
            };
            format!("COALESCE(pg_catalog.to_jsonb({v})::text, 'null')")
        }
        PartitionMethod::Hash(_) => return None,
    })
}

/// The key of the range partition whose interval starts at `start` (a
/// `timestamp`).
fn range_key(start: &str) -> String {
    format!("COALESCE(pg_catalog.to_char({start}, 'YYYY-MM-DD'), 'null')")
}

/// `v` (of a range partition column's type) as a `timestamp`: a date cast,
/// a `timestamptz` at UTC (as partitions are cut).
fn to_timestamp(kind: TypeKind, v: &str) -> String {
    match kind {
        TypeKind::Date => format!("({v})::timestamp"),
        TypeKind::Timestamptz => format!("({v}) AT TIME ZONE 'UTC'"),
        _ => format!("({v})"),
    }
}

/// The query whose rows (column `k`) are the keys of the partitions the
/// staged rows go into, for `lock::advisory_partitions`; `None` where calls
/// create no partitions of `def` (hash, or no declared partitioning).
pub(crate) fn staged_partition_keys(def: &TableDef, staging: &str) -> Option<String> {
    let column = Ident(def.partition.as_ref()?.columns.first()?);
    let key = partition_key(def, &format!("s.{column}"))?;
    Some(format!("SELECT DISTINCT {key} AS k FROM {staging} AS s"))
}

/// The query whose rows (column `k`) are the keys of every partition that
/// may hold rows of `slice`, and the slice's values it binds (their indexes
/// among the slice's values, bound as `$1`, `$2`): the slice's condition on
/// the partition column, `equal` (one partition) or, for range, `range`
/// (every interval from the one of its start to the last before its end).
/// `None` when the slice doesn't name the partition column, for a range of
/// a list partitioning (its values can't be listed), and where calls create
/// no partitions of `def`.
pub(crate) fn slice_partition_keys(
    def: &TableDef,
    slice: &SliceShape,
) -> Option<(String, Vec<usize>)> {
    let partition = def.partition.as_ref()?;
    let column = *partition.columns.first()?;
    let sql_type = &def.column(column)?.sql_type;
    let mut at = 0;
    for (name, range) in &slice.conditions {
        if name != column {
            at += if *range { 2 } else { 1 };
            continue;
        }
        if !*range {
            let key = partition_key(def, &format!("$1::{sql_type}"))?;
            return Some((format!("SELECT {key} AS k"), vec![at]));
        }
        let PartitionMethod::Range(interval) = partition.method else {
            return None;
        };
        let unit = interval.unit();
        let (lo, hi) = (
            to_timestamp(sql_type.kind(), &format!("$1::{sql_type}")),
            to_timestamp(sql_type.kind(), &format!("$2::{sql_type}")),
        );
        let key = range_key("b.b");
        return Some((
            format!(
                "SELECT {key} AS k FROM pg_catalog.generate_series(\
                 pg_catalog.date_trunc('{unit}', {lo}), {hi}, interval '1 {unit}') AS b (b) \
                 WHERE b.b < {hi}"
            ),
            vec![at, at + 1],
        ));
    }
    None
}

/// The query that finds the partition of table `parent` (an OID) that is
/// exactly `slice`, for a partition swap: its OID, name, bound
/// (`pg_get_expr(relpartbound)`), partition constraint, storage parameters
/// (its own, then its TOAST table's, `toast.` before each), and what it has
/// that a fresh table would not get (described; empty when it can be
/// swapped). The slice's values it binds are given by their indexes among
/// them. A partition is the slice when its bound, as PostgreSQL prints it,
/// is the bound the slice's values make, printed by the same server:
/// `FOR VALUES IN (v)` for `Slice::equal` on a list partitioning's column,
/// `FOR VALUES FROM (from) TO (to)` for `Slice::range` on a range
/// partitioning's column, or `FROM (day) TO (day + 1)` for `Slice::equal`
/// on a range partitioning's `date` column. Printing makes equal bounds
/// equal text; a bound written otherwise (`1.5` for `1.50`) doesn't match,
/// and the slice is replaced by a `DELETE` instead. `None` when the slice
/// isn't one condition on the partitioning's single column, or the table
/// isn't partitioned by range or list.
pub(crate) fn slice_partition(
    def: &TableDef,
    slice: &SliceShape,
    parent: u32,
) -> Option<(String, Vec<usize>)> {
    let partition = def.partition.as_ref()?;
    let [column] = partition.columns else {
        return None;
    };
    let [(name, range)] = &slice.conditions[..] else {
        return None;
    };
    if name != column {
        return None;
    }
    let sql_type = &def.column(column)?.sql_type;
    let kind = sql_type.kind();
    let (bounds, params) = match (partition.method, range) {
        (PartitionMethod::List, false) => {
            let mut bounds = vec![format!("format('FOR VALUES IN (%L)', $1::{sql_type})")];
            // PostgreSQL prints integers and numerics unquoted (negative
            // ones quoted), and booleans as true and false.
            if matches!(kind, TypeKind::Int4 | TypeKind::Numeric | TypeKind::Bool) {
                bounds.push(format!("format('FOR VALUES IN (%s)', $1::{sql_type})"));
            }
            (bounds, vec![0])
        }
        (PartitionMethod::Range(_), true) => (
            vec![format!(
                "format('FOR VALUES FROM (%L) TO (%L)', $1::{sql_type}, $2::{sql_type})"
            )],
            vec![0, 1],
        ),
        (PartitionMethod::Range(_), false) if kind == TypeKind::Date => (
            vec!["format('FOR VALUES FROM (%L) TO (%L)', $1::date, $1::date + 1)".to_owned()],
            vec![0],
        ),
        _ => return None,
    };
    let local = [
        "CASE WHEN c.relkind <> 'r' THEN 'partitions of its own, or another kind of table' END",
        "CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_index x WHERE x.indrelid = c.oid \
              AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h \
                              WHERE h.inhrelid = x.indexrelid)) \
         THEN 'an index of its own' END",
        "CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid \
              AND NOT t.tgisinternal \
              AND coalesce((to_jsonb(t) ->> 'tgparentid')::oid, 0) = 0) \
         THEN 'a trigger of its own' END",
        "CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k \
              WHERE (k.conrelid = c.oid AND k.conislocal AND k.contype IN ('c', 'f', 'x')) \
                 OR (k.confrelid = c.oid AND k.conparentid = 0)) \
         THEN 'a constraint of its own, or a foreign key to it' END",
        "CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
              JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::regclass \
               AND d.objid = r.oid \
              WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = c.oid \
               AND r.ev_class <> c.oid) \
         THEN 'a view that reads it' END",
        "CASE WHEN c.relrowsecurity OR c.relforcerowsecurity OR c.relreplident <> 'd' \
                OR c.relpersistence <> 'p' OR c.reltablespace <> 0 \
                OR EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel p WHERE p.prrelid = c.oid) \
         THEN 'settings of its own (row security, replica identity, persistence, \
               tablespace or a publication)' END",
    ];
    Some((
        format!(
            "SELECT c.oid, c.relname::text, pg_catalog.pg_get_expr(c.relpartbound, c.oid), \
                    pg_catalog.pg_get_partition_constraintdef(c.oid), \
                    coalesce(c.reloptions, '{{}}') || ARRAY(SELECT 'toast.' || o.o \
                      FROM pg_catalog.pg_class t, \
                           pg_catalog.unnest(t.reloptions) WITH ORDINALITY AS o(o, n) \
                      WHERE t.oid = c.reltoastrelid ORDER BY o.n), \
                    pg_catalog.array_remove(ARRAY[{}], NULL) \
             FROM pg_catalog.pg_inherits i \
             JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = {parent} AND c.relnamespace = {namespace} \
               AND pg_catalog.pg_get_expr(c.relpartbound, c.oid) IN ({})",
            local.join(", "),
            bounds.join(", "),
            namespace = format_args!(
                "(SELECT p.relnamespace FROM pg_catalog.pg_class p WHERE p.oid = {parent})"
            ),
        ),
        params,
    ))
}

/// `CREATE TABLE <fresh> (LIKE <table> INCLUDING DEFAULTS INCLUDING
/// GENERATED)`: a partition swap's fresh partition, made as the partitions
/// the library makes are.
pub(crate) fn fresh_partition(def: &TableDef, fresh: &str) -> String {
    format!(
        "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING GENERATED)",
        QualifiedName::new(def.schema, fresh),
        def.name()
    )
}

/// The name of the `CHECK` a fresh partition is given before it is
/// attached.
fn bound_check_name(fresh: &str) -> String {
    invented(fresh, "_bound", fresh)
}

/// `ALTER TABLE <fresh> ADD CONSTRAINT <fresh>_bound CHECK (<constraint>)`:
/// the partition constraint (as `pg_get_partition_constraintdef` prints it)
/// on the fresh partition, so that `ATTACH PARTITION` finds its rows proven
/// and doesn't scan them (PostgreSQL docs, "Partition Maintenance").
pub(crate) fn bound_check(def: &TableDef, fresh: &str, constraint: &str) -> String {
    format!(
        "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({constraint})",
        QualifiedName::new(def.schema, fresh),
        Ident(&bound_check_name(fresh))
    )
}

/// `SELECT count(*) FROM <partition>`.
pub(crate) fn count_rows(def: &TableDef, partition: &str) -> String {
    format!(
        "SELECT pg_catalog.count(*) FROM {}",
        QualifiedName::new(def.schema, partition)
    )
}

/// The statements of a partition swap, under the table's `ACCESS
/// EXCLUSIVE` lock: the old partition detached and dropped, the fresh one
/// renamed to its name (its key and indexes named as for a table of that
/// name), attached with its bound (`FOR VALUES ...`, as
/// `pg_get_expr(relpartbound)` printed it), and its bound's `CHECK`
/// dropped.
pub(crate) fn swap_partition(def: &TableDef, old: &str, bound: &str, fresh: &str) -> Vec<String> {
    let (table, old_q) = (def.name(), QualifiedName::new(def.schema, old));
    let mut sql = vec![
        format!("ALTER TABLE {table} DETACH PARTITION {old_q}"),
        format!("DROP TABLE {old_q}"),
        format!(
            "ALTER TABLE {} RENAME TO {}",
            QualifiedName::new(def.schema, fresh),
            Ident(old)
        ),
    ];
    if !def.primary_key.is_empty() {
        sql.push(format!(
            "ALTER TABLE {old_q} RENAME CONSTRAINT {} TO {}",
            Ident(&super::primary_key_name(fresh)),
            Ident(&super::primary_key_name(old))
        ));
    }
    for index in def.indexes {
        sql.push(format!(
            "ALTER INDEX {} RENAME TO {}",
            QualifiedName::new(def.schema, &super::index_name(fresh, index)),
            Ident(&super::index_name(old, index))
        ));
    }
    sql.push(format!(
        "ALTER TABLE {table} ATTACH PARTITION {old_q} {bound}"
    ));
    sql.push(format!(
        "ALTER TABLE {old_q} DROP CONSTRAINT {}",
        Ident(&bound_check_name(fresh))
    ));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{ColumnDef, PartitionInterval};
    use crate::types::SqlType;

    static COLUMNS: [ColumnDef; 2] = [
        ColumnDef::new("sensor", SqlType::new(TypeKind::Int4), false),
        ColumnDef::new("day", SqlType::new(TypeKind::Date), false),
    ];
    static MONTHLY: TableDef = TableDef::new("metrics", "readings", &COLUMNS, &["sensor", "day"])
        .partitioned_by(
            PartitionDef::new(PartitionMethod::Range(PartitionInterval::Month), &["day"])
                .with_default(),
        );
    static HASHED: TableDef = TableDef::new("metrics", "readings", &COLUMNS, &[])
        .partitioned_by(PartitionDef::new(PartitionMethod::Hash(2), &["sensor"]));

    #[test]
    fn names_fit_and_the_key_is_quoted() {
        assert_eq!(
            partition_by(MONTHLY.partition.as_ref().unwrap()),
            r#" PARTITION BY RANGE ("day")"#
        );
        assert_eq!(partition_base(&MONTHLY), "readings");
        let long: &'static str = Box::leak("t".repeat(60).into_boxed_str());
        let base = partition_base(&TableDef::new("s", long, &COLUMNS, &[]));
        assert!(base.len() + SUFFIX_ROOM <= 63, "{base}");
        assert_eq!(
            fixed_partitions(&MONTHLY),
            [
                r#"CREATE TABLE "metrics"."readings_default" PARTITION OF "metrics"."readings" DEFAULT"#
            ]
        );
        assert_eq!(
            fixed_partitions(&HASHED)[1],
            r#"CREATE TABLE "metrics"."readings_p1" PARTITION OF "metrics"."readings" FOR VALUES WITH (MODULUS 2, REMAINDER 1)"#
        );
        assert!(missing_partitions(&HASHED, None, "st").is_none());
    }

    #[test]
    fn the_missing_partitions_are_those_no_live_constraint_takes() {
        let live = LivePartitioning {
            strategy: 'r',
            columns: vec!["day".into()],
            partitions: vec![crate::catalog::partitions::LivePartition {
                oid: 1,
                schema: "metrics".into(),
                name: "readings_202401".into(),
                bound: "FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')".into(),
                constraint: Some("((day IS NOT NULL) AND (day >= '2024-01-01'::date))".into()),
            }],
        };
        let sql = missing_partitions(&MONTHLY, Some(&live), "pg_temp.st").unwrap();
        assert!(
            sql.contains(
                "NOT (coalesce((((day IS NOT NULL) AND (day >= '2024-01-01'::date))), false))"
            ),
            "{sql}"
        );
        assert!(
            sql.contains(r#"pg_catalog.date_trunc('month', s."day"::timestamp)"#),
            "{sql}"
        );
        assert!(sql.contains("FOR VALUES FROM (%L) TO (%L)', 'metrics', 'readings', 'metrics', n.name, (v.lo)::date, (v.lo + interval '1 month')::date)"), "{sql}");
    }

    #[test]
    fn a_slice_is_a_partition_only_as_one_condition_on_the_partition_column() {
        let shape = |conditions: &[(&str, bool)]| SliceShape {
            conditions: conditions
                .iter()
                .map(|(c, r)| (c.to_string(), *r))
                .collect(),
        };
        // A day of a monthly range: a bound of one day, which no monthly
        // partition has; the query finds none.
        let (sql, params) = slice_partition(&MONTHLY, &shape(&[("day", false)]), 42).unwrap();
        assert!(
            sql.contains("IN (format('FOR VALUES FROM (%L) TO (%L)', $1::date, $1::date + 1))"),
            "{sql}"
        );
        assert!(sql.contains("i.inhparent = 42"), "{sql}");
        assert_eq!(params, [0]);
        let (sql, params) = slice_partition(&MONTHLY, &shape(&[("day", true)]), 42).unwrap();
        assert!(sql.contains("$1::date, $2::date"), "{sql}");
        assert_eq!(params, [0, 1]);
        assert!(slice_partition(&MONTHLY, &shape(&[("sensor", false)]), 42).is_none());
        assert!(
            slice_partition(&MONTHLY, &shape(&[("day", false), ("sensor", false)]), 42).is_none()
        );
        assert!(slice_partition(&HASHED, &shape(&[("sensor", false)]), 42).is_none());
    }
}
