//! Loads in batches: each batch a call of its own, in a transaction of its
//! own, committed with its high watermark, so that a load that stops resumes
//! from the last batch committed. The first batch makes any migration; later
//! ones only add rows.

use std::time::Instant;

use postgres::{Client, Transaction};

use super::{Ingest, Report};
use crate::error::{Error, OnTable, Result};
use crate::ident::QualifiedName;
use crate::plan::decide::UpsertStrategy;
use crate::plan::{Mode, Path};
use crate::row::{AsRow, BulkRows, HasUniqueKey};

/// An error of the source of batches or of the
/// [`on_before_visible`](Ingest::on_before_visible) callback.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(super) type BeforeVisibleFn<'p, M> =
    Box<dyn FnMut(&mut Transaction<'_>, &Visible<'_, M>) -> Result<(), BoxError> + 'p>;

/// Where the batches of a call stand, for progress reports.
#[derive(Clone, Copy, Debug)]
pub(super) struct Position {
    /// The batch loading, from 1.
    pub batch: u64,
    /// Rows of the batches before it.
    pub rows_before: u64,
    /// When the batch call started (`None`: a call of one batch).
    pub started: Option<Instant>,
}

impl Default for Position {
    fn default() -> Self {
        Position {
            batch: 1,
            rows_before: 0,
            started: None,
        }
    }
}

/// The high watermark the source of a batch call is handed
/// ([`Ingest::upsert_batches`] and the others).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HighWatermark {
    /// The one stored by the last batch committed (see
    /// [`high_watermark`](crate::high_watermark())); `None` when none is
    /// stored.
    Latest,
    /// `None`, whatever is stored: load from the start.
    Earliest,
    /// This one.
    Value(String),
}

/// One batch of a batch call: its rows, in any form a single call takes
/// (an iterator of rows or of references to rows, of one table or of a
/// [`BulkRows`](derive@crate::BulkRows) type), the high watermark stored
/// with them, and metadata of yours, handed to
/// [`on_before_visible`](Ingest::on_before_visible).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Batch<R, M = ()> {
    /// The high watermark stored with the batch: where the next run starts
    /// when this is the last batch committed.
    pub high_watermark: String,
    /// Yours, for [`on_before_visible`](Ingest::on_before_visible).
    pub metadata: M,
    /// The rows.
    pub rows: R,
}

impl<R> Batch<R> {
    /// A batch without metadata.
    pub fn new(high_watermark: impl Into<String>, rows: R) -> Self {
        Batch::with_metadata(high_watermark, (), rows)
    }
}

impl<R, M> Batch<R, M> {
    /// A batch with metadata for [`on_before_visible`](Ingest::on_before_visible).
    pub fn with_metadata(high_watermark: impl Into<String>, metadata: M, rows: R) -> Self {
        Batch {
            high_watermark: high_watermark.into(),
            metadata,
            rows,
        }
    }
}

/// What [`on_before_visible`](Ingest::on_before_visible) is told about the
/// batch about to commit.
#[derive(Debug)]
pub struct Visible<'a, M = ()> {
    batch: u64,
    high_watermark: &'a str,
    metadata: &'a M,
    report: &'a Report,
    tables: Vec<QualifiedName<'static>>,
}

impl<M> Visible<'_, M> {
    /// The batch, from 1.
    pub fn batch(&self) -> u64 {
        self.batch
    }

    /// The batch's high watermark, stored with its rows.
    pub fn high_watermark(&self) -> &str {
        self.high_watermark
    }

    /// The batch's metadata.
    pub fn metadata(&self) -> &M {
        self.metadata
    }

    /// The batch's rows.
    pub fn rows(&self) -> u64 {
        self.report.rows
    }

    /// The tables, as readers see them once the batch commits (a table
    /// swapped in has its name already).
    pub fn tables(&self) -> &[QualifiedName<'static>] {
        &self.tables
    }

    /// What the batch's call did.
    pub fn report(&self) -> &Report {
        self.report
    }
}

