//! Ingest: the public options of a call and its orchestration. A call runs in
//! a savepoint of the caller's transaction: for each table, the prelude (its
//! advisory lock, missing enum types), then [`gather`] (every catalog read),
//! then [`decide`](crate::plan::decide()) (pure), then the plan's steps by
//! stage, every table's [`Stage::Prepare`] steps, the [`load`] of all rows,
//! every table's [`Stage::Finish`] steps, and last every table's
//! [`Stage::Swap`] steps, by the [`execute`] module.

use std::time::{Duration, Instant};

use postgres::Transaction;

use crate::conflict::{ConflictKey, Duplicates, OnConflict};
use crate::error::{Error, OnTable, Result};
use crate::lock::{self, LockPolicy};
use crate::plan::{Input, Mode, Options, Plan, Stage, Step};
use crate::row::{AsRow, BulkRows, BulkTable, HasUniqueKey};
use crate::sync::{Delete, Mirror, Slice, Value};
use crate::table::TableDef;

mod append;
mod batches;
mod compare;
mod execute;
mod gather;
mod hook;
mod key_order;
mod load;
mod partitions;
mod planning;
mod report;

use execute::{Outcome, Table};
use planning::{check_options, plan_table};

pub use crate::plan::decide::UpsertStrategy;
pub use batches::{Batch, HighWatermark, Visible};
use batches::{BeforeVisibleFn, Position};
pub use hook::NewTable;
pub use partitions::create_partitions;
pub use report::{Phase, Progress, Report, TableReport};

/// How often a plan may be made again because the table changed between its
/// catalog reads and the lock that freezes its definition.
const REPLANS: usize = 3;

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
///
/// `M` is the type of the batches' metadata that the
/// [`on_before_visible`](Ingest::on_before_visible) callback is given, for
/// the batch calls ([`upsert_batches`](Ingest::upsert_batches), ...); `()`
/// without a callback.
pub struct Ingest<'p, M = ()> {
    on_progress: Option<ProgressFn<'p>>,
    progress_interval: Duration,
    lock_timeout: Option<Duration>,
    terminate_blockers_after: Duration,
    force_connection: Option<postgres::Config>,
    options: Options,
    high_watermark: Option<String>,
    on_before_visible: Option<BeforeVisibleFn<'p, M>>,
    on_new_table: Option<Box<hook::NewTableHook<'p>>>,
    position: Position,
    /// A mirror's guard, in parts per million (`None`: off).
    mirror_guard: Option<u32>,
    /// A slice replace's values.
    slice_values: Vec<Value>,
}

type ProgressFn<'p> = Box<dyn FnMut(&Progress) + 'p>;

/// A mirror's guard by default: half the table, in parts per million.
const DEFAULT_MIRROR_GUARD_PPM: u32 = 500_000;

/// The longest one attempt at the swap lock waits by default.
const DEFAULT_SWAP_ATTEMPT: Duration = Duration::from_secs(1);

impl Default for Ingest<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl Ingest<'_> {
    /// Default options: no progress callback, the session's own lock timeout.
    pub fn new() -> Self {
        Ingest {
            on_progress: None,
            progress_interval: Duration::from_secs(1),
            lock_timeout: None,
            terminate_blockers_after: Duration::from_secs(300),
            force_connection: None,
            options: Options::default(),
            high_watermark: None,
            on_before_visible: None,
            on_new_table: None,
            position: Position::default(),
            mirror_guard: Some(DEFAULT_MIRROR_GUARD_PPM),
            slice_values: Vec::new(),
        }
    }
}

impl<'p, M> Ingest<'p, M> {
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
        self.options.lock_timeout = Some(timeout);
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
    /// catalog-only always rebuild, and so do those PostgreSQL would make by
    /// rewriting the table after all (an added column whose default is
    /// volatile, such as `random()`; a wider element type of an array): each
    /// added default and changed type is first tried on a probe table, rolled
    /// back at once, and a rewrite there means a rebuild.
    pub fn in_place(mut self, on: bool) -> Self {
        self.options.in_place = on;
        self
    }

