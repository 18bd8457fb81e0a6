//! Ingest orchestration: plan the table, stream the rows with binary COPY,
//! merge or finish, all inside a savepoint of the caller's transaction.

use std::io::Write;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{CopyInWriter, Transaction};

use crate::catalog::{self, Carried, Relation};
use crate::copy::{write_tuple, COPY_HEADER, COPY_TRAILER};
use crate::error::{Error, Result};
use crate::ident::{limited, Ident, IdentList, Literal, QualifiedName};
use crate::lock::{lock_exclusive, LockPolicy};
use crate::plan::{Action, Plan, PlanOptions};
use crate::row::{AsRow, BulkRows, HasPrimaryKey};
use crate::table::TableDef;

/// Bytes encoded before they are handed to the connection. Large enough that
/// the per-message overhead vanishes, small enough to stay in cache.
const CHUNK: usize = 256 * 1024;

/// Bytes of rows of a table other than the one being COPYed that wait before
/// that table gets its turn.
const WAITING_CHUNK: usize = 1024 * 1024;

/// Runs of input positions one COPY keeps (each 16 bytes); past this, the COPY
/// is finished and a new one started, so memory stays bounded whatever the mix.
const MAX_RUNS: usize = 64 * 1024;

/// How often the elapsed time is checked for progress reports, in rows.
const PROGRESS_CHECK_ROWS: u64 = 4096;

/// Key space of the library's advisory locks (ASCII "bulk").
const ADVISORY_LOCK_SPACE: i32 = 0x6275_6c6b;

/// What a progress callback is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Rows taken from the input so far.
    pub rows: u64,
    /// Time since the call started.
    pub elapsed: Duration,
    /// What the call is doing.
    pub phase: Phase,
}

/// The phases of a call, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Creating or checking the table.
    Preparing,
    /// Streaming rows.
    Loading,
    /// Merging staged rows into the table (`upsert`), or building keys.
    Finishing,
    /// Done; `rows` is final.
    Done,
}

/// What a call did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Rows taken from the input.
    pub rows: u64,
    /// Per table, in the order of the row type's tables.
    pub tables: Vec<TableReport>,
    /// Wall-clock time of the call.
    pub elapsed: Duration,
}

/// What a call did to one table.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableReport {
    /// Schema-qualified, quoted name.
    pub table: String,
    /// Rows of the input that belonged to this table.
    pub rows: u64,
    /// Whether the call created the table.
    pub created: bool,
    /// `upsert`: rows inserted or changed (duplicates in the input count
    /// once; a merge doesn't rewrite, or count, rows whose values were already
    /// the same, a rebuild writes them all). `insert` and `replace`: equal to
    /// `rows`.
    pub written: u64,
}

/// How [`upsert`](crate::upsert) brings the rows into a table that exists.
///
/// Both ways are atomic with the caller's transaction and give the same rows
/// in the end (the last row of each key in the input wins), with one
/// difference: where a key in the input equals a stored one without being
/// byte for byte the same (`1.0` and `1.00` as `numeric`), the merge keeps
/// the stored key and the rebuild stores the input's. They differ in speed
/// and in locking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpsertStrategy {
    /// Rebuild when the batch is large against the table and the rebuild
    /// gives the same table back, merge otherwise. It rebuilds when all of
    /// these hold:
    ///
    /// - the input's length is known in advance (its iterator's `size_hint`,
    ///   which slices, `Vec`s and most adapters of them give), at least
    ///   100,000 rows (below that the time saved is too small to be worth a
    ///   swap) and at least half the table's estimated row count
    ///   (`reltuples`, kept by `VACUUM`, `ANALYZE` and index builds; a table
    ///   without an estimate is merged into);
    /// - the call loads one table, is not [`in_place`](Ingest::in_place), and
    ///   runs in a `READ COMMITTED` transaction without open cursors;
    /// - the table has nothing a rebuild doesn't carry (see
    ///   [`Rebuild`](UpsertStrategy::Rebuild)), no dependent views, and its
    ///   columns in the definition's order;
    /// - the role may create the new table as the owner's (member of the
    ///   owner role, `CREATE` on the schema);
    /// - the `EXCLUSIVE` lock can be had within 2 seconds: while another
    ///   session is writing to the table, it merges (during those seconds new
    ///   writers queue behind the request).
    ///
    /// The lock, once taken, is held until the caller commits: writers wait
    /// for the whole call.
    #[default]
    Auto,
    /// Rows go into a temporary staging table, then `INSERT ... ON CONFLICT
    /// (key) DO UPDATE` merges them into the table; rows whose values are
    /// already the same are not rewritten. The table is locked only in `ROW
    /// EXCLUSIVE` mode: other writers go on. The cost grows with the batch,
    /// not with the table. A table that needs a migration is still
    /// rebuilt, with the live rows copied first and the batch merged into
    /// them.
    Merge,
    /// The table is locked `EXCLUSIVE` first (writers wait until the
    /// caller commits; readers go on). Rows go into a new table; the live
    /// rows whose key the batch doesn't hold are copied after them; the key
    /// and indexes are built and the new table is swapped in, as for a
    /// migration: the swap takes a short `ACCESS EXCLUSIVE` lock, with the
    /// same attempts and
    /// [`terminate_blockers_after`](Ingest::terminate_blockers_after) as other
    /// swaps. The cost grows with the table: about twice as fast as the merge
    /// when the batch is as large as the table. The table's owner,
    /// privileges, comments, indexes and dependent views are carried; a table
    /// with anything else hanging off it (foreign keys into it, triggers,
    /// policies, other people's indexes, identity columns, storage
    /// parameters, publications, ...) fails the call with
    /// [`Error::Dependents`](crate::Error::Dependents), before any row is
    /// loaded. The new table has no planner statistics until it is analyzed
    /// (autovacuum does it soon; `ANALYZE` after the commit does it at once).
    /// A rebuild needs a `READ COMMITTED` transaction (in `REPEATABLE READ`
    /// rows other sessions commit after the transaction's snapshot would be
    /// lost; the call fails with
    /// [`Error::Unsupported`](crate::Error::Unsupported)), as migrations that
    /// rebuild do.
    Rebuild,
}

/// A table counts as large for [`UpsertStrategy::Auto`] from this share of the
/// table's estimated rows. Measured on the benchmark's table (1M rows into 1M,
/// half of them new), the rebuild took 3.7–4.5 s against the merge's 9.7 s;
/// at a tenth of the table the merge is faster.
const AUTO_REBUILD_SHARE: f64 = 0.5;

/// How long [`UpsertStrategy::Auto`] waits for the lock of a rebuild before
/// it merges instead.
const AUTO_LOCK_WAIT: Duration = Duration::from_secs(2);

/// The smallest batch [`UpsertStrategy::Auto`] rebuilds for.
const AUTO_REBUILD_MIN_ROWS: u64 = 100_000;

