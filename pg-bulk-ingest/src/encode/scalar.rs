//! The fixed-size scalars and byte strings: `bool` as `boolean`, `i16`/`i32`/
//! `i64` as `smallint`/`integer`/`bigint`, `f32`/`f64` as `real`/`double
//! precision`, and `[u8]`/`Vec<u8>` as `bytea`.
//!
//! Their binary formats are the plain values: one byte `0`/`1` (`boolsend` in
//! PostgreSQL's `src/backend/utils/adt/bool.c`), the integer in big-endian
//! order (`int2send`/`int4send` in `int.c`, `int8send` in `int8.c`), the IEEE
//! 754 bits in big-endian order (`float4send`/`float8send` in `float.c`), and
//! a `bytea`'s bytes as they are (`byteasend` in `varlena.c`).

use super::{append_fixed_field, delegate, length_prefix, Encode, EncodeError};
use crate::types::{SqlType, TypeKind};

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
    use crate::encode::tests::{encode, field_matches_encode};

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
    fn fields_are_length_and_value() {
        for v in [0i16, -1, i16::MAX, i16::MIN] {
            field_matches_encode(&v, i16::SQL_TYPE);
        }
        for v in [0i32, -2, i32::MAX] {
            field_matches_encode(&v, i32::SQL_TYPE);
        }
        for v in [0i64, -3, i64::MIN] {
            field_matches_encode(&v, i64::SQL_TYPE);
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
    }
}