    /// Allows migrations that lose data: dropping a column that holds data,
    /// narrowing a type or changing it without an exact conversion. Without
    /// it such a call fails before doing anything, with [`Error::Refused`]
    /// listing what would be lost. With it, a value that doesn't convert still
    /// fails the call, and the table is left as it was.
    pub fn allow_data_loss(mut self, on: bool) -> Self {
        self.options.allow_data_loss = on;
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
        self.options.strategy = strategy;
        self
    }

    /// The unique key an [`upsert`](Ingest::upsert) of `T`'s table matches
    /// rows on, instead of its primary key: one of the functions
    /// `#[derive(BulkTable)]` generates for each declared unique index (see
    /// [`ConflictKey`]). A table without a primary key and with one unique
    /// index matches on that one by default. Call it once per table of a
    /// `BulkRows` stream.
    ///
    /// The update sets every other column the struct sends, the primary key
    /// included.
    ///
    /// ```no_run
    /// # use pg_bulk_ingest::{BulkTable, Ingest};
    /// #[derive(BulkTable)]
    /// #[bulk(schema = "crm", unique(tenant, email))]
    /// struct Contact { #[bulk(primary_key)] id: i64, tenant: i32, email: String, name: String }
    ///
    /// # fn run(tx: &mut postgres::Transaction<'_>, contacts: Vec<Contact>) -> pg_bulk_ingest::Result<()> {
    /// Ingest::new()
    ///     .conflict_key(Contact::unique_tenant_email())
    ///     .upsert(tx, &contacts)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A call fails with [`Error::Options`], before anything is sent, when
    /// `T`'s table is not one the call loads, or the key has a nullable
    /// column (rows with a NULL in a unique key never conflict).
    pub fn conflict_key<T: BulkTable>(mut self, key: ConflictKey<T>) -> Self {
        let choice = key.erase();
        self.options
            .keys
            .retain(|k| k.table.name() != choice.table.name());
        self.options.keys.push(choice);
        self
    }

    /// What an [`upsert`](Ingest::upsert) does with a row whose key is
    /// stored: update it (the default), skip it, or fail (see [`OnConflict`]).
    /// With [`OnConflict::Skip`] or [`OnConflict::Error`] the upsert always
    /// merges: [`UpsertStrategy::Auto`] never rebuilds, and
    /// [`UpsertStrategy::Rebuild`] fails the call with [`Error::Options`].
    ///
    /// ```no_run
    /// # use pg_bulk_ingest::{BulkTable, Ingest, OnConflict};
    /// # #[derive(BulkTable)] struct Event { #[bulk(primary_key)] id: i64, name: String }
    /// # fn run(tx: &mut postgres::Transaction<'_>, events: Vec<Event>) -> pg_bulk_ingest::Result<()> {
    /// // Insert-or-ignore: stored events are kept as they are.
    /// let report = Ingest::new().on_conflict(OnConflict::Skip).upsert(tx, &events)?;
    /// println!("{} new, {} already there", report.tables[0].inserted.unwrap_or(0), report.tables[0].skipped);
    /// # Ok(()) }
    /// ```
    pub fn on_conflict(mut self, on_conflict: OnConflict) -> Self {
        self.options.on_conflict = on_conflict;
        self
    }

    /// What the call does with rows of the batch that repeat a key (see
    /// [`Duplicates`] for each choice and its cost). Default:
    /// [`Duplicates::KeepLast`] for `upsert`,
    /// [`Duplicates::AssumeUnique`] for `insert` and `replace`.
    ///
    /// ```no_run
    /// # use pg_bulk_ingest::{BulkTable, Duplicates, Ingest};
    /// # #[derive(BulkTable)] struct Event { #[bulk(primary_key)] id: i64, name: String }
    /// # fn run(tx: &mut postgres::Transaction<'_>, events: Vec<Event>) -> pg_bulk_ingest::Result<()> {
    /// // A feed that sends corrections after the original: the first row wins.
    /// Ingest::new().duplicates(Duplicates::KeepFirst).insert(tx, &events)?;
    /// # Ok(()) }
    /// ```
    pub fn duplicates(mut self, duplicates: Duplicates) -> Self {
        self.options.duplicates = Some(duplicates);
        self
    }

