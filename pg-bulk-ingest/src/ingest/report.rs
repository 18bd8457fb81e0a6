//! What a call tells: its progress as it goes, and its report at the end.

use std::time::Duration;

use super::execute::{Counts, Table};
use crate::plan::Plan;

/// What a progress callback is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Rows taken from the input so far (the batch calls: from this batch).
    pub rows: u64,
    /// Time since the call started.
    pub elapsed: Duration,
    /// What the call is doing.
    pub phase: Phase,
    /// The batch loading, from 1 ([`Ingest::upsert_batches`](crate::Ingest::upsert_batches) and the
    /// others); 1 for a call of one batch.
    pub batch: u64,
    /// Rows taken from the input so far, in all batches (`rows` and those of
    /// the batches before).
    pub total_rows: u64,
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
    /// Per table, in the order of the row type's tables. For the batch calls:
    /// the rows of every batch committed, and the plan of the first batch
    /// (later batches only add rows).
    pub tables: Vec<TableReport>,
    /// Wall-clock time of the call.
    pub elapsed: Duration,
    /// Batches committed: 1 for a call of one batch, as many as the source
    /// gave for [`Ingest::upsert_batches`](crate::Ingest::upsert_batches) and the others.
    pub batches: u64,
    /// The high watermark the call stored (the last batch's), if any.
    pub high_watermark: Option<String>,
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
    /// Rows inserted or updated (a merge doesn't rewrite, or count, rows
    /// whose values were already the same; an upsert by rebuild writes every
    /// row of the batch). `insert` and `replace`: the rows that went in.
    pub written: u64,
    /// Rows inserted: the batch's rows whose key was not stored. `None` for
    /// an upsert by rebuild, which can't tell them from the updated ones.
    pub inserted: Option<u64>,
    /// Stored rows the upsert changed (`None` as for `inserted`).
    pub updated: Option<u64>,
    /// Stored rows the upsert matched and left alone, their values being the
    /// same already ([`OnConflict::Update`](crate::OnConflict::Update); `None` as for `inserted`).
    pub unchanged: Option<u64>,
    /// Rows of the batch not written because their key was stored
    /// ([`OnConflict::Skip`](crate::OnConflict::Skip)).
    pub skipped: u64,
    /// Rows of the batch left out because another row of it had their key
    /// ([`Duplicates::KeepLast`](crate::Duplicates::KeepLast) and [`Duplicates::KeepFirst`](crate::Duplicates::KeepFirst)).
    pub duplicates: u64,
    /// Stored rows a [`mirror`](crate::Ingest::mirror) deleted or marked, or
    /// a [`replace_slice`](crate::Ingest::replace_slice) deleted.
    pub deleted: u64,
    /// The plan the call executed for the table: what [`plan`](crate::plan())
    /// would have shown, or, for an `upsert` whose
    /// [`UpsertStrategy::Auto`](crate::UpsertStrategy::Auto) chose by the batch's length, the plan it
    /// chose (its fallback's, when the lock could not be had in time).
    pub plan: Plan,
}

impl Table {
    pub(super) fn report(self) -> TableReport {
        let counts = self.counts.or_else(|| {
            // Rows that went straight in (or were merged by a rebuild).
            (self.plan.path() != crate::plan::Path::UpsertByRebuild).then_some(Counts {
                inserted: self.written,
                ..Counts::default()
            })
        });
        TableReport {
            created: self.plan.path() == crate::plan::Path::Create,
            table: self.name,
            rows: self.rows,
            written: self.written,
            inserted: counts.map(|c| c.inserted),
            updated: counts.map(|c| c.updated),
            unchanged: counts.map(|c| c.unchanged),
            skipped: counts.map_or(0, |c| c.skipped),
            duplicates: self.duplicates,
            deleted: self.deleted,
            plan: self.plan,
        }
    }
}
