//! The counts of a staged statement: rows inserted, written and merged, as
//! the statement's [`Counting`] tells them.

use postgres::Transaction;

use crate::plan::Counting;

/// What a [`Run::Staged`](crate::plan::Run::Staged) statement reports: rows inserted, rows written
/// (inserted or updated), and rows merged after de-duplication (`None`:
/// every staged row).
pub(super) struct StagedCounts {
    pub inserted: u64,
    pub written: u64,
    pub merged: Option<u64>,
}

/// Runs a [`Run::Staged`](crate::plan::Run::Staged) statement and reads its counts as `counting` says.
pub(super) fn staged_counts(
    t: &mut Transaction<'_>,
    sql: &str,
    counting: Counting,
) -> Result<StagedCounts, postgres::Error> {
    match counting {
        Counting::Returning => {
            let row = t.query_typed_one(sql, &[])?;
            Ok(StagedCounts {
                inserted: row.get::<_, i64>(0) as u64,
                written: row.get::<_, i64>(1) as u64,
                merged: row.get::<_, Option<i64>>(2).map(|n| n as u64),
            })
        }
        Counting::Statistics => {
            // The counters, the statement, the counters again.
            let mut counters = Vec::new();
            let mut completed = Vec::new();
            for message in t.simple_query(sql)? {
                match message {
                    postgres::SimpleQueryMessage::Row(row) => counters.push(
                        row.get(0)
                            .and_then(|v| v.parse::<i64>().ok())
                            .unwrap_or_default(),
                    ),
                    postgres::SimpleQueryMessage::CommandComplete(n) => completed.push(n),
                    _ => {}
                }
            }
            let written = completed.get(1).copied().unwrap_or_default();
            let inserted = match counters[..] {
                [before, after] if (0..=written as i64).contains(&(after - before)) => {
                    (after - before) as u64
                }
                _ => {
                    log::warn!(
                        "the row counters around the merge read {counters:?} for {written} rows \
                         written: inserted and updated rows are not told apart"
                    );
                    0
                }
            };
            Ok(StagedCounts {
                inserted,
                written,
                merged: None,
            })
        }
        Counting::RowCount => {
            let n = t.execute(sql, &[])?;
            Ok(StagedCounts {
                inserted: n,
                written: n,
                merged: Some(n),
            })
        }
    }
}
