//! Binary COPY encoding: the [`Encode`] trait, its implementations for the
//! supported Rust types, and the [`RowWriter`] the generated serializers write
//! through.
//!
//! The stream is PostgreSQL's binary COPY format: a header, then per row an
//! `i16` field count and per field an `i32` length (or `-1` for NULL) followed
//! by the value in the type's binary send format, then a trailer.

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

            #[inline(always)]
            fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
                out.extend_from_slice(&self.to_be_bytes());
                Ok(())
            }

            #[inline(always)]
            fn encode_field(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
                append_fixed_field(out, self.to_be_bytes());
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

    #[inline(always)]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(u8::from(*self));
        Ok(())
    }

    #[inline(always)]
    fn encode_field(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        append_fixed_field(out, [u8::from(*self)]);
        Ok(())
    }
}

impl Encode for str {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Text);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Text, TypeKind::Varchar, TypeKind::Char];

    #[inline(always)]
    fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if may_be_cut(self, ty) {
            append(out, text_for(self, ty)?);
            return Ok(());
        }
        match copy_text(out, self.as_bytes()) {
            true => Ok(()),
            false => Err(nul_in_text(self)),
        }
    }

    #[inline(always)]
    fn encode_field(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let len = self.len();
        if may_be_cut(self, ty) || len > i32::MAX as usize {
            return text_field_slow(self, ty, out);
        }
        let start = out.len();
        out.extend_from_slice(&(len as i32).to_be_bytes());
        match copy_text(out, self.as_bytes()) {
            true => Ok(()),
            false => {
                out.truncate(start);
                Err(nul_in_text(self))
            }
        }
    }
}

/// The `n` of a `varchar(n)`/`char(n)` column of type `ty`.
#[inline(always)]
fn max_chars(ty: &SqlType) -> Option<u32> {
    // `char` without a length is `char(1)`.
    match ty.kind() {
        TypeKind::Char => Some(ty.precision().unwrap_or(1)),
        TypeKind::Varchar => ty.precision(),
        _ => None,
    }
}

/// Whether `s` may be longer than a `varchar(n)`/`char(n)` column of type `ty`
/// takes: it has more bytes than `n`.
#[inline(always)]
fn may_be_cut(s: &str, ty: &SqlType) -> bool {
    max_chars(ty).is_some_and(|max| s.len() > max as usize)
}

/// The bytes of `s` as a column of type `ty` stores them: no NUL, and for
/// `varchar(n)`/`char(n)` at most `n` characters.
#[inline]
fn text_for<'a>(s: &'a str, ty: &SqlType) -> Result<&'a [u8], EncodeError> {
    let bytes = checked_text(s)?;
    match max_chars(ty) {
        // More bytes than allowed characters: count the characters.
        Some(max) if bytes.len() > max as usize => fit_length(s, bytes, max, ty),
        _ => Ok(bytes),
    }
}

/// [`Encode::encode_field`] of text that may have to be cut, or too long for
/// a field.
#[inline(never)]
fn text_field_slow(s: &str, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let bytes = text_for(s, ty)?;
    out.extend_from_slice(&length_prefix(bytes.len())?);
    append(out, bytes);
    Ok(())
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

/// Not zero exactly when `w` has a zero byte: the `0x80` bit of its lowest
/// zero byte is set (and maybe bits above it).
#[inline(always)]
const fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(0x0101_0101_0101_0101) & !w & 0x8080_8080_8080_8080
}

