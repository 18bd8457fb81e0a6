//! Client-only encoding of the `items` shape into binary COPY, no database:
//! pg-bulk-ingest's encoders against `BinaryCopyInWriter`'s `ToSql` path.
//!
//! ```text
//! cargo bench --bench encode
//! ```
//!
//! Each iteration encodes the same 10,000 rows (made once, before timing)
//! into a reused buffer, flushed the way each writer flushes:
//!
//! - `pg_bulk_ingest`: `pg_bulk_ingest::encode_row`, the serializer
//!   `#[derive(BulkTable)]` generates for `Item` (field count, then per field
//!   `Encode::encode_field` with the column's `SqlType`: the length and the
//!   value, or -1 for NULL), what the library's COPY writes for each row. The
//!   buffer is handed off (here: cleared) at 256 KiB, as the library does.
//! - `BinaryCopyInWriter (ToSql)`: the body of tokio-postgres's
//!   `BinaryCopyInWriter::write_raw`: `to_sql_checked` through `&dyn ToSql`
//!   into a `BytesMut`, split off and frozen into a message every 4 KiB. What
//!   the synchronous `postgres::BinaryCopyInWriter` adds on top (a future
//!   polled with `block_on` per row, the socket) is not included.
//! - `ToSql, 256 KiB buffer`: the same encoders into one buffer cleared at
//!   256 KiB (the hand-written tuned baseline of the load benchmark).
//!
//! Before timing, the streams of the two encoders are compared byte for byte:
//! the comparison means nothing unless they are the same.
//!
//! A second group, `encode_column`, encodes one column of the same rows at a
//! time through each path, to show where the time goes (each column's bytes
//! are compared too). The library's side writes each value as
//! `RowWriter::field` does for the generated serializer: -1 for NULL,
//! otherwise `Encode::encode_field`.

mod common;

use std::hint::black_box;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pg_bulk_ingest::{BulkTable, Encode, EncodeError, SqlType};
use postgres::types::{IsNull, ToSql};

use common::{items, Item, TYPES};

const ROWS: usize = 10_000;
const CHUNK: usize = 256 * 1024;

/// What `RowWriter::field` does with one field, for the per-column group
/// (`RowWriter` is made only by the library).
#[inline]
fn field<E: Encode + ?Sized>(
    out: &mut Vec<u8>,
    ty: &SqlType,
    value: &E,
) -> Result<(), EncodeError> {
    if value.is_null() {
        out.extend_from_slice(&(-1i32).to_be_bytes());
        return Ok(());
    }
    value.encode_field(ty, out)
}

/// One row as the library encodes it: the generated serializer.
#[inline]
fn library_row(item: &Item, out: &mut Vec<u8>) -> Result<(), pg_bulk_ingest::FieldError> {
    pg_bulk_ingest::encode_row(item, out)
}

fn library(rows: &[Item], buf: &mut Vec<u8>) {
    for item in rows {
        library_row(item, buf).expect("encode");
        if buf.len() >= CHUNK {
            black_box(&buf[..]);
            buf.clear();
        }
    }
    black_box(&buf[..]);
    buf.clear();
}

/// One row as `BinaryCopyInWriter::write_raw` encodes it.
#[inline]
fn tosql_row(item: &Item, buf: &mut BytesMut) {
    let values = item.values();
    buf.put_i16(TYPES.len() as i16);
    for (i, (value, ty)) in values.into_iter().zip(&TYPES).enumerate() {
        let idx = buf.len();
        buf.put_i32(0);
        let len = match value.to_sql_checked(ty, buf) {
            Ok(IsNull::Yes) => -1,
            Ok(IsNull::No) => i32::try_from(buf.len() - idx - 4).expect("length"),
            Err(e) => panic!("column {i}: {e}"),
        };
        buf[idx..idx + 4].copy_from_slice(&len.to_be_bytes());
    }
}

fn binary_copy_in_writer(rows: &[Item], buf: &mut BytesMut) {
    for item in rows {
        tosql_row(item, buf);
        if buf.len() > 4096 {
            // What the writer sends as one CopyData message.
            black_box(buf.split().freeze());
        }
    }
    black_box(buf.split().freeze());
}