/// What planning an upsert needs to know beyond the table.
#[derive(Clone, Copy, Debug)]
struct UpsertInput {
    strategy: UpsertStrategy,
    /// Lower bound of the input's length.
    rows_hint: u64,
    /// Whether the call loads only this table.
    single_table: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Insert,
    Upsert,
    Replace,
}

/// Options for a call; the free functions [`insert`](crate::insert) and
/// [`upsert`](crate::upsert) are shortcuts for `Ingest::new()`.
///
/// ```no_run
/// # use pg_bulk_ingest::{BulkTable, Ingest};
/// # #[derive(BulkTable)] struct Event { #[bulk(primary_key)] id: i64 }
/// # fn run(client: &mut postgres::Client, events: Vec<Event>) -> Result<(), Box<dyn std::error::Error>> {
/// let mut tx = client.transaction()?;
/// let report = Ingest::new()
///     .on_progress(|p| eprintln!("{} rows after {:?}", p.rows, p.elapsed))
///     .upsert(&mut tx, &events)?;
/// tx.commit()?;
/// println!("{} rows", report.rows);
/// # Ok(()) }
/// ```
pub struct Ingest<'p> {
    on_progress: Option<ProgressFn<'p>>,
    progress_interval: Duration,
    lock_timeout: Option<Duration>,
    terminate_blockers_after: Duration,
    force_connection: Option<postgres::Config>,
    plan_options: PlanOptions,
    upsert_strategy: UpsertStrategy,
}

type ProgressFn<'p> = Box<dyn FnMut(&Progress) + 'p>;

/// The longest one attempt at the swap lock waits by default.
const DEFAULT_SWAP_ATTEMPT: Duration = Duration::from_secs(1);

impl Default for Ingest<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'p> Ingest<'p> {
    /// Default options: no progress callback, the session's own lock timeout.
    pub fn new() -> Self {
        Ingest {
            on_progress: None,
            progress_interval: Duration::from_secs(1),
            lock_timeout: None,
            terminate_blockers_after: Duration::from_secs(300),
            force_connection: None,
            plan_options: PlanOptions::default(),
            upsert_strategy: UpsertStrategy::Auto,
        }
    }

    /// Calls `f` as the call goes: at each phase, and while loading at most
    /// once per [`progress_interval`](Ingest::progress_interval).
    pub fn on_progress(mut self, f: impl FnMut(&Progress) + 'p) -> Self {
        self.on_progress = Some(Box::new(f));
        self
    }

    /// How often progress is reported while loading (default 1 s).
    pub fn progress_interval(mut self, interval: Duration) -> Self {
        self.progress_interval = interval;
        self
    }

    /// The longest the call waits for any lock (`lock_timeout`) before it
    /// fails with [`Error::LockTimeout`]. By default the session's setting
    /// applies (PostgreSQL's default: wait indefinitely). The caller's setting
    /// is restored when the call returns.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    /// How long [`replace`](Ingest::replace) keeps trying to take the lock its
    /// swap needs before it terminates the sessions that hold it (with a
    /// [`force_connection`](Ingest::force_connection)) or fails with
    /// [`Error::SwapTimeout`] (without one). Default: 5 minutes.
    ///
    /// Each attempt waits at most the [`lock_timeout`](Ingest::lock_timeout)
    /// (default 1 s), during which new readers of the table queue behind it;
    /// between attempts they proceed.
    pub fn terminate_blockers_after(mut self, delay: Duration) -> Self {
        self.terminate_blockers_after = delay;
        self
    }

    /// A second connection, used only to terminate the backends that block
    /// the swap once [`terminate_blockers_after`](Ingest::terminate_blockers_after)
    /// has passed. Its role needs the right to terminate them: superuser, or
    /// membership of `pg_signal_backend` (which can't terminate superusers'
    /// sessions). Each terminated backend is logged at warn with its pid, user
    /// and query age.
    pub fn force_connection(mut self, config: postgres::Config) -> Self {
        self.force_connection = Some(config);
        self
    }

    /// Makes catalog-only changes (adding a nullable column or one with a
    /// default, dropping or renaming a column, widening a `varchar`, dropping
    /// `NOT NULL`, a default or an index) with `ALTER TABLE` in place, instead
    /// of rebuilding the table. Default: off.
    ///
    /// The trade-off: a rebuild copies the whole table, but readers wait only
    /// for the swap at the end. In place copies nothing, but the rows are then
    /// staged and go in after the `ALTER`s, under the table's `ACCESS
    /// EXCLUSIVE` lock, which is held until the caller commits: readers pause
    /// for about as long as the batch takes to insert. Changes that are not
    /// catalog-only always rebuild.
    pub fn in_place(mut self, on: bool) -> Self {
        self.plan_options.in_place = on;
        self
    }

    /// Allows migrations that lose data: dropping a column that holds data,
    /// narrowing a type or changing it without an exact conversion. Without
    /// it such a call fails before doing anything, with [`Error::Refused`]
    /// listing what would be lost. With it, a value that doesn't convert still
    /// fails the call, and the table is left as it was.
    pub fn allow_data_loss(mut self, on: bool) -> Self {
        self.plan_options.allow_data_loss = on;
        self
    }

    /// How [`upsert`](Ingest::upsert) brings the rows into a table that
    /// exists: by merging them, or by rebuilding the table. Default:
    /// [`UpsertStrategy::Auto`], which rebuilds only for a batch at least half
    /// as large as the table.
    ///
    /// ```no_run
    /// # use pg_bulk_ingest::{BulkTable, Ingest, UpsertStrategy};
    /// # #[derive(BulkTable)] struct Event { #[bulk(primary_key)] id: i64 }
    /// # fn run(tx: &mut postgres::Transaction<'_>, events: Vec<Event>) -> pg_bulk_ingest::Result<()> {
    /// // Other writers of the table must never wait for this job.
    /// Ingest::new()
    ///     .upsert_strategy(UpsertStrategy::Merge)
    ///     .upsert(tx, &events)?;
    /// # Ok(()) }
    /// ```
    pub fn upsert_strategy(mut self, strategy: UpsertStrategy) -> Self {
        self.upsert_strategy = strategy;
        self
    }

