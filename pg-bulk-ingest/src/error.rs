//! The library's error type.

use std::fmt;

use crate::diff::Refusal;

/// What went wrong in a call. Whatever the variant, the call has changed
/// nothing: its savepoint was rolled back, and the caller's transaction is
/// still usable. (A batch call, such as
/// [`Ingest::upsert_batches`](crate::Ingest::upsert_batches): the batch that
/// failed changed nothing; the batches before it stay committed.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value the column can't hold, caught before it was sent.
    #[error(
        "row {row} of the input, column {column} of {table}: {reason}{}",
        ValueSuffix(value)
    )]
    InvalidValue {
        /// 0-based position of the row in the input (every row the iterator
        /// yielded counts).
        row: u64,
        /// Schema-qualified, quoted table name.
        table: String,
        /// Column name.
        column: String,
        /// Why the value was rejected.
        reason: String,
        /// A short rendering of the value, where the encoder gave one.
        value: Option<String>,
    },

    /// PostgreSQL rejected a row while loading it (a constraint, a value out of
    /// a type's range, ...).
    #[error(
        "row {} of the input{}{}: {} (SQLSTATE {})",
        OptRow(row),
        InTable(table),
        InColumn(column),
        ServerMessage(source),
        Sqlstate(source)
    )]
    RowRejected {
        /// 0-based position of the row in the input, where PostgreSQL named the
        /// COPY line it failed on.
        row: Option<u64>,
        /// Schema-qualified, quoted table name.
        table: String,
        /// The column, where PostgreSQL named it.
        column: Option<String>,
        /// The server's error.
        #[source]
        source: postgres::Error,
    },

    /// The live table can't be made to match its definition, or not without
    /// losing data (see [`Ingest::allow_data_loss`](crate::Ingest::allow_data_loss)).
    /// Nothing was done.
    #[error(
        "{table} can't be changed to match its definition: {}",
        RefusalList(refusals)
    )]
    Refused {
        /// Schema-qualified, quoted table name.
        table: String,
        /// Why.
        refusals: Vec<Refusal>,
    },

    /// Swapping a new table in (`replace`, or a migration that rebuilds the
    /// table) would drop objects that depend on the table (foreign keys from
    /// other tables, triggers, indexes the library didn't make, ...) or
    /// settings the new table would not get (a replica identity `USING
    /// INDEX`, forced row level security, column collations, ...), or they
    /// changed while the call ran; nothing was done.
    #[error("{table}: swapping in a new table would lose what depends on the old one: {}", dependents.join("; "))]
    Dependents {
        /// Schema-qualified, quoted table name.
        table: String,
        /// The objects, as `pg_describe_object` describes them, and the
        /// settings.
        dependents: Vec<String>,
    },

    /// The swap's lock could not be had before the deadline, and the sessions
    /// holding it were not (or could not be) terminated. Nothing was changed.
    #[error(
        "{table}: could not take the lock to swap the new table in after {waited:?}: {reason}"
    )]
    SwapTimeout {
        /// Schema-qualified, quoted table name.
        table: String,
        /// How long the call waited.
        waited: std::time::Duration,
        /// Why the blockers are still there.
        reason: String,
    },

    /// An enum type the rows use exists but lacks some of the Rust enum's
    /// labels. PostgreSQL refuses to use a label added by `ALTER TYPE ... ADD
    /// VALUE` before that transaction commits, so the call can't add them:
    /// call [`prepare`](crate::prepare()) first, which adds them in a short
    /// transaction of its own. Nothing was sent.
    #[error(
        "{table}: enum type {type_name} lacks the label(s) {}; PostgreSQL can't use a label added \
         in the same transaction, so add them first, in a transaction of their own: call \
         `pg_bulk_ingest::prepare::<T>(&mut client)` before this transaction",
        LabelList(labels)
    )]
    EnumLabelsMissing {
        /// Schema-qualified, quoted name of the table whose column has the type.
        table: String,
        /// Schema-qualified, quoted name of the enum type.
        type_name: String,
        /// The labels the type lacks, in the Rust enum's order.
        labels: Vec<String>,
    },

    /// Rows of the input repeat a key, and the call's
    /// [`Duplicates`](crate::Duplicates) choice is
    /// [`Error`](crate::Duplicates::Error) or
    /// [`AssumeUnique`](crate::Duplicates::AssumeUnique). Nothing was changed.
    #[error(
        "{table}: rows {} of the input have the same key {key}",
        Positions(rows)
    )]
    DuplicateKey {
        /// Schema-qualified, quoted table name.
        table: String,
        /// The key's columns and values, as PostgreSQL writes them in a
        /// unique violation: `(tenant, email)=(1,a@example.com)`.
        key: String,
        /// The 0-based input positions of the key's first two rows, where
        /// they could be told apart (in input order).
        rows: Option<(u64, u64)>,
    },

    /// An input row's key is already stored, and the upsert's
    /// [`OnConflict`](crate::OnConflict) choice is
    /// [`Error`](crate::OnConflict::Error) (or the call is an `insert`). Nothing
    /// was changed.
    #[error(
        "row {} of the input{}: the key {key} is already stored",
        OptRow(row),
        InTable(table)
    )]
    KeyExists {
        /// Schema-qualified, quoted table name.
        table: String,
        /// The key's columns and values, as in [`Error::DuplicateKey`].
        key: String,
        /// 0-based position of the row in the input, where known.
        row: Option<u64>,
    },

    /// A mirror would delete or mark more of the table than its guard allows
    /// ([`Ingest::mirror_guard`](crate::Ingest::mirror_guard)): an empty or
    /// cut-short snapshot. Nothing was changed.
    #[error(
        "{table}: the mirror would delete or mark {rows} of the {of} rows the table holds, \
         more than the guard's {:.0} %; nothing was changed (Ingest::mirror_guard sets the limit)",
        limit * 100.0
    )]
    MirrorGuard {
        /// Schema-qualified, quoted table name.
        table: String,
        /// Rows the mirror would delete or mark.
        rows: u64,
        /// Rows the table held (not yet marked) when the call started.
        of: u64,
        /// The guard's share, from 0 to 1.
        limit: f64,
    },

    /// A row of a slice replace's batch is outside the slice. Nothing was
    /// changed.
    #[error("row {row} of the input, column {column} of {table}: the value is outside the slice being replaced")]
    OutsideSlice {
        /// Schema-qualified, quoted table name.
        table: String,
        /// 0-based position of the row in the input.
        row: u64,
        /// The slice's column whose value is outside it.
        column: String,
    },

    /// The call's options don't fit the row type: a
    /// [`ConflictKey`](crate::ConflictKey) that is not declared unique, a
    /// choice a mode can't honour, ... Nothing was sent.
    #[error("{table}: {reason}")]
    Options {
        /// Schema-qualified, quoted table name.
        table: String,
        /// Why.
        reason: String,
    },

    /// The call is not supported for this row type.
    #[error("{table}: {what} is not supported")]
    Unsupported {
        /// Schema-qualified, quoted table name.
        table: String,
        /// What.
        what: &'static str,
    },

    /// A lock could not be had within the lock timeout.
    #[error(
        "{table}: could not lock within the lock timeout: {} (SQLSTATE {})",
        ServerMessage(source),
        Sqlstate(source)
    )]
    LockTimeout {
        /// Schema-qualified, quoted table name.
        table: String,
        /// The server's error.
        #[source]
        source: postgres::Error,
    },

    /// The tables of a [`BulkRows`](crate::BulkRows) type hold different
    /// high watermarks (one was loaded on its own, with another watermark),
    /// so [`high_watermark`](crate::high_watermark) can't tell how far
    /// their load got. Store one in all of them (a load of the type with
    /// [`Ingest::high_watermark`](crate::Ingest::high_watermark)), or give
    /// the load its watermark explicitly.
    #[error(
        "the tables hold different high watermarks: {}",
        WatermarkList(watermarks)
    )]
    WatermarksDiffer {
        /// Each table that holds one (schema-qualified, quoted) and its
        /// watermark, in the order of the type's tables.
        watermarks: Vec<(String, String)>,
    },

    /// The source of a batch call gave an error instead of batch `batch`;
    /// the batches before it are committed (none, for batch 1: nothing
    /// changed).
    #[error("the source of the batches failed before batch {batch}: {source}")]
    Source {
        /// The batch it failed to give, from 1.
        batch: u64,
        /// The source's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The [`on_before_visible`](crate::Ingest::on_before_visible) callback
    /// failed at batch `batch`: that batch was rolled back; the batches
    /// before it are committed.
    #[error("on_before_visible failed at batch {batch}, which was rolled back: {source}")]
    BeforeVisible {
        /// The batch, from 1.
        batch: u64,
        /// The callback's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The [`on_new_table`](crate::Ingest::on_new_table) hook failed on a
    /// table the call created (or returned with the transaction aborted by
    /// a statement whose error it dropped). Nothing was changed: the new
    /// table went with the call's savepoint, the live table is as it was,
    /// and the caller's transaction is usable.
    #[error("{table}: the on_new_table hook failed on {new_table}, nothing was changed: {source}")]
    NewTableHook {
        /// Schema-qualified, quoted name of the table the call loads.
        table: String,
        /// Schema-qualified, quoted name of the table the hook ran on.
        new_table: String,
        /// The hook's error (or the server's, when the hook left the
        /// transaction aborted).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Any other error from PostgreSQL or the connection.
    #[error("{table}: {} (SQLSTATE {})", ServerMessage(source), Sqlstate(source))]
    Postgres {
        /// Schema-qualified, quoted table name.
        table: String,
        /// The server's error.
        #[source]
        source: postgres::Error,
    },
}

impl Error {
    /// A server or connection error about `table`: a lock timeout (55P03)
    /// becomes [`Error::LockTimeout`], anything else [`Error::Postgres`].
    pub(crate) fn server(table: impl Into<String>, source: postgres::Error) -> Error {
        let table = table.into();
        if source.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
            Error::LockTimeout { table, source }
        } else {
            Error::Postgres { table, source }
        }
    }

    /// The underlying `postgres::Error`, for errors that came from the server
    /// or the connection.
    pub fn as_postgres(&self) -> Option<&postgres::Error> {
        match self {
            Error::RowRejected { source, .. }
            | Error::LockTimeout { source, .. }
            | Error::Postgres { source, .. } => Some(source),
            Error::InvalidValue { .. }
            | Error::Refused { .. }
            | Error::Dependents { .. }
            | Error::SwapTimeout { .. }
            | Error::EnumLabelsMissing { .. }
            | Error::DuplicateKey { .. }
            | Error::KeyExists { .. }
            | Error::Options { .. }
            | Error::MirrorGuard { .. }
            | Error::OutsideSlice { .. }
            | Error::WatermarksDiffer { .. }
            | Error::Source { .. }
            | Error::BeforeVisible { .. }
            | Error::NewTableHook { .. }
            | Error::Unsupported { .. } => None,
        }
    }

    /// The SQLSTATE code of a server error, e.g. `"23505"`.
    pub fn sqlstate(&self) -> Option<&str> {
        self.as_postgres()
            .and_then(postgres::Error::code)
            .map(|c| c.code())
    }

    /// The 0-based input position of the row the error is about, when known.
    pub fn row(&self) -> Option<u64> {
        match self {
            Error::InvalidValue { row, .. } => Some(*row),
            Error::RowRejected { row, .. } | Error::KeyExists { row, .. } => *row,
            Error::OutsideSlice { row, .. } => Some(*row),
            Error::DuplicateKey { rows, .. } => rows.map(|(_, second)| second),
            _ => None,
        }
    }

    /// The column the error is about, when known.
    pub fn column(&self) -> Option<&str> {
        match self {
            Error::InvalidValue { column, .. } | Error::OutsideSlice { column, .. } => Some(column),
            Error::RowRejected { column, .. } => column.as_deref(),
            _ => None,
        }
    }
}

/// Names the table a server or connection error is about: a lock timeout
/// becomes [`Error::LockTimeout`], anything else [`Error::Postgres`].
pub(crate) trait OnTable<T> {
    /// The error, about `table` (schema-qualified, quoted).
    fn on(self, table: &str) -> Result<T>;
}

impl<T> OnTable<T> for std::result::Result<T, postgres::Error> {
    fn on(self, table: &str) -> Result<T> {
        self.map_err(|source| Error::server(table, source))
    }
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

struct ValueSuffix<'a>(&'a Option<String>);
impl fmt::Display for ValueSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, " (value: {v})"),
            None => Ok(()),
        }
    }
}

