//! An upsert's rows whose key is above the greatest stored key
//! ([`Run::Append`](crate::plan::Run)): new keys, which the merge would
//! insert. The first row of each such key goes straight into the table in a
//! COPY of its own (the first of [`FIRST_APPEND_BYTES`] of rows, each next
//! twice the last up to [`APPEND_BYTES`], between the COPYs into the staging
//! table) instead of being staged and merged: the staging table's write and
//! the merge's probe of the key are saved, and the table gets the COPY's
//! batched inserts instead of the merge's one at a time.
//!
//! Why it changes nothing else: the plan appends only where such a COPY does
//! what the `MERGE`'s insert would do (no user trigger, no rule, no row level
//! security, an immediate key). The last row of a key still wins: a key's
//! first row is appended only if no row before it had the key (one bit per
//! key above the greatest, set once appended), so every later row of the key
//! is staged, and the merge updates the appended row with the last of them.
//! The report counts such a key once as inserted and its other rows as
//! duplicates ([`Run::AppendRepeats`](crate::plan::Run), given the keys as a
//! bitmap). Each COPY runs in a savepoint. When it fails on a row (a data
//! exception or an integrity violation: a key another session stored after
//! the greatest key was read, a check or a foreign key the row fails where
//! the merge would have taken a later row of its key, or its parent row
//! staged), the savepoint is rolled back, its rows are staged instead, and
//! nothing more is appended: the merge (and its fallback, `INSERT ... ON
//! CONFLICT`) takes them as before, and names the row if it fails too. At
//! most [`MAX_APPEND_COPIES`] COPYs are sent (each savepoint that writes
//! is a subtransaction); the rows after them are staged.

use postgres::error::SqlState;
use postgres::types::Type;
use postgres::Transaction;

use super::compare::{fields, get, key_of, put};
use super::execute::Table;
use super::key_order::KeyOrder;
use super::load::{self, Batch, MAX_RUNS};
use crate::error::{OnTable, Result};
use crate::plan::Run;

/// Bytes of rows appended in the first COPY (kept until it is done, to be
/// staged instead if it fails).
const FIRST_APPEND_BYTES: usize = 1 << 20;

/// Bytes of rows appended in one COPY, at most: each COPY takes twice the
/// last one's, up to this.
const APPEND_BYTES: usize = 2 << 20;

/// COPYs appended in one call, at most: each one's savepoint is a
/// subtransaction, and PostgreSQL keeps 64 of them per session in shared
/// memory (`PGPROC_MAX_CACHED_SUBXIDS`); past that, every other session's
/// snapshot looks them up in `pg_subtrans` until the caller commits.
const MAX_APPEND_COPIES: u32 = 32;

/// Keys above the greatest stored one that can be appended: one bit each
/// (1 MiB at most). The rows of keys further above are staged.
const WINDOW: u64 = 1 << 23;

/// The rows of one table to append, and the keys appended.
pub(super) struct Append {
    /// The COPY into the table ([`Run::Append`]).
    copy: String,
    /// The count of appended keys a later row repeats
    /// ([`Run::AppendRepeats`]).
    count_repeats: String,
    /// The table's name as a COPY error's context gives it.
    relname: String,
    /// The first key that can be appended: above the greatest stored key
    /// (`None` until the first row when no row is stored).
    base: Option<i64>,
    /// The key's tuple field (the staging position is field 0) and width.
    field: usize,
    width: usize,
    /// Whether rows are still appended (not after a COPY a row failed, nor
    /// after [`MAX_APPEND_COPIES`]).
    open: bool,
    /// Rows waiting for their COPY, without the staging position.
    pending: Batch,
    /// Bytes of rows the next COPY takes.
    limit: usize,
    /// COPYs sent.
    copies: u32,
    /// One bit per key from `base`: appended (and committed or pending).
    appended: Vec<u64>,
    /// One bit per key from `base`: appended and repeated by a later row.
    repeated: Vec<u64>,
    /// The greatest stored key when the load began.
    pub stored_max: Option<i64>,
    /// Rows appended so far.
    pub rows: u64,
    /// Appended keys a later row repeats.
    pub repeats: u64,
}

