//! An upsert's comparison before staging ([`Run::Compare`](crate::plan::Run)):
//! the batch's rows are encoded in runs, of [`FIRST_RUN_ROWS`] first, each
//! twice the last up to [`RUN_ROWS`] (a batch that gains nothing by it
//! loses little: one short query); while their keys
//! (one integer column) increase, each run's stored rows are read back in key
//! order (one query: `key BETWEEN first AND last`, at most [`READ_FACTOR`]
//! times the run's rows), and a row whose every sent column has the bytes
//! PostgreSQL's binary output gives for the stored row is not staged. The
//! rest is staged, and merged as before.
//!
//! Why leaving such a row out changes nothing: the merge would decode the
//! same bytes into the same column type (binary input and output are
//! inverses), find the staged row equal to the stored one (`*<>`, which
//! compares binary images), and leave the stored row alone; being a
//! `MERGE` (the plan compares only then), it fires no trigger and checks no
//! constraint for that row either. A row that
//! compares different here for a reason the merge does not see (a value
//! sent in another form of the same image) is only staged for nothing.
//! The last row of a repeated key wins as before: rows are left out only
//! while the keys increase, so a later row of the same key comes after the
//! order broke and is staged, and it is the last one (its key is counted,
//! the row left out being a duplicate). Rows another session changes after
//! the read are as if this call had come first.
//!
//! The comparison stops, and the rest of the input streams into one COPY as
//! without it, after a run of which fewer than half the rows were equal
//! (what it costs is then not won back), once the keys stop increasing, or
//! once the keys left out make [`MAX_SKIPPED_RUNS`] runs.
//!
//! Where the plan appends ([`append`](super::append)), a row whose key is
//! above the greatest stored one is taken out before it joins a run (it
//! has no stored row to compare with), here and after the comparison
//! stops. Its key still counts in the order: once appended rows are in the
//! table, the query reads them too, so a later row of such a key must not
//! be compared with one; it comes after the order broke, and is staged.

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{FromSql, ToSql, Type};
use postgres::{Row, Transaction};

use super::append::Append;
use super::execute::Table;
use super::load::{self, Batch, Start, MAX_RUNS, PROGRESS_CHECK_ROWS};
use crate::copy::write_tuple;
use crate::error::{Error, OnTable, Result};
use crate::row::{AsRow, BulkRows};

/// Rows compared at once, at most: one query each.
const RUN_ROWS: usize = 8192;

/// Rows of the first run.
const FIRST_RUN_ROWS: usize = 1024;

/// The stored rows a run's query reads at most, per row of the run: a run
/// whose keys are sparse among the stored ones is compared in part.
const READ_FACTOR: i64 = 4;

/// Bytes of rows to stage kept before they are sent in a COPY of their own.
const FLUSH_BYTES: usize = 1 << 20;

/// Runs of consecutive keys left out, at most (16 bytes each).
const MAX_SKIPPED_RUNS: usize = 64 * 1024;

/// The keys of the rows left out, as runs of consecutive integers, and
/// how many of them a later row repeats (each counted once: one bit per key
/// left out marks it).
#[derive(Debug, Default)]
pub(super) struct Skipped {
    /// Tuple field of the key (the staging position is field 0) and its
    /// width in bytes.
    field: usize,
    width: usize,
    /// `(first, last)` keys, increasing and disjoint, and the number of keys
    /// in the runs before.
    runs: Vec<(i64, i64, u64)>,
    /// Keys left out.
    count: u64,
    /// One bit per key left out, in order: set once a later row repeats it.
    hit: Vec<u64>,
    /// Keys left out that a later row repeats.
    repeated: u64,
}

impl Skipped {
    fn push(&mut self, key: i64) {
        match self.runs.last_mut() {
            Some((_, last, _)) if last.checked_add(1) == Some(key) => *last = key,
            _ => self.runs.push((key, key, self.count)),
        }
        self.count += 1;
    }

