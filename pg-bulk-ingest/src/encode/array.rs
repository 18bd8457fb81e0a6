//! One-dimensional arrays: `Vec<T>`, `&[T]`, `Box<[T]>` (and `Vec<Option<T>>`
//! for arrays with NULL elements) as `T[]`.
//!
//! The binary array is `i32 ndim`, `i32 flags` (1 when an element is NULL),
//! `u32` element type OID, per dimension `i32 length, i32 lower bound`, then per
//! element an `i32` length (`-1` for NULL) and the element's bytes. An empty
//! array has no dimensions (`ndim` 0), as PostgreSQL writes `'{}'`.
//!
//! The element OID is that of the column's element type, not of the Rust
//! type: PostgreSQL rejects a `varchar[]` whose elements claim to be `text`.
//!
//! `u8` is not an element type: `Vec<u8>` and `&[u8]` are `bytea`
//! (`Vec<Vec<u8>>` is `bytea[]`).

use super::{Encode, EncodeError};
use crate::types::{SqlType, TypeKind};

/// PostgreSQL's limit on the number of elements of an array
/// (`MaxArraySize`).
const MAX_ELEMENTS: usize = 134_217_727;

impl<T: Encode> Encode for [T] {
    const SQL_TYPE: SqlType = T::SQL_TYPE.array();
    const ACCEPTS: &'static [TypeKind] = T::ACCEPTS;
    // `#[derive(BulkTable)]` evaluates it for every field, so that a nested
    // array is a compile error.
    const ARRAY: bool = {
        assert!(
            !T::ARRAY,
            "multi-dimensional arrays are not supported: the elements of an array column can't be arrays"
        );
        assert!(
            !matches!(T::SQL_TYPE.kind(), TypeKind::Enum),
            "arrays of enums are not supported: the elements of an array column can't be a `BulkEnum`"
        );
        true
    };

    fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        const { assert!(<Self as Encode>::ARRAY) };
        if !ty.is_array() {
            // Only a hand-written `BulkTable` can get here: the derive checks it.
            return Err(EncodeError::new(format!(
                "an array can't be written to a column of type {ty}"
            )));
        }
        let element = ty.element();
        let oid = element.kind().oid();
        if self.is_empty() {
            out.extend_from_slice(&0i32.to_be_bytes());
            out.extend_from_slice(&0i32.to_be_bytes());
            out.extend_from_slice(&oid.to_be_bytes());
            return Ok(());
        }
        if self.len() > MAX_ELEMENTS {
            return Err(EncodeError::new(format!(
                "array of {} elements: PostgreSQL's limit is {MAX_ELEMENTS}",
                self.len()
            )));
        }
        out.extend_from_slice(&1i32.to_be_bytes());
        let flags = out.len();
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&oid.to_be_bytes());
        out.extend_from_slice(&(self.len() as i32).to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
        let mut has_nulls = false;
        for (i, value) in self.iter().enumerate() {
            if value.is_null() {
                has_nulls = true;
                out.extend_from_slice(&(-1i32).to_be_bytes());
                continue;
            }
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            value.encode(&element, out).map_err(|e| {
                let reason = format!("array element {}: {}", i + 1, e.reason());
                match e.value() {
                    Some(v) => EncodeError::new(reason).with_value(Raw(v)),
                    None => EncodeError::new(reason),
                }
            })?;
            let len = out.len() - start - 4;
            let len = i32::try_from(len).map_err(|_| {
                EncodeError::new(format!(
                    "array element {} is {len} bytes long; PostgreSQL's limit is 1 GB",
                    i + 1
                ))
            })?;
            out[start..start + 4].copy_from_slice(&len.to_be_bytes());
        }
        if has_nulls {
            out[flags..flags + 4].copy_from_slice(&1i32.to_be_bytes());
        }
        Ok(())
    }
}

/// An already rendered value, passed on without quoting it again.
struct Raw<'a>(&'a str);

impl std::fmt::Debug for Raw<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl<T: Encode> Encode for Vec<T> {
    const SQL_TYPE: SqlType = T::SQL_TYPE.array();
    const ACCEPTS: &'static [TypeKind] = T::ACCEPTS;
    const ARRAY: bool = <[T] as Encode>::ARRAY;

    #[inline]
    fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.as_slice().encode(ty, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes<E: Encode + ?Sized>(v: &E, ty: SqlType) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        v.encode(&ty, &mut out)?;
        Ok(out)
    }

    fn be(parts: &[i32]) -> Vec<u8> {
        parts.iter().flat_map(|p| p.to_be_bytes()).collect()
    }

    #[test]
    fn types() {
        assert_eq!(<Vec<i32>>::SQL_TYPE.to_string(), "integer[]");
        assert_eq!(<Vec<Option<String>>>::SQL_TYPE.to_string(), "text[]");
        assert_eq!(<Vec<Vec<u8>>>::SQL_TYPE.to_string(), "bytea[]");
        assert_eq!(<&[i64]>::SQL_TYPE.to_string(), "bigint[]");
        assert_eq!(<Vec<u8>>::SQL_TYPE.to_string(), "bytea");
        const { assert!(<Option<Vec<i16>>>::ARRAY && !<Option<i16>>::ARRAY) };
        const { assert!(<Box<[bool]>>::ARRAY && !<Vec<u8>>::ARRAY) };
    }

    #[test]
    fn layout() {
        let ty = <Vec<i32>>::SQL_TYPE;
        assert_eq!(bytes(&Vec::<i32>::new(), ty).unwrap(), be(&[0, 0, 23]));
        assert_eq!(
            bytes(&vec![7i32, -1], ty).unwrap(),
            be(&[1, 0, 23, 2, 1, 4, 7, 4, -1])
        );
        assert_eq!(
            bytes(&vec![None, Some(7i32)], ty).unwrap(),
            be(&[1, 1, 23, 2, 1, -1, 4, 7])
        );
    }

    #[test]
    fn element_oid_and_modifiers_come_from_the_column() {
        let ty = SqlType::new(TypeKind::Varchar).with_length(2).array();
        let out = bytes(&vec!["ab"], ty).unwrap();
        assert_eq!(&out[8..12], &1043u32.to_be_bytes());
        let e = bytes(&vec!["ab", "abc"], ty).unwrap_err();
        assert!(
            e.reason()
                .starts_with("array element 2: value too long for character varying(2)"),
            "{e}"
        );
        assert_eq!(e.value(), Some("\"abc\""));
    }
}