/// Appends `bytes` to `out` unless they hold a zero byte, in one pass;
/// returns whether they were appended (`out` is left as it was otherwise).
/// Values of 16 bytes and more are checked and copied in blocks of 16, the
/// last block overlapping the one before; shorter ones as two overlapping
/// words. The copies are of fixed length, without a call to `memcpy`.
#[inline(always)]
fn copy_text(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let n = bytes.len();
    let start = out.len();
    let zeros = if n >= 16 {
        let mut zeros = 0;
        let mut blocks = bytes.chunks_exact(16);
        for block in &mut blocks {
            let block: &[u8; 16] = block.try_into().expect("16 bytes");
            let v = u128::from_le_bytes(*block);
            zeros |= zero_bytes(v as u64) | zero_bytes((v >> 64) as u64);
            out.extend_from_slice(block);
        }
        if !blocks.remainder().is_empty() {
            let last: [u8; 16] = bytes[n - 16..].try_into().expect("16 bytes");
            let v = u128::from_le_bytes(last);
            zeros |= zero_bytes(v as u64) | zero_bytes((v >> 64) as u64);
            out.extend_from_slice(&last);
            out[start + n - 16..start + n].copy_from_slice(&last);
            out.truncate(start + n);
        }
        zeros
    } else if n >= 8 {
        let first = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let last = u64::from_le_bytes(bytes[n - 8..].try_into().expect("8 bytes"));
        out.extend_from_slice(&(u128::from(last) << 64 | u128::from(first)).to_le_bytes());
        out[start + n - 8..start + n].copy_from_slice(&last.to_le_bytes());
        out.truncate(start + n);
        zero_bytes(first) | zero_bytes(last)
    } else if n >= 4 {
        let first = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
        let last = u32::from_le_bytes(bytes[n - 4..].try_into().expect("4 bytes"));
        let both = u64::from(last) << 32 | u64::from(first);
        out.extend_from_slice(&both.to_le_bytes());
        out[start + n - 4..start + n].copy_from_slice(&last.to_le_bytes());
        out.truncate(start + n);
        zero_bytes(both)
    } else if n > 0 {
        // The first, middle and last byte: every byte of 1 to 3.
        let three = [bytes[0], bytes[n / 2], bytes[n - 1]];
        out.extend_from_slice(&three);
        out.truncate(start + n);
        zero_bytes(u64::from(u32::from_le_bytes([three[0], three[1], three[2], 1])) | !0xffff_ffff)
    } else {
        0
    };
    if zeros != 0 {
        out.truncate(start);
    }
    zeros == 0
}

