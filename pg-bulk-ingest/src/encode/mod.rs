//! Binary COPY encoding: the [`Encode`] trait, its implementations for the
//! supported Rust types, and the [`RowWriter`] the generated serializers write
//! through.
//!
//! The stream is PostgreSQL's binary COPY format: a header, then per row an
//! `i16` field count and per field an `i32` length (or `-1` for NULL) followed
//! by the value in the type's binary send format, then a trailer.

use std::fmt;

use crate::table::{BulkRows, SqlType, TypeKind};

mod array;
#[cfg(feature = "chrono")]
mod chrono;
#[cfg(feature = "rust_decimal")]
mod decimal;
mod int;
mod interval;
#[cfg(feature = "serde_json")]
mod json;
#[cfg(feature = "serde_json")]
pub use json::JsonSerialize;
mod net;
#[cfg(feature = "time")]
mod time;
#[cfg(feature = "uuid")]
mod uuid;

/// The 19 bytes every binary COPY stream starts with: signature, flags `0`,
/// header-extension length `0`.
pub(crate) const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The trailer: a field count of `-1`.
pub(crate) const COPY_TRAILER: &[u8] = &(-1i16).to_be_bytes();

/// A Rust type that can be written into a PostgreSQL column in binary COPY
/// format.
///
/// Implement it to store a type of your own; most newtypes delegate:
///
/// ```
/// use pg_bulk_ingest::{BulkTable, Encode, EncodeError, SqlType, TypeKind};
///
/// /// Cents, stored as a bigint.
/// struct Cents(i64);
///
/// impl Encode for Cents {
///     const SQL_TYPE: SqlType = <i64 as Encode>::SQL_TYPE;
///     const ACCEPTS: &'static [TypeKind] = <i64 as Encode>::ACCEPTS;
///     fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
///         self.0.encode(ty, out)
///     }
/// }
///
/// #[derive(BulkTable)]
/// struct Payment {
///     #[bulk(primary_key)]
///     id: i64,
///     amount: Cents,
/// }
/// assert_eq!(Payment::TABLE.columns[1].sql_type.to_string(), "bigint");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be written to a PostgreSQL column",
    label = "no `pg_bulk_ingest::Encode` implementation for `{Self}`",
    note = "see the type table in the pg-bulk-ingest docs; types of optional crates need their cargo feature (`chrono`, `rust_decimal`, `uuid`, `serde_json`, `time`), and your own types can implement `Encode`"
)]
pub trait Encode {
    /// The column type used when the field has no `sql_type` attribute.
    const SQL_TYPE: SqlType;

    /// The base types this Rust type can be written as. A field whose
    /// `sql_type` is not among them is a compile error.
    const ACCEPTS: &'static [TypeKind];

    /// Whether the value can be NULL; `true` only for `Option<T>`. Columns of
    /// nullable fields are created without `NOT NULL`.
    const NULLABLE: bool = false;

    /// Whether the value is an array (`Vec<T>`, `&[T]`), written to a `T[]`
    /// column. A field's `sql_type` must be an array type exactly when this
    /// is `true`.
    const ARRAY: bool = false;

    /// Whether this value is NULL (then [`encode`](Encode::encode) is not called).
    #[inline]
    fn is_null(&self) -> bool {
        false
    }

    /// Appends the value's binary representation (without the length prefix)
    /// for a column of type `ty`, which is one of [`ACCEPTS`](Encode::ACCEPTS).
    /// Values the column cannot hold are rejected with an [`EncodeError`] rather
    /// than sent.
    fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError>;
}

/// Why a value was not written. The ingest functions turn it into
/// [`Error::InvalidValue`](crate::Error::InvalidValue), adding the row's
/// position, the table and the column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError {
    reason: String,
    value: Option<String>,
}

impl EncodeError {
    /// A value that can't be written, for `reason`.
    pub fn new(reason: impl Into<String>) -> EncodeError {
        EncodeError {
            reason: reason.into(),
            value: None,
        }
    }

    /// Adds a short rendering of the offending value (it is cut to 60
    /// characters).
    pub fn with_value(mut self, value: impl fmt::Debug) -> EncodeError {
        self.value = Some(shorten(&format!("{value:?}"), 60));
        self
    }

    /// Why the value was rejected.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// A short rendering of the value, when the encoder gave one.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        if let Some(value) = &self.value {
            write!(f, " (value: {value})")?;
        }
        Ok(())
    }
}

impl std::error::Error for EncodeError {}