    /// Takes the key of a tuple staged after the order broke.
    pub(super) fn observe(&mut self, tuple: &[u8]) {
        let Some(key) = key_of(tuple, self.field, self.width) else {
            return;
        };
        let after = self.runs.partition_point(|&(first, _, _)| first <= key);
        let Some(&(first, last, before)) = after.checked_sub(1).map(|r| &self.runs[r]) else {
            return;
        };
        if key > last {
            return;
        }
        let bit = before + key.abs_diff(first);
        if !get(&self.hit, bit) {
            put(&mut self.hit, bit, true);
            self.repeated += 1;
        }
    }
}

/// Whether bit `bit` of `bits` is set.
pub(super) fn get(bits: &[u64], bit: u64) -> bool {
    bits.get((bit / 64) as usize)
        .is_some_and(|w| w & (1 << (bit % 64)) != 0)
}

/// Sets or clears bit `bit` of `bits`, growing them as needed.
pub(super) fn put(bits: &mut Vec<u64>, bit: u64, on: bool) {
    let word = (bit / 64) as usize;
    if bits.len() <= word {
        bits.resize(word + 1, 0);
    }
    match on {
        true => bits[word] |= 1 << (bit % 64),
        false => bits[word] &= !(1 << (bit % 64)),
    }
}

/// The binary COPY fields of `tuple` (field count, then each field's
/// length, -1 for NULL, and bytes); `None` ends it early on a short tuple.
pub(super) fn fields(tuple: &[u8]) -> impl Iterator<Item = Option<Option<&[u8]>>> + '_ {
    let count = tuple
        .get(..2)
        .map_or(0, |c| i16::from_be_bytes([c[0], c[1]]).max(0) as usize);
    let mut at = 2;
    (0..count).map(move |_| {
        let length = tuple.get(at..at + 4)?;
        let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
        at += 4;
        match usize::try_from(length) {
            Err(_) => Some(None),
            Ok(n) => {
                let bytes = tuple.get(at..at + n)?;
                at += n;
                Some(Some(bytes))
            }
        }
    })
}

/// A big-endian integer of `width` bytes.
fn integer(bytes: &[u8], width: usize) -> Option<i64> {
    match (width, bytes) {
        (2, &[a, b]) => Some(i16::from_be_bytes([a, b]).into()),
        (4, &[a, b, c, d]) => Some(i32::from_be_bytes([a, b, c, d]).into()),
        (8, b) => Some(i64::from_be_bytes(b.try_into().ok()?)),
        _ => None,
    }
}

/// The integer key in field `field` of `tuple`; `None` when NULL.
pub(super) fn key_of(tuple: &[u8], field: usize, width: usize) -> Option<i64> {
    integer(fields(tuple).nth(field)???, width)
}

/// A column's value as the server sent it: its binary bytes, or NULL.
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(
        _: &Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Whether the staged `tuple` (position first) has the bytes of `stored`
/// (the sent columns) in every column.
fn same(tuple: &[u8], stored: &Row) -> bool {
    let mut ours = fields(tuple).skip(1);
    for index in 0..stored.len() {
        let Ok(Raw(theirs)) = stored.try_get::<_, Raw<'_>>(index) else {
            return false;
        };
        match ours.next() {
            Some(Some(value)) if value == theirs => {}
            _ => return false,
        }
    }
    ours.next().is_none()
}

/// One row of a run: where its tuple is in the run's bytes, its input
/// position and its key.
struct Span {
    start: usize,
    end: usize,
    position: u64,
    key: i64,
}