/// `varchar(n)`/`char(n)` semantics of PostgreSQL for a value of more bytes
/// than `max`: a value longer than `max` characters is an error, unless the
/// excess is only spaces, which are cut.
#[inline(never)]
fn fit_length<'a>(
    s: &str,
    bytes: &'a [u8],
    max: u32,
    ty: &SqlType,
) -> Result<&'a [u8], EncodeError> {
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

    #[inline]
    fn encode_field(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&length_prefix(self.len())?);
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
    fn copy_text_copies_or_finds_nul_at_every_position() {
        for len in 0..80 {
            let clean: Vec<u8> = (0..len).map(|i| 1 + (i * 37 % 255) as u8).collect();
            let mut out = b"prefix".to_vec();
            assert!(copy_text(&mut out, &clean), "{len}");
            assert_eq!(&out[..6], b"prefix");
            assert_eq!(&out[6..], &clean[..], "{len}");
            for fill in [0x01u8, 0x80, 0xff] {
                let bytes = vec![fill; len];
                let mut out = b"prefix".to_vec();
                assert!(copy_text(&mut out, &bytes), "{len} {fill}");
                assert_eq!(&out[6..], &bytes[..], "{len} {fill}");
            }
            for at in 0..len {
                for base in [clean.clone(), vec![0xffu8; len], vec![0x80u8; len]] {
                    let mut with = base;
                    with[at] = 0;
                    let mut out = b"prefix".to_vec();
                    assert!(!copy_text(&mut out, &with), "{len} {at}");
                    assert_eq!(out, b"prefix", "{len} {at}");
                }
            }
        }
    }

    #[test]
    fn text_fields_match_encode() {
        let texts = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "héllo wörld",
            &"x".repeat(33),
            &"é".repeat(40),
        ];
        for ty in [
            str::SQL_TYPE,
            SqlType::new(TypeKind::Varchar).with_length(5),
            SqlType::new(TypeKind::Char).with_length(3),
            SqlType::new(TypeKind::Char),
        ] {
            for text in texts {
                for text in [text.to_owned(), format!("{text}   ")] {
                    let plain = encode(text.as_str(), ty);
                    let mut field = Vec::new();
                    let framed = text.as_str().encode_field(&ty, &mut field);
                    match plain {
                        Ok(bytes) => {
                            framed.unwrap();
                            assert_eq!(&field[..4], &(bytes.len() as i32).to_be_bytes());
                            assert_eq!(&field[4..], &bytes[..], "{text:?} as {ty}");
                        }
                        Err(e) => assert_eq!(framed.unwrap_err(), e, "{text:?} as {ty}"),
                    }
                }
            }
        }
        for text in ["\0", "a\0b", "0123456789abcdef\0", "é\0 0123456789abcdef01"] {
            let mut out = b"prefix".to_vec();
            let e = text.encode_field(&str::SQL_TYPE, &mut out).unwrap_err();
            assert_eq!(e, encode(text, str::SQL_TYPE).unwrap_err());
            assert_eq!(out, b"prefix");
        }
    }

    /// `encode_field` appends the length and what `encode` appends, or
    /// fails as `encode` does, leaving what was there before.
    fn field_matches_encode<E: Encode + ?Sized>(value: &E, ty: SqlType) {
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
    fn fields_are_length_and_value() {
        for v in [0i16, -1, i16::MAX, i16::MIN] {
            field_matches_encode(&v, i16::SQL_TYPE);
        }
        for v in [0i32, -2, i32::MAX] {
            field_matches_encode(&v, i32::SQL_TYPE);
        }
        for v in [0i64, -3, i64::MIN] {
            field_matches_encode(&v, i64::SQL_TYPE);
            field_matches_encode(&Some(v), i64::SQL_TYPE);
            field_matches_encode(&Box::new(v), i64::SQL_TYPE);
        }
        for v in [0.0f32, -1.5, f32::NAN, f32::INFINITY] {
            field_matches_encode(&v, f32::SQL_TYPE);
        }
        for v in [0.0f64, 2.5e300, f64::NEG_INFINITY] {
            field_matches_encode(&v, f64::SQL_TYPE);
        }
        for v in [true, false] {
            field_matches_encode(&v, bool::SQL_TYPE);
        }
        for v in [&b""[..], b"\0\xff", &[7; 40]] {
            field_matches_encode(v, <[u8]>::SQL_TYPE);
            field_matches_encode(&v.to_vec(), <[u8]>::SQL_TYPE);
        }
        for v in ["", "ab", "ü\0", "a rather longer text of some forty bytes"] {
            field_matches_encode(v, str::SQL_TYPE);
            field_matches_encode(&v.to_owned(), str::SQL_TYPE);
            field_matches_encode(&std::borrow::Cow::Borrowed(v), str::SQL_TYPE);
        }
        // NULL: -1, no value.
        let mut out = Vec::new();
        None::<i64>.encode_field(&i64::SQL_TYPE, &mut out).unwrap();
        assert_eq!(out, (-1i32).to_be_bytes());
        for v in ['a', 'é', '\0'] {
            field_matches_encode(&v, char::SQL_TYPE);
        }
        #[cfg(feature = "uuid")]
        field_matches_encode(
            &::uuid::Uuid::from_u128(0x0123_4567_89ab),
            ::uuid::Uuid::SQL_TYPE,
        );
        #[cfg(feature = "chrono")]
        {
            use ::chrono::{DateTime, NaiveDate, NaiveTime, Utc};
            let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
            let time = NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_500).unwrap();
            field_matches_encode(&date, NaiveDate::SQL_TYPE);
            field_matches_encode(&NaiveDate::MIN, NaiveDate::SQL_TYPE);
            field_matches_encode(&time, NaiveTime::SQL_TYPE);
            field_matches_encode(&date.and_time(time), ::chrono::NaiveDateTime::SQL_TYPE);
            field_matches_encode(&DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::SQL_TYPE);
            field_matches_encode(&date.and_time(time).and_utc(), DateTime::<Utc>::SQL_TYPE);
        }
        #[cfg(feature = "time")]
        {
            use ::time::{Date, Month, PrimitiveDateTime, Time};
            let t = PrimitiveDateTime::new(
                Date::from_calendar_date(2024, Month::February, 29).unwrap(),
                Time::from_hms_nano(23, 59, 59, 999_999_500).unwrap(),
            );
            field_matches_encode(&t.date(), ::time::Date::SQL_TYPE);
            field_matches_encode(&t.time(), ::time::Time::SQL_TYPE);
            field_matches_encode(&t, ::time::PrimitiveDateTime::SQL_TYPE);
            field_matches_encode(&t.assume_utc(), ::time::OffsetDateTime::SQL_TYPE);
        }
        #[cfg(feature = "rust_decimal")]
        {
            use ::rust_decimal::Decimal;
            let n52 = SqlType::new(TypeKind::Numeric).with_precision_scale(5, 2);
            for v in [
                Decimal::ZERO,
                Decimal::MAX,
                Decimal::new(-99_999, 2),
                Decimal::new(1, 28),
            ] {
                field_matches_encode(&v, Decimal::SQL_TYPE);
                field_matches_encode(&v, n52);
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
