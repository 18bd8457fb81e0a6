//! The choices of an upsert: which unique key rows match on
//! ([`ConflictKey`]), what happens to a row whose key is stored
//! ([`OnConflict`]), and what happens to rows of one batch that repeat a key
//! ([`Duplicates`]).

use std::fmt;
use std::marker::PhantomData;

use crate::row::BulkTable;
use crate::table::TableDef;

/// What [`upsert`](crate::Ingest::upsert) does with an input row whose key
/// (its [`ConflictKey`]) is already stored in the table.
///
/// The three are `INSERT ... ON CONFLICT (key) DO UPDATE`, `... DO NOTHING`
/// and a plain `INSERT` (PostgreSQL docs, "INSERT", "ON CONFLICT Clause").
/// From PostgreSQL 15, `Update` is a `MERGE ... WHEN MATCHED AND <values
/// differ> THEN UPDATE ... WHEN NOT MATCHED THEN INSERT` (PostgreSQL docs,
/// "MERGE"), which leaves unchanged rows unlocked; when another session
/// stores one of the batch's new keys meanwhile, it runs again as `ON
/// CONFLICT`. Each is safe against concurrent writers of other keys: rows are
/// matched by the unique index, under the row locks PostgreSQL takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OnConflict {
    /// The stored row gets the input's values of every column the struct
    /// sends, but the key's (the default). A row whose values are already
    /// the same, byte for byte, is not rewritten, and is counted as
    /// [`unchanged`](crate::TableReport::unchanged).
    #[default]
    Update,
    /// The stored row is kept as it is, and the input row is counted as
    /// [`skipped`](crate::TableReport::skipped): insert-or-ignore.
    Skip,
    /// The call fails with [`Error::KeyExists`](crate::Error::KeyExists),
    /// naming the key and the input position of the first such row, and
    /// changes nothing.
    Error,
}

/// What a call does with rows of its input that repeat a key (the
/// [`ConflictKey`] of an upsert; the primary key of an `insert` or
/// `replace`). Positions are 0-based positions in the input.
///
/// Defaults: [`KeepLast`](Duplicates::KeepLast) for `upsert`,
/// [`AssumeUnique`](Duplicates::AssumeUnique) for `insert` and `replace`
/// (where a repeated key has always failed the call). For a table without a
/// key the choice has no effect.
///
/// What each costs (measured by `cargo bench --bench load`; the figures and
/// the command are in `BENCHMARKS.md`, "The upsert's choices"):
///
/// | | `upsert`, merged | `insert` into a table that exists |
/// |---|---|---|
/// | `KeepLast` | before PostgreSQL 15, nothing unless keys repeat; when they do, the merge runs a second time over the batch sorted by key (+119 % for a 100k-row batch into 1M with 1 % repeated keys). From 15, as `KeepFirst`'s check (the `MERGE` compares rows with the stored rows of its snapshot, so it can't tell a repeat itself) | the rows go through a staging table and are sorted by key (+124 % for 1M rows into an empty table) |
/// | `KeepFirst` | a check for repeated keys first (one hash aggregate over the batch: about 45 ms per 100k rows), skipped when the batch's keys are proven distinct while encoding (keys of integers, dates, timestamps, `uuid` or `boolean`: in increasing order, or none found twice by a Bloom filter of at most 4 MiB, for batches of up to a few hundred thousand rows); then as `KeepLast` | as `KeepLast` |
/// | `Error`, `AssumeUnique` | the same check first (`OnConflict::Error`: no check, its plain `INSERT` fails on any repeat) | `Error`: the rows go through a staging table; `AssumeUnique`: nothing |
///
/// `ON CONFLICT ... DO UPDATE ... WHERE` (rows already the same are not
/// rewritten) can't always tell a repeated key: PostgreSQL fails a command
/// that affects a row twice, but a row whose first repeat changed nothing
/// was not affected. `KeepLast` comes out right without the check (every
/// later row updates the row); such a repeat is then counted as
/// [`unchanged`](crate::TableReport::unchanged), not as a
/// [`duplicate`](crate::TableReport::duplicates). On a new table
/// `AssumeUnique` loads the batch straight in and builds the key after.
///
/// With [`OnConflict::Skip`], `KeepLast` and `KeepFirst` always sort the
/// batch by key, and `Error` and `AssumeUnique` always look for a repeated
/// key first (one aggregate over the staged rows): `ON CONFLICT DO NOTHING`
/// would otherwise keep the first of repeated keys without a word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Duplicates {
    /// The last row of each key in the input wins.
    KeepLast,
    /// The first row of each key in the input wins.
    KeepFirst,
    /// The call fails with [`Error::DuplicateKey`](crate::Error::DuplicateKey),
    /// naming the key and the positions of its first two rows, and changes
    /// nothing.
    Error,
    /// The input is trusted not to repeat a key, and no work is spent to
    /// de-duplicate it. If it does repeat one, the call still fails cleanly
    /// and changes nothing: with
    /// [`Error::DuplicateKey`](crate::Error::DuplicateKey) naming the key
    /// (and, where the rows can be told apart, both positions), or, for an
    /// `insert` that COPYs straight into a table that exists, with
    /// PostgreSQL's unique violation at the later row
    /// ([`Error::RowRejected`](crate::Error::RowRejected), whose detail names
    /// the key: it can't tell a repeat from a stored key).
    AssumeUnique,
}

