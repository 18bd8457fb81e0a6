//! JSON: `serde_json::Value` as `jsonb` (the default) or `json`, and any
//! `T: serde::Serialize` of a `#[bulk(json)]` field (feature `serde_json`).
//!
//! `jsonb` is sent as the version byte `1` followed by the JSON text
//! (`jsonb_send`/`jsonb_recv` in PostgreSQL's
//! `src/backend/utils/adt/jsonb.c`), `json` as the text alone (`json_recv` in
//! `json.c`). The text is `serde_json`'s compact form, written straight into
//! the COPY buffer, for both types and both kinds of value. PostgreSQL keeps a
//! `json` value's text as it was sent. A `jsonb` value is parsed by the
//! server, which stores it in its own form (keys ordered and deduplicated,
//! numbers as `numeric`): the value stored is the one PostgreSQL parses from
//! `serde_json`'s text, and so the same for a `#[bulk(json)]` field as for its
//! `serde_json::Value` (numbers are parsed from the same shortest-round-trip
//! text, the last of duplicate keys wins in both), without building the
//! `Value`.
//!
//! PostgreSQL rejects the character U+0000 in `jsonb` strings and keys
//! ("unsupported Unicode escape sequence"): such values are rejected here. A
//! `json` column accepts it (as the escape `\u0000`), so `json` does too.

use serde_json::Value;

use super::{shorten, Encode, EncodeError};
use crate::types::{SqlType, TypeKind};

/// The version byte of the binary `jsonb` format.
const JSONB_VERSION: u8 = 1;

impl Encode for Value {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Jsonb);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Jsonb, TypeKind::Json];

    fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write_json(self, ty, out).map_err(|e| match string_with_nul(self) {
            Some(s) => e.with_value(shorten(s, 40)),
            None => e,
        })
    }
}