    /// Replaces the table's contents with the rows; see [`replace`](crate::replace).
    pub fn replace<I>(self, tx: &mut Transaction<'_>, rows: I) -> Result<Report>
    where
        I: IntoIterator,
        I::Item: AsRow,
    {
        self.run(tx, rows, Mode::Replace)
    }

    /// What a call with these options would do to `T`'s table(s), without
    /// changing anything (the catalog is read in a transaction that is rolled
    /// back). Every call executes exactly this plan, unless the table changes
    /// in between.
    pub fn plan<T: BulkRows>(&self, client: &mut postgres::Client) -> Result<Vec<Plan>> {
        let mut tx = client
            .transaction()
            .map_err(|e| Error::server(String::new(), e))?;
        // Missing enum types are created (in this transaction, rolled back)
        // so that the tables can be planned as the call would.
        let types = crate::enums::ensure(&mut tx, T::TABLES)?;
        let mut plans = Vec::new();
        for (&def, create_types) in T::TABLES.iter().zip(types) {
            let mut plan = plan_table(&mut tx, def, Mode::Insert, self.plan_options, None)?;
            plan.create_types = create_types;
            plans.push(plan);
        }
        tx.rollback().map_err(|e| Error::server(String::new(), e))?;
        Ok(plans)
    }

    /// Appends the rows; see [`insert`](crate::insert).
    pub fn insert<I>(self, tx: &mut Transaction<'_>, rows: I) -> Result<Report>
    where
        I: IntoIterator,
        I::Item: AsRow,
    {
        self.run(tx, rows, Mode::Insert)
    }

    /// Inserts new rows and updates existing ones by primary key; see
    /// [`upsert`](crate::upsert).
    pub fn upsert<I>(self, tx: &mut Transaction<'_>, rows: I) -> Result<Report>
    where
        I: IntoIterator,
        I::Item: AsRow,
        <I::Item as AsRow>::Row: HasPrimaryKey,
    {
        self.run(tx, rows, Mode::Upsert)
    }

    fn run<I>(mut self, tx: &mut Transaction<'_>, rows: I, mode: Mode) -> Result<Report>
    where
        I: IntoIterator,
        I::Item: AsRow,
    {
        let started = Instant::now();
        let tables = <<I::Item as AsRow>::Row as BulkRows>::TABLES;
        let first = tables
            .first()
            .map_or_else(String::new, |t| t.name().to_string());
        let on = |table: &TableDef| {
            let name = table.name().to_string();
            move |source| Error::server(name.clone(), source)
        };
        // Everything happens in a savepoint: on error it is rolled back (when
        // `sp` is dropped) and the caller's transaction goes on as before.
        let mut sp = tx
            .transaction()
            .map_err(|source| Error::server(first.clone(), source))?;
        let restore_lock_timeout = match self.lock_timeout {
            Some(timeout) => Some(set_lock_timeout(&mut sp, timeout).map_err(on(tables[0]))?),
            None => None,
        };

        self.progress(0, started, Phase::Preparing);
        let rows = rows.into_iter();
        let upsert = (mode == Mode::Upsert).then(|| UpsertInput {
            strategy: self.upsert_strategy,
            rows_hint: rows.size_hint().0 as u64,
            single_table: tables.len() == 1,
        });
        // Enum types first: a missing label fails the call before anything
        // is changed; missing types are created.
        let types = crate::enums::ensure(&mut sp, tables)?;
        let mut targets = Vec::with_capacity(tables.len());
        for (&table, create_types) in tables.iter().zip(types) {
            let mut target = Target::prepare(&mut sp, table, mode, self.plan_options, upsert)?;
            target.plan.create_types = create_types;
            targets.push(target);
        }

        let count = self.load(&mut sp, &mut targets, rows, started)?;

        self.progress(count, started, Phase::Finishing);
        for target in &mut targets {
            target.finish(&mut sp, mode, tables.len() == 1)?;
        }
        // The swaps come last: their ACCESS EXCLUSIVE locks are held until the
        // caller commits.
        let policy = LockPolicy {
            attempt_timeout: self.lock_timeout.unwrap_or(DEFAULT_SWAP_ATTEMPT),
            deadline: self.terminate_blockers_after,
            force: self.force_connection.clone(),
        };
        for target in &mut targets {
            target.swap(&mut sp, &policy, mode)?;
        }
        if let Some(old) = restore_lock_timeout {
            restore(&mut sp, &old).map_err(on(tables[0]))?;
        }
        sp.commit().map_err(on(tables[0]))?;

        let report = Report {
            rows: count,
            tables: targets.into_iter().map(Target::report).collect(),
            elapsed: started.elapsed(),
        };
        self.progress(count, started, Phase::Done);
        log::info!(
            "{first}: {mode:?} of {count} rows done in {:.3} s",
            report.elapsed.as_secs_f64()
        );
        Ok(report)
    }

    /// Streams the rows into their tables' COPYs. One COPY is open at a time:
    /// rows of its table go straight into it; rows of other tables wait in a
    /// bounded buffer of their own, and when one fills, the open COPY is
    /// finished and that table's COPY opened (starting with its buffer). With
    /// one table, this is a single COPY of the whole input.
    fn load<I>(
        &mut self,
        sp: &mut Transaction<'_>,
        targets: &mut [Target],
        rows: I,
        started: Instant,
    ) -> Result<u64>
    where
        I: IntoIterator,
        I::Item: AsRow,
    {
        let mut rows = rows.into_iter();
        let mut waiting: Vec<Batch> = targets.iter().map(|_| Batch::default()).collect();
        let mut buf = Vec::with_capacity(CHUNK + 64 * 1024);
        let mut position: u64 = 0;
        let mut last_progress = started;
        let mut current = 0;
        loop {
            let target = &targets[current];
            log::debug!("{}: COPY from row {position}", target.name);
            let mut copy = target.start_copy(sp)?;
            // This COPY's rows, as runs of input positions, to name a row the
            // server rejects by its COPY line.
            let mut lines = std::mem::take(&mut waiting[current]);
            buf.clear();
            buf.extend_from_slice(COPY_HEADER);
            buf.append(&mut lines.bytes);
            let mut next = None;
            for item in rows.by_ref() {
                let row = item.as_row();
                let table = row.table_index();
                if table >= targets.len() {
                    return Err(Error::Unsupported {
                        table: targets[current].name.clone(),
                        what: "a row whose table_index is out of range",
                    });
                }
                let out = if table == current {
                    &mut buf
                } else {
                    &mut waiting[table].bytes
                };
                let staged = targets[table].staging.is_some().then_some(position);
                if let Err(e) = write_tuple(out, row, staged) {
                    let def = targets[table].def;
                    return Err(Error::InvalidValue {
                        row: position,
                        table: targets[table].name.clone(),
                        column: def.columns.get(e.column).map_or("?", |c| c.name).to_owned(),
                        reason: e.error.reason().to_owned(),
                        value: e.error.value().map(str::to_owned),
                    });
                }
                if table == current {
                    lines.push(position);
                } else {
                    waiting[table].push(position);
                }
                targets[table].rows += 1;
                position += 1;
                if table == current {
                    if buf.len() >= CHUNK {
                        if let Err(e) = copy.write_all(&buf) {
                            return Err(targets[current].copy_failed(copy, e, &lines));
                        }
                        buf.clear();
                    }
                    if lines.runs.len() >= MAX_RUNS {
                        next = Some(current);
                        break;
                    }
                } else if waiting[table].bytes.len() >= WAITING_CHUNK {
                    next = Some(table);
                    break;
                }
                if position.is_multiple_of(PROGRESS_CHECK_ROWS) && self.on_progress.is_some() {
                    let now = Instant::now();
                    if now - last_progress >= self.progress_interval {
                        last_progress = now;
                        self.progress(position, started, Phase::Loading);
                    }
                }
            }
            buf.extend_from_slice(COPY_TRAILER);
            let target = &targets[current];
            if let Err(e) = copy.write_all(&buf) {
                return Err(target.copy_failed(copy, e, &lines));
            }
            if let Err(e) = copy.finish() {
                return Err(target.rejected(e, &lines));
            }
            current = match next {
                Some(table) => table,
                // The input is exhausted: what still waits gets a COPY each.
                None => match waiting.iter().position(|w| !w.runs.is_empty()) {
                    Some(table) => table,
                    None => break,
                },
            };
        }
        for target in targets.iter() {
            log::info!("{}: {} rows loaded", target.name, target.rows);
        }
        Ok(position)
    }

    fn progress(&mut self, rows: u64, started: Instant, phase: Phase) {
        if let Some(f) = self.on_progress.as_mut() {
            f(&Progress {
                rows,
                elapsed: started.elapsed(),
                phase,
            });
        }
    }
}

/// Encoded rows of one table, with their input positions as runs.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    /// `(first position, count)` of consecutive input positions.
    runs: Vec<(u64, u64)>,
}

impl Batch {
    fn push(&mut self, position: u64) {
        match self.runs.last_mut() {
            Some((first, count)) if *first + *count == position => *count += 1,
            _ => self.runs.push((position, 1)),
        }
    }

    /// The input position of the row on 1-based COPY `line`.
    fn position(&self, line: u64) -> Option<u64> {
        let mut skipped = 0;
        for &(first, count) in &self.runs {
            if line <= skipped + count {
                return Some(first + (line - skipped - 1));
            }
            skipped += count;
        }
        None
    }
}

/// Name of the input-position column of staging tables (`_` is appended while
/// a column of the table has the name).
const STAGING_POSITION: &str = "pg_bulk_ingest_position";

/// One table of a call: where its rows go and what finishes it.
struct Target {
    def: &'static TableDef,
    name: String,
    plan: Plan,
    /// Where the COPY goes (quoted): the table itself, an intermediate table
    /// or a staging table.
    copy_into: String,
    /// The same, unqualified and unquoted, as COPY errors name it.
    copy_relname: String,
    staging: Option<String>,
    /// Name of the staging table's input-position column (one no column of
    /// the table has).
    position_column: String,
    /// Whether the COPY may use FREEZE: the table is new in this savepoint,
    /// and the transaction has no open cursor or older snapshot.
    freeze: bool,
    /// Rows copied from the live table into a rebuilt one before the load.
    preloaded: u64,
    rows: u64,
    written: u64,
}

impl Target {
    fn prepare(
        sp: &mut Transaction<'_>,
        def: &'static TableDef,
        mode: Mode,
        options: PlanOptions,
        upsert: Option<UpsertInput>,
    ) -> Result<Target> {
        let name = def.name().to_string();
        let pg = |source| Error::server(name.clone(), source);
        // Serialise calls on the same table: a second one waits here until the
        // first one's transaction ends.
        sp.execute(
            "SELECT pg_catalog.pg_advisory_xact_lock($1, pg_catalog.hashtext($2))",
            &[&ADVISORY_LOCK_SPACE, &name],
        )
        .map_err(pg)?;
        let plan = plan_table(sp, def, mode, options, upsert)?;
        log::info!(
            "{name}: {}",
            plan.to_string().lines().next().unwrap_or_default()
        );
        for sql in plan.before_load() {
            log::debug!("{sql}");
            sp.batch_execute(&sql).map_err(pg)?;
        }
        let mut preloaded = 0;
        // An upsert by rebuild copies the live rows after the load.
        if let (Some(lock), Some(copy), false) = (
            plan.lock_for_copy(),
            plan.copy_rows(),
            plan.upserts_by_rebuild(),
        ) {
            // Writers wait from here until the caller commits, so that none of
            // their rows is left behind in the old table; readers go on.
            log::info!("{name}: copying the rows into the new table");
            log::debug!("{lock}; {copy}");
            sp.batch_execute(&lock).map_err(pg)?;
            preloaded = sp.execute(&copy, &[]).map_err(pg)?;
            if mode == Mode::Upsert {
                // The merge needs the key.
                for sql in plan.keys() {
                    sp.batch_execute(&sql).map_err(pg)?;
                }
            }
        }
        if mode == Mode::Insert && matches!(plan.action, Action::Nothing { .. }) {
            // The lock the COPY takes, taken first by a plain statement: a lock
            // timeout (or missing privilege) is then an ordinary error, where at
            // the start of a COPY it would leave the connection unusable.
            sp.batch_execute(&format!("LOCK TABLE {name} IN ROW EXCLUSIVE MODE"))
                .map_err(pg)?;
        }
        let mut position_column = STAGING_POSITION.to_owned();
        while def.column(&position_column).is_some() {
            position_column.push('_');
        }
        // In place, the rows wait in a staging table until the table is altered.
        let stage = (mode == Mode::Upsert && !plan.upserts_by_rebuild())
            || matches!(plan.action, Action::InPlace { .. });
        let (copy_into, copy_relname, staging) = match stage {
            false => (
                QualifiedName::new(def.schema, plan.load_into()).to_string(),
                plan.load_into().to_owned(),
                None,
            ),
            true => {
                let relname = limited(&format!("pg_bulk_ingest_staging_{}", def.table), "");
                let qualified = format!("pg_temp.{}", Ident(&relname));
                let mut sql = format!(
                    "CREATE TEMPORARY TABLE {qualified} ({} bigint",
                    Ident(&position_column)
                );
                for column in def.columns {
                    sql.push_str(&format!(", {} {}", Ident(column.name), column.sql_type));
                }
                sql.push_str(") ON COMMIT DROP");
                log::debug!("{sql}");
                sp.batch_execute(&sql).map_err(pg)?;
                (qualified.clone(), relname, Some(qualified))
            }
        };
        // PostgreSQL refuses COPY FREEZE in a transaction with open cursors or
        // (in REPEATABLE READ and SERIALIZABLE) an older snapshot. The unnamed
        // portal of the query asking is listed among the cursors too.
        let freeze = plan.creates_table()
            && staging.is_none()
            && sp
                .query_one(
                    "SELECT pg_catalog.current_setting('transaction_isolation') = 'read committed' \
                     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_cursors WHERE name <> '')",
                    &[],
                )
                .map_err(pg)?
                .get::<_, bool>(0);
        Ok(Target {
            def,
            name,
            plan,
            copy_into,
            copy_relname,
            staging,
            position_column,
            freeze,
            preloaded,
            rows: 0,
            written: 0,
        })
    }

    fn start_copy<'a>(&self, sp: &'a mut Transaction<'_>) -> Result<CopyInWriter<'a>> {
        let position = if self.staging.is_some() {
            format!("{}, ", Ident(&self.position_column))
        } else {
            String::new()
        };
        // A table created in this savepoint can be loaded frozen: no later
        // VACUUM has to visit every page to freeze it.
        let freeze = if self.freeze { ", FREEZE" } else { "" };
        let sql = format!(
            "COPY {} ({position}{}) FROM STDIN (FORMAT binary{freeze})",
            self.copy_into,
            IdentList(self.def.columns.iter().map(|c| c.name)),
        );
        log::debug!("{sql}");
        sp.copy_in(&sql)
            .map_err(|e| self.rejected(e, &Batch::default()))
    }

    /// The COPY failed while sending: the server's reason comes with `finish`.
    fn copy_failed(&self, copy: CopyInWriter<'_>, e: std::io::Error, lines: &Batch) -> Error {
        let sent = e
            .into_inner()
            .and_then(|inner| inner.downcast::<postgres::Error>().ok());
        match (copy.finish(), sent) {
            (Err(e), _) if e.as_db_error().is_some() => self.rejected(e, lines),
            (_, Some(e)) => self.rejected(*e, lines),
            (Err(e), None) => self.rejected(e, lines),
            (Ok(_), None) => unreachable!("a COPY whose write failed cannot finish"),
        }
    }

    /// Maps a server error during the COPY to the row and column it names.
    fn rejected(&self, source: postgres::Error, lines: &Batch) -> Error {
        if source.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
            return Error::LockTimeout {
                table: self.name.clone(),
                source,
            };
        }
        let Some((line, rest)) = source
            .as_db_error()
            .and_then(|db| copy_line(db.where_()?, &self.copy_relname))
        else {
            return Error::server(self.name.clone(), source);
        };
        let column = source
            .as_db_error()
            .and_then(|db| db.column())
            .or_else(|| copy_column(rest, self.def))
            .map(str::to_owned);
        Error::RowRejected {
            row: lines.position(line),
            table: self.name.clone(),
            column,
            source,
        }
    }

    fn finish(&mut self, sp: &mut Transaction<'_>, mode: Mode, single_table: bool) -> Result<()> {
        if self.plan.upserts_by_rebuild() {
            return self.finish_upsert_by_rebuild(sp);
        }
        let rebuilt = self.plan.copies_rows();
        match (&self.plan.action, mode) {
            // In place: merged after the table is altered, at the end.
            (Action::InPlace { .. }, _) => return Ok(()),
            (_, Mode::Upsert) => {
                // Into a table this call created empty, the de-duplicated rows
                // go in as they are and the key is built after them.
                let fresh = self.plan.creates_table() && !rebuilt;
                self.merge(sp, !fresh)?;
                if !fresh {
                    return self.run_steps(sp, self.plan.indexes_and_carry(), single_table);
                }
            }
            _ => self.written = self.rows,
        }
        let mut steps = self.plan.keys();
        steps.extend(self.plan.indexes_and_carry());
        self.run_steps(sp, steps, single_table)
    }

    /// An upsert by rebuild, once the rows are loaded into the new table: the
    /// live rows whose key they don't hold are copied after them, then the
    /// key is built; a key that repeats in the load keeps its last row.
    fn finish_upsert_by_rebuild(&mut self, sp: &mut Transaction<'_>) -> Result<()> {
        let pg = |source| Error::server(self.name.clone(), source);
        let (Some(lock), Some(copy)) = (self.plan.lock_for_copy(), self.plan.copy_rows()) else {
            unreachable!("an upsert by rebuild copies the live rows");
        };
        // Writers wait from here until the caller commits, so that none of
        // their rows is left behind in the old table; readers go on.
        log::info!(
            "{}: copying the live rows the batch doesn't hold",
            self.name
        );
        log::debug!("{lock}; {copy}");
        sp.batch_execute(&lock).map_err(pg)?;
        self.preloaded = sp.execute(&copy, &[]).map_err(pg)?;
        self.written = self.rows;
        // The live rows are unique in the key (the live table has the same
        // one) and none shares a key with a loaded row, so a duplicate is
        // always a key the input repeats.
        for sql in self.plan.keys() {
            log::debug!("{sql}");
            let mut attempt = sp.transaction().map_err(pg)?;
            match attempt.batch_execute(&sql) {
                Ok(()) => attempt.commit().map_err(pg)?,
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    drop(attempt);
                    log::info!(
                        "{}: keys repeat in the batch: the last row of each wins",
                        self.name
                    );
                    let dedupe = self.plan.dedupe_loaded().expect("a key");
                    log::debug!("{dedupe}");
                    let removed = sp.execute(&dedupe, &[]).map_err(pg)?;
                    // One loaded row per key stays, so fewer than all go.
                    if removed >= self.rows {
                        return Err(Error::Unsupported {
                            table: self.name.clone(),
                            what: "a rebuild whose de-duplication would remove every loaded row",
                        });
                    }
                    self.written -= removed;
                    log::debug!("{sql}");
                    sp.batch_execute(&sql).map_err(pg)?;
                }
                Err(e) => return Err(pg(e)),
            }
        }
        // Grants and comments take no lock on the table: read them again.
        let live = self.plan.live.as_ref().expect("a live table").oid;
        let carried = catalog::read_carried(sp, live).map_err(pg)?;
        self.plan.set_carried(carried);
        self.run_steps(sp, self.plan.indexes_and_carry(), false)
    }

    /// Merges the staging table into the table loaded (`INSERT ... SELECT`,
    /// `ON CONFLICT DO UPDATE` when `on_conflict`), then drops it.
    fn merge(&mut self, sp: &mut Transaction<'_>, on_conflict: bool) -> Result<()> {
        let staging = self.staging.as_deref().expect("merging stages");
        let into = QualifiedName::new(self.def.schema, self.plan.load_into()).to_string();
        let pg = |e| Error::server(self.name.clone(), e);
        log::info!("{}: merging {} staged rows", self.name, self.rows);
        // Most batches have no key twice: merge them as they are, without
        // sorting, in a savepoint. A key twice makes `ON CONFLICT DO UPDATE`
        // fail ("cannot affect row a second time"); then the merge runs again
        // keeping the last row of each key.
        let fast = merge_sql(
            self.def,
            &into,
            staging,
            &self.position_column,
            on_conflict,
            false,
        );
        if on_conflict {
            log::debug!("{fast}");
            let mut attempt = sp.transaction().map_err(pg)?;
            match attempt.execute(&fast, &[]) {
                Ok(written) => {
                    attempt.commit().map_err(pg)?;
                    self.written = written;
                    return sp
                        .batch_execute(&format!("DROP TABLE {staging}"))
                        .map_err(pg);
                }
                Err(e) if e.code() == Some(&SqlState::CARDINALITY_VIOLATION) => {
                    log::info!(
                        "{}: keys repeat in the batch: the last row of each wins",
                        self.name
                    );
                }
                Err(e) => return Err(pg(e)),
            }
        }
        let sql = merge_sql(
            self.def,
            &into,
            staging,
            &self.position_column,
            on_conflict,
            true,
        );
        log::debug!("{sql}");
        self.written = sp.execute(&sql, &[]).map_err(pg)?;
        sp.batch_execute(&format!("DROP TABLE {staging}"))
            .map_err(|e| Error::server(self.name.clone(), e))
    }

    /// `insert` in place: the staged rows go in as they are, in input order.
    fn append_staged(&mut self, sp: &mut Transaction<'_>) -> Result<()> {
        let staging = self.staging.as_deref().expect("in place stages");
        let columns = IdentList(self.def.columns.iter().map(|c| c.name));
        let sql = format!(
            "INSERT INTO {} ({columns}) SELECT {columns} FROM {staging} ORDER BY {}",
            self.def.name(),
            Ident(&self.position_column)
        );
        log::debug!("{sql}");
        self.written = sp
            .execute(&sql, &[])
            .map_err(|e| Error::server(self.name.clone(), e))?;
        sp.batch_execute(&format!("DROP TABLE {staging}"))
            .map_err(|e| Error::server(self.name.clone(), e))
    }

    /// Runs `steps`, each in a savepoint, so that a key violation can be
    /// explained from the loaded rows before the call's savepoint goes.
    fn run_steps(
        &self,
        sp: &mut Transaction<'_>,
        steps: Vec<String>,
        single_table: bool,
    ) -> Result<()> {
        let pg = |source| Error::server(self.name.clone(), source);
        for sql in steps {
            log::debug!("{sql}");
            let mut step = sp.transaction().map_err(pg)?;
            match step.batch_execute(&sql) {
                Ok(()) => step.commit().map_err(pg)?,
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    drop(step);
                    let row = if single_table && self.staging.is_none() {
                        self.first_duplicate(sp).unwrap_or(None)
                    } else {
                        None
                    };
                    return Err(Error::RowRejected {
                        row,
                        table: self.name.clone(),
                        column: None,
                        source: e,
                    });
                }
                Err(e) => return Err(pg(e)),
            }
        }
        Ok(())
    }

