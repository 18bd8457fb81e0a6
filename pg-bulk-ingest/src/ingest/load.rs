//! The load: the input streamed into its tables' COPYs, and a server error
//! during a COPY mapped back to the input position of the row it names.

use std::io::Write;

use postgres::error::SqlState;
use postgres::{CopyInWriter, Transaction};

use super::append::Append;
use super::compare::Skipped;
use super::execute::Table;
use super::key_order::KeyOrder;
use crate::copy::{write_tuple, COPY_HEADER, COPY_TRAILER};
use crate::encode::FieldError;
use crate::error::{Error, Result};
use crate::plan::Run;
use crate::row::{AsRow, BulkRows};
use crate::table::TableDef;

/// Bytes encoded before they are handed to the connection. Large enough that
/// the per-message overhead vanishes, small enough to stay in cache.
const CHUNK: usize = 256 * 1024;

/// Bytes of rows of a table other than the one being COPYed that wait before
/// that table gets its turn.
const WAITING_CHUNK: usize = 1024 * 1024;

/// Runs of input positions one COPY keeps (each 16 bytes); past this, the COPY
/// is finished and a new one started, so memory stays bounded whatever the mix.
pub(super) const MAX_RUNS: usize = 64 * 1024;

/// How often the progress callback is offered the row count, in rows.
pub(super) const PROGRESS_CHECK_ROWS: u64 = 4096;

/// Streams the rows into their tables' COPYs (each table's [`Stage::Load`]
/// step). One COPY is open at a time: rows of its table go straight into it;
/// rows of other tables wait in a bounded buffer of their own, and when one
/// fills, the open COPY is finished and that table's COPY opened (starting
/// with its buffer). With one table, this is a single COPY of the whole input;
/// an upsert whose plan compares rows first ([`Run::Compare`]) stages only
/// the rows that differ from the stored ones (see [`compare`](super::compare)).
/// `progress` is offered the row count every few thousand rows. Returns the
/// number of rows.
pub(crate) fn load<I>(
    sp: &mut Transaction<'_>,
    tables: &mut [Table],
    rows: I,
    progress: Option<&mut dyn FnMut(u64)>,
) -> Result<u64>
where
    I: IntoIterator,
    I::Item: AsRow,
{
    let rows = rows.into_iter();
    if let [table] = tables {
        if let Some(select) = table.plan.load_sql(&Run::Compare).map(str::to_owned) {
            return super::compare::load(sp, table, rows, progress, &select);
        }
    }
    // Where a staged step would check for a repeated key, whether the keys
    // come in increasing order, which makes the check needless.
    let expected = rows.size_hint().0;
    let start = Start {
        position: 0,
        staged: Batch::default(),
        orders: tables.iter().map(|t| key_order(t, expected)).collect(),
        skipped: None,
        append: None,
    };
    stream(sp, tables, rows, progress, start)
}

/// Where [`stream`] starts: the input position of its first row, rows of the
/// first table encoded and waiting to be sent, the watches over the tables'
/// keys, and the keys the first table's rows were not staged for.
pub(super) struct Start<'a> {
    pub position: u64,
    pub staged: Batch,
    pub orders: Vec<Option<KeyOrder>>,
    pub skipped: Option<&'a mut Skipped>,
    /// The first table's rows to append rather than stage.
    pub append: Option<&'a mut Append>,
}