    /// Makes the upsert a mirror: the batch is a full snapshot of the source,
    /// and after the merge the stored rows whose key it lacks are deleted
    /// ([`Delete::Rows`]) or marked ([`Delete::Mark`]). Unchanged rows are
    /// not rewritten, and the table is never swapped (an upsert that mirrors
    /// always merges): other sessions go on reading and writing it. What the
    /// mirror may delete is what the table held as the call started (its keys
    /// and row versions, `xmin`, are read into a temporary table first): rows
    /// other sessions add or change while it runs are never deleted or
    /// marked. It needs [`OnConflict::Update`] (the default): with another
    /// choice the call fails with [`Error::Options`]. A guard ([`mirror_guard`](Ingest::mirror_guard),
    /// by default half the table) fails the call, changing nothing, when more
    /// would go: an empty or cut-short snapshot never wipes a table.
    ///
    /// ```no_run
    /// # use pg_bulk_ingest::{BulkTable, Delete, Ingest};
    /// # #[derive(BulkTable)] struct Product { #[bulk(primary_key)] sku: String, price: i64, deleted_at: Option<chrono::DateTime<chrono::Utc>> }
    /// # fn run(tx: &mut postgres::Transaction<'_>, snapshot: Vec<Product>) -> pg_bulk_ingest::Result<()> {
    /// let report = Ingest::new()
    ///     .mirror(Delete::mark("deleted_at"))
    ///     .upsert(tx, &snapshot)?;
    /// println!("{} marked deleted", report.tables[0].deleted);
    /// # Ok(()) }
    /// ```
    ///
    /// Locks: `ROW EXCLUSIVE` on the table, as any `DELETE` or `UPDATE`
    /// (with [`in_place`](Ingest::in_place) changes to make, the swap's
    /// `ACCESS EXCLUSIVE`, as every in-place call).
    /// The guard counts with one scan of the snapshot's keys; the delete is
    /// an anti-join of the table with the batch.
    pub fn mirror(mut self, delete: Delete) -> Self {
        self.options.mirror = Some(Mirror {
            delete,
            guard_ppm: self.mirror_guard,
        });
        self
    }

    /// The most of the table a [`mirror`](Ingest::mirror) may delete or
    /// mark, as a share of the rows it held when the call started (not yet
    /// marked), from 0 to 1: more fails the call with [`Error::MirrorGuard`],
    /// changing nothing. Default 0.5 (also for NaN); 1.0 or more turns the
    /// guard off.
    pub fn mirror_guard(mut self, share: f64) -> Self {
        self.mirror_guard = if share.is_nan() {
            Some(DEFAULT_MIRROR_GUARD_PPM)
        } else {
            (share < 1.0).then(|| (share.max(0.0) * 1_000_000.0).round() as u32)
        };
        if let Some(mirror) = &mut self.options.mirror {
            mirror.guard_ppm = self.mirror_guard;
        }
        self
    }

