//! The statement that gives a new table the live table's storage parameters.
//! They come from the catalog as `name=value` text: the name is quoted as an
//! identifier and the value as a literal (PostgreSQL takes a string for any
//! storage parameter), so no catalog text reaches SQL unquoted.

use crate::ident::{Ident, Literal, QualifiedName};

/// `ALTER TABLE <table> SET ("fillfactor" = '70', toast."autovacuum_enabled"
/// = 'false')` from `reloptions` as the catalog holds them (`name=value`,
/// the TOAST table's prefixed `toast.`, see
/// [`SizeAndSettings::storage`](crate::catalog::swap::SizeAndSettings)); `None`
/// when there are none. An entry without `=` (PostgreSQL writes none) is
/// left out. PostgreSQL checks names and values itself: one it doesn't
/// know fails the statement.
pub(crate) fn set_storage(table: &QualifiedName<'_>, reloptions: &[String]) -> Option<String> {
    let options: Vec<String> = reloptions
        .iter()
        .filter_map(|option| {
            let (name, value) = option.split_once('=')?;
            Some(match name.strip_prefix("toast.") {
                Some(name) => format!("toast.{} = {}", Ident(name), Literal(value)),
                None => format!("{} = {}", Ident(name), Literal(value)),
            })
        })
        .collect();
    (!options.is_empty()).then(|| format!("ALTER TABLE {table} SET ({})", options.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_quoted() {
        let table = QualifiedName::new("s", "t_pgbi_new");
        assert_eq!(set_storage(&table, &[]), None);
        assert_eq!(
            set_storage(
                &table,
                &[
                    "fillfactor=70".to_owned(),
                    "toast.autovacuum_enabled=false".to_owned(),
                    "x\")=1; DROP TABLE t; --=it's".to_owned(),
                ]
            )
            .unwrap(),
            "ALTER TABLE \"s\".\"t_pgbi_new\" SET (\"fillfactor\" = '70', \
             toast.\"autovacuum_enabled\" = 'false', \
             \"x\"\")\" = '1; DROP TABLE t; --=it''s')"
        );
    }
}