impl Append {
    /// The append of `table`'s rows when its plan has one: reads the
    /// greatest stored key ([`Run::StoredMax`]). `index` is the key's place
    /// among the sent columns, `width` its width in bytes.
    pub(super) fn start(
        sp: &mut Transaction<'_>,
        table: &Table,
        index: usize,
        width: usize,
    ) -> Result<Option<Append>> {
        let plan = &table.plan;
        let steps = [Run::StoredMax, Run::Append, Run::AppendRepeats].map(|r| plan.load_sql(&r));
        let [Some(max), Some(copy), Some(repeats)] = steps else {
            return Ok(None);
        };
        log::debug!("{max}");
        // Unprepared: one round trip.
        let stored_max: Option<i64> = sp.query_typed_one(max, &[]).on(&table.name)?.get(0);
        let statements = [copy, repeats].map(str::to_owned);
        let relname = table.def.table.to_owned();
        Ok(Some(Append::new(
            statements,
            relname,
            stored_max,
            index + 1,
            width,
        )))
    }

    /// An append with `statements` ([`Run::Append`]'s COPY and
    /// [`Run::AppendRepeats`]'s count) into `relname`, above `stored_max`,
    /// of staged tuples whose key is field `field`, `width` bytes wide.
    fn new(
        statements: [String; 2],
        relname: String,
        stored_max: Option<i64>,
        field: usize,
        width: usize,
    ) -> Append {
        let [copy, count_repeats] = statements;
        Append {
            copy,
            count_repeats,
            relname,
            base: stored_max.map(|m| m.saturating_add(1)),
            field,
            width,
            open: stored_max != Some(i64::MAX),
            pending: Batch::default(),
            limit: FIRST_APPEND_BYTES,
            copies: 0,
            appended: Vec::new(),
            repeated: Vec::new(),
            stored_max,
            rows: 0,
            repeats: 0,
        }
    }

    /// The key's bit for `key`, when it is in the window above the
    /// greatest stored key.
    fn bit(&mut self, key: i64) -> Option<u64> {
        let base = *self.base.get_or_insert(key);
        let offset = u64::try_from(i128::from(key) - i128::from(base)).ok()?;
        (offset < WINDOW).then_some(offset)
    }

    /// Takes the staged `tuple` (position first) of the row at input
    /// `position` when it is to be appended: it then waits, without its
    /// position, for [`flush`](Append::flush). A row that repeats an
    /// appended key is not taken, and is counted.
    pub(super) fn take(&mut self, tuple: &[u8], position: u64) -> bool {
        let Some(key) = key_of(tuple, self.field, self.width) else {
            return false;
        };
        if self.stored_max.is_some_and(|max| key <= max) {
            return false;
        }
        let Some(bit) = self.bit(key) else {
            return false;
        };
        if get(&self.appended, bit) {
            if !get(&self.repeated, bit) {
                put(&mut self.repeated, bit, true);
                self.repeats += 1;
            }
            return false;
        }
        if !self.open {
            return false;
        }
        put(&mut self.appended, bit, true);
        // Room for the largest COPY's rows, reserved once and exactly (not
        // doubled as it grows): one row past the limit ends a COPY.
        if self.pending.bytes.capacity() == 0 {
            self.pending.bytes.reserve_exact(APPEND_BYTES + 64 * 1024);
        }
        unstage(tuple, &mut self.pending.bytes);
        self.pending.push(position);
        true
    }

    /// Whether the rows waiting make a COPY of their own.
    pub(super) fn full(&self) -> bool {
        self.pending.bytes.len() >= self.limit || self.pending.runs.len() >= MAX_RUNS
    }

    /// COPYs the rows waiting into the table, in a savepoint. When a row
    /// fails it (SQLSTATE class 22 or 23), the savepoint is rolled back and
    /// the rows are added to `staged` (with their positions, watched by
    /// `order`), and nothing more is appended. Any other error names the
    /// row where the server does.
    pub(super) fn flush(
        &mut self,
        sp: &mut Transaction<'_>,
        table: &Table,
        staged: &mut Batch,
        order: Option<&mut KeyOrder>,
    ) -> Result<()> {
        if self.pending.runs.is_empty() {
            return Ok(());
        }
        // Taken for the COPY, and put back empty: its memory serves again.
        let mut lines = std::mem::take(&mut self.pending);
        let result = self.copy(sp, table, &lines, staged, order);
        lines.bytes.clear();
        lines.runs.clear();
        self.pending = lines;
        result
    }

