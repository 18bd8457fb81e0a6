//! `uuid::Uuid` as `uuid` (feature `uuid`): the 16 bytes, in the order of
//! the text form.

use uuid::Uuid;

use super::{append_fixed_field, Encode, EncodeError};
use crate::types::{SqlType, TypeKind};

impl Encode for Uuid {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Uuid);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Uuid];

    #[inline]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(self.as_bytes());
        Ok(())
    }

    #[inline]
    fn encode_field(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        append_fixed_field(out, *self.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_in_text_order() {
        let u = Uuid::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff);
        let mut out = Vec::new();
        u.encode(&Uuid::SQL_TYPE, &mut out).unwrap();
        assert_eq!(
            out,
            0x0011_2233_4455_6677_8899_aabb_ccdd_eeffu128.to_be_bytes()
        );
        assert_eq!(Uuid::SQL_TYPE.to_string(), "uuid");
        crate::encode::tests::field_matches_encode(&u, Uuid::SQL_TYPE);
    }
}