/// [`load`], from `start`.
pub(super) fn stream<I>(
    sp: &mut Transaction<'_>,
    tables: &mut [Table],
    mut rows: I,
    mut progress: Option<&mut dyn FnMut(u64)>,
    start: Start<'_>,
) -> Result<u64>
where
    I: Iterator,
    I::Item: AsRow,
{
    let Start {
        mut position,
        staged,
        mut orders,
        mut skipped,
        mut append,
    } = start;
    let mut waiting: Vec<Batch> = tables.iter().map(|_| Batch::default()).collect();
    if let Some(first) = waiting.first_mut() {
        *first = staged;
    }
    let mut buf = Vec::with_capacity(CHUNK + 64 * 1024);
    let mut current = 0;
    loop {
        let table = &tables[current];
        log::debug!("{}: COPY from row {position}", table.name);
        let mut copy = start_copy(sp, table)?;
        // This COPY's rows, as runs of input positions, to name a row the
        // server rejects by its COPY line.
        let mut lines = std::mem::take(&mut waiting[current]);
        buf.clear();
        buf.extend_from_slice(COPY_HEADER);
        buf.append(&mut lines.bytes);
        let mut next = None;
        for item in rows.by_ref() {
            let row = item.as_row();
            let index = row.table_index();
            if index >= tables.len() {
                return Err(Error::Unsupported {
                    table: tables[current].name.clone(),
                    what: "a row whose table_index is out of range",
                });
            }
            let out = if index == current {
                &mut buf
            } else {
                &mut waiting[index].bytes
            };
            let staged = tables[index].plan.position_column.is_some();
            let start = out.len();
            if let Err(e) = write_tuple(out, row, staged.then_some(position)) {
                return Err(invalid(&tables[index], position, e));
            }
            let appended = append
                .as_deref_mut()
                .filter(|_| index == 0)
                .and_then(|a| a.take(&out[start..], position).then_some(a));
            if let Some(append) = appended {
                out.truncate(start);
                tables[index].rows += 1;
                position += 1;
                if position.is_multiple_of(PROGRESS_CHECK_ROWS) {
                    if let Some(progress) = progress.as_mut() {
                        progress(position);
                    }
                }
                if append.full() {
                    next = Some(current);
                    break;
                }
                continue;
            }
            if let Some(order) = orders[index].as_mut() {
                order.observe(&out[start..]);
            }
            if let Some(skipped) = skipped.as_deref_mut().filter(|_| index == 0) {
                skipped.observe(&out[start..]);
            }
            if index == current {
                lines.push(position);
            } else {
                waiting[index].push(position);
            }
            tables[index].rows += 1;
            position += 1;
            if index == current {
                if buf.len() >= CHUNK {
                    if let Err(e) = copy.write_all(&buf) {
                        return Err(copy_failed(&tables[current], copy, e, &lines));
                    }
                    buf.clear();
                }
                if lines.runs.len() >= MAX_RUNS {
                    next = Some(current);
                    break;
                }
            } else if waiting[index].bytes.len() >= WAITING_CHUNK {
                next = Some(index);
                break;
            }
            if position.is_multiple_of(PROGRESS_CHECK_ROWS) {
                if let Some(progress) = progress.as_mut() {
                    progress(position);
                }
            }
        }
        buf.extend_from_slice(COPY_TRAILER);
        let table = &tables[current];
        if let Err(e) = copy.write_all(&buf) {
            return Err(copy_failed(table, copy, e, &lines));
        }
        if let Err(e) = copy.finish() {
            return Err(rejected(table, e, &lines));
        }
        if let Some(append) = append.as_deref_mut() {
            if next.is_none() || append.full() {
                append.flush(sp, &tables[0], &mut waiting[0], orders[0].as_mut())?;
            }
        }
        current = match next {
            Some(index) => index,
            // The input is exhausted: what still waits gets a COPY each.
            None => match waiting.iter().position(|w| !w.runs.is_empty()) {
                Some(index) => index,
                None => break,
            },
        };
    }
    for (table, order) in tables.iter_mut().zip(orders) {
        table.keys_increasing = order.as_ref().map(|o| o.increasing());
        table.keys_distinct = order.is_some_and(|o| o.distinct());
        log::info!("{}: {} rows loaded", table.name, table.rows);
    }
    Ok(position)
}

/// The error for the row at input `position`, which `table`'s encoder
/// refused.
pub(super) fn invalid(table: &Table, position: u64, e: FieldError) -> Error {
    Error::InvalidValue {
        row: position,
        table: table.name.clone(),
        column: table
            .def
            .columns
            .get(e.column)
            .map_or("?", |c| c.name)
            .to_owned(),
        reason: e.error.reason().to_owned(),
        value: e.error.value().map(str::to_owned),
    }
}

