//! The executor: runs a plan's steps of one stage, in order, as each step's
//! [`Run`] says, and maps their errors. It decides nothing: where a step may
//! fail in a foreseen way (a lock not had in time, a key that repeats, a table
//! that changed before its lock), the plan says what happens then.

use postgres::error::SqlState;
use postgres::Transaction;

use super::hook::{NewTable, NewTableHook};
use crate::catalog;
use crate::error::{Error, OnTable, Result};
use crate::lock::{self, LockPolicy};
use crate::plan::{Counting, Plan, Run, Stage, Staged, Step};
use crate::savepoint::{attempt, isolated};
use crate::sql;
use crate::table::TableDef;
use counting::staged_counts;

mod counting;

/// One table of a call: its plan, and what happened to it so far.
pub(crate) struct Table {
    pub def: &'static TableDef,
    /// Schema-qualified, quoted.
    pub name: String,
    pub plan: Plan,
    /// Rows of the input that belong to it.
    pub rows: u64,
    /// Rows written (see [`TableReport::written`](crate::TableReport::written)).
    pub written: u64,
    /// How the rows went in, where the path can tell (see
    /// [`TableReport`](crate::TableReport)).
    pub counts: Option<Counts>,
    /// Rows of the input left out because another row of the batch had
    /// their key.
    pub duplicates: u64,
    /// Stored rows a mirror deleted or marked, or a slice replace deleted.
    pub deleted: u64,
    /// The slice's values, bound to the steps that take them.
    pub params: Vec<crate::sync::Value>,
    /// Live rows copied into a new table before the load (they come first
    /// in it).
    pub preloaded: u64,
    /// Whether the keys of the rows loaded came in strictly increasing order
    /// (see [`KeyOrder`](super::key_order::KeyOrder)): then no key repeats
    /// in the batch. `None` when they were not watched.
    pub keys_increasing: Option<bool>,
    /// Whether no key of the rows loaded repeats, proven by their order or
    /// by a filter of them (see [`KeyOrder`](super::key_order::KeyOrder)).
    pub keys_distinct: bool,
    /// Rows of the input not staged, each equal to its stored row (see
    /// [`compare`](super::compare)).
    pub unstaged: u64,
    /// Keys of those rows that a later row of the batch repeats: the later
    /// one was staged and wins, and the row not staged is a duplicate.
    pub unstaged_repeated: u64,
    /// Rows COPYed straight into the table, their keys being above the
    /// greatest stored one (see [`append`](super::append)).
    pub appended: u64,
    /// Of those keys, the ones a later (staged) row repeats, and of these,
    /// the ones whose last row has the appended row's values
    /// ([`Run::AppendRepeats`]).
    pub appended_repeated: u64,
    pub appended_equal: u64,
}

/// Rows inserted, updated, unchanged and skipped (see
/// [`TableReport`](crate::TableReport)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
}

/// A key the batch repeats, or a stored key: the positions of the rows
/// (input positions, or `ctid` order in a table the call loaded) and the key
/// as PostgreSQL writes it in a unique violation.
struct Repeat {
    earlier: u64,
    later: u64,
    key: String,
}

/// How a stage ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every step ran.
    Done,
    /// A [`Run::TryLock`] step could not have its lock in time: the plan's
    /// fallback runs instead.
    Fallback,
    /// A [`Run::Verify`] step found the table changed since it was read: the
    /// call is planned again (under the locks now held).
    Replan,
}

impl Table {
    pub(crate) fn new(plan: Plan) -> Table {
        Table {
            def: plan.table,
            name: plan.table.name().to_string(),
            plan,
            rows: 0,
            written: 0,
            counts: None,
            duplicates: 0,
            deleted: 0,
            params: Vec::new(),
            preloaded: 0,
            keys_increasing: None,
            keys_distinct: false,
            unstaged: 0,
            unstaged_repeated: 0,
            appended: 0,
            appended_repeated: 0,
            appended_equal: 0,
        }
    }