fn tosql_large_buffer(rows: &[Item], buf: &mut BytesMut) {
    for item in rows {
        tosql_row(item, buf);
        if buf.len() >= CHUNK {
            black_box(&buf[..]);
            buf.clear();
        }
    }
    black_box(&buf[..]);
    buf.clear();
}

fn bench(c: &mut Criterion) {
    let rows: Vec<Item> = items(0..ROWS as i64, 0).collect();

    // Both paths must produce the same stream, or the comparison means nothing.
    let mut ours = Vec::new();
    let mut theirs = BytesMut::new();
    for item in &rows {
        library_row(item, &mut ours).unwrap();
        tosql_row(item, &mut theirs);
    }
    assert_eq!(ours, theirs[..], "the two encoders disagree");
    let bytes_per_row = ours.len() as f64 / ROWS as f64;
    eprintln!(
        "encode: {ROWS} rows of the items shape, {bytes_per_row:.1} bytes per row in binary COPY"
    );

    let mut group = c.benchmark_group("encode_items");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("pg_bulk_ingest", |b| {
        let mut buf = Vec::with_capacity(CHUNK + 64 * 1024);
        b.iter(|| library(black_box(&rows), &mut buf))
    });
    group.bench_function("BinaryCopyInWriter (ToSql)", |b| {
        // One long-lived writer buffer, as in a COPY of many rows.
        let mut buf = BytesMut::new();
        b.iter(|| binary_copy_in_writer(black_box(&rows), &mut buf))
    });
    group.bench_function("ToSql, 256 KiB buffer", |b| {
        let mut buf = BytesMut::with_capacity(CHUNK + 64 * 1024);
        b.iter(|| tosql_large_buffer(black_box(&rows), &mut buf))
    });
    group.finish();

    // Where the time goes: one column of every row, framed (length prefix and
    // value), through each path; each path's bytes are checked against the
    // other's first.
    let mut group = c.benchmark_group("encode_column");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    macro_rules! column {
        ($i:literal, $field:ident) => {
            let name = <Item as BulkTable>::TABLE.columns[$i].name;
            // The column's type as the generated serializer passes it.
            let library = |rows: &[Item], buf: &mut Vec<u8>| {
                for item in rows {
                    let ty = &<Item as BulkTable>::TABLE.columns[$i].sql_type;
                    field(buf, ty, &item.$field).expect("encode");
                }
            };
            let tosql = |rows: &[Item], buf: &mut BytesMut| {
                for item in rows {
                    let idx = buf.len();
                    buf.put_i32(0);
                    let value: &(dyn ToSql + Sync) = &item.$field;
                    let len = match value.to_sql_checked(&TYPES[$i], buf).expect("to_sql") {
                        IsNull::Yes => -1,
                        IsNull::No => (buf.len() - idx - 4) as i32,
                    };
                    buf[idx..idx + 4].copy_from_slice(&len.to_be_bytes());
                }
            };
            let (mut ours, mut theirs) = (Vec::new(), BytesMut::new());
            library(&rows, &mut ours);
            tosql(&rows, &mut theirs);
            assert_eq!(ours, theirs[..], "column {name}: the two encoders disagree");
            group.bench_function(format!("{name}/pg_bulk_ingest"), |b| {
                let mut buf = Vec::with_capacity(CHUNK);
                b.iter(|| {
                    library(black_box(&rows), &mut buf);
                    black_box(&buf[..]);
                    buf.clear();
                })
            });
            group.bench_function(format!("{name}/ToSql"), |b| {
                let mut buf = BytesMut::with_capacity(CHUNK);
                b.iter(|| {
                    tosql(black_box(&rows), &mut buf);
                    black_box(&buf[..]);
                    buf.clear();
                })
            });
        };
    }
    column!(0, id);
    column!(1, name);
    column!(2, amount);
    column!(3, created);
    column!(4, flag);
    column!(5, note);
    column!(6, score);
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