    /// In a table this call created and loaded, the position of the first row
    /// whose key an earlier row already had: rows of a new table are stored in
    /// the order they were loaded, so `ctid` order is input order.
    fn first_duplicate(&self, sp: &mut Transaction<'_>) -> Result<Option<u64>, postgres::Error> {
        let key = IdentList(self.def.primary_key.iter().copied());
        let row = sp.query_one(
            &format!(
                "SELECT min(n) FROM (SELECT row_number() OVER (ORDER BY ctid) - 1 AS n, \
                 row_number() OVER (PARTITION BY {key} ORDER BY ctid) AS occurrence \
                 FROM {}) AS rows WHERE occurrence = 2",
                self.copy_into
            ),
            &[],
        )?;
        // Rows copied from the old table come first.
        Ok(row
            .get::<_, Option<i64>>(0)
            .and_then(|n| (n as u64).checked_sub(self.preloaded)))
    }

    fn swap(&mut self, sp: &mut Transaction<'_>, policy: &LockPolicy, mode: Mode) -> Result<()> {
        if !self.plan.needs_exclusive_lock() {
            return Ok(());
        }
        log::info!(
            "{}: taking the lock to swap the new table in or alter it",
            self.name
        );
        let started = Instant::now();
        lock_exclusive(sp, &self.name, &self.plan.drop_views(), policy)?;
        for sql in self.plan.alterations().iter().chain(&self.plan.swap()) {
            log::debug!("{sql}");
            sp.batch_execute(sql)
                .map_err(|source| Error::server(self.name.clone(), source))?;
        }
        if matches!(self.plan.action, Action::InPlace { .. }) {
            // The staged rows go in now, under the lock.
            if mode == Mode::Upsert {
                self.merge(sp, true)?;
            } else {
                self.append_staged(sp)?;
            }
        }
        log::info!(
            "{}: swapped in after {:.3} s",
            self.name,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    fn report(self) -> TableReport {
        TableReport {
            created: matches!(self.plan.action, Action::Create { .. }),
            table: self.name,
            rows: self.rows,
            written: self.written,
        }
    }
}

/// Reads the catalog (and what planning needs of the data) and plans the call
/// for one table.
fn plan_table(
    sp: &mut Transaction<'_>,
    def: &'static TableDef,
    mode: Mode,
    options: PlanOptions,
    upsert: Option<UpsertInput>,
) -> Result<Plan> {
    let name = def.name().to_string();
    let pg = |source| Error::server(name.clone(), source);
    let schema_exists = catalog::schema_exists(sp, def.schema).map_err(pg)?;
    let live = catalog::read_table(sp, def.schema, def.table).map_err(pg)?;
    let mut plan = match &live {
        Relation::Table(table) if mode == Mode::Replace => {
            let carried = catalog::read_carried(sp, table.oid).map_err(pg)?;
            let intermediate = free_name(sp, def).map_err(pg)?;
            Plan::replace(def, table, intermediate, carried)
        }
        Relation::Table(table) => {
            let facts = catalog::read_facts(sp, def, table).map_err(pg)?;
            let rebuild = if crate::plan::changes(def, table, &facts).is_empty() {
                (String::new(), Carried::default())
            } else {
                let carried = catalog::read_carried(sp, table.oid).map_err(pg)?;
                (free_name(sp, def).map_err(pg)?, carried)
            };
            Plan::new(def, true, &live, &facts, options, || rebuild).map_err(|refusals| {
                Error::Refused {
                    table: name.clone(),
                    refusals,
                }
            })?
        }
        _ => Plan::new(
            def,
            schema_exists,
            &live,
            &Default::default(),
            options,
            Default::default,
        )
        .map_err(|refusals| Error::Refused {
            table: name.clone(),
            refusals,
        })?,
    };
    let Relation::Table(table) = &live else {
        return Ok(plan);
    };
    if let Some(upsert) = upsert {
        plan = plan_upsert(sp, def, table, plan, options, upsert)?;
    }
    if plan.copies_rows() && !read_committed(sp).map_err(pg)? {
        // The live rows are read with the transaction's snapshot: rows other
        // sessions commit after it and before the lock would be left behind
        // in the old table, and dropped with it.
        return Err(Error::Unsupported {
            table: name,
            what: "rebuilding the table (copying its rows into a new one) in a REPEATABLE READ \
                   or SERIALIZABLE transaction, where rows other sessions commit after the \
                   transaction's snapshot would be lost; run the call in READ COMMITTED",
        });
    }
    if plan.swap().is_empty() {
        return Ok(plan);
    }
    // A swap drops the old table: whatever depends on it, and settings the
    // new one isn't given, would go too.
    let mut dependents = blocking_dependents(sp, def, table)?;
    dependents.extend(
        catalog::read_size_and_settings(sp, table.oid)
            .map_err(pg)?
            .uncarried,
    );
    if !dependents.is_empty() {
        return Err(Error::Dependents {
            table: name,
            dependents,
        });
    }
    Ok(plan)
}

/// Decides how an upsert brings the rows into the live table `table`: a
/// rebuild for a migration always copies the live rows after the load; a
/// table that matches is rebuilt as [`UpsertStrategy`] says.
fn plan_upsert(
    sp: &mut Transaction<'_>,
    def: &'static TableDef,
    table: &crate::catalog::LiveTable,
    plan: Plan,
    options: PlanOptions,
    upsert: UpsertInput,
) -> Result<Plan> {
    let name = def.name().to_string();
    let pg = |source| Error::server(name.clone(), source);
    let lock = format!("LOCK TABLE {name} IN EXCLUSIVE MODE");
    if !matches!(plan.action, Action::Nothing { .. }) {
        if upsert.strategy == UpsertStrategy::Merge || !plan.copies_rows() {
            // Merged into the rebuilt table (or in place, or replaced).
            return Ok(plan);
        }
        let plan = plan.upsert_by_rebuild(|| unreachable!("not a matching table"));
        if plan.upserts_by_rebuild() {
            // Writers wait from here until the caller commits: no row of
            // theirs, and no change to the table, is left behind.
            sp.batch_execute(&lock).map_err(pg)?;
        }
        return Ok(plan);
    }
    let wanted = match upsert.strategy {
        UpsertStrategy::Merge => false,
        UpsertStrategy::Rebuild => true,
        UpsertStrategy::Auto => {
            upsert.single_table && !options.in_place && read_committed(sp).map_err(pg)?
        }
    };
    if !wanted {
        return Ok(plan);
    }
    if upsert.strategy == UpsertStrategy::Auto {
        if let Some(reason) = auto_keeps_merging(sp, def, table, upsert)? {
            log::debug!("{name}: merging: {reason}");
            return Ok(plan);
        }
        // Only a lock that can be had soon: a writer in the middle of a
        // transaction means merging, which doesn't wait for it. The wait is
        // longer than `deadlock_timeout` (1 s by default), after which an
        // autovacuum in the way is cancelled.
        let old = set_lock_timeout(sp, AUTO_LOCK_WAIT).map_err(pg)?;
        let mut attempt = sp.transaction().map_err(pg)?;
        let locked = match attempt.batch_execute(&lock) {
            Ok(()) => {
                attempt.commit().map_err(pg)?;
                true
            }
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                drop(attempt);
                false
            }
            Err(e) => return Err(pg(e)),
        };
        restore(sp, &old).map_err(pg)?;
        if !locked {
            log::debug!("{name}: merging: another session holds a conflicting lock");
            return Ok(plan);
        }
    } else {
        sp.batch_execute(&lock).map_err(pg)?;
    }
    // Under the lock: what the new table carries can't change any more,
    // except grants and comments, which are read again before the swap.
    // With `Rebuild`, what can't be carried fails the call in `plan_table`.
    let carried = catalog::read_carried(sp, table.oid).map_err(pg)?;
    let intermediate = free_name(sp, def).map_err(pg)?;
    Ok(plan.upsert_by_rebuild(|| (intermediate, carried)))
}

/// Why [`UpsertStrategy::Auto`] merges rather than rebuilds the live table
/// `table`, if it does: the batch is not large against the table, or a
/// rebuild would not give the same table back (something it can't carry,
/// dependent views, another column order), or the role could not make the
/// new table, or the transaction has open cursors.
fn auto_keeps_merging(
    sp: &mut Transaction<'_>,
    def: &'static TableDef,
    table: &crate::catalog::LiveTable,
    upsert: UpsertInput,
) -> Result<Option<String>> {
    let pg = |source| Error::server(def.name().to_string(), source);
    if upsert.rows_hint < AUTO_REBUILD_MIN_ROWS {
        return Ok(Some(format!("{} rows expected", upsert.rows_hint)));
    }
    let facts = catalog::read_size_and_settings(sp, table.oid).map_err(pg)?;
    match facts.estimated_rows {
        Some(estimate) if upsert.rows_hint as f64 >= estimate * AUTO_REBUILD_SHARE => {}
        estimate => {
            return Ok(Some(format!(
                "{} rows expected, about {estimate:?} in the table",
                upsert.rows_hint
            )))
        }
    }
    if !facts.uncarried.is_empty() {
        return Ok(Some(format!("not carried: {:?}", facts.uncarried)));
    }
    let dependents = blocking_dependents(sp, def, table)?;
    if !dependents.is_empty() {
        return Ok(Some(format!("not carried: {dependents:?}")));
    }
    let same_order = table
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .eq(def.columns.iter().map(|c| c.name));
    if !same_order {
        return Ok(Some("the table's columns are in another order".into()));
    }
    let row = sp
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                 JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid \
                 WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass \
                   AND d.refobjid = c.oid AND r.ev_class <> c.oid), \
                    pg_catalog.pg_has_role(c.relowner, 'MEMBER') \
                    AND pg_catalog.has_schema_privilege(c.relnamespace, 'CREATE'), \
                    EXISTS (SELECT 1 FROM pg_catalog.pg_cursors WHERE name <> '') \
             FROM pg_catalog.pg_class c WHERE c.oid = $1",
            &[&table.oid],
        )
        .map_err(pg)?;
    let (views, may_create, cursors): (bool, bool, bool) = (row.get(0), row.get(1), row.get(2));
    Ok(if views {
        Some("views depend on the table".into())
    } else if !may_create {
        Some("the role can't make the new table as the owner's".into())
    } else if cursors {
        Some("the transaction has open cursors".into())
    } else {
        None
    })
}

