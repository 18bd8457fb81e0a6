//! The executor: runs a plan's steps of one stage, in order, as each step's
//! [`Run`] says, and maps their errors. It decides nothing: where a step may
//! fail in a foreseen way (a lock not had in time, a key that repeats, a table
//! that changed before its lock), the plan says what happens then.

use postgres::error::SqlState;
use postgres::Transaction;

use crate::catalog;
use crate::error::{Error, OnTable, Result};
use crate::lock::{self, LockPolicy};
use crate::plan::{Plan, Run, Stage, Step};
use crate::savepoint::{attempt, isolated};
use crate::sql;
use crate::table::TableDef;

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
    /// Live rows copied into a new table before the load (they come first
    /// in it).
    pub preloaded: u64,
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
            preloaded: 0,
        }
    }

    /// Runs the plan's steps of `stage`.
    pub(crate) fn run(
        &mut self,
        sp: &mut Transaction<'_>,
        stage: Stage,
        policy: &LockPolicy,
    ) -> Result<Outcome> {
        if stage == Stage::Finish {
            // Until a step counts them otherwise, every row loaded is written.
            self.written = self.rows;
        }
        let steps: Vec<Step> = self.plan.steps_of(stage).cloned().collect();
        let mut carried = false;
        for step in &steps {
            if !matches!(step.run, Run::Verify | Run::Carry | Run::Watermark { .. }) {
                log::debug!("{}", step.sql);
            }
            match &step.run {
                Run::Execute => sp.batch_execute(&step.sql).on(&self.name)?,
                Run::Load => unreachable!("the load runs the COPY"),
                Run::Unique { explain } => self.unique(sp, &step.sql, *explain)?,
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
                Run::Merge { dedupe, locate } => {
                    let merged =
                        isolated(sp, |t| self.merge(t, &step.sql, dedupe)).on(&self.name)?;
                    self.written = self.or_locate(sp, merged, locate)?;
                }
                Run::Insert { locate: None } => {
                    self.written = sp.execute(&step.sql, &[]).on(&self.name)?;
                }
                Run::Insert {
                    locate: Some(locate),
                } => {
                    let inserted = isolated(sp, |t| t.execute(&step.sql, &[])).on(&self.name)?;
                    self.written = self.or_locate(sp, inserted, locate)?;
                }
                Run::KeyAfterDedupe { dedupe } => self.key_after_dedupe(sp, &step.sql, dedupe)?,
                Run::Carry => {
                    // Owner, grants and comments take no lock the call's locks
                    // block: they are read again, and given as they are now.
                    if !std::mem::replace(&mut carried, true) {
                        self.carry(sp)?;
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

    /// A statement that builds a unique key or index over the loaded rows, in
    /// a savepoint, so that a key violation can be explained from them
    /// before the call's savepoint goes.
    fn unique(&self, sp: &mut Transaction<'_>, sql: &str, explain: bool) -> Result<()> {
        let Err(e) =
            attempt(sp, &SqlState::UNIQUE_VIOLATION, |t| t.batch_execute(sql)).on(&self.name)?
        else {
            return Ok(());
        };
        let row = if explain {
            self.first_duplicate(sp).unwrap_or(None)
        } else {
            None
        };
        Err(Error::RowRejected {
            row,
            table: self.name.clone(),
            column: None,
            source: e,
        })
    }

    /// In a table this call created and loaded, the input position of the
    /// first row whose key an earlier row already had: rows of a new table
    /// are stored in the order they were loaded, so `ctid` order is input
    /// order (after the live rows copied first).
    fn first_duplicate(&self, sp: &mut Transaction<'_>) -> Result<Option<u64>, postgres::Error> {
        let row = sp.query_one(
            &sql::first_duplicate(self.def, &self.plan.copy_relname),
            &[],
        )?;
        Ok(row
            .get::<_, Option<i64>>(0)
            .and_then(|n| (n as u64).checked_sub(self.preloaded)))
    }

    /// The merge, in a savepoint: most batches have no key twice and merge
    /// as they are. A key twice makes `ON CONFLICT DO UPDATE` fail ("cannot
    /// affect row a second time"); then `dedupe` runs, keeping the last row
    /// of each key. Returns the rows written.
    fn merge(
        &self,
        sp: &mut Transaction<'_>,
        sql: &str,
        dedupe: &str,
    ) -> Result<u64, postgres::Error> {
        log::info!("{}: merging {} staged rows", self.name, self.rows);
        match attempt(sp, &SqlState::CARDINALITY_VIOLATION, |t| {
            t.execute(sql, &[])
        })? {
            Ok(written) => Ok(written),
            Err(_) => {
                log::info!(
                    "{}: keys repeat in the batch: the last row of each wins",
                    self.name
                );
                log::debug!("{dedupe}");
                sp.execute(dedupe, &[])
            }
        }
    }

    /// The result of a statement over the staged rows; when a row made it
    /// fail (SQLSTATE class 22, data exception, or 23, integrity
    /// violation), the error names that row's input position, found with
    /// `locate` ([`Run::Merge`]).
    fn or_locate(
        &self,
        sp: &mut Transaction<'_>,
        result: Result<u64, postgres::Error>,
        locate: &str,
    ) -> Result<u64> {
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

    /// The key of an upsert by rebuild's new table. The live rows are unique
    /// in the key (the live table has the same one) and none shares a key
    /// with a loaded row, so a duplicate is always a key the input repeats:
    /// `dedupe` keeps the last row of each, and the key is built again.
    fn key_after_dedupe(
        &mut self,
        sp: &mut Transaction<'_>,
        sql: &str,
        dedupe: &str,
    ) -> Result<()> {
        let keyed = attempt(sp, &SqlState::UNIQUE_VIOLATION, |t| t.batch_execute(sql));
        if keyed.on(&self.name)?.is_ok() {
            return Ok(());
        }
        log::info!(
            "{}: keys repeat in the batch: the last row of each wins",
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
            self.unique(sp, &sql, false)?;
        }
        Ok(())
    }
}
