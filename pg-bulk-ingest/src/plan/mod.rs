//! What a call will do to each table, as data: the path it takes, the changes
//! it makes, and the ordered list of steps it runs. A call executes exactly
//! its plan's steps, in order, and [`plan()`](crate::plan()) returns the same
//! plan without running it.
//!
//! Planning is pure: the library's `decide` turns the definition, the facts
//! read from the catalog, their comparison and the call's options into a
//! [`Plan`]; the order of the steps of each path is written in one place.

use std::fmt;
use std::time::Duration;

use crate::catalog::{Basis, Carried};
use crate::table::TableDef;

pub(crate) mod decide;
mod steps;

pub use crate::diff::{Cast, Change, Refusal};
pub use crate::lock::LockMode;
pub(crate) use decide::{decide, shares_lock, Input, Options};
pub(crate) use steps::{advisory, with_watermark};

/// What a call does with the rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// [`insert`](crate::insert): append.
    Insert,
    /// [`upsert`](crate::upsert): insert new keys, update the others.
    Upsert,
    /// [`replace`](crate::replace): the rows become the table's contents.
    Replace,
}

/// The path a call takes for one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Path {
    /// The table matches its definition: the rows go into it (straight, or
    /// merged through a staging table by `upsert`).
    Nothing,
    /// The table does not exist: it is created, loaded, then keyed and
    /// indexed.
    Create,
    /// Catalog-only changes are made with `ALTER TABLE` under the swap's
    /// lock at the end of the call; the rows wait in a staging table until
    /// then ([`Ingest::in_place`](crate::Ingest::in_place)).
    InPlace,
    /// An intermediate table with the new definition gets the live rows
    /// (writers wait, readers go on), then the batch; it is swapped in last.
    Rebuild,
    /// `upsert` by rebuild ([`UpsertStrategy`](crate::UpsertStrategy)): the
    /// batch goes into a new table first, then the live rows whose key it
    /// doesn't hold; the new table is swapped in last.
    UpsertByRebuild,
    /// `replace`: a fresh table is loaded and swapped in last.
    Replace,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Path::Nothing => "nothing to change",
            Path::Create => "create",
            Path::InPlace => "in place",
            Path::Rebuild => "rebuild (copy the rows into a new table, then swap it in)",
            Path::UpsertByRebuild => {
                "rebuild for the upsert (load a new table, copy the live rows whose key it \
                 doesn't hold, then swap it in)"
            }
            Path::Replace => "replace (load a new table, then swap it in)",
        })
    }
}

/// When in a call a step runs. Every table's steps of one stage run before
/// any table's steps of the next (a call may load several tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Before the catalog is read: the lock that serialises calls on the
    /// table, and the enum types a column needs and the database lacks.
    Prelude,
    /// After planning, before any row is sent.
    Prepare,
    /// The rows: `COPY ... FROM STDIN (FORMAT binary)`.
    Load,
    /// After the rows: merges, keys, indexes, what a swap carries.
    Finish,
    /// Last: the swap's `ACCESS EXCLUSIVE` lock, held until the caller
    /// commits, and what runs under it.
    Swap,
}

/// What a table a call creates is for, as the
/// [`on_new_table`](crate::Ingest::on_new_table) hook is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NewTableKind {
    /// The table the call loads, created because it did not exist
    /// ([`Path::Create`]): readers see it once the caller commits.
    Created,
    /// A new table that is loaded and then swapped in under the live
    /// table's name ([`Path::Replace`], [`Path::Rebuild`],
    /// [`Path::UpsertByRebuild`]). The live table's settings (storage
    /// parameters, a replica identity `FULL` or `NOTHING`, row level security
    /// and policies, column settings) are set on it before the hook runs.
    /// Also the fresh partition of a partition swap
    /// ([`Ingest::swap_partition`](crate::Ingest::swap_partition)), given the
    /// partition's storage parameters.
    Intermediate,
    /// A temporary table of the session (`ON COMMIT DROP`, in `pg_temp`) the
    /// rows wait in before they are merged or inserted into the table. An
    /// upsert on PostgreSQL 15 and later may stage only some of its rows:
    /// not those equal to their stored rows, nor the first rows of keys
    /// above the greatest stored one, which go straight into the table (see
    /// the crate's "Performance" section); a trigger on the staging table
    /// sees only the rows staged.
    Staging,
}

impl fmt::Display for NewTableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NewTableKind::Created => "the table, created",
            NewTableKind::Intermediate => "the new table to be swapped in",
            NewTableKind::Staging => "the staging table",
        })
    }
}

/// A lock a step takes on the live table (or, for [`LockMode::Advisory`],
/// on the table's name), held until the caller's transaction ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lock {
    mode: LockMode,
    on: String,
}