impl<'p, M> Ingest<'p, M> {
    /// Calls `f` in each batch's transaction, after its rows and watermark
    /// are in place (and a swapped table in its place), just before the
    /// batch commits: to write your own bookkeeping in the same transaction.
    /// An error from `f` rolls that batch back and ends the call with
    /// [`Error::BeforeVisible`]; the batches before it stay committed. `M` is
    /// the batches' metadata type ([`Batch::with_metadata`]).
    ///
    /// The call's locks are held while `f` runs, the `ACCESS EXCLUSIVE` lock
    /// of a swap too (readers of a swapped table wait): keep it short.
    pub fn on_before_visible<N>(
        self,
        f: impl FnMut(
                &mut Transaction<'_>,
                &Visible<'_, N>,
            ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
            + 'p,
    ) -> Ingest<'p, N> {
        Ingest {
            on_progress: self.on_progress,
            progress_interval: self.progress_interval,
            lock_timeout: self.lock_timeout,
            terminate_blockers_after: self.terminate_blockers_after,
            force_connection: self.force_connection,
            options: self.options,
            high_watermark: self.high_watermark,
            on_before_visible: Some(Box::new(f)),
            on_new_table: self.on_new_table,
            position: self.position,
            mirror_guard: self.mirror_guard,
            slice_values: self.slice_values,
        }
    }