/// Whether the transaction is READ COMMITTED, where each statement sees what
/// was committed before it started.
fn read_committed(sp: &mut Transaction<'_>) -> Result<bool, postgres::Error> {
    Ok(sp
        .query_one(
            "SELECT pg_catalog.current_setting('transaction_isolation') = 'read committed'",
            &[],
        )?
        .get(0))
}

/// What hangs off the live table `table` that a swap would drop and can't
/// make again, described. Indexes the definition declares or the library made
/// are rebuilt (or dropped on purpose) and views are made again; anything else
/// would be lost.
fn blocking_dependents(
    sp: &mut Transaction<'_>,
    def: &TableDef,
    table: &crate::catalog::LiveTable,
) -> Result<Vec<String>> {
    let dependents = catalog::read_dependents(sp, table.oid)
        .map_err(|source| Error::server(def.name().to_string(), source))?;
    let declared = |i: &crate::catalog::LiveIndex| {
        def.indexes.iter().any(|d| {
            i.plain
                && i.unique == d.unique
                && i.method == d.method
                && i.columns
                    .iter()
                    .map(String::as_str)
                    .eq(d.columns.iter().copied())
        })
    };
    let own_indexes: Vec<&str> = table
        .indexes
        .iter()
        .filter(|i| i.ours || declared(i))
        .map(|i| i.name.as_str())
        .collect();
    Ok(dependents
        .into_iter()
        .filter(|d| !d.view && !d.index.as_deref().is_some_and(|i| own_indexes.contains(&i)))
        .map(|d| d.description)
        .collect())
}

