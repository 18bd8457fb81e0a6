//! Running a plan's [`Run::Partitions`](crate::plan) step: the partitions
//! the staged rows need, made one by one, each in a savepoint; and the
//! preparation of a call that shares the table's advisory lock with calls
//! on other partitions.

use postgres::error::SqlState;
use postgres::types::Type;
use postgres::Transaction;

use super::execute::{Outcome, Table};
use super::planning::plan_table;
use super::Ingest;
use crate::error::{OnTable, Result};
use crate::ident::QualifiedName;
use crate::lock::LockPolicy;
use crate::plan::{Input, Step};
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

impl<M> Ingest<'_, M> {
    /// One table whose calls may share its advisory lock (see
    /// [`shares_lock`](crate::plan::shares_lock)): the lock is taken shared,
    /// in a savepoint, and the call planned under it. When the plan shares
    /// it (the table needs no change), the savepoint is kept and the plan's
    /// [`Stage::Prepare`] steps run; otherwise the savepoint is rolled back,
    /// which lets go of the shared lock (a lock taken in a subtransaction
    /// goes with it), and `None` tells the caller to take the lock
    /// exclusively and plan again. Asking for the exclusive lock while
    /// holding the shared one would deadlock two such calls.
    pub(super) fn prepare_shared(
        &mut self,
        sp: &mut Transaction<'_>,
        def: &'static TableDef,
        input: &Input,
        types: &[Step],
        policy: &LockPolicy,
    ) -> Result<Option<Table>> {
        let name = def.name().to_string();
        let mut probe = sp.transaction().on(&name)?;
        let shared = crate::lock::advisory_table_shared(def);
        log::debug!("{shared}");
        probe.batch_execute(&shared).on(&name)?;
        let plan = plan_table(
            &mut probe,
            def,
            &self.options,
            input,
            types.to_vec(),
            self.high_watermark.as_deref(),
        )?;
        if !plan.shares_table_lock() {
            probe.rollback().on(&name)?;
            return Ok(None);
        }
        probe.commit().on(&name)?;
        log::info!(
            "{name}: {}",
            plan.to_string().lines().next().unwrap_or_default()
        );
        match self.start(sp, plan, policy)? {
            (table, Outcome::Done) => Ok(Some(table)),
            _ => unreachable!("a plan sharing the table's lock changes nothing in it"),
        }
    }
}
