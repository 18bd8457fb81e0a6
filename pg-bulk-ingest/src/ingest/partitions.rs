//! Running a plan's [`Run::Partitions`](crate::plan) step: the partitions
//! the staged rows need, made one by one, each in a savepoint.

use postgres::error::SqlState;
use postgres::types::Type;
use postgres::Transaction;

use crate::error::{OnTable, Result};
use crate::ident::QualifiedName;
use crate::savepoint::isolated;
use crate::table::TableDef;

/// Runs `query` (a `sql::missing_partitions`) and the statements it gives.
/// A partition whose name is taken (`duplicate_table`) by a partition of the
/// same table, made by another session since the catalog was read, is
/// skipped; any other failure fails the call, naming the partition in the
/// server's message. Returns how many partitions were made.
pub(crate) fn create(
    sp: &mut Transaction<'_>,
    def: &TableDef,
    name: &str,
    query: &str,
) -> Result<u64> {
    let missing = sp.query(query, &[]).on(name)?;
    let mut made = 0;
    for row in missing {
        let (partition, create, attach): (String, String, String) =
            (row.get(0), row.get(1), row.get(2));
        log::debug!("{create}; {attach}");
        let done = isolated(sp, |t| {
            t.batch_execute(&create)?;
            t.batch_execute(&attach)
        })
        .on(name)?;
        match done {
            Ok(()) => {
                log::info!("{name}: partition {partition} made");
                made += 1;
            }
            Err(e) if e.code() == Some(&SqlState::DUPLICATE_TABLE) => {
                let qualified = QualifiedName::new(def.schema, &partition).to_string();
                // The partition tree as it is now (not as the snapshot
                // has it): PostgreSQL 12's pg_partition_root.
                let row = sp
                    .query_typed_one(
                        "SELECT pg_catalog.pg_partition_root(pg_catalog.to_regclass($1)) \
                         IS NOT DISTINCT FROM pg_catalog.to_regclass($2)",
                        &[
                            (&qualified, Type::TEXT),
                            (&def.name().to_string(), Type::TEXT),
                        ],
                    )
                    .on(name)?;
                if !row.get::<_, bool>(0) {
                    return Err(e).on(name);
                }
                log::info!("{name}: partition {partition} made meanwhile by another session");
            }
            Err(e) => return Err(e).on(name),
        }
    }
    Ok(made)
}
