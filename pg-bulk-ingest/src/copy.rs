//! The binary COPY stream (PostgreSQL's documentation, "COPY", section
//! "Binary Format"): the header, one tuple per row, the trailer. Every path
//! frames its rows here.

use crate::encode::{FieldError, RowWriter};
use crate::row::BulkRows;

/// The 19 bytes every binary COPY stream starts with: signature, flags `0`,
/// header-extension length `0`.
pub(crate) const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The trailer: a field count of `-1`.
pub(crate) const COPY_TRAILER: &[u8] = &(-1i16).to_be_bytes();

/// Appends `row` to `out` as one tuple of binary COPY (the field count of the
/// row's table, then each field: its length and its bytes, or -1 for NULL), as
/// the calls send it, through the serializer `#[derive(BulkTable)]` generates.
/// For a COPY of your own, or to measure encoding without a database; the
/// stream around the tuples is the 19-byte header `PGCOPY\n\xff\r\n\0` plus
/// eight zero bytes, and the trailer `-1i16`.
///
/// ```
/// use pg_bulk_ingest::{encode_row, BulkTable};
///
/// #[derive(BulkTable)]
/// struct Point {
///     x: i32,
///     label: Option<String>,
/// }
///
/// let mut out = Vec::new();
/// encode_row(&Point { x: 7, label: None }, &mut out)?;
/// assert_eq!(out, [0, 2, 0, 0, 0, 4, 0, 0, 0, 7, 255, 255, 255, 255]);
/// # Ok::<(), pg_bulk_ingest::FieldError>(())
/// ```
#[inline(always)]
pub fn encode_row<R: BulkRows + ?Sized>(row: &R, out: &mut Vec<u8>) -> Result<(), FieldError> {
    write_tuple(out, row, None)
}

/// Appends `row` as one tuple: the field count, then, for a staging table,
/// its input `position` as the first field (`bigint`), then the row's fields.
#[inline(always)]
pub(crate) fn write_tuple<R: BulkRows + ?Sized>(
    out: &mut Vec<u8>,
    row: &R,
    position: Option<u64>,
) -> Result<(), FieldError> {
    let columns = R::TABLES
        .get(row.table_index())
        .map_or(0, |table| table.sent_count());
    let fields = columns + usize::from(position.is_some());
    out.extend_from_slice(&(fields as i16).to_be_bytes());
    if let Some(position) = position {
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&(position as i64).to_be_bytes());
    }
    row.write_fields(&mut RowWriter::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_nineteen_bytes() {
        assert_eq!(COPY_HEADER.len(), 19);
        assert_eq!(&COPY_HEADER[..11], b"PGCOPY\n\xff\r\n\0");
    }
}