/// The unique key an upsert matches rows on: the primary key (the default)
/// or a unique index the struct declares. `#[derive(BulkTable)]` generates
/// one function per declared unique index, named `unique_` followed by its
/// fields joined by `_`; [`ConflictKey::primary_key`] names the primary key.
/// A key that is not declared unique does not compile.
///
/// ```
/// use pg_bulk_ingest::{BulkTable, ConflictKey};
///
/// #[derive(BulkTable)]
/// #[bulk(schema = "crm", unique(tenant, email))]
/// struct Contact {
///     #[bulk(primary_key)]
///     id: i64,
///     tenant: i32,
///     email: String,
/// }
///
/// let key: ConflictKey<Contact> = Contact::unique_tenant_email();
/// assert_eq!(key.columns(), ["tenant", "email"]);
/// assert_eq!(ConflictKey::<Contact>::primary_key().columns(), ["id"]);
/// ```
///
/// Rows with a NULL in a unique key never conflict in PostgreSQL (unless the
/// index is `NULLS NOT DISTINCT`, PostgreSQL 15+), so a key over a nullable
/// column can't decide which rows to update: a call given one fails with
/// [`Error::Options`](crate::Error::Options) before anything is sent.
pub struct ConflictKey<T: ?Sized> {
    columns: &'static [&'static str],
    table: fn() -> &'static TableDef,
    row: PhantomData<fn() -> T>,
}

impl<T: BulkTable> ConflictKey<T> {
    /// The key over `columns` (column names); used by the code
    /// `#[derive(BulkTable)]` generates. A key that is not the table's primary
    /// key or a unique index it declares fails the call that is given it,
    /// before anything is sent.
    #[doc(hidden)]
    pub fn __new(columns: &'static [&'static str]) -> Self {
        ConflictKey {
            columns,
            table: table_of::<T>,
            row: PhantomData,
        }
    }

    /// The table's primary key.
    pub fn primary_key() -> Self
    where
        T: crate::row::HasPrimaryKey,
    {
        Self::__new(T::TABLE.primary_key)
    }
}

fn table_of<T: BulkTable>() -> &'static TableDef {
    const { &T::TABLE }
}

impl<T: ?Sized> ConflictKey<T> {
    /// The key's columns, in the index's order.
    pub fn columns(&self) -> &'static [&'static str] {
        self.columns
    }

    pub(crate) fn erase(&self) -> KeyChoice {
        KeyChoice {
            table: (self.table)(),
            columns: self.columns,
        }
    }
}

impl<T: ?Sized> Clone for ConflictKey<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for ConflictKey<T> {}

impl<T: ?Sized> fmt::Debug for ConflictKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConflictKey")
            .field("table", &(self.table)().name().to_string())
            .field("columns", &self.columns)
            .finish()
    }
}

/// A conflict key chosen for one table of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyChoice {
    pub table: &'static TableDef,
    pub columns: &'static [&'static str],
}

/// The key a call of `def` matches rows on: the one chosen for the table,
/// else its primary key, else its only unique index (over columns the struct
/// sends and that are not nullable); empty when it has none. An error (why) when the chosen key
/// is not the primary key or a declared unique index, is over a nullable
/// column, or when the table has several unique indexes and no primary key,
/// so that the choice is the user's.
pub(crate) fn key_of(
    def: &'static TableDef,
    chosen: &[KeyChoice],
) -> Result<&'static [&'static str], String> {
    let same_table = |c: &&KeyChoice| c.table.schema == def.schema && c.table.table == def.table;
    // A key over a column the database fills can't match input rows.
    let sent = |columns: &[&str]| {
        columns
            .iter()
            .all(|c| def.column(c).is_some_and(|c| c.is_sent()))
    };
    let primary = (!def.primary_key.is_empty() && sent(def.primary_key)).then_some(def.primary_key);
    let declared = |columns: &[&str]| {
        primary.is_some_and(|key| same_columns(columns, key))
            || def.indexes.iter().any(|i| {
                i.unique
                    && i.method == "btree"
                    && sent(i.columns)
                    && same_columns(columns, i.columns)
            })
    };
    let key = match chosen.iter().find(same_table) {
        Some(choice) => {
            if choice.columns.is_empty() || !declared(choice.columns) {
                return Err(format!(
                    "the conflict key ({}) is neither the primary key nor a unique index the \
                     struct declares over columns it sends",
                    choice.columns.join(", ")
                ));
            }
            choice.columns
        }
        None if primary.is_some() => def.primary_key,
        None => {
            let unique: Vec<&'static [&'static str]> = def
                .indexes
                .iter()
                .filter(|i| i.unique && i.method == "btree" && sent(i.columns))
                .map(|i| i.columns)
                .collect();
            match unique[..] {
                [] => return Ok(&[]),
                [only] => only,
                _ => {
                    return Err(format!(
                        "the table has no primary key the struct sends and {} unique indexes: \
                         choose the one rows match on with Ingest::conflict_key",
                        unique.len()
                    ))
                }
            }
        }
    };
    if let Some(nullable) = key
        .iter()
        .find(|c| def.column(c).is_some_and(|c| c.nullable))
    {
        return Err(format!(
            "the conflict key ({}) has the nullable column {nullable}, and rows with a NULL \
             in a unique key never conflict",
            key.join(", ")
        ));
    }
    Ok(key)
}

fn same_columns(a: &[&str], b: &[&str]) -> bool {
    a.len() == b.len() && a.iter().all(|c| b.contains(c))
}
