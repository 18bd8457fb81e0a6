//! Statement text: every statement a plan runs, built from the table's
//! definition, the live table and what a swap carries. Identifiers go through
//! [`Ident`] and [`QualifiedName`], literals through [`Literal`]; no user
//! string reaches SQL unquoted. Locks are in [`crate::lock`], catalog reads in
//! [`crate::catalog`].

use crate::catalog::{Carried, DependentView, Grant, LiveTable};
use crate::diff::{same_type, Change};
use crate::ident::{
    fnv1a, invented, limited, object_name, Ident, IdentList, Literal, QualifiedName,
};
use crate::table::{ColumnDef, Filled, IndexDef, TableDef};
use crate::types::{EnumDef, TypeKind};

/// The staging table of `def` (in `pg_temp`): named after the table, with a
/// hash of its schema-qualified name, so that two tables of one call (the same
/// name in two schemas) never share one.
pub(crate) fn staging_name(def: &TableDef) -> String {
    temporary_name(def, "staging")
}

/// The name of a temporary table of `def` for `purpose`:
/// `pg_bulk_ingest_<purpose>_<table>_<hash of the qualified name>`, cut to
/// fit, so that two tables of one call never share one.
pub(crate) fn temporary_name(def: &TableDef, purpose: &str) -> String {
    let qualified = def.name().to_string();
    limited(
        &format!("pg_bulk_ingest_{purpose}_{}", def.table),
        &format!("_{:08x}", fnv1a(&qualified)),
    )
}