/// Opens the COPY of `table`'s load step.
pub(super) fn start_copy<'a>(
    sp: &'a mut Transaction<'_>,
    table: &Table,
) -> Result<CopyInWriter<'a>> {
    let sql = table.plan.load_sql(&Run::Load).expect("every plan loads");
    log::debug!("{sql}");
    sp.copy_in(sql)
        .map_err(|e| rejected(table, e, &Batch::default()))
}

/// Encoded rows of one table, with their input positions as runs.
#[derive(Default)]
pub(super) struct Batch {
    pub bytes: Vec<u8>,
    /// `(first position, count)` of consecutive input positions.
    pub runs: Vec<(u64, u64)>,
}

impl Batch {
    pub(super) fn push(&mut self, position: u64) {
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

/// Sends `bytes` (whole tuples) as all of `copy`, framed by the COPY's
/// header and trailer, and finishes it: the rows' count, or the server's
/// reason. The bytes go in pieces of [`CHUNK`]: the connection copies what
/// it is given into its buffers, so a piece at a time keeps those copies
/// small.
pub(super) fn copy_all(mut copy: CopyInWriter<'_>, bytes: &[u8]) -> Result<u64, postgres::Error> {
    fn write(copy: &mut CopyInWriter<'_>, bytes: &[u8]) -> std::io::Result<()> {
        copy.write_all(COPY_HEADER)?;
        for piece in bytes.chunks(CHUNK) {
            copy.write_all(piece)?;
        }
        copy.write_all(COPY_TRAILER)
    }
    match write(&mut copy, bytes) {
        Err(e) => Err(copy_error(copy, e)),
        Ok(()) => copy.finish(),
    }
}

/// The COPY failed while sending: the server's reason comes with `finish`.
pub(super) fn copy_failed(
    table: &Table,
    copy: CopyInWriter<'_>,
    e: std::io::Error,
    lines: &Batch,
) -> Error {
    rejected(table, copy_error(copy, e), lines)
}

/// The server's reason for a COPY whose write failed with `e`.
fn copy_error(copy: CopyInWriter<'_>, e: std::io::Error) -> postgres::Error {
    let sent = e
        .into_inner()
        .and_then(|inner| inner.downcast::<postgres::Error>().ok());
    match (copy.finish(), sent) {
        (Err(e), _) if e.as_db_error().is_some() => e,
        (_, Some(e)) => *e,
        (Err(e), None) => e,
        (Ok(_), None) => unreachable!("a COPY whose write failed cannot finish"),
    }
}

/// Maps a server error during the COPY to the row and column it names.
pub(super) fn rejected(table: &Table, source: postgres::Error, lines: &Batch) -> Error {
    rejected_in(table, &table.plan.copy_relname, source, lines)
}

/// [`rejected`], for a COPY into `relname` (as the error's context names it).
pub(super) fn rejected_in(
    table: &Table,
    relname: &str,
    source: postgres::Error,
    lines: &Batch,
) -> Error {
    if source.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
        return Error::LockTimeout {
            table: table.name.clone(),
            source,
        };
    }
    let Some((line, rest)) = source
        .as_db_error()
        .and_then(|db| copy_line(db.where_()?, relname))
    else {
        return Error::server(table.name.clone(), source);
    };
    let column = source
        .as_db_error()
        .and_then(|db| db.column())
        .or_else(|| copy_column(rest, table.def))
        .map(str::to_owned);
    Error::RowRejected {
        row: lines.position(line),
        table: table.name.clone(),
        column,
        source,
    }
}

/// From a COPY error's context, the 1-based line and the text after it.
/// `relname` is the table's name as the context gives it (it may itself hold
/// ", line " or digits).
///
/// The context is `COPY orders, line 7, column amount: "…"` in English, and
/// translated where the server's `lc_messages` is another language (`COPY
/// orders, Zeile 7, Spalte amount: »…«`, `ordersのCOPY、行 7、列 amount`); in
/// every translation PostgreSQL ships, the table's name comes first and the
/// line number is the first number after it. So the context line that names
/// the table is found, and the first run of digits after the name is the line.
fn copy_line<'c>(context: &'c str, relname: &str) -> Option<(u64, &'c str)> {
    for line in context.lines() {
        // The name as a word of its own: at the start or after a space.
        for (at, _) in line.match_indices(relname) {
            if !matches!(line[..at].chars().next_back(), None | Some(' ')) {
                continue;
            }
            let rest = &line[at + relname.len()..];
            let Some(start) = rest.find(|c: char| c.is_ascii_digit()) else {
                continue;
            };
            let digits = rest[start..].bytes().take_while(u8::is_ascii_digit).count();
            if let Ok(number) = rest[start..start + digits].parse() {
                return Some((number, &rest[start + digits..]));
            }
        }
    }
    None
}