    /// Runs the plan's steps of `stage`.
    pub(crate) fn run(
        &mut self,
        sp: &mut Transaction<'_>,
        stage: Stage,
        policy: &LockPolicy,
        mut hook: Option<&mut NewTableHook<'_>>,
    ) -> Result<Outcome> {
        if stage == Stage::Finish {
            // Until a step counts them otherwise, every row loaded is written.
            self.written = self.rows;
        }
        let steps: Vec<Step> = self.plan.steps_of(stage).cloned().collect();
        let mut carried = false;
        for step in &steps {
            if !matches!(
                step.run,
                Run::Verify | Run::Carry | Run::Watermark { .. } | Run::NewTable { .. }
            ) {
                log::debug!("{}", step.sql);
            }
            match &step.run {
                Run::Execute => sp.batch_execute(&step.sql).on(&self.name)?,
                Run::Load | Run::Compare | Run::StoredMax | Run::Append | Run::AppendRepeats => {
                    unreachable!("the load runs the COPY")
                }
                Run::Unique {
                    repeated,
                    positions,
                } => self.unique(sp, &step.sql, repeated.as_deref(), *positions)?,
                Run::TryLock { wait } => {
                    if !lock::try_lock(sp, &step.sql, *wait).on(&self.name)? {
                        log::debug!(
                            "{}: merging: another session holds a conflicting lock",
                            self.name
                        );
                        return Ok(Outcome::Fallback);
                    }
                }
                Run::Verify => {
                    let basis = self.plan.basis.as_ref().expect("a swap has a basis");
                    let now = basis.read_again(sp, self.def, true).on(&self.name)?;
                    if now.as_ref() != Some(basis) {
                        log::info!(
                            "{}: the table changed while planning: planning again",
                            self.name
                        );
                        return Ok(Outcome::Replan);
                    }
                }
                Run::CopyLive => {
                    log::info!("{}: copying the live rows into the new table", self.name);
                    self.preloaded = sp.execute(&step.sql, &[]).on(&self.name)?;
                }
                Run::Staged(staged) => self.staged(sp, &step.sql, staged)?,
                Run::MirrorGuard { limit_ppm } => self.mirror_guard(sp, &step.sql, *limit_ppm)?,
                Run::Bound { params } => {
                    let bound = crate::sync::bind(&self.params, params);
                    sp.execute(step.sql.as_str(), &bound).on(&self.name)?;
                }
                Run::Deletes { params } => {
                    let bound = self.bound(*params);
                    self.deleted += sp.execute(step.sql.as_str(), &bound).on(&self.name)?;
                }
                Run::SamePartition { planned } => {
                    let bound = crate::sync::bind(&self.params, &planned.params);
                    let now = catalog::read_slice_partition(sp, &step.sql, &bound, false)
                        .on(&self.name)?;
                    let changed = planned.changed(now.as_ref());
                    if !changed.is_empty() {
                        return Err(Error::Dependents {
                            table: self.name.clone(),
                            dependents: changed,
                        });
                    }
                }
                Run::Counted => {
                    let row = sp.query_one(step.sql.as_str(), &[]).on(&self.name)?;
                    self.deleted += row.get::<_, i64>(0) as u64;
                }
                Run::SliceCheck { columns } => {
                    let bound = self.bound(true);
                    if let Some(row) = sp.query_opt(step.sql.as_str(), &bound).on(&self.name)? {
                        let which: i32 = row.get(1);
                        return Err(Error::OutsideSlice {
                            table: self.name.clone(),
                            row: row.get::<_, i64>(0) as u64,
                            column: columns.get(which as usize - 1).cloned().unwrap_or_default(),
                        });
                    }
                }
                Run::KeyAfterDedupe {
                    dedupe,
                    repeated,
                    positions,
                } => {
                    self.key_after_dedupe(sp, &step.sql, dedupe.as_deref(), repeated, *positions)?
                }
                Run::Partitions => {
                    super::partitions::create(sp, self.def, &self.name, &step.sql)?;
                }
                Run::Carry => {
                    // Owner, grants and comments take no lock the call's locks
                    // block: they are read again, and given as they are now.
                    if !std::mem::replace(&mut carried, true) {
                        self.carry(sp)?;
                    }
                }
                Run::NewTable { kind, table } => {
                    if let Some(hook) = hook.as_deref_mut() {
                        super::hook::run(sp, hook, &NewTable::new(self.def, table, *kind))?;
                    }
                }
                Run::Watermark { table, value } => {
                    crate::watermark::store(sp, self.def, table, value).on(&self.name)?;
                }
                Run::SwapLock { first } => {
                    log::info!(
                        "{}: taking the lock to swap the new table in or alter it",
                        self.name
                    );
                    lock::lock_exclusive(sp, &self.name, first, policy)?;
                    // Under the lock nothing changes any more: a swap must not
                    // drop what was added to the table while the call ran.
                    if let Some(basis) = &self.plan.basis {
                        let now = basis.read_again(sp, self.def, false).on(&self.name)?;
                        let changed = basis.changed_for_swap(now.as_ref());
                        if !changed.is_empty() {
                            return Err(Error::Dependents {
                                table: self.name.clone(),
                                dependents: changed,
                            });
                        }
                    }
                }
            }
        }
        Ok(Outcome::Done)
    }