    /// Makes the insert a slice replace: the stored rows of `slice` are
    /// deleted and the batch inserted, in one call, all or nothing. A row
    /// of the batch outside the slice fails the call with
    /// [`Error::OutsideSlice`], naming the row and the column, before
    /// anything is deleted. The slice's values are bound as parameters.
    ///
    /// ```no_run
    /// # use pg_bulk_ingest::{BulkTable, Ingest, Slice};
    /// # #[derive(BulkTable)] struct Reading { #[bulk(primary_key)] sensor: i32, #[bulk(primary_key)] day: chrono::NaiveDate, value: f64 }
    /// # fn run(tx: &mut postgres::Transaction<'_>, day: chrono::NaiveDate, rows: Vec<Reading>) -> pg_bulk_ingest::Result<()> {
    /// // The readings of `day` are exactly `rows` afterwards; other days stay.
    /// Ingest::new()
    ///     .replace_slice(Slice::equal("day", day))
    ///     .insert(tx, &rows)?;
    /// # Ok(()) }
    /// ```
    ///
    /// Locks: `ROW EXCLUSIVE` on the table (a `DELETE` and an `INSERT`;
    /// `ACCESS EXCLUSIVE` with [`in_place`](Ingest::in_place) changes to
    /// make): readers see the old slice until the caller commits, then the
    /// new one. A slice value of a Rust type its column can't take fails the
    /// call at the slice's check, after the load, with the client's error.
    /// A slice that is exactly one partition can be replaced by a partition
    /// swap instead, with [`swap_partition`](Ingest::swap_partition).
    pub fn replace_slice(mut self, slice: Slice) -> Self {
        self.options.slice = Some(slice.shape());
        self.slice_values = slice.values();
        self
    }

    /// Stores `value` as the high watermark of every table the call loads,
    /// in the same transaction as the rows: it is there when the caller
    /// commits, and not when the call fails or the caller rolls back.
    /// [`high_watermark`](crate::high_watermark()) reads it. Default: none
    /// (comments are left as they are). See
    /// [Incremental loads](crate#incremental-loads).
    ///
    /// It is stored in the table's comment as JSON, as the Python original
    /// stores it: `{"pg-bulk-ingest": {"high-watermark": "<value>"}}`, the
    /// value a JSON string. The comment's other members are kept; a comment
    /// that is not a JSON object (text a person wrote) is kept whole, as the
    /// string member `"description"`. The comment is set on the table
    /// readers see after the commit: a swapped-in table gets it after the
    /// live table's comment is carried over, so it survives every rebuild,
    /// `replace` and swap. `COMMENT ON` a table the call doesn't swap takes
    /// a `SHARE UPDATE EXCLUSIVE` lock, held until the caller commits: it
    /// blocks no reader or writer, but waits for a running `VACUUM`,
    /// `ANALYZE` or `CREATE INDEX CONCURRENTLY` of the table (an
    /// autovacuum in the way is cancelled after `deadlock_timeout`, unless it
    /// prevents wraparound) and holds off the next one. The step is in the
    /// call's [`plan`](Ingest::plan).
    pub fn high_watermark(mut self, value: impl Into<String>) -> Self {
        self.high_watermark = Some(value.into());
        self
    }