/// An [`EncodeError`] with the index of the column it happened in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Index of the column in the table definition.
    pub column: usize,
    /// What went wrong.
    pub error: EncodeError,
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// Writes the fields of one row into the COPY buffer. Generated serializers
/// call [`field`](RowWriter::field) once per column, in column order.
pub struct RowWriter<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> RowWriter<'a> {
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Self {
        RowWriter { buf }
    }

    /// Writes `value` as column `column` (its index), of type `ty`.
    #[inline]
    pub fn field<E: Encode + ?Sized>(
        &mut self,
        column: usize,
        ty: &SqlType,
        value: &E,
    ) -> Result<(), FieldError> {
        if value.is_null() {
            self.buf.extend_from_slice(&(-1i32).to_be_bytes());
            return Ok(());
        }
        self.framed(column, |out| value.encode(ty, out))
    }

    /// Writes `value` as column `column` (its index), of type `ty`, with the
    /// function `encode` instead of an [`Encode`] implementation; `None` is
    /// NULL. `#[bulk(json)]` and `#[bulk(with = path)]` fields are written
    /// with it; `encode` appends the value's binary representation, as
    /// [`Encode::encode`] does.
    #[inline]
    pub fn field_with<T: ?Sized>(
        &mut self,
        column: usize,
        ty: &SqlType,
        value: Option<&T>,
        encode: impl FnOnce(&T, &SqlType, &mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), FieldError> {
        match value {
            None => {
                self.buf.extend_from_slice(&(-1i32).to_be_bytes());
                Ok(())
            }
            Some(value) => self.framed(column, |out| encode(value, ty, out)),
        }
    }

    /// The length prefix, then what `write` appends.
    #[inline]
    fn framed(
        &mut self,
        column: usize,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), FieldError> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        write(self.buf).map_err(|error| FieldError { column, error })?;
        let len = self.buf.len() - start - 4;
        let len = i32::try_from(len).map_err(|_| FieldError {
            column,
            error: EncodeError::new(format!(
                "the value is {len} bytes long; PostgreSQL's limit is 1 GB"
            )),
        })?;
        self.buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }
}

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
#[inline]
pub fn encode_row<R: BulkRows + ?Sized>(row: &R, out: &mut Vec<u8>) -> Result<(), FieldError> {
    let columns = R::TABLES
        .get(row.table_index())
        .map_or(0, |table| table.columns.len());
    out.extend_from_slice(&(columns as i16).to_be_bytes());
    row.write_fields(&mut RowWriter::new(out))
}

/// What `#[derive(BulkEnum)]` writes: the label, as the enum type's binary
/// input (`enum_recv`) takes it, or as text into a `text`/`varchar(n)`
/// column.
#[doc(hidden)]
#[inline]
pub fn encode_label(label: &str, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match ty.kind() {
        TypeKind::Enum => {
            out.extend_from_slice(label.as_bytes());
            Ok(())
        }
        _ => label.encode(ty, out),
    }
}

/// For the compile-time check the derive emits for `sql_type`: whether `kind`
/// is among `accepts`.
#[doc(hidden)]
pub const fn accepts(accepts: &[TypeKind], kind: TypeKind) -> bool {
    let mut i = 0;
    while i < accepts.len() {
        if accepts[i] as u8 == kind as u8 {
            return true;
        }
        i += 1;
    }
    false
}

// ---------------------------------------------------------------------------
// Implementations for std types.

impl<T: Encode> Encode for Option<T> {
    const SQL_TYPE: SqlType = T::SQL_TYPE;
    const ACCEPTS: &'static [TypeKind] = T::ACCEPTS;
    const NULLABLE: bool = true;
    const ARRAY: bool = T::ARRAY;

    #[inline]
    fn is_null(&self) -> bool {
        match self {
            Some(v) => v.is_null(),
            None => true,
        }
    }

    #[inline]
    fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Some(v) => v.encode(ty, out),
            None => Ok(()),
        }
    }
}

macro_rules! delegate {
    ($($(#[$m:meta])* impl[$($g:tt)*] $t:ty => $inner:ty;)*) => {$(
        $(#[$m])*
        impl<$($g)*> Encode for $t {
            const SQL_TYPE: SqlType = <$inner as Encode>::SQL_TYPE;
            const ACCEPTS: &'static [TypeKind] = <$inner as Encode>::ACCEPTS;
            const NULLABLE: bool = <$inner as Encode>::NULLABLE;
            const ARRAY: bool = <$inner as Encode>::ARRAY;

            #[inline]
            fn is_null(&self) -> bool {
                <$inner as Encode>::is_null(self)
            }

            #[inline]
            fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
                <$inner as Encode>::encode(self, ty, out)
            }
        }
    )*};
}

delegate! {
    impl['a, T: Encode + ?Sized] &'a T => T;
    impl[T: Encode + ?Sized] Box<T> => T;
    impl[T: Encode + ?Sized] std::sync::Arc<T> => T;
    impl['a] std::borrow::Cow<'a, str> => str;
    impl[] String => str;
}

macro_rules! fixed {
    ($($t:ty => $kind:ident;)*) => {$(
        impl Encode for $t {
            const SQL_TYPE: SqlType = SqlType::new(TypeKind::$kind);
            const ACCEPTS: &'static [TypeKind] = &[TypeKind::$kind];

            #[inline]
            fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
                out.extend_from_slice(&self.to_be_bytes());
                Ok(())
            }
        }
    )*};
}

fixed! {
    i16 => Int2;
    i32 => Int4;
    i64 => Int8;
    f32 => Float4;
    f64 => Float8;
}

impl Encode for bool {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Bool);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Bool];

    #[inline]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(u8::from(*self));
        Ok(())
    }
}

