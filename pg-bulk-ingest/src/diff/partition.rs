//! The partitioning a definition declares against the live table's. A
//! definition without `partition_by` loads a partitioned table as it is
//! (its columns, key and indexes are compared as any table's); one with it
//! needs the live table partitioned the same way: the method and the key's
//! columns. The interval, the default partition and the number of hash
//! partitions only say which partitions a call creates, and are not
//! compared.

use super::Refusal;
use crate::catalog::LiveTable;
use crate::ident::IdentList;
use crate::table::TableDef;

/// Why the live table's partitioning can't be the definition's, if it
/// can't: the library never turns a table into a partitioned one, nor the
/// reverse, nor changes a partition key.
pub(crate) fn partitioning(def: &TableDef, live: &LiveTable) -> Option<Refusal> {
    let declared = def.partition.as_ref()?;
    let declared_text = format!(
        "{} ({})",
        declared.keyword(),
        IdentList(declared.columns.iter().copied())
    );
    let what = match &live.partitioning {
        None => format!(
            "the table is not partitioned, and the definition partitions it by {declared_text}: \
             make a partitioned table and move the rows by hand"
        ),
        Some(live_p) => {
            // The key's columns as the live table names them (after renames).
            let live_names: Vec<&str> = declared
                .columns
                .iter()
                .map(|c| {
                    def.column(c)
                        .and_then(|c| live.source_of(c))
                        .map_or(*c, |l| l.name.as_str())
                })
                .collect();
            let same = live_p.keyword() == declared.keyword()
                && live_p.columns.iter().map(String::as_str).eq(live_names);
            if same {
                return None;
            }
            let live_text = if live_p.columns.is_empty() {
                format!("{} (an expression)", live_p.keyword())
            } else {
                format!(
                    "{} ({})",
                    live_p.keyword(),
                    IdentList(live_p.columns.iter().map(String::as_str))
                )
            };
            format!(
                "the table is partitioned by {live_text}, and the definition by \
                 {declared_text}: a partitioning is changed by hand"
            )
        }
    };
    Some(Refusal::Partitioning { what })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::LivePartitioning;
    use crate::fixtures::live_orders;
    use crate::table::{ColumnDef, PartitionDef, PartitionMethod};
    use crate::types::{SqlType, TypeKind};

    static COLUMNS: [ColumnDef; 2] = [
        ColumnDef::new("id", SqlType::new(TypeKind::Int8), false),
        ColumnDef::new("customer", SqlType::new(TypeKind::Text), false),
    ];
    static LISTED: TableDef = TableDef::new("sales", "orders", &COLUMNS, &["id", "customer"])
        .partitioned_by(PartitionDef::new(PartitionMethod::List, &["customer"]));

    fn partitioned(strategy: char, columns: &[&str]) -> Option<LivePartitioning> {
        Some(LivePartitioning {
            strategy,
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            partitions: Vec::new(),
        })
    }

    #[test]
    fn the_declared_partitioning_must_be_the_live_one() {
        let mut live = live_orders(["id", "customer", "note"]);
        let refusal = partitioning(&LISTED, &live).unwrap().to_string();
        assert!(refusal.contains("not partitioned"), "{refusal}");
        live.partitioning = partitioned('l', &["customer"]);
        assert_eq!(partitioning(&LISTED, &live), None);
        live.partitioning = partitioned('h', &["customer"]);
        let refusal = partitioning(&LISTED, &live).unwrap().to_string();
        assert!(
            refusal.contains(
                r#"partitioned by HASH ("customer"), and the definition by LIST ("customer")"#
            ),
            "{refusal}"
        );
        live.partitioning = partitioned('l', &[]);
        let refusal = partitioning(&LISTED, &live).unwrap().to_string();
        assert!(refusal.contains("LIST (an expression)"), "{refusal}");
        // A definition without partitioning loads a partitioned table as it is.
        live.partitioning = partitioned('r', &["id"]);
        assert_eq!(partitioning(&crate::fixtures::ORDERS, &live), None);
    }
}