/// `a.k1 = b.k1 AND a.k2 = b.k2`: rows of aliases `a` and `b` with the same
/// key.
pub(crate) fn same_key(key: &[&str], a: &str, b: &str) -> String {
    key.iter()
        .map(|k| format!("{a}.{0} = {b}.{0}", Ident(k)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// [`staging_name`] in `pg_temp`, quoted.
pub(crate) fn staging_qualified(def: &TableDef) -> String {
    format!("pg_temp.{}", Ident(&staging_name(def)))
}

/// The `n`th name tried for the new table of a swap of `def`:
/// `<table>_pgbi_new`, then `<table>_pgbi_new1`, ...
pub(crate) fn intermediate_name(def: &TableDef, n: u32) -> String {
    let suffix = if n == 0 {
        "_pgbi_new".to_owned()
    } else {
        format!("_pgbi_new{n}")
    };
    invented(def.table, &suffix, def.table)
}

/// Name of the input-position column of staging tables (`_` is appended
/// while a column of the table has the name).
pub(crate) const STAGING_POSITION: &str = "pg_bulk_ingest_position";

/// Privilege names come from the catalog (`aclexplode`); anything but a
/// keyword is skipped.
fn is_privilege(privilege: &str) -> bool {
    !privilege.is_empty()
        && privilege
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b' ')
}

/// `CREATE SCHEMA IF NOT EXISTS schema`.
pub(crate) fn create_schema(schema: &str) -> String {
    format!("CREATE SCHEMA IF NOT EXISTS {}", Ident(schema))
}

/// `DROP TABLE name` (`name` quoted).
pub(crate) fn drop_table(name: &str) -> String {
    format!("DROP TABLE {name}")
}

/// Owner, privileges and comments of the live table, applied to `name`.
pub(crate) fn carry(def: &TableDef, name: &str, carried: &Carried) -> Vec<String> {
    let table = QualifiedName::new(def.schema, name);
    let grantee = |g: &Option<String>| match g {
        Some(role) => Ident(role).to_string(),
        None => "PUBLIC".to_owned(),
    };
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
        if is_privilege(privilege) && def.column(column).is_some() {
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

/// `COMMENT ON TABLE table IS 'text'` (`COMMENT` takes no parameters: the
/// text is quoted as a literal).
pub(crate) fn comment_on_table(table: &QualifiedName<'_>, text: &str) -> String {
    format!("COMMENT ON TABLE {table} IS {}", Literal(text))
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
        if !is_privilege(privilege) {
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

pub(crate) fn view_kind(view: &DependentView) -> &'static str {
    if view.materialized {
        "MATERIALIZED VIEW"
    } else {
        "VIEW"
    }
}

/// A view as it was: definition, options, owner, privileges, comment, and the
/// indexes of a materialized view.
pub(crate) fn create_view(view: &DependentView) -> Vec<String> {
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
    let mut not_null_names: Vec<String> = Vec::new();
    for (i, column) in table.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("{} {}", Ident(column.name), column.sql_type));
        sql.push_str(&fill_clause(table, name, column));
        if !column.nullable {
            if name != table.table {
                // As PostgreSQL chooses them: a number after the label when
                // two names come out the same once cut to 63 bytes.
                let mut constraint = object_name(table.table, column.name, "not_null");
                let mut n = 0;
                while not_null_names.contains(&constraint) {
                    n += 1;
                    constraint = object_name(table.table, column.name, &format!("not_null{n}"));
                }
                sql.push_str(&format!(" CONSTRAINT {}", Ident(&constraint)));
                not_null_names.push(constraint);
            }
            sql.push_str(" NOT NULL");
        }
    }
    sql.push(')');
    if let (Some(partition), true) = (&table.partition, name == table.table) {
        sql.push_str(&partition::partition_by(partition));
    }
    sql
}

/// What a column definition says about how the column is filled: ` DEFAULT
/// <expr>`, ` GENERATED ... AS IDENTITY (SEQUENCE NAME ...)` or ` GENERATED
/// ALWAYS AS (<expr>) STORED`; empty for none. An identity column's sequence
/// is named as PostgreSQL names it for the table's own name
/// ([`identity_sequence`]), except in a new table that is swapped in later,
/// whose sequence is renamed by the swap.
fn fill_clause(table: &TableDef, name: &str, column: &ColumnDef) -> String {
    let identity = |how: &str| {
        format!(
            " GENERATED {how} AS IDENTITY (SEQUENCE NAME {})",
            QualifiedName::new(table.schema, &identity_sequence(name, column.name))
        )
    };
    match column.filled {
        Some(Filled::IdentityAlways) => identity("ALWAYS"),
        Some(Filled::IdentityByDefault) => identity("BY DEFAULT"),
        Some(Filled::Generated(expr)) => format!(" GENERATED ALWAYS AS ({expr}) STORED"),
        Some(Filled::Default) | None => column
            .default
            .map_or_else(String::new, |default| format!(" DEFAULT {default}")),
    }
}

/// The name PostgreSQL gives the sequence of identity column `column` of
/// table `table`: `<table>_<column>_seq`, cut to fit as `makeObjectName`
/// cuts it.
pub(crate) fn identity_sequence(table: &str, column: &str) -> String {
    object_name(table, column, "seq")
}

/// Moves the identity sequence of column `column` of table `into` (quoted) up
/// to where the sequence of column `from_column` of table `from` (quoted) stands,
/// when that one is further: a table swapped in never hands out an id the old
/// one handed out. `pg_sequence_last_value` (PostgreSQL 10) is NULL for a
/// sequence never used.
pub(crate) fn advance_identity(
    (from, from_column): (&str, &str),
    (into, column): (&str, &str),
) -> String {
    let sequence = |table: &str, column: &str| {
        format!(
            "pg_catalog.pg_get_serial_sequence({}, {})::regclass",
            Literal(table),
            Literal(column)
        )
    };
    format!(
        "SELECT pg_catalog.setval(n.seq, o.last) FROM (SELECT {} AS seq) AS n, \
         (SELECT pg_catalog.pg_sequence_last_value({}) AS last) AS o \
         WHERE o.last IS NOT NULL \
         AND o.last > coalesce(pg_catalog.pg_sequence_last_value(n.seq), o.last - 1)",
        sequence(into, column),
        sequence(from, from_column)
    )
}

/// The statements that move the sequence of each serial column of `live`
/// ([`LiveColumn::serial`](crate::catalog::LiveColumn::serial)) that the
/// definition keeps (declared without an identity or an expression) to the
/// same column of table `intermediate`: the sequence becomes the new
/// column's (`OWNED BY`, so that dropping the live table leaves it) and,
/// where the definition declares no default of its own, its `nextval` the
/// new column's default. The sequence itself is kept, with its name, its
/// privileges and its position: nothing it handed out is handed out again.
pub(crate) fn move_serials(def: &TableDef, live: &LiveTable, intermediate: &str) -> Vec<String> {
    let into = QualifiedName::new(def.schema, intermediate);
    let mut sql = Vec::new();
    for column in def.columns {
        if !matches!(column.filled, None | Some(Filled::Default)) {
            continue;
        }
        let Some(sequence) = live.source_of(column).and_then(|l| l.serial.as_ref()) else {
            continue;
        };
        let sequence = QualifiedName::new(def.schema, sequence);
        sql.push(format!(
            "ALTER SEQUENCE {sequence} OWNED BY {into}.{}",
            Ident(column.name)
        ));
        if column.default.is_some() {
            continue; // the declared default, from the new table's definition
        }
        sql.push(format!(
            "ALTER TABLE {into} ALTER COLUMN {} SET DEFAULT pg_catalog.nextval({}::regclass)",
            Ident(column.name),
            Literal(&sequence.to_string())
        ));
    }
    sql
}

/// The deterministic name of a table's primary-key constraint:
/// `<table>_pkey`, as PostgreSQL itself would name it.
pub(crate) fn primary_key_name(table: &str) -> String {
    invented(table, "_pkey", table)
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
    limited(&base, &format!("_{:08x}{suffix}", fnv1a(&full)))
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
pub(crate) fn add_primary_key(table: &TableDef, name: &str) -> Option<String> {
    if table.primary_key.is_empty() {
        return None;
    }
    Some(format!(
        "ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})",
        QualifiedName::new(table.schema, name),
        Ident(&primary_key_name(name)),
        IdentList(table.primary_key.iter().copied())
    ))
}

/// One index of the definition on table `name` (created by this call): its
/// `CREATE INDEX`, and the `COMMENT ON INDEX` that marks it as the
/// library's (dropped when the definition no longer declares it).
pub(crate) fn index_statements(def: &TableDef, name: &str, index: &IndexDef) -> [String; 2] {
    [
        create_index(def, name, index),
        format!(
            "COMMENT ON INDEX {} IS {}",
            QualifiedName::new(def.schema, &index_name(name, index)),
            Literal(crate::catalog::INDEX_COMMENT)
        ),
    ]
}

/// `INSERT INTO <intermediate> SELECT ... FROM <live>`: the live rows copied
/// into a rebuilt table, with renamed columns carried, types cast, new
/// columns given their default. With `only_missing` (an upsert by rebuild,
/// after the load), only the rows whose key the new table doesn't hold yet.
pub(crate) fn copy_live_rows(
    def: &TableDef,
    live: &LiveTable,
    intermediate: &str,
    only_missing: bool,
) -> String {
    let mut targets = Vec::new();
    let mut values = Vec::new();
    for column in def.columns {
        let Some(source) = live.source_of(column) else {
            continue; // a new column: its default, identity or expression (or NULL)
        };
        if matches!(column.filled, Some(Filled::Generated(_))) {
            continue; // computed again from the row
        }
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
    // An identity column's stored values are kept.
    let overriding = def
        .columns
        .iter()
        .any(|c| c.filled == Some(Filled::IdentityAlways) && targets.contains(&c.name));
    let mut sql = format!(
        "INSERT INTO {into} ({}){} SELECT {} FROM {} AS o",
        IdentList(targets.iter().copied()),
        if overriding {
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        },
        values.join(", "),
        def.name()
    );
    if only_missing {
        // The caller made sure every key column has a source.
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
    sql
}

/// The `ALTER TABLE` that makes one catalog-only change in place.
pub(crate) fn alteration(def: &TableDef, change: &Change) -> String {
    let table = def.name();
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
            s
        }
        Change::DropColumn { column, .. } => {
            format!("ALTER TABLE {table} DROP COLUMN {}", Ident(column))
        }
        Change::RenameColumn { from, to } => format!(
            "ALTER TABLE {table} RENAME COLUMN {} TO {}",
            Ident(from),
            Ident(to)
        ),
        Change::AlterType { column, to, .. } => format!(
            "ALTER TABLE {table} ALTER COLUMN {} TYPE {to}",
            Ident(column)
        ),
        Change::DropNotNull { column } => format!(
            "ALTER TABLE {table} ALTER COLUMN {} DROP NOT NULL",
            Ident(column)
        ),
        Change::Default { column, to } => match to {
            Some(expr) => format!(
                "ALTER TABLE {table} ALTER COLUMN {} SET DEFAULT {expr}",
                Ident(column)
            ),
            None => format!(
                "ALTER TABLE {table} ALTER COLUMN {} DROP DEFAULT",
                Ident(column)
            ),
        },
        Change::DropIndex { name, .. } => {
            format!("DROP INDEX {}", QualifiedName::new(def.schema, name))
        }
        Change::SetNotNull { .. }
        | Change::AddIndex { .. }
        | Change::PrimaryKey { .. }
        | Change::Fill { .. } => {
            unreachable!("not catalog-only, so not planned in place")
        }
    }
}

/// `DROP VIEW` or `DROP MATERIALIZED VIEW` of a view a swap makes again.
pub(crate) fn drop_view(view: &DependentView) -> String {
    format!(
        "DROP {} {}",
        view_kind(view),
        QualifiedName::new(&view.schema, &view.name)
    )
}

/// The statements that put table `intermediate` in the live table's place,
/// once the live table is locked: drop it, rename the new one, its key and
/// indexes to the names a table created under its own name has.
pub(crate) fn swap(def: &TableDef, intermediate: &str) -> Vec<String> {
    let mut sql = vec![drop_table(&def.name().to_string())];
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
    // The old table's identity sequences went with it.
    for column in def.columns.iter().filter(|c| {
        matches!(
            c.filled,
            Some(Filled::IdentityAlways | Filled::IdentityByDefault)
        )
    }) {
        sql.push(format!(
            "ALTER SEQUENCE {} RENAME TO {}",
            QualifiedName::new(def.schema, &identity_sequence(intermediate, column.name)),
            Ident(&identity_sequence(def.table, column.name))
        ));
    }
    sql
}

/// `CREATE TEMPORARY TABLE <staging> (<position> bigint, <the columns>) ON
/// COMMIT DROP`: where rows wait to be merged or appended.
pub(crate) fn create_staging(def: &TableDef, staging: &str, position: &str) -> String {
    let mut sql = format!(
        "CREATE TEMPORARY TABLE {staging} ({} bigint",
        Ident(position)
    );
    for column in def.sent() {
        sql.push_str(&format!(", {} {}", Ident(column.name), column.sql_type));
    }
    sql.push_str(") ON COMMIT DROP");
    sql
}

/// `COPY <into> (<position>, <columns>) FROM STDIN (FORMAT binary[, FREEZE])`.
pub(crate) fn copy_in(def: &TableDef, into: &str, position: Option<&str>, freeze: bool) -> String {
    let position = position.map_or_else(String::new, |p| format!("{}, ", Ident(p)));
    let freeze = if freeze { ", FREEZE" } else { "" };
    format!(
        "COPY {into} ({position}{}) FROM STDIN (FORMAT binary{freeze})",
        IdentList(def.sent().map(|c| c.name)),
    )
}

/// The staged rows whose input position is between the parameters `$1` and
/// `$2` (`bigint`), as a source for [`merge`] or [`append_staged`]: what a
/// failing statement is run again on, to find the row that makes it fail.
pub(crate) fn staged_range(staging: &str, position: &str) -> String {
    format!(
        "(SELECT * FROM {staging} WHERE {} BETWEEN $1 AND $2)",
        Ident(position)
    )
}

/// The first and last input position among the staged rows.
pub(crate) fn staged_positions(staging: &str, position: &str) -> String {
    format!("SELECT min({0}), max({0}) FROM {staging}", Ident(position))
}

mod merge;
mod partition;
mod settings;
mod sync;

pub(crate) use merge::{
    dedupe_loaded, has_repeats, numbered, repeated_key, sorted_by, stored_key, Keep, Merge,
    WorkMem, SORT_WORK_MEM_KB,
};
pub(crate) use partition::{
    bound_check, count_rows, creates_partitions, fixed_partitions, fresh_partition,
    missing_partitions, slice_partition, slice_partition_keys, staged_partition_keys,
    swap_partition,
};
pub(crate) use settings::set_settings;
pub(crate) use sync::{
    markable, mirror_count, mirror_delete, mirror_snapshot, slice_delete, slice_outside,
    snapshot_keys,
};

#[cfg(test)]
mod tests;

/// For a change a comparison calls catalog-only that PostgreSQL may still
/// make by rewriting (an added column with a default, a type change): the
/// column, the probe table's column definition and the `ALTER TABLE` action
/// that makes the change on it (see
/// [`read_rewrites`](crate::catalog::read_rewrites)).
pub(crate) fn rewrite_probe(def: &TableDef, change: &Change) -> Option<(String, String, String)> {
    match change {
        Change::AddColumn { column } => {
            let declared = def.column(column).expect("declared column");
            let default = declared.default?;
            let not_null = if declared.nullable { "" } else { " NOT NULL" };
            Some((
                column.clone(),
                "k int4".to_owned(),
                format!(
                    "ADD COLUMN c {} DEFAULT {default}{not_null}",
                    declared.sql_type
                ),
            ))
        }
        Change::AlterType {
            column, from, to, ..
        } => Some((
            column.clone(),
            format!("c {from}"),
            format!("ALTER COLUMN c TYPE {to}"),
        )),
        _ => None,
    }
}
