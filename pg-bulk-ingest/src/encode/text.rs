//! Text: `str`, `String` and `Cow<str>` as `text` (or `varchar(n)`/`char(n)`),
//! `char` as `character(1)`, and the labels `#[derive(BulkEnum)]` writes.
//!
//! The binary format of text is its bytes (`textsend`/`textrecv` in
//! PostgreSQL's `src/backend/utils/adt/varlena.c`; `varchar` and `bpchar`
//! send and receive the same in `varchar.c`), here always UTF-8. Two of the
//! server's checks are made here, so that a value the column can't hold is
//! reported with its row instead of failing the COPY:
//!
//! - no NUL character: `textrecv` rejects the byte 0 ("invalid byte sequence
//!   for encoding \"UTF8\": 0x00"), and so do we;
//! - `varchar(n)`/`char(n)` hold at most `n` characters: a longer value is an
//!   error, unless the excess is only spaces, which are cut (`varchar_input`
//!   and `bpchar_input` in `varchar.c`, which `varcharrecv`/`bpcharrecv`
//!   call). The server pads a `char(n)` value to `n` characters itself.
//!
//! The common case, a value that can't be too long for its column, is
//! checked for NUL and copied into the buffer in one pass.

use super::{delegate, length_prefix, shorten, Encode, EncodeError};
use crate::types::{SqlType, TypeKind};

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

delegate! {
    impl['a] std::borrow::Cow<'a, str> => str;
    impl[] String => str;
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

/// Whether `bytes` holds a zero byte. Used where the text may have to be cut
/// (the common case is checked by [`copy_text`] while it copies).
#[inline]
fn has_nul(bytes: &[u8]) -> bool {
    memchr::memchr(0, bytes).is_some()
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
///
/// It is kept rather than [`has_nul`] followed by `extend_from_slice`
/// because that is about three times slower on the short values most text
/// columns hold: the `name` column of `cargo bench --bench encode` (10 to 20
/// bytes a value) took 4.2–5.3 ns a row this way, 13–18 ns with `memchr`.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::tests::{encode, field_matches_encode};

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

    #[test]
    fn fields_are_length_and_value() {
        for v in ["", "ab", "ü\0", "a rather longer text of some forty bytes"] {
            field_matches_encode(v, str::SQL_TYPE);
            field_matches_encode(&v.to_owned(), str::SQL_TYPE);
            field_matches_encode(&std::borrow::Cow::Borrowed(v), str::SQL_TYPE);
        }
        for v in ['a', 'é', '\0'] {
            field_matches_encode(&v, char::SQL_TYPE);
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
}
