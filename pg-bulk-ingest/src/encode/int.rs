//! The integer types PostgreSQL has no column type of the same width for:
//! `i8` (`smallint`), `u16` (`integer`), `u32` (`bigint`) and `u64`
//! (`numeric(20,0)`, the smallest numeric that holds every `u64`). Each can
//! also be written to another integer or numeric column given with `sql_type`;
//! a value the column can't hold is rejected, never wrapped.
//!
//! An integer column gets the big-endian integer of its width (`int2send`,
//! `int4send` in PostgreSQL's `src/backend/utils/adt/int.c`, `int8send` in
//! `int8.c`); a `numeric` column the base-10000 digits of `numeric.rs`.
//!
//! `u8` is not a column type: `Vec<u8>` and `&[u8]` are `bytea`, which leaves
//! no room for arrays of `u8`. Store a byte as `i16`.

use super::numeric::write_numeric;
use super::{Encode, EncodeError};
use crate::types::{SqlType, TypeKind};

/// Writes `value` as a column of kind `ty` (an integer type or numeric).
#[inline]
fn write_int<V: Copy + std::fmt::Debug + Into<i128>>(
    value: V,
    ty: &SqlType,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let v: i128 = value.into();
    let out_of_range =
        || EncodeError::new(format!("value out of range for {}", ty.element())).with_value(value);
    match ty.kind() {
        TypeKind::Int2 => {
            let v = i16::try_from(v).map_err(|_| out_of_range())?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        TypeKind::Int4 => {
            let v = i32::try_from(v).map_err(|_| out_of_range())?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        TypeKind::Int8 => {
            let v = i64::try_from(v).map_err(|_| out_of_range())?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        _ => {
            // numeric / numeric(p,s): an integer fits when it has at most
            // p - s digits.
            if let Some(precision) = ty.precision() {
                let digits = v.unsigned_abs().checked_ilog10().map_or(0, |d| d + 1);
                let max = precision.saturating_sub(ty.scale().unwrap_or(0));
                if digits > max {
                    return Err(EncodeError::new(format!(
                        "numeric field overflow: {} holds at most {max} digits before the decimal point",
                        ty.element()
                    ))
                    .with_value(value));
                }
            }
            write_numeric(v.unsigned_abs(), v < 0, 0, out);
        }
    }
    Ok(())
}

macro_rules! int {
    ($($t:ty => $default:expr, [$($kind:ident),*];)*) => {$(
        impl Encode for $t {
            const SQL_TYPE: SqlType = $default;
            const ACCEPTS: &'static [TypeKind] = &[$(TypeKind::$kind),*];

            #[inline]
            fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
                write_int(*self, ty, out)
            }
        }
    )*};
}

int! {
    i8 => SqlType::new(TypeKind::Int2), [Int2, Int4, Int8, Numeric];
    u16 => SqlType::new(TypeKind::Int4), [Int4, Int8, Int2, Numeric];
    u32 => SqlType::new(TypeKind::Int8), [Int8, Int4, Numeric];
    u64 => SqlType::new(TypeKind::Numeric).with_precision_scale(20, 0), [Numeric, Int8];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes<E: Encode>(v: E, ty: SqlType) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        v.encode(&ty, &mut out)?;
        Ok(out)
    }

    fn words(b: &[u8]) -> Vec<i16> {
        b.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn defaults() {
        assert_eq!(i8::SQL_TYPE.to_string(), "smallint");
        assert_eq!(u16::SQL_TYPE.to_string(), "integer");
        assert_eq!(u32::SQL_TYPE.to_string(), "bigint");
        assert_eq!(u64::SQL_TYPE.to_string(), "numeric(20,0)");
        assert_eq!(bytes(-1i8, i8::SQL_TYPE).unwrap(), (-1i16).to_be_bytes());
        assert_eq!(
            bytes(65535u16, u16::SQL_TYPE).unwrap(),
            65535i32.to_be_bytes()
        );
        assert_eq!(
            bytes(u32::MAX, u32::SQL_TYPE).unwrap(),
            i64::from(u32::MAX).to_be_bytes()
        );
    }

    #[test]
    fn u64_as_numeric() {
        let ty = u64::SQL_TYPE;
        assert_eq!(words(&bytes(0u64, ty).unwrap()), [0, 0, 0, 0]);
        assert_eq!(words(&bytes(10_000u64, ty).unwrap()), [1, 1, 0, 0, 1]);
        // 18446744073709551615 = 1844 6744 0737 0955 1615
        assert_eq!(
            words(&bytes(u64::MAX, ty).unwrap()),
            [5, 4, 0, 0, 1844, 6744, 737, 955, 1615]
        );
        let narrow = SqlType::new(TypeKind::Numeric).with_precision_scale(5, 2);
        assert!(bytes(999u64, narrow).is_ok());
        let e = bytes(1000u64, narrow).unwrap_err();
        assert!(e.reason().contains("numeric field overflow"), "{e}");
    }

    #[test]
    fn narrower_columns_reject_instead_of_wrapping() {
        let int8 = SqlType::new(TypeKind::Int8);
        assert_eq!(
            bytes(i64::MAX as u64, int8).unwrap(),
            i64::MAX.to_be_bytes()
        );
        let e = bytes(i64::MAX as u64 + 1, int8).unwrap_err();
        assert_eq!(e.reason(), "value out of range for bigint");
        assert_eq!(e.value(), Some("9223372036854775808"));
        assert!(bytes(40_000u16, SqlType::new(TypeKind::Int2)).is_err());
    }
}