impl Encode for str {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Text);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Text, TypeKind::Varchar, TypeKind::Char];

    #[inline]
    fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let bytes = checked_text(self)?;
        // `char` without a length is `char(1)`.
        let max = match ty.kind() {
            TypeKind::Char => Some(ty.precision().unwrap_or(1)),
            TypeKind::Varchar => ty.precision(),
            _ => None,
        };
        match max {
            Some(max) => append(out, fit_length(self, bytes, max, ty)?),
            None => append(out, bytes),
        }
        Ok(())
    }
}

/// One character: `character(1)` by default, or any text column (every
/// `varchar(n)`/`char(n)` holds one character). NUL is rejected.
impl Encode for char {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Char).with_length(1);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Char, TypeKind::Text, TypeKind::Varchar];

    #[inline]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if *self == '\0' {
            return Err(
                EncodeError::new("text cannot contain the NUL character (\\0)").with_value(self),
            );
        }
        out.extend_from_slice(self.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }
}

/// Text PostgreSQL can store: no NUL character (Rust strings are valid UTF-8).
#[inline]
fn checked_text(s: &str) -> Result<&[u8], EncodeError> {
    let bytes = s.as_bytes();
    if has_nul(bytes) {
        return Err(nul_in_text(s));
    }
    Ok(bytes)
}

#[cold]
fn nul_in_text(s: &str) -> EncodeError {
    EncodeError::new("text cannot contain the NUL character (\\0)").with_value(s)
}

/// Whether `bytes` holds a zero byte, a word at a time: a word has a zero
/// byte exactly when `(w - 0x01..01) & !w & 0x80..80` is not zero. Short
/// tails are read as overlapping words rather than byte by byte.
#[inline]
fn has_nul(bytes: &[u8]) -> bool {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |w: u64| w.wrapping_sub(LOW) & !w & HIGH != 0;
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let half = |b: &[u8]| u64::from(u32::from_le_bytes(b.try_into().expect("4 bytes")));
    let n = bytes.len();
    if n >= 8 {
        let mut chunks = bytes.chunks_exact(8);
        if chunks.any(|c| zero_in(word(c))) {
            return true;
        }
        // The last eight bytes, overlapping the chunks read already.
        !n.is_multiple_of(8) && zero_in(word(&bytes[n - 8..]))
    } else if n >= 4 {
        // The first and the last four bytes, with ones above them.
        const ONES: u64 = 0x0101_0101_0000_0000;
        zero_in(half(&bytes[..4]) | ONES) || zero_in(half(&bytes[n - 4..]) | ONES)
    } else {
        bytes.contains(&0)
    }
}

/// Appends `bytes` to `out`. Values of 8 to 32 bytes, as most text values
/// are, are copied as two overlapping blocks of fixed size instead of by a
/// call to `memcpy`.
#[inline]
fn append(out: &mut Vec<u8>, bytes: &[u8]) {
    match bytes.len() {
        8..=16 => append_overlapping::<8>(out, bytes),
        17..=32 => append_overlapping::<16>(out, bytes),
        _ => out.extend_from_slice(bytes),
    }
}

/// `bytes` (`W` to `2 * W` long) as its first and its last `W` bytes.
#[inline]
fn append_overlapping<const W: usize>(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    let head: [u8; W] = bytes[..W].try_into().expect("W bytes");
    let tail: [u8; W] = bytes[n - W..].try_into().expect("W bytes");
    let start = out.len();
    out.extend_from_slice(&head);
    out.extend_from_slice(&tail);
    out[start + n - W..start + n].copy_from_slice(&tail);
    out.truncate(start + n);
}

/// `varchar(n)`/`char(n)` semantics of PostgreSQL: a value longer than `n`
/// characters is an error, unless the excess is only spaces, which are cut.
#[inline]
fn fit_length<'a>(
    s: &str,
    bytes: &'a [u8],
    max: u32,
    ty: &SqlType,
) -> Result<&'a [u8], EncodeError> {
    // Fast path: no more bytes than allowed characters.
    if bytes.len() <= max as usize {
        return Ok(bytes);
    }
    match s.char_indices().nth(max as usize) {
        None => Ok(bytes),
        Some((end, _)) if s[end..].bytes().all(|b| b == b' ') => Ok(&bytes[..end]),
        Some(_) => Err(EncodeError::new(format!(
            "value too long for {ty}: {} characters",
            s.chars().count()
        ))
        .with_value(shorten(s, 40))),
    }
}

