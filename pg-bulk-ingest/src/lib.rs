//! Load batches of Rust structs into PostgreSQL as fast as the server takes
//! them.
//!
//! `#[derive(BulkTable)]` turns a struct into a table definition and a binary
//! COPY serializer generated at compile time. [`insert`], [`upsert`] and
//! [`replace`] create the table if it is missing and stream the rows with
//! `COPY ... FROM STDIN (FORMAT binary)`, inside the caller's transaction: all
//! of a call lands when the caller commits, or none of it does. The library
//! never commits or rolls back the caller's transaction; each call runs in a
//! savepoint of it, so a failed call leaves the transaction usable and the
//! table as it was.
//!
//! ```no_run
//! use pg_bulk_ingest::BulkTable;
//!
//! #[derive(BulkTable)]
//! #[bulk(schema = "sales", table = "orders")]
//! struct Order {
//!     #[bulk(primary_key)]
//!     id: i64,
//!     #[bulk(sql_type = "varchar(32)")]
//!     customer: String,
//!     #[bulk(sql_type = "numeric(12,2)")]
//!     amount: rust_decimal::Decimal,
//!     created: chrono::DateTime<chrono::Utc>,
//!     note: Option<String>,
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut client = postgres::Client::connect("host=localhost user=postgres", postgres::NoTls)?;
//! let orders: Vec<Order> = Vec::new();
//! let mut tx = client.transaction()?;
//! let report = pg_bulk_ingest::upsert(&mut tx, &orders)?;
//! tx.commit()?;
//! println!("{} rows", report.rows);
//! # Ok(()) }
//! ```
//!
//! Rows of several tables can come in one stream: see [`BulkRows`](derive@BulkRows).
//!
//! # Supported PostgreSQL
//!
//! PostgreSQL 12 to 18; the whole test suite runs on each of them. Where the
//! majors store a table differently, the comparison reads what each stores:
//! PostgreSQL 18's named `NOT NULL` constraints (`pg_constraint.contype = 'n'`)
//! are part of the columns, and a table swapped in gets the names PostgreSQL
//! gives a table created under its own name (`<table>_<column>_not_null`); a
//! `NOT NULL ... NOT VALID` compares as nullable; settings a swap would not
//! carry (virtual generated columns and `WITHOUT OVERLAPS` keys of 18,
//! `NULLS NOT DISTINCT` indexes of 15, column compression of 14, ...) are
//! refused on the majors that have them.
//!
//! # Migrations
//!
//! Each call first makes the live table match the struct. The comparison is
//! semantic (columns by name, types as `format_type` spells them, enum types
//! by schema and name, defaults as PostgreSQL normalizes them, indexes by
//! columns, uniqueness and method), so an unchanged definition changes nothing
//! and never rebuilds the table.
//!
//! # How it works
//!
//! A call reads what it needs from the catalog, then decides, without reading
//! or changing anything more, on a [`Plan`]: its [`Path`](plan::Path) and its
//! ordered [`Step`](plan::Step)s, each one statement (or the COPY) with the
//! lock it takes on the table. Then it runs those steps, in that order, in a
//! savepoint of the caller's transaction. [`plan`](crate::plan()) returns
//! the same plan without running it, and [`TableReport::plan`] the plan a
//! call ran: what `plan()` shows is what a call does.
//!
//! By default a changed table is **rebuilt**: an intermediate table with the new
//! definition is created, the live rows are copied into it (with casts;
//! `rename_from` columns carried; new columns get their default) while writers
//! wait and readers go on, the batch is loaded, keys and indexes are built, the
//! owner, privileges and comments are carried over, and the new table is swapped
//! in as the call's last step. With [`Ingest::in_place`], catalog-only changes
//! are made with `ALTER TABLE` instead. A rebuild needs a `READ COMMITTED`
//! transaction (in `REPEATABLE READ` or `SERIALIZABLE` the live rows would be
//! read with a snapshot that misses rows other sessions commit before the
//! lock, and they would be lost with the old table), so there it fails with
//! [`Error::Unsupported`].
//!
//! Changes that would lose data (dropping a column that holds data, narrowing a
//! type, a type change without an exact conversion) are refused with
//! [`Error::Refused`] unless [`Ingest::allow_data_loss`] is set; a new `NOT NULL`
//! column without a default on a table with rows, and `NOT NULL` on a column
//! holding NULLs, are always refused. Objects a swap would lose (views, foreign
//! keys into the table, triggers, indexes someone else made) make the call fail
//! with [`Error::Dependents`] before it does anything.
//!
//! # Locks
//!
//! `insert` and `upsert` into a table that needs no change take `ROW EXCLUSIVE`
//! (as any `INSERT`), which blocks no reader; an `upsert` of a batch at least
//! half as large as the table rebuilds it instead (see [`UpsertStrategy`]). A
//! rebuild holds `EXCLUSIVE` on the
//! live table from the copy of its rows until commit (writers wait, readers
//! don't). Swaps and in-place changes take `ACCESS EXCLUSIVE` as the call's
//! last step, in attempts of at most the lock timeout (1 s by default) with
//! back-off between them, so that readers never queue behind a waiting swap for
//! longer than that; the lock is held until the caller commits, so commit soon.
//! After [`Ingest::terminate_blockers_after`] (5 minutes by default), the
//! sessions that block the swap are terminated with `pg_terminate_backend` from
//! the [`Ingest::force_connection`] (which needs superuser or
//! `pg_signal_backend`), each logged at warn with its pid, user and query age,
//! while the attempts go on (each still at most the lock timeout); when a
//! blocker can't be terminated (a superuser's session, for
//! `pg_signal_backend`), or is still there after 10 s, the call fails with
//! [`Error::SwapTimeout`] giving the server's reason, and changes nothing, as
//! it does without a force connection. Calls on the same table are
//! serialised by a transaction-level advisory lock.
//!
//! What a reader in `REPEATABLE READ` or `SERIALIZABLE` sees, when its
//! snapshot was taken before a call committed and it reads the call's table
//! only afterwards: after a merge or an insert into the table, the rows of its
//! snapshot (ordinary MVCC); after `replace`, or a call that created the
//! table, all of the new table (its rows are written frozen, visible to every
//! snapshot); after a rebuild (a migration, or an upsert by rebuild), none of
//! it: the new table looks empty to that snapshot, as it does after
//! PostgreSQL's own table rewrites (its documentation on `TRUNCATE` and
//! `ALTER TABLE` calls them "not MVCC-safe"). Never a mix of old and new rows.
//! A reader that had read the table before the swap holds a lock the swap
//! waits for (or terminates, with a force connection).
//!
//! When the program is killed in the middle of a call, its backend lets go of
//! the call's locks once it notices: from PostgreSQL 14 within about a second,
//! also in the middle of a long statement (the call sets
//! `client_connection_check_interval` to 1 s for its duration, unless the
//! session set it); on 12 and 13 only when the running statement ends.
//!
//! # Incremental loads
//!
//! A job that loads only what is new since its last run keeps a **high
//! watermark**: how far it got (a timestamp, an id, a page of its source).
//! In the caller's transaction, [`Ingest::high_watermark`] stores it with
//! every table the call loads, so that it commits with the rows or not at
//! all, and [`high_watermark()`] reads it back when the next run starts (an
//! example is there). [`Ingest::upsert_batches`] (and `insert_batches`,
//! `replace_batches`) runs the whole job: it hands the stored watermark to
//! your source, and loads each [`Batch`] it gives in a transaction of its
//! own, committed with the batch's watermark; a job that stops resumes after
//! the last batch committed (`examples/incremental.rs` is killed and re-run).
//!
//! ```no_run
//! use pg_bulk_ingest::{Batch, BulkTable, HighWatermark, Ingest, Visible};
//!
//! #[derive(BulkTable)]
//! struct Order { #[bulk(primary_key)] id: i64, updated: String }
//!
//! /// Pages of the orders changed after `since` (all for `None`), each with
//! /// where it ends, and its page number as metadata.
//! fn pages_after(since: Option<&str>) -> Vec<Result<Batch<Vec<Order>, u32>, std::io::Error>> {
//!     # unimplemented!()
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut client = postgres::Client::connect("host=localhost user=postgres", postgres::NoTls)?;
//! let report = Ingest::new()
//!     .on_before_visible(|tx, visible: &Visible<'_, u32>| {
//!         tx.execute("UPDATE etl.jobs SET page = $1 WHERE job = 'orders'",
//!                    &[&i64::from(*visible.metadata())])?;
//!         Ok(())
//!     })
//!     .upsert_batches(&mut client, HighWatermark::Latest, pages_after)?;
//! println!("{} batches, up to {:?}", report.batches, report.high_watermark);
//! # Ok(()) }
//! ```
//!
//! The watermark is kept in the table's comment as the Python original
//! (pg-bulk-ingest on PyPI) keeps it, so that each library resumes the
//! other's loads: `{"pg-bulk-ingest": {"high-watermark": "<value>"}}`. The
//! comment's other members are kept as they were written. A comment that is
//! not a JSON object (text a person wrote) is not lost: the first watermark
//! stored with it makes it `{"description": "<the text>", "pg-bulk-ingest":
//! ...}`, the text whole in the string member (`obj_description(...)::jsonb
//! ->> 'description'` gives it back). A call without a watermark leaves the
//! comment as it is, and every swap carries it (the new watermark is set
//! after the carry). For a [`BulkRows`](derive@BulkRows) type the watermark
//! is stored in each of its tables; [`high_watermark()`] says what is read
//! when they disagree.
//!
//! # The derive
//!
//! Struct attributes, in `#[bulk(...)]`:
//!
//! | attribute | meaning | default |
//! |---|---|---|
//! | `schema = "name"` | schema of the table | `public` |
//! | `table = "name"` | table name | the struct's name in snake_case |
//! | `index(a, b)` | an index on fields `a`, `b` (several allowed) | |
//! | `index(tags, using = "gin")` | with another access method | `btree` |
//! | `unique(a, b)` | a unique index | |
//!
//! Field attributes:
//!
//! | attribute | meaning |
//! |---|---|
//! | `primary_key` | the column is (part of) the primary key; several fields make a composite key, in field order |
//! | `rename = "col"` | column name (default: the field's name) |
//! | `sql_type = "..."` | column type instead of the Rust type's default, e.g. `varchar(32)`, `numeric(12,2)`, `timestamp(3)`, `json`, `varchar(8)[]`; a type the field can't be written as is a compile error |
//! | `index` / `unique` | an index / a unique index on the column |
//! | `default = "<sql expression>"` | the column's `DEFAULT`: what rows already in the table get when the column is added (needed for a new `NOT NULL` column on a table with rows). It is SQL from your source code, used as written |
//! | `rename_from = "old"` | the column used to be called `old`: a migration carries its data over |
//! | `json` | the field (any `T: serde::Serialize`, feature `serde_json`) is serialized with `serde_json` into a `jsonb` column, or `json` with `sql_type = "json"`; see [JSON fields](#json-fields) |
//! | `with = path` | the field is written by `path::encode` into a column of type `path::SQL_TYPE`, for a type that doesn't implement [`Encode`]; see [Foreign types](#foreign-types-with) |
//!
//! Attributes that contradict each other are compile errors at the second
//! one: `json` with `with`, `json` with `primary_key`, `json` with a
//! `sql_type` other than `json`/`jsonb`, `with` with `sql_type`.
//!
//! Indexes are named deterministically (`<table>_<columns>_idx`, unique ones
//! `_key`, as PostgreSQL names them, shortened with a hash past 63 bytes) and
//! marked with the comment `pg-bulk-ingest`; indexes the library did not make
//! are never dropped.
//!
//! `Option<T>` fields make nullable columns; every other column is `NOT NULL`.
//! Names are used exactly as written (PostgreSQL's 63-byte limit applies) and
//! always quoted in SQL.
//!
//! # Types
//!
//! | Rust | feature | PostgreSQL (default first) | notes |
//! |---|---|---|---|
//! | `bool` | | `boolean` | |
//! | `i16` / `i32` / `i64` | | `smallint` / `integer` / `bigint` | |
//! | `i8` | | `smallint`, `integer`, `bigint`, `numeric` | |
//! | `u16` | | `integer`, `bigint`, `smallint`, `numeric` | a value a narrower column can't hold is rejected, never wrapped |
//! | `u32` | | `bigint`, `integer`, `numeric` | as above |
//! | `u64` | | `numeric(20,0)`, `bigint` | `numeric(20,0)` holds every `u64`; in `bigint`, values above `i64::MAX` are rejected |
//! | `u8` | | — | not a column type: `Vec<u8>` is `bytea`, which leaves no `u8[]`; store a byte as `i16` |
//! | `f32` / `f64` | | `real` / `double precision` | NaN and ±infinity allowed |
//! | `String`, `&str`, `Box<str>`, `Cow<str>` | | `text`, `varchar(n)`, `char(n)` | NUL rejected; longer than `n` characters rejected unless the excess is spaces (cut, as PostgreSQL does) |
//! | `char` | | `char(1)`, `text`, `varchar(n)` | NUL rejected |
//! | `Vec<u8>`, `&[u8]` | | `bytea` | |
//! | `Vec<T>`, `&[T]`, `Box<[T]>` (`T` any type here but `u8`) | | `T[]`, e.g. `integer[]`, `varchar(8)[]` | one dimension, lower bound 1; an empty `Vec` is `'{}'`; `Vec<Option<T>>` for NULL elements; the element type (and its modifiers) is the column's, e.g. `sql_type = "varchar(8)[]"`; an array `sql_type` for a non-array field, or the reverse, is a compile error; no arrays of arrays (`Vec<Vec<u8>>` is `bytea[]`) |
//! | `std::net::IpAddr`, `Ipv4Addr`, `Ipv6Addr` | | `inet` | a host address (`/32`, `/128`); `::ffff:1.2.3.4` stays IPv6 |
//! | `std::time::Duration` | | `interval` | microseconds only (days and months 0: 90000 s is `25:00:00`); nanoseconds rounded half-to-even; over 2⁶³−1 µs rejected |
//! | `rust_decimal::Decimal` | `rust_decimal` | `numeric`, `numeric(p,s)` | values that overflow `numeric(p,s)` after rounding to `s` are rejected |
//! | `chrono::NaiveDate` | `chrono` | `date` | before 4714-11-24 BC rejected |
//! | `chrono::NaiveTime` | `chrono` | `time`, `time(p)` | nanoseconds rounded half-to-even to µs |
//! | `chrono::NaiveDateTime` | `chrono` | `timestamp`, `timestamp(p)` | as above; PostgreSQL rounds to `p` |
//! | `chrono::DateTime<Tz>` (`Utc`, `FixedOffset`, `Local`, ...) | `chrono` | `timestamptz`, `timestamptz(p)` | as above; the instant is stored, not the offset |
//! | `chrono::Duration` (`TimeDelta`) | `chrono` | `interval` | as `std::time::Duration`, negative allowed |
//! | `time::Date` | `time` | `date` | outside 4714-11-24 BC to 5874897 AD rejected |
//! | `time::Time` | `time` | `time`, `time(p)` | nanoseconds rounded half-to-even to µs (23:59:59.9999995 is `24:00:00`) |
//! | `time::PrimitiveDateTime` | `time` | `timestamp`, `timestamp(p)` | outside 4714-11-24 BC to 294276 AD rejected |
//! | `time::OffsetDateTime` | `time` | `timestamptz`, `timestamptz(p)` | the instant is stored, not the offset |
//! | `time::Duration` | `time` | `interval` | as `chrono::Duration` |
//! | `uuid::Uuid` | `uuid` | `uuid` | |
//! | `serde_json::Value` | `serde_json` | `jsonb`, `json` | `jsonb` rejects the character U+0000 in strings and keys (as PostgreSQL does); `json` keeps the text as sent, `\u0000` included; a `json` column can't be a primary key (no equality) |
//! | a fieldless enum with `#[derive(BulkEnum)]` | | its PostgreSQL enum type, `text`, `varchar(n)` | the type is created when missing (see *Enums* in the crate docs); no arrays of enums |
//! | any `T: serde::Serialize` with `#[bulk(json)]` | `serde_json` | `jsonb`, `json` | see *JSON fields* in the crate docs |
//! | `Option<T>` | | as `T`, nullable | |
//!
//! A type of your own: implement [`Encode`]. A type of another crate:
//! [`with`](#foreign-types-with).
//!
//! # Enums
//!
//! [`#[derive(BulkEnum)]`](derive@BulkEnum) makes a fieldless Rust enum a
//! PostgreSQL enum type: `public.<the enum's name in snake_case>` by default
//! (`#[bulk(schema = "...", type_name = "...")]` on the enum), each variant a
//! label (its name in snake_case, or `#[bulk(rename = "...")]`). A field of
//! the enum is a column of the type; `Option<MyEnum>` a nullable one.
//!
//! A call that needs the type creates it when it is missing (`CREATE TYPE ...
//! AS ENUM`, with every label, in the call's savepoint). Enum columns are
//! compared by the type's schema and name, so a re-run changes nothing. Labels
//! the type has and the Rust enum doesn't are fine, and never removed.
//!
//! **Limit**: a type that exists but lacks some of the enum's labels (a variant
//! was added) makes the call fail with [`Error::EnumLabelsMissing`] before it
//! sends anything, because PostgreSQL refuses to use a label added by `ALTER
//! TYPE ... ADD VALUE` until the transaction that added it has committed (even
//! when the type itself was created in that transaction). Call
//! [`prepare::<T>(&mut client)`](crate::prepare()) before the load's
//! transaction: it adds the labels in a short transaction of its own. Arrays of
//! enums (`Vec<MyEnum>`) are not supported (a compile error).
//!
//! # JSON fields
//!
//! `#[bulk(json)]` writes a field of any `T: serde::Serialize` (feature
//! `serde_json`) as `jsonb`, or as `json` with `sql_type = "json"`. It is
//! serialized by `serde_json` straight into the COPY buffer, in compact form,
//! without building a `serde_json::Value`: a `json` column keeps that text; a
//! `jsonb` column stores what PostgreSQL parses from it, which is the same
//! value as the field's `serde_json::Value`. A field written `Option<T>` is
//! nullable, and `None` is NULL (not the JSON `null`). A serialization error
//! (e.g. a map whose keys aren't strings, or a `Serialize` implementation that
//! fails) rejects the row with [`Error::InvalidValue`] naming `serde_json`'s
//! reason; so does the character U+0000 in a `jsonb` value. `json` on a type
//! that doesn't implement `Serialize` is a compile error at the field's type.
//!
//! ```
//! use pg_bulk_ingest::BulkTable;
//! use std::collections::BTreeMap;
//!
//! #[derive(BulkTable)]
//! struct Event {
//!     #[bulk(primary_key)]
//!     id: i64,
//!     #[bulk(json)]
//!     attributes: BTreeMap<String, Vec<i32>>,
//!     #[bulk(json, sql_type = "json")]
//!     raw: Option<Vec<(String, f64)>>,
//! }
//! assert_eq!(Event::TABLE.columns[1].sql_type.to_string(), "jsonb");
//! assert_eq!(Event::TABLE.columns[2].sql_type.to_string(), "json");
//! assert!(Event::TABLE.columns[2].nullable);
//! ```
//!
//! # Foreign types: `with`
//!
//! A field of a type that doesn't implement [`Encode`] and that you can't
//! implement it for (a type of another crate) is written with `#[bulk(with =
//! path)]`, where `path` names a module (or a type) that provides:
//!
//! - `path::SQL_TYPE`: a [`SqlType`] constant, the column's type (a field with
//!   `with` takes no `sql_type`);
//! - `path::encode(value: &F, ty: &SqlType, out: &mut Vec<u8>) -> Result<(),
//!   EncodeError>`: appends the value in the column type's binary COPY format
//!   (what its `typreceive` function reads), without the length prefix, or
//!   returns an [`EncodeError`], which rejects the row as
//!   [`Error::InvalidValue`]. `ty` is `path::SQL_TYPE`. It may be generic.
//!
//! `F` is the field's type, except for a field written `Option<T>`: the column
//! is then nullable, `None` is NULL, and `encode` is given the `T` of `Some`.
//! Any other field is `NOT NULL`. Delegating to an existing [`Encode`]
//! implementation keeps its checks (NUL, lengths):
//!
//! ```
//! use pg_bulk_ingest::BulkTable;
//! use std::path::PathBuf;
//!
//! /// `PathBuf` as text; a path that isn't UTF-8 is rejected.
//! mod path_text {
//!     use pg_bulk_ingest::{Encode, EncodeError, SqlType, TypeKind};
//!     use std::path::PathBuf;
//!
//!     pub const SQL_TYPE: SqlType = SqlType::new(TypeKind::Text);
//!     pub fn encode(value: &PathBuf, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
//!         let text = value
//!             .to_str()
//!             .ok_or_else(|| EncodeError::new("the path is not UTF-8").with_value(value))?;
//!         text.encode(ty, out)
//!     }
//! }
//!
//! #[derive(BulkTable)]
//! struct File {
//!     #[bulk(primary_key, with = path_text)]
//!     path: PathBuf,
//!     #[bulk(with = path_text)]
//!     link_target: Option<PathBuf>,
//! }
//! assert_eq!(File::TABLE.columns[0].sql_type.to_string(), "text");
//! assert!(!File::TABLE.columns[0].nullable && File::TABLE.columns[1].nullable);
//! ```
//!
//! # Errors
//!
//! A value the column can't hold is caught before it is sent and reported as
//! [`Error::InvalidValue`] with the row's 0-based position in the input and the
//! column. A row PostgreSQL rejects while loading (a key that already exists,
//! ...) is [`Error::RowRejected`], with the position where PostgreSQL names the
//! COPY line.
//!
//! # Cargo features
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `derive` | yes | `#[derive(BulkTable)]`, `#[derive(BulkRows)]`, `#[derive(BulkEnum)]` |
//! | `chrono` | | `chrono` date and time types |
//! | `rust_decimal` | | `rust_decimal::Decimal` |
//! | `uuid` | | `uuid::Uuid` |
//! | `serde_json` | | `serde_json::Value`, `#[bulk(json)]` fields |
//! | `time` | | `time` date and time types |
//!
//! A type of a crate whose feature is off doesn't compile: "`Uuid` cannot be
//! written to a PostgreSQL column", with a note naming the features.

#![warn(missing_docs)]

extern crate self as pg_bulk_ingest;

mod catalog;
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
mod table;
mod types;
mod watermark;

pub use copy::encode_row;
pub use encode::{Encode, EncodeError, FieldError, RowWriter};
use error::OnTable;
pub use error::{Error, Result};
pub use ident::{Ident, QualifiedName};
pub use ingest::{
    Batch, HighWatermark, Ingest, Phase, Progress, Report, TableReport, UpsertStrategy, Visible,
};
pub use plan::{Mode, Plan};
pub use row::{AsRow, BulkEnum, BulkRows, BulkTable, HasPrimaryKey};
pub use table::{ColumnDef, IndexDef, TableDef};
pub use types::{EnumDef, SqlType, TypeKind};
pub use watermark::high_watermark;

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
/// the number of rows. A row whose key already exists fails the call with
/// [`Error::RowRejected`] naming the row and the key; the table is then left as
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
/// When several rows of the input have the same key, the last one wins.
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
/// Row types without a primary key don't compile:
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
    <I::Item as AsRow>::Row: HasPrimaryKey,
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