impl Lock {
    pub(crate) fn new(mode: LockMode, on: impl Into<String>) -> Lock {
        Lock {
            mode,
            on: on.into(),
        }
    }

    /// The lock mode.
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// What is locked: a schema-qualified, quoted name.
    pub fn on(&self) -> &str {
        &self.on
    }
}

impl fmt::Display for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.mode, self.on)
    }
}

/// How the executor runs a step: what it does with the statement, and what
/// it does when the statement fails in the one way the plan foresees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Run {
    /// The statement, as it is.
    Execute,
    /// The statement (a key or unique index built over rows this call
    /// loaded into a table it created) in a savepoint; a unique violation is
    /// explained with `repeated` (a `sql::repeated_key` over the table's
    /// rows numbered in `ctid` order), when given: the table's first
    /// `preloaded` rows are live rows copied first, so an earlier row among
    /// them is a stored key ([`Error::KeyExists`](crate::Error::KeyExists)),
    /// else the input repeats it ([`Error::DuplicateKey`](crate::Error::DuplicateKey)).
    /// With `positions`, the numbers are input positions (a single-table
    /// call that loaded the rows straight into the table).
    Unique {
        repeated: Option<String>,
        positions: bool,
    },
    /// `LOCK TABLE ... IN EXCLUSIVE MODE` waiting at most `wait`; when the
    /// lock can't be had in time, the plan's fallback runs instead.
    TryLock { wait: Duration },
    /// After a lock that freezes the table's definition: the catalog is read
    /// again, and the call is planned again if it changed since it was read.
    Verify,
    /// The live rows copied into the new table; their count is kept (rows
    /// loaded later come after them).
    CopyLive,
    /// The COPY of the input.
    Load,
    /// Before an upsert's COPY into its staging table: the query (a
    /// `sql::Merge::stored_run`) gives the stored rows of a run of the
    /// batch's keys, `$1` to `$2`, at most `$3` of them; a row equal to its
    /// stored row is not staged (see `ingest::compare`).
    Compare,
    /// Before the comparison: the query (a `sql::Merge::stored_max`) gives
    /// the greatest stored key (`bigint`, NULL on an empty table).
    StoredMax,
    /// A COPY straight into the table of the rows whose key is above the
    /// greatest stored one, each key's first row, each COPY in a savepoint;
    /// when a row fails it (SQLSTATE class 22 or 23: a key another session
    /// stored meanwhile, a check only an earlier row of a key fails), its
    /// rows and the rest are staged instead (see `ingest::append`).
    Append,
    /// After the load, where a later row repeated a key the load appended:
    /// the query (a `sql::Merge::appended_repeats`, given those keys as a
    /// bitmap) counts them, and those whose last row equals the appended
    /// one, for the report.
    AppendRepeats,
    /// A statement over the staging table: an upsert's merge, or an insert
    /// of the staged rows; see [`Staged`].
    Staged(Box<Staged>),
    /// The key of a table loaded by an upsert by rebuild or a `replace`:
    /// when the batch repeats a key, `dedupe` keeps one row of each and the
    /// key is built again ([`Duplicates::KeepLast`](crate::Duplicates) and
    /// `KeepFirst`), or, without it, `repeated` names the key for the error.
    KeyAfterDedupe {
        dedupe: Option<String>,
        repeated: String,
        positions: bool,
    },
    /// A mirror's guard: the query counts the snapshot's keys the batch lacks
    /// and the snapshot's keys; more than `limit_ppm` parts per million of
    /// them fails the call (`None`: no limit).
    MirrorGuard { limit_ppm: Option<u32> },
    /// The statement with some of the slice's values bound, by their
    /// indexes among them, as `$1`, `$2`, ...: a slice replace's advisory
    /// locks on the partitions the slice may hold rows in.
    Bound { params: Vec<usize> },
    /// A statement whose rows are counted as deleted (a mirror's delete or
    /// mark, a slice's delete); with `params`, the slice's values bound.
    Deletes { params: bool },
    /// Under a partition swap's lock: the partition that is exactly the
    /// slice read again (the step's statement, with the slice's values
    /// `planned.params` bound); the call fails with
    /// [`Error::Dependents`](crate::Error::Dependents), changing nothing,
    /// when it is not the partition as planned.
    SamePartition {
        planned: Box<crate::catalog::SlicePartition>,
    },
    /// A query whose one `bigint` is counted as deleted: the rows of the
    /// partition a partition swap replaces.
    Counted,
    /// A slice replace's check: the query (with the slice's values bound)
    /// gives the first staged row outside the slice and the number of the
    /// column (in `columns`) it fails.
    SliceCheck { columns: Vec<String> },
    /// The query (a `sql::missing_partitions`) gives the partitions the
    /// staged rows need and the table lacks: each one's name and the two
    /// statements that make it (`CREATE TABLE`, `ATTACH PARTITION`), run in
    /// a savepoint. A name another session took meanwhile for a partition
    /// of the same table is skipped.
    Partitions,
    /// The owner, privileges and comments, read again at this point (`GRANT`
    /// and `COMMENT` take no lock the call's locks block).
    Carry,
    /// The swap's `ACCESS EXCLUSIVE` lock, taken in attempts of at most the
    /// lock timeout, each after dropping the views made again (`first`), with
    /// blockers terminated after the configured delay.
    SwapLock { first: Vec<String> },
    /// The [`on_new_table`](crate::Ingest::on_new_table) hook, on `table` (in
    /// the table's schema, unqualified; `pg_temp` for
    /// [`NewTableKind::Staging`]), in a savepoint; the hook's statements are
    /// the caller's, not the plan's.
    NewTable { kind: NewTableKind, table: String },
    /// The high watermark `value` stored in the comment of `table` (in the
    /// table's schema, unqualified): the comment is read again at this
    /// point, as [`Run::Carry`] reads it, and set with the watermark.
    Watermark { table: String, value: String },
}

