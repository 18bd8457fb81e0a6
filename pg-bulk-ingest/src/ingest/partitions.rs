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
use postgres::types::ToSql;

use crate::error::{Error, OnTable, Result};
use crate::ident::{Ident, QualifiedName};
use crate::lock::LockPolicy;
use crate::plan::{Input, Step};
use crate::row::BulkTable;
use crate::savepoint::isolated;
use crate::sql;
use crate::table::TableDef;

/// Runs `query` (a `sql::missing_partitions`) and the statements it gives.
/// A partition whose name is taken (`duplicate_table`) by a partition of the
/// same table, made by another session since the catalog was read, is
/// skipped; any other failure fails the call, naming the partition in the
/// server's message. Returns the names of the partitions made.
pub(crate) fn create(
    sp: &mut Transaction<'_>,
    def: &TableDef,
    name: &str,
    query: &str,
) -> Result<Vec<String>> {
    let missing = sp.query(query, &[]).on(name)?;
    let mut made = Vec::new();
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
                made.push(partition);
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

/// Makes the partitions of `T`'s table that rows whose partition column
/// holds `values` go into and that the table lacks, in a short transaction
/// of its own, which it commits; returns their names (none when every value
/// has its partition). For workers that load different partitions at once:
/// a call that makes a partition attaches it (`ATTACH PARTITION`, `SHARE
/// UPDATE EXCLUSIVE` on the table, which conflicts with itself), so two
/// workers that each make one take turns until the first commits; made
/// ahead, they run together (see [Partitioned tables](crate#partitioned-tables)).
///
/// The partitions are made as a call would make them (named and bounded as
/// in [Partitioned tables](crate#partitioned-tables), `CREATE TABLE ...
/// LIKE` the table and `ATTACH PARTITION`), each in a savepoint; a partition
/// another session made meanwhile under the same name is used. `values` are
/// bound as one array parameter of the partition column's type. It takes
/// the table's advisory lock shared, as a call that writes into partitions.
///
/// ```no_run
/// use chrono::NaiveDate;
/// use pg_bulk_ingest::BulkTable;
///
/// #[derive(BulkTable)]
/// #[bulk(schema = "metrics", table = "readings",
///        partition_by = "range (day)", partition_interval = "month")]
/// struct Reading {
///     #[bulk(primary_key)]
///     sensor: i32,
///     #[bulk(primary_key)]
///     day: NaiveDate,
///     value: f64,
/// }
///
/// # fn run(client: &mut postgres::Client) -> pg_bulk_ingest::Result<()> {
/// // Before starting one worker per day of May and June 2024.
/// let days = [NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(), NaiveDate::from_ymd_opt(2024, 6, 1).unwrap()];
/// let made = pg_bulk_ingest::create_partitions::<Reading, _>(client, &days)?;
/// // ["readings_202405", "readings_202406"] the first time, [] after.
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::Options`](crate::Error::Options) when the struct declares no
/// partitioning by range or list, or the table doesn't exist yet (the first
/// load creates it) or isn't partitioned as declared; a server error (a
/// value of a type the column can't take, a row of the default partition
/// that belongs in a new partition, a missing privilege), with nothing
/// made.
pub fn create_partitions<T: BulkTable, V: ToSql + Sync>(
    client: &mut postgres::Client,
    values: &[V],
) -> Result<Vec<String>> {
    let def = &T::TABLE;
    let name = def.name().to_string();
    let refuse = |reason: &str| Error::Options {
        table: name.clone(),
        reason: reason.to_owned(),
    };
    let (declared, column) = def
        .partition
        .as_ref()
        .filter(|_| sql::creates_partitions(def))
        .and_then(|p| Some((p, def.column(p.columns.first()?)?)))
        .ok_or_else(|| {
            refuse(
                "create_partitions is for a table the struct declares partitioned by range \
                 or list",
            )
        })?;
    let mut tx = client.transaction().on(&name)?;
    tx.batch_execute(&crate::lock::advisory_table_shared(def))
        .on(&name)?;
    let named = crate::catalog::read_named(&mut tx, def.schema, def.table).on(&name)?;
    let live = match &named.relation {
        crate::catalog::Relation::Table(live) => live.partitioning.as_ref(),
        _ => {
            return Err(refuse(
                "the table doesn't exist yet: the first load creates it",
            ))
        }
    };
    let as_declared = live.is_some_and(|l| {
        l.keyword() == declared.keyword()
            && l.columns
                .iter()
                .map(String::as_str)
                .eq(declared.columns.iter().copied())
    });
    if !as_declared {
        return Err(refuse("the table isn't partitioned as the struct declares"));
    }
    let source = QualifiedName::new("pg_temp", "pg_bulk_ingest_partition_values").to_string();
    tx.batch_execute(&format!(
        "CREATE TEMPORARY TABLE {source} ({} {}) ON COMMIT DROP",
        Ident(column.name),
        column.sql_type
    ))
    .on(&name)?;
    tx.execute(
        &format!(
            "INSERT INTO {source} SELECT pg_catalog.unnest($1::{}[])",
            column.sql_type
        ),
        &[&values],
    )
    .on(&name)?;
    let made = match sql::missing_partitions(def, live, &source) {
        Some(query) => create(&mut tx, def, &name, &query)?,
        None => Vec::new(),
    };
    tx.commit().on(&name)?;
    Ok(made)
}

impl<M> Ingest<'_, M> {
    /// Makes a [`replace_slice`](Ingest::replace_slice) whose slice is
    /// exactly one partition of the table a *partition swap*: the batch is
    /// loaded into a fresh table, which is given the partition's key and
    /// indexes, owner, privileges, comments and storage parameters, then
    /// swapped in for the partition (`DETACH PARTITION` of the old one,
    /// which is dropped, and `ATTACH PARTITION` of the fresh one with the
    /// same bound). Default off.
    ///
    /// ```no_run
    /// # use pg_bulk_ingest::{BulkTable, Ingest, Slice};
    /// # #[derive(BulkTable)]
    /// # #[bulk(partition_by = "range (day)", partition_interval = "day")]
    /// # struct Reading { #[bulk(primary_key)] sensor: i32, #[bulk(primary_key)] day: chrono::NaiveDate, value: f64 }
    /// # fn run(tx: &mut postgres::Transaction<'_>, day: chrono::NaiveDate, rows: Vec<Reading>) -> pg_bulk_ingest::Result<()> {
    /// // The partition of `day` is swapped for one holding exactly `rows`.
    /// Ingest::new()
    ///     .replace_slice(Slice::equal("day", day))
    ///     .swap_partition(true)
    ///     .insert(tx, &rows)?;
    /// # Ok(()) }
    /// ```
    ///
    /// - **Which slices.** A slice of one condition on the column of a
    ///   partitioning the struct declares: `Slice::equal` on a list
    ///   partitioning's column, `Slice::range` on a range partitioning's,
    ///   or `Slice::equal` on a range partitioning's `date` column (the day
    ///   `[d, d + 1)`). A partition is the slice when its bound, as
    ///   PostgreSQL prints it (`pg_get_expr(relpartbound)`), is the bound the
    ///   slice's values make printed by the same server: every partition the
    ///   library makes, and one made by hand with the same values. Otherwise
    ///   (no such partition yet, a monthly partition and a slice of one day,
    ///   a bound written `1.5` for a partition of `1.50`, or a partition with
    ///   something of its own that a fresh table would lose: partitions of
    ///   its own, an index, trigger or constraint of its own, a foreign key
    ///   to it, a view reading it, row security, a replica identity, another
    ///   tablespace, a publication), the call
    ///   replaces the slice with a `DELETE` and an insert, as without this
    ///   option; its [`plan`](Ingest::plan) says which, and why.
    /// - **Locks.** The fresh table is loaded and indexed with no lock on
    ///   the table beyond the call's advisory locks. The swap then takes
    ///   `ACCESS EXCLUSIVE` on the partitioned table, last, in attempts of
    ///   at most the lock timeout, terminating blockers after
    ///   [`terminate_blockers_after`](Ingest::terminate_blockers_after) (as a
    ///   `replace` does): `DETACH PARTITION` takes it on every major 12 to
    ///   18 (`CONCURRENTLY`, from 14, can't run in a transaction block).
    ///   It is held until the caller commits: **readers and writers of every
    ///   partition wait** from the swap to the commit, where the `DELETE`
    ///   of a slice replace blocks no reader. Under it: the partition is
    ///   read again (if it changed since the call read it, replaced or given
    ///   something of its own, the call fails with
    ///   [`Error::Dependents`](crate::Error::Dependents), changing nothing),
    ///   the old partition's rows are counted (one scan of it, for
    ///   [`deleted`](crate::TableReport::deleted)), the partition detached
    ///   and dropped, the fresh one renamed and attached (a `CHECK` of the
    ///   partition's constraint, added before the lock, spares
    ///   `ATTACH PARTITION` its scan of the fresh table; it scans a
    ///   default partition, if the table has one), and the `CHECK` dropped.
    ///   Workers on other partitions ([per-partition locks](crate#partitioned-tables))
    ///   wait for the swap, and it waits for them: commit soon after the
    ///   call.
    /// - **What it replaces.** The rows the partition holds when the swap
    ///   has its lock, rows other sessions committed into it while the call
    ///   ran included (where a `DELETE` leaves those committed after it
    ///   started).
    pub fn swap_partition(mut self, on: bool) -> Self {
        self.options.swap_partition = on;
        self
    }

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
            &self.slice_values,
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