    /// The slice's values as parameters, when the step takes them.
    fn bound(&self, params: bool) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
        if !params {
            return Vec::new();
        }
        self.params
            .iter()
            .map(|v| &**v as &(dyn postgres::types::ToSql + Sync))
            .collect()
    }

    /// A mirror's guard: fails the call when the batch lacks more of the
    /// snapshot's keys than the limit allows.
    fn mirror_guard(
        &self,
        sp: &mut Transaction<'_>,
        sql: &str,
        limit_ppm: Option<u32>,
    ) -> Result<()> {
        let row = sp.query_one(sql, &[]).on(&self.name)?;
        let (gone, of) = (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64);
        log::info!(
            "{}: the mirror deletes or marks {gone} of {of} rows",
            self.name
        );
        if let Some(ppm) = limit_ppm {
            if u128::from(gone) * 1_000_000 > u128::from(ppm) * u128::from(of) {
                return Err(Error::MirrorGuard {
                    table: self.name.clone(),
                    rows: gone,
                    of,
                    limit: f64::from(ppm) / 1_000_000.0,
                });
            }
        }
        Ok(())
    }

    /// A statement that builds a unique key or index over the loaded rows, in
    /// a savepoint, so that a key violation can be explained from them
    /// (`repeated`, see [`Run::Unique`]) before the call's savepoint goes.
    fn unique(
        &self,
        sp: &mut Transaction<'_>,
        sql: &str,
        repeated: Option<&str>,
        positions: bool,
    ) -> Result<()> {
        let Err(e) =
            attempt(sp, &SqlState::UNIQUE_VIOLATION, |t| t.batch_execute(sql)).on(&self.name)?
        else {
            return Ok(());
        };
        if let Some(query) = repeated {
            if let Some(repeat) = self.repeat(sp, query).on(&self.name)? {
                if let Some(error) = self.loaded_repeat(repeat, positions) {
                    return Err(error);
                }
            }
        }
        Err(Error::RowRejected {
            row: None,
            table: self.name.clone(),
            column: None,
            source: e,
        })
    }

    /// The first repeated key `query` (a `sql::repeated_key`) finds.
    fn repeat(
        &self,
        sp: &mut Transaction<'_>,
        query: &str,
    ) -> Result<Option<Repeat>, postgres::Error> {
        log::debug!("{query}");
        let Some(row) = sp.query_opt(query, &[])? else {
            return Ok(None);
        };
        let values: Vec<String> = (2..row.len()).map(|i| row.get(i)).collect();
        Ok(Some(Repeat {
            earlier: row.get::<_, i64>(0) as u64,
            later: row.get::<_, i64>(1) as u64,
            key: self.key_text(&row, 2, &values),
        }))
    }

    /// `(a, b)=(1, x)`, as PostgreSQL writes a key in a unique violation,
    /// from the key columns of the step's query (its columns from `from` on).
    fn key_text(&self, row: &postgres::Row, from: usize, values: &[String]) -> String {
        let columns: Vec<&str> = row.columns()[from..].iter().map(|c| c.name()).collect();
        format!("({})=({})", columns.join(", "), values.join(", "))
    }

    /// The error for a key repeated among the rows of a table the call
    /// loaded, numbered in `ctid` order: the live rows copied first
    /// (`preloaded`), then the batch's rows, then, for an upsert by rebuild,
    /// the live rows carried after them. Two of the batch's rows are a
    /// repeated key; one of the batch's and a live one, a stored key; two
    /// live rows (under a unique index the live table lacked), `None`. Once
    /// rows were de-duplicated the numbers no longer tell, and `None` too.
    fn loaded_repeat(&self, repeat: Repeat, positions: bool) -> Option<Error> {
        if self.duplicates > 0 {
            return None;
        }
        let batch = self.preloaded..self.preloaded + self.rows;
        let table = self.name.clone();
        let key = repeat.key;
        let position = |n: u64| positions.then(|| n - self.preloaded);
        match (
            batch.contains(&repeat.earlier),
            batch.contains(&repeat.later),
        ) {
            (true, true) => Some(Error::DuplicateKey {
                table,
                key,
                rows: positions.then(|| {
                    (
                        repeat.earlier - self.preloaded,
                        repeat.later - self.preloaded,
                    )
                }),
            }),
            (true, false) => Some(Error::KeyExists {
                table,
                key,
                row: position(repeat.earlier),
            }),
            (false, true) => Some(Error::KeyExists {
                table,
                key,
                row: position(repeat.later),
            }),
            (false, false) => None,
        }
    }

    /// A [`Run::Staged`] statement: checked first, then run in a savepoint;
    /// when it finds a key twice, run again keeping one row of each, or
    /// failed naming the key; a stored key it is refused fails the call
    /// naming the row; any other row it fails on is located.
    fn staged(&mut self, sp: &mut Transaction<'_>, sql: &str, staged: &Staged) -> Result<()> {
        let (mut sql, mut counting) = (sql, staged.counting);
        let distinct = self.keys_distinct;
        if distinct && staged.check_first.is_some() {
            log::debug!(
                "{}: the batch's keys came in increasing order, or a filter of them \
                 found none twice: no key repeats",
                self.name
            );
        }
        if let (Some(false), Some(unordered)) = (self.keys_increasing, &staged.unordered) {
            log::debug!(
                "{}: the batch's keys came out of order: merged sorted",
                self.name
            );
            sql = unordered;
        }
        if let Some(check) = staged.check_first.as_ref().filter(|_| !distinct) {
            log::debug!("{check}");
            let repeats: bool = sp
                .query_typed_one(check.as_str(), &[])
                .on(&self.name)?
                .get(0);
            if repeats {
                match (&staged.dedupe, &staged.repeated) {
                    (Some(dedupe), _) => {
                        log::info!(
                            "{}: keys repeat in the batch: one row of each is kept",
                            self.name
                        );
                        (sql, counting) = (dedupe, Counting::Returning);
                    }
                    (None, Some(query)) => {
                        if let Some(repeat) = self.repeat(sp, query).on(&self.name)? {
                            return Err(self.staged_repeat(repeat));
                        }
                    }
                    (None, None) => {}
                }
            }
        }
        let staged_rows = self.rows - self.unstaged - self.appended;
        log::info!("{}: merging {staged_rows} staged rows", self.name);
        let mut result = isolated(sp, |t| staged_counts(t, sql, counting)).on(&self.name)?;
        if let Err(e) = &result {
            let code = e.code();
            if code == Some(&SqlState::CARDINALITY_VIOLATION)
                || code == Some(&SqlState::UNIQUE_VIOLATION)
            {
                let repeat = match &staged.repeated {
                    Some(query) => self.repeat(sp, query).on(&self.name)?,
                    None => None,
                };
                match (repeat, &staged.dedupe) {
                    (Some(_), Some(dedupe)) => {
                        log::info!(
                            "{}: keys repeat in the batch: one row of each is kept",
                            self.name
                        );
                        log::debug!("{dedupe}");
                        result = isolated(sp, |t| staged_counts(t, dedupe, Counting::Returning))
                            .on(&self.name)?;
                    }
                    (Some(repeat), None) => return Err(self.staged_repeat(repeat)),
                    (None, _) => {}
                }
            }
        }
        // A key another session stored, or a row it changed, since the
        // statement's snapshot: `ON CONFLICT` takes them.
        if let (Err(e), Some(instead)) = (&result, &staged.instead) {
            let code = e.code();
            if code == Some(&SqlState::UNIQUE_VIOLATION)
                || code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
            {
                log::info!(
                    "{}: the merge met rows another session wrote meanwhile: \
                     it runs as INSERT ... ON CONFLICT",
                    self.name
                );
                log::debug!("{instead}");
                result = isolated(sp, |t| staged_counts(t, instead, Counting::Statistics))
                    .on(&self.name)?;
            }
        }
        if let (Err(e), Some(query)) = (&result, &staged.stored) {
            if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                log::debug!("{query}");
                if let Some(row) = sp.query_opt(query.as_str(), &[]).on(&self.name)? {
                    let values: Vec<String> = (1..row.len()).map(|i| row.get(i)).collect();
                    return Err(Error::KeyExists {
                        table: self.name.clone(),
                        key: self.key_text(&row, 1, &values),
                        row: Some(row.get::<_, i64>(0) as u64),
                    });
                }
            }
        }
        let done = match &staged.locate {
            Some(locate) => self.or_locate(sp, result, locate)?,
            None => result.on(&self.name)?,
        };
        let merged = done.merged.unwrap_or(staged_rows);
        // A key appended and repeated by a staged row: the merge updated the
        // appended row (`rewritten`) or found it equal; either way the key
        // counts once, as inserted, and its staged rows as duplicates.
        let repeats = self.appended_repeated;
        let rewritten = repeats.saturating_sub(self.appended_equal);
        self.duplicates = staged_rows.saturating_sub(merged) + self.unstaged_repeated + repeats;
        self.written = (done.written + self.appended).saturating_sub(rewritten);
        self.counts = Some(if counting != Counting::RowCount {
            let on_conflict = self.plan.keys.on_conflict;
            Counts {
                inserted: done.inserted + self.appended,
                updated: (done.written - done.inserted).saturating_sub(rewritten),
                unchanged: match on_conflict {
                    crate::OnConflict::Update => (merged - done.written + self.unstaged)
                        .saturating_sub(self.unstaged_repeated + self.appended_equal),
                    _ => 0,
                },
                skipped: match on_conflict {
                    crate::OnConflict::Skip => merged - done.written,
                    _ => 0,
                },
            }
        } else {
            Counts {
                inserted: done.inserted + self.appended,
                ..Counts::default()
            }
        });
        Ok(())
    }

    /// The error for a key repeated among the staged rows (input positions).
    fn staged_repeat(&self, repeat: Repeat) -> Error {
        Error::DuplicateKey {
            table: self.name.clone(),
            key: repeat.key,
            rows: Some((repeat.earlier, repeat.later)),
        }
    }

    /// The result of a statement over the staged rows; when a row made it
    /// fail (SQLSTATE class 22, data exception, or 23, integrity
    /// violation), the error names that row's input position, found with
    /// `locate` ([`Run::Merge`]).
    fn or_locate<T>(
        &self,
        sp: &mut Transaction<'_>,
        result: Result<T, postgres::Error>,
        locate: &str,
    ) -> Result<T> {
        let source = match result {
            Ok(written) => return Ok(written),
            Err(e) => e,
        };
        let Some(code) = source.code().cloned() else {
            return Err(Error::server(self.name.as_str(), source));
        };
        if !(code.code().starts_with("22") || code.code().starts_with("23")) {
            return Err(Error::server(self.name.as_str(), source));
        }
        let row = self.locate(sp, locate, &code).unwrap_or(None);
        Err(Error::RowRejected {
            row,
            table: self.name.clone(),
            column: source
                .as_db_error()
                .and_then(|db| db.column())
                .map(str::to_owned),
            source,
        })
    }

    /// The input position of the staged row that makes `locate` fail with
    /// `code`: the range of positions is halved while one half alone fails
    /// (each try in a savepoint, rolled back), about twice the work of the
    /// statement. `None` when no single row fails on its own (rows that fail
    /// only together, such as two that share a unique value).
    fn locate(
        &self,
        sp: &mut Transaction<'_>,
        locate: &str,
        code: &SqlState,
    ) -> Result<Option<u64>, postgres::Error> {
        let staging = self
            .plan
            .position_column
            .as_deref()
            .expect("only staged rows are located");
        let bounds = sp.query_one(
            &sql::staged_positions(&sql::staging_qualified(self.def), staging),
            &[],
        )?;
        let (Some(mut lo), Some(mut hi)): (Option<i64>, Option<i64>) =
            (bounds.get(0), bounds.get(1))
        else {
            return Ok(None);
        };
        let fails = |sp: &mut Transaction<'_>, lo: i64, hi: i64| -> Result<bool, postgres::Error> {
            let mut probe = sp.transaction()?;
            let failed = match probe.execute(locate, &[&lo, &hi]) {
                Ok(_) => false,
                Err(e) if e.code() == Some(code) => true,
                Err(e) => return Err(e),
            };
            probe.rollback()?;
            Ok(failed)
        };
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if fails(sp, lo, mid)? {
                hi = mid;
            } else if fails(sp, mid + 1, hi)? {
                lo = mid + 1;
            } else {
                return Ok(None);
            }
        }
        Ok(fails(sp, lo, lo)?.then_some(lo as u64))
    }

    /// The key of an upsert by rebuild's or a `replace`'s new table. Live
    /// rows carried are unique in the key (the live table has the same one)
    /// and none shares a key with a loaded row, so a duplicate is always a
    /// key the input repeats: `dedupe` keeps one row of each and the key is
    /// built again; without it, `repeated` names the key for the error.
    fn key_after_dedupe(
        &mut self,
        sp: &mut Transaction<'_>,
        sql: &str,
        dedupe: Option<&str>,
        repeated: &str,
        positions: bool,
    ) -> Result<()> {
        let keyed = attempt(sp, &SqlState::UNIQUE_VIOLATION, |t| t.batch_execute(sql));
        let Err(e) = keyed.on(&self.name)? else {
            return Ok(());
        };
        let Some(dedupe) = dedupe else {
            let repeat = self.repeat(sp, repeated).on(&self.name)?;
            return Err(repeat
                .and_then(|repeat| self.loaded_repeat(repeat, positions))
                .unwrap_or_else(|| Error::RowRejected {
                    row: None,
                    table: self.name.clone(),
                    column: None,
                    source: e,
                }));
        };
        log::info!(
            "{}: keys repeat in the batch: one row of each is kept",
            self.name
        );
        log::debug!("{dedupe}");
        let removed = sp.execute(dedupe, &[]).on(&self.name)?;
        // One loaded row per key stays, so fewer than all go.
        if removed >= self.rows {
            return Err(Error::Unsupported {
                table: self.name.clone(),
                what: "a rebuild whose de-duplication would remove every loaded row",
            });
        }
        self.written -= removed;
        self.duplicates = removed;
        log::debug!("{sql}");
        sp.batch_execute(sql).on(&self.name)
    }

    /// The [`Run::Carry`] steps: owner, privileges and comments of the live
    /// table, read again and given to the new one.
    fn carry(&self, sp: &mut Transaction<'_>) -> Result<()> {
        let (Some(oid), Some(into)) = (self.plan.oid, self.plan.new_table.as_deref()) else {
            unreachable!("only a swap carries");
        };
        let now = catalog::read_carried(sp, oid).on(&self.name)?;
        for sql in sql::carry(self.def, into, &now) {
            log::debug!("{sql}");
            self.unique(sp, &sql, None, false)?;
        }
        Ok(())
    }
}
