//! The encoding framework: the [`Encode`] trait and its errors
//! ([`EncodeError`], [`FieldError`]), the [`RowWriter`] the generated
//! serializers write each row's fields through, the length-prefix helpers the
//! implementations share, and the forwarding implementations for `Option<T>`,
//! `&T`, `Box<T>` and `Arc<T>`.
//!
//! A field of a binary COPY row is an `i32` length (`-1` for NULL) followed by
//! the value in its type's binary format: what the type's `*send` function
//! writes and its `*recv` function reads (PostgreSQL's
//! `CopyReadBinaryAttribute` in `src/backend/commands/copyfromparse.c` hands
//! each field to the column type's `*recv`). Each submodule encodes one family
//! of types in that format: `scalar` (`bool`, integers, floats, `bytea`), `text`, `int`
//! (integers without a column type of their width), `numeric` (the
//! base-10000 `numeric` writer), `array`, `interval`, `net`, and one file per
//! optional integration (`chrono`, `decimal`, `json`, `time`, `uuid`). The
//! stream around the rows (header, tuple framing, trailer) is `crate::copy`'s.

use std::fmt;

use crate::types::{SqlType, TypeKind};

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
mod numeric;
mod scalar;
mod text;
pub use text::encode_label;
#[cfg(feature = "time")]
mod time;
#[cfg(feature = "uuid")]
mod uuid;

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

    /// Whether this value is NULL (then neither [`encode`](Encode::encode)
    /// nor [`encode_field`](Encode::encode_field) is called).
    #[inline]
    fn is_null(&self) -> bool {
        false
    }

    /// Appends the value's binary representation (without the length prefix)
    /// for a column of type `ty`, which is one of [`ACCEPTS`](Encode::ACCEPTS).
    /// Values the column cannot hold are rejected with an [`EncodeError`] rather
    /// than sent.
    fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError>;

    /// Appends the value as one field of a binary COPY row: its length as a
    /// big-endian `i32`, then what [`encode`](Encode::encode) appends. The
    /// generated serializers call it for each field that is not
    /// [`is_null`](Encode::is_null).
    ///
    /// The default writes a placeholder, calls `encode` and fills the length
    /// in; values of 2³¹ bytes or more are rejected. A type that knows its
    /// length before writing (a fixed-size type, text) can append length and
    /// value at once instead, which is faster; it must append the same bytes
    /// as the default.
    ///
    /// ```
    /// use pg_bulk_ingest::{Encode, EncodeError, SqlType, TypeKind};
    ///
    /// /// A point on a line, stored as a `real`.
    /// struct Position(f32);
    ///
    /// impl Encode for Position {
    ///     const SQL_TYPE: SqlType = SqlType::new(TypeKind::Float4);
    ///     const ACCEPTS: &'static [TypeKind] = &[TypeKind::Float4];
    ///     fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    ///         out.extend_from_slice(&self.0.to_be_bytes());
    ///         Ok(())
    ///     }
    ///     fn encode_field(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    ///         let [a, b, c, d] = self.0.to_be_bytes();
    ///         out.extend_from_slice(&[0, 0, 0, 4, a, b, c, d]);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let (mut fast, mut default) = (Vec::new(), Vec::new());
    /// Position(1.5).encode_field(&Position::SQL_TYPE, &mut fast)?;
    /// default.extend_from_slice(&4i32.to_be_bytes());
    /// Position(1.5).encode(&Position::SQL_TYPE, &mut default)?;
    /// assert_eq!(fast, default);
    /// # Ok::<(), EncodeError>(())
    /// ```
    #[inline(always)]
    fn encode_field(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        self.encode(ty, out)?;
        fill_length(out, start)
    }
}

/// Fills in the length of the field whose 4-byte length placeholder is at
/// `start`, from what follows it.
#[inline(always)]
fn fill_length(out: &mut [u8], start: usize) -> Result<(), EncodeError> {
    let len = length_prefix(out.len() - start - 4)?;
    out[start..start + 4].copy_from_slice(&len);
    Ok(())
}

/// `len` as a field's length prefix: a big-endian `i32`.
#[inline(always)]
fn length_prefix(len: usize) -> Result<[u8; 4], EncodeError> {
    match i32::try_from(len) {
        Ok(len) => Ok(len.to_be_bytes()),
        Err(_) => Err(too_long(len)),
    }
}

#[cold]
fn too_long(len: usize) -> EncodeError {
    EncodeError::new(format!(
        "the value is {len} bytes long; PostgreSQL's limit is 1 GB"
    ))
}

/// Appends a field of `N` bytes (`N` ≤ 16), its length prefix and `value`, as
/// one copy of fixed length.
#[inline(always)]
pub(crate) fn append_fixed_field<const N: usize>(out: &mut Vec<u8>, value: [u8; N]) {
    const { assert!(N <= 16) };
    let mut field = [0; 20];
    field[..4].copy_from_slice(&(N as i32).to_be_bytes());
    field[4..4 + N].copy_from_slice(&value);
    out.extend_from_slice(&field[..4 + N]);
}

/// Why a value was not written. The ingest functions turn it into
/// [`Error::InvalidValue`](crate::Error::InvalidValue), adding the row's
/// position, the table and the column.
// One pointer: `Result<(), EncodeError>` is returned in a register, and an
// error made out of line is seen to be one (the box is never null).
#[derive(Clone, PartialEq, Eq)]
pub struct EncodeError(Box<EncodeErrorInner>);

#[derive(Clone, PartialEq, Eq)]
struct EncodeErrorInner {
    reason: String,
    value: Option<String>,
}