/// The column named after the line (`, column amount: …`, `, Spalte amount:
/// …`, `、列 amount`), matched against the table's columns (names may hold
/// any character): the declared name that comes first in `rest` as a word of
/// its own (after a space or the start, before a colon, a space or the end),
/// the longest where several start there.
fn copy_column(rest: &str, def: &TableDef) -> Option<&'static str> {
    def.columns
        .iter()
        .map(|c| c.name)
        .filter_map(|name| {
            rest.match_indices(name)
                .find(|(at, _)| {
                    let before = rest[..*at].chars().next_back();
                    let after = rest[at + name.len()..].chars().next();
                    matches!(before, None | Some(' ')) && matches!(after, None | Some(':' | ' '))
                })
                .map(|(at, _)| (at, name))
        })
        .min_by_key(|&(at, name)| (at, std::cmp::Reverse(name.len())))
        .map(|(_, name)| name)
}

/// A watch over the keys of `table`'s rows when one of its staged steps
/// checks for a repeated key first.
pub(super) fn key_order(table: &Table, rows: usize) -> Option<KeyOrder> {
    let checks = table
        .plan
        .steps()
        .iter()
        .any(|s| matches!(&s.run, Run::Staged(staged) if staged.check_first.is_some()));
    let key = table.plan.keys.key;
    (checks && table.plan.position_column.is_some())
        .then(|| KeyOrder::new(table.def, key, true, rows))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::ODD_NAMES as DEF;

    #[test]
    fn parses_translated_copy_context() {
        // As PostgreSQL's translations of `COPY %s, line %llu, column %s`
        // print it.
        for context in [
            "COPY t, Zeile 7, Spalte a: »x«",
            "COPY t, ligne 7, colonne a : « x »",
            "tのCOPY、行 7、列 a: \"x\"",
            "t 복사, 7번째 줄, a 열: \"x\"",
            "COPY t, строка 7, столбец a: \"x\"",
            "COPY t, 行 7, 列 a: \"x\"",
        ] {
            let (line, rest) = copy_line(context, "t").expect(context);
            assert_eq!((line, copy_column(rest, &DEF)), (7, Some("a")), "{context}");
        }
        let (line, rest) = copy_line("COPY t, Zeile 7: »x«", "t").unwrap();
        assert_eq!((line, copy_column(rest, &DEF)), (7, None));
        // A table name with digits in it.
        let (line, _) = copy_line("COPY t2024, Zeile 9", "t2024").unwrap();
        assert_eq!(line, 9);
    }

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
    fn positions_come_from_runs() {
        let mut batch = Batch::default();
        for p in [3, 4, 5, 9, 10, 20] {
            batch.push(p);
        }
        assert_eq!(batch.runs, [(3, 3), (9, 2), (20, 1)]);
        let found: Vec<Option<u64>> = (1..=7).map(|line| batch.position(line)).collect();
        assert_eq!(
            found,
            [Some(3), Some(4), Some(5), Some(9), Some(10), Some(20), None]
        );
    }
}
