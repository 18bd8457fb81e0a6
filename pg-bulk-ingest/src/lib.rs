#![doc = include_str!("lib.md")]
#![warn(missing_docs)]

extern crate self as pg_bulk_ingest;

mod catalog;
mod conflict;
mod copy;
mod diff;
mod encode;
mod enums;
mod error;
#[cfg(test)]
mod fixtures;
mod ident;
mod ingest;
mod lock;
pub mod plan;
mod row;
mod savepoint;
mod sql;
mod sync;
mod table;
mod types;
mod watermark;

pub use conflict::{ConflictKey, Duplicates, OnConflict};
pub use copy::encode_row;
pub use encode::{Encode, EncodeError, FieldError, RowWriter};
use error::OnTable;
pub use error::{Error, Result};
pub use ident::{Ident, QualifiedName};
pub use ingest::{
    create_partitions, Batch, HighWatermark, Ingest, NewTable, Phase, Progress, Report,
    TableReport, UpsertStrategy, Visible,
};
pub use plan::{Mode, NewTableKind, Plan};
pub use row::{AsRow, BulkEnum, BulkRows, BulkTable, HasPrimaryKey, HasUniqueKey};
pub use sync::{Delete, Slice};
pub use table::{
    ColumnDef, Filled, Generated, IndexDef, PartitionDef, PartitionInterval, PartitionMethod,
    TableDef,
};
pub use types::{EnumDef, SqlType, TypeKind};
pub use watermark::high_watermark;

/// Pages of documentation beyond the crate root (no code).
pub mod docs {
    #[doc = include_str!("../docs/citus.md")]
    pub mod citus {}
}

/// `#[derive(BulkTable)]`: see the [crate documentation](crate#the-derive).
#[cfg(feature = "derive")]
pub use pg_bulk_ingest_derive::BulkTable;

/// `#[derive(BulkRows)]`: one stream of rows for several tables.
///
/// On an enum whose variants each hold one [`BulkTable`] row type, it makes the
/// enum usable wherever a single table's rows are: every table is created,
/// checked or replaced as needed (also tables that get no rows in the call, so
/// `replace` empties them), the rows are streamed in bounded memory, and all
/// tables become visible together when the caller commits. `upsert` needs every
/// table to have a primary key.
///
/// ```no_run
/// use pg_bulk_ingest::{BulkRows, BulkTable};
///
/// #[derive(BulkTable)]
/// #[bulk(schema = "sales")]
/// struct Order { #[bulk(primary_key)] id: i64, customer: String }
///
/// #[derive(BulkTable)]
/// #[bulk(schema = "sales")]
/// struct OrderLine { #[bulk(primary_key)] order_id: i64, #[bulk(primary_key)] line: i32, sku: String }
///
/// #[derive(BulkRows)]
/// enum SalesRow { Order(Order), Line(OrderLine) }
///
/// # fn run(client: &mut postgres::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let rows = (0..100).flat_map(|id| {
///     [
///         SalesRow::Order(Order { id, customer: "c".into() }),
///         SalesRow::Line(OrderLine { order_id: id, line: 1, sku: "s".into() }),
///     ]
/// });
/// let mut tx = client.transaction()?;
/// pg_bulk_ingest::upsert(&mut tx, rows)?;
/// tx.commit()?;
/// # Ok(()) }
/// ```
#[cfg(feature = "derive")]
pub use pg_bulk_ingest_derive::BulkRows;

/// `#[derive(BulkEnum)]`: a fieldless Rust enum as a PostgreSQL enum type.
///
/// The type is `public.<the enum's name in snake_case>` unless
/// `#[bulk(schema = "...", type_name = "...")]` says otherwise; each variant
/// is the label of its name in snake_case unless `#[bulk(rename = "...")]`
/// says otherwise. A field of the enum makes a column of the type (an
/// `Option` of it a nullable one); `sql_type = "text"` or `"varchar(n)"`
/// stores the labels as text instead. Arrays of enums are not supported.
///
/// ```
/// use pg_bulk_ingest::{BulkEnum, BulkTable, Encode};
///
/// #[derive(BulkEnum)]
/// #[bulk(schema = "sales", type_name = "order_status")]
/// enum Status {
///     Open,
///     #[bulk(rename = "in transit")]
///     InTransit,
///     Delivered,
/// }
///
/// #[derive(BulkTable)]
/// #[bulk(schema = "sales")]
/// struct Order {
///     #[bulk(primary_key)]
///     id: i64,
///     status: Status,
///     previous: Option<Status>,
/// }
///
/// let ty = Order::TABLE.columns[1].sql_type;
/// assert_eq!(ty.to_string(), r#""sales"."order_status""#);
/// assert_eq!(ty.enum_def().unwrap().labels, ["open", "in transit", "delivered"]);
/// assert!(Order::TABLE.columns[2].nullable);
/// ```
///
/// The type is created by the first load that needs it; see
/// [`prepare`](crate::prepare()) for a type that lacks labels.
#[cfg(feature = "derive")]
pub use pg_bulk_ingest_derive::BulkEnum;