    /// Appends the rows of each batch `source` gives, each batch in a
    /// transaction of its own; see [`upsert_batches`](Ingest::upsert_batches).
    pub fn insert_batches<R, E, S>(
        self,
        client: &mut Client,
        start: HighWatermark,
        source: impl FnOnce(Option<&str>) -> S,
    ) -> Result<Report>
    where
        S: IntoIterator<Item = Result<Batch<R, M>, E>>,
        R: IntoIterator,
        R::Item: AsRow,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.batches(client, start, source, Mode::Insert)
    }

    /// Upserts the rows of each batch `source` gives, each batch in a
    /// transaction of its own, committed with its high watermark; see
    /// [Incremental loads](crate#incremental-loads).
    ///
    /// `source` is called once, with the high watermark `start` says (the
    /// one stored, none, or yours), and gives the batches. For each batch,
    /// in a transaction of `client`: its rows are upserted as by
    /// [`upsert`](Ingest::upsert) with its
    /// [`high_watermark`](Ingest::high_watermark) (which replaces one set on
    /// `self`), the
    /// [`on_before_visible`](Ingest::on_before_visible) callback runs, and
    /// the transaction commits. Only the first batch may migrate the tables
    /// (or rebuild them for a large upsert); later batches merge. The
    /// [`Report`] counts the batches and rows committed, and the last
    /// watermark; [`Progress`](crate::Progress) and the log name the batch.
    ///
    /// # Errors
    /// Batches before the one that fails stay committed, with their
    /// watermark: a later call with [`HighWatermark::Latest`] resumes after
    /// the last of them. The batch that fails changes nothing; the row
    /// positions its error gives are positions in the batch. Besides the
    /// errors of [`upsert`](Ingest::upsert): [`Error::Source`] when the
    /// source gives an error (before its first batch: nothing changed at
    /// all), [`Error::BeforeVisible`] when the callback fails,
    /// [`Error::WatermarksDiffer`] from [`HighWatermark::Latest`], and
    /// [`Error::Unsupported`] when a table needs a migration at a later
    /// batch (another session changed it in between). A panic in the
    /// source or in a batch's rows is not caught: it unwinds out of the
    /// call, the batch in flight is rolled back (its transaction drops) and
    /// the batches before it stay committed.
    pub fn upsert_batches<R, E, S>(
        self,
        client: &mut Client,
        start: HighWatermark,
        source: impl FnOnce(Option<&str>) -> S,
    ) -> Result<Report>
    where
        S: IntoIterator<Item = Result<Batch<R, M>, E>>,
        R: IntoIterator,
        R::Item: AsRow,
        <R::Item as AsRow>::Row: HasUniqueKey,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.batches(client, start, source, Mode::Upsert)
    }

    /// Replaces the tables' contents with the batches: the first batch
    /// swaps a fresh table in, as [`replace`](Ingest::replace) does, and
    /// later batches append to it (as [`insert`](Ingest::insert)). Readers
    /// see each batch once it commits. With no batch at all, the tables keep
    /// their rows. Otherwise as [`upsert_batches`](Ingest::upsert_batches).
    pub fn replace_batches<R, E, S>(
        self,
        client: &mut Client,
        start: HighWatermark,
        source: impl FnOnce(Option<&str>) -> S,
    ) -> Result<Report>
    where
        S: IntoIterator<Item = Result<Batch<R, M>, E>>,
        R: IntoIterator,
        R::Item: AsRow,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.batches(client, start, source, Mode::Replace)
    }

    fn batches<R, E, S>(
        mut self,
        client: &mut Client,
        start: HighWatermark,
        source: impl FnOnce(Option<&str>) -> S,
        mode: Mode,
    ) -> Result<Report>
    where
        S: IntoIterator<Item = Result<Batch<R, M>, E>>,
        R: IntoIterator,
        R::Item: AsRow,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let defs = <<R::Item as AsRow>::Row as BulkRows>::TABLES;
        let first = defs
            .first()
            .map_or_else(String::new, |t| t.name().to_string());
        let since = match start {
            HighWatermark::Latest => {
                crate::watermark::high_watermark::<<R::Item as AsRow>::Row>(client)?
            }
            HighWatermark::Earliest => None,
            HighWatermark::Value(value) => Some(value),
        };
        log::info!("{first}: batches from the high watermark {since:?}");
        self.position.started = Some(started);
        let mut done: Option<Report> = None;
        for (batch, next) in (1u64..).zip(source(since.as_deref())) {
            let Batch {
                high_watermark,
                metadata,
                rows,
            } = next.map_err(|e| Error::Source {
                batch,
                source: e.into(),
            })?;
            log::info!("{first}: batch {batch}, high watermark {high_watermark:?}");
            self.position.batch = batch;
            self.high_watermark = Some(high_watermark);
            let mode = match mode {
                Mode::Replace if batch > 1 => Mode::Insert,
                other => other,
            };
            if batch > 1 {
                self.options.strategy = UpsertStrategy::Merge;
            }
            let mut tx = client.transaction().on(&first)?;
            let report = self.run(&mut tx, rows, mode)?;
            if let (true, Some(changed)) = (
                batch > 1,
                report
                    .tables
                    .iter()
                    .find(|t| t.plan.path() != Path::Nothing),
            ) {
                return Err(Error::Unsupported {
                    table: changed.table.clone(),
                    what: "a table that another session changed between two batches of one \
                           call (only the first batch may migrate it)",
                });
            }
            if let Some(f) = self.on_before_visible.as_mut() {
                let visible = Visible {
                    batch,
                    high_watermark: self.high_watermark.as_deref().unwrap_or_default(),
                    metadata: &metadata,
                    report: &report,
                    tables: defs
                        .iter()
                        .map(|d| QualifiedName::new(d.schema, d.table))
                        .collect(),
                };
                f(&mut tx, &visible).map_err(|source| Error::BeforeVisible { batch, source })?;
            }
            tx.commit().on(&first)?;
            self.position.rows_before += report.rows;
            log::info!(
                "{first}: batch {batch} committed: {} rows, {} in all batches",
                report.rows,
                self.position.rows_before
            );
            done = Some(match done {
                None => report,
                Some(done) => done.and(report),
            });
        }
        let mut report = done.unwrap_or(Report {
            rows: 0,
            tables: Vec::new(),
            elapsed: started.elapsed(),
            batches: 0,
            high_watermark: None,
        });
        report.elapsed = started.elapsed();
        Ok(report)
    }
}

impl Report {
    /// The report of the batches so far and of the next one.
    fn and(mut self, next: Report) -> Report {
        self.rows += next.rows;
        self.batches += next.batches;
        self.high_watermark = next.high_watermark;
        for (table, next) in self.tables.iter_mut().zip(next.tables) {
            table.rows += next.rows;
            table.written += next.written;
        }
        self
    }
}
