//! The traits that connect a row type to its table(s) and write its fields.

use crate::encode::{FieldError, RowWriter};
use crate::table::TableDef;
use crate::types::EnumDef;

/// A fieldless Rust enum stored as a PostgreSQL enum type. Implemented by
/// `#[derive(BulkEnum)]`, which also implements [`Encode`](crate::Encode)
/// (the column type is the enum type; `text` and `varchar(n)` columns take
/// the labels too).
pub trait BulkEnum {
    /// The enum type.
    const ENUM: &'static EnumDef;

    /// The label of this value.
    fn label(&self) -> &'static str;
}

/// A struct whose values are rows of one table. Implemented by
/// `#[derive(BulkTable)]`; see the crate documentation for its attributes.
///
/// Implementing it by hand is possible (for a type the derive can't handle) but
/// `write_fields` must write exactly one field per column, in column order.
pub trait BulkTable {
    /// The table's definition.
    const TABLE: TableDef;

    /// Writes the row's fields, in column order, with [`RowWriter::field`].
    fn write_fields(&self, w: &mut RowWriter<'_>) -> Result<(), FieldError>;
}

/// Rows that may belong to one of several tables. Every [`BulkTable`] is a
/// `BulkRows` of one table.
pub trait BulkRows {
    /// The tables, in a fixed order.
    const TABLES: &'static [&'static TableDef];

    /// The index in [`TABLES`](BulkRows::TABLES) of the table this row belongs to.
    fn table_index(&self) -> usize;

    /// Writes the row's fields, in the column order of its table.
    fn write_fields(&self, w: &mut RowWriter<'_>) -> Result<(), FieldError>;
}

impl<T: BulkTable> BulkRows for T {
    const TABLES: &'static [&'static TableDef] = &[&T::TABLE];

    #[inline]
    fn table_index(&self) -> usize {
        0
    }

    #[inline]
    fn write_fields(&self, w: &mut RowWriter<'_>) -> Result<(), FieldError> {
        BulkTable::write_fields(self, w)
    }
}

/// Marks row types whose tables all have a primary key over fields the
/// struct sends, which
/// [`ConflictKey::primary_key`](crate::ConflictKey::primary_key) needs.
/// `#[derive(BulkTable)]` implements it when fields have `#[bulk(primary_key)]`
/// and none of them is filled by the database.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no primary key over fields it sends",
    note = "mark the key field(s) with `#[bulk(primary_key)]`; a key the database fills (`identity`) can't match the rows"
)]
pub trait HasPrimaryKey: HasUniqueKey {}

/// Marks a row type whose table(s) each have a unique key rows can be matched
/// on: a primary key, or a unique index (see
/// [`ConflictKey`](crate::ConflictKey)), over fields the struct sends (not
/// [`Generated`](crate::Generated) ones). `#[derive(BulkTable)]` implements it
/// when the struct declares one, `#[derive(BulkRows)]` when every table of the
/// enum has one. [`upsert`](crate::upsert) needs it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no primary key or unique index over fields it sends, so its rows cannot be upserted",
    label = "upsert needs a unique key to decide which rows to update",
    note = "mark the key field(s) with `#[bulk(primary_key)]` or `#[bulk(unique)]`, or use `insert` or `replace`",
    note = "a key the database fills (`identity`, `generated`, `db_fills`) can't match the rows: upsert on a unique index of fields the struct sends"
)]
pub trait HasUniqueKey: BulkRows {}

/// A row, or a reference to one: what the iterators given to `insert`,
/// `upsert` and `replace` yield. `#[derive(BulkTable)]` implements it for `T`
/// and `&T`, so both `Vec<T>` and `&Vec<T>` can be passed.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a row of a table",
    note = "derive `BulkTable` for the row type; iterators of `T` and of `&T` are accepted"
)]
pub trait AsRow {
    /// The row type.
    type Row: BulkRows;
    /// The row.
    fn as_row(&self) -> &Self::Row;
}