struct OptRow<'a>(&'a Option<u64>);
impl fmt::Display for OptRow<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(r) => write!(f, "{r}"),
            None => f.write_str("(position unknown)"),
        }
    }
}

struct Positions<'a>(&'a Option<(u64, u64)>);
impl fmt::Display for Positions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((a, b)) => write!(f, "{a} and {b}"),
            None => f.write_str("(positions unknown)"),
        }
    }
}

struct InTable<'a>(&'a str);
impl fmt::Display for InTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ", table {}", self.0)
    }
}

struct InColumn<'a>(&'a Option<String>);
impl fmt::Display for InColumn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(c) => write!(f, ", column {c}"),
            None => Ok(()),
        }
    }
}

/// The server's message with its detail and hint, or the client error's text
/// followed by its causes. (`postgres::Error`'s own `Display` says only "db
/// error" for the server's errors, and leaves the causes of the others out.)
pub(crate) struct ServerMessage<'a>(pub(crate) &'a postgres::Error);
impl fmt::Display for ServerMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_db_error() {
            Some(db) => {
                f.write_str(db.message())?;
                if let Some(detail) = db.detail() {
                    write!(f, " ({detail})")?;
                }
                if let Some(hint) = db.hint() {
                    write!(f, " (hint: {hint})")?;
                }
                Ok(())
            }
            None => {
                write!(f, "{}", self.0)?;
                let mut cause = std::error::Error::source(self.0);
                while let Some(c) = cause {
                    write!(f, ": {c}")?;
                    cause = c.source();
                }
                Ok(())
            }
        }
    }
}

/// A `postgres::Error` in words: [`ServerMessage`] and the SQLSTATE.
pub(crate) fn describe(error: &postgres::Error) -> String {
    format!("{} (SQLSTATE {})", ServerMessage(error), Sqlstate(error))
}

struct Sqlstate<'a>(&'a postgres::Error);
impl fmt::Display for Sqlstate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code().map_or("none", |c| c.code()))
    }
}

struct LabelList<'a>(&'a [String]);
impl fmt::Display for LabelList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, label) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", crate::ident::Literal(label))?;
        }
        Ok(())
    }
}

struct WatermarkList<'a>(&'a [(String, String)]);
impl fmt::Display for WatermarkList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (table, watermark)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{table} {}", crate::ident::Literal(watermark))?;
        }
        Ok(())
    }
}

struct RefusalList<'a>(&'a [Refusal]);
impl fmt::Display for RefusalList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}