/// The load of `table` (the only one of the call) with its plan's
/// [`Run::Compare`](crate::plan::Run) query `select`: see the module's
/// documentation. Returns the number of rows.
pub(super) fn load<I>(
    sp: &mut Transaction<'_>,
    table: &mut Table,
    mut rows: I,
    mut progress: Option<&mut dyn FnMut(u64)>,
    select: &str,
) -> Result<u64>
where
    I: Iterator,
    I::Item: AsRow,
{
    let Some((index, width)) = table.def.integer_key(table.plan.keys.key) else {
        unreachable!("the plan compares rows only on a key of one integer column")
    };
    let mut skipped = Skipped {
        field: index + 1,
        width,
        ..Skipped::default()
    };
    let mut order = load::key_order(table, rows.size_hint().0);
    let mut append = Append::start(sp, table, index, width)?;
    log::debug!("{select}");
    let statement = sp.prepare(select).on(&table.name)?;
    let mut staged = Batch::default();
    let mut run = Vec::new();
    let mut spans: Vec<Span> = Vec::with_capacity(RUN_ROWS);
    let mut position: u64 = 0;
    let mut last: Option<i64> = None;
    let mut run_rows = FIRST_RUN_ROWS;
    loop {
        run.clear();
        spans.clear();
        let mut increasing = true;
        for item in rows.by_ref() {
            let row = item.as_row();
            if row.table_index() != 0 {
                return Err(Error::Unsupported {
                    table: table.name.clone(),
                    what: "a row whose table_index is out of range",
                });
            }
            let start = run.len();
            if let Err(e) = write_tuple(&mut run, row, Some(position)) {
                return Err(load::invalid(table, position, e));
            }
            // Appended rows count in the order too: a later row of an
            // appended key breaks it, and is staged.
            let key = key_of(&run[start..], index + 1, width);
            match key {
                Some(key) if last.is_none_or(|last| key > last) => last = Some(key),
                _ => increasing = false,
            }
            let appended = append
                .as_mut()
                .and_then(|a| a.take(&run[start..], position).then_some(a));
            if let Some(append) = appended {
                run.truncate(start);
                if append.full() {
                    append.flush(sp, table, &mut staged, order.as_mut())?;
                }
            } else {
                spans.push(Span {
                    start,
                    end: run.len(),
                    position,
                    key: key.unwrap_or(i64::MIN),
                });
            }
            table.rows += 1;
            position += 1;
            if position.is_multiple_of(PROGRESS_CHECK_ROWS) {
                if let Some(progress) = progress.as_mut() {
                    progress(position);
                }
            }
            if spans.len() == run_rows || !increasing {
                break;
            }
        }
        let exhausted = spans.len() < run_rows && increasing;
        run_rows = (2 * run_rows).min(RUN_ROWS);
        let equal = match increasing && !spans.is_empty() {
            true => compare(sp, table, &statement, (&run, &spans), index, width)?,
            false => vec![false; spans.len()],
        };
        let mut left_out = 0;
        for (span, equal) in spans.iter().zip(&equal) {
            let tuple = &run[span.start..span.end];
            if *equal {
                skipped.push(span.key);
                left_out += 1;
                continue;
            }
            if !increasing {
                skipped.observe(tuple);
            }
            if let Some(order) = order.as_mut() {
                order.observe(tuple);
            }
            staged.bytes.extend_from_slice(tuple);
            staged.push(span.position);
        }
        table.unstaged += left_out;
        if exhausted {
            // Sent even with no row in it: the plan shows it.
            flush(sp, table, &mut staged)?;
            if let Some(append) = append.as_mut() {
                append.flush(sp, table, &mut staged, order.as_mut())?;
                if !staged.runs.is_empty() {
                    // Rows an append COPY refused.
                    flush(sp, table, &mut staged)?;
                }
            }
            table.keys_increasing = order.as_ref().map(|o| o.increasing());
            table.keys_distinct = order.is_some_and(|o| o.distinct());
            break;
        }
        if staged.bytes.len() >= FLUSH_BYTES || staged.runs.len() >= MAX_RUNS {
            flush(sp, table, &mut staged)?;
        }
        let worth_it = 2 * left_out as usize >= spans.len();
        if !increasing || !worth_it || skipped.runs.len() >= MAX_SKIPPED_RUNS {
            log::debug!(
                "{}: rows compared with the stored ones up to row {position} \
                 ({} equal, not staged); the rest is staged",
                table.name,
                table.unstaged
            );
            let watch = (!skipped.runs.is_empty()).then_some(&mut skipped);
            let start = Start {
                position,
                staged: std::mem::take(&mut staged),
                orders: vec![order],
                skipped: watch,
                append: append.as_mut(),
            };
            position = load::stream(sp, std::slice::from_mut(table), rows, progress, start)?;
            break;
        }
    }
    table.unstaged_repeated = skipped.repeated;
    if let Some(append) = append {
        append.finish(sp, table)?;
    }
    log::info!(
        "{}: {} of {} rows equal to the stored ones, not staged",
        table.name,
        table.unstaged,
        table.rows
    );
    Ok(position)
}