impl Encode for [u8] {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Bytea);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Bytea];

    #[inline]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(self);
        Ok(())
    }
}

delegate! {
    impl[] Vec<u8> => [u8];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode<E: Encode + ?Sized>(v: &E, ty: SqlType) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        v.encode(&ty, &mut out)?;
        Ok(out)
    }

    #[test]
    fn header_is_nineteen_bytes() {
        assert_eq!(COPY_HEADER.len(), 19);
        assert_eq!(&COPY_HEADER[..11], b"PGCOPY\n\xff\r\n\0");
    }

    #[test]
    fn fixed_width_big_endian() {
        assert_eq!(encode(&1i16, i16::SQL_TYPE).unwrap(), [0, 1]);
        assert_eq!(encode(&-2i32, i32::SQL_TYPE).unwrap(), [255, 255, 255, 254]);
        assert_eq!(
            encode(&1.0f64, f64::SQL_TYPE).unwrap(),
            1.0f64.to_be_bytes()
        );
        assert_eq!(encode(&true, bool::SQL_TYPE).unwrap(), [1]);
    }

    #[test]
    fn append_copies_every_length() {
        for len in 0..80 {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
            let mut out = b"prefix".to_vec();
            append(&mut out, &bytes);
            assert_eq!(&out[..6], b"prefix");
            assert_eq!(&out[6..], &bytes[..], "{len}");
        }
    }

    #[test]
    fn nul_is_found_at_every_position() {
        for len in 0..40 {
            let clean: Vec<u8> = (0..len).map(|i| 1 + (i * 37 % 255) as u8).collect();
            assert!(!has_nul(&clean), "{len}");
            // 0x80 and 0xff bytes around zeros must not confuse the check.
            let high = vec![0x80u8; len];
            assert!(!has_nul(&high));
            for at in 0..len {
                let mut with = clean.clone();
                with[at] = 0;
                assert!(has_nul(&with), "{len} {at}");
                let mut with = vec![0xffu8; len];
                with[at] = 0;
                assert!(has_nul(&with), "{len} {at}");
            }
        }
    }

    #[test]
    fn text_rejects_nul_and_checks_length() {
        let e = encode("a\0b", str::SQL_TYPE).unwrap_err();
        assert!(e.reason().contains("NUL"), "{e}");
        assert_eq!(e.value(), Some("\"a\\0b\""));
        let v3 = SqlType::new(TypeKind::Varchar).with_length(3);
        assert_eq!(encode("héé", v3).unwrap(), "héé".as_bytes());
        assert_eq!(encode("héé   ", v3).unwrap(), "héé".as_bytes());
        let e = encode("héllo", v3).unwrap_err();
        assert!(e.reason().contains("character varying(3)"), "{e}");
        assert_eq!(encode("", v3).unwrap(), b"");
    }

    #[test]
    fn row_writer_frames_fields() {
        let mut buf = Vec::new();
        let mut w = RowWriter::new(&mut buf);
        w.field(0, &i32::SQL_TYPE, &7i32).unwrap();
        w.field(1, &str::SQL_TYPE, &None::<String>).unwrap();
        w.field(2, &str::SQL_TYPE, "ab").unwrap();
        assert_eq!(
            buf,
            [0, 0, 0, 4, 0, 0, 0, 7, 255, 255, 255, 255, 0, 0, 0, 2, b'a', b'b']
        );
        let mut w = RowWriter::new(&mut buf);
        let err = w.field(3, &str::SQL_TYPE, "\0").unwrap_err();
        assert_eq!(err.column, 3);
    }

    #[test]
    fn accepts_is_const() {
        const OK: bool = accepts(<String as Encode>::ACCEPTS, TypeKind::Varchar);
        const NO: bool = accepts(<String as Encode>::ACCEPTS, TypeKind::Int4);
        const { assert!(OK && !NO) };
    }
}

/// What `#[bulk(json)]` needs when the `serde_json` feature is off: nothing
/// implements it, so such a field is a compile error naming the feature.
#[cfg(not(feature = "serde_json"))]
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[bulk(json)]` needs the `serde_json` feature of pg-bulk-ingest",
    label = "`{Self}` is written as JSON",
    note = "enable the feature: pg-bulk-ingest = {{ version = \"...\", features = [\"serde_json\"] }}"
)]
pub trait JsonSerialize {
    /// Never called.
    fn encode_json(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError>;
}