    /// [`flush`](Append::flush) of `lines`.
    fn copy(
        &mut self,
        sp: &mut Transaction<'_>,
        table: &Table,
        lines: &Batch,
        staged: &mut Batch,
        order: Option<&mut KeyOrder>,
    ) -> Result<()> {
        log::debug!("{}", self.copy);
        let mut savepoint = sp.transaction().on(&table.name)?;
        let done = savepoint
            .copy_in(self.copy.as_str())
            .and_then(|copy| load::copy_all(copy, &lines.bytes));
        self.copies += 1;
        self.limit = (2 * self.limit).min(APPEND_BYTES);
        if self.copies >= MAX_APPEND_COPIES {
            self.open = false;
        }
        let by_row = |e: &postgres::Error| {
            e.code()
                .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("23"))
        };
        match done {
            Ok(count) => {
                savepoint.commit().on(&table.name)?;
                self.rows += count;
                Ok(())
            }
            Err(e) if by_row(&e) => {
                savepoint.rollback().on(&table.name)?;
                log::info!(
                    "{}: rows of new keys, COPYed into the table, were refused ({}): \
                     they are staged instead, and merged",
                    table.name,
                    e.code().map_or("", SqlState::code)
                );
                self.open = false;
                match self.restage(lines, staged, order) {
                    true => Ok(()),
                    // Never for tuples this crate wrote; were it so, the
                    // call fails rather than lose a row.
                    false => Err(load::rejected_in(table, &self.relname, e, lines)),
                }
            }
            Err(e) => {
                // The call fails and its own savepoint goes back: the
                // error that says why matters, not this rollback's.
                let _ = savepoint.rollback();
                Err(load::rejected_in(table, &self.relname, e, lines))
            }
        }
    }

    /// After the load: the rows appended, and, where a later row repeated
    /// an appended key, those keys and the ones whose last row is equal
    /// ([`Run::AppendRepeats`], given the window's first and last keys and
    /// the bitmap of the repeated keys: bit `n` for key `base + n`, as
    /// `get_bit` numbers a `bytea`'s bits), into `table`'s counts.
    pub(super) fn finish(self, sp: &mut Transaction<'_>, table: &mut Table) -> Result<()> {
        table.appended = self.rows;
        if self.repeats == 0 || self.rows == 0 {
            return Ok(());
        }
        log::debug!("{}", self.count_repeats);
        let base = self.base.unwrap_or(0);
        let bits = 64 * self.repeated.len() as i64;
        let last = base.saturating_add(bits - 1);
        let bytes: Vec<u8> = self.repeated.iter().flat_map(|w| w.to_le_bytes()).collect();
        let row = sp
            .query_typed_one(
                self.count_repeats.as_str(),
                &[
                    (&base, Type::INT8),
                    (&last, Type::INT8),
                    (&bytes, Type::BYTEA),
                ],
            )
            .on(&table.name)?;
        table.appended_repeated = row.get::<_, i64>(0) as u64;
        table.appended_equal = row.get::<_, i64>(1) as u64;
        Ok(())
    }

    /// Stages the rows of `lines` (their positions put back first), and
    /// clears their keys' bits: they were not appended.
    /// Returns whether every row was staged (`false`: a tuple could not be
    /// read back).
    fn restage(
        &mut self,
        lines: &Batch,
        staged: &mut Batch,
        mut order: Option<&mut KeyOrder>,
    ) -> bool {
        let mut at = 0;
        let positions = lines
            .runs
            .iter()
            .flat_map(|&(first, count)| first..first + count);
        for position in positions {
            let Some(end) = tuple_end(&lines.bytes[at..]).map(|n| at + n) else {
                return false;
            };
            let start = staged.bytes.len();
            restage(&lines.bytes[at..end], position, &mut staged.bytes);
            if let Some(order) = order.as_deref_mut() {
                order.observe(&staged.bytes[start..]);
            }
            staged.push(position);
            if let Some(bit) =
                key_of(&staged.bytes[start..], self.field, self.width).and_then(|key| self.bit(key))
            {
                put(&mut self.appended, bit, false);
                if get(&self.repeated, bit) {
                    put(&mut self.repeated, bit, false);
                    self.repeats -= 1;
                }
            }
            at = end;
        }
        at == lines.bytes.len()
    }
}