use postgres::Transaction;

/// Appends `rows` to their table, creating the schema and table first if they
/// don't exist.
///
/// `rows` is any iterator of rows or of references to rows (`Vec<T>`,
/// `&Vec<T>`, `iter.map(...)`); it is streamed, so memory does not grow with
/// the number of rows. A row whose key already exists fails the call naming
/// the row and the key ([`Error::RowRejected`] with PostgreSQL's unique
/// violation by default, [`Error::KeyExists`] with a
/// [`Duplicates`] choice), and so do rows of the batch that repeat a key,
/// unless [`Ingest::duplicates`] keeps one of them; the table is then left as
/// it was.
///
/// ```no_run
/// # use pg_bulk_ingest::BulkTable;
/// #[derive(BulkTable)]
/// struct Reading { sensor: i32, value: f64 }
///
/// # fn run(client: &mut postgres::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let mut tx = client.transaction()?;
/// let readings = (0..1000).map(|i| Reading { sensor: i % 10, value: f64::from(i) });
/// pg_bulk_ingest::insert(&mut tx, readings)?;
/// tx.commit()?;
/// # Ok(()) }
/// ```
pub fn insert<I>(tx: &mut Transaction<'_>, rows: I) -> Result<Report>
where
    I: IntoIterator,
    I::Item: AsRow,
{
    Ingest::new().insert(tx, rows)
}

/// Inserts `rows`, replacing existing rows that have the same primary key.
/// When several rows of the input have the same key, the last one wins. (The
/// key, what happens to stored keys and to repeated ones are choices of
/// [`Ingest`]: see "Upserts" in the crate docs.)
///
/// Two ways, chosen by [`Ingest::upsert_strategy`] (see [`UpsertStrategy`]):
///
/// - **merge**: the rows are COPYed into a temporary staging table (invisible
///   to other sessions, dropped before the call returns) and merged with
///   `INSERT ... ON CONFLICT (key) DO UPDATE`, which takes no lock that blocks
///   readers or other writers. Rows whose values are already in the table are
///   not rewritten.
/// - **rebuild**, by default only for a batch whose length is known and at
///   least half the table's estimated row count: the rows are COPYed into a
///   new table, the live rows whose key the batch doesn't hold are copied
///   after them (writers wait from here until commit; readers go on), the key
///   and indexes are built and the new table is swapped in, as for a
///   migration. About twice as fast as the merge for a batch as large as the
///   table.
///
/// Row types without a primary key or a unique index don't compile:
///
/// ```compile_fail
/// # use pg_bulk_ingest::BulkTable;
/// #[derive(BulkTable)]
/// struct Log { line: String }
/// # fn run(tx: &mut postgres::Transaction<'_>) {
/// pg_bulk_ingest::upsert(tx, Vec::<Log>::new());
/// # }
/// ```
pub fn upsert<I>(tx: &mut Transaction<'_>, rows: I) -> Result<Report>
where
    I: IntoIterator,
    I::Item: AsRow,
    <I::Item as AsRow>::Row: HasUniqueKey,
{
    Ingest::new().upsert(tx, rows)
}

/// Replaces the table's contents with `rows`: a fresh table is created under
/// another name, loaded (with `COPY ... FREEZE`, key built after the load),
/// given the live table's owner, privileges and comments, and swapped in as the
/// last step of the call (`DROP TABLE` + `RENAME`).
///
/// Until the caller commits, readers see the old contents; after, the new
/// ones: never an empty or half-loaded table. The swap needs an `ACCESS
/// EXCLUSIVE` lock, taken in attempts of at most the lock timeout so that
/// readers are not queued behind it for long, and held until the caller
/// commits: commit soon after. See [`Ingest::terminate_blockers_after`] and
/// [`Ingest::force_connection`] for sessions that hold the lock for long.
///
/// Objects that depend on the table (views, foreign keys from other tables,
/// triggers, other indexes) would be lost by the swap: the call then fails with
/// [`Error::Dependents`] before doing anything. An empty `rows` is valid and
/// leaves the table empty.
///
/// ```no_run
/// # use pg_bulk_ingest::BulkTable;
/// #[derive(BulkTable)]
/// struct Rate { #[bulk(primary_key)] currency: String, rate: f64 }
///
/// # fn run(client: &mut postgres::Client, rates: Vec<Rate>) -> Result<(), Box<dyn std::error::Error>> {
/// let mut tx = client.transaction()?;
/// pg_bulk_ingest::replace(&mut tx, &rates)?;
/// tx.commit()?;
/// # Ok(()) }
/// ```
pub fn replace<I>(tx: &mut Transaction<'_>, rows: I) -> Result<Report>
where
    I: IntoIterator,
    I::Item: AsRow,
{
    Ingest::new().replace(tx, rows)
}

/// What a call of `mode` would do to `T`'s table, without changing anything:
/// the path (nothing, create, in place, rebuild, ...), what data would be
/// lost, and every step the call runs, in order, with the statement, the lock
/// it takes on the table and what it reads or rewrites. `Display` lists it all;
/// [`Plan::steps`] gives the steps. A call with the default options executes
/// exactly these steps unless the table changes in between (see
/// [`Ingest::plan`] for other options, and for what an `upsert` of a large
/// batch may do instead).
///
/// ```no_run
/// # use pg_bulk_ingest::{BulkTable, Mode};
/// #[derive(BulkTable)]
/// struct Rate { #[bulk(primary_key)] currency: String, rate: f64 }
///
/// # fn run(client: &mut postgres::Client) -> Result<(), Box<dyn std::error::Error>> {
/// let plan = pg_bulk_ingest::plan::<Rate>(client, Mode::Upsert)?;
/// println!("{plan}");
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`Ingest::plan`].
pub fn plan<T: BulkTable>(client: &mut postgres::Client, mode: Mode) -> Result<Plan> {
    let mut plans = Ingest::new().plan::<T>(client, mode)?;
    Ok(plans.remove(0))
}

/// Creates the enum types `T`'s columns use (and their schemas) and adds the
/// labels they lack, in a short transaction of its own, which it commits.
/// Returns the statements it ran (none when every type was complete).
///
/// A load creates a missing enum type itself, but it can't add labels to a
/// type that exists: PostgreSQL refuses to use a label added by `ALTER TYPE ...
/// ADD VALUE` before that transaction commits, so the load fails with
/// [`Error::EnumLabelsMissing`]. Call `prepare` before the load's transaction
/// when a Rust enum may have gained variants (e.g. at start-up). A new label
/// goes after the label that precedes it in the Rust enum; labels the Rust enum
/// doesn't have are kept. The role needs to own the type (or to be allowed to
/// create it).
///
/// ```no_run
/// use pg_bulk_ingest::{BulkEnum, BulkTable};
///
/// #[derive(BulkEnum)]
/// enum Status { Open, Shipped, Returned }
///
/// #[derive(BulkTable)]
/// struct Order { #[bulk(primary_key)] id: i64, status: Status }
///
/// # fn run(client: &mut postgres::Client, orders: Vec<Order>) -> Result<(), Box<dyn std::error::Error>> {
/// pg_bulk_ingest::prepare::<Order>(client)?; // adds 'returned' if the type lacks it
/// let mut tx = client.transaction()?;
/// pg_bulk_ingest::upsert(&mut tx, &orders)?;
/// tx.commit()?;
/// # Ok(()) }
/// ```
pub fn prepare<T: BulkRows>(client: &mut postgres::Client) -> Result<Vec<String>> {
    let name = T::TABLES
        .first()
        .map_or_else(String::new, |t| t.name().to_string());
    let mut tx = client.transaction().on(&name)?;
    let statements = enums::complete(&mut tx, T::TABLES)?;
    tx.commit().on(&name)?;
    Ok(statements)
}

/// Items used by the code `#[derive(BulkTable)]` generates. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::encode::{accepts, encode_label, JsonSerialize};
}