/// A name for the intermediate table of `replace`, free in the table's schema.
fn free_name(sp: &mut Transaction<'_>, def: &TableDef) -> Result<String, postgres::Error> {
    for n in 0u32.. {
        let suffix = if n == 0 {
            "_pgbi_new".to_owned()
        } else {
            format!("_pgbi_new{n}")
        };
        let name = limited(def.table, &suffix);
        // The key's index is named after the table too.
        if !catalog::relation_exists(sp, def.schema, &name)?
            && !catalog::relation_exists(sp, def.schema, &crate::plan::primary_key_name(&name))?
        {
            return Ok(name);
        }
    }
    unreachable!("some suffix is free")
}

/// `INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE`: the last row of each
/// key in input order wins; rows in key order; rows whose stored values are
/// already the same, byte for byte (`*<>` on records, which compares binary
/// images: `1.0` → `1.00` or `0` → `-0` is a change), are not rewritten. (The
/// `::record` casts keep PostgreSQL from comparing the rows column by column,
/// where `*<>` does not exist.) Without `on_conflict`, for an empty table without its key yet,
/// only the de-duplication.
fn merge_sql(
    def: &TableDef,
    into: &str,
    staging: &str,
    position: &str,
    on_conflict: bool,
    dedupe: bool,
) -> String {
    let columns = IdentList(def.columns.iter().map(|c| c.name));
    let key = IdentList(def.primary_key.iter().copied());
    let others: Vec<&str> = def
        .columns
        .iter()
        .map(|c| c.name)
        .filter(|c| !def.primary_key.contains(c))
        .collect();
    let mut sql = if dedupe {
        format!(
            "INSERT INTO {into} AS t ({columns}) \
             SELECT {columns} FROM (\
             SELECT DISTINCT ON ({key}) * FROM {staging} ORDER BY {key}, {pos} DESC\
             ) AS s",
            pos = Ident(position),
        )
    } else {
        format!("INSERT INTO {into} AS t ({columns}) SELECT {columns} FROM {staging} AS s")
    };
    if !on_conflict {
        return sql;
    }
    sql.push_str(&format!(" ON CONFLICT ({key}) "));
    if others.is_empty() {
        sql.push_str("DO NOTHING");
        return sql;
    }
    sql.push_str("DO UPDATE SET ");
    for (i, c) in others.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("{0} = EXCLUDED.{0}", Ident(c)));
    }
    let prefixed = |prefix: &str| {
        others
            .iter()
            .map(|c| format!("{prefix}.{}", Ident(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    sql.push_str(&format!(
        " WHERE ROW({})::record *<> ROW({})::record",
        prefixed("t"),
        prefixed("EXCLUDED")
    ));
    sql
}

/// `SET LOCAL lock_timeout`, returning the previous value to restore.
fn set_lock_timeout(
    sp: &mut Transaction<'_>,
    timeout: Duration,
) -> Result<String, postgres::Error> {
    let old: String = sp
        .query_one("SELECT pg_catalog.current_setting('lock_timeout')", &[])?
        .get(0);
    sp.batch_execute(&format!(
        "SET LOCAL lock_timeout = {}",
        Literal(&format!("{}ms", timeout.as_millis().max(1)))
    ))?;
    Ok(old)
}

fn restore(sp: &mut Transaction<'_>, old: &str) -> Result<(), postgres::Error> {
    sp.execute(
        "SELECT pg_catalog.set_config('lock_timeout', $1, true)",
        &[&old],
    )?;
    Ok(())
}

/// From a COPY error's context (`COPY orders, line 7, column amount: "…"`), the
/// 1-based line and the text after `line N`. `relname` is the table's name as
/// the context gives it (it may itself hold ", line ").
fn copy_line<'c>(context: &'c str, relname: &str) -> Option<(u64, &'c str)> {
    // The context may hold several lines; the COPY one starts with "COPY ".
    let prefix = format!("COPY {relname}, line ");
    let line = context.lines().find(|l| l.starts_with(&prefix))?;
    let rest = &line[prefix.len()..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    Some((rest[..digits].parse().ok()?, &rest[digits..]))
}

/// The column named after `line N` (`, column amount: …`), matched against
/// the table's columns (names may hold any character).
fn copy_column(rest: &str, def: &TableDef) -> Option<&'static str> {
    let named = rest.strip_prefix(", column ")?;
    def.columns
        .iter()
        .map(|c| c.name)
        .filter(|name| {
            named.starts_with(name)
                && matches!(named[name.len()..].chars().next(), None | Some(':'))
        })
        .max_by_key(|name| name.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::ColumnDef;
    use crate::types::{SqlType, TypeKind};

    static DEF: TableDef = TableDef::new(
        "s",
        "t",
        &[
            ColumnDef::new("id", SqlType::new(TypeKind::Int8), false),
            ColumnDef::new("a", SqlType::new(TypeKind::Text), false),
            ColumnDef::new("a: b", SqlType::new(TypeKind::Text), true),
        ],
        &["id"],
    );

    #[test]
    fn parses_copy_context() {
        let (line, rest) = copy_line("COPY t, line 7, column a: \"x\"", "t").unwrap();
        assert_eq!(line, 7);
        assert_eq!(copy_column(rest, &DEF), Some("a"));
        let (_, rest) = copy_line("COPY t, line 3, column a: b: \"x\"", "t").unwrap();
        assert_eq!(copy_column(rest, &DEF), Some("a: b"));
        let (line, rest) = copy_line("some function\nCOPY t, line 12", "t").unwrap();
        assert_eq!((line, copy_column(rest, &DEF)), (12, None));
        assert!(copy_line("SQL statement", "t").is_none());
        // A table name holding ", line ".
        let (line, _) = copy_line("COPY ledger, line 7, line 3", "ledger, line 7").unwrap();
        assert_eq!(line, 3);
    }

    #[test]
    fn merge_keeps_last_row_and_skips_unchanged() {
        assert_eq!(
            merge_sql(&DEF, "\"s\".\"t\"", "pg_temp.\"st\"", STAGING_POSITION, true, true),
            "INSERT INTO \"s\".\"t\" AS t (\"id\", \"a\", \"a: b\") SELECT \"id\", \"a\", \"a: b\" FROM (\
             SELECT DISTINCT ON (\"id\") * FROM pg_temp.\"st\" ORDER BY \"id\", \"pg_bulk_ingest_position\" DESC\
             ) AS s ON CONFLICT (\"id\") DO UPDATE SET \"a\" = EXCLUDED.\"a\", \"a: b\" = EXCLUDED.\"a: b\" \
             WHERE ROW(t.\"a\", t.\"a: b\")::record *<> ROW(EXCLUDED.\"a\", EXCLUDED.\"a: b\")::record"
        );
        // Into a table created by the call: de-duplicate only.
        assert!(merge_sql(
            &DEF,
            "\"s\".\"t\"",
            "pg_temp.\"st\"",
            STAGING_POSITION,
            false,
            true
        )
        .ends_with("DESC) AS s"));
        // The first try: no sort.
        assert!(
            merge_sql(&DEF, "\"s\".\"t\"", "pg_temp.\"st\"", STAGING_POSITION, true, false)
                .starts_with("INSERT INTO \"s\".\"t\" AS t (\"id\", \"a\", \"a: b\") SELECT \"id\", \"a\", \"a: b\" FROM pg_temp.\"st\" AS s ON CONFLICT")
        );
    }
}
