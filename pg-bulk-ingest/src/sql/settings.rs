//! The statements that give a new table the live table's settings (see
//! [`Settings`]): one `ALTER TABLE` for its storage parameters, replica
//! identity, row level security and column settings, then a `CREATE POLICY`
//! for each policy. Storage parameters and column options come from the
//! catalog as `name=value` text: the name is quoted as an identifier and the
//! value as a literal (PostgreSQL takes a string for any of them); policy,
//! role and column names are quoted identifiers; keywords are chosen from
//! the catalog's codes. Only a policy's expressions go in as the server
//! rendered them (`pg_get_expr`).

use crate::catalog::swap::{ColumnSettings, Policy, Settings};
use crate::catalog::LiveTable;
use crate::diff::same_type;
use crate::ident::{Ident, Literal, QualifiedName};
use crate::table::TableDef;

/// The statements that give `table`, the new table of a swap of `def`, the
/// settings of the live table `live` as planning read them, each with a note
/// for the plan: the table's settings, then its policies. Column settings
/// go to the column of `def` that takes the live column's values (of its
/// name, or renamed from it); storage and compression only when the column
/// keeps its type (another type may not take them).
pub(crate) fn set_settings(
    def: &TableDef,
    live: &LiveTable,
    table: &QualifiedName<'_>,
    settings: &Settings,
) -> Vec<(String, &'static str)> {
    let mut commands = Vec::new();
    if let Some(options) = options(&settings.storage, true) {
        commands.push(format!("SET ({options})"));
    }
    match settings.replica_identity {
        Some('f') => commands.push("REPLICA IDENTITY FULL".to_owned()),
        Some('n') => commands.push("REPLICA IDENTITY NOTHING".to_owned()),
        _ => {}
    }
    if settings.row_security {
        commands.push("ENABLE ROW LEVEL SECURITY".to_owned());
    }
    for declared in def.columns {
        // The live column that holds its values (by name, or the one it is
        // renamed from), and that column's settings.
        let Some(source) = live.source_of(declared) else {
            continue;
        };
        let Some(column) = settings.columns.iter().find(|c| c.name == source.name) else {
            continue;
        };
        let same = same_type(source, &declared.sql_type);
        commands.extend(column_commands(declared.name, column, same));
    }
    let mut out = Vec::new();
    if !commands.is_empty() {
        out.push((
            format!("ALTER TABLE {table} {}", commands.join(", ")),
            "the live table's settings (as planning read them)",
        ));
    }
    out.extend(settings.policies.iter().map(|p| {
        (
            create_policy(table, p),
            "a policy of the live table (as planning read it)",
        )
    }));
    out
}

/// `"fillfactor" = '70', toast."autovacuum_enabled" = 'false'` from options
/// as the catalog holds them (`name=value`; with `toast`, the TOAST table's
/// prefixed `toast.`); `None` when there are none. An entry without `=`
/// (PostgreSQL writes none) is left out. PostgreSQL checks names and values
/// itself: one it doesn't know fails the statement.
fn options(entries: &[String], toast: bool) -> Option<String> {
    let options: Vec<String> = entries
        .iter()
        .filter_map(|option| {
            let (name, value) = option.split_once('=')?;
            Some(match name.strip_prefix("toast.").filter(|_| toast) {
                Some(name) => format!("toast.{} = {}", Ident(name), Literal(value)),
                None => format!("{} = {}", Ident(name), Literal(value)),
            })
        })
        .collect();
    (!options.is_empty()).then(|| options.join(", "))
}

/// The `ALTER COLUMN` commands of the settings `column` (read from the live
/// column) for the new table's column `name`; storage and compression only
/// when `same_type`.
fn column_commands(name: &str, column: &ColumnSettings, same_type: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(target) = column.statistics {
        out.push(format!("SET STATISTICS {target}"));
    }
    if let Some(options) = options(&column.options, false) {
        out.push(format!("SET ({options})"));
    }
    if same_type {
        let storage = match column.storage {
            Some('p') => Some("PLAIN"),
            Some('e') => Some("EXTERNAL"),
            Some('m') => Some("MAIN"),
            Some('x') => Some("EXTENDED"),
            _ => None,
        };
        out.extend(storage.map(|s| format!("SET STORAGE {s}")));
        let compression = match column.compression {
            Some('p') => Some("pglz"),
            Some('l') => Some("lz4"),
            _ => None,
        };
        out.extend(compression.map(|c| format!("SET COMPRESSION {c}")));
    }
    out.into_iter()
        .map(|command| format!("ALTER COLUMN {} {command}", Ident(name)))
        .collect()
}