/// Which rows of a run (keys increasing) equal their stored rows: one query
/// over the run's key range. `index` is the key's place among the sent
/// columns, `width` its width in bytes.
fn compare(
    sp: &mut Transaction<'_>,
    table: &Table,
    statement: &postgres::Statement,
    (run, spans): (&[u8], &[Span]),
    index: usize,
    width: usize,
) -> Result<Vec<bool>> {
    let (first, last) = (spans[0].key, spans[spans.len() - 1].key);
    let limit = READ_FACTOR * spans.len() as i64;
    let params: [&dyn ToSql; 3] = [&first, &last, &limit];
    let mut stored = sp.query_raw(statement, params).on(&table.name)?;
    let mut equal = vec![false; spans.len()];
    let mut at = 0;
    // Row by row as they arrive: no more than one in memory.
    while let Some(row) = stored.next().on(&table.name)? {
        let key = row.try_get::<_, Raw<'_>>(index).ok().and_then(|r| r.0);
        let Some(key) = key.and_then(|b| integer(b, width)) else {
            continue;
        };
        while at < spans.len() && spans[at].key < key {
            at += 1;
        }
        if at == spans.len() {
            continue;
        }
        if spans[at].key == key {
            equal[at] = same(&run[spans[at].start..spans[at].end], &row);
            at += 1;
        }
    }
    Ok(equal)
}

/// Sends the rows waiting to be staged in a COPY of their own.
fn flush(sp: &mut Transaction<'_>, table: &Table, staged: &mut Batch) -> Result<()> {
    let lines = std::mem::take(staged);
    let copy = load::start_copy(sp, table)?;
    match load::copy_all(copy, &lines.bytes) {
        Ok(_) => Ok(()),
        Err(e) => Err(load::rejected(table, e, &lines)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A staged tuple: the position, then a `bigint` key.
    fn tuple(key: i64) -> Vec<u8> {
        let mut out = 2i16.to_be_bytes().to_vec();
        for value in [0, key] {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&value.to_be_bytes());
        }
        out
    }

    #[test]
    fn a_key_left_out_is_counted_once_however_often_it_repeats() {
        let mut skipped = Skipped {
            field: 1,
            width: 8,
            ..Skipped::default()
        };
        for key in (1..=5).chain(10..=12).chain([i64::MAX]) {
            skipped.push(key);
        }
        assert_eq!(
            skipped.runs,
            [(1, 5, 0), (10, 12, 5), (i64::MAX, i64::MAX, 8)]
        );
        for key in [3, 3, 11, 7, 13, 0, 5, 11, i64::MAX, i64::MIN] {
            skipped.observe(&tuple(key));
        }
        // 3, 11, 5 and i64::MAX; 7, 13, 0 and i64::MIN were not left out.
        assert_eq!(skipped.repeated, 4);
    }

    #[test]
    fn fields_and_keys_come_from_the_tuple() {
        let mut t = 3i16.to_be_bytes().to_vec();
        t.extend_from_slice(&(-1i32).to_be_bytes());
        t.extend_from_slice(&2i32.to_be_bytes());
        t.extend_from_slice(&(-7i16).to_be_bytes());
        t.extend_from_slice(&4i32.to_be_bytes());
        t.extend_from_slice(&9i32.to_be_bytes());
        let got: Vec<Option<Option<&[u8]>>> = fields(&t).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Some(None));
        assert_eq!(key_of(&t, 1, 2), Some(-7));
        assert_eq!(key_of(&t, 2, 4), Some(9));
        assert_eq!(key_of(&t, 0, 8), None, "NULL");
        // A short tuple ends the fields early.
        assert_eq!(key_of(&t[..t.len() - 1], 2, 4), None);
    }
}