/// A value written as JSON by `#[bulk(json)]`: every `serde::Serialize`
/// type. Not public API.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` can't be written as JSON: it does not implement `serde::Serialize`",
    label = "`#[bulk(json)]` needs `serde::Serialize`",
    note = "derive `serde::Serialize` for it, or implement it"
)]
pub trait JsonSerialize {
    /// Appends the value as a `jsonb` (`1`, then the text) or `json` (the
    /// text) column takes it in binary COPY.
    fn encode_json(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError>;
}

impl<T: serde::Serialize + ?Sized> JsonSerialize for T {
    fn encode_json(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write_json(self, ty, out)
    }
}

/// Appends `value` as a `jsonb` (`1`, then `serde_json`'s text) or `json` (the
/// text) column of type `ty` takes it; on error `out` is left as it was.
fn write_json<T: serde::Serialize + ?Sized>(
    value: &T,
    ty: &SqlType,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let jsonb = ty.kind() != TypeKind::Json;
    if jsonb {
        out.push(JSONB_VERSION);
    }
    let text = out.len();
    if let Err(e) = serde_json::to_writer(&mut *out, value) {
        out.truncate(start);
        return Err(EncodeError::new(format!("JSON serialization failed: {e}")));
    }
    if jsonb && has_nul_escape(&out[text..]) {
        out.truncate(start);
        return Err(EncodeError::new(
            "jsonb cannot contain the character U+0000 (\\u0000); a json column can",
        ));
    }
    Ok(())
}

/// Whether JSON text (as `serde_json` writes it) holds the escape `\u0000`.
/// Outside strings JSON has no backslash, and inside them every backslash
/// starts an escape, so escapes are found by skipping from one to the next.
fn has_nul_escape(text: &[u8]) -> bool {
    let mut i = 0;
    while let Some(at) = memchr::memchr(b'\\', &text[i..]) {
        let escape = i + at;
        if text.get(escape + 1) == Some(&b'u') {
            if text.get(escape + 2..escape + 6) == Some(b"0000") {
                return true;
            }
            i = escape + 6;
        } else {
            i = escape + 2;
        }
        if i >= text.len() {
            return false;
        }
    }
    false
}

/// The first string or key of `value` that holds U+0000, for the error that
/// rejects it.
#[cold]
fn string_with_nul(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => s.contains('\0').then_some(s.as_str()),
        Value::Array(items) => items.iter().find_map(string_with_nul),
        Value::Object(map) => map.iter().find_map(|(key, value)| {
            if key.contains('\0') {
                Some(key.as_str())
            } else {
                string_with_nul(value)
            }
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jsonb(v: &Value) -> Result<String, EncodeError> {
        let mut out = Vec::new();
        v.encode(&Value::SQL_TYPE, &mut out)?;
        assert_eq!(out[0], 1);
        Ok(String::from_utf8(out[1..].to_vec()).unwrap())
    }

    #[test]
    fn jsonb_is_the_version_and_serde_json_text() {
        for v in [
            json!({"b": 1, "aa": [1, 2, {"x": null}], "a": 1.5}),
            json!([]),
            json!({}),
            json!("a\"\\\n\u{1f}\u{7f}é"),
            json!(-0.0),
            json!(1e-7),
            json!(1e21),
            json!(u64::MAX),
        ] {
            let text = serde_json::to_string(&v).unwrap();
            assert_eq!(jsonb(&v).unwrap(), text);
            let mut json = Vec::new();
            v.encode(&SqlType::new(TypeKind::Json), &mut json).unwrap();
            assert_eq!(json, text.as_bytes());
            // A Value and a `#[bulk(json)]` field send the same.
            assert_eq!(
                serialized(&v, TypeKind::Jsonb).unwrap()[1..],
                *text.as_bytes()
            );
        }
        assert_eq!(
            jsonb(&json!("a\"\\\n\u{1f}\u{7f}é")).unwrap(),
            "\"a\\\"\\\\\\n\\u001f\u{7f}é\""
        );
    }

    fn serialized<T: serde::Serialize + ?Sized>(
        v: &T,
        kind: TypeKind,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut out = vec![9];
        let r = v.encode_json(&SqlType::new(kind), &mut out);
        // Nothing is left behind on error.
        if r.is_err() {
            assert_eq!(out, [9]);
        }
        r.map(|()| out[1..].to_vec())
    }

    #[test]
    fn serialize_straight_into_the_buffer() {
        use std::collections::BTreeMap;
        let v = BTreeMap::from([("b", vec![1.5, 1e21]), ("a", vec![])]);
        assert_eq!(
            serialized(&v, TypeKind::Jsonb).unwrap(),
            b"\x01{\"a\":[],\"b\":[1.5,1e+21]}"
        );
        assert_eq!(
            serialized(&v, TypeKind::Json).unwrap(),
            b"{\"a\":[],\"b\":[1.5,1e+21]}"
        );
        // A map whose keys are not strings can't be JSON.
        let e = serialized(&BTreeMap::from([((1, 2), 3)]), TypeKind::Jsonb).unwrap_err();
        assert!(
            e.reason()
                .starts_with("JSON serialization failed: key must be a string"),
            "{e}"
        );
    }

    #[test]
    fn nul_escapes_are_found_exactly() {
        assert!(has_nul_escape(br#"["a\u0000"]"#));
        assert!(has_nul_escape(br#"{"\u0000":1}"#));
        assert!(!has_nul_escape(br#"["a\\u0000"]"#));
        assert!(has_nul_escape(br#"["a\\\u0000"]"#));
        assert!(has_nul_escape(br#"["\n\u00000"]"#));
        assert!(!has_nul_escape(br#"["\u0001\n"]"#));
        assert!(!has_nul_escape(br#"["\""]"#));
        let e = serialized(&["x", "a\u{0}"], TypeKind::Jsonb).unwrap_err();
        assert!(e.reason().contains("U+0000"), "{e}");
        assert_eq!(
            serialized(&["a\u{0}"], TypeKind::Json).unwrap(),
            br#"["a\u0000"]"#
        );
        assert_eq!(
            serialized(&"\\u0000", TypeKind::Jsonb).unwrap(),
            b"\x01\"\\\\u0000\""
        );
    }

    #[test]
    fn nul_only_in_json() {
        let v = json!({"k": ["a\u{0}b"]});
        let e = jsonb(&v).unwrap_err();
        assert!(e.reason().contains("U+0000"), "{e}");
        assert_eq!(e.value(), Some("\"a\\0b\""));
        let e = jsonb(&json!({"\u{0}": 1})).unwrap_err();
        assert!(e.reason().contains("U+0000"), "{e}");
        assert_eq!(e.value(), Some("\"\\0\""));
        // Nothing is left behind.
        let mut out = b"x".to_vec();
        assert!(v.encode(&Value::SQL_TYPE, &mut out).is_err());
        assert_eq!(out, b"x");
        let mut out = Vec::new();
        v.encode(&SqlType::new(TypeKind::Json), &mut out).unwrap();
        assert_eq!(out, br#"{"k":["a\u0000b"]}"#);
    }
}