/// `CREATE POLICY "name" ON <table> AS PERMISSIVE FOR ALL TO "role", PUBLIC
/// USING (...) WITH CHECK (...)`.
fn create_policy(table: &QualifiedName<'_>, policy: &Policy) -> String {
    let command = match policy.command {
        'r' => "SELECT",
        'a' => "INSERT",
        'w' => "UPDATE",
        'd' => "DELETE",
        _ => "ALL",
    };
    let mut sql = format!(
        "CREATE POLICY {} ON {table} AS {} FOR {command}",
        Ident(&policy.name),
        if policy.permissive {
            "PERMISSIVE"
        } else {
            "RESTRICTIVE"
        },
    );
    let roles: Vec<String> = policy
        .roles
        .iter()
        .map(|role| match role {
            Some(role) => Ident(role).to_string(),
            None => "PUBLIC".to_owned(),
        })
        .collect();
    if !roles.is_empty() {
        sql.push_str(&format!(" TO {}", roles.join(", ")));
    }
    if let Some(using) = &policy.using {
        sql.push_str(&format!(" USING ({using})"));
    }
    if let Some(check) = &policy.check {
        sql.push_str(&format!(" WITH CHECK ({check})"));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{live_orders, ORDERS};

    fn set(settings: &Settings) -> Vec<String> {
        let table = QualifiedName::new("s", "t_pgbi_new");
        let live = live_orders(["id", "customer", "note"]);
        set_settings(&ORDERS, &live, &table, settings)
            .into_iter()
            .map(|(sql, _)| sql)
            .collect()
    }

    #[test]
    fn names_and_values_are_quoted() {
        assert_eq!(set(&Settings::default()), Vec::<String>::new());
        let storage = vec![
            "fillfactor=70".to_owned(),
            "toast.autovacuum_enabled=false".to_owned(),
            "x\")=1; DROP TABLE t; --=it's".to_owned(),
        ];
        assert_eq!(
            set(&Settings {
                storage,
                ..Settings::default()
            }),
            [
                "ALTER TABLE \"s\".\"t_pgbi_new\" SET (\"fillfactor\" = '70', \
              toast.\"autovacuum_enabled\" = 'false', \
              \"x\"\")\" = '1; DROP TABLE t; --=it''s')"
            ]
        );
    }

    #[test]
    fn table_and_column_settings_then_policies() {
        let column = |name: &str| ColumnSettings {
            name: name.into(),
            statistics: Some(500),
            options: vec!["n_distinct=-0.5".into(), "toast.x=1".into()],
            storage: Some('e'),
            compression: Some('l'),
        };
        let settings = Settings {
            replica_identity: Some('f'),
            row_security: true,
            // `customer` keeps its type; `gone` is not declared.
            columns: vec![column("customer"), column("gone")],
            policies: vec![Policy {
                name: "it's \"mine\"".into(),
                permissive: false,
                command: 'w',
                roles: vec![Some("Role\"x".into()), None],
                using: Some("(customer = CURRENT_USER)".into()),
                check: None,
                reads: vec!["customer".into()],
                names_its_table: false,
            }],
            ..Settings::default()
        };
        assert_eq!(
            set(&settings),
            [
                "ALTER TABLE \"s\".\"t_pgbi_new\" REPLICA IDENTITY FULL, \
                 ENABLE ROW LEVEL SECURITY, \
                 ALTER COLUMN \"customer\" SET STATISTICS 500, \
                 ALTER COLUMN \"customer\" SET (\"n_distinct\" = '-0.5', \"toast.x\" = '1'), \
                 ALTER COLUMN \"customer\" SET STORAGE EXTERNAL, \
                 ALTER COLUMN \"customer\" SET COMPRESSION lz4",
                "CREATE POLICY \"it's \"\"mine\"\"\" ON \"s\".\"t_pgbi_new\" AS RESTRICTIVE \
                 FOR UPDATE TO \"Role\"\"x\", PUBLIC USING ((customer = CURRENT_USER))",
            ]
        );
        // Another type takes the statistics target and options only.
        let mut live = live_orders(["id", "customer", "note"]);
        live.columns[1].sql_type = "text".into();
        let only = set_settings(
            &ORDERS,
            &live,
            &QualifiedName::new("s", "t"),
            &Settings {
                columns: vec![column("customer")],
                ..Settings::default()
            },
        );
        assert_eq!(only.len(), 1);
        assert!(!only[0].0.contains("STORAGE") && !only[0].0.contains("COMPRESSION"));
    }
}