/// The length of the binary COPY tuple at the start of `bytes`, as
/// [`fields`] reads it.
fn tuple_end(bytes: &[u8]) -> Option<usize> {
    let mut end = bytes.get(..2).map(|_| 2)?;
    for field in fields(bytes) {
        end += 4 + field?.map_or(0, <[u8]>::len);
    }
    Some(end)
}

/// Writes the staged `tuple` without its first field (the position).
fn unstage(tuple: &[u8], out: &mut Vec<u8>) {
    let count = i16::from_be_bytes([tuple[0], tuple[1]]);
    out.extend_from_slice(&(count - 1).to_be_bytes());
    // The position: a length of 8, then 8 bytes.
    out.extend_from_slice(&tuple[2 + 4 + 8..]);
}

/// Writes `tuple` (as appended) with the staging `position` first.
fn restage(tuple: &[u8], position: u64, out: &mut Vec<u8>) {
    let count = i16::from_be_bytes([tuple[0], tuple[1]]);
    out.extend_from_slice(&(count + 1).to_be_bytes());
    out.extend_from_slice(&8i32.to_be_bytes());
    out.extend_from_slice(&(position as i64).to_be_bytes());
    out.extend_from_slice(&tuple[2..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A staged tuple: the position, then a `bigint` key, then a NULL.
    fn tuple(position: i64, key: i64) -> Vec<u8> {
        let mut out = 3i16.to_be_bytes().to_vec();
        for value in [position, key] {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&value.to_be_bytes());
        }
        out.extend_from_slice(&(-1i32).to_be_bytes());
        out
    }

    fn append(stored_max: Option<i64>) -> Append {
        Append::new(Default::default(), String::new(), stored_max, 1, 8)
    }

    #[test]
    fn the_first_row_of_each_new_key_is_taken_and_repeats_are_counted_once() {
        let mut a = append(Some(10));
        let keys = [5, 11, 12, 11, 10, 11, 12, 10 + WINDOW as i64 + 1, 13];
        let taken: Vec<bool> = keys
            .iter()
            .enumerate()
            .map(|(p, &k)| a.take(&tuple(p as i64, k), p as u64))
            .collect();
        assert_eq!(
            taken,
            [false, true, true, false, false, false, false, false, true]
        );
        // 11 and 12 repeat; 11 twice, counted once.
        assert_eq!(a.repeats, 2);
        assert_eq!(a.pending.runs, [(1, 2), (8, 1)]);
        // Unstaged, then staged again: the same bytes.
        let mut staged = Batch::default();
        let pending = std::mem::take(&mut a.pending);
        assert!(a.restage(&pending, &mut staged, None));
        let mut expected = tuple(1, 11);
        expected.extend(tuple(2, 12));
        expected.extend(tuple(8, 13));
        assert_eq!(staged.bytes, expected);
        assert_eq!(staged.runs, [(1, 2), (8, 1)]);
        // Staged again, the keys are no longer appended ones.
        assert!(!get(&a.appended, 1) && !get(&a.appended, 3));
    }

    #[test]
    fn an_empty_table_takes_keys_from_the_first_one_on() {
        let mut a = append(None);
        assert!(a.take(&tuple(0, -5), 0));
        assert!(a.take(&tuple(1, 7), 1));
        // Below the first key: outside the window, staged.
        assert!(!a.take(&tuple(2, -6), 2));
        assert!(!a.take(&tuple(3, i64::MAX), 3));
        assert!(!a.take(&tuple(4, 7), 4));
        assert_eq!(a.repeats, 1);
    }
}