/// How a statement over the staging table runs, in a savepoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Staged {
    /// How the statement tells the rows it inserted and wrote.
    pub(crate) counting: Counting,
    /// Run instead when the statement fails with a unique violation and no
    /// key repeats in the batch, or with a serialization failure: the
    /// `MERGE` met a key another session stored or changed meanwhile, which
    /// `ON CONFLICT` takes (counted as [`Counting::Statistics`]).
    pub(crate) instead: Option<String>,
    /// Run instead of the statement when the batch's keys were watched while
    /// encoding and did not come in increasing order: the same over the
    /// staged rows sorted by key, so that the key's index is walked in
    /// order.
    pub(crate) unordered: Option<String>,
    /// Run first: a `sql::repeated_key` over the staged rows, whose row
    /// fails the call (`ON CONFLICT DO NOTHING` can't tell a repeated key).
    pub(crate) check_first: Option<String>,
    /// Run instead when the statement finds a key twice
    /// (`cardinality_violation`, or a unique violation where `repeated`
    /// finds a repeated key): the same keeping one row of each key.
    pub(crate) dedupe: Option<String>,
    /// Names the first repeated key among the staged rows, for the error
    /// when keys repeat and there is no `dedupe`.
    pub(crate) repeated: Option<String>,
    /// Names the first staged row whose key is stored, for the error on a
    /// unique violation ([`OnConflict::Error`](crate::OnConflict), `insert`).
    pub(crate) stored: Option<String>,
    /// When a row makes the statement fail otherwise (a data exception or an
    /// integrity violation: SQLSTATE class 22 or 23), the statement over the
    /// staged rows between two input positions, `$1` and `$2`, which finds
    /// it.
    pub(crate) locate: Option<String>,
}

/// How a [`Staged`] statement tells the rows it inserted and wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counting {
    /// It returns the counts of `sql::Merge::upsert` (rows inserted,
    /// written, merged).
    Returning,
    /// It is `sql::Merge::counted`: the transaction's row counters before
    /// and after, and the statement's row count.
    Statistics,
    /// Its row count is the rows written (and inserted).
    RowCount,
}

/// One step of a plan: one statement (or the COPY), the lock it takes on the
/// live table, and what it reads, writes or carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub(crate) stage: Stage,
    pub(crate) sql: String,
    pub(crate) lock: Option<Lock>,
    pub(crate) note: String,
    pub(crate) run: Run,
}