impl EncodeError {
    /// A value that can't be written, for `reason`.
    #[cold]
    pub fn new(reason: impl Into<String>) -> EncodeError {
        EncodeError(Box::new(EncodeErrorInner {
            reason: reason.into(),
            value: None,
        }))
    }

    /// Adds a short rendering of the offending value (it is cut to 60
    /// characters).
    #[cold]
    pub fn with_value(mut self, value: impl fmt::Debug) -> EncodeError {
        self.0.value = Some(shorten(&format!("{value:?}"), 60));
        self
    }

    /// Why the value was rejected.
    pub fn reason(&self) -> &str {
        &self.0.reason
    }

    /// A short rendering of the value, when the encoder gave one.
    pub fn value(&self) -> Option<&str> {
        self.0.value.as_deref()
    }
}

impl fmt::Debug for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodeError")
            .field("reason", &self.0.reason)
            .field("value", &self.0.value)
            .finish()
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.reason)?;
        if let Some(value) = &self.0.value {
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
    #[inline(always)]
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
        value
            .encode_field(ty, self.buf)
            .map_err(|error| FieldError { column, error })
    }

    /// Writes `value` as column `column` (its index), of type `ty`, with the
    /// function `encode` instead of an [`Encode`] implementation; `None` is
    /// NULL. `#[bulk(json)]` and `#[bulk(with = path)]` fields are written
    /// with it; `encode` appends the value's binary representation, as
    /// [`Encode::encode`] does.
    #[inline(always)]
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
    #[inline(always)]
    fn framed(
        &mut self,
        column: usize,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), FieldError> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        write(self.buf)
            .and_then(|()| fill_length(self.buf, start))
            .map_err(|error| FieldError { column, error })
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
// Forwarding implementations.

impl<T: Encode> Encode for Option<T> {
    const SQL_TYPE: SqlType = T::SQL_TYPE;
    const ACCEPTS: &'static [TypeKind] = T::ACCEPTS;
    const NULLABLE: bool = true;
    const ARRAY: bool = T::ARRAY;

    #[inline(always)]
    fn is_null(&self) -> bool {
        match self {
            Some(v) => v.is_null(),
            None => true,
        }
    }

    #[inline(always)]
    fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Some(v) => v.encode(ty, out),
            None => Ok(()),
        }
    }

    #[inline(always)]
    fn encode_field(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Some(v) => v.encode_field(ty, out),
            None => {
                out.extend_from_slice(&(-1i32).to_be_bytes());
                Ok(())
            }
        }
    }
}

/// Implements [`Encode`] for a type by forwarding every item to the
/// implementation of the type it derefs to (`impl[generics] Type => Inner;`).
macro_rules! delegate {
    ($($(#[$m:meta])* impl[$($g:tt)*] $t:ty => $inner:ty;)*) => {$(
        $(#[$m])*
        impl<$($g)*> Encode for $t {
            const SQL_TYPE: SqlType = <$inner as Encode>::SQL_TYPE;
            const ACCEPTS: &'static [TypeKind] = <$inner as Encode>::ACCEPTS;
            const NULLABLE: bool = <$inner as Encode>::NULLABLE;
            const ARRAY: bool = <$inner as Encode>::ARRAY;

            #[inline(always)]
            fn is_null(&self) -> bool {
                <$inner as Encode>::is_null(self)
            }

            #[inline(always)]
            fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
                <$inner as Encode>::encode(self, ty, out)
            }

            #[inline(always)]
            fn encode_field(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
                <$inner as Encode>::encode_field(self, ty, out)
            }
        }
    )*};
}
pub(crate) use delegate;

delegate! {
    impl['a, T: Encode + ?Sized] &'a T => T;
    impl[T: Encode + ?Sized] Box<T> => T;
    impl[T: Encode + ?Sized] std::sync::Arc<T> => T;
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `value` as written for a column of type `ty`, without the length.
    pub(crate) fn encode<E: Encode + ?Sized>(
        value: &E,
        ty: SqlType,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        value.encode(&ty, &mut out)?;
        Ok(out)
    }

    /// `encode_field` appends the length and what `encode` appends, or
    /// fails as `encode` does, leaving what was there before.
    pub(crate) fn field_matches_encode<E: Encode + ?Sized>(value: &E, ty: SqlType) {
        let mut field = b"prefix".to_vec();
        let framed = value.encode_field(&ty, &mut field);
        match encode(value, ty) {
            Ok(bytes) => {
                framed.unwrap_or_else(|e| panic!("{ty}: {e}"));
                assert_eq!(&field[..6], b"prefix");
                assert_eq!(&field[6..10], &(bytes.len() as i32).to_be_bytes(), "{ty}");
                assert_eq!(&field[10..], &bytes[..], "{ty}");
            }
            Err(e) => {
                assert_eq!(framed.unwrap_err(), e, "{ty}");
                assert_eq!(&field[..6], b"prefix");
            }
        }
    }

    #[test]
    fn wrappers_forward_and_none_is_null() {
        for v in [0i64, -3, i64::MIN] {
            field_matches_encode(&Some(v), i64::SQL_TYPE);
            field_matches_encode(&Box::new(v), i64::SQL_TYPE);
            field_matches_encode(&std::sync::Arc::new(v), i64::SQL_TYPE);
            field_matches_encode(&&v, i64::SQL_TYPE);
        }
        // NULL: -1, no value.
        let mut out = Vec::new();
        None::<i64>.encode_field(&i64::SQL_TYPE, &mut out).unwrap();
        assert_eq!(out, (-1i32).to_be_bytes());
        assert!(Some(None::<i64>).is_null());
        const { assert!(<Option<i64> as Encode>::NULLABLE && !<Box<i64> as Encode>::NULLABLE) };
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