    /// Replaces the table's contents with the rows; see [`replace`](crate::replace).
    pub fn replace<I>(mut self, tx: &mut Transaction<'_>, rows: I) -> Result<Report>
    where
        I: IntoIterator,
        I::Item: AsRow,
    {
        self.run(tx, rows, Mode::Replace)
    }

    /// What a call of `mode` with these options would do to `T`'s table(s),
    /// without changing anything: the catalog is read in a transaction that
    /// is rolled back (missing enum types are created in it, as the call
    /// would), and no lock is taken but what reading the catalog takes. A call
    /// executes exactly these plans' steps, unless the tables change in
    /// between.
    ///
    /// An upsert with [`UpsertStrategy::Auto`] is planned for an input of
    /// unknown length, which merges: a call whose input is known to be large
    /// against the table may rebuild instead (see [`UpsertStrategy::Auto`]);
    /// with [`UpsertStrategy::Rebuild`] the plan is the rebuild's.
    ///
    /// # Errors
    /// What the call would fail with before loading any row: [`Error::Refused`],
    /// [`Error::Dependents`], [`Error::Unsupported`], [`Error::EnumLabelsMissing`],
    /// or a server error.
    pub fn plan<T: BulkRows>(
        &self,
        client: &mut postgres::Client,
        mode: Mode,
    ) -> Result<Vec<Plan>> {
        let first = T::TABLES
            .first()
            .map_or_else(String::new, |t| t.name().to_string());
        let mut tx = client.transaction().on(&first)?;
        let types = crate::enums::ensure(&mut tx, T::TABLES)?;
        let input = Input {
            mode,
            rows_hint: 0,
            single_table: T::TABLES.len() == 1,
            shared: true,
            escalated: false,
        };
        let mut plans = Vec::new();
        for (&def, types) in T::TABLES.iter().zip(types) {
            plans.push(plan_table(
                &mut tx,
                def,
                &self.options,
                &input,
                &self.slice_values,
                types,
                self.high_watermark.as_deref(),
            )?);
        }
        tx.rollback().on(&first)?;
        Ok(plans)
    }

    /// Appends the rows; see [`insert`](crate::insert).
    pub fn insert<I>(mut self, tx: &mut Transaction<'_>, rows: I) -> Result<Report>
    where
        I: IntoIterator,
        I::Item: AsRow,
    {
        self.run(tx, rows, Mode::Insert)
    }

    /// Inserts new rows and updates existing ones by their
    /// [`conflict_key`](Ingest::conflict_key) (by default the primary key);
    /// see [`upsert`](crate::upsert).
    pub fn upsert<I>(mut self, tx: &mut Transaction<'_>, rows: I) -> Result<Report>
    where
        I: IntoIterator,
        I::Item: AsRow,
        <I::Item as AsRow>::Row: HasUniqueKey,
    {
        self.run(tx, rows, Mode::Upsert)
    }

    fn run<I>(&mut self, tx: &mut Transaction<'_>, rows: I, mode: Mode) -> Result<Report>
    where
        I: IntoIterator,
        I::Item: AsRow,
    {
        let started = Instant::now();
        let call_started = self.position.started.unwrap_or(started);
        let (batch, rows_before) = (self.position.batch, self.position.rows_before);
        let defs = <<I::Item as AsRow>::Row as BulkRows>::TABLES;
        let first = defs
            .first()
            .map_or_else(String::new, |t| t.name().to_string());
        check_options(&self.options, defs, mode)?;
        // Everything happens in a savepoint: on error it is rolled back (when
        // `sp` is dropped) and the caller's transaction goes on as before.
        let mut sp = tx.transaction().on(&first)?;
        let restore_lock_timeout = match self.lock_timeout {
            Some(timeout) => Some(lock::set_lock_timeout(&mut sp, timeout).on(&first)?),
            None => None,
        };
        let restore_client_check = lock::watch_client(&mut sp).on(&first)?;
        self.progress(0, started, Phase::Preparing);
        let rows = rows.into_iter();
        let input = Input {
            mode,
            rows_hint: rows.size_hint().0 as u64,
            single_table: defs.len() == 1,
            shared: true,
            escalated: false,
        };
        let policy = LockPolicy {
            attempt_timeout: self.lock_timeout.unwrap_or(DEFAULT_SWAP_ATTEMPT),
            deadline: self.terminate_blockers_after,
            force: self.force_connection.clone(),
        };
        // Enum types first: a missing label fails the call before anything
        // is changed; missing types are created.
        let types = crate::enums::ensure(&mut sp, defs)?;
        let mut tables = Vec::with_capacity(defs.len());
        for (&def, types) in defs.iter().zip(types) {
            tables.push(self.prepare(&mut sp, def, &input, types, &policy)?);
        }

        let interval = self.progress_interval;
        let reports = self.on_progress.is_some();
        let mut last = started;
        let on_progress = &mut self.on_progress;
        let mut report_loading = |rows: u64| {
            let now = Instant::now();
            if now - last >= interval {
                last = now;
                if let Some(f) = on_progress.as_mut() {
                    f(&Progress {
                        rows,
                        elapsed: call_started.elapsed(),
                        phase: Phase::Loading,
                        batch,
                        total_rows: rows_before + rows,
                    });
                }
            }
        };
        let progress: Option<&mut dyn FnMut(u64)> = match reports {
            true => Some(&mut report_loading),
            false => None,
        };
        let count = load::load(&mut sp, &mut tables, rows, progress)?;

        self.progress(count, started, Phase::Finishing);
        for table in &mut tables {
            table.run(&mut sp, Stage::Finish, &policy, None)?;
        }
        // The swaps come last: their ACCESS EXCLUSIVE locks are held until the
        // caller commits.
        for table in &mut tables {
            let swapped = Instant::now();
            table.run(&mut sp, Stage::Swap, &policy, None)?;
            if table.plan.steps_of(Stage::Swap).next().is_some() {
                log::info!(
                    "{}: swapped in after {:.3} s",
                    table.name,
                    swapped.elapsed().as_secs_f64()
                );
            }
        }
        if let Some(old) = restore_lock_timeout {
            lock::restore_lock_timeout(&mut sp, &old).on(&first)?;
        }
        if let Some(old) = restore_client_check {
            lock::unwatch_client(&mut sp, &old).on(&first)?;
        }
        sp.commit().on(&first)?;

        let report = Report {
            rows: count,
            tables: tables.into_iter().map(Table::report).collect(),
            elapsed: started.elapsed(),
            batches: 1,
            high_watermark: self.high_watermark.clone(),
        };
        self.progress(count, started, Phase::Done);
        log::info!(
            "{first}: {mode:?} of {count} rows done in {:.3} s",
            report.elapsed.as_secs_f64()
        );
        Ok(report)
    }

    /// One table, up to the load: its advisory lock, then gathering,
    /// deciding and the plan's [`Stage::Prepare`] steps; again when a lock
    /// the plan takes finds the table changed, or the plan's fallback when
    /// its first lock can't be had in time.
    fn prepare(
        &mut self,
        sp: &mut Transaction<'_>,
        def: &'static TableDef,
        input: &Input,
        types: Vec<Step>,
        policy: &LockPolicy,
    ) -> Result<Table> {
        let name = def.name().to_string();
        if crate::plan::shares_lock(def, &self.options, input.mode) {
            if let Some(table) = self.prepare_shared(sp, def, input, &types, policy)? {
                return Ok(table);
            }
        }
        let input = &Input {
            escalated: true,
            ..*input
        };
        // Serialise calls on the same table: a second one waits here until
        // the first one's transaction ends.
        let advisory = crate::plan::advisory(def);
        log::debug!("{}", advisory.sql());
        sp.batch_execute(advisory.sql()).on(&name)?;
        for _ in 0..REPLANS {
            let plan = plan_table(
                sp,
                def,
                &self.options,
                input,
                &self.slice_values,
                types.clone(),
                self.high_watermark.as_deref(),
            )?;
            log::info!(
                "{name}: {}",
                plan.to_string().lines().next().unwrap_or_default()
            );
            let (mut table, outcome) = self.start(sp, plan, policy)?;
            match outcome {
                Outcome::Done => return Ok(table),
                Outcome::Replan => continue,
                Outcome::Fallback => {
                    let fallback = table.plan.fallback.take().expect("a plan with a fallback");
                    return match self.start(sp, *fallback, policy)? {
                        (table, Outcome::Done) => Ok(table),
                        _ => unreachable!("a fallback takes no lock it may not have"),
                    };
                }
            }
        }
        Err(Error::Unsupported {
            table: name,
            what: "a table whose definition keeps changing while the call plans it",
        })
    }

    /// The table of `plan`, with the slice's values, and what running its
    /// [`Stage::Prepare`] steps came to.
    fn start(
        &mut self,
        sp: &mut Transaction<'_>,
        plan: Plan,
        policy: &LockPolicy,
    ) -> Result<(Table, Outcome)> {
        let mut table = Table::new(plan);
        table.params = self.slice_values.clone();
        let outcome = table.run(sp, Stage::Prepare, policy, self.on_new_table.as_deref_mut())?;
        Ok((table, outcome))
    }

    fn progress(&mut self, rows: u64, started: Instant, phase: Phase) {
        let position = &self.position;
        if let Some(f) = self.on_progress.as_mut() {
            f(&Progress {
                rows,
                elapsed: position.started.unwrap_or(started).elapsed(),
                phase,
                batch: position.batch,
                total_rows: position.rows_before + rows,
            });
        }
    }
}