impl Step {
    /// When in the call it runs.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The statement, as it is sent (for the load, the `COPY` command);
    /// empty for a step that only reads the catalog again, and for the step
    /// that runs the [`on_new_table`](crate::Ingest::on_new_table) hook
    /// (whose statements are the hook's own: the [`note`](Step::note) names
    /// the table it runs on).
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Every statement the step sends when nothing goes wrong, in order: the
    /// `DROP VIEW`s a swap lock runs in the same attempt, then
    /// [`sql`](Step::sql). Savepoints around a step are not listed.
    pub fn statements(&self) -> Vec<&str> {
        let mut out: Vec<&str> = match &self.run {
            Run::SwapLock { first } => first.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        if !self.sql.is_empty() {
            out.push(&self.sql);
        }
        out
    }

    /// The lock it takes on the live table, if any (a step that touches only
    /// a table the call created takes none that anyone else waits for).
    pub fn lock(&self) -> Option<&Lock> {
        self.lock.as_ref()
    }

    /// What it reads, rewrites or carries, and what happens if it fails in
    /// the way the plan foresees; may be empty.
    pub fn note(&self) -> &str {
        &self.note
    }
}

/// What a call will do to one table, and every step of it in order.
///
/// ```no_run
/// # use pg_bulk_ingest::{BulkTable, Mode};
/// # #[derive(BulkTable)] struct Event { #[bulk(primary_key)] id: i64 }
/// # fn run(client: &mut postgres::Client) -> pg_bulk_ingest::Result<()> {
/// let plan = pg_bulk_ingest::plan::<Event>(client, Mode::Upsert)?;
/// println!("{plan}");
/// for step in plan.steps() {
///     println!("{:?} {} -- {:?}", step.stage(), step.sql(), step.lock());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub(crate) table: &'static TableDef,
    pub(crate) mode: Mode,
    pub(crate) path: Path,
    pub(crate) changes: Vec<Change>,
    pub(crate) steps: Vec<Step>,
    /// What runs instead when a [`Run::TryLock`] step can't have its lock in
    /// time.
    pub(crate) fallback: Option<Box<Plan>>,
    /// The live table's OID, when there is one.
    pub(crate) oid: Option<u32>,
    /// What the swap carries, as read when planning (views are made again
    /// from it; [`Run::Carry`] reads owner, grants and comments again).
    pub(crate) carried: Option<Carried>,
    /// What the plan of a swap relies on, checked again by [`Run::Verify`].
    pub(crate) basis: Option<Basis>,
    /// Where the COPY goes, unqualified and unquoted (as COPY errors name
    /// it), and whether it goes through a staging table with the input
    /// position as its first column (the column's name).
    pub(crate) copy_relname: String,
    pub(crate) position_column: Option<String>,
    /// The new table a swap puts in the live table's place (unqualified).
    pub(crate) new_table: Option<String>,
    /// The key rows match on, and the choices for stored and repeated keys.
    pub(crate) keys: decide::Keys,
}

impl Plan {
    /// The table, schema-qualified and quoted.
    pub fn table(&self) -> String {
        self.table.name().to_string()
    }

    /// The call the plan is for.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The path the call takes.
    pub fn path(&self) -> Path {
        self.path
    }

    /// The changes that make the live table match its definition (empty for
    /// [`Path::Nothing`], [`Path::Create`], [`Path::Replace`] and an upsert
    /// by rebuild of a table that matches).
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The steps, in the order they run.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The plan that runs instead when the first lock can't be had soon
    /// ([`UpsertStrategy::Auto`](crate::UpsertStrategy::Auto): merge when
    /// another session holds a conflicting lock for 2 seconds).
    pub fn fallback(&self) -> Option<&Plan> {
        self.fallback.as_deref()
    }

    /// Every statement the call sends for this table when nothing goes wrong
    /// and no fallback is taken, in order (see [`Step::statements`]).
    pub fn statements(&self) -> Vec<&str> {
        self.steps.iter().flat_map(Step::statements).collect()
    }

    /// Whether the call takes the table's advisory lock shared (and an
    /// advisory lock per partition it writes into), not exclusively.
    pub(crate) fn shares_table_lock(&self) -> bool {
        let exclusive = crate::lock::advisory_table(self.table);
        !self.steps.iter().any(|s| s.sql == exclusive)
    }

    pub(crate) fn steps_of(&self, stage: Stage) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(move |s| s.stage == stage)
    }

    /// The statement of the load stage's step that runs as `run`, when the
    /// plan has one.
    pub(crate) fn load_sql(&self, run: &Run) -> Option<&str> {
        self.steps_of(Stage::Load)
            .find(|s| s.run == *run)
            .map(|s| s.sql.as_str())
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.table.name(), self.path)?;
        for change in &self.changes {
            writeln!(f, "  - {change}")?;
        }
        for step in &self.steps {
            if step.sql.is_empty() {
                writeln!(f, "  -- {}", step.note)?;
                continue;
            }
            for sql in step.statements() {
                write!(f, "  {sql};")?;
                let mut comment = Vec::new();
                if let Some(lock) = &step.lock {
                    comment.push(lock.to_string());
                }
                if !step.note.is_empty() {
                    comment.push(step.note.clone());
                }
                if comment.is_empty() {
                    writeln!(f)?;
                } else {
                    writeln!(f, "  -- {}", comment.join("; "))?;
                }
            }
        }
        if let Some(fallback) = &self.fallback {
            writeln!(f, "  -- if that lock can't be had in time, instead:")?;
            for line in fallback.to_string().lines() {
                writeln!(f, "  {line}")?;
            }
        }
        Ok(())
    }
}
